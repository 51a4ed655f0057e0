"""The simulated machine: processes, their address spaces, and memory management.

Two levels, as in the kernel. Physical frames (:class:`Frames`) and swap
slots (:class:`Swap`) are parallel numpy arrays. Each process has a sparse
page table and each file or shmem object a sparse page-cache index
(:class:`SparseTable`). A page-table entry is an int64:

    0                        none
    1                        the shared zero page (present, counts in no Rss)
    ((frame + 1) << 1) | y   present, y the PTE young bit
    -(slot + 1)              a swap entry

A page-cache entry is ``frame + 1`` (cached), ``SHADOW`` (evicted by
reclaim: a later read-in is a refault) or ``-(slot + 2)`` (a shmem page in
swap). docs/model.md states the semantics this module implements.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import zlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import (
    AlreadyExists,
    BadAddress,
    InvalidArgument,
    NoSuchProcess,
    OutOfMemory,
)
from . import frames as fr
from .frames import Frames, Swap
from .tables import LEAF_MASK, LEAF_SHIFT, LeafPool, SparseTable, unique, unique_inverse
from .types import (
    KINDS,
    PAGE_SHIFT,
    PAGE_SIZE,
    PSS_SHIFT,
    BoolArray,
    Int64Array,
    Kind,
    MachineConfig,
    MemInfo,
    Process,
    ProcessMemory,
    ReclaimMode,
    ReclaimResult,
    SmapsCounts,
    TouchResult,
    UInt64Array,
    Vma,
)

ZERO_PTE = 1
SHADOW = -1
MAX_PID = 4_194_304
HUGE_PAGE = 2 << 20
ADDRESS_LIMIT = 1 << 47  # x86-64 user space
PERMS = re.compile(r"[r-][w-][x-][sp]\Z")
FILE_DEV = (0xFE, 0x01)
SHMEM_DEV = (0x00, 0x01)
HUGETLB_DEV = (0x00, 0x10)

_PAGE_PSS = PAGE_SIZE << PSS_SHIFT
# Pages a large untouched range is faulted in at a time: bounds the fault's
# temporaries (a few dozen bytes a page) to a few MB, which RSS would keep.
FAULT_CHUNK_PAGES = 1 << 16


def _present(frames: Int64Array, young: int | Int64Array = 1) -> Int64Array:
    return ((frames + 1) << 1) | young


def _repeated(first: Int64Array, n: int) -> Int64Array:
    """``n`` times ``first[0]``, read-only and in no memory of its own (stride 0): under
    a microsecond, where np.full or np.broadcast_to take several."""
    out: Int64Array = np.ndarray((n,), first.dtype, first, 0, (0,))
    out.flags.writeable = False
    return out


def _frame_of(ptes: Int64Array) -> Int64Array:
    return (ptes >> 1) - 1


def _bump(counts: Any, at: Int64Array, delta: int, *, distinct: bool = False) -> None:
    """counts[at] += delta, for every occurrence in ``at``.

    ``distinct=True`` says ``at`` cannot repeat (say, the frames of one VMA:
    each page maps a different frame) and takes the fancy-index fast path;
    np.add.at is about 20x slower per element.
    """
    if distinct:
        counts[at] += delta
    elif len(at):
        ordered = np.sort(at)
        values = unique(ordered)
        times = np.diff(np.append(np.searchsorted(ordered, values), len(ordered)))
        counts[values] += times.astype(counts.dtype) * delta


def _frames_at_most(ptes: Int64Array, write: bool) -> int:
    """An upper bound on the new frames a touch of pages with these PTEs takes.

    A read takes at most one for a page not present (read-in or swap-in) and
    none for a present one; a write at most two for a page not present
    (read-in, then a private copy) and one for a present one (a copy).
    """
    missing = int(np.count_nonzero(ptes <= 0))
    return missing + len(ptes) if write else missing


def _inode_of(path: str) -> int:
    """A stable inode number for a simulated file, derived from its path."""
    return zlib.crc32(path.encode()) % 9_000_000 + 1_000_000


@dataclass
class MemObject:
    """A file's page cache, or a shmem object's pages, indexed by page offset."""

    oid: int
    kind: Kind  # "file" or "shmem"
    path: str | None
    inode: int
    table: SparseTable
    vma_refs: int = 0  # VMAs mapping it; a shmem object dies with its last one


@dataclass(frozen=True)
class _Span:
    """What a run of a task's VMAs holds (see :meth:`_Layout.span`)."""

    page_cache: bool  # a file or shmem VMA: its pages are the page cache's
    hugetlb: bool
    locked: bool


_SPANS_KEPT = 256


@dataclass(frozen=True)
class _Layout:
    """A task's VMAs as parallel arrays, for vectorised lookups (rebuilt when they change)."""

    start: Int64Array  # page numbers
    end: Int64Array
    kind: Int64Array  # frame kind codes
    shared: BoolArray
    locked: BoolArray
    oid: Int64Array  # object id, -1 for anon and hugetlb
    base: Int64Array  # object page index of the VMA's page 0: offset pages - start page
    writable: BoolArray
    executable: BoolArray
    stack: BoolArray  # VM_GROWSDOWN: the [stack] mapping
    text: BoolArray  # a mapping of the process's executable

    @cached_property
    def zeros(self) -> Int64Array:
        """A read-only row of zeros, one per VMA: the array every zero smaps field shares
        (it cannot go stale: a layout is rebuilt, not changed, when the VMAs change)."""
        row = np.zeros(len(self.start), dtype=np.int64)
        row.flags.writeable = False
        return row

    @cached_property
    def indices(self) -> Int64Array:
        """0, 1, 2... one per VMA (what :func:`_repeated` repeats), read-only."""
        row = np.arange(len(self.start), dtype=np.int64)
        row.flags.writeable = False
        return row

    @cached_property
    def _spans(self) -> dict[tuple[int, int], _Span]:
        return {}

    def span(self, first: int, last: int) -> _Span:
        """What VMAs first..last hold, as a fault's last pass asks (kept: a batch of
        accesses asks again and again about the same few spans)."""
        got = self._spans.get((first, last))
        if got is None:
            kinds = set(self.kind[first:last + 1].tolist())
            got = _Span(page_cache=bool(kinds & {_FILE, _SHMEM}), hugetlb=_HUGETLB in kinds,
                        locked=bool(self.locked[first:last + 1].any()))
            if len(self._spans) >= _SPANS_KEPT:
                self._spans.clear()
            self._spans[first, last] = got
        return got

    @classmethod
    def of(cls, vmas: list[Vma], exe: str | None) -> _Layout:
        def col(values: list[Any], dtype: Any) -> Any:
            return np.array(values, dtype=dtype)

        return cls(
            start=col([v.start >> PAGE_SHIFT for v in vmas], np.int64),
            end=col([v.end >> PAGE_SHIFT for v in vmas], np.int64),
            kind=col([_KIND_CODE[v.kind] for v in vmas], np.int8),
            shared=col([v.shared for v in vmas], np.bool_),
            locked=col([v.locked for v in vmas], np.bool_),
            oid=col([v.object_id for v in vmas], np.int64),
            base=col([(v.offset - v.start) >> PAGE_SHIFT for v in vmas], np.int64),
            writable=col([v.perms[1] == "w" for v in vmas], np.bool_),
            executable=col([v.perms[2] == "x" for v in vmas], np.bool_),
            stack=col([v.name == "[stack]" for v in vmas], np.bool_),
            text=col([exe is not None and v.path == exe for v in vmas], np.bool_),
        )

    def find(self, pages: Int64Array) -> Int64Array:
        """Index of the VMA each page lies in, or -1 (pages in gaps are -1 too)."""
        vi = np.searchsorted(self.start, pages, side="right") - 1
        if len(self.start) == 0:
            return np.full(len(pages), -1, dtype=np.int64)
        inside = (vi >= 0) & (pages < self.end[np.maximum(vi, 0)])
        return np.where(inside, vi, -1)

    def find_sorted(self, pages: Int64Array) -> Int64Array:
        """find() for ascending pages (maybe read-only: see cover_sorted)."""
        vi = self.cover_sorted(pages)
        return self.find(pages) if vi is None else vi  # find() says which page lies in a gap

    def cover_sorted(self, pages: Int64Array) -> Int64Array | None:
        """Each ascending page's VMA index, or None if some page lies in a gap.

        Pages all in one VMA (a batch within one mapping) cost a binary search
        for the first, and come back as a read-only array that repeats one
        index; otherwise each VMA's run of them is found by binary search,
        then one fill.
        """
        if len(pages) == 0:
            return np.zeros(0, dtype=np.int64)
        i = bisect.bisect_right(self.start, int(pages[0])) - 1
        if i >= 0 and int(pages[-1]) < int(self.end[i]):
            return _repeated(self.indices[i:i + 1], len(pages))
        first = np.searchsorted(pages, self.start)
        counts = np.searchsorted(pages, self.end) - first
        if int(counts.sum()) != len(pages):
            return None
        return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


@dataclass
class _Task:
    info: Process
    pt: SparseTable
    seq: int  # creation order, for the OOM killer's ties
    cached_layout: _Layout | None = field(default=None, repr=False)

    @property
    def layout(self) -> _Layout:
        if self.cached_layout is None:
            self.cached_layout = _Layout.of(self.info.vmas, self.info.exe)
        return self.cached_layout

    def relaid(self) -> None:
        self.cached_layout = None


def _pages_at(leaves: Int64Array, at: Int64Array) -> Int64Array:
    """Page numbers of positions in a table's leaf_block() (ravelled)."""
    if len(leaves) and int(leaves[-1] - leaves[0]) == len(leaves) - 1:
        return at + (int(leaves[0]) << LEAF_SHIFT)  # leaves side by side: one offset for all
    out: Int64Array = (leaves[at >> LEAF_SHIFT] << LEAF_SHIFT) | (at & LEAF_MASK)
    return out


@dataclass(frozen=True)
class _Runs:
    """Sorted pages grouped by the VMA each lies in (each lies in one: check_invariants).

    Only VMAs that have pages have a run, so a process of many VMAs, most
    of them empty, costs what its pages cost plus one zero-filled row per sum.
    """

    n_vmas: int
    n_pages: int
    vmas: Int64Array  # the VMAs with pages, ascending
    first: Int64Array | None  # where each one's run starts among the pages; None: a page each

    @classmethod
    def of(cls, starts: Int64Array, pages: Int64Array) -> _Runs:
        if len(pages) <= len(starts):
            # Fewer pages than VMAs: a binary search per page is the cheaper side.
            vma_of = np.searchsorted(starts, pages, side="right") - 1
            new = np.empty(len(pages), dtype=np.bool_)
            new[:1] = True
            np.not_equal(vma_of[1:], vma_of[:-1], out=new[1:])
            first = np.flatnonzero(new)
            vmas: Int64Array = vma_of if len(first) == len(pages) else vma_of[first]
        else:
            bounds = np.searchsorted(pages, starts)
            vmas = np.flatnonzero(np.diff(bounds, append=len(pages)))
            first = bounds[vmas]
        return cls(len(starts), len(pages), vmas, None if len(first) == len(pages) else first)

    def per_vma(self, per_page: npt.NDArray[Any] | None, scale: int) -> Int64Array:
        """Each VMA's sum of ``per_page`` (None: 1 a page) times scale; 0 where it has no pages."""
        sums: Int64Array | int
        if self.first is None:  # nothing to add up
            sums = scale if per_page is None else np.multiply(per_page, scale, dtype=np.int64)
        elif per_page is None:
            sums = np.diff(self.first, append=self.n_pages) * scale
        else:
            sums = np.add.reduceat(per_page, self.first, dtype=np.int64) * scale
        if len(self.vmas) == self.n_vmas and not isinstance(sums, int):
            return sums
        out = np.zeros(self.n_vmas, dtype=np.int64)
        out[self.vmas] = sums
        return out


