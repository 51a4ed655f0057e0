"""Physical memory: frames of RAM and the slots of the swap device.

Per-frame state is a set of parallel numpy arrays (22 bytes a frame),
committed by the OS as frames are first used, so that a large simulated
machine costs what it holds. Frame and slot numbers are handed out deterministically: recycled
ones first (last freed, first reused), then never-used ones in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .types import Int64Array

# Frame kinds (0 means free).
FREE, ANON, FILE, SHMEM, HUGETLB = 0, 1, 2, 3, 4
KIND_CODES = {"anon": ANON, "file": FILE, "shmem": SHMEM, "hugetlb": HUGETLB}

# Frame flag bits.
DIRTY = 1
REFERENCED = 2
ACTIVE = 4
MLOCKED = 8


def as_run(numbers: Int64Array) -> slice | Int64Array:
    """Distinct ``numbers`` as the slice lo..hi+1 when they are exactly that run, else as given.

    Only for stores of one value to each number, where the order does not
    matter: a slice store costs a tenth of a fancy-index one, and numbers
    handed out together (a range faulted in, slots taken for it) usually are
    such a run.
    """
    if len(numbers) < 64:
        return numbers
    lo, hi = int(numbers.min()), int(numbers.max())
    return slice(lo, hi + 1) if hi - lo + 1 == len(numbers) else numbers


class _Allocator:
    """Numbers 0..limit-1 handed out recycled-first, then in order.

    Recycled numbers go last freed, first reused (frames, like the kernel's
    per-CPU free lists), or lowest first with ``lowest_first`` (swap slots,
    as the kernel's swap map scan prefers low offsets).
    """

    def __init__(self, limit: int, *, lowest_first: bool = False) -> None:
        self.limit = limit
        self.lowest_first = lowest_first
        self.high = 0  # numbers below this have been handed out at least once
        # Recycled numbers, a stack (int32: half the copying of int64, and
        # no machine has 2^31 frames or slots).
        self._free: npt.NDArray[Any] = np.zeros(0, dtype=np.int32)
        self._nfree = 0

    @property
    def in_use(self) -> int:
        return self.high - self._nfree

    @property
    def available(self) -> int:
        return self.limit - self.in_use

    def take(self, n: int) -> Int64Array:
        if n > self.available:
            raise MemoryError(f"asked for {n}, {self.available} left")
        reuse = min(n, self._nfree)
        out = np.empty(n, dtype=np.int64)
        if self.lowest_first and reuse > 0 and self._nfree > 1:
            # Keep the stack sorted high to low, so its top is the lowest.
            # Slots usually come back in order (a range swapped in), so a
            # reversal, or nothing, is mostly enough.
            free = self._free[: self._nfree]
            if not bool((free[:-1] >= free[1:]).all()):
                if bool((free[:-1] <= free[1:]).all()):
                    free[:] = free[::-1].copy()
                else:
                    free[:] = np.sort(free)[::-1]
        # Last freed, first reused: pop from the top of the stack.
        out[:reuse] = self._free[self._nfree - reuse : self._nfree][::-1]
        self._nfree -= reuse
        fresh = n - reuse
        out[reuse:] = np.arange(self.high, self.high + fresh, dtype=np.int64)
        self.high += fresh
        return out

    def give_back(self, numbers: Int64Array) -> None:
        n = len(numbers)
        if self._nfree + n > len(self._free):
            grown = np.empty(max(2 * len(self._free), self._nfree + n, 64), dtype=np.int32)
            grown[: self._nfree] = self._free[: self._nfree]
            self._free = grown
        self._free[self._nfree : self._nfree + n] = numbers
        self._nfree += n


class _Columns:
    """Parallel arrays over numbers 0..limit-1, paid for as numbers come into use.

    Each array is reserved whole with ``np.zeros``, which the OS backs with
    memory only where it is written; the owner sees views of the first
    ``length`` entries, lengthened without copying as numbers are handed out.
    So per-frame state costs its 22 bytes a frame in use, with no slack
    from growth and no copies.
    """

    def __init__(self, owner: object, limit: int,
                 spec: dict[str, tuple[type[np.generic], int]]) -> None:
        self._owner = owner
        self._spec = spec
        self._buffers = {name: np.zeros(limit, dtype=dtype) for name, (dtype, _) in spec.items()}
        self.length = 0
        self.expose(0)

    def expose(self, length: int) -> None:
        old = self.length
        for name, (_dtype, fill) in self._spec.items():
            view = self._buffers[name][:length]
            if fill and length > old:
                view[old:length] = fill
            setattr(self._owner, name, view)
        self.length = length

    def nbytes(self) -> int:
        return sum(getattr(self._owner, name).nbytes for name in self._spec)


class Frames:
    """RAM: per-frame kind, flags, mapcount, last access, cached (object, index), swap slot.

    ``obj`` is the page-cache object (-1 for anon), ``index`` the page index
    within it, ``slot`` the swap slot while the frame is in the swap cache
    (else -1). The arrays cover the frames handed out so far (``capacity``).
    """

    kind: npt.NDArray[Any]
    flags: npt.NDArray[Any]
    mapcount: npt.NDArray[Any]
    last_access: npt.NDArray[Any]
    obj: npt.NDArray[Any]
    index: npt.NDArray[Any]
    slot: npt.NDArray[Any]

    def __init__(self, total: int) -> None:
        self.total = total
        self._alloc = _Allocator(total)
        self._columns = _Columns(self, total, {
            "kind": (np.uint8, FREE), "flags": (np.uint8, 0), "mapcount": (np.int32, 0),
            "last_access": (np.uint32, 0), "obj": (np.int32, -1), "index": (np.int32, 0),
            "slot": (np.int32, -1),
        })

    @property
    def capacity(self) -> int:
        return self._columns.length

    @property
    def used(self) -> int:
        return self._alloc.in_use

    @property
    def available(self) -> int:
        return self._alloc.available

    def allocate(self, n: int, kind: int, tick: int) -> Int64Array:
        frames = self._alloc.take(n)
        if self._alloc.high > self.capacity:
            self._columns.expose(self._alloc.high)
        self.kind[frames] = kind
        self.flags[frames] = REFERENCED
        self.mapcount[frames] = 0
        self.last_access[frames] = tick
        self.obj[frames] = -1
        self.index[frames] = 0
        self.slot[frames] = -1
        return frames

    def release(self, frames: Int64Array, run: slice | Int64Array | None = None) -> None:
        """Free distinct ``frames`` (``run``: their as_run, if the caller has it)."""
        at = as_run(frames) if run is None else run
        self.kind[at] = FREE
        self.flags[at] = 0
        self.mapcount[at] = 0
        self.obj[at] = -1
        self.slot[at] = -1
        self._alloc.give_back(frames)

    def nbytes(self) -> int:
        return self._columns.nbytes()


class Swap:
    """The swap device: per slot, the number of references and the swap-cache frame.

    ``count`` counts swap PTEs plus shmem objects that keep a page there;
    ``frame`` is the frame holding the slot's page in the swap cache (or
    -1); ``live`` says the slot is handed out.
    """

    count: npt.NDArray[Any]
    frame: npt.NDArray[Any]
    live: npt.NDArray[Any]

    def __init__(self, slots: int) -> None:
        self.total = slots
        self._alloc = _Allocator(slots, lowest_first=True)
        self._columns = _Columns(self, slots, {
            "count": (np.int32, 0), "frame": (np.int32, -1), "live": (np.bool_, 0)})

    @property
    def used(self) -> int:
        return self._alloc.in_use

    @property
    def available(self) -> int:
        return self._alloc.available

    def allocate(self, n: int, *, count: int = 0) -> Int64Array:
        """``n`` free slots, each with ``count`` references and no swap-cache frame."""
        high = self._alloc.high
        slots = self._alloc.take(n)
        if self._alloc.high > self._columns.length:
            self._columns.expose(self._alloc.high)
        if self._alloc.high == high + n:
            # Never used before: one run, which expose() left with no frame.
            at: slice | Int64Array = slice(high, high + n)
        else:
            at = as_run(slots)
            self.frame[at] = -1
        if count:
            self.count[at] = count
        self.live[at] = True
        return slots

    def release(self, slots: Int64Array) -> None:
        """Free distinct ``slots``."""
        at = as_run(slots)
        self.count[at] = 0
        self.frame[at] = -1
        self.live[at] = False
        self._alloc.give_back(slots)

    def release_unreferenced(self, slots: Int64Array) -> None:
        """Free those of ``slots`` that no PTE, shmem object or swap-cache frame holds."""
        if len(slots) == 0:
            return
        slots = np.unique(slots)
        dead = slots[self.live[slots] & (self.count[slots] <= 0) & (self.frame[slots] < 0)]
        if len(dead):
            self.release(dead)

    def nbytes(self) -> int:
        return self._columns.nbytes()
