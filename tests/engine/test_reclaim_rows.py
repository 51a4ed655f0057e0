"""One tiny world per row of the per-process reclaim table (docs/model.md, kernel.md §B).

Each world maps 4 pages at ADDR in process 100, does one thing to them and
reclaims. The expected figures are counted by hand from the rules: 4 pages
are 16 kB; a page mapped by two processes has Pss 4096/2 bytes.
"""

from __future__ import annotations

from typing import Any

import pytest

from fakeproc.engine.types import PAGE_SIZE

from .conftest import MiB, World, kib, pages

ADDR = 0x10000
N = 4  # pages in every world
PM_PRESENT, PM_SWAP, PM_FILE, PM_EXCLUSIVE = 1 << 63, 1 << 62, 1 << 61, 1 << 56
DIALECTS = pytest.mark.parametrize("dialect", ["v2", "caf"])


def anon_world(world: World, dialect: str, **config: Any) -> Any:
    """Process 100 with N dirty private anon pages at ADDR."""
    m = world(dialect=dialect, **config)
    m.spawn(100, "app")
    m.mmap(100, ADDR, pages(N), "anon")
    m.touch(100, ADDR, pages(N), write=True)
    return m


def flags(m: Any, pid: int, privileged: bool = False) -> list[int]:
    return [int(v) for v in m.pagemap(pid, ADDR // PAGE_SIZE, N, privileged=privileged)]


@DIALECTS
def test_shared_anon(world: World, dialect: str) -> None:
    m = anon_world(world, dialect)
    m.fork(100, 101)
    free_before = m.meminfo().free
    result = m.reclaim(100, "anon")
    parent, child = m.smaps(100), m.smaps(101)
    if dialect == "v2":
        # Unmapped from the parent only: each PTE becomes a swap entry (written
        # once, pswpout 4); the frames stay in the swap cache for the child.
        assert result.reclaimed["anon"] == N and result.skipped["shared"] == 0
        assert kib(parent, "rss") == 0 and kib(parent, "swap") == 16
        # Each slot is referenced by the parent's PTE alone: SwapPss is whole.
        assert kib(parent, "swap_pss") == 16
        # The child now maps every frame alone: Pss is its whole Rss.
        assert kib(child, "rss") == 16 and kib(child, "pss") == 16
        assert m.memory(100).vm_swap == N and m.memory(100).vm_rss == 0
        info = m.meminfo()
        assert info.swap_cached == N
        assert info.free == free_before  # nothing freed: the child holds the frames
        assert info.swap_free == info.swap_total - N
        assert m.vmstat()["pswpout"] == N
        assert all(f & PM_SWAP and not f & PM_PRESENT for f in flags(m, 100))
        assert all(f & PM_PRESENT and f & PM_EXCLUSIVE for f in flags(m, 101))
    else:
        # caf skips pages whose mapcount is not 1: nothing changes.
        assert result.reclaimed_total == 0 and result.skipped["shared"] == N
        assert kib(parent, "rss") == 16 and kib(parent, "pss") == 8  # 4 pages / 2 mappers
        assert kib(parent, "swap") == 0 and m.vmstat()["pswpout"] == 0
        assert all(f & PM_PRESENT and not f & PM_EXCLUSIVE for f in flags(m, 100))


@DIALECTS
def test_mlocked_kept(world: World, dialect: str) -> None:
    m = world(dialect=dialect)
    m.spawn(100, "app")
    m.mmap(100, ADDR, pages(N), "anon")
    m.mlock(100, ADDR, pages(N))  # faults the 4 writable pages in, as by a write
    result = m.reclaim(100, "all")
    assert result.skipped["mlocked"] == N and result.reclaimed_total == 0
    s = m.smaps(100)
    assert kib(s, "rss") == 16 and kib(s, "private_dirty") == 16
    assert kib(s, "locked") == 16  # Locked is the Pss of the locked VMA
    info = m.meminfo()
    assert info.mlocked == N and info.unevictable == N
    assert m.memory(100).vm_lck == N and m.vmstat()["pswpout"] == 0


@DIALECTS
def test_anon_without_swap_is_activated(world: World, dialect: str) -> None:
    m = anon_world(world, dialect, swap_bytes=0)
    # New frames start inactive (and referenced); one write each did not activate them.
    assert m.meminfo().inactive_anon == N and m.meminfo().active_anon == 0
    activations = m.vmstat()["pgactivate"]
    result = m.reclaim(100, "anon")
    assert result.skipped["no_swap"] == N and result.reclaimed_total == 0
    assert m.vmstat()["pgactivate"] == activations + N
    assert m.meminfo().active_anon == N and m.meminfo().inactive_anon == 0
    assert kib(m.smaps(100), "rss") == 16


@DIALECTS
def test_anon_with_swap_is_swapped_and_freed(world: World, dialect: str) -> None:
    m = anon_world(world, dialect)
    before = m.meminfo()
    result = m.reclaim(100, "anon")
    assert result.reclaimed["anon"] == N and result.scanned == N
    after = m.meminfo()
    assert after.free == before.free + N
    assert after.swap_free == before.swap_free - N
    assert after.swap_cached == 0 and after.anon_pages == 0
    mem = m.memory(100)
    assert (mem.vm_rss, mem.rss_anon, mem.vm_swap) == (0, 0, N)
    s = m.smaps(100)
    assert (kib(s, "rss"), kib(s, "swap"), kib(s, "swap_pss")) == (0, 16, 16)
    assert m.vmstat()["pswpout"] == N
    assert m.swap_used_pages() == N
    # Unprivileged readers see the swap bit but no offset.
    assert flags(m, 100) == [PM_SWAP] * N
    assert all(f & PM_SWAP and not f & PM_PRESENT for f in flags(m, 100, privileged=True))


@DIALECTS
def test_clean_anon_in_swap_cache_is_freed_without_a_write(world: World, dialect: str) -> None:
    m = anon_world(world, dialect)
    m.reclaim(100, "anon")
    touched = m.touch(100, ADDR, pages(N))  # a read swaps each page back in
    assert (touched.major, touched.refaults) == (N, N)
    assert m.vmstat()["pswpin"] == N and m.meminfo().swap_cached == N
    assert m.swap_used_pages() == N  # the slots stay, held by the swap cache
    free = m.meminfo().free
    result = m.reclaim(100, "anon")
    assert result.reclaimed["anon"] == N
    assert m.vmstat()["pswpout"] == N  # the 4 writes of the first reclaim only
    assert m.meminfo().free == free + N and m.meminfo().swap_cached == 0
    assert m.memory(100).vm_swap == N


@DIALECTS
def test_clean_file_is_dropped(world: World, dialect: str) -> None:
    m = world(dialect=dialect)
    m.spawn(100, "app")
    m.mmap(100, ADDR, pages(N), "file", path="/lib/libx.so", perms="r--p")
    first = m.touch(100, ADDR, pages(N))
    assert first.major == N and first.refaults == 0  # read in, no shadow yet
    before = m.meminfo()
    assert before.cached == N and before.mapped == N
    assert m.memory(100).rss_file == N
    assert flags(m, 100) == [PM_PRESENT | PM_FILE | PM_EXCLUSIVE] * N
    result = m.reclaim(100, "file")
    assert result.reclaimed["file"] == N
    after = m.meminfo()
    assert after.cached == 0 and after.free == before.free + N
    assert m.memory(100).rss_file == 0 and flags(m, 100) == [0] * N
    again = m.touch(100, ADDR, pages(N))  # the shadows make these refaults
    assert (again.major, again.refaults) == (N, N)
    assert m.vmstat()["workingset_refault_file"] == N and m.process(100).refaults == N


@DIALECTS
def test_dirty_file_waits_for_sync(world: World, dialect: str) -> None:
    m = world(dialect=dialect)
    m.spawn(100, "app")
    m.mmap(100, ADDR, pages(N), "file", path="/data/db", perms="rw-s")
    m.touch(100, ADDR, pages(N), write=True)
    assert m.meminfo().dirty == N
    result = m.reclaim(100, "file")
    assert result.skipped["dirty"] == N and result.reclaimed_total == 0
    # Unmapped from the process, kept in the page cache, still dirty.
    assert m.memory(100).rss_file == 0
    info = m.meminfo()
    assert (info.cached, info.dirty, info.mapped) == (N, N, 0)
    m.sync()
    assert m.meminfo().dirty == 0 and m.meminfo().cached == N
    hit = m.touch(100, ADDR, pages(N))  # cached: minor faults, no read
    assert (hit.minor, hit.major) == (N, 0)
    assert m.reclaim(100, "file").reclaimed["file"] == N
    assert m.meminfo().cached == 0


@DIALECTS
def test_dirty_file_waits_for_the_flusher(world: World, dialect: str) -> None:
    m = world(dialect=dialect)
    m.spawn(100, "app")
    m.mmap(100, ADDR, pages(N), "file", path="/data/db", perms="rw-s")
    m.touch(100, ADDR, pages(N), write=True)  # last access at tick 0
    m.reclaim(100, "file")
    # The flusher runs at ticks 500, 1000, ...; a page written at tick 0 is
    # old enough (3000 ticks) first at tick 3000.
    m.advance(2999)
    assert m.meminfo().dirty == N
    m.advance(1)
    assert m.tick == 3000 and m.meminfo().dirty == 0
    m.drop_caches(1)  # clean, unmapped: now droppable
    assert m.meminfo().cached == 0


@DIALECTS
@pytest.mark.parametrize("swap_bytes", [MiB, 0], ids=["swap", "no-swap"])
def test_shmem(world: World, dialect: str, swap_bytes: int) -> None:
    m = world(dialect=dialect, swap_bytes=swap_bytes)
    m.spawn(100, "app")
    m.mmap(100, ADDR, pages(N), "shmem", perms="rw-s")
    m.touch(100, ADDR, pages(N), write=True)
    assert m.memory(100).rss_shmem == N and m.meminfo().shmem == N
    free = m.meminfo().free
    result = m.reclaim(100, "file")  # shmem has a file: it is "file"
    assert result.scanned == N
    assert m.memory(100).rss_shmem == 0  # unmapped either way
    assert m.memory(100).vm_swap == 0  # the PTE is none, not a swap entry
    assert flags(m, 100) == [0] * N
    s = m.smaps(100)
    if swap_bytes:
        assert m.meminfo().shmem == 0 and m.meminfo().free == free + N
        assert m.vmstat()["pswpout"] == N and m.swap_used_pages() == N
        assert kib(s, "swap") == 16  # the object's swapped pages in the VMA's range
    else:
        assert m.meminfo().shmem == N and m.meminfo().free == free
        assert kib(s, "swap") == 0
    again = m.touch(100, ADDR, pages(N))
    assert m.memory(100).rss_shmem == N
    assert again.major == (N if swap_bytes else 0)


@DIALECTS
def test_hugetlb_skipped(world: World, dialect: str) -> None:
    m = world(dialect=dialect)
    m.spawn(100, "app")
    m.mmap(100, 0x200000, 2 * MiB, "hugetlb", perms="rw-p")
    m.touch(100, 0x200000, pages(N), write=True)
    before = m.meminfo()
    result = m.reclaim(100, "all")
    assert result.skipped["hugetlb"] > 0 and result.scanned == 0
    assert result.reclaimed_total == 0
    assert m.meminfo() == before
    s = m.smaps(100)
    assert kib(s, "rss") == 0 and kib(s, "private_hugetlb") == 16  # hugetlb is not Rss
    range_result = m.reclaim_range(100, 0x200000, 0x200000 + 2 * MiB)  # no hang, skipped
    assert range_result.reclaimed_total == 0 and m.meminfo() == before


@DIALECTS
def test_referenced_is_ignored(world: World, dialect: str) -> None:
    m = anon_world(world, dialect)
    m.touch(100, ADDR, pages(N))  # a second access: referenced and active
    assert m.meminfo().active_anon == N
    assert kib(m.smaps(100), "referenced") == 16
    result = m.reclaim(100, "anon")
    assert result.reclaimed["anon"] == N
    assert kib(m.smaps(100), "rss") == 0
