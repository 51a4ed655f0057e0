"""smaps of a process with many VMAs over several page-table pages, engine against reference.

The state machine's processes have a handful of VMAs in one 256-page window;
this one has hundreds, with gaps, empty VMAs next to full ones, and every
kind of page (zero page, private, shared after fork, swapped, shmem swapped
out of a VMA that mlock split, hugetlb, file), so each VMA's figures come
from its own slice of one pass over the whole page table.
"""

from __future__ import annotations

from typing import Any

from fakeproc.engine import Machine
from fakeproc.engine.types import PAGE_SIZE, MachineConfig, SmapsCounts

from .reference import RefMachine

MiB = 1 << 20
BASE = 0x10000000
VMAS, VMA_PAGES, BLOCK = 120, 5, 10  # blocks of 10 side by side, a page of gap after each
FILE_ADDR, SHMEM_ADDR, HUGE_ADDR = BASE + 8 * MiB, BASE + 4 * MiB, 0x40000000


def vma_addr(i: int) -> int:
    return BASE + (i * VMA_PAGES + i // BLOCK) * PAGE_SIZE


def build(m: Any) -> None:
    m.spawn(100, "many")
    for i in range(VMAS):  # alternating permissions, so that they do not merge
        m.mmap(100, vma_addr(i), VMA_PAGES * PAGE_SIZE, "anon",
               perms="rw-p" if i % 2 == 0 else "r--p")
        if i % 6 == 0:
            m.touch(100, vma_addr(i), 2 * PAGE_SIZE, write=True)
    for i in range(0, VMAS, 4 * BLOCK):  # the zero page, and hits on the written pages
        m.touch(100, vma_addr(i), BLOCK * VMA_PAGES * PAGE_SIZE)
    m.mmap(100, SHMEM_ADDR, 8 * PAGE_SIZE, "shmem", perms="rw-s")
    m.touch(100, SHMEM_ADDR, 8 * PAGE_SIZE, write=True)
    m.mmap(100, HUGE_ADDR, 2 * MiB, "hugetlb")
    m.touch(100, HUGE_ADDR, PAGE_SIZE, write=True)
    m.fork(100, 101)  # present pages shared, then slots shared
    m.reclaim(101, "file")  # the child lets go of the shmem: the parent's can reach swap
    for pid in (100, 101):  # one page cache, mapped by both: shared clean
        m.mmap(pid, FILE_ADDR, 4 * PAGE_SIZE, "file", path="/lib/a.so", perms="r--p")
        m.touch(pid, FILE_ADDR, 4 * PAGE_SIZE)
    m.reclaim_range(100, vma_addr(0), vma_addr(2 * BLOCK))
    m.touch(100, vma_addr(6), PAGE_SIZE)  # back from the swap cache
    m.mlock(100, SHMEM_ADDR + 2 * PAGE_SIZE, 2 * PAGE_SIZE)  # splits the shmem VMA in three
    m.reclaim_range(100, SHMEM_ADDR, SHMEM_ADDR + 2 * PAGE_SIZE)
    m.touch(100, vma_addr(30), PAGE_SIZE, write=True)  # copy on write


def test_many_vma_smaps_match_the_reference() -> None:
    config = MachineConfig(ram_bytes=64 * MiB, swap_bytes=4 * MiB)
    engine, ref = Machine(config), RefMachine(config)
    build(engine)
    build(ref)
    assert len(engine.process(100).vmas) > VMAS
    for pid in (100, 101):
        got, want = engine.smaps(pid), ref.smaps(pid)
        for name in SmapsCounts.FIELDS:
            assert getattr(got, name).tolist() == getattr(want, name).tolist(), (pid, name)
    totals = engine.smaps(100).total()
    # Every kind of page is there, so no field is trivially zero on both sides.
    for name in ("swap", "swap_pss", "shared_clean", "private_dirty", "locked",
                 "shared_hugetlb", "pss_file", "pss_shmem", "referenced"):
        assert int(getattr(totals, name)[0]) > 0, name
