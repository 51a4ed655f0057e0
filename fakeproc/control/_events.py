"""The event log behind ``sim/events``: a growing file of JSON lines, kept bounded.

Each event is one line, ``{"seq":N,"tick":T,"type":...,<fields>}``, compact
separators, keys in a fixed order (seq, tick, type, then the fields in the
order the caller gave them), ASCII only so a line's byte length never
depends on an encoding. The file grows forever as far as readers can tell
(``size`` is every byte ever appended, so ``tail -f`` works); memory holds
only the newest ``capacity`` lines.

A hot path logs an event as a %-format and its values; the line is
formatted when the log is next looked at, or with a batch of others: the
batch's formats are joined and formatted with one ``%``, and the result split
into lines, all in C. That costs a fraction of formatting each line inside
the request that logged it, in Python and with cold caches.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import json.encoder
from collections.abc import Callable
from typing import Any, TextIO

_RESERVED = frozenset({"seq", "tick", "type"})
# At most this many events wait unformatted (a few tens of KiB).
_FORMAT_BATCH = 256


def _plain(value: object) -> object:
    """json's fallback: numpy scalars (anything with ``.item()``) become Python numbers."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _object_encoder() -> Callable[[dict[str, Any]], str]:
    """One encoder for every event's fields, built once.

    JSONEncoder.encode builds a new C encoder (and a dict of markers for
    cycles) per call, which cost a third of appending an event; records are
    flat fields and small dicts of numbers, so no cycle check is needed.
    """
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # an interpreter without _json
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False,
                                default=_plain).encode
    encode = make_c_encoder(None, _plain, json.encoder.encode_basestring_ascii, None, ":", ",",
                            False, False, True)
    return lambda record: "".join(encode(record, 0))


_encode_object = _object_encoder()
json_string = json.encoder.encode_basestring_ascii  # a str as an ASCII JSON string literal


@functools.lru_cache(maxsize=64)
def _line_format(type: str, fields_format: str) -> str:
    """The %-format of a whole line, its values (seq, tick, *field values)."""
    separator = "," if fields_format else ""
    head = '{"seq":%d,"tick":%d,"type":' + json_string(type).replace("%", "%%")
    return f"{head}{separator}{fields_format}}}\n"


class EventLog:
    """Bounded, append-only JSON-lines log with absolute byte offsets.

    Reading at an offset whose line has already been dropped returns the
    bytes of the oldest line still kept onward: a reader that falls more
    than ``capacity`` events behind skips the lost ones and resumes on a
    line boundary, never in the middle of a line. ``seq`` shows the gap.
    """

    def __init__(self, capacity: int = 10_000, sink: TextIO | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.sink = sink
        self.seq = 0  # the seq of the last event, 0 before the first
        self._size = 0
        # Kept lines and their absolute start offsets, from index _first on.
        # Dropping lines only advances _first; the lists are compacted once
        # the dead prefix is as long as the live part, so appends stay O(1)
        # amortised and bisect works on plain lists.
        self._lines: list[bytes] = []
        self._starts: list[int] = []
        self._first = 0
        # Events not formatted yet: their line formats, and all their values in order.
        self._formats: list[str] = []
        self._values: list[object] = []
        self._batch = 1 if sink is not None else _FORMAT_BATCH

    @property
    def size(self) -> int:
        """Bytes ever appended: the file's true size."""
        self._format_waiting()
        return self._size

    def append(self, type: str, tick: int, **fields: Any) -> None:
        """Add one event; ``fields`` must be JSON-serialisable and not seq/tick/type."""
        clash = _RESERVED & fields.keys()
        if clash:
            raise ValueError(f"reserved event keys: {sorted(clash)}")
        if fields:
            self.append_format(type, tick, "%s", (_encode_object(fields)[1:-1],))
        else:
            self.append_format(type, tick, "", ())

    def append_format(self, type: str, tick: int, fields_format: str,
                      values: tuple[object, ...]) -> None:
        """Add one event whose fields are ``fields_format % values``: ``"key":value,...``
        without the braces, compact and ASCII, as :meth:`append` writes them.

        Strings among the values must be JSON string literals already
        (:data:`json_string`), and there must be one value per conversion:
        a batch of events is formatted at once. With a sink the line is
        written at once.
        """
        self.seq += 1
        self._formats.append(_line_format(type, fields_format))
        self._values += (self.seq, tick)
        self._values += values
        if len(self._formats) >= self._batch:
            self._format_waiting()

    def _format_waiting(self) -> None:
        if not self._formats:
            return
        formats, values = self._formats, self._values
        self._formats, self._values = [], []
        text = "".join(formats) % tuple(values)
        data = text.encode("ascii")
        # ASCII JSON escapes every line break inside a value: each line ends in the one "\n".
        lines = data.splitlines(keepends=True)
        self._lines += lines
        self._starts += itertools.accumulate(map(len, lines[:-1]), initial=self._size)
        self._size += len(data)
        excess = len(self._lines) - self._first - self.capacity
        if excess > 0:
            self._first += excess
            if self._first >= len(self._lines) - self._first:
                del self._lines[: self._first]
                del self._starts[: self._first]
                self._first = 0
        if self.sink is not None:
            self.sink.write(text)
            self.sink.flush()  # a `tail -f` on the real file sees each event at once

    @property
    def kept_from(self) -> int:
        """The absolute offset of the oldest line still held (== size when none)."""
        self._format_waiting()
        return self._starts[self._first] if self._first < len(self._starts) else self._size

    def __len__(self) -> int:
        """How many events are held now (at most ``capacity``)."""
        self._format_waiting()
        return len(self._lines) - self._first

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from absolute ``offset``; b"" at or past the end."""
        if offset < 0 or size < 0:
            raise ValueError("offset and size must not be negative")
        if size == 0 or offset >= self.size:
            return b""
        offset = max(offset, self.kept_from)
        index = bisect.bisect_right(self._starts, offset, lo=self._first) - 1
        skip = offset - self._starts[index]
        out = bytearray()
        while index < len(self._lines) and len(out) < size + skip:
            out += self._lines[index]
            index += 1
        return bytes(out[skip : skip + size])