def _smaps_frame_classes() -> tuple[tuple[str, bool, BoolArray, int], ...]:
    """(field, weighted by Pss rather than counted in bytes, the page classes it sums,
    the same as bits).

    A class code is a present page's frame kind (1..4) | _DIRTY_CLASS if
    dirty | _SHARED_CLASS if mapped twice or more | _YOUNG_CLASS if its PTE
    was accessed. Hugetlb pages count only in the *_Hugetlb lines.
    """
    code = np.arange(_N_CLASSES)
    kind = code & _KIND_CLASS_MASK
    huge = kind == fr.HUGETLB
    normal = ~huge
    dirty = ((code & _DIRTY_CLASS) != 0) & normal
    shared = (code & _SHARED_CLASS) != 0
    young = (code & _YOUNG_CLASS) != 0
    fields = (
        ("rss", False, normal), ("pss", True, normal), ("pss_dirty", True, dirty),
        ("pss_anon", True, kind == fr.ANON), ("pss_file", True, kind == fr.FILE),
        ("pss_shmem", True, kind == fr.SHMEM),
        ("shared_clean", False, normal & shared & ~dirty), ("shared_dirty", False, shared & dirty),
        ("private_clean", False, normal & ~shared & ~dirty),
        ("private_dirty", False, ~shared & dirty),
        ("referenced", False, normal & young), ("anonymous", False, kind == fr.ANON),
        ("shared_hugetlb", False, huge & shared), ("private_hugetlb", False, huge & ~shared),
    )
    return tuple((name, weighted, classes, _class_bits(classes))
                 for name, weighted, classes in fields)


def _class_bits(classes: BoolArray) -> int:
    """A set of page classes as the bits of an int (a cheap & with what is present)."""
    return sum(1 << c for c in np.flatnonzero(classes).tolist())


def _weighted_sum(runs: _Runs, mask: BoolArray | None, weights: npt.NDArray[Any] | None,
                  scale: int) -> Int64Array:
    """Per-VMA sums over the pages in mask (None: all) of weights (None: scale a page)."""
    if weights is None:
        return runs.per_vma(mask, scale)
    return runs.per_vma(weights if mask is None else np.where(mask, weights, 0), 1)


_KIND_CLASS_MASK, _DIRTY_CLASS, _SHARED_CLASS, _YOUNG_CLASS = 7, 8, 16, 32
_N_CLASSES = 64
_SHARED_BITS = _class_bits((np.arange(_N_CLASSES) & _SHARED_CLASS) != 0)
_SMAPS_FRAME_CLASSES = _smaps_frame_classes()


