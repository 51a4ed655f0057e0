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
from fakeproc.engine.tables import LEAF_SIZE, LeafPool, SparseTable, unique
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
