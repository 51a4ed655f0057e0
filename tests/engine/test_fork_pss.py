"""fork, copy on write and Pss: kernel.md §D.4's measured example, then reclaim in the parent."""

from __future__ import annotations

from typing import Any

import pytest

from fakeproc.errors import OutOfMemory

from .conftest import MiB, World, kib, pages, total_kib

ADDR = 0x7F0000000000 - 0x1000000


def forked(world: World, dialect: str) -> Any:
    """§D.4: a 256 kB anon VMA, 32 of its 64 pages written, then fork."""
    m = world(dialect=dialect)
    m.spawn(100, "parent")
    m.mmap(100, ADDR, pages(64), "anon")
    m.touch(100, ADDR, pages(32), write=True)
    s = m.smaps(100)
    # Before fork: 32 private dirty pages = 128 kB, all referenced.
    assert (kib(s, "rss"), kib(s, "pss"), kib(s, "private_dirty"), kib(s, "referenced")) == (
        128, 128, 128, 128)
    m.fork(100, 101)
    return m


@pytest.mark.parametrize("dialect", ["v2", "caf"])
def test_fork_halves_pss(world: World, dialect: str) -> None:
    m = forked(world, dialect)
    for pid in (100, 101):
        s = m.smaps(pid)
        # 32 pages, each mapped twice: Pss 32 x 4 kB / 2 = 64 kB; all Shared_Dirty.
        assert (kib(s, "rss"), kib(s, "pss"), kib(s, "shared_dirty"), kib(s, "private_dirty")) \
            == (128, 64, 128, 0)
    # fork copies PTEs old: the child has referenced nothing yet.
    assert kib(m.smaps(101), "referenced") == 0 and kib(m.smaps(100), "referenced") == 128
    assert m.meminfo().anon_pages == 32  # still 32 frames


@pytest.mark.parametrize("dialect", ["v2", "caf"])
def test_parent_rewrite_copies(world: World, dialect: str) -> None:
    m = forked(world, dialect)
    free = m.meminfo().free
    m.touch(100, ADDR, pages(8), write=True)  # copy on write of 8 pages
    for pid in (100, 101):
        s = m.smaps(pid)
        # 8 private pages (32 kB) + 24 shared (96 kB, Pss 48 kB): Pss 32 + 48 = 80.
        assert (kib(s, "private_dirty"), kib(s, "shared_dirty"), kib(s, "pss")) == (32, 96, 80)
    assert m.meminfo().free == free - 8


@pytest.mark.parametrize("dialect", ["v2", "caf"])
def test_reclaim_in_parent_after_cow(world: World, dialect: str) -> None:
    m = forked(world, dialect)
    m.touch(100, ADDR, pages(8), write=True)
    result = m.reclaim(100, "anon")
    parent, child = m.smaps(100), m.smaps(101)
    if dialect == "v2":
        # Every page leaves the parent: 8 private + 24 shared ones, 32 swap entries;
        # each slot is the parent's alone, so SwapPss is whole.
        assert result.reclaimed["anon"] == 32
        assert (kib(parent, "rss"), kib(parent, "swap"), kib(parent, "swap_pss")) == (0, 128, 128)
        # The child now maps its 32 frames alone (24 of them in the swap cache).
        assert (kib(child, "rss"), kib(child, "pss")) == (128, 128)
        assert m.meminfo().swap_cached == 24
        assert m.vmstat()["pswpout"] == 32
    else:
        # caf: only the 8 private pages go; the 24 shared stay in both.
        assert result.reclaimed["anon"] == 8 and result.skipped["shared"] == 24
        assert (kib(parent, "rss"), kib(parent, "pss"), kib(parent, "swap")) == (96, 48, 32)
        assert (kib(child, "rss"), kib(child, "pss")) == (128, 80)
        assert m.vmstat()["pswpout"] == 8


def test_swap_cache_page_left_by_a_copy_serves_the_other_entry(world: World) -> None:
    """The frame a copy on write left in the swap cache is the parent's next fault:
    minor, no swap-in. It goes once no entry holds its slot (the parent's exit)."""
    m = forked(world, "v2")
    m.reclaim(100, "anon")
    m.touch(101, ADDR, pages(4), write=True)  # the child copies 4 pages
    done = m.touch(100, ADDR, pages(4))
    assert (done.major, done.minor) == (0, 4)  # swap-cache hits
    assert m.vmstat()["pswpin"] == 0
    m.exit(101)
    assert m.meminfo().swap_cached == 32  # the parent's entries and mappings hold them
    total = m.meminfo().total
    m.exit(100)
    info = m.meminfo()
    assert (info.swap_cached, m.swap_used_pages()) == (0, 0)
    assert info.free == total - info.page_tables


def test_child_write_after_v2_reclaim(world: World) -> None:
    """After v2 unmapped the shared pages from the parent, the child maps each frame
    alone, but the parent's swap entries still need the slots' contents: a child's
    write copies the page (as do_wp_page), and the old frame, mapped by no one, stays
    in the swap cache while the parent's entry holds its slot (free_swap_cache)."""
    m = forked(world, "v2")
    m.reclaim(100, "anon")
    free = m.meminfo().free
    before = m.pagemap(101, ADDR // 4096, 4, privileged=True).tolist()
    m.touch(101, ADDR, pages(4), write=True)
    after = m.pagemap(101, ADDR // 4096, 4, privileged=True).tolist()
    assert m.meminfo().free == free - 4  # 4 copies made, the old frames kept
    assert m.meminfo().swap_cached == 32  # the 4 written pages' old frames too
    assert m.memory(100).vm_swap == 32 and m.swap_used_pages() == 32
    assert kib(m.smaps(101), "private_dirty") >= 16
    assert all(a != b for a, b in zip(after, before, strict=True))  # new frames


def test_an_oom_kill_that_ends_an_operation_drops_the_figures_read_before(world: World) -> None:
    """A child's mlock breaks copy on write in a full machine without swap: the OOM
    killer takes the child and the mlock fails (ENOMEM). The parent's figures, read
    while shared, must show its pages its own again, not what was read before."""
    m = world(ram_bytes=MiB, swap_bytes=0)
    m.spawn(100, "parent")
    m.mmap(100, ADDR, pages(209), "anon")
    m.touch(100, ADDR, pages(209), write=True)
    m.fork(100, 101)
    assert (total_kib(m.smaps(100), "pss"), m.memory(100).vm_rss) == (209 * 4 // 2, 209)
    with pytest.raises(OutOfMemory):
        m.mlock(101, ADDR, pages(16))
    assert m.pids() == [100]
    assert total_kib(m.smaps(100), "pss") == total_kib(m.smaps(100), "rss") == 209 * 4
