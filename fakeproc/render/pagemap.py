"""/proc/<pid>/pagemap: one little-endian u64 per virtual page, only the window asked for."""

from __future__ import annotations

from fakeproc.engine.types import PAGE_SHIFT, PAGE_SIZE
from fakeproc.errors import InvalidArgument
from fakeproc.render.view import MachineView

ENTRY_BYTES = 8
# x86_64 with 4-level page tables: user space ends one page below 128 TiB.
TASK_SIZE_BYTES = (1 << 47) - PAGE_SIZE
TASK_PAGES = TASK_SIZE_BYTES >> PAGE_SHIFT


def render_pagemap(m: MachineView, pid: int, offset: int, size: int, *,
                   privileged: bool) -> bytes:
    """The bytes of pagemap at [offset, offset + size).

    As pagemap_read: an offset or size that is not a multiple of 8 is
    EINVAL; a window past the end of the address space reads as nothing,
    and one that crosses the end is cut there.
    """
    if offset < 0 or size < 0 or offset % ENTRY_BYTES or size % ENTRY_BYTES:
        raise InvalidArgument(f"pagemap reads need offset and size in multiples of "
                              f"{ENTRY_BYTES}, not {offset} and {size}")
    m.process(pid)  # a dead process is ESRCH even for an empty window
    first_page = offset // ENTRY_BYTES
    count = min(size // ENTRY_BYTES, TASK_PAGES - first_page)
    if count <= 0:
        return b""
    entries = m.pagemap(pid, first_page, count, privileged=privileged)
    return entries.astype("<u8", copy=False).tobytes()
