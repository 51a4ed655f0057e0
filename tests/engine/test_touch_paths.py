"""The touch path's shortcuts against the general path they stand for.

Each shortcut (sorted input skipping the sort, reads of present pages
skipping the fault passes, untouched anon ranges faulted in chunks, page
tables located once) must leave the machine exactly as the general path
would: same digest (frame numbering included), same counters, same result.
"""

from __future__ import annotations

import numpy as np
import pytest

from fakeproc.engine import Machine
from fakeproc.engine import frames as fr
from fakeproc.engine.machine import FAULT_CHUNK_PAGES
from fakeproc.engine.tables import DIR_SIZE, LEAF_SIZE, LeafPool, SparseTable, unique
from fakeproc.engine.types import PAGE_SIZE, MachineConfig
from fakeproc.errors import BadAddress

A = 0x4000_0000  # first mapping, leaf aligned
FIRST = A // PAGE_SIZE
PID = 10


def machine(ram_mib: int = 64) -> Machine:
    m = Machine(MachineConfig(ram_bytes=ram_mib << 20, swap_bytes=16 << 20))
    m.spawn(PID, "t")
    return m


def state(m: Machine) -> tuple[str, dict[str, int]]:
    m.check_invariants()
    return m.digest(), dict(m.counters)


# ---------------------------------------------------------------- SparseTable


def test_table_gather_scatter_sorted_unsorted_across_leaves() -> None:
    rng = np.random.default_rng(3)
    table = SparseTable(LeafPool())
    expected: dict[int, int] = {}
    # Pages over leaves 0, 1, 2 and 4 (3 is a gap), in both orders.
    pages = np.concatenate([np.arange(0, 40), np.arange(2 * LEAF_SIZE - 5, 2 * LEAF_SIZE + 5),
                            np.arange(4 * LEAF_SIZE, 4 * LEAF_SIZE + 3)]).astype(np.int64)
    for order in (pages, rng.permutation(pages)):
        values = rng.integers(-50, 50, len(order))
        table.scatter(order, values)
        expected.update(zip(order.tolist(), values.tolist(), strict=True))
        probe = np.concatenate([order, np.array([LEAF_SIZE + 1, 3 * LEAF_SIZE, 9 * LEAF_SIZE])])
        for query in (probe, np.sort(probe), probe[::-1]):
            got = table.gather(query)
            assert got.tolist() == [expected.get(p, 0) for p in query.tolist()]
    assert sorted(table.leaves) == [0, 1, 2, 4]
    assert table.empty(LEAF_SIZE * 5, LEAF_SIZE * 100)
    assert table.empty(0, 1) == (expected[0] == 0)
    assert table.empty(3 * LEAF_SIZE, LEAF_SIZE)


def test_locate_is_negative_where_no_leaf() -> None:
    table = SparseTable(LeafPool())
    table.scatter(np.array([5], dtype=np.int64), np.array([7], dtype=np.int64))
    at = table.locate(np.array([5, 6, LEAF_SIZE + 5], dtype=np.int64))
    assert (at[:2] >= 0).all() and at[2] < 0
    assert table.gather_at(at).tolist() == [7, 0, 0]


DIR_PAGES = DIR_SIZE * LEAF_SIZE  # pages a leaf directory covers


