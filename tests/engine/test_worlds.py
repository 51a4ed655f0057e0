"""Tiny hand-computed worlds for everything but the per-page reclaim rows.

Each expected figure is counted by hand from docs/model.md; a comment says how.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest

from fakeproc.engine.types import PAGE_SIZE, MachineConfig
from fakeproc.errors import FakeprocError, errno_of

from .conftest import MiB, World, kib, pages
from .reference import watermarks

A = 0x10000  # first mapping
FOUR_MIB_RAM = 4 * MiB  # 1024 frames: watermarks min 64, low 80, high 96


def test_watermarks_by_hand() -> None:
    # 4 MiB: sqrt(4096 kB * 16) = 256 kB -> min 64 pages, delta max(16, 1) -> 80, 96.
    assert watermarks(1024) == (64, 80, 96)
    # 64 MiB: sqrt(65536 * 16) = 1024 kB -> min 256, delta max(64, 16) -> 320, 384.
    assert watermarks(16384) == (256, 320, 384)


def test_engine_watermarks(world: World) -> None:
    info = world(ram_bytes=FOUR_MIB_RAM).meminfo()
    assert (info.wmark_min, info.wmark_low, info.wmark_high) == (64, 80, 96)
    assert info.total == 1024 and info.free == 1024
    assert info.swap_total == MiB // PAGE_SIZE - 1  # mkswap's header page


# ---------------------------------------------------------------- range and filters


def three_vmas(world: World, **config: Any) -> Any:
    """anon at A (4 pages), a 4-page gap, a clean read-only file at A+8p (4 pages)."""
    m = world(**config)
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "anon")
    m.mmap(100, A + pages(8), pages(4), "file", path="/lib/x.so", perms="r--p")
    m.touch(100, A, pages(4), write=True)
    m.touch(100, A + pages(8), pages(4))
    return m


def test_range_crosses_vmas_and_gaps(world: World) -> None:
    m = three_vmas(world)
    # [A+2p, A+10p): anon pages 2,3 and file pages 0,1; no type filter.
    result = m.reclaim_range(100, A + pages(2), A + pages(10))
    assert (result.scanned, result.reclaimed["anon"], result.reclaimed["file"]) == (4, 2, 2)
    s = m.smaps(100)
    assert (kib(s, "rss", 0), kib(s, "swap", 0)) == (8, 8)
    assert kib(s, "rss", 1) == 8
    assert m.meminfo().cached == 2


def test_range_in_a_gap_is_a_no_op(world: World) -> None:
    m = three_vmas(world)
    before = m.meminfo()
    assert m.reclaim_range(100, A + pages(4), A + pages(8)).scanned == 0
    assert m.reclaim_range(100, A, A).scanned == 0  # empty range
    assert m.meminfo() == before


def test_range_start_must_be_aligned(world: World) -> None:
    m = three_vmas(world)
    with pytest.raises(FakeprocError) as info:
        m.reclaim_range(100, A + 1, A + pages(4))
    assert errno_of(info.value) == errno.EINVAL


@pytest.mark.parametrize(("mode", "anon_left", "shmem_left", "file_left"), [
    ("anon", 0, 4, 4),  # only the VMA without a file
    ("file", 4, 0, 0),  # shmem has a file: it counts as "file"
    ("all", 0, 0, 0),
])
def test_whole_mm_filters(world: World, mode: str, anon_left: int, shmem_left: int,
                          file_left: int) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "anon")
    m.mmap(100, A + pages(8), pages(4), "shmem", perms="rw-s")
    m.mmap(100, A + pages(16), pages(4), "file", path="/lib/x.so", perms="r--p")
    m.touch(100, A, pages(4), write=True)
    m.touch(100, A + pages(8), pages(4), write=True)
    m.touch(100, A + pages(16), pages(4))
    m.reclaim(100, mode)
    mem = m.memory(100)
    assert (mem.rss_anon, mem.rss_shmem, mem.rss_file) == (anon_left, shmem_left, file_left)


@pytest.mark.parametrize("dialect", ["v2", "caf"])
def test_file_mapped_twice_in_one_mm(world: World, dialect: str) -> None:
    m = world(dialect=dialect)
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "file", path="/lib/x.so", perms="r--p")
    m.mmap(100, A + pages(16), pages(4), "file", path="/lib/x.so", perms="r--p")
    m.touch(100, A, pages(4))
    m.touch(100, A + pages(16), pages(4))
    s = m.smaps(100)
    # 4 cached frames, each mapped twice by the same mm: Rss 16 kB, Pss 8 kB per VMA.
    assert m.meminfo().cached == 4 and m.memory(100).rss_file == 8
    assert [kib(s, "rss", r) for r in (0, 1)] == [16, 16]
    assert [kib(s, "pss", r) for r in (0, 1)] == [8, 8]
    assert [kib(s, "shared_clean", r) for r in (0, 1)] == [16, 16]
    result = m.reclaim(100, "file")
    if dialect == "v2":
        # The first VMA's mappings go (frames kept for the second), then the second's.
        assert result.reclaimed["file"] == 8 and m.meminfo().cached == 0
    else:
        assert result.skipped["shared"] == 8 and m.meminfo().cached == 4


# ---------------------------------------------------------------- madvise


def madvise_world(world: World) -> Any:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "anon")
    m.touch(100, A, pages(4), write=True)
    m.touch(100, A, pages(4))  # referenced again: active
    return m


def test_madvise_cold(world: World) -> None:
    m = madvise_world(world)
    assert m.meminfo().active_anon == 4
    m.madvise(100, A, pages(4), "cold")
    info = m.meminfo()
    assert (info.active_anon, info.inactive_anon) == (0, 4)
    assert m.vmstat()["pgdeactivate"] == 4
    s = m.smaps(100)
    assert kib(s, "referenced") == 0 and kib(s, "rss") == 16  # cold reclaims nothing


def test_madvise_pageout(world: World) -> None:
    m = madvise_world(world)
    m.madvise(100, A, pages(4), "pageout")
    assert m.memory(100).vm_swap == 4 and m.vmstat()["pswpout"] == 4


@pytest.mark.parametrize("kind", ["locked", "hugetlb"])
def test_madvise_einval_before_any_change(world: World, kind: str) -> None:
    m = madvise_world(world)
    if kind == "locked":
        m.mmap(100, A + pages(4), pages(4), "anon")
        m.mlock(100, A + pages(4), pages(4))
        size = pages(8)
    else:
        m.mmap(100, 0x200000, 2 * MiB, "hugetlb")
        size = 0x200000 + 2 * MiB - A
    with pytest.raises(FakeprocError) as info:
        m.madvise(100, A, size, "pageout")
    assert errno_of(info.value) == errno.EINVAL
    assert m.memory(100).vm_swap == 0  # the first VMA was not touched


def test_madvise_hole_is_enomem_after_the_mapped_parts(world: World) -> None:
    m = madvise_world(world)
    m.mmap(100, A + pages(8), pages(4), "anon")
    m.touch(100, A + pages(8), pages(4), write=True)
    with pytest.raises(FakeprocError) as info:
        m.madvise(100, A, pages(12), "pageout")
    assert errno_of(info.value) == errno.ENOMEM
    assert m.memory(100).vm_swap == 8  # both VMAs were paged out first


def test_madvise_skips_shared_pages(world: World) -> None:
    m = madvise_world(world)
    m.fork(100, 101)
    result = m.madvise(100, A, pages(4), "pageout")
    assert result.reclaimed_total == 0 and result.skipped["shared"] == 4
    assert m.memory(100).vm_rss == 4


@pytest.mark.parametrize(("addr", "size", "expected"), [
    (A + 1, pages(1), errno.EINVAL),  # start not page aligned
    (A, (1 << 64) - 1, errno.EINVAL),  # wraps
])
def test_madvise_argument_errors(world: World, addr: int, size: int, expected: int) -> None:
    m = madvise_world(world)
    with pytest.raises(FakeprocError) as info:
        m.madvise(100, addr, size, "cold")
    assert errno_of(info.value) == expected


def test_madvise_zero_length_is_a_no_op(world: World) -> None:
    m = madvise_world(world)
    assert m.madvise(100, A, 0, "pageout").scanned == 0


# ---------------------------------------------------------------- global reclaim


def crowded(world: World, **config: Any) -> Any:
    """1024 frames: 900 dirty anon frames (0..899), then 44 file pages read at tick 1.

    Free is 1024 - 900 - 44 = 80, exactly the low watermark: nothing reclaimed yet.
    """
    m = world(ram_bytes=FOUR_MIB_RAM, **config)
    m.spawn(100, "app")
    m.mmap(100, A, pages(900), "anon")
    m.touch(100, A, pages(900), write=True)
    m.mmap(100, 0x10000000, pages(64), "file", path="/data/f", perms="r--p")
    m.advance(1)
    m.touch(100, 0x10000000, pages(44))
    return m


def present(m: Any, first_addr: int, count: int) -> list[bool]:
    return [bool(v >> 63) for v in m.pagemap(100, first_addr // PAGE_SIZE, count,
                                              privileged=False).tolist()]


def test_global_reclaim_lru_order_without_swap(world: World) -> None:
    m = crowded(world, swap_bytes=0)
    assert m.meminfo().free == 80 and m.vmstat()["pgscan_kswapd"] == 0
    m.advance(1)
    m.touch(100, 0x10000000, pages(1))  # file page 0 again: last access tick 2
    # One more frame would leave 79 < low 80: reclaim to high + 1 = 97 free, i.e.
    # 17 victims. Anon needs swap (none); file pages 1..17 are the oldest (tick 1,
    # ties by frame number); page 0 was touched at tick 2.
    m.touch(100, 0x10000000 + pages(44), pages(1))
    assert m.vmstat()["pgscan_kswapd"] == 17 and m.vmstat()["pgsteal_file"] == 17
    assert m.vmstat()["pgscan_anon"] == 0
    assert present(m, 0x10000000, 45) == [True] + [False] * 17 + [True] * 27
    assert m.meminfo().free == 96  # 97, less the new page


def test_global_reclaim_takes_anon_while_swap_has_room(world: World) -> None:
    m = crowded(world, swap_bytes=9 * PAGE_SIZE)  # 8 slots
    m.touch(100, 0x10000000 + pages(44), pages(1))
    # 17 victims by age: anon pages 0..7 (tick 0) fill the 8 slots; then anon is
    # no longer evictable and file pages 0..8 (tick 1) follow.
    stat = m.vmstat()
    assert (stat["pgscan_anon"], stat["pgsteal_anon"], stat["pswpout"]) == (8, 8, 8)
    assert (stat["pgscan_file"], stat["pgsteal_file"]) == (9, 9)
    assert m.memory(100).vm_swap == 8
    assert present(m, A, 9) == [False] * 8 + [True]
    assert present(m, 0x10000000, 10) == [False] * 9 + [True]


def test_global_reclaim_writes_dirty_file_pages(world: World) -> None:
    m = world(ram_bytes=FOUR_MIB_RAM, swap_bytes=0)
    m.spawn(100, "app")
    m.mmap(100, 0x10000000, pages(4), "file", path="/data/f", perms="rw-s")
    m.touch(100, 0x10000000, pages(4), write=True)  # tick 0: the oldest
    m.advance(1)
    m.mmap(100, A, pages(941), "anon")
    m.touch(100, A, pages(940), write=True)  # free 1024 - 944 = 80
    m.touch(100, A + pages(940), pages(1), write=True)
    # 17 victims wanted, only the 4 dirty file pages are evictable: written first.
    assert m.vmstat()["nr_vmscan_write"] == 4 and m.meminfo().dirty == 0
    assert m.meminfo().cached == 0


# ---------------------------------------------------------------- OOM


def oom_world(world: World) -> Any:
    """No swap; 100 holds 500 anon pages, 101 holds 300, 102 is about to write 200."""
    m = world(ram_bytes=FOUR_MIB_RAM, swap_bytes=0)
    for pid, n in ((100, 500), (101, 300), (102, 0)):
        m.spawn(pid, f"p{pid}")
        m.mmap(pid, 0x40000000, pages(1024), "anon")  # one page-table page per 512 pages
        if n:
            m.touch(pid, 0x40000000, pages(n), write=True)
    return m


def test_oom_kills_the_biggest(world: World) -> None:
    m = oom_world(world)
    # 200 more frames leave 24 < min 64 and nothing is evictable: the OOM killer
    # picks 100 (badness 500 rss + 1 page-table page, the highest).
    result = m.touch(102, 0x40000000, pages(200), write=True)
    assert result.oom_killed == (100,)
    assert m.pids() == [101, 102]
    assert m.vmstat()["oom_kill"] == 1
    assert [e["pid"] for e in m.drain_events() if e["type"] == "oom_kill"] == [100]


def test_oom_score_adj_weighs(world: World) -> None:
    m = oom_world(world)
    # 101: 301 + 1000 x (1024 / 1000) = 1301 > 501: 101 goes instead.
    m.set_oom_score_adj(101, 1000)
    assert m.touch(102, 0x40000000, pages(200), write=True).oom_killed == (101,)


def test_oom_never_picks_minus_1000(world: World) -> None:
    m = oom_world(world)
    m.set_oom_score_adj(100, -1000)
    assert m.oom_score(100) == 0
    assert m.touch(102, 0x40000000, pages(200), write=True).oom_killed == (101,)


def test_oom_kill_of_the_toucher_is_enomem(world: World) -> None:
    m = oom_world(world)
    with pytest.raises(FakeprocError) as info:
        m.touch(100, 0x40000000 + pages(500), pages(400), write=True)
    assert errno_of(info.value) == errno.ENOMEM
    assert 100 not in m.pids()


def test_oom_with_no_candidate_is_enomem(world: World) -> None:
    m = oom_world(world)
    for pid in (100, 101, 102):
        m.set_oom_score_adj(pid, -1000)
    with pytest.raises(FakeprocError) as info:
        m.touch(102, 0x40000000, pages(200), write=True)
    assert errno_of(info.value) == errno.ENOMEM
    assert m.pids() == [100, 101, 102]


def test_oom_score_by_hand(world: World) -> None:
    m = oom_world(world)
    # 1000 + badness x 1000 / (RAM + swap pages) = 1000 + 501000 // 1024 = 1489.
    assert m.oom_score(100) == 1000 + 501 * 1000 // 1024


def test_oom_score_negative_badness_truncates(
        world: World) -> None:
    m = world(swap_bytes=MiB)  # 16384 + 255 pages: total / 1000 = 16
    m.spawn(100, "app")
    m.mmap(100, A, pages(10), "anon")
    m.touch(100, A, pages(10), write=True)
    m.set_oom_score_adj(100, -500)
    # badness = 10 + 1 + (-500 x 16) = -7989; 1000 + trunc(-7989000 / 16639) = 1000 - 480.
    assert m.oom_score(100) == 520


# ---------------------------------------------------------------- zram, refaults


def test_zram_costs_ram(world: World) -> None:
    m = world(swap_kind="zram", zram_ratio=3.0)
    m.spawn(100, "app")
    m.mmap(100, A, pages(7), "anon")
    m.touch(100, A, pages(7), write=True)
    free = m.meminfo().free
    m.reclaim(100, "anon")
    # 7 frames freed, ceil(7 / 3) = 3 frames now hold the compressed pool.
    assert m.meminfo().zram == 3 and m.meminfo().free == free + 7 - 3


def test_zram_swapout_below_low_triggers_global_reclaim(
        world: World) -> None:
    m = world(ram_bytes=FOUR_MIB_RAM, swap_kind="zram", dialect="v2")
    m.spawn(100, "app")
    m.mmap(100, A, pages(30), "anon")
    m.touch(100, A, pages(30), write=True)
    m.mmap(100, 0x10000000, pages(914), "file", path="/data/f", perms="r--p")
    m.touch(100, 0x10000000, pages(914))  # free 1024 - 944 = 80
    m.fork(100, 101)
    # v2 unmaps the 30 shared pages from 100 only: 30 slots, ceil(30/3) = 10 pool
    # frames, nothing freed: free 70 < low 80, so reclaim runs to high 96.
    m.reclaim(100, "anon")
    assert m.meminfo().free >= 96


def test_refault_counting(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(3), "anon")
    m.touch(100, A, pages(3), write=True)
    m.reclaim(100, "anon")
    result = m.touch(100, A, pages(3))
    # Each swap-in is major and a refault (anon).
    assert (result.major, result.refaults) == (3, 3)
    p = m.process(100)
    assert (p.majflt, p.refaults, p.minflt) == (3, 3, 3)  # 3 minor: the first writes
    stat = m.vmstat()
    assert (stat["workingset_refault_anon"], stat["pswpin"], stat["pgmajfault"]) == (3, 3, 3)
    assert stat["pgfault"] == 6


def test_slots_lowest_free_first(
        world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(3), "anon")
    m.touch(100, A, pages(3), write=True)
    m.reclaim(100, "anon")  # slots 0, 1, 2
    m.touch(100, A, pages(2), write=True)  # pages 0, 1 back and dirtied: slots 0, 1 free
    m.reclaim_range(100, A + pages(1), A + pages(2))  # page 1 out again: lowest free is 0
    swap_offset = int(m.pagemap(100, A // PAGE_SIZE + 1, 1, privileged=True)[0]) >> 5
    assert swap_offset & ((1 << 50) - 1) == 0


# ---------------------------------------------------------------- errors


def err(call: Callable[[], Any]) -> int:
    try:
        call()
    except FakeprocError as exc:
        return errno_of(exc)
    return 0


@pytest.mark.parametrize(("what", "expected"), [
    (lambda m: m.mmap(100, A + 1, pages(1), "anon"), errno.EINVAL),  # misaligned address
    (lambda m: m.mmap(100, A, pages(1), "anon", perms="rwxq"), errno.EINVAL),  # bad perms
    (lambda m: m.mmap(100, A, pages(1), "anon"), errno.EEXIST),  # overlaps the mapping
    (lambda m: m.mmap(100, A - pages(1), pages(2), "anon"), errno.EEXIST),  # partly
    (lambda m: m.touch(100, A + pages(4), pages(1)), errno.EFAULT),  # outside
    (lambda m: m.touch(100, A + pages(8), pages(1), write=True), errno.EFAULT),  # r--p
    (lambda m: m.touch(999, A, pages(1)), errno.ESRCH),  # no such process
    (lambda m: m.reclaim(999, "all"), errno.ESRCH),
    (lambda m: m.reclaim(100, "both"), errno.EINVAL),
    (lambda m: m.spawn(0, "x"), errno.EINVAL),  # pids are 1..4194304
    (lambda m: m.spawn(4194305, "x"), errno.EINVAL),
    (lambda m: m.spawn(100, "x"), errno.EEXIST),
    (lambda m: m.clear_refs(100, 6), errno.EINVAL),
    (lambda m: m.set_oom_score_adj(100, 1001), errno.EINVAL),
    (lambda m: m.drop_caches(4), errno.EINVAL),
    (lambda m: m.mlock(100, A, pages(6)), errno.ENOMEM),  # the range has a hole
])
def test_errors(world: World, what: Callable[[Any], Any], expected: int) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "anon")
    m.mmap(100, A + pages(8), pages(4), "file", path="/lib/x.so", perms="r--p")
    before = (m.meminfo(), [v for v in m.process(100).vmas])
    assert err(lambda: what(m)) == expected
    assert (m.meminfo(), [v for v in m.process(100).vmas]) == before  # nothing changed


def test_exit_makes_pid_esrch(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.exit(100)
    assert err(lambda: m.process(100)) == errno.ESRCH
    assert err(lambda: m.exit(100)) == errno.ESRCH


# ---------------------------------------------------------------- VMAs


def spans(m: Any, pid: int = 100) -> list[tuple[int, int, bool]]:
    return [((v.start - A) // PAGE_SIZE, (v.end - A) // PAGE_SIZE, v.locked)
            for v in m.process(pid).vmas]


def test_vma_merge_and_split(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "anon")
    m.mmap(100, A + pages(4), pages(4), "anon")  # adjacent, same kind and perms: merges
    assert spans(m) == [(0, 8, False)]
    m.mlock(100, A + pages(2), pages(2))  # split in three
    assert spans(m) == [(0, 2, False), (2, 4, True), (4, 8, False)]
    m.munlock(100, A + pages(2), pages(2))  # merges back
    assert spans(m) == [(0, 8, False)]
    m.munmap(100, A + pages(3), pages(2))  # a hole splits it
    assert spans(m) == [(0, 3, False), (5, 8, False)]
    m.mmap(100, A + pages(3), pages(2), "anon", name="tab")  # another name: no merge
    assert spans(m) == [(0, 3, False), (3, 5, False), (5, 8, False)]
    assert m.process(100).vmas[1].display_name == "[anon:tab]"


def test_file_vmas_merge_only_with_contiguous_offsets(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(2), "file", path="/lib/x.so", perms="r--p")
    m.mmap(100, A + pages(2), pages(2), "file", path="/lib/x.so", perms="r--p",
           offset=pages(2))
    m.mmap(100, A + pages(4), pages(2), "file", path="/lib/x.so", perms="r--p",
           offset=pages(9))
    assert spans(m) == [(0, 4, False), (4, 6, False)]


def test_mlock_faults_in(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(4), "anon")
    m.mmap(100, A + pages(8), pages(4), "file", path="/lib/x.so", perms="r--p")
    m.mlock(100, A, pages(4))
    m.mlock(100, A + pages(8), pages(4))
    mem = m.memory(100)
    # Writable private anon: as by writes (dirty frames); the file: read in (major).
    assert (mem.rss_anon, mem.rss_file, mem.vm_lck) == (4, 4, 8)
    assert kib(m.smaps(100), "private_dirty", 0) == 16
    assert m.process(100).majflt == 4
    assert m.meminfo().mlocked == 8


def test_mlock_cow_leaves_old_frame_evictable(
        world: World) -> None:
    m = world(swap_bytes=0)
    m.spawn(100, "app")
    m.mmap(100, A, pages(16), "anon")
    m.touch(100, A, pages(16), write=True)
    m.fork(100, 101)
    m.mlock(101, A, pages(1))  # populate writes: the child copies page 0
    # Only the child's copy is locked; the parent's frame is mapped by no locked VMA.
    assert m.meminfo().mlocked == 1
    m.exit(101)
    assert m.meminfo().mlocked == 0 and m.meminfo().inactive_anon == 16


def test_munlock_keeps_frames_another_locked_vma_maps(world: World) -> None:
    m = world(swap_bytes=0)
    m.spawn(100, "app")
    # The same 4 file pages mapped twice, both mappings locked.
    m.mmap(100, A, pages(4), "file", path="/lib/x.so", perms="r--p")
    m.mmap(100, A + pages(16), pages(4), "file", path="/lib/x.so", perms="r--p")
    m.mlock(100, A, pages(4))
    m.mlock(100, A + pages(16), pages(4))
    m.munlock(100, A, pages(4))
    # The second mapping is still locked: its 4 frames stay unevictable.
    assert m.memory(100).vm_lck == 4
    assert (m.meminfo().mlocked, m.meminfo().unevictable) == (4, 4)
    # Each of the 8 mappings is scanned and finds its frame mlocked.
    assert m.reclaim(100, "file").skipped["mlocked"] == 8


def test_cache_frame_read_for_a_private_write_starts_referenced(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, A, pages(1), "file", path="/lib/x.so", perms="rw-p")
    m.touch(100, A, pages(1), write=True)  # read in (a new frame: referenced), then copied
    m.mmap(100, A + pages(8), pages(1), "file", path="/lib/x.so", perms="r--p")
    m.touch(100, A + pages(8), pages(1))  # the cached frame, seen a second time: activated
    assert (m.meminfo().active_file, m.meminfo().inactive_file) == (1, 0)


def test_a_terabyte_untouched_is_cheap(world: World) -> None:
    m = world()
    m.spawn(100, "app")
    m.mmap(100, 1 << 40, 1 << 40, "anon")
    m.touch(100, (1 << 41) - PAGE_SIZE, PAGE_SIZE, write=True)
    mem = m.memory(100)
    assert mem.vm_size == (1 << 40) // PAGE_SIZE and mem.vm_rss == 1
    assert kib(m.smaps(100), "rss") == 4
    assert m.meminfo().page_tables == 1
    assert m.reclaim(100, "anon").reclaimed["anon"] == 1


# ---------------------------------------------------------------- determinism (engine only)


def script(m: Any) -> None:
    m.spawn(100, "app")
    m.mmap(100, A, pages(64), "anon")
    m.mmap(100, 0x100000, pages(16), "file", path="/lib/x.so", perms="r-xp")
    m.touch(100, A, pages(40), write=True)
    m.touch(100, 0x100000, pages(16))
    m.fork(100, 101)
    m.advance(600)
    m.touch(101, A, pages(8), write=True)
    m.reclaim(100, "all")
    m.madvise(101, A, pages(64), "pageout")


def test_same_operations_same_digest() -> None:
    from fakeproc.engine import Machine

    digests = set()
    for _ in range(2):
        m = Machine(MachineConfig(ram_bytes=64 * MiB))
        script(m)
        digests.add(m.digest())
    assert len(digests) == 1
    other = Machine(MachineConfig(ram_bytes=64 * MiB))
    script(other)
    other.touch(100, A, pages(1))
    assert other.digest() not in digests


def test_seed_does_not_change_the_outcome() -> None:
    from fakeproc.engine import Machine

    views = []
    for seed in (0, 1):
        m = Machine(MachineConfig(ram_bytes=64 * MiB, seed=seed))
        script(m)
        views.append((m.meminfo(), m.vmstat(), [m.smaps(p).total().rss.tolist()
                                                for p in m.pids()]))
    assert views[0] == views[1]


def test_ended_counts_exits_and_oom_kills() -> None:
    """Machine.ended moves exactly when a process ends (the mount's pid cache relies on it)."""
    from fakeproc.engine import Machine

    m = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=0))
    m.spawn(1, "a")
    m.fork(1, 2)
    m.mmap(2, 0x4000_0000, 40 * MiB, "anon")
    m.touch(2, 0x4000_0000, 40 * MiB, write=True)
    assert m.ended == 0
    m.exit(1)
    assert m.ended == 1
    m.spawn(3, "hog")
    m.mmap(3, 0x4000_0000, 40 * MiB, "anon")
    m.set_oom_score_adj(2, 1000)
    m.touch(3, 0x4000_0000, 40 * MiB, write=True)  # the OOM killer takes pid 2
    assert m.pids() == [3] and m.ended == 2
