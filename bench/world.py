"""Simulated worlds the benchmarks time, built the same way as the real
helper process (``c/vmas.c``) so that both sides have the same shape."""

from __future__ import annotations

import numpy as np

from fakeproc.engine import PAGE_SIZE, Machine, MachineConfig

BASE_ADDR = 0x7F00_0000_0000 >> 1  # far from everything else a world maps
BIG_ADDR = 0x7E00_0000_0000 >> 1


def new_machine(*, ram_bytes: int = 8 << 30, swap_bytes: int = 4 << 30) -> Machine:
    return Machine(MachineConfig(ram_bytes=ram_bytes, swap_bytes=swap_bytes))


def resident_anon(size: int, *, pid: int) -> Machine:
    """A machine whose process ``pid`` has ``size`` bytes of dirty anon memory resident."""
    m = new_machine(ram_bytes=max(4 << 30, 2 * size), swap_bytes=max(2 << 30, 2 * size))
    m.spawn(pid, "resident")
    m.mmap(pid, BASE_ADDR, size, "anon")
    m.touch(pid, BASE_ADDR, size, write=True)
    return m


def build_vmas(m: Machine, pid: int, count: int, *, touch: bool = True,
               start: int = BASE_ADDR) -> None:
    """``count`` two-page anon VMAs side by side, alternating rw-p and r--p (so none
    merge); the first page of each touched, written on rw-p, read on r--p."""
    for i in range(count):
        m.mmap(pid, start + 2 * i * PAGE_SIZE, 2 * PAGE_SIZE, "anon",
               perms="rw-p" if i % 2 == 0 else "r--p")
    if len(m.process(pid).vmas) < count:
        raise AssertionError("the VMAs merged: the set-up is wrong")
    if touch:
        first = start // PAGE_SIZE + 4 * np.arange((count + 1) // 2, dtype=np.int64)
        m.touch_pages(pid, first, write=True)
        m.touch_pages(pid, first[: count // 2] + 2)