def expected_positions(table: SparseTable, pages: np.ndarray) -> list[int | None]:
    """Each page's position in the pool by the leaf dict, None where it has no leaf."""
    return [table.leaves[p // LEAF_SIZE] * LEAF_SIZE + p % LEAF_SIZE
            if p // LEAF_SIZE in table.leaves else None for p in pages.tolist()]


def check_locate(table: SparseTable, pages: np.ndarray) -> None:
    for query in (np.sort(pages), pages):
        at = table.locate(query)
        assert [int(a) if a >= 0 else None for a in at] == expected_positions(table, query)


def test_locate_sorted_within_across_and_scattered_over_directories() -> None:
    rng = np.random.default_rng(11)
    table = SparseTable(LeafPool())
    # Leaves in directories 0, 1 and 3 (2 is missing), and one far away.
    for first in (5, DIR_PAGES - 3, 3 * DIR_PAGES + 7, 1000 * DIR_PAGES):
        table.scatter(np.arange(first, first + 2 * LEAF_SIZE, 5, dtype=np.int64),
                      np.arange(1, 2 * LEAF_SIZE // 5 + 2, dtype=np.int64)[:2 * LEAF_SIZE // 5 + 1])
    within = rng.integers(0, DIR_PAGES, 3000)
    across = rng.integers(0, 4 * DIR_PAGES, 3000)  # directories 0-3, 2 missing
    scattered = rng.integers(0, 2000 * DIR_PAGES, 50)  # more directories than pages
    missing_dir = rng.integers(2 * DIR_PAGES, 3 * DIR_PAGES, 100)
    for pages in (within, across, scattered, missing_dir, np.zeros(0, dtype=np.int64)):
        check_locate(table, pages.astype(np.int64))
    # The directories follow leaves given back, all of them, and copies.
    table.clear(0, 4 * DIR_PAGES)
    table.release_empty(DIR_PAGES - LEAF_SIZE, 2 * LEAF_SIZE)  # directory 0's last leaf
    assert (DIR_PAGES - 3) // LEAF_SIZE not in table.leaves
    check_locate(table, across.astype(np.int64))
    table.release_empty(0, 4 * DIR_PAGES)
    assert sorted(table.leaves) == [1000 * DIR_SIZE, 1000 * DIR_SIZE + 1]
    check_locate(table, across.astype(np.int64))
    copy = SparseTable(table.pool)
    table.copy_into(copy)
    far = np.arange(1000 * DIR_PAGES - 3, 1000 * DIR_PAGES + 3 * LEAF_SIZE, dtype=np.int64)
    check_locate(copy, far)
    assert copy.gather_at(copy.locate(far)).tolist() == table.gather(far).tolist()
    table.release_all()
    check_locate(table, far)
    assert not table.gather(far).any()


def test_locate_sorted_shifts_leaves_in_consecutive_rows_at_once() -> None:
    """Leaves in consecutive pool rows (a range touched in order) share one shift;
    runs with a row out of order, a missing leaf or no leaf at all must come out
    as the leaf-by-leaf look-up has them."""
    rng = np.random.default_rng(5)
    pool = LeafPool()
    table, other = SparseTable(pool), SparseTable(pool)
    one = np.ones(1, dtype=np.int64)
    for leaf in range(4):  # leaves 0-3 in rows 0-3
        table.scatter(np.array([leaf * LEAF_SIZE + 1]), one)
    other.scatter(np.array([7]), one)  # row 4
    table.scatter(np.array([4 * LEAF_SIZE + 1]), one)  # leaf 4 in row 5
    table.scatter(np.array([6 * LEAF_SIZE + 1]), one)  # leaf 5 missing, leaf 6 in row 6
    for first_leaf, end_leaf in ((0, 4), (1, 2), (0, 5), (5, 6), (4, 7), (3, 5), (9, 12)):
        pages = rng.integers(first_leaf * LEAF_SIZE, end_leaf * LEAF_SIZE, 300)
        check_locate(table, pages.astype(np.int64))
    at = table.locate_sorted(np.arange(0, 4 * LEAF_SIZE, 3, dtype=np.int64))
    assert (np.diff(at) == 3).all()  # one shift: positions as evenly spaced as the pages


def test_unique_of_narrow_and_wide_spans() -> None:
    rng = np.random.default_rng(5)
    narrow = rng.integers(-(1 << 30), 1 << 30, 2000)
    wide = np.concatenate([narrow, [1 << 40, -(1 << 40), 1 << 40]])
    edge = np.array([(1 << 31) - 1, 0, (1 << 31) - 1, 5], dtype=np.int64)  # span 2^31 - 1
    for values in (narrow, wide, edge, rng.integers(0, 3, 100)):
        values = values.astype(np.int64)
        got = unique(values)
        assert got.dtype == np.int64
        assert got.tolist() == np.unique(values).tolist()
    assert unique(np.array([7, -3, 7], dtype=np.int32)).dtype == np.int32  # the dtype it came in


def test_unique_of_sorted_and_unsorted() -> None:
    assert unique(np.array([1, 1, 2, 5, 5], dtype=np.int64)).tolist() == [1, 2, 5]
    assert unique(np.array([5, 1, 2, 1, 5], dtype=np.int64)).tolist() == [1, 2, 5]
    ordered = np.arange(4, dtype=np.int64)
    out = unique(ordered)
    out[0] = 9  # a copy, never the caller's array
    assert ordered[0] == 0


# ---------------------------------------------------------------- touch_pages


def test_unsorted_repeated_pages_touch_as_sorted_distinct() -> None:
    rng = np.random.default_rng(7)
    n = 3 * LEAF_SIZE + 17  # across leaves
    sorted_m, shuffled_m = machine(), machine()
    batches = [rng.integers(FIRST, FIRST + n, 500) for _ in range(4)]
    for m in (sorted_m, shuffled_m):
        m.mmap(PID, A, n * PAGE_SIZE, "anon")
    for i, batch in enumerate(batches):
        write = i == 1
        a = sorted_m.touch_pages(PID, np.unique(batch), write=write)
        b = shuffled_m.touch_pages(PID, np.concatenate([batch, batch[::-1]]), write=write)
        assert a == b
        sorted_m.advance(1)
        shuffled_m.advance(1)
        assert state(sorted_m) == state(shuffled_m)


def test_read_of_present_pages_activates_each_frame_once() -> None:
    m = machine()
    m.mmap(PID, A, 4 * PAGE_SIZE, "anon")
    m.touch(PID, A, 4 * PAGE_SIZE, write=True)  # new frames: referenced, inactive
    before = m.counters["pgactivate"]
    pages = np.array([FIRST + 2, FIRST, FIRST + 2, FIRST, FIRST + 2], dtype=np.int64)
    assert m.touch_pages(PID, pages) == m.touch_pages(PID, np.array([FIRST + 3], dtype=np.int64))
    # Pages 0 and 2 (repeats count once) and then 3: three activations.
    assert m.counters["pgactivate"] - before == 3
    active = (m.frames.flags[: m.frames.capacity] & fr.ACTIVE) != 0
    assert int(active.sum()) == 3


def young_pages(m: Machine, pages: np.ndarray) -> list[bool]:
    ptes = m._task(PID).pt.gather(pages)
    return [bool(p >= 2 and p & 1) for p in ptes.tolist()]


def test_read_hits_make_old_ptes_young_and_stamp_once() -> None:
    m = machine()
    n = 2 * LEAF_SIZE
    m.mmap(PID, A, n * PAGE_SIZE, "anon")
    m.touch(PID, A, n * PAGE_SIZE, write=True)
    m.clear_refs(PID, 1)  # PTEs old, frames unreferenced
    all_pages = np.arange(FIRST, FIRST + n, dtype=np.int64)
    assert not any(young_pages(m, all_pages))
    hit = np.arange(FIRST + 3, FIRST + n, 7, dtype=np.int64)
    m.advance(5)
    before = m.counters["pgactivate"]
    assert m.touch_pages(PID, hit[::-1].copy()).minor == 0
    assert young_pages(m, all_pages) == np.isin(all_pages, hit).tolist()
    frames = m._task(PID).pt.gather(hit) // 2 - 1
    assert (m.frames.flags[frames] & (fr.REFERENCED | fr.ACTIVE) == fr.REFERENCED).all()
    assert (m.frames.last_access[frames] == m.tick).all()
    assert m.counters["pgactivate"] == before  # a first reference after clear_refs
    # Young already: nothing to write back, but the second reference activates.
    m.advance(1)
    m.touch_pages(PID, hit)
    assert m.counters["pgactivate"] - before == len(hit)
    assert (m.frames.flags[frames] & fr.ACTIVE).all()
    assert (m.frames.last_access[frames] == m.tick).all()
    # Active and referenced already: no flag changes, no activations, a new stamp.
    flags = m.frames.flags.copy()
    m.advance(1)
    m.touch_pages(PID, hit)
    assert m.counters["pgactivate"] - before == len(hit)
    assert (m.frames.flags == flags).all() and (m.frames.last_access[frames] == m.tick).all()
    m.check_invariants()


def test_read_hits_leave_mlocked_and_hugetlb_frames_inactive() -> None:
    m = machine()
    m.mmap(PID, A, 8 * PAGE_SIZE, "anon")
    m.mlock(PID, A, 8 * PAGE_SIZE)  # faulted in, unevictable
    huge = A + (4 << 20)
    m.mmap(PID, huge, 2 << 20, "hugetlb")
    m.touch(PID, huge, 4 * PAGE_SIZE, write=True)
    before = m.counters["pgactivate"]
    pages = np.concatenate([np.arange(FIRST, FIRST + 8), huge // PAGE_SIZE + np.arange(4)])
    for _ in range(2):
        m.touch_pages(PID, pages.astype(np.int64))
    frames = m._task(PID).pt.gather(pages.astype(np.int64)) // 2 - 1
    assert m.counters["pgactivate"] == before
    assert not (m.frames.flags[frames] & fr.ACTIVE).any()
    assert (m.frames.flags[frames[:8]] & fr.MLOCKED).all()
    assert (m.frames.flags[frames] & fr.REFERENCED).all()
    m.check_invariants()


def test_read_hits_of_a_file_mapped_twice_activate_its_frames_once() -> None:
    m = machine()
    m.mmap(PID, A, 4 * PAGE_SIZE, "file", path="/f", perms="r--s")
    m.mmap(PID, A + 8 * PAGE_SIZE, 4 * PAGE_SIZE, "file", path="/f", perms="r--s")
    both = np.concatenate([np.arange(FIRST, FIRST + 4), np.arange(FIRST + 8, FIRST + 12)])
    m.touch_pages(PID, both.astype(np.int64))  # read in: 4 frames, each mapped twice
    before = m.counters["pgactivate"]
    m.touch_pages(PID, both.astype(np.int64))
    assert m.counters["pgactivate"] - before == 4
    m.check_invariants()


def test_touches_across_leaf_directories_as_one_page_at_a_time() -> None:
    rng = np.random.default_rng(9)
    far = A + 3 * DIR_PAGES * PAGE_SIZE  # two directories further on
    batch, single = machine(), machine()
    for m in (batch, single):
        m.mmap(PID, A, 3 * LEAF_SIZE * PAGE_SIZE, "anon")
        m.mmap(PID, far, 3 * LEAF_SIZE * PAGE_SIZE, "anon")
    firsts = (FIRST, far // PAGE_SIZE)
    zero_pages: set[int] = set()
    for round_ in range(6):
        pages = np.concatenate([rng.integers(f, f + 3 * LEAF_SIZE, 200) for f in firsts])
        write = round_ % 2 == 0
        if write:
            # A batch copies zero pages after it fills empty ones (frames are
            # numbered in passes): leave those out, so page order is the order.
            pages = pages[~np.isin(pages, list(zero_pages))]
        distinct = np.unique(pages).tolist()
        batch.touch_pages(PID, rng.permutation(pages), write=write)
        for page in distinct:
            single.touch(PID, page * PAGE_SIZE, PAGE_SIZE, write=write)
        if not write:
            zero_pages.update(p for p, young in zip(distinct, young_pages(batch, np.array(
                distinct, dtype=np.int64)), strict=True) if not young)
        assert batch.digest() == single.digest()
        batch.check_invariants()


def test_read_mixing_present_zero_and_missing_pages() -> None:
    general, fast = machine(), machine()
    for m in (general, fast):
        m.mmap(PID, A, 2 * LEAF_SIZE * PAGE_SIZE, "anon")
        m.touch(PID, A, 8 * PAGE_SIZE)  # zero pages
        m.touch(PID, A + LEAF_SIZE * PAGE_SIZE, 8 * PAGE_SIZE, write=True)
    both = np.arange(FIRST, FIRST + 2 * LEAF_SIZE, 3, dtype=np.int64)
    for m in (general, fast):
        m.touch_pages(PID, both)
    # The same accesses one page at a time take the general path each time.
    ref = machine()
    ref.mmap(PID, A, 2 * LEAF_SIZE * PAGE_SIZE, "anon")
    ref.touch(PID, A, 8 * PAGE_SIZE)
    ref.touch(PID, A + LEAF_SIZE * PAGE_SIZE, 8 * PAGE_SIZE, write=True)
    ref.touch_pages(PID, both[::-1].copy())
    assert state(general) == state(fast) == state(ref)


def test_touch_pages_outside_mappings_fails_before_any_change() -> None:
    m = machine()
    m.mmap(PID, A, 4 * PAGE_SIZE, "anon")
    m.mmap(PID, A + 8 * PAGE_SIZE, 4 * PAGE_SIZE, "anon")
    before = state(m)
    with pytest.raises(BadAddress, match=hex(A + 5 * PAGE_SIZE)):
        m.touch_pages(PID, np.array([FIRST + 9, FIRST + 5, FIRST], dtype=np.int64), write=True)
    assert state(m) == before


# ---------------------------------------------------------------- chunked fault-in


@pytest.mark.parametrize("write", [True, False])
def test_large_untouched_range_in_chunks_as_in_one_pass(write: bool) -> None:
    count = 2 * FAULT_CHUNK_PAGES + 3
    chunked, whole = machine(2 * count * PAGE_SIZE >> 20), machine(2 * count * PAGE_SIZE >> 20)
    for m in (chunked, whole):
        # Two anon VMAs side by side (different perms: no merge), a freed frame to reuse.
        m.mmap(PID, A, PAGE_SIZE, "anon")
        m.touch(PID, A, PAGE_SIZE, write=True)
        m.munmap(PID, A, PAGE_SIZE)
        m.mmap(PID, A, FAULT_CHUNK_PAGES * PAGE_SIZE, "anon")
        m.mmap(PID, A + FAULT_CHUNK_PAGES * PAGE_SIZE, (count - FAULT_CHUNK_PAGES) * PAGE_SIZE,
               "anon", perms="rwxp")
    a = chunked.touch(PID, A, count * PAGE_SIZE, write=write)
    b = whole.touch_pages(PID, np.arange(FIRST, FIRST + count, dtype=np.int64), write=write)
    assert a == b and a.minor == count
    assert state(chunked) == state(whole)


def test_large_range_partly_touched_takes_the_general_path() -> None:
    count = FAULT_CHUNK_PAGES + 10
    chunked, whole = machine(2 * count * PAGE_SIZE >> 20), machine(2 * count * PAGE_SIZE >> 20)
    for m in (chunked, whole):
        m.mmap(PID, A, count * PAGE_SIZE, "anon")
        m.touch(PID, A + 5 * PAGE_SIZE, PAGE_SIZE)  # one zero page
        m.touch(PID, A + 9 * PAGE_SIZE, PAGE_SIZE, write=True)
    a = chunked.touch(PID, A, count * PAGE_SIZE, write=True)
    b = whole.touch_pages(PID, np.arange(FIRST, FIRST + count, dtype=np.int64), write=True)
    assert a == b
    assert state(chunked) == state(whole)


def test_large_write_to_read_only_range_fails_before_any_change() -> None:
    m = machine()
    m.mmap(PID, A, (FAULT_CHUNK_PAGES + 1) * PAGE_SIZE, "anon", perms="r--p")
    before = state(m)
    with pytest.raises(BadAddress):
        m.touch(PID, A, (FAULT_CHUNK_PAGES + 1) * PAGE_SIZE, write=True)
    assert state(m) == before
