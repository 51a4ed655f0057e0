"""Sparse page-indexed tables: page tables and page-cache indices.

A table maps a page number to an int64 entry (0 = nothing). As in the
kernel, entries live in leaves of 512 (one 4 KiB page-table page) that are
allocated only when a non-zero entry is stored, so a 1 TiB mapping that is
never touched costs no leaves at all. Leaves of all tables that share a
:class:`LeafPool` sit in one 2-D array, so an operation over every entry of
the machine (global reclaim unmapping its victims) is a handful of numpy
calls over that array, not a Python loop over processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from .types import Int64Array

LEAF_SHIFT = 9
LEAF_SIZE = 1 << LEAF_SHIFT  # entries per leaf, as a PTE page holds 512
LEAF_MASK = LEAF_SIZE - 1
# Leaves are grouped in directories of 512 (a PMD table's worth: 1 GiB of
# address space), each a dense array, so that locating a batch of sorted
# pages is an array look-up, not a dict look-up per leaf.
DIR_SHIFT = 9
DIR_SIZE = 1 << DIR_SHIFT
DIR_MASK = DIR_SIZE - 1
DIR_PAGE_SHIFT = LEAF_SHIFT + DIR_SHIFT
# A directory's entry for a leaf that does not exist: a negative position
# whatever page is added to it.
_NO_LEAF = -(1 << 62)
# Stands in for a directory that does not exist when directories are stacked.
_MISSING_DIR = np.full(DIR_SIZE, _NO_LEAF, dtype=np.int64)
_MISSING_DIR.flags.writeable = False
_INT32_MAX = int(np.iinfo(np.int32).max)


def ascending(values: Int64Array) -> bool:
    """True when values never decrease (one pass; sorting them again would change nothing).

    A few values spread over the array go first, compared in Python: values
    in no order (a batch of random accesses) almost always show it there,
    at the cost of one small copy instead of a pass.
    """
    if len(values) < 2:
        return True
    probe = values[:: max(1, len(values) // 8)].tolist()
    if any(b < a for a, b in pairwise(probe)):
        return False
    return bool((values[1:] >= values[:-1]).all())


def unique(values: Int64Array) -> Int64Array:
    """Sorted distinct values (np.unique hashes integers in numpy 2.x; sorting is faster here).

    Input already in order (a range, or pages a caller sorted) skips the sort.
    Values that span less than 2^31 (a batch of one process's pages) are
    sorted as int32 offsets from the smallest: half the bytes, half the time.
    """
    if len(values) < 2:
        return values.copy()
    if ascending(values):
        return _distinct(values)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > _INT32_MAX:
        return _distinct(np.sort(values))
    offsets = np.subtract(values, lo, out=np.empty(len(values), dtype=np.int32),
                          casting="unsafe")
    offsets.sort()
    out: Int64Array = np.add(_distinct(offsets), lo, dtype=values.dtype)
    return out


def _distinct(ordered: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The first of each run of equal values of a sorted array (a copy)."""
    keep = np.empty(len(ordered), dtype=np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def unique_inverse(values: Int64Array) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Sorted distinct values, where each first occurs, and each value's index among them."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.empty(len(ordered), dtype=np.bool_)
    if len(ordered):
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = group
    return ordered[starts], order[starts], inverse


class LeafPool:
    """Rows of LEAF_SIZE int32 entries, handed out to tables and recycled.

    Entries are int32 (4 bytes a page, as a 32-bit PTE): every encoding the
    engine stores fits, for up to 4 TiB of RAM and 2^31 swap slots. Callers
    read them out as int64 and compute in int64.
    """

    def __init__(self, initial_rows: int = 16) -> None:
        self.data: npt.NDArray[np.int32] = np.zeros((initial_rows, LEAF_SIZE), dtype=np.int32)
        self._free_rows: list[int] = []
        self._next_row = 0

    @property
    def rows_in_use(self) -> int:
        return self._next_row - len(self._free_rows)

    @property
    def used(self) -> npt.NDArray[np.int32]:
        """Every row ever handed out (free rows are all zero), for machine-wide passes."""
        return self.data[: self._next_row]

    def alloc_row(self) -> int:
        if self._free_rows:
            return self._free_rows.pop()
        if self._next_row == len(self.data):
            # Grow by a quarter: amortised O(1), and at most 25% slack per page.
            grown = np.zeros((max(16, len(self.data) * 5 // 4), LEAF_SIZE), dtype=np.int32)
            grown[: len(self.data)] = self.data
            self.data = grown
        row = self._next_row
        self._next_row += 1
        return row

    def free_row(self, row: int) -> None:
        self.data[row] = 0
        self._free_rows.append(row)


class SparseTable:
    """One sparse page → entry map whose leaves live in a shared pool."""

    def __init__(self, pool: LeafPool) -> None:
        self.pool = pool
        self.leaves: dict[int, int] = {}  # leaf number → pool row
        # The same map, as directory → for each of its leaves, what to add to
        # a page number for its position in the pool ((row - leaf) * LEAF_SIZE;
        # _NO_LEAF where missing), kept in step with ``leaves`` by _add_leaf
        # and _drop_leaf.
        self._dirs: dict[int, Int64Array] = {}

    def _add_leaf(self, leaf: int) -> int:
        """A new pool row for ``leaf`` (which has none), in both maps."""
        row = self.pool.alloc_row()
        self.leaves[leaf] = row
        shifts = self._dirs.get(leaf >> DIR_SHIFT)
        if shifts is None:
            shifts = self._dirs[leaf >> DIR_SHIFT] = np.full(DIR_SIZE, _NO_LEAF, dtype=np.int64)
        shifts[leaf & DIR_MASK] = (row - leaf) << LEAF_SHIFT
        return row

    def _drop_leaf(self, leaf: int) -> None:
        """Give ``leaf``'s row back to the pool; a directory goes with its last leaf."""
        self.pool.free_row(self.leaves.pop(leaf))
        shifts = self._dirs[leaf >> DIR_SHIFT]
        shifts[leaf & DIR_MASK] = _NO_LEAF
        if bool((shifts == _NO_LEAF).all()):
            del self._dirs[leaf >> DIR_SHIFT]

    def _leaves_in(self, first: int, count: int) -> Iterator[tuple[int, int, int, int]]:
        """(leaf, lo, hi, out_pos) for each existing leaf that [first, first+count) crosses.

        Skips empty stretches in O(leaves).
        """
        if count <= 0:
            return
        end = first + count
        first_leaf, last_leaf = first >> LEAF_SHIFT, (end - 1) >> LEAF_SHIFT
        if last_leaf - first_leaf + 1 > 2 * len(self.leaves):
            # A huge range over a sparse table (a 1 TiB mapping): visit the
            # leaves we have instead of every leaf number in the range.
            leaves = sorted(k for k in self.leaves if first_leaf <= k <= last_leaf)
        else:
            leaves = [k for k in range(first_leaf, last_leaf + 1) if k in self.leaves]
        for leaf in leaves:
            base = leaf << LEAF_SHIFT
            lo = max(first, base) - base
            hi = min(end, base + LEAF_SIZE) - base
            yield leaf, lo, hi, base + lo - first

    def get(self, first: int, count: int) -> Int64Array:
        """A copy of the entries of pages [first, first+count)."""
        out = np.zeros(count, dtype=np.int64)
        data = self.pool.data
        for leaf, lo, hi, pos in self._leaves_in(first, count):
            out[pos : pos + hi - lo] = data[self.leaves[leaf], lo:hi]
        return out

    def empty(self, first: int, count: int) -> bool:
        """Whether every entry of [first, first+count) is 0 (visits only leaves that exist)."""
        data = self.pool.data
        return not any(data[self.leaves[leaf], lo:hi].any()
                       for leaf, lo, hi, _pos in self._leaves_in(first, count))

    def nonzero(self, first: int, count: int) -> tuple[Int64Array, Int64Array]:
        """(pages, entries) of the non-zero entries of [first, first+count), sorted.

        Costs what the range holds, not how long it is: reclaiming a 1 TiB
        reservation that was never touched visits no leaf at all.
        """
        pages: list[Int64Array] = []
        entries: list[Int64Array] = []
        data = self.pool.data
        for leaf, lo, hi, _pos in self._leaves_in(first, count):
            chunk = data[self.leaves[leaf], lo:hi]
            cols = np.flatnonzero(chunk)
            if len(cols):
                pages.append((leaf << LEAF_SHIFT) + lo + cols)
                entries.append(chunk[cols].astype(np.int64))
        if not pages:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(pages), np.concatenate(entries)

    def clear(self, first: int, count: int) -> None:
        """Zero the entries of [first, first+count) (only leaves that exist are touched)."""
        data = self.pool.data
        for leaf, lo, hi, _pos in self._leaves_in(first, count):
            data[self.leaves[leaf], lo:hi] = 0

    def gather(self, pages: Int64Array) -> Int64Array:
        """Entries of arbitrary pages (any order)."""
        if len(pages) == 0 or not self.leaves:
            return np.zeros(len(pages), dtype=np.int64)
        return self.gather_at(self.locate(pages))

    def scatter(self, pages: Int64Array, values: Int64Array) -> None:
        """Store entries of arbitrary distinct pages, allocating leaves for non-zero values."""
        if len(pages) == 0:
            return
        at = self.locate(pages)
        if bool((at >= 0).all()):
            self.scatter_at(at, values)
            return
        grow = (at < 0) & (values != 0)
        if grow.any():
            for leaf in unique(pages[grow] >> LEAF_SHIFT).tolist():
                self._add_leaf(leaf)
            at[grow] = self.locate(pages[grow])
        have = at >= 0  # zeros into a missing leaf are already zeros
        self.scatter_at(at[have], values[have])

    def locate(self, pages: Int64Array) -> Int64Array:
        """Where the pages' entries sit in the pool: flat positions into ``pool.data``
        (row * LEAF_SIZE + column), negative for a page whose leaf does not exist.

        Positions stay valid while no leaf of this table is released (the pool
        may grow: rows keep their numbers), so a caller that reads and then
        writes the same pages locates them once.
        """
        if ascending(pages):
            return self.locate_sorted(pages)
        return self._locate_by_leaf(pages)

    def _locate_by_leaf(self, pages: Int64Array) -> Int64Array:
        """:meth:`locate` with one dict look-up per distinct leaf."""
        at: Int64Array = self._rows_of(pages >> LEAF_SHIFT) << LEAF_SHIFT
        at |= pages & LEAF_MASK  # a missing leaf's row -1 keeps the position negative
        return at

    def locate_sorted(self, pages: Int64Array) -> Int64Array:
        """:meth:`locate` for ascending pages: one array look-up per page in the
        directories they cross (a batch within 1 GiB crosses one)."""
        n = len(pages)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        first, last = int(pages[0]), int(pages[-1])
        first_dir, last_dir = first >> DIR_PAGE_SHIFT, last >> DIR_PAGE_SHIFT
        if first_dir == last_dir:
            shifts = self._dirs.get(first_dir, _MISSING_DIR)
            crossed = shifts[(first >> LEAF_SHIFT) & DIR_MASK:((last >> LEAF_SHIFT) & DIR_MASK) + 1]
            if crossed.min() == crossed.max():
                # The leaves crossed sit in consecutive pool rows (a range touched in
                # order), or are all missing: one shift for every page.
                shifted: Int64Array = pages + crossed[0]
                return shifted
            slots = pages >> LEAF_SHIFT
            slots &= DIR_MASK  # each page's leaf within its directory
        else:
            dirs = pages >> DIR_PAGE_SHIFT
            starts = np.flatnonzero(dirs[1:] != dirs[:-1]) + 1
            if (len(starts) + 1) * DIR_SIZE > 4 * n:
                # Pages scattered over many directories: look up each leaf instead
                # of stacking directories mostly not asked about.
                return self._locate_by_leaf(pages)
            dir_numbers = dirs[:1].tolist() + dirs[starts].tolist()
            shifts = np.concatenate([self._dirs.get(d, _MISSING_DIR) for d in dir_numbers])
            which = np.repeat(np.arange(len(dir_numbers), dtype=np.int64),
                              np.diff(np.concatenate(([0], starts, [n]))))
            slots = pages >> LEAF_SHIFT
            slots &= DIR_MASK
            slots |= which << DIR_SHIFT  # the page's leaf in the directories stacked
        out: Int64Array = shifts.take(slots)
        out += pages
        return out

    def gather_at(self, at: Int64Array) -> Int64Array:
        """Entries at positions from :meth:`locate` (0 where negative), as int64."""
        flat = self.pool.data.reshape(-1)
        if len(at) == 0 or int(at.min()) >= 0:
            return flat[at].astype(np.int64)
        out = np.zeros(len(at), dtype=np.int64)
        have = at >= 0
        out[have] = flat[at[have]]
        return out

    def scatter_at(self, at: Int64Array, values: Int64Array) -> None:
        """Store entries at positions from :meth:`locate`, every one of them non-negative."""
        self.pool.data.reshape(-1)[at] = values

    def _rows_of(self, leaves: Int64Array) -> Int64Array:
        """The pool row of each leaf (-1 for a missing leaf), one dict look-up per distinct leaf."""
        if len(leaves) == 0:
            return np.zeros(0, dtype=np.int64)
        if ascending(leaves):
            # Sorted (pages from nonzero(), a range, or sorted by the caller):
            # runs of one leaf, found without a sort and repeated out.
            starts = np.flatnonzero(leaves[1:] != leaves[:-1]) + 1
            counts = np.subtract(np.append(starts, len(leaves)), np.append(0, starts))
            rows = self._look_up(leaves[:1].tolist() + leaves[starts].tolist())
            runs: Int64Array = np.repeat(rows, counts)
            return runs
        uniq, _first, inverse = unique_inverse(leaves)
        out: Int64Array = self._look_up(uniq.tolist())[inverse]
        return out

    def _look_up(self, leaves: list[int]) -> Int64Array:
        """Rows of distinct leaves, -1 where missing (map: no Python-level loop per leaf)."""
        return np.fromiter(map(self.leaves.get, leaves, repeat(-1)), dtype=np.int64,
                           count=len(leaves))

    def items(self) -> tuple[Int64Array, Int64Array]:
        """(pages, entries) of every non-zero entry, sorted by page."""
        if not self.leaves:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        order = sorted(self.leaves)
        block = self.pool.data[[self.leaves[leaf] for leaf in order]]
        rows_idx, cols = np.nonzero(block)
        pages = np.asarray(order, dtype=np.int64)[rows_idx] * LEAF_SIZE + cols
        return pages, block[rows_idx, cols].astype(np.int64)

    def window(self, first: int, count: int) -> Window | None:
        """The entries of pages [first, first+count) to work on, or None if most leaves are missing.

        Whole leaves move at once (at most one row gather in and one row
        scatter out), so a dense range costs no Python per leaf.
        """
        if count <= 0:
            return None
        first_leaf, last_leaf = first >> LEAF_SHIFT, (first + count - 1) >> LEAF_SHIFT
        n_leaves = last_leaf - first_leaf + 1
        if n_leaves > 2 * len(self.leaves):
            return None
        find = self.leaves.get
        rows = np.fromiter((find(k, -1) for k in range(first_leaf, last_leaf + 1)),
                           dtype=np.int64, count=n_leaves)
        have = rows >= 0
        n_have = int(np.count_nonzero(have))
        if 2 * n_have <= n_leaves:
            return None
        return Window(self.pool, rows, have if n_have < n_leaves else None,
                      first & LEAF_MASK, count)

    def leaf_block(self) -> tuple[Int64Array, npt.NDArray[np.int32]]:
        """(the leaf numbers, sorted; their rows of entries, in that order), to read at once.

        For a caller that wants only some entries of the whole table: masking
        the raw rows first is cheaper than :meth:`items` and then filtering.
        The rows are the pool's own when the leaves sit in consecutive pool
        rows (a table faulted in in address order), else a copy; either way
        the caller reads them before the table changes and never writes them.
        """
        order = sorted(self.leaves)
        # The rows stay a Python list: the check is one list comparison, and
        # no numpy call is paid for the few leaves of a typical table.
        rows = list(map(self.leaves.__getitem__, order))
        first = rows[0] if rows else 0
        block: npt.NDArray[np.int32]
        if rows == list(range(first, first + len(rows))):
            block = self.pool.data[first : first + len(rows)]
        else:
            block = self.pool.data[rows]
        return np.array(order, dtype=np.int64), block

    def release_empty(self, first: int, count: int) -> None:
        """Give back leaves in the range that hold nothing any more (munmap's free_pgtables)."""
        for leaf, _lo, _hi, _pos in list(self._leaves_in(first, count)):
            if not self.pool.data[self.leaves[leaf]].any():
                self._drop_leaf(leaf)

    def release_all(self) -> None:
        for row in self.leaves.values():
            self.pool.free_row(row)
        self.leaves.clear()
        self._dirs.clear()

    def copy_into(self, other: SparseTable) -> None:
        """Make ``other`` (empty, same pool) an entry-for-entry copy of this table."""
        for leaf, row in self.leaves.items():
            new = other._add_leaf(leaf)
            other.pool.data[new] = self.pool.data[row]


class Window:
    """Entries of a page range out of their leaves, for in-place work.

    ``entries`` (int32, one per page of the range) may be changed freely;
    :meth:`store` makes the changes the table's. Zero entries may become
    non-zero only where a leaf exists: a window never allocates leaves.
    When the leaves sit in consecutive pool rows (a range faulted in
    together), the entries are those rows themselves and nothing is copied.
    """

    def __init__(self, pool: LeafPool, rows: Int64Array, have: npt.NDArray[np.bool_] | None,
                 offset: int, count: int) -> None:
        self._pool = pool
        self._data = pool.data
        self._rows = rows if have is None else rows[have]
        self._have = have
        self._in_place = have is None and bool((np.diff(rows) == 1).all())
        if self._in_place:
            self._block = pool.data[int(rows[0]) : int(rows[-1]) + 1]
        elif have is None:
            self._block = pool.data[rows]
        else:
            self._block = np.zeros((len(rows), LEAF_SIZE), dtype=np.int32)
            self._block[have] = pool.data[self._rows]
        self.entries: npt.NDArray[np.int32] = self._block.reshape(-1)[offset : offset + count]

    def store(self) -> None:
        if self._in_place and self._pool.data is self._data:
            return  # the entries were the table's own
        block = self._block if self._have is None else self._block[self._have]
        self._pool.data[self._rows] = block
