"""Reclaim's fast path for private anon ranges gives the very state of the per-page path.

``Machine._reclaim_private_anon`` takes whole ranges at once when nothing
needs choosing page by page; each world here is run twice, once with it and
once with it refused, and the two machines must agree on every byte of
state (the digest covers frames, slots, page tables and counters) and on
the reclaim result. The worlds cover the shapes the fast path must notice
or refuse: frames in one run or not, partly resident ranges, leaves that
are missing, shared, locked and swap-cached pages, and swap running out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pytest

from fakeproc.engine import Machine
from fakeproc.engine.types import PAGE_SIZE, MachineConfig

MiB = 1 << 20
BASE = 0x4000_0000
N = 1536  # three page-table leaves: runs long enough for as_run to matter

Step = Callable[[Machine], Any]


def touched(m: Machine, pages: int = N) -> None:
    m.spawn(10, "a")
    m.mmap(10, BASE, pages * PAGE_SIZE, "anon")
    m.touch(10, BASE, pages * PAGE_SIZE, write=True)


def recycled(m: Machine) -> None:
    """Frames handed back and reused: the range's frames come in descending order."""
    m.spawn(9, "tmp")
    m.mmap(9, BASE, N * PAGE_SIZE, "anon")
    m.touch(9, BASE, N * PAGE_SIZE, write=True)
    m.exit(9)
    touched(m)


def interleaved(m: Machine) -> None:
    """Two processes faulting in turn: neither range's frames are one run."""
    m.spawn(10, "a")
    m.spawn(11, "b")
    for pid in (10, 11):
        m.mmap(pid, BASE, N * PAGE_SIZE, "anon")
    for i in range(0, N, 7):
        for pid in (10, 11):
            m.touch(pid, BASE + i * PAGE_SIZE, min(7, N - i) * PAGE_SIZE, write=True)


def holes(m: Machine) -> None:
    """Every third page touched, and one whole leaf never touched."""
    m.spawn(10, "a")
    m.mmap(10, BASE, N * PAGE_SIZE, "anon")
    for i in range(0, N, 3):
        if not 512 <= i < 1024:
            m.touch(10, BASE + i * PAGE_SIZE, PAGE_SIZE, write=True)


def forked(m: Machine) -> None:
    touched(m)
    m.fork(10, 12)


def locked_page(m: Machine) -> None:
    touched(m)
    m.mlock(10, BASE + 100 * PAGE_SIZE, PAGE_SIZE)


def swap_cached(m: Machine) -> None:
    """Pages swapped out and read back in: they sit in the swap cache."""
    touched(m)
    m.reclaim_range(10, BASE, BASE + 64 * PAGE_SIZE)
    m.touch(10, BASE, 64 * PAGE_SIZE)


WORLDS: dict[str, Callable[[Machine], None]] = {
    "one run": touched, "recycled frames": recycled, "interleaved": interleaved,
    "holes": holes, "forked": forked, "one page locked": locked_page,
    "swap cached": swap_cached,
}

RECLAIMS: dict[str, Step] = {
    "whole range": lambda m: m.reclaim_range(10, BASE, BASE + N * PAGE_SIZE),
    "part of a leaf": lambda m: m.reclaim_range(10, BASE + 100 * PAGE_SIZE,
                                                BASE + 700 * PAGE_SIZE),
    "anon": lambda m: m.reclaim(10, "anon"),
    "pageout": lambda m: m.madvise(10, BASE + 64 * PAGE_SIZE, 1024 * PAGE_SIZE, "pageout"),
}


def run(world: Callable[[Machine], None], reclaim: Step, swap_pages: int, *,
        fast: bool, dialect: str = "v2") -> tuple[str, Any, Any]:
    m = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=swap_pages * PAGE_SIZE,
                              dialect=dialect))  # type: ignore[arg-type]
    if not fast:
        m._reclaim_private_anon = lambda *args: False  # type: ignore[method-assign]
    world(m)
    try:
        result: Any = reclaim(m)
    except Exception as exc:  # an error must be the same error on both paths
        result = repr(exc)
    smaps = m.smaps(10)
    return m.digest(), result, {f.name: getattr(smaps, f.name).tolist() for f in fields(smaps)}


@pytest.mark.parametrize("world", sorted(WORLDS))
@pytest.mark.parametrize("reclaim", sorted(RECLAIMS))
@pytest.mark.parametrize("swap_pages", [4 * N, N // 2])  # room for all, or running out
def test_fast_path_matches_the_per_page_path(world: str, reclaim: str, swap_pages: int) -> None:
    fast = run(WORLDS[world], RECLAIMS[reclaim], swap_pages, fast=True)
    slow = run(WORLDS[world], RECLAIMS[reclaim], swap_pages, fast=False)
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    assert fast[0] == slow[0]


@pytest.mark.parametrize("dialect", ["v2", "caf"])
def test_fast_path_matches_after_fork_per_dialect(dialect: str) -> None:
    reclaim = RECLAIMS["whole range"]
    assert run(forked, reclaim, 4 * N, fast=True, dialect=dialect) == \
        run(forked, reclaim, 4 * N, fast=False, dialect=dialect)


def test_fast_path_is_taken_for_a_resident_private_range() -> None:
    """Not vacuous: the fast path really runs (and frees everything) in the common world."""
    m = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=4 * N * PAGE_SIZE))
    touched(m)
    taken: list[bool] = []
    original = m._reclaim_private_anon

    def spy(*args: Any) -> bool:
        taken.append(original(*args))
        return taken[-1]
    m._reclaim_private_anon = spy  # type: ignore[method-assign]
    result = m.reclaim_range(10, BASE, BASE + N * PAGE_SIZE)
    assert taken == [True]
    assert result.reclaimed["anon"] == N
    assert m.memory(10).rss_anon == 0
    m.check_invariants()

