"""smaps through each of its paths, engine against reference.

The engine groups a process's pages into runs per VMA by searching the
pages among the VMAs (fewer pages than VMAs) or the VMAs among the pages
(more pages), skips the per-page Pss division when no page is shared, and
lets fields that come out equal share one read-only array. Each world
here takes one of those paths, so a slip in one shows as a figure that
differs from the reference's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fakeproc.engine import Machine
from fakeproc.engine.machine import _Runs
from fakeproc.engine.types import PAGE_SIZE, MachineConfig, SmapsCounts

from .reference import RefMachine

MiB = 1 << 20
BASE = 0x10000000
CONFIG = MachineConfig(ram_bytes=64 * MiB, swap_bytes=4 * MiB)


def many_small_vmas(m: Any) -> None:
    """More VMAs than pages: every other VMA has one dirty page, the rest none."""
    m.spawn(100, "small")
    for i in range(200):
        m.mmap(100, BASE + 2 * i * PAGE_SIZE, 2 * PAGE_SIZE, "anon",
               perms="rw-p" if i % 2 == 0 else "r--p")
        if i % 2 == 0:
            m.touch(100, BASE + 2 * i * PAGE_SIZE, PAGE_SIZE, write=True)


def few_big_vmas(m: Any) -> None:
    """More pages than VMAs, runs of many pages, a VMA with none, and a locked one."""
    m.spawn(100, "big")
    m.mmap(100, BASE, 64 * PAGE_SIZE, "anon")
    m.touch(100, BASE, 40 * PAGE_SIZE, write=True)
    m.mmap(100, BASE + 80 * PAGE_SIZE, 16 * PAGE_SIZE, "anon", perms="r--p")
    m.touch(100, BASE + 80 * PAGE_SIZE, 16 * PAGE_SIZE)  # the zero page: counts in nothing
    m.mmap(100, BASE + 128 * PAGE_SIZE, 32 * PAGE_SIZE, "anon")
    m.touch(100, BASE + 128 * PAGE_SIZE, 32 * PAGE_SIZE, write=True)
    m.mlock(100, BASE + 128 * PAGE_SIZE, 32 * PAGE_SIZE)


def shared_after_fork(m: Any) -> None:
    """Pages mapped twice (Pss by division) next to private ones, and swap shared too."""
    m.spawn(100, "parent")
    m.mmap(100, BASE, 32 * PAGE_SIZE, "anon")
    m.touch(100, BASE, 32 * PAGE_SIZE, write=True)
    m.fork(100, 101)
    m.touch(101, BASE, 8 * PAGE_SIZE, write=True)  # copies: private in both
    m.reclaim_range(100, BASE + 24 * PAGE_SIZE, BASE + 32 * PAGE_SIZE)
    m.mmap(100, BASE + 64 * PAGE_SIZE, 4 * PAGE_SIZE, "file", path="/lib/b.so", perms="r--p")
    m.touch(100, BASE + 64 * PAGE_SIZE, 4 * PAGE_SIZE)


@pytest.mark.parametrize("build", [many_small_vmas, few_big_vmas, shared_after_fork])
def test_smaps_match_the_reference(build: Any) -> None:
    engine, ref = Machine(CONFIG), RefMachine(CONFIG)
    build(engine)
    build(ref)
    for pid in engine.pids():
        got, want = engine.smaps(pid), ref.smaps(pid)
        for name in SmapsCounts.FIELDS:
            assert getattr(got, name).tolist() == getattr(want, name).tolist(), (pid, name)


def test_smaps_arrays_are_read_only_and_equal_fields_shared() -> None:
    m = Machine(CONFIG)
    many_small_vmas(m)
    s = m.smaps(100)
    assert s.rss is s.private_dirty is s.anonymous  # one private dirty anon page a VMA
    assert s.swap is s.shared_clean  # both all zero
    for name in SmapsCounts.FIELDS:
        values = getattr(s, name)
        assert values.dtype == np.int64 and not values.flags.writeable, name
    with pytest.raises(ValueError, match="read-only"):
        s.rss[0] = 1


@pytest.mark.parametrize("pages", [
    [0, 1, 5],  # fewer pages than VMAs, a run of two
    [0, 2, 4, 10, 20],  # a page in every VMA
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 30],  # more pages than VMAs, the first VMA empty
])
def test_runs_sum_per_vma_on_both_sides_of_the_search(pages: list[int]) -> None:
    starts = np.array([0, 2, 4, 10, 20], dtype=np.int64)  # VMA 4 spans [20, 40)
    runs = _Runs.of(starts, np.array(pages, dtype=np.int64))
    vma_of = np.searchsorted(starts, pages, side="right") - 1
    want = np.bincount(vma_of, minlength=len(starts))
    assert runs.per_vma(None, 3).tolist() == (3 * want).tolist()
    weights = np.arange(1, len(pages) + 1)
    want_weighted = np.bincount(vma_of, weights=weights, minlength=len(starts))
    assert runs.per_vma(weights, 2).tolist() == (2 * want_weighted).astype(int).tolist()
