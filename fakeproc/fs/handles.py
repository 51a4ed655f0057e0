"""Per-open-file state: read snapshots and the control plane's partial lines.

Pure: no pyfuse3 here, so the rules are unit-tested without /dev/fuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fakeproc.errors import InvalidArgument

PAGEMAP_ENTRY_BYTES = 8


@dataclass
class Snapshot:
    """The seq_file rule: render at offset 0 or after a jump, else slice the last rendering.

    A sequential reader sees one consistent snapshot even if the engine changes
    between its reads; a reader that keeps its fd and reads from 0 again
    (``top``, ``pread(fd, n, 0)``) sees fresh data.
    """

    data: bytes | None = None
    end: int = 0  # where the previous read on this handle stopped

    def read(self, offset: int, size: int, render: Callable[[], bytes]) -> bytes:
        if self.data is None or offset == 0 or offset != self.end:
            self.data = render()
        chunk = self.data[offset:offset + size]  # past the end: b"", never an error
        self.end = offset + len(chunk)
        return chunk


def check_pagemap_window(offset: int, size: int) -> None:
    """pagemap reads are whole 8-byte entries, as the kernel insists."""
    if offset % PAGEMAP_ENTRY_BYTES or size % PAGEMAP_ENTRY_BYTES:
        raise InvalidArgument(f"pagemap read of {size} bytes at {offset}: not 8-byte aligned")


@dataclass
class LineBuffer:
    """Whole lines for the control plane; a line cut by a write waits for the next one."""

    pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> bytes:
        """Add a write; return the complete lines it finishes (b"" if none), keep the rest."""
        self.pending += data
        cut = self.pending.rfind(b"\n")
        if cut < 0:
            return b""
        lines = bytes(self.pending[:cut + 1])
        del self.pending[:cut + 1]
        return lines

    def take_rest(self) -> bytes:
        """The unfinished last line (at close it runs as if it ended in a newline)."""
        rest = bytes(self.pending)
        self.pending.clear()
        return rest

    def discard(self) -> None:
        self.pending.clear()
