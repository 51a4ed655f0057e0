"""SparseTable.window and frames.as_run: the bulk accessors reclaim works through."""

from __future__ import annotations

import numpy as np
import pytest

from fakeproc.engine.frames import as_run
from fakeproc.engine.tables import LEAF_SIZE, LeafPool, SparseTable


def table_with(pages: list[int], pool: LeafPool | None = None) -> SparseTable:
    t = SparseTable(pool or LeafPool())
    values = np.arange(1, len(pages) + 1, dtype=np.int64) * 2
    t.scatter(np.asarray(pages, dtype=np.int64), values)
    return t


@pytest.mark.parametrize("first,count", [
    (0, 3 * LEAF_SIZE),              # whole leaves
    (100, 2 * LEAF_SIZE),            # starts and ends inside a leaf
    (LEAF_SIZE - 1, 2),              # two entries across a leaf boundary
])
def test_window_reads_and_stores_like_get_and_set(first: int, count: int) -> None:
    pages = list(range(0, 3 * LEAF_SIZE, 5))
    t = table_with(pages)
    w = t.window(first, count)
    assert w is not None
    assert (w.entries == t.get(first, count)).all()
    w.entries[:] = -7
    w.store()
    assert (t.get(first, count) == -7).all()
    # Outside the window nothing moved.
    before = table_with(pages)
    outside = [p for p in pages if not first <= p < first + count]
    assert (t.gather(np.asarray(outside)) == before.gather(np.asarray(outside))).all()


# Rows in one run (the window is a view) or scattered (the window is a copy).
@pytest.mark.parametrize("interleave", [False, True])
def test_window_in_place_or_copied_gives_the_same_table(interleave: bool) -> None:
    pool = LeafPool()
    t, other = SparseTable(pool), SparseTable(pool)
    for leaf in range(4):
        pages = leaf * LEAF_SIZE + np.arange(LEAF_SIZE, dtype=np.int64)
        t.scatter(pages, np.full(LEAF_SIZE, 2 + leaf, dtype=np.int64))
        if interleave:
            other.scatter(pages, np.full(LEAF_SIZE, 99, dtype=np.int64))
    w = t.window(0, 4 * LEAF_SIZE)
    assert w is not None
    w.entries[::2] = 0
    w.store()
    got = t.get(0, 4 * LEAF_SIZE)
    assert (got[::2] == 0).all()
    assert (got[1::2] == np.repeat(np.arange(2, 6), LEAF_SIZE // 2)).all()
    if interleave:
        assert (other.get(0, 4 * LEAF_SIZE) == 99).all()


def test_window_with_a_missing_leaf_does_not_create_it() -> None:
    t = table_with([0, 2 * LEAF_SIZE, 3 * LEAF_SIZE])  # leaf 1 missing, 3 of 4 present
    w = t.window(0, 4 * LEAF_SIZE)
    assert w is not None
    assert (w.entries[LEAF_SIZE : 2 * LEAF_SIZE] == 0).all()
    w.entries[0] = 5
    w.store()
    assert sorted(t.leaves) == [0, 2, 3]
    assert t.get(0, 1)[0] == 5


def test_window_refuses_mostly_missing_ranges() -> None:
    t = table_with([0])
    assert t.window(0, 4 * LEAF_SIZE) is None  # 1 leaf of 4
    assert t.window(0, 1 << 40) is None        # a terabyte of pages: no leaf walk
    assert t.window(0, 0) is None


@pytest.mark.parametrize("numbers,run", [
    (list(range(100, 200)), slice(100, 200)),
    (list(range(199, 99, -1)), slice(100, 200)),           # descending: the same set
    (list(range(100, 150)) + list(range(151, 201)), None),  # a gap
    (list(range(10)), None),                                # too short to bother
])
def test_as_run(numbers: list[int], run: slice | None) -> None:
    arr = np.asarray(numbers, dtype=np.int64)
    got = as_run(arr)
    if run is None:
        assert got is arr
    else:
        assert got == run