class Machine:
    """A simulated machine. Every public method is one operation or one view."""

    def __init__(self, config: MachineConfig | None = None,
                 rng: np.random.Generator | None = None) -> None:
        self.config = config or MachineConfig()
        self.rng = rng if rng is not None else np.random.default_rng(self.config.seed)
        self.tick = 0
        self.version = 0
        # Processes ended so far (exit or OOM kill): a pid can vanish or be
        # reused only when this moves, so a cache of pids checks it first.
        self.ended = 0
        self.frames = Frames(self.config.ram_pages)
        self.swap = Swap(self.config.swap_slots)
        self._pte_pool = LeafPool()
        self._cache_pool = LeafPool()
        self._tasks: dict[int, _Task] = {}
        self._objects: dict[int, MemObject] = {}
        self._file_oids: dict[str, int] = {}
        self._next_oid = 1
        self._next_seq = 0
        self._last_pid = 0
        self._events: list[dict[str, Any]] = []
        # Views computed since the last change: a reader that polls status
        # or smaps between operations pays once. Dropped at every change.
        self._views: dict[tuple[str, int], Any] = {}
        self.counters: dict[str, int] = dict.fromkeys(_EVENT_COUNTERS, 0)
        self._compute_watermarks()

    # ------------------------------------------------------------------ set-up

    def _compute_watermarks(self) -> None:
        pages = self.config.ram_pages
        ram_kib = pages * 4
        min_free_kib = min(max(math.isqrt(ram_kib * 16), 128), 262_144)
        self.wmark_min = min_free_kib // 4
        delta = max(self.wmark_min // 4, pages * 10 // 10_000)
        self.wmark_low = self.wmark_min + delta
        self.wmark_high = self.wmark_min + 2 * delta

    # ------------------------------------------------------------------ lookup

    def pids(self) -> list[int]:
        return sorted(self._tasks)

    def process(self, pid: int) -> Process:
        """The live process ``pid``; NoSuchProcess (ESRCH) if there is none."""
        return self._task(pid).info

    def live_process(self, pid: int) -> Process | None:
        """The live process ``pid``, or None: the look-up of every FUSE request."""
        task = self._tasks.get(pid)
        return None if task is None else task.info

    def _task(self, pid: int) -> _Task:
        task = self._tasks.get(pid)
        if task is None:
            raise NoSuchProcess(f"no process {pid}")
        return task

    def drain_events(self) -> list[dict[str, Any]]:
        events, self._events = self._events, []
        return events

    def _changed(self) -> None:
        self.version += 1
        self._views.clear()

    # ------------------------------------------------------------------ processes

    def spawn(self, pid: int, comm: str, *, uid: int = 0, gid: int | None = None,
              ppid: int = 0, cmdline: tuple[str, ...] | list[str] = (),
              exe: str | None = None) -> Process:
        self._check_new_pid(pid)
        info = Process(pid=pid, comm=comm.encode()[:15].decode(errors="ignore"), uid=uid,
                       gid=uid if gid is None else gid, ppid=ppid,
                       cmdline=tuple(cmdline) or (comm,), exe=exe, start_tick=self.tick)
        self._add_task(info)
        self._changed()
        return info

    def _check_new_pid(self, pid: int) -> None:
        if not 1 <= pid <= MAX_PID:
            raise InvalidArgument(f"pid {pid} is not in 1..{MAX_PID}")
        if pid in self._tasks:
            raise AlreadyExists(f"pid {pid} is in use")

    def _add_task(self, info: Process) -> _Task:
        task = _Task(info=info, pt=SparseTable(self._pte_pool), seq=self._next_seq)
        self._next_seq += 1
        self._tasks[info.pid] = task
        self._last_pid = info.pid
        self.counters["processes"] += 1
        return task

    def fork(self, parent: int, child: int, *, comm: str | None = None) -> Process:
        src = self._task(parent)
        self._check_new_pid(child)
        p = src.info
        info = Process(pid=child, comm=(comm or p.comm).encode()[:15].decode(errors="ignore"),
                       uid=p.uid, gid=p.gid, ppid=parent, cmdline=p.cmdline, exe=p.exe,
                       oom_score_adj=p.oom_score_adj, start_tick=self.tick,
                       vmas=[replace(v, locked=False) for v in p.vmas],
                       hiwater_vm_pages=p.hiwater_vm_pages)
        task = self._add_task(info)
        src.pt.copy_into(task.pt)
        for vma in info.vmas:
            if vma.object_id >= 0:
                self._objects[vma.object_id].vma_refs += 1
        pages, ptes = task.pt.items()
        real = ptes >= 2
        if real.any():
            # Every shared frame gains a mapping; the child's PTEs start old.
            _bump(self.frames.mapcount, _frame_of(ptes[real]), 1)
            task.pt.scatter(pages[real], ptes[real] & ~1)
        swapped = ptes < 0
        if swapped.any():
            _bump(self.swap.count, -ptes[swapped] - 1, 1, distinct=True)  # one PTE per slot per mm
        info.hiwater_rss_pages = self._rss_pages(task)
        self._changed()
        return info

    def exit(self, pid: int) -> None:
        self._exit(self._task(pid))

    def _exit(self, task: _Task) -> None:
        """Tear a process down (exit or OOM kill). Views are dropped here, not by
        the caller: an OOM kill is often followed by an error that ends the
        operation before its own _changed()."""
        for vma in list(task.info.vmas):
            self._zap(task, vma, vma.start >> PAGE_SHIFT, vma.end >> PAGE_SHIFT)
            self._drop_object_ref(vma)
        task.info.vmas = []
        task.pt.release_all()
        del self._tasks[task.info.pid]
        self.ended += 1
        self._changed()

    def set_oom_score_adj(self, pid: int, value: int) -> None:
        if not -1000 <= value <= 1000:
            raise InvalidArgument(f"oom_score_adj {value} is not in -1000..1000")
        self._task(pid).info.oom_score_adj = value
        self._changed()

    # ------------------------------------------------------------------ mappings

    def mmap(self, pid: int, addr: int, size: int, kind: str, *, path: str | None = None,
             perms: str | None = None, name: str | None = None, offset: int = 0) -> Vma:
        task = self._task(pid)
        if kind not in KINDS:
            raise InvalidArgument(f"unknown mapping kind {kind!r}")
        if perms is None:
            perms = "rw-s" if kind == "shmem" else "rw-p"
        if not PERMS.match(perms):
            raise InvalidArgument(f"bad perms {perms!r}")
        align = HUGE_PAGE if kind == "hugetlb" else PAGE_SIZE
        if addr % align:
            raise InvalidArgument(f"address {addr:#x} is not aligned to {align:#x}")
        if size <= 0:
            raise InvalidArgument("size must be positive")
        if offset < 0 or offset % PAGE_SIZE:
            raise InvalidArgument(f"offset {offset} is not page aligned")
        size = -(-size // align) * align
        end = addr + size
        if end > ADDRESS_LIMIT:
            raise InvalidArgument(f"range {addr:#x}+{size:#x} is beyond the address space")
        if kind == "anon" and perms[3] == "s":
            raise InvalidArgument("a shared anonymous mapping is shmem")
        if kind == "shmem" and perms[3] == "p":
            raise InvalidArgument("shmem mappings are shared")
        if kind == "file":
            if not path or not path.startswith("/") or any(c.isspace() for c in path):
                raise InvalidArgument("file= needs an absolute path without white space")
            if (offset >> PAGE_SHIFT) + (size >> PAGE_SHIFT) >= 1 << 31:
                raise InvalidArgument("offset too large")
        elif path is not None:
            raise InvalidArgument(f"a {kind} mapping has no file")
        if name is not None:
            if kind == "file":
                raise InvalidArgument("a file mapping is named by its path")
            if not (name.startswith("[") and name.endswith("]")):
                name = f"[anon_shmem:{name}]" if kind == "shmem" else f"[anon:{name}]"
        vmas = task.info.vmas
        at = bisect.bisect_right(vmas, addr, key=lambda v: v.start)
        for v in vmas[max(at - 1, 0) : at + 1]:
            if v.start < end and addr < v.end:
                raise AlreadyExists(f"{addr:#x}-{end:#x} overlaps {v.start:#x}-{v.end:#x}")
        if kind == "file":
            assert path is not None
            obj = self._file_object(path)
            vma = Vma(addr, end, perms, offset, "file", path=path, inode=obj.inode,
                      dev=FILE_DEV, object_id=obj.oid)
        elif kind == "shmem":
            obj = self._new_object("shmem", None)
            vma = Vma(addr, end, perms, offset, "shmem", name=name, inode=obj.inode,
                      dev=SHMEM_DEV, object_id=obj.oid)
        elif kind == "hugetlb":
            vma = Vma(addr, end, perms, 0, "hugetlb", name=name, dev=HUGETLB_DEV,
                      inode=self._next_oid)
        else:
            vma = Vma(addr, end, perms, 0, "anon", name=name)
        if vma.object_id >= 0:
            self._objects[vma.object_id].vma_refs += 1
        vmas.insert(at, vma)
        # Merge with the neighbours only: O(log n) to place, not a re-sort.
        for left in (at, at - 1):
            if 0 <= left < len(vmas) - 1 and self._mergeable(vmas[left], vmas[left + 1]):
                right = vmas.pop(left + 1)
                if right.object_id >= 0:
                    self._objects[right.object_id].vma_refs -= 1
                vmas[left] = replace(vmas[left], end=right.end)
        task.relaid()
        self._changed()
        return next(v for v in vmas[max(at - 1, 0) : at + 1] if v.start <= addr < v.end)

    def _file_object(self, path: str) -> MemObject:
        oid = self._file_oids.get(path)
        if oid is None:
            obj = self._new_object("file", path)
            self._file_oids[path] = obj.oid
            return obj
        return self._objects[oid]

    def _new_object(self, kind: Kind, path: str | None) -> MemObject:
        oid = self._next_oid
        self._next_oid += 1
        inode = _inode_of(path) if path else 10_000 + oid
        obj = MemObject(oid, kind, path, inode, SparseTable(self._cache_pool))
        self._objects[oid] = obj
        return obj

    def _drop_object_ref(self, vma: Vma) -> None:
        if vma.object_id < 0:
            return
        obj = self._objects[vma.object_id]
        obj.vma_refs -= 1
        if obj.kind == "shmem" and obj.vma_refs == 0:
            self._destroy_object(obj)

    def _destroy_object(self, obj: MemObject) -> None:
        _idx, entries = obj.table.items()
        cached = entries[entries > 0] - 1
        if len(cached):
            self.frames.release(cached)
        slots = -entries[entries <= -2] - 2
        if len(slots):
            _bump(self.swap.count, slots, -1, distinct=True)
            self.swap.release_unreferenced(slots)
        obj.table.release_all()
        del self._objects[obj.oid]

    def _relayout(self, task: _Task) -> None:
        """Sort the VMAs and merge neighbours the kernel would merge."""
        vmas = sorted(task.info.vmas, key=lambda v: v.start)
        merged: list[Vma] = []
        for v in vmas:
            if merged and self._mergeable(merged[-1], v):
                prev = merged.pop()
                if v.object_id >= 0:
                    self._objects[v.object_id].vma_refs -= 1
                v = replace(prev, end=v.end)
            merged.append(v)
        task.info.vmas = merged
        task.relaid()

    @staticmethod
    def _mergeable(a: Vma, b: Vma) -> bool:
        if a.end != b.start or a.kind != b.kind or a.perms != b.perms or a.name != b.name:
            return False
        if a.locked != b.locked or a.object_id != b.object_id or a.kind == "hugetlb":
            return False
        if a.object_id >= 0:
            return a.offset + a.size == b.offset
        return True

    def _split(self, task: _Task, addr: int) -> None:
        """Split the VMA containing addr (if any) so that a VMA starts at addr."""
        for i, v in enumerate(task.info.vmas):
            if v.start < addr < v.end:
                delta = addr - v.start
                left = replace(v, end=addr)
                right = replace(v, start=addr,
                                offset=v.offset + delta if v.object_id >= 0 else v.offset)
                task.info.vmas[i : i + 1] = [left, right]
                if v.object_id >= 0:
                    self._objects[v.object_id].vma_refs += 1
                task.relaid()
                return

    def _page_range(self, addr: int, size: int) -> tuple[int, int]:
        if addr % PAGE_SIZE:
            raise InvalidArgument(f"address {addr:#x} is not page aligned")
        if size < 0:
            raise InvalidArgument("negative size")
        end = addr + -(-size // PAGE_SIZE) * PAGE_SIZE
        if end > ADDRESS_LIMIT or (size and end <= addr):
            raise InvalidArgument("range wraps or leaves the address space")
        return addr, end

    def munmap(self, pid: int, addr: int, size: int) -> None:
        task = self._task(pid)
        start, end = self._page_range(addr, size)
        if start == end:
            raise InvalidArgument("munmap of zero bytes")
        self._note_peak(task)
        task.info.hiwater_vm_pages = max(task.info.hiwater_vm_pages, self._vm_pages(task.info))
        self._split(task, start)
        self._split(task, end)
        keep: list[Vma] = []
        for v in task.info.vmas:
            if start <= v.start and v.end <= end:
                self._zap(task, v, v.start >> PAGE_SHIFT, v.end >> PAGE_SHIFT)
                self._drop_object_ref(v)
            else:
                keep.append(v)
        task.info.vmas = keep
        task.pt.release_empty(start >> PAGE_SHIFT, (end - start) >> PAGE_SHIFT)
        self._relayout(task)
        self._changed()

    def _zap(self, task: _Task, vma: Vma, first: int, last: int) -> None:
        """Unmap pages [first, last) of one VMA: the kernel's zap_pte_range.

        Frames it frees go back in page order, as the kernel's walk frees them.
        """
        count = last - first
        _pages, ptes = task.pt.nonzero(first, count)
        unlocked = np.zeros(0, dtype=np.int64)
        dying_at: list[Int64Array] = []  # positions in ptes, so in page order
        dying: list[Int64Array] = []
        present = np.flatnonzero(ptes >= 2)
        if len(present):
            frames = _frame_of(ptes[present])
            if vma.locked:
                unlocked = frames.copy()
            _bump(self.frames.mapcount, frames, -1, distinct=True)  # one VMA
            kind = self.frames.kind[frames]
            gone = ((kind == fr.ANON) | (kind == fr.HUGETLB)) & (self.frames.mapcount[frames] == 0)
            dying_at.append(present[gone])
            dying.append(frames[gone])
        swapped = np.flatnonzero(ptes < 0)
        slots = -ptes[swapped] - 1
        if len(swapped):
            _bump(self.swap.count, slots, -1, distinct=True)
            # free_swap_and_cache: an unreferenced slot whose cached page no
            # one maps goes, page and all.
            cache = self.swap.frame[slots].astype(np.int64)
            idle = (self.swap.count[slots] == 0) & (cache >= 0)
            idle[idle] = self.frames.mapcount[cache[idle]] == 0
            dying_at.append(swapped[idle])
            dying.append(cache[idle])
        if dying:
            order = np.argsort(np.concatenate(dying_at), kind="stable")
            self._free_private(np.concatenate(dying)[order])
        self.swap.release_unreferenced(slots)
        task.pt.clear(first, count)
        self._munlock(unlocked)

    def _free_private(self, frames: Int64Array) -> None:
        """Free anon/hugetlb frames nobody maps, dropping them from the swap cache.

        A frame whose swap slot a swap entry still holds stays in the swap
        cache, unmapped, as the kernel keeps it (free_swap_cache gives up on a
        page that is still swapped): the entry's next fault is then a minor
        one. It goes when the last entry does (_zap) or to global reclaim.
        """
        if len(frames) == 0:
            return
        slots = self.frames.slot[frames].astype(np.int64)
        held = slots >= 0
        held[held] = self.swap.count[slots[held]] > 0
        if held.any():
            frames, slots = frames[~held], slots[~held]
        slots = slots[slots >= 0]
        self.swap.frame[slots] = -1
        self.frames.release(frames)
        self.swap.release_unreferenced(slots)

    # ------------------------------------------------------------------ mlock

    def mlock(self, pid: int, addr: int, size: int) -> None:
        task = self._task(pid)
        start, end = self._covered(task, addr, size)
        if start == end:
            return
        self._set_locked(task, start, end, True)
        try:  # the faults may end in ENOMEM after changing things: views go either way
            for v in task.info.vmas:
                # The locked part of each VMA (it may have merged with a locked
                # neighbour, so it can be wider than the range).
                lo, hi = max(v.start, start), min(v.end, end)
                if lo < hi:
                    # __mm_populate: a private writable mapping is faulted for write.
                    write = v.perms[1] == "w" and v.perms[3] == "p"
                    pages = np.arange(lo >> PAGE_SHIFT, hi >> PAGE_SHIFT, dtype=np.int64)
                    self._fault(task, pages, write)
        finally:
            self._changed()

    def munlock(self, pid: int, addr: int, size: int) -> None:
        task = self._task(pid)
        start, end = self._covered(task, addr, size)
        if start == end:
            return
        self._set_locked(task, start, end, False)
        self._changed()

    def _covered(self, task: _Task, addr: int, size: int) -> tuple[int, int]:
        """The page range of [addr, addr+size), which must be fully mapped (else ENOMEM)."""
        start, end = self._page_range(addr, size)
        pos = start
        for v in task.info.vmas:
            if v.end <= pos or v.start >= end:
                continue
            if v.start > pos:
                break
            pos = v.end
        if pos < end:
            raise OutOfMemory(f"{start:#x}-{end:#x} is not fully mapped")
        return start, end

    def _set_locked(self, task: _Task, start: int, end: int, locked: bool) -> None:
        self._split(task, start)
        self._split(task, end)
        vmas = []
        unlocked: list[Int64Array] = []
        for v in task.info.vmas:
            if start <= v.start and v.end <= end and v.locked != locked:
                if not locked:
                    _pages, ptes = task.pt.nonzero(v.start >> PAGE_SHIFT, v.size >> PAGE_SHIFT)
                    unlocked.append(_frame_of(ptes[ptes >= 2]))
                # Locking marks nothing here: mlock's fault-in marks the frames
                # it ends up mapping (a copy on write replaces shared ones).
                v = replace(v, locked=locked)
            vmas.append(v)
        task.info.vmas = vmas
        self._relayout(task)
        if unlocked:
            self._munlock(np.concatenate(unlocked))

    def _munlock(self, frames: Int64Array) -> None:
        """Clear the mlocked mark of frames no locked VMA maps any more.

        The kernel finds the other locked mappings through its reverse map;
        here the (few) locked VMAs of the machine are scanned.
        """
        f = self.frames
        if len(frames) == 0:
            return
        frames = unique(frames)
        frames = frames[(f.kind[frames] != fr.FREE) & ((f.flags[frames] & fr.MLOCKED) != 0)]
        if len(frames) == 0:
            return
        held = np.zeros(len(frames), dtype=np.bool_)
        for task in self._tasks.values():
            for v in task.info.vmas:
                if v.locked:
                    _pages, ptes = task.pt.nonzero(v.start >> PAGE_SHIFT, v.size >> PAGE_SHIFT)
                    held |= np.isin(frames, _frame_of(ptes[ptes >= 2]))
        f.flags[frames[~held]] &= ~np.uint8(fr.MLOCKED)

    # ------------------------------------------------------------------ faults

    def touch(self, pid: int, addr: int, size: int, *, write: bool = False) -> TouchResult:
        start, end = self._page_range(addr, size)
        first, count = start >> PAGE_SHIFT, (end - start) >> PAGE_SHIFT
        task = self._task(pid)
        if count > FAULT_CHUNK_PAGES and self._untouched_anon(task, first, count, write):
            return self._fault_chunks(task, first, count, write)
        pages = np.arange(first, first + count, dtype=np.int64)
        return self.touch_pages(pid, pages, write=write)

    def _untouched_anon(self, task: _Task, first: int, count: int, write: bool) -> bool:
        """Whether pages [first, first+count) lie wholly in anon VMAs (writable, for a
        write), none has a PTE yet, and no reclaim can be needed to fault them in.

        Then only one pass of _fault takes frames (anon, in page order), so faulting
        the range chunk by chunk numbers frames and counts exactly as one call would.
        """
        lay = task.layout
        i = int(np.searchsorted(lay.start, first, side="right")) - 1
        covered, end = first, first + count
        while 0 <= i < len(lay.start) and covered < end and lay.start[i] <= covered < lay.end[i]:
            if lay.kind[i] != _ANON or (write and not lay.writable[i]):
                return False
            covered = int(lay.end[i])
            i += 1
        if covered < end or self.free_pages() - (count if write else 0) < self.wmark_low:
            return False  # a hole (EFAULT) or reclaim: the general path handles them
        return task.pt.empty(first, count)

    def _fault_chunks(self, task: _Task, first: int, count: int, write: bool) -> TouchResult:
        """Fault in an untouched anon range a chunk at a time, so that the fault's
        page-sized temporaries stay small however large the range is."""
        result = TouchResult()
        end = first + count
        try:
            for lo in range(first, end, FAULT_CHUNK_PAGES):
                pages = np.arange(lo, min(lo + FAULT_CHUNK_PAGES, end), dtype=np.int64)
                part = self._fault(task, pages, write, task.layout.find_sorted(pages))
                result.minor += part.minor  # an untouched anon page faults minor only
        finally:
            self._changed()
        return result

    def touch_pages(self, pid: int, pages: Int64Array, *, write: bool = False) -> TouchResult:
        """Touch arbitrary page numbers of one process (a workload's batch of accesses).

        The pages may come in any order and repeat; each is touched once.
        """
        task = self._task(pid)
        pages = unique(np.asarray(pages, dtype=np.int64))
        if len(pages) == 0:
            return TouchResult()
        vi = task.layout.cover_sorted(pages)
        if vi is None:
            outside = task.layout.find(pages) < 0
            raise BadAddress(f"{int(pages[outside][0]) << PAGE_SHIFT:#x} is not mapped")
        if write:
            for i in unique(vi).tolist():
                if task.info.vmas[i].perms[1] != "w":
                    raise BadAddress(f"write to {task.info.vmas[i].start:#x}, mapped without w")
        try:
            return self._fault(task, pages, write, vi)
        finally:
            self._changed()  # an ENOMEM may come after some pages were faulted in

    def _fault(self, task: _Task, pages: Int64Array, write: bool,
               vi: Int64Array | None = None) -> TouchResult:
        """Bring sorted unique pages of one task in (and dirty them for a write).

        ``vi`` is each page's VMA index, if the caller has it already.
        """
        result = TouchResult()
        if vi is None:
            vi = task.layout.find(pages)
        # The PTEs are located once, read, updated in ptes and written back.
        at = task.pt.locate_sorted(pages)
        ptes = task.pt.gather_at(at)
        lowest = int(ptes.min(initial=ZERO_PTE + 1))  # 2 and up: every page maps a frame
        most = 0 if lowest > 0 and not write else _frames_at_most(ptes, write)
        if self._reserve(task, pages, write, result, most):
            at = task.pt.locate_sorted(pages)  # reclaim or the OOM killer ran: read again
            ptes = task.pt.gather_at(at)
            lowest = int(ptes.min(initial=ZERO_PTE + 1))
        new_frames: list[Int64Array] = []
        unlock: list[Int64Array] = []
        n_faults = n_major = 0
        if write or lowest <= 0:
            n_faults, n_major = self._fault_in(task, pages, vi, ptes, write, result,
                                               new_frames, unlock)
        # A read of pages that all map frames (the common access) faults nothing,
        # and changes PTEs only where they were old.
        hits_only = not write and lowest > ZERO_PTE
        if self._access(task.layout, vi, ptes, new_frames, hits_only=hits_only):
            if hits_only or bool((at >= 0).all()):
                task.pt.scatter_at(at, ptes)
            else:
                task.pt.scatter(pages, ptes)  # allocates the leaves that are missing
        if unlock:
            self._munlock(np.concatenate(unlock))

        info = task.info
        result.major += n_major
        result.minor += n_faults - n_major
        info.minflt += n_faults - n_major
        info.majflt += n_major
        info.refaults += result.refaults
        self.counters["pgfault"] += n_faults
        self.counters["pgmajfault"] += n_major
        return result

    def _fault_in(self, task: _Task, pages: Int64Array, vi: Int64Array, ptes: Int64Array,
                  write: bool, result: TouchResult, new_frames: list[Int64Array],
                  unlock: list[Int64Array]) -> tuple[int, int]:
        """Passes 1-4 of a fault, on ptes in place: (faults, major faults) they took."""
        f = self.frames
        lay = task.layout
        vkind = lay.kind[vi]
        vshared = lay.shared[vi]
        faulted = ptes <= 0  # needs a fault now (not present, not the zero page)
        major = np.zeros(len(pages), dtype=np.bool_)

        # 1. Swap entries: swap-cache hits map the cached page, the rest are read in.
        sw = np.flatnonzero(ptes < 0)
        if len(sw):
            slots = -ptes[sw] - 1
            cached = self.swap.frame[slots].copy()
            miss = cached < 0
            if miss.any():
                got = f.allocate(int(miss.sum()), fr.ANON, self.tick)
                # New frames start referenced (as allocate() leaves them), even one
                # that a copy on write replaces at once: it was read.
                f.slot[got] = slots[miss]
                self.swap.frame[slots[miss]] = got
                cached[miss] = got
                major[sw[miss]] = True
                n = len(got)
                self.counters["pswpin"] += n
                self.counters["pgpgin"] += 4 * n
                self.counters["workingset_refault_anon"] += n
                result.refaults += n
                new_frames.append(got)
            _bump(f.mapcount, cached, 1, distinct=True)  # anon: one mapping per mm
            _bump(self.swap.count, slots, -1, distinct=True)
            ptes[sw] = _present(cached)

        # 2. Not-present pages of file and shmem mappings: through the page cache.
        none = ptes == 0
        cache_pages = np.flatnonzero(none & ((vkind == _FILE) | (vkind == _SHMEM)))
        if len(cache_pages):
            got_new = self._fault_cache(task, pages, vi, cache_pages, ptes, major, result)
            new_frames.append(got_new)

        # 3. Not-present anon and hugetlb pages.
        anon_none = np.flatnonzero(none & (vkind == _ANON))
        if len(anon_none):
            if write:
                got = f.allocate(len(anon_none), fr.ANON, self.tick)
                f.flags[got] |= fr.DIRTY
                f.mapcount[got] = 1
                ptes[anon_none] = _present(got)
                new_frames.append(got)
            else:
                ptes[anon_none] = ZERO_PTE
        huge_none = np.flatnonzero(none & (vkind == _HUGETLB))
        if len(huge_none):
            got = f.allocate(len(huge_none), fr.HUGETLB, self.tick)
            f.mapcount[got] = 1
            if write:
                f.flags[got] |= fr.DIRTY
            ptes[huge_none] = _present(got)
            new_frames.append(got)

        # 4. Writes to present pages: dirty them, or copy on write.
        if write:
            self._write_present(vshared, lay.locked[vi], ptes, faulted, new_frames, unlock)

        return int(faulted.sum()), int(major.sum())

    def _access(self, lay: _Layout, vi: Int64Array, ptes: Int64Array,
                new_frames: list[Int64Array], *, hits_only: bool = False) -> bool:
        """Pass 5 of a fault: young PTEs (in ptes); referenced frames stamped with the
        tick; a second reference activates (mlock's own fault-in too); then frames of
        locked VMAs move to the unevictable list.

        ``hits_only``: no fault ran and every PTE maps a frame. Returns whether
        ptes changed (with hits_only, not if every one was young already).
        """
        f = self.frames
        span = lay.span(int(vi[0]), int(vi[-1]))  # the VMAs touched (and any between)
        if hits_only:
            real = None
            changed = not np.bitwise_and.reduce(ptes) & 1  # some PTE was old
            if changed:
                ptes |= 1
            touched = ptes >> 1
            touched -= 1  # _frame_of, with one temporary
        else:
            real = ptes >= 2
            changed = True
            np.bitwise_or(ptes, real, out=ptes)  # young, in place: no masked scatter
            every = np.count_nonzero(real) == len(real)
            touched = _frame_of(ptes) if every else _frame_of(ptes[real])
        if span.page_cache:
            touched = unique(touched)  # a file mapped twice maps one frame twice
        old = np.setdiff1d(touched, np.concatenate(new_frames)) if new_frames else touched
        # New frames are referenced and inactive already (as allocate() leaves them).
        flags = f.flags.take(old)  # take gathers bytes at twice the speed of [old]
        if span.hugetlb:
            accessed = _ACCESSED.take(flags)
            huge = f.kind[old] == fr.HUGETLB  # hugetlb pages are on no LRU: never activated
            accessed[huge] = flags[huge] | fr.REFERENCED
            activated = int(np.count_nonzero((accessed ^ flags) & fr.ACTIVE))
            unchanged = not np.count_nonzero(accessed != flags)
        else:
            activated = int(np.count_nonzero(_ACTIVATES.take(flags)))
            unchanged = not activated and not np.count_nonzero(_CHANGES.take(flags))
            accessed = flags if unchanged else _ACCESSED.take(flags)
        self.counters["pgactivate"] += activated
        if not unchanged:  # frames referenced and active already need no write
            f.flags[old] = accessed
        f.last_access[touched] = self.tick
        if span.locked:
            in_locked = lay.locked[vi]
            lf = _frame_of(ptes[in_locked if real is None else real & in_locked])
            f.flags[lf] |= fr.MLOCKED
            f.flags[lf] &= ~np.uint8(fr.ACTIVE)
        return changed

    def _fault_cache(self, task: _Task, pages: Int64Array, vi: Int64Array,
                     idx: Int64Array, ptes: Int64Array, major: BoolArray,
                     result: TouchResult) -> Int64Array:
        """Map file/shmem pages from their object's cache, reading or creating what is missing."""
        f = self.frames
        lay = task.layout
        oid = lay.oid[vi[idx]]
        index = pages[idx] + lay.base[vi[idx]]
        frames = np.zeros(len(idx), dtype=np.int64)
        fresh: list[Int64Array] = []
        for o in unique(oid).tolist():
            sel = np.flatnonzero(oid == o)
            obj = self._objects[o]
            # One page of the object may be mapped twice in this touch (a file
            # mapped twice): read it once, map it twice.
            uniq, first, inverse = unique_inverse(index[sel])
            entries = obj.table.gather(uniq)
            ufr = entries - 1
            missing = np.flatnonzero(entries <= 0)
            if len(missing):
                kind = fr.FILE if obj.kind == "file" else fr.SHMEM
                got = f.allocate(len(missing), kind, self.tick)
                f.obj[got] = o
                f.index[got] = uniq[missing]
                # New frames start referenced (as allocate() leaves them), even one
                # that a copy on write replaces at once: it was read.
                ufr[missing] = got
                old = entries[missing]
                if obj.kind == "file":
                    read_in = np.ones(len(missing), dtype=np.bool_)
                    n_refault = int((old == SHADOW).sum())
                    self.counters["workingset_refault_file"] += n_refault
                    self.counters["pgpgin"] += 4 * len(missing)
                else:
                    read_in = old <= -2
                    slots = -old[read_in] - 2
                    n_refault = len(slots)
                    if n_refault:
                        _bump(self.swap.count, slots, -1, distinct=True)
                        self.swap.release_unreferenced(slots)
                        self.counters["pswpin"] += n_refault
                        self.counters["pgpgin"] += 4 * n_refault
                        self.counters["workingset_refault_anon"] += n_refault
                result.refaults += n_refault
                obj.table.scatter(uniq[missing], got + 1)
                major[idx[sel[first[missing[read_in]]]]] = True
                fresh.append(got)
            frames[sel] = ufr[inverse]
        _bump(f.mapcount, frames, 1)  # a file mapped twice repeats frames
        ptes[idx] = _present(frames)
        return np.concatenate(fresh) if fresh else np.zeros(0, np.int64)

    def _write_present(self, vshared: BoolArray, vlocked: BoolArray, ptes: Int64Array,
                       faulted: BoolArray, new_frames: list[Int64Array],
                       unlock: list[Int64Array]) -> None:
        """A write to pages now present: dirty them in place, or copy on write."""
        f = self.frames
        zero = np.flatnonzero(ptes == ZERO_PTE)
        real = np.flatnonzero(ptes >= 2)
        frames = _frame_of(ptes[real])
        kind = f.kind[frames]
        slot = f.slot[frames].astype(np.int64)
        in_swap = slot >= 0
        busy_slot = np.zeros(len(real), dtype=np.bool_)
        busy_slot[in_swap] = self.swap.count[slot[in_swap]] > 0
        cow = ((kind == fr.ANON) & ((f.mapcount[frames] > 1) | busy_slot)) | (
            (kind == fr.FILE) & ~vshared[real])
        # Reuse: an exclusive anon page leaves the swap cache (its slot is freed).
        reuse = (kind == fr.ANON) & ~cow & in_swap
        if reuse.any():
            rs = slot[reuse]
            self.swap.frame[rs] = -1
            f.slot[frames[reuse]] = -1
            self.swap.release_unreferenced(rs)
        f.flags[frames[~cow]] |= fr.DIRTY
        copy_at = np.concatenate([real[cow], zero])
        if len(copy_at):
            old = frames[cow]
            got = f.allocate(len(copy_at), fr.ANON, self.tick)
            f.flags[got] |= fr.DIRTY
            f.mapcount[got] = 1
            _bump(f.mapcount, old, -1)
            # Unmapped from a locked VMA, the old page may be munlocked (as
            # munlock_vma_folio does when its rmap is removed): _fault checks
            # once the new PTEs are in.
            unlock.append(old[vlocked[real[cow]]])
            dead = unique(old[(f.kind[old] == fr.ANON) & (f.mapcount[old] == 0)])
            self._free_private(dead)
            ptes[copy_at] = _present(got)
            # A copy-on-write or a write to the zero page is a fault of its
            # own, unless the page was just faulted in by this same access.
            faulted[copy_at] = True
            new_frames.append(got)

    def _frames_needed(self, task: _Task, pages: Int64Array, write: bool) -> tuple[int, Int64Array]:
        """New frames a touch of these pages will take, and the frames it relies on."""
        f = self.frames
        lay = task.layout
        vi = lay.find(pages)
        vkind = lay.kind[vi]
        vshared = lay.shared[vi]
        ptes = task.pt.gather(pages)
        need = 0
        keep: list[Int64Array] = []
        real = ptes >= 2
        frames = _frame_of(ptes[real])
        keep.append(frames)
        if write:
            kind = f.kind[frames]
            slot = f.slot[frames].astype(np.int64)
            busy = np.zeros(len(frames), dtype=np.bool_)
            busy[slot >= 0] = self.swap.count[slot[slot >= 0]] > 0
            need += int((((kind == fr.ANON) & ((f.mapcount[frames] > 1) | busy))
                         | ((kind == fr.FILE) & ~vshared[real])).sum())
            need += int((ptes == ZERO_PTE).sum())
        sw = ptes < 0
        if sw.any():
            slots = -ptes[sw] - 1
            cached = self.swap.frame[slots]
            need += int((cached < 0).sum())
            keep.append(cached[cached >= 0])
            if write:
                mapped_elsewhere = np.zeros(len(slots), dtype=np.bool_)
                hit = cached >= 0
                mapped_elsewhere[hit] = f.mapcount[cached[hit]] >= 1
                need += int((mapped_elsewhere | (self.swap.count[slots] > 1)).sum())
        none = ptes == 0
        need += int((none & (vkind == _HUGETLB)).sum())
        if write:
            need += int((none & (vkind == _ANON)).sum())
            need += int((none & (vkind == _FILE) & ~vshared).sum())
        cache = np.flatnonzero(none & ((vkind == _FILE) | (vkind == _SHMEM)))
        if len(cache):
            oid = lay.oid[vi[cache]]
            index = pages[cache] + lay.base[vi[cache]]
            for o in unique(oid).tolist():
                entries = self._objects[o].table.gather(unique(index[oid == o]))
                need += int((entries <= 0).sum())
                keep.append(entries[entries > 0] - 1)
        return need, np.concatenate(keep)

    def free_pages(self) -> int:
        """Frames neither in use nor held by zram's compressed pool."""
        return self.frames.total - self.frames.used - self._zram_pages()

    def _zram_pages(self) -> int:
        if self.config.swap_kind != "zram" or self.swap.used == 0:
            return 0
        return math.ceil(self.swap.used / self.config.zram_ratio)

    def _reserve(self, task: _Task, pages: Int64Array, write: bool, result: TouchResult,
                 most: int) -> bool:
        """Make room for a fault: global reclaim below the low watermark, then the OOM killer.

        ``most`` bounds the new frames the touch takes. Returns whether
        anything was reclaimed or killed (page tables may have changed).
        """
        if most == 0 or self.free_pages() - most >= self.wmark_low:
            return False
        need, protect = self._frames_needed(task, pages, write)
        if need == 0 or self.free_pages() - need >= self.wmark_low:
            return False
        # The frames this touch relies on are not victims: they are about to be used.
        self._shrink(self.wmark_high + need - self.free_pages(), protect)
        while True:
            need, _protect = self._frames_needed(task, pages, write)
            if need == 0 or self.free_pages() - need >= self.wmark_min:
                return True
            victim = self._oom_victim()
            if victim is None:
                raise OutOfMemory("out of memory and no process to kill")
            self._oom_kill(victim)
            result.oom_killed += (victim.info.pid,)
            if victim is task:
                raise OutOfMemory(f"process {victim.info.pid} was killed by the OOM killer")

    # ------------------------------------------------------------------ global reclaim, OOM

    def _shrink(self, target: int, protect: Int64Array) -> None:
        """kswapd: evict least recently used evictable frames until ``target`` are free."""
        f = self.frames
        total = ReclaimResult()
        scanned_anon = scanned_file = 0
        while target > 0:
            kind = f.kind
            evictable = ((kind == fr.ANON) | (kind == fr.FILE) | (kind == fr.SHMEM)) & (
                (f.flags & fr.MLOCKED) == 0)
            if len(protect):
                evictable[protect] = False
            needs_slot = ((kind == fr.ANON) & (f.slot < 0)) | (kind == fr.SHMEM)
            cand = np.flatnonzero(evictable)
            if len(cand) == 0:
                break
            keys = (f.last_access[cand].astype(np.int64) << 32) | cand
            victims = self._pick_lru(cand, keys, needs_slot[cand], target)
            if len(victims) == 0:
                break
            before = self.free_pages()
            for task in self._tasks.values():
                self._note_peak(task)
            n_anon = self._evict(victims)
            scanned_anon += n_anon
            scanned_file += len(victims) - n_anon
            total.scanned += len(victims)
            # With zram a batch may gain less than it evicted (the pool grows
            # a page every zram_ratio slots), even nothing: go on until the
            # target is met or nothing is left to evict.
            target -= self.free_pages() - before
        if total.scanned:
            self._changed()  # the operation that woke kswapd may yet fail (ENOMEM)
            self.counters["pgscan_kswapd"] += total.scanned
            self.counters["pgsteal_kswapd"] += total.scanned
            self.counters["pgscan_anon"] += scanned_anon
            self.counters["pgsteal_anon"] += scanned_anon
            self.counters["pgscan_file"] += scanned_file
            self.counters["pgsteal_file"] += scanned_file
            self._events.append({"type": "global_reclaim", "tick": self.tick,
                                 "scanned": total.scanned,
                                 "reclaimed": {"anon": scanned_anon, "file": scanned_file}})

    def _pick_lru(self, cand: Int64Array, keys: Int64Array, needs_slot: BoolArray,
                  target: int) -> Int64Array:
        """The oldest ``target`` candidates, skipping swap-backed ones once slots run out."""
        slots_left = self.swap.available
        k = min(len(cand), max(target, 1))
        while True:
            if k < len(cand):
                part = np.argpartition(keys, k - 1)[:k]
            else:
                part = np.arange(len(cand))
            order = part[np.argsort(keys[part], kind="stable")]
            ns = needs_slot[order]
            ok = ~ns | (np.cumsum(ns) <= slots_left)
            chosen = order[ok][:target]
            if len(chosen) >= target or k >= len(cand):
                victims: Int64Array = cand[chosen]
                return victims
            k = min(len(cand), 2 * k)

    def _evict(self, victims: Int64Array) -> int:
        """Unmap victims from every process and free them (anon/shmem to swap).

        Returns how many were swap-backed (anon and shmem), for the counters.
        """
        f = self.frames
        kind = f.kind[victims]
        is_anon, is_shmem = kind == fr.ANON, kind == fr.SHMEM
        # Slots go to the victims that need one in eviction (LRU) order.
        victim_slot = np.where(is_anon, f.slot[victims], -1).astype(np.int64)
        fresh_slot = (is_anon & (victim_slot < 0)) | is_shmem
        victim_slot[fresh_slot] = self.swap.allocate(int(fresh_slot.sum()))
        anon, shmem = victims[is_anon], victims[is_shmem]
        file = victims[kind == fr.FILE]
        newval = np.zeros(f.capacity, dtype=np.int64)
        if len(anon):
            slot = victim_slot[is_anon]
            fresh = fresh_slot[is_anon]
            write = fresh | ((f.flags[anon] & fr.DIRTY) != 0)
            self.counters["pswpout"] += int(write.sum())
            self.counters["pgpgout"] += 4 * int(write.sum())
            self.swap.count[slot] += f.mapcount[anon]
            self.swap.frame[slot] = -1
            newval[anon] = -(slot + 1)
        if len(shmem):
            slots = victim_slot[is_shmem]
            self.swap.count[slots] = 1
            self.counters["pswpout"] += len(shmem)
            self.counters["pgpgout"] += 4 * len(shmem)
            self._set_cache_entries(shmem, -(slots + 2))
        if len(file):
            dirty = int(((f.flags[file] & fr.DIRTY) != 0).sum())
            self.counters["nr_vmscan_write"] += dirty
            self.counters["pgpgout"] += 4 * dirty
            self._set_cache_entries(file, np.full(len(file), SHADOW, dtype=np.int64))
        mask = np.zeros(f.capacity, dtype=np.bool_)
        mask[victims] = True
        data = self._pte_pool.used
        present = data >= 2
        frames = np.where(present, (data >> 1) - 1, 0)
        hit = present & mask[frames]
        data[hit] = newval[frames[hit]]
        f.release(victims)
        if len(anon):
            self.swap.release_unreferenced(-newval[anon] - 1)
        return len(anon) + len(shmem)

    def _set_cache_entries(self, frames: Int64Array, values: Int64Array) -> None:
        objs = self.frames.obj[frames]
        idx = self.frames.index[frames].astype(np.int64)
        for o in unique(objs).tolist():
            sel = objs == o
            self._objects[o].table.scatter(idx[sel], values[sel])

    def _oom_badness(self, task: _Task) -> int | None:
        adj = task.info.oom_score_adj
        if adj == -1000:
            return None
        total = self.config.ram_pages + self.config.swap_slots
        mem = self._memory(task)  # uncached: called mid-operation, between kills
        points = mem.vm_rss + mem.vm_swap + mem.vm_pte_bytes // PAGE_SIZE
        return points + adj * (total // 1000)

    def _oom_victim(self) -> _Task | None:
        best: tuple[int, int] | None = None
        victim = None
        for task in self._tasks.values():
            points = self._oom_badness(task)
            if points is None:
                continue
            key = (points, task.seq)
            if best is None or key > best:
                best, victim = key, task
        return victim

    def _oom_kill(self, task: _Task) -> None:
        mem = self._memory(task)
        self._events.append({"type": "oom_kill", "tick": self.tick, "pid": task.info.pid,
                             "comm": task.info.comm, "rss_kib": mem.vm_rss * 4,
                             "oom_score_adj": task.info.oom_score_adj})
        self.counters["oom_kill"] += 1
        self._exit(task)

    def oom_score(self, pid: int) -> int:
        task = self._task(pid)
        points = self._oom_badness(task)
        if points is None:
            return 0
        total = self.config.ram_pages + self.config.swap_slots
        # C's long division truncates toward zero; Python's // floors. Like
        # proc_oom_score, no clamp: a process with oom_score_adj 1000 and
        # some Rss may show a little over 2000.
        scaled = abs(points) * 1000 // total
        return 1000 + (scaled if points >= 0 else -scaled)

    # ------------------------------------------------------------------ per-process reclaim

    def reclaim(self, pid: int, mode: ReclaimMode) -> ReclaimResult:
        """`echo file|anon|all > /proc/PID/reclaim`: every VMA of the type, whole."""
        if mode not in ("file", "anon", "all"):
            raise InvalidArgument(f"reclaim mode {mode!r}")
        task = self._task(pid)
        result = ReclaimResult()
        vmas = [v for v in task.info.vmas
                if mode == "all" or (mode == "file") == v.has_file]
        if not vmas:
            return result  # nothing of the type: nothing changes, caches stay valid
        self._note_peak(task)
        for vma in vmas:
            self._reclaim_vma(task, vma, vma.start, vma.end, "reclaim", result)
        self._after_swapout(task)
        self._changed()
        return result

    def reclaim_range(self, pid: int, start: int, end: int) -> ReclaimResult:
        """`echo ADDR SIZE > /proc/PID/reclaim`: every page of [start, end), any type."""
        task = self._task(pid)
        if start % PAGE_SIZE or end % PAGE_SIZE or end < start:
            raise InvalidArgument(f"bad reclaim range {start:#x}-{end:#x}")
        self._note_peak(task)
        result = ReclaimResult()
        for vma in list(task.info.vmas):
            lo, hi = max(vma.start, start), min(vma.end, end)
            if lo < hi:
                self._reclaim_vma(task, vma, lo, hi, "reclaim", result)
        self._after_swapout(task)
        self._changed()
        return result

    def madvise(self, pid: int, addr: int, size: int, advice: str) -> ReclaimResult:
        """MADV_COLD / MADV_PAGEOUT over [addr, addr+size)."""
        task = self._task(pid)
        if advice not in ("cold", "pageout"):
            raise InvalidArgument(f"unknown advice {advice!r}")
        start, end = self._page_range(addr, size)
        result = ReclaimResult()
        if start == end:
            return result
        hit = [v for v in task.info.vmas if v.start < end and start < v.end]
        for v in hit:
            if v.locked or v.kind == "hugetlb":
                raise InvalidArgument(f"madvise on a {'locked' if v.locked else 'hugetlb'} VMA")
        covered = sum(min(v.end, end) - max(v.start, start) for v in hit)
        self._note_peak(task)
        for v in hit:
            self._reclaim_vma(task, v, max(v.start, start), min(v.end, end), advice, result)
        self._after_swapout(task)
        self._changed()
        if covered < end - start:
            raise OutOfMemory(f"{start:#x}-{end:#x} has unmapped holes")
        return result

    def _after_swapout(self, task: _Task) -> None:
        """zram keeps what it swaps in RAM: below the low watermark, kswapd wakes."""
        if self.config.swap_kind != "zram" or self.free_pages() >= self.wmark_low:
            return
        self._changed()  # the caller's swap-outs, should what follows end in ENOMEM
        self._shrink(self.wmark_high - self.free_pages(), np.zeros(0, dtype=np.int64))
        while self.free_pages() < self.wmark_min:
            victim = self._oom_victim()
            if victim is None:
                raise OutOfMemory("out of memory and no process to kill")
            self._oom_kill(victim)
            if victim is task:
                raise OutOfMemory(f"process {victim.info.pid} was killed by the OOM killer")

    def _reclaim_vma(self, task: _Task, vma: Vma, start: int, end: int, how: str,
                     result: ReclaimResult) -> None:
        first, count = start >> PAGE_SHIFT, (end - start) >> PAGE_SHIFT
        window = task.pt.window(first, count)
        if window is not None:
            # Most of the range has leaves: whole leaves in, whole leaves out.
            ptes: Any = window.entries
        else:
            pages, ptes = task.pt.nonzero(first, count)
        present = ptes >= 2
        n_present = int(np.count_nonzero(present))
        if vma.kind == "hugetlb":
            result.skipped["hugetlb"] += n_present
            return
        if n_present == 0:
            return
        result.scanned += n_present
        # A fully resident range (the usual case) is worked on by slices.
        at: slice | Int64Array = slice(None) if n_present == len(ptes) else np.flatnonzero(present)
        frames = np.right_shift(ptes[at], 1)
        np.subtract(frames, 1, out=frames)  # _frame_of, in the entries' dtype
        if how == "cold" or not self._reclaim_private_anon(at, frames, ptes, result):
            if isinstance(at, slice):
                at = np.arange(len(ptes))
            self._reclaim_pages(at, frames.astype(np.int64), ptes, how, result)
        if window is not None:
            window.store()
        else:
            task.pt.scatter(pages, ptes)

    def _reclaim_private_anon(self, at: slice | Int64Array, frames: Any, ptes: Any,
                              result: ReclaimResult) -> bool:
        """The common case at a fraction of the cost, or False to leave it to _reclaim_pages.

        When every page is anon, mapped here only, unlocked and not in the
        swap cache, and swap has a slot for each, every page is written out
        and freed: no per-page choice is left, so no per-page selection is
        made. The frames of a range faulted in together are usually one run,
        and then the checks are reductions over slices.
        """
        f, n = self.frames, len(frames)
        if n > self.swap.available:
            return False
        run = fr.as_run(frames)
        kind, mapcount = f.kind[run], f.mapcount[run]
        if not (kind.min() == kind.max() == fr.ANON and mapcount.min() == mapcount.max() == 1
                and f.slot[run].max() < 0
                and not np.bitwise_or.reduce(f.flags[run]) & fr.MLOCKED):
            return False
        slots = self.swap.allocate(n, count=1)
        if isinstance(at, slice):
            np.subtract(-1, slots, out=ptes[at], casting="unsafe")  # swap PTEs, in one pass
        else:
            ptes[at] = -1 - slots
        self.counters["pswpout"] += n
        self.counters["pgpgout"] += 4 * n
        f.release(frames, run)
        result.reclaimed["anon"] += n
        return True

    def _reclaim_pages(self, at: Int64Array, frames: Int64Array, ptes: Any, how: str,
                       result: ReclaimResult) -> None:
        """Reclaim (or deactivate, for "cold") the present pages ``ptes[at]``, one by one."""
        f = self.frames
        shared = f.mapcount[frames] > 1
        if how != "reclaim" or self.config.dialect == "caf":
            result.skipped["shared"] += int(shared.sum())
            at, frames = at[~shared], frames[~shared]
        locked = (f.flags[frames] & fr.MLOCKED) != 0
        result.skipped["mlocked"] += int(locked.sum())
        at, frames = at[~locked], frames[~locked]
        if how != "reclaim":
            ptes[at] &= ~1
            f.flags[frames] &= ~np.uint8(fr.REFERENCED)
        if how == "cold":
            active = frames[(f.flags[frames] & fr.ACTIVE) != 0]
            f.flags[active] &= ~np.uint8(fr.ACTIVE)
            self.counters["pgdeactivate"] += len(active)
            return
        kind = f.kind[frames]
        for code, reclaim in ((fr.ANON, self._reclaim_anon), (fr.SHMEM, self._reclaim_shmem),
                              (fr.FILE, self._reclaim_file)):
            sel = kind == code
            if sel.any():
                reclaim(at[sel], frames[sel], ptes, result)

    def _reclaim_anon(self, at: Int64Array, frames: Int64Array, ptes: Int64Array,
                      result: ReclaimResult) -> None:
        f, swap = self.frames, self.swap
        slot = f.slot[frames].astype(np.int64)
        fresh = np.flatnonzero(slot < 0)
        # Slots go to pages in address order; pages left without one stay, activated.
        n_slots = min(len(fresh), swap.available)
        given, kept = fresh[:n_slots], fresh[n_slots:]
        slot[given] = swap.allocate(n_slots)
        # Written to swap: every page that just got a slot, and every dirty
        # one already in the swap cache. A clean swap-cache page is just unmapped.
        written = (f.flags[frames] & fr.DIRTY) != 0
        written[given] = True
        if len(kept):
            result.skipped["no_swap"] += len(kept)
            f.flags[frames[kept]] |= fr.ACTIVE
            self.counters["pgactivate"] += len(kept)
            go = np.ones(len(at), dtype=np.bool_)
            go[kept] = False
            at, frames, slot, written = at[go], frames[go], slot[go], written[go]
        n_write = int(written.sum())
        self.counters["pswpout"] += n_write
        self.counters["pgpgout"] += 4 * n_write
        ptes[at] = -(slot + 1)
        _bump(swap.count, slot, 1, distinct=True)  # within one VMA
        # Under v2 a page others still map stays for them, clean, in the swap
        # cache; the rest are freed (a page that was in the swap cache leaves it).
        stays = f.mapcount[frames] > 1
        if stays.any():
            kept_frames, kept_slots = frames[stays], slot[stays]
            f.mapcount[kept_frames] -= 1
            f.flags[kept_frames] &= ~np.uint8(fr.DIRTY)
            f.slot[kept_frames] = kept_slots
            swap.frame[kept_slots] = kept_frames
            gone, gone_slots = frames[~stays], slot[~stays]
        else:
            gone, gone_slots = frames, slot
        swap.frame[gone_slots] = -1
        f.release(gone)
        result.reclaimed["anon"] += len(at)

    def _reclaim_shmem(self, at: Int64Array, frames: Int64Array, ptes: Int64Array,
                       result: ReclaimResult) -> None:
        f = self.frames
        ptes[at] = 0
        _bump(f.mapcount, frames, -1, distinct=True)  # within one VMA
        result.reclaimed["shmem"] += len(at)
        idle = unique(frames[f.mapcount[frames] == 0])
        n = min(len(idle), self.swap.available)
        if n:
            out = idle[:n]
            slots = self.swap.allocate(n, count=1)
            self.counters["pswpout"] += n
            self.counters["pgpgout"] += 4 * n
            self._set_cache_entries(out, -(slots + 2))
            f.release(out)

    def _reclaim_file(self, at: Int64Array, frames: Int64Array, ptes: Int64Array,
                      result: ReclaimResult) -> None:
        f = self.frames
        ptes[at] = 0
        _bump(f.mapcount, frames, -1, distinct=True)  # within one VMA
        dirty = (f.flags[frames] & fr.DIRTY) != 0
        result.skipped["dirty"] += int(dirty.sum())
        result.reclaimed["file"] += int((~dirty).sum())
        clean_idle = unique(frames[~dirty & (f.mapcount[frames] == 0)])
        if len(clean_idle):
            self._set_cache_entries(clean_idle, np.full(len(clean_idle), SHADOW, np.int64))
            f.release(clean_idle)

    # ------------------------------------------------------------------ other controls

    def clear_refs(self, pid: int, mode: int) -> None:
        task = self._task(pid)
        if not 1 <= mode <= 5:
            raise InvalidArgument(f"clear_refs {mode} is not in 1..5")
        info = task.info
        if mode == 5:
            info.hiwater_rss_pages = self._rss_pages(task)
        elif mode in (1, 2, 3):
            for v in info.vmas:
                if (mode == 2 and v.has_file) or (mode == 3 and not v.has_file):
                    continue
                pages, ptes = task.pt.nonzero(v.start >> PAGE_SHIFT, v.size >> PAGE_SHIFT)
                real = ptes >= 2
                if real.any():
                    self.frames.flags[_frame_of(ptes[real])] &= ~np.uint8(fr.REFERENCED)
                    ptes[real] &= ~1
                    task.pt.scatter(pages, ptes)
        self._changed()

    def sync(self) -> int:
        """Write back every dirty file page; returns how many."""
        f = self.frames
        dirty = np.flatnonzero((f.kind == fr.FILE) & ((f.flags & fr.DIRTY) != 0))
        self._write_back(dirty)
        self._changed()
        return len(dirty)

    def _write_back(self, frames: Int64Array) -> None:
        self.frames.flags[frames] &= ~np.uint8(fr.DIRTY)
        self.counters["pgpgout"] += 4 * len(frames)
        self.counters["nr_written"] += len(frames)

    def drop_caches(self, mode: int) -> None:
        if mode not in (1, 2, 3):
            raise InvalidArgument(f"drop_caches {mode} is not 1, 2 or 3")
        f = self.frames
        if mode & 1:
            idle = np.flatnonzero((f.kind == fr.FILE) & (f.mapcount == 0)
                                  & ((f.flags & fr.DIRTY) == 0))
            if len(idle):
                self._set_cache_entries(idle, np.zeros(len(idle), dtype=np.int64))
                f.release(idle)
            self.counters["drop_pagecache"] += 1
        if mode & 2:
            self.counters["drop_slab"] += 1
        self._changed()

    def advance(self, ticks: int = 1) -> None:
        """Let virtual time pass; the flusher writes back expired dirty pages."""
        if ticks < 0:
            raise InvalidArgument("time does not run backwards")
        period = self.config.dirty_writeback_ticks
        last_flush = (self.tick + ticks) // period * period
        self.tick += ticks
        if last_flush > self.tick - ticks and last_flush > 0:
            # Nothing is accessed while time passes, so the last flusher run
            # in the span does all that the earlier ones would have done.
            f = self.frames
            limit = last_flush - self.config.dirty_expire_ticks
            expired = np.flatnonzero((f.kind == fr.FILE) & ((f.flags & fr.DIRTY) != 0)
                                     & (f.last_access.astype(np.int64) <= limit))
            self._write_back(expired)
        self._changed()

    # ------------------------------------------------------------------ views

    def _note_peak(self, task: _Task) -> None:
        """Record Rss in VmHWM before an operation that may lower it.

        Rss only falls through unmapping (munmap, reclaim, eviction), so
        noting it there keeps VmHWM the true peak without counting on every
        fault (the kernel does the same in update_hiwater_rss).
        """
        info = task.info
        info.hiwater_rss_pages = max(info.hiwater_rss_pages, self._rss_pages(task))

    def _rss_pages(self, task: _Task) -> int:
        if not (task.layout.kind == _HUGETLB).any():
            # Every present PTE with a real frame counts: one pass over the
            # leaves, no page numbers, no frame look-ups.
            if not task.pt.leaves:
                return 0
            rows = fr.as_run(np.fromiter(task.pt.leaves.values(), dtype=np.int64))
            return int(np.count_nonzero(self._pte_pool.data[rows] >= 2))
        _pages, ptes = task.pt.items()
        frames = _frame_of(ptes[ptes >= 2])
        return int((self.frames.kind[frames] != fr.HUGETLB).sum())

    @staticmethod
    def _vm_pages(info: Process) -> int:
        return sum(v.size for v in info.vmas) >> PAGE_SHIFT

    def smaps(self, pid: int) -> SmapsCounts:
        """Per-VMA smaps figures, in read-only arrays: they are shared with every caller
        until the state changes, and fields that come out equal are one array."""
        cached = self._views.get(("smaps", pid))
        if cached is None:
            cached = self._views[("smaps", pid)] = self._smaps(self._task(pid))
        return cached

    def _smaps(self, task: _Task) -> SmapsCounts:
        lay = task.layout
        # Fields often come out equal (Rss = Private_Dirty = Anonymous in an
        # anon process): equal fields share one array, and zero fields the
        # layout's zeros, so a process of many VMAs allocates a few rows, not 17.
        sums = dict.fromkeys(SmapsCounts.FIELDS, lay.zeros)
        leaves, block = task.pt.leaf_block()
        ptes = block.ravel()
        at = np.flatnonzero(ptes >= 2)  # the zero page (1) counts in nothing
        if len(at):
            self._sum_frame_fields(sums, _Runs.of(lay.start, _pages_at(leaves, at)), ptes[at])
        if self.swap.used and int(ptes.min(initial=0)) < 0:  # swap entries need slots in use
            at = np.flatnonzero(ptes < 0)
            self._sum_swap_fields(sums, _Runs.of(lay.start, _pages_at(leaves, at)),
                                  ptes[at].astype(np.int64))
        if self.swap.used and (lay.kind == _SHMEM).any():  # shmem swaps only to slots in use
            sums["swap"] = sums["swap"].copy()  # it may be shared; this adds to it
            self._add_shmem_swap_bytes(sums["swap"], lay)
        if lay.locked.any():
            sums["locked"] = sums["pss"] if lay.locked.all() else sums["pss"] * lay.locked
        for values in {id(values): values for values in sums.values()}.values():
            values.flags.writeable = False  # shared between fields and with every caller
        return SmapsCounts(**sums)

    def _sum_frame_fields(self, sums: dict[str, Int64Array], runs: _Runs,
                          ptes: npt.NDArray[np.int32]) -> None:
        """Set the fields that count PTEs of real frames.

        Each page gets a class code (kind, dirty, shared, young); a field
        sums the pages of some classes. A field that takes none of the
        classes present stays zero, one that takes all of them is its
        weight's plain per-VMA total, and fields that take the same classes
        share their array: usually few sums are left to do.
        """
        f = self.frames
        frames = ptes.astype(np.intp)  # as _frame_of, in place
        frames >>= 1
        frames -= 1
        mapcount = f.mapcount[frames]
        # Bit by bit in uint8, in place: a look-up table indexed by four
        # arrays costs more than these few passes.
        code = f.flags[frames] & fr.DIRTY
        code *= _DIRTY_CLASS
        code |= f.kind[frames]
        code |= (ptes & 1).astype(np.uint8) * np.uint8(_YOUNG_CLASS)
        code |= (mapcount >= 2).view(np.uint8) * np.uint8(_SHARED_CLASS)
        present = sum(1 << c for c in np.flatnonzero(np.bincount(code)).tolist())
        # With no page mapped twice every page's Pss is a whole page: a
        # count, scaled, with no per-page division.
        pss = _PAGE_PSS // np.maximum(mapcount, 1) if present & _SHARED_BITS else None
        done: dict[tuple[int, bool], Int64Array] = {}
        for name, weighted, classes, bits in _SMAPS_FRAME_CLASSES:
            taken = bits & present
            if not taken:
                continue
            key = (taken, weighted)
            if key not in done:
                counted = done.get((taken, False)) if weighted and pss is None else None
                if counted is not None:
                    done[key] = counted << PSS_SHIFT  # whole pages: the bytes, in fixed point
                else:
                    mask = None if taken == present else classes[code]
                    done[key] = _weighted_sum(runs, mask, pss if weighted else None,
                                              _PAGE_PSS if weighted else PAGE_SIZE)
            sums[name] = done[key]

    def _sum_swap_fields(self, sums: dict[str, Int64Array], runs: _Runs,
                         ptes: Int64Array) -> None:
        """Set Swap and SwapPss from the process's swap entries."""
        sums["swap"] = runs.per_vma(None, PAGE_SIZE)
        users = self.swap.count[-ptes - 1]
        if int(users.max()) <= 1:
            sums["swap_pss"] = runs.per_vma(None, _PAGE_PSS)
        else:
            sums["swap_pss"] = runs.per_vma(_PAGE_PSS // np.maximum(users, 1), 1)

    def _add_shmem_swap_bytes(self, swap: Int64Array, lay: _Layout) -> None:
        """Add to each shmem VMA's Swap its object's swapped pages within its range."""
        shmem = np.flatnonzero(lay.kind == _SHMEM)
        # One pass per object, not per VMA: the VMAs of an object count their
        # ranges in its sorted swapped indices at once.
        for oid in unique(lay.oid[shmem]).tolist():
            idx, entries = self._objects[oid].table.items()
            swapped = idx[entries <= -2]
            vmas = shmem[lay.oid[shmem] == oid]
            first, end = lay.start[vmas] + lay.base[vmas], lay.end[vmas] + lay.base[vmas]
            counts = np.searchsorted(swapped, end) - np.searchsorted(swapped, first)
            swap[vmas] += counts * PAGE_SIZE

    def memory(self, pid: int) -> ProcessMemory:
        cached = self._views.get(("memory", pid))
        if cached is None:
            cached = self._views[("memory", pid)] = self._memory(self._task(pid))
        return cached

    def _memory(self, task: _Task) -> ProcessMemory:
        info = task.info
        f = self.frames
        _leaves, block = task.pt.leaf_block()  # no page numbers needed
        ptes = block.ravel()
        frames = _frame_of(ptes[ptes >= 2].astype(np.int64))
        kind = f.kind[frames]
        rss_anon = int((kind == fr.ANON).sum())
        rss_file = int((kind == fr.FILE).sum())
        rss_shmem = int((kind == fr.SHMEM).sum())
        rss = rss_anon + rss_file + rss_shmem
        lay = task.layout
        size = lay.end - lay.start
        exec_vm = lay.executable & ~lay.writable & ~lay.stack

        def pages_where(mask: BoolArray) -> int:
            return int(size[mask].sum())

        vm_size = int(size.sum())
        vm_lck = pages_where(lay.locked)
        data = pages_where(lay.writable & ~lay.shared & ~lay.stack)
        stack = pages_where(lay.stack)
        text = pages_where(exec_vm & lay.text)
        exec_pages = pages_where(exec_vm)
        return ProcessMemory(
            vm_peak=max(info.hiwater_vm_pages, vm_size), vm_size=vm_size, vm_lck=vm_lck,
            vm_hwm=max(info.hiwater_rss_pages, rss), vm_rss=rss, rss_anon=rss_anon,
            rss_file=rss_file, rss_shmem=rss_shmem, vm_data=data, vm_stk=stack,
            vm_exe=min(text, exec_pages), vm_lib=exec_pages - min(text, exec_pages),
            vm_pte_bytes=len(task.pt.leaves) * PAGE_SIZE, vm_swap=int((ptes < 0).sum()),
            hugetlb=int((kind == fr.HUGETLB).sum()), text=text)

    def pagemap(self, pid: int, first_page: int, count: int, *,
                privileged: bool) -> UInt64Array:
        """Entries of /proc/PID/pagemap for pages [first_page, first_page+count)."""
        task = self._task(pid)
        f = self.frames
        out = np.zeros(count, dtype=np.uint64)
        if count <= 0:
            return out
        ptes = task.pt.get(first_page, count)
        real = np.flatnonzero(ptes >= 2)
        if len(real):
            frames = _frame_of(ptes[real])
            value = np.full(len(real), 1 << 63, dtype=np.uint64)
            if privileged:
                value |= frames.astype(np.uint64)
            value[f.mapcount[frames] == 1] |= np.uint64(1 << 56)
            value[f.kind[frames] != fr.ANON] |= np.uint64(1 << 61)
            out[real] = value
        zero = ptes == ZERO_PTE
        out[zero] = np.uint64(1 << 63)
        sw = np.flatnonzero(ptes < 0)
        if len(sw):
            value = np.full(len(sw), 1 << 62, dtype=np.uint64)
            if privileged:
                value |= ((-ptes[sw] - 1).astype(np.uint64) << np.uint64(5))
            out[sw] = value
        return out

    def swap_used_pages(self) -> int:
        return self.swap.used

    def meminfo(self) -> MemInfo:
        f = self.frames
        kind, flags, mc = f.kind, f.flags, f.mapcount
        unevictable = (flags & fr.MLOCKED) != 0
        active = (flags & fr.ACTIVE) != 0
        swap_backed = ((kind == fr.ANON) | (kind == fr.SHMEM)) & ~unevictable
        file_lru = (kind == fr.FILE) & ~unevictable

        def count(mask: Any) -> int:
            return int(np.count_nonzero(mask))

        active_file = count(file_lru & active)
        inactive_file = count(file_lru & ~active)
        free = self.free_pages()
        pagecache = active_file + inactive_file
        available = free - self.wmark_high + pagecache - min(pagecache // 2, self.wmark_low)
        committed = 0
        for task in self._tasks.values():
            for v in task.info.vmas:
                if (v.perms[1] == "w" and not v.shared) or v.kind == "shmem":
                    committed += v.size >> PAGE_SHIFT
        return MemInfo(
            total=f.total, free=free, available=max(available, 0),
            cached=count((kind == fr.FILE) | (kind == fr.SHMEM)),
            swap_cached=count((kind == fr.ANON) & (f.slot >= 0)),
            active_anon=count(swap_backed & active), inactive_anon=count(swap_backed & ~active),
            active_file=active_file, inactive_file=inactive_file,
            unevictable=count(unevictable), mlocked=count(unevictable),
            swap_total=self.swap.total, swap_free=self.swap.available,
            dirty=count((kind == fr.FILE) & ((flags & fr.DIRTY) != 0)), writeback=0,
            anon_pages=count((kind == fr.ANON) & (mc > 0)),
            mapped=count(((kind == fr.FILE) | (kind == fr.SHMEM)) & (mc > 0)),
            shmem=count(kind == fr.SHMEM), page_tables=self._pte_pool.rows_in_use,
            hugetlb=count(kind == fr.HUGETLB), zram=self._zram_pages(), committed=committed,
            wmark_min=self.wmark_min, wmark_low=self.wmark_low, wmark_high=self.wmark_high)

    def vmstat(self) -> dict[str, int]:
        m = self.meminfo()
        gauges = {
            "nr_free_pages": m.free,
            "nr_inactive_anon": m.inactive_anon, "nr_active_anon": m.active_anon,
            "nr_inactive_file": m.inactive_file, "nr_active_file": m.active_file,
            "nr_unevictable": m.unevictable, "nr_anon_pages": m.anon_pages,
            "nr_mapped": m.mapped, "nr_file_pages": m.cached + m.swap_cached,
            "nr_dirty": m.dirty, "nr_writeback": m.writeback, "nr_shmem": m.shmem,
            "nr_swapcached": m.swap_cached, "nr_mlock": m.mlocked,
            "nr_page_table_pages": m.page_tables, "nr_zspages": m.zram,
        }
        return gauges | self.counters

    def check_invariants(self) -> None:
        """Assert the engine's internal bookkeeping agrees with itself (for tests)."""
        f, swap = self.frames, self.swap
        mapcount = np.zeros(f.capacity, dtype=np.int64)
        swapcount = np.zeros(len(swap.count), dtype=np.int64)
        for task in self._tasks.values():
            pages, ptes = task.pt.items()
            assert (task.layout.find(pages) >= 0).all(), "a PTE outside every VMA"
            real = ptes >= 2
            np.add.at(mapcount, _frame_of(ptes[real]), 1)
            np.add.at(swapcount, -ptes[ptes < 0] - 1, 1)
        referenced = mapcount > 0
        for obj in self._objects.values():
            idx, entries = obj.table.items()
            cached = entries[entries > 0] - 1
            assert (f.obj[cached] == obj.oid).all() and (f.index[cached] == idx[entries > 0]).all()
            referenced[cached] = True
            np.add.at(swapcount, -entries[entries <= -2] - 2, 1)
        in_cache = np.flatnonzero(f.slot >= 0)
        referenced[in_cache] = True
        assert (swap.frame[f.slot[in_cache]] == in_cache).all(), "swap cache back-links"
        assert (mapcount == f.mapcount).all(), "mapcount drifted"
        in_use = f.kind != fr.FREE
        assert (in_use == referenced).all(), "a frame leaked or is referenced while free"
        assert int(in_use.sum()) == f.used
        assert (swapcount == swap.count).all(), "swap count drifted"
        live = swap.live
        assert ((swap.count > 0) | (swap.frame >= 0) <= live).all(), "a free slot is used"
        assert int(live.sum()) == swap.used
        assert not (live & (swap.count == 0) & (swap.frame < 0)).any(), "a slot leaked"
        assert self.free_pages() >= 0

    def digest(self) -> str:
        """A hash of the whole state: equal digests, equal machines."""
        h = hashlib.sha256()
        f, swap = self.frames, self.swap
        for arr in (f.kind, f.flags, f.mapcount, f.last_access, f.obj, f.index, f.slot,
                    swap.count, swap.frame, swap.live):
            h.update(arr.tobytes())
        h.update(repr((self.tick, self.config, sorted(self.counters.items()))).encode())
        for pid in sorted(self._tasks):
            task = self._tasks[pid]
            # VmHWM is noted lazily (see _note_peak): hash what status shows.
            info = replace(task.info, vmas=[], hiwater_rss_pages=self.memory(pid).vm_hwm)
            h.update(repr((info, task.info.vmas)).encode())
            pages, ptes = task.pt.items()
            h.update(pages.tobytes())
            h.update(ptes.tobytes())
        for oid in sorted(self._objects):
            obj = self._objects[oid]
            idx, entries = obj.table.items()
            h.update(repr((oid, obj.kind, obj.path, obj.vma_refs)).encode())
            h.update(idx.tobytes())
            h.update(entries.tobytes())
        return h.hexdigest()

    def memory_bytes(self) -> int:
        """Bytes of numpy state the engine holds (for the memory benchmark)."""
        return (self.frames.nbytes() + self.swap.nbytes() + self._pte_pool.data.nbytes
                + self._cache_pool.data.nbytes)


_ANON, _FILE, _SHMEM, _HUGETLB = (fr.ANON, fr.FILE, fr.SHMEM, fr.HUGETLB)
_KIND_CODE = {"anon": _ANON, "file": _FILE, "shmem": _SHMEM, "hugetlb": _HUGETLB}


_FLAGS = np.arange(256, dtype=np.uint8)  # every value of a frame's flags


def _accessed_flags() -> npt.NDArray[np.uint8]:
    """Frame flags after an access, indexed by the flags before: referenced, and
    active too if it was referenced, inactive and not mlocked (pgactivate)."""
    second = (_FLAGS & (fr.REFERENCED | fr.ACTIVE | fr.MLOCKED)) == fr.REFERENCED
    out: npt.NDArray[np.uint8] = _FLAGS | fr.REFERENCED | (second.astype(np.uint8) * fr.ACTIVE)
    return out


_ACCESSED = _accessed_flags()
# Also indexed by the flags before an access: whether it activates the frame, and
# whether it changes the flags at all (one that is referenced and active stays so).
_ACTIVATES = (_ACCESSED & ~_FLAGS & fr.ACTIVE) != 0
_CHANGES = _ACCESSED != _FLAGS

_EVENT_COUNTERS = (
    "pgpgin", "pgpgout", "pswpin", "pswpout", "pgactivate", "pgdeactivate", "pgfault",
    "pgmajfault", "pgscan_kswapd", "pgsteal_kswapd", "pgscan_anon", "pgscan_file",
    "pgsteal_anon", "pgsteal_file", "workingset_refault_anon", "workingset_refault_file",
    "nr_vmscan_write", "nr_written", "oom_kill", "drop_pagecache", "drop_slab", "processes",
)
