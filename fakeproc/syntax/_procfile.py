"""Parsers for the writable per-pid files: reclaim, clear_refs, oom_score_adj, comm.

Each takes the bytes of one write() and returns the typed request plus the
count the kernel's handler returns (the write may be cut short), or raises
:class:`ParseError` with the kernel's errno. They know nothing about
processes: a dead pid (ESRCH) is the caller's to check, after parsing, in
the kernel's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from fakeproc.engine.types import PAGE_SIZE, Dialect, ReclaimMode
from fakeproc.errors import ParseError
from fakeproc.syntax._kernel import U64_MAX, cstring, kstrtoint, kstrtoull, memparse, strim

# reclaim_write's buffer is char[200]; PROC_NUMBUF (13) for the numeric files.
RECLAIM_MAX_BYTES = 199
NUMBUF_MAX_BYTES = 12

CLEAR_REFS_MIN, CLEAR_REFS_MAX = 1, 5
OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX = -1000, 1000

_RECLAIM_WORDS: dict[bytes, ReclaimMode] = {b"file": "file", b"anon": "anon", b"all": "all"}


@dataclass(frozen=True)
class ReclaimWhole:
    """``file``, ``anon`` or ``all``: walk every VMA of that type."""

    mode: ReclaimMode


@dataclass(frozen=True)
class ReclaimRange:
    """``ADDR SIZE``: the bytes [start, end), end already rounded up to pages."""

    start: int
    end: int


ReclaimRequest = ReclaimWhole | ReclaimRange


def _stripped(data: bytes, limit: int) -> tuple[bytes, int, int]:
    """(stripped text, its offset in ``data``, count): the handlers' common prologue."""
    count = min(len(data), limit)
    text, offset = strim(cstring(data[:count]))
    return text, offset, count


def reclaim_text(data: bytes) -> str:
    """The request as the handler sees it after cutting and stripping (for logs)."""
    text, _, _ = _stripped(data, RECLAIM_MAX_BYTES)
    return text.decode("utf-8", errors="backslashreplace")


def parse_reclaim(data: bytes, dialect: Dialect) -> tuple[ReclaimRequest, int]:
    """Parse one write to /proc/<pid>/reclaim as the ``dialect`` kernel does.

    ``v2`` reads ADDR and SIZE with base-10 kstrtoul, ``caf`` with memparse.
    Returns the request and the count write() returns (at most 199).
    """
    text, offset, count = _stripped(data, RECLAIM_MAX_BYTES)
    mode = _RECLAIM_WORDS.get(text)
    if mode is not None:
        return ReclaimWhole(mode), count
    if not text[:1].isdigit():
        raise ParseError("expected file, anon, all or ADDR SIZE", offset)
    # strsep(&buf, " "): split on single spaces; a third token is never read.
    tokens = text.split(b" ", 2)
    if len(tokens) < 2:
        raise ParseError("missing SIZE", offset + len(text))
    start_token, size_token = tokens[0], tokens[1]
    size_offset = offset + len(start_token) + 1
    if dialect == "v2":
        start = _kstrtoul(start_token, offset)
        size = _kstrtoul(size_token, size_offset)
    else:
        start, _ = memparse(start_token)
        size, _ = memparse(size_token)
    if start % PAGE_SIZE:
        raise ParseError("ADDR is not page aligned", offset)
    length = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & U64_MAX
    if size and not length:
        raise ParseError("SIZE rounds up past the end of the address space", size_offset)
    end = start + length
    if end > U64_MAX:
        raise ParseError("ADDR + SIZE wraps", size_offset)
    return ReclaimRange(start, end), count


def _kstrtoul(token: bytes, offset: int) -> int:
    """kstrtoul(token, 10); reclaim_write turns every error, ERANGE too, into EINVAL."""
    try:
        return kstrtoull(token, 10)
    except ParseError as exc:
        raise ParseError(f"{exc}", offset + exc.position) from None


def _parse_numbuf_int(data: bytes, base: int, low: int, high: int) -> tuple[int, int]:
    text, offset, count = _stripped(data, NUMBUF_MAX_BYTES)
    try:
        value = kstrtoint(text, base)
    except ParseError as exc:
        exc.position += offset
        raise
    if not low <= value <= high:
        raise ParseError(f"{value} is outside {low}..{high}", offset)
    return value, count


def parse_clear_refs(data: bytes) -> tuple[int, int]:
    """Parse a write to clear_refs: (mode 1..5, count). kstrtoint base 10; ERANGE kept."""
    return _parse_numbuf_int(data, 10, CLEAR_REFS_MIN, CLEAR_REFS_MAX)


def parse_oom_score_adj(data: bytes) -> tuple[int, int]:
    """Parse a write to oom_score_adj: (value, count). kstrtoint base 0, -1000..1000."""
    return _parse_numbuf_int(data, 0, OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX)


def parse_comm_write(data: bytes) -> NoReturn:
    """Refuse a write to comm: only a thread of the process itself may rename it."""
    raise ParseError("only the process itself may change its comm", 0)
