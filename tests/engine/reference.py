"""A slow, obviously correct model of the engine, written from docs/model.md.

Everything is a dict or a small object per page, and every figure is
recomputed from scratch by walking all of it: no numpy, no caches, no
cleverness. It exists to be compared against ``fakeproc.engine.Machine``
(tests/engine/test_model_vs_reference.py) on small machines, so its loops
over every page of every process are fine.

Where docs/model.md is silent, the choice made here is marked ``CHOICE:``;
those are the places where a disagreement with the engine is a question for
the spec, not necessarily a bug on either side.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fakeproc.engine.types import (
    PAGE_SIZE,
    PSS_SHIFT,
    MachineConfig,
    MemInfo,
    Process,
    ProcessMemory,
    ReclaimResult,
    SmapsCounts,
    TouchResult,
    UInt64Array,
    Vma,
)
from fakeproc.errors import (
    AlreadyExists,
    BadAddress,
    InvalidArgument,
    NoSuchProcess,
    OutOfMemory,
)

PID_MAX = 4_194_304
ONE_PAGE_PSS = PAGE_SIZE << PSS_SHIFT
LEAF_PAGES = 512  # PTEs per page-table page
ADDR_LIMIT = 1 << 47  # x86-64 TASK_SIZE, rounded
HUGE_PAGE = 2 << 20

# pagemap bits (kernel.md D.7)
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_FILE = 1 << 61
PM_EXCLUSIVE = 1 << 56
PM_SWAP_OFFSET_SHIFT = 5


@dataclass
class Frame:
    kind: str  # anon, file, shmem, hugetlb
    last_tick: int
    dirty: bool = False
    referenced: bool = True  # new frames start inactive and referenced
    active: bool = False
    obj: int = -1  # file or shmem object whose cache holds it
    index: int = 0  # page index in that object
    slot: int = -1  # swap slot while in the swap cache


@dataclass
class Pte:
    """A non-none page table entry: a frame (or the zero page, frame -1) or a swap slot."""

    frame: int = -1
    zero: bool = False
    slot: int = -1
    young: bool = False

    @property
    def present(self) -> bool:
        return self.slot < 0


@dataclass
class Obj:
    """A simulated file or shmem object: its page cache and, for shmem, its swapped pages."""

    kind: str
    cache: dict[int, int] = field(default_factory=dict)  # page index -> frame
    swapped: dict[int, int] = field(default_factory=dict)  # page index -> slot (shmem)
    shadows: set[int] = field(default_factory=set)  # evicted indices (file)


@dataclass
class Proc:
    info: Process
    order: int  # creation order, for OOM ties
    ptes: dict[int, Pte] = field(default_factory=dict)  # virtual page -> entry
    leaves: set[int] = field(default_factory=set)  # page-table pages ever filled
    hiwater_rss: int = 0
    hiwater_vm: int = 0


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def watermarks(ram_pages: int) -> tuple[int, int, int]:
    """(min, low, high) in pages, as docs/model.md gives mm/page_alloc.c's formulas."""
    ram_kib = ram_pages * 4
    min_free_kbytes = min(max(int(math.sqrt(ram_kib * 16)), 128), 262144)
    wmin = min_free_kbytes // 4
    delta = max(wmin // 4, ram_pages * 10 // 10000)
    return wmin, wmin + delta, wmin + 2 * delta


class RefMachine:
    """The reference: the engine's operations and views over plain dicts."""

    # docs/model.md: global reclaim also runs after a swap-out into zram. A test
    # comparing against an engine with that bug (reported) may switch it off.
    reclaim_after_zram_swapout = True

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.tick = 0
        self.frames: dict[int, Frame] = {}
        self._freed_frames: list[int] = []  # a stack: last freed, first reused
        self._next_frame = 0
        self.slot_refs: dict[int, int] = {}  # slot -> swap PTEs + shmem entries
        self.slot_cache: dict[int, int] = {}  # slot -> frame holding it in the swap cache
        self.objs: dict[int, Obj] = {}
        self.files: dict[str, int] = {}  # path -> object id
        self._next_obj = 0
        self.procs: dict[int, Proc] = {}
        self._order = 0
        self.counters: dict[str, int] = dict.fromkeys(
            ("pswpin", "pswpout", "pgfault", "pgmajfault", "pgactivate", "pgdeactivate",
             "pgscan_kswapd", "pgsteal_kswapd", "pgscan_anon", "pgscan_file",
             "pgsteal_anon", "pgsteal_file", "workingset_refault_anon",
             "workingset_refault_file", "nr_vmscan_write", "oom_kill"), 0)
        self.events: list[dict[str, Any]] = []
        self.wmin, self.wlow, self.whigh = watermarks(config.ram_pages)
        self.allocations = 0  # frames ever handed out
        self.unbounded = False  # set on the scratch copy that counts a touch's frames

    # ------------------------------------------------------------------ frames and slots

    def zram_pages(self) -> int:
        if self.config.swap_kind != "zram":
            return 0
        return math.ceil(self.slots_used() / self.config.zram_ratio)

    def free_pages(self) -> int:
        return self.config.ram_pages - len(self.frames) - self.zram_pages()

    def _alloc_frame(self, kind: str) -> int:
        assert self.unbounded or self.free_pages() > 0, "reference bug: allocating past RAM"
        self.allocations += 1
        if self._freed_frames:
            number = self._freed_frames.pop()
        else:
            number = self._next_frame
            self._next_frame += 1
        self.frames[number] = Frame(kind=kind, last_tick=self.tick)
        return number

    def _free_frame(self, number: int) -> None:
        frame = self.frames.pop(number)
        if frame.obj >= 0:
            obj = self.objs[frame.obj]
            if obj.cache.get(frame.index) == number:
                del obj.cache[frame.index]
        if frame.slot >= 0:
            del self.slot_cache[frame.slot]
            self._maybe_free_slot(frame.slot)
        self._freed_frames.append(number)

    def slots_used(self) -> int:
        return len(set(self.slot_refs) | set(self.slot_cache))

    def _free_slot_available(self) -> bool:
        return self.slots_used() < self.config.swap_slots

    def _alloc_slot(self) -> int:
        used = set(self.slot_refs) | set(self.slot_cache)
        slot = min(s for s in range(self.config.swap_slots) if s not in used)
        self.slot_refs[slot] = 0
        return slot

    def _maybe_free_slot(self, slot: int) -> None:
        if self.slot_refs.get(slot, 0) <= 0 and slot not in self.slot_cache:
            self.slot_refs.pop(slot, None)

    def _slot_ref(self, slot: int, delta: int) -> None:
        self.slot_refs[slot] = self.slot_refs.get(slot, 0) + delta
        self._maybe_free_slot(slot)

    def mappers(self, frame: int) -> list[tuple[int, int]]:
        return [(pid, vpn) for pid, p in self.procs.items()
                for vpn, pte in p.ptes.items() if pte.present and pte.frame == frame]

    def mapcount(self, frame: int) -> int:
        return len(self.mappers(frame))

    def frame_mlocked(self, frame: int) -> bool:
        return any(self._vma_at(self.procs[pid], vpn).locked for pid, vpn in self.mappers(frame))

    def _mapcounts(self) -> dict[int, int]:
        """Every frame's mapcount at once (for views that need them all)."""
        out: dict[int, int] = {}
        for p in self.procs.values():
            for pte in p.ptes.values():
                if pte.present and not pte.zero:
                    out[pte.frame] = out.get(pte.frame, 0) + 1
        return out

    def _mlocked_frames(self) -> set[int]:
        out: set[int] = set()
        for p in self.procs.values():
            for vma in p.info.vmas:
                if vma.locked:
                    for vpn in self._vpns_in(p, vma.start, vma.end):
                        pte = p.ptes[vpn]
                        if pte.present and not pte.zero:
                            out.add(pte.frame)
        return out

    # ------------------------------------------------------------------ processes and VMAs

    def pids(self) -> list[int]:
        return sorted(self.procs)

    def _proc(self, pid: int) -> Proc:
        try:
            return self.procs[pid]
        except KeyError:
            raise NoSuchProcess(f"no process {pid}") from None

    def process(self, pid: int) -> Process:
        return self._proc(pid).info

    def _vma_at(self, proc: Proc, vpn: int) -> Vma:
        for vma in proc.info.vmas:
            if vma.start // PAGE_SIZE <= vpn < vma.end // PAGE_SIZE:
                return vma
        raise KeyError(vpn)

    def _find_vma(self, proc: Proc, vpn: int) -> Vma | None:
        try:
            return self._vma_at(proc, vpn)
        except KeyError:
            return None

    def _vpns_in(self, proc: Proc, lo: int, hi: int) -> list[int]:
        """The pages of [lo, hi) bytes that have an entry, in address order."""
        return sorted(v for v in proc.ptes if lo // PAGE_SIZE <= v < hi // PAGE_SIZE)

    def _set_pte(self, proc: Proc, vpn: int, pte: Pte) -> None:
        proc.ptes[vpn] = pte
        proc.leaves.add(vpn // LEAF_PAGES)

    def _new_proc(self, info: Process) -> Proc:
        self._order += 1
        proc = Proc(info=info, order=self._order)
        self.procs[info.pid] = proc
        return proc

    def _check_new_pid(self, pid: int) -> None:
        if not 1 <= pid <= PID_MAX:
            raise InvalidArgument(f"pid {pid} out of range")
        if pid in self.procs:
            raise AlreadyExists(f"pid {pid} exists")

    def spawn(self, pid: int, comm: str, *, uid: int = 0, gid: int | None = None,
              ppid: int = 0, cmdline: tuple[str, ...] = (), exe: str | None = None) -> Process:
        self._check_new_pid(pid)
        comm = comm.encode()[:15].decode(errors="ignore")
        info = Process(pid=pid, comm=comm, uid=uid, gid=uid if gid is None else gid,
                       ppid=ppid, cmdline=tuple(cmdline), exe=exe, start_tick=self.tick)
        return self._new_proc(info).info

    def fork(self, parent: int, child: int, *, comm: str | None = None) -> Process:
        par = self._proc(parent)
        self._check_new_pid(child)
        pinfo = par.info
        info = Process(pid=child, comm=pinfo.comm if comm is None else comm.encode()[:15].decode(
            errors="ignore"), uid=pinfo.uid, gid=pinfo.gid, ppid=parent, cmdline=pinfo.cmdline,
            exe=pinfo.exe, oom_score_adj=pinfo.oom_score_adj, start_tick=self.tick,
            vmas=[_replace(v, locked=False) for v in pinfo.vmas])
        proc = self._new_proc(info)
        proc.hiwater_vm = par.hiwater_vm
        proc.leaves = set(par.leaves)  # copy_page_range copies every page-table page
        # CHOICE: the child's VMAs are copied as they are (no merging of neighbours
        # that only differed by VM_LOCKED), as dup_mmap does.
        for vpn, pte in sorted(par.ptes.items()):
            if pte.present:
                self._set_pte(proc, vpn, Pte(frame=pte.frame, zero=pte.zero, young=False))
            else:
                self._set_pte(proc, vpn, Pte(slot=pte.slot))
                self._slot_ref(pte.slot, +1)
        self._note_hiwater(proc)
        return info

    def exit(self, pid: int) -> None:
        proc = self._proc(pid)
        for vma in list(proc.info.vmas):
            self._unmap_vma(proc, vma)
        del self.procs[pid]

    def _unmap_vma(self, proc: Proc, vma: Vma) -> None:
        """One VMA goes: its pages, then (if it was the last user) its shmem object."""
        self._unmap_pages(proc, vma.start // PAGE_SIZE, vma.end // PAGE_SIZE)
        proc.info.vmas.remove(vma)
        self._reap_objects()

    def set_oom_score_adj(self, pid: int, value: int) -> None:
        proc = self._proc(pid)
        if not -1000 <= value <= 1000:
            raise InvalidArgument(f"oom_score_adj {value}")
        proc.info.oom_score_adj = value

    def mmap(self, pid: int, addr: int, size: int, kind: str, *, path: str | None = None,
             perms: str = "rw-p", name: str | None = None, offset: int = 0) -> Vma:
        proc = self._proc(pid)
        if kind not in ("anon", "shmem", "hugetlb", "file"):
            raise InvalidArgument(f"kind {kind}")
        if (len(perms) != 4 or perms[0] not in "r-" or perms[1] not in "w-"
                or perms[2] not in "x-" or perms[3] not in "sp"):
            raise InvalidArgument(f"perms {perms}")
        # CHOICE (as mmap(2)): the address must be aligned (2 MiB for hugetlb), the
        # size is rounded up; a shared anon mapping is shmem and shmem is shared.
        align = HUGE_PAGE if kind == "hugetlb" else PAGE_SIZE
        if addr % align or offset % PAGE_SIZE or size <= 0 or offset < 0:
            raise InvalidArgument("misaligned")
        size = -(-size // align) * align
        if addr < 0 or addr + size > ADDR_LIMIT:
            raise InvalidArgument("out of the address space")
        if (kind == "anon" and perms[3] == "s") or (kind == "shmem" and perms[3] == "p"):
            raise InvalidArgument("anon is private, shmem shared")
        if (kind == "file") != (path is not None):
            raise InvalidArgument("file mappings and only they need a path")
        for vma in proc.info.vmas:
            if vma.start < addr + size and addr < vma.end:
                raise AlreadyExists("overlap")
        if kind == "file":
            assert path is not None
            if path not in self.files:
                self.files[path] = self._new_obj("file")
            object_id = self.files[path]
        elif kind in ("shmem", "hugetlb"):
            object_id = self._new_obj(kind)
        else:
            object_id = -1
            offset = 0
        if name is not None and not name.startswith("["):
            name = f"[anon:{name}]" if kind == "anon" else f"[anon_shmem:{name}]"
        vma = Vma(start=addr, end=addr + size, perms=perms, offset=offset, kind=kind,  # type: ignore[arg-type]
                  path=path, name=name, object_id=object_id)
        proc.info.vmas.append(vma)
        # CHOICE (as the engine and vma_merge): a new mapping merges with its two
        # neighbours only; munmap, mlock and munlock merge the whole list.
        self._normalise(proc, around=(addr, addr + size))
        proc.hiwater_vm = max(proc.hiwater_vm, self._vm_pages(proc))
        return vma

    def _new_obj(self, kind: str) -> int:
        self._next_obj += 1
        self.objs[self._next_obj] = Obj(kind=kind)
        return self._next_obj

    def munmap(self, pid: int, addr: int, size: int) -> None:
        proc = self._proc(pid)
        if addr % PAGE_SIZE or size <= 0:
            raise InvalidArgument("misaligned")
        end = addr + _round_up(size)
        self._split_at(proc, addr)
        self._split_at(proc, end)
        for vma in list(proc.info.vmas):
            if addr <= vma.start and vma.end <= end:
                self._unmap_vma(proc, vma)
        self._normalise(proc)
        # Page-table pages of the range that hold nothing any more go back.
        for leaf in range(addr // PAGE_SIZE // LEAF_PAGES,
                          (end // PAGE_SIZE - 1) // LEAF_PAGES + 1):
            if leaf in proc.leaves and not any(
                    leaf * LEAF_PAGES <= v < (leaf + 1) * LEAF_PAGES for v in proc.ptes):
                proc.leaves.discard(leaf)
        self._reap_objects()

    def _unmap_pages(self, proc: Proc, first: int, last: int) -> None:
        for vpn in sorted(v for v in proc.ptes if first <= v < last):  # zap walks upwards
            pte = proc.ptes.pop(vpn)
            if not pte.present:
                self._slot_ref(pte.slot, -1)
                # free_swap_and_cache: the last entry of a slot takes its
                # cached page along, if nobody maps it.
                cached = self.slot_cache.get(pte.slot)
                if (cached is not None and self.slot_refs.get(pte.slot, 0) <= 0
                        and self.mapcount(cached) == 0):
                    self._free_frame(cached)
            elif not pte.zero:
                self._after_unmap(pte.frame)

    def _after_unmap(self, frame: int) -> None:
        """A mapping of ``frame`` went away: anon and hugetlb frames die with their last map."""
        seen = self.frames[frame]
        if seen.kind in ("anon", "hugetlb") and self.mapcount(frame) == 0:
            if seen.slot >= 0 and self.slot_refs.get(seen.slot, 0) > 0:
                return  # CHOICE (free_swap_cache): still swapped, it stays in the swap cache
            self._free_frame(frame)

    def _reap_objects(self) -> None:
        """shmem and hugetlb objects die with the last VMA that refers to them."""
        live = {v.object_id for p in self.procs.values() for v in p.info.vmas}
        for oid, obj in list(self.objs.items()):
            if obj.kind != "file" and oid not in live:
                for _, frame in sorted(obj.cache.items()):
                    self._free_frame(frame)
                for slot in obj.swapped.values():
                    self._slot_ref(slot, -1)
                del self.objs[oid]

    def _split_at(self, proc: Proc, addr: int) -> None:
        out = []
        for vma in proc.info.vmas:
            if vma.start < addr < vma.end:
                out.append(_replace(vma, end=addr))
                shift = addr - vma.start if vma.kind != "anon" else 0
                out.append(_replace(vma, start=addr, offset=vma.offset + shift))
            else:
                out.append(vma)
        proc.info.vmas = out

    def _normalise(self, proc: Proc, around: tuple[int, int] | None = None) -> None:
        """Sort and merge neighbours the kernel would merge (only at ``around``'s ends)."""
        vmas = sorted(proc.info.vmas, key=lambda v: v.start)
        out: list[Vma] = []
        for vma in vmas:
            at_edge = around is None or vma.start in around
            if out and at_edge and _mergeable(out[-1], vma):
                out[-1] = _replace(out[-1], end=vma.end)
            else:
                out.append(vma)
        proc.info.vmas = out

    def _vm_pages(self, proc: Proc) -> int:
        return sum(v.size for v in proc.info.vmas) // PAGE_SIZE

    # ------------------------------------------------------------------ faults

    def touch(self, pid: int, addr: int, size: int, *, write: bool = False) -> TouchResult:
        proc = self._proc(pid)
        if addr % PAGE_SIZE or size < 0 or addr + _round_up(size) > ADDR_LIMIT:
            raise InvalidArgument("bad touch range")
        vpns = list(range(addr // PAGE_SIZE, (addr + _round_up(size)) // PAGE_SIZE))
        for vpn in vpns:
            vma = self._find_vma(proc, vpn)
            if vma is None:
                raise BadAddress(f"page {vpn:#x} unmapped")
            if write and vma.perms[1] != "w":
                raise BadAddress(f"page {vpn:#x} not writable")
        return self._touch_pages(proc, vpns, write)

    def _touch_pages(self, proc: Proc, vpns: list[int], write: bool,
                     was_mlocked: set[int] | None = None) -> TouchResult:
        result = TouchResult()
        if not vpns:
            return result
        self._reserve(proc, vpns, write, result)
        self._fault_pages(proc, vpns, write, result, was_mlocked)
        return result

    def _frames_needed(self, proc: Proc, vpns: list[int], write: bool) -> int:
        """New frames the touch would take: found by doing it on a copy with unbounded RAM."""
        trial = copy.deepcopy(self)
        trial.unbounded = True
        trial._fault_pages(trial.procs[proc.info.pid], vpns, write, TouchResult())
        return trial.allocations - self.allocations

    def _relied_on(self, proc: Proc, vpns: list[int]) -> set[int]:
        """Frames the touch uses as they are: mapped ones, swap-cache and page-cache hits."""
        out: set[int] = set()
        for vpn in vpns:
            pte = proc.ptes.get(vpn)
            if pte is not None and pte.present and not pte.zero:
                out.add(pte.frame)
            elif pte is not None and not pte.present and pte.slot in self.slot_cache:
                out.add(self.slot_cache[pte.slot])
            elif pte is None:
                vma = self._vma_at(proc, vpn)
                if vma.kind in ("file", "shmem"):
                    frame = self.objs[vma.object_id].cache.get(_index(vma, vpn))
                    if frame is not None:
                        out.add(frame)
        return out

    def _reserve(self, proc: Proc, vpns: list[int], write: bool, result: TouchResult) -> None:
        """Room for the touch: global reclaim below the low watermark, then the OOM killer."""
        need = self._frames_needed(proc, vpns, write)
        if need == 0 or self.free_pages() - need >= self.wlow:
            return
        self._global_reclaim(self.whigh + need, self._relied_on(proc, vpns))
        while True:
            need = self._frames_needed(proc, vpns, write)
            if need == 0 or self.free_pages() - need >= self.wmin:
                return
            victim = self._oom_victim()
            if victim is None:
                raise OutOfMemory("out of memory, nothing left to kill")
            self._oom_kill(victim)
            result.oom_killed += (victim,)
            if victim == proc.info.pid:
                raise OutOfMemory("killed by the OOM killer")

    def _fault_pages(self, proc: Proc, vpns: list[int], write: bool,
                     result: TouchResult, was_mlocked: set[int] | None = None) -> None:
        """A touch of ``vpns``, in the table's terms.

        CHOICE: the outcome is that of page-by-page faults, but new frames are
        numbered in passes, as the engine hands them out: swap-ins, then page
        cache, then anon and hugetlb, then the copies writes make.
        """
        fresh: set[int] = set()
        if was_mlocked is None:
            was_mlocked = self._mlocked_frames()  # unevictable frames are not activated
        faulted: set[int] = set()
        major: set[int] = set()
        refaults = {"anon": 0, "file": 0}
        state = {v: proc.ptes.get(v) for v in vpns}
        swapped = [v for v in vpns if state[v] is not None and not state[v].present]  # type: ignore[union-attr]
        nones = [v for v in vpns if state[v] is None]
        cache_nones = [v for v in nones if self._vma_at(proc, v).kind in ("file", "shmem")]
        other_nones = [v for v in nones if v not in cache_nones]
        for vpn in swapped:
            faulted.add(vpn)
            pte = proc.ptes[vpn]
            slot = pte.slot
            if slot in self.slot_cache:
                frame = self.slot_cache[slot]
            else:
                frame = self._alloc_frame("anon")
                fresh.add(frame)
                self.frames[frame].slot = slot
                self.slot_cache[slot] = frame
                self.counters["pswpin"] += 1
                major.add(vpn)
                refaults["anon"] += 1
            self._set_pte(proc, vpn, Pte(frame=frame))
            self._slot_ref(slot, -1)
        for vpn in cache_nones:
            faulted.add(vpn)
            vma = self._vma_at(proc, vpn)
            obj = self.objs[vma.object_id]
            index = _index(vma, vpn)
            if index not in obj.cache:
                frame = self._cache_frame(obj, vma.object_id, index)
                fresh.add(frame)
                if vma.kind == "file":
                    major.add(vpn)
                    if index in obj.shadows:
                        obj.shadows.discard(index)
                        refaults["file"] += 1
                elif index in obj.swapped:
                    # CHOICE: a shmem swap-in is a pswpin and an anon refault
                    # (shmem is swap-backed, on the anon LRU).
                    major.add(vpn)
                    self.counters["pswpin"] += 1
                    refaults["anon"] += 1
                    self._slot_ref(obj.swapped.pop(index), -1)
            self._set_pte(proc, vpn, Pte(frame=obj.cache[index]))
        for vpn in other_nones:
            faulted.add(vpn)
            vma = self._vma_at(proc, vpn)
            if vma.kind == "hugetlb":
                frame = self._alloc_frame("hugetlb")
                fresh.add(frame)
                self.frames[frame].dirty = write
                self._set_pte(proc, vpn, Pte(frame=frame))
            elif write:
                frame = self._alloc_frame("anon")
                fresh.add(frame)
                self.frames[frame].dirty = True
                self._set_pte(proc, vpn, Pte(frame=frame))
            else:
                self._set_pte(proc, vpn, Pte(zero=True))
        if write:
            copies: list[int] = []
            zeros: list[int] = []
            for vpn in vpns:
                pte = proc.ptes[vpn]
                if pte.zero:
                    zeros.append(vpn)
                elif self._write_needs_copy(proc, vpn, pte):
                    copies.append(vpn)
                else:
                    self._write_in_place(pte)
            for vpn in copies + zeros:
                faulted.add(vpn)
                old = proc.ptes[vpn]
                frame = self._alloc_frame("anon")
                fresh.add(frame)
                self.frames[frame].dirty = True
                self._set_pte(proc, vpn, Pte(frame=frame))
                if not old.zero:
                    self._after_unmap(old.frame)
        touched: set[int] = set()
        for vpn in vpns:
            pte = proc.ptes[vpn]
            pte.young = True
            if not pte.zero:
                touched.add(pte.frame)
        locked = {proc.ptes[v].frame for v in vpns
                  if not proc.ptes[v].zero and self._vma_at(proc, v).locked}
        for number in sorted(touched):
            seen = self.frames[number]
            if (number not in fresh and seen.referenced and not seen.active
                    and seen.kind != "hugetlb" and number not in was_mlocked):
                seen.active = True
                self.counters["pgactivate"] += 1
            seen.referenced = True
            seen.last_tick = self.tick
            if number in locked:
                seen.active = False  # onto the unevictable list
        n_major = len(major)
        n_minor = len(faulted) - n_major
        result.major += n_major
        result.minor += n_minor
        result.refaults += refaults["anon"] + refaults["file"]
        proc.info.majflt += n_major
        proc.info.minflt += n_minor
        proc.info.refaults += refaults["anon"] + refaults["file"]
        self.counters["pgfault"] += len(faulted)
        self.counters["pgmajfault"] += n_major
        self.counters["workingset_refault_anon"] += refaults["anon"]
        self.counters["workingset_refault_file"] += refaults["file"]
        self._note_hiwater(proc)

    def _write_needs_copy(self, proc: Proc, vpn: int, pte: Pte) -> bool:
        frame = self.frames[pte.frame]
        if frame.kind == "anon":
            # CHOICE (kernel do_wp_page): an anon page is reused only when no one
            # else holds it, not even through a swap entry of its slot.
            busy = frame.slot >= 0 and self.slot_refs.get(frame.slot, 0) > 0
            return self.mapcount(pte.frame) > 1 or busy
        return frame.kind == "file" and self._vma_at(proc, vpn).perms[3] == "p"

    def _write_in_place(self, pte: Pte) -> None:
        frame = self.frames[pte.frame]
        frame.dirty = True
        if frame.kind == "anon" and frame.slot >= 0:
            # Written: the swap copy is stale, the page leaves the swap cache.
            slot = frame.slot
            frame.slot = -1
            del self.slot_cache[slot]
            self._maybe_free_slot(slot)

    def _cache_frame(self, obj: Obj, oid: int, index: int) -> int:
        frame = self._alloc_frame(obj.kind)
        self.frames[frame].obj = oid
        self.frames[frame].index = index
        obj.cache[index] = frame
        return frame

    def _note_hiwater(self, proc: Proc) -> None:
        proc.hiwater_rss = max(proc.hiwater_rss, self._rss(proc))
        proc.hiwater_vm = max(proc.hiwater_vm, self._vm_pages(proc))

    def mlock(self, pid: int, addr: int, size: int) -> None:
        self._set_locked(pid, addr, size, True)

    def munlock(self, pid: int, addr: int, size: int) -> None:
        self._set_locked(pid, addr, size, False)

    def _set_locked(self, pid: int, addr: int, size: int, locked: bool) -> None:
        proc = self._proc(pid)
        if addr % PAGE_SIZE or size < 0 or addr + _round_up(size) > ADDR_LIMIT:
            raise InvalidArgument("bad range")
        start, end = addr, addr + _round_up(size)
        if start == end:
            return
        # mlock's own fault-in still activates: its frames become unevictable after.
        was_mlocked = self._mlocked_frames()
        # CHOICE: a hole in the range is ENOMEM before anything changes (mlock(2)).
        covered = sum(min(v.end, end) - max(v.start, start) for v in proc.info.vmas
                      if v.start < end and start < v.end)
        if covered != end - start:
            raise OutOfMemory("hole in mlock range")
        self._split_at(proc, start)
        self._split_at(proc, end)
        proc.info.vmas = [_replace(v, locked=locked) if start <= v.start and v.end <= end else v
                          for v in proc.info.vmas]
        self._normalise(proc)
        if locked:
            for vma in list(proc.info.vmas):
                # The range's part of each VMA: a VMA may have merged with a
                # locked neighbour and be wider than the range.
                lo, hi = max(vma.start, start), min(vma.end, end)
                if lo >= hi:
                    continue
                # CHOICE (kernel __mm_populate): only a private writable mapping is
                # faulted in as by a write; present pages are accessed too.
                write = vma.perms[1] == "w" and vma.perms[3] == "p"
                self._touch_pages(proc, list(range(lo // PAGE_SIZE, hi // PAGE_SIZE)), write,
                                  was_mlocked)

    # ------------------------------------------------------------------ global reclaim and OOM

    def _need(self, n: int, proc: Proc | None) -> None:
        """Make room for ``n`` new frames, as docs/model.md's "Global reclaim and OOM"."""
        if self.free_pages() - n >= self.wlow:
            return
        self._global_reclaim(self.whigh + n, set())
        while self.free_pages() < n + self.wmin:
            victim = self._oom_victim()
            if victim is None:
                raise OutOfMemory("out of memory, nothing left to kill")
            self._oom_kill(victim)
            if proc is not None and victim == proc.info.pid:
                raise OutOfMemory("killed by the OOM killer")

    def _evictable(self, protect: set[int]) -> list[int]:
        slots = self._free_slot_available()
        mlocked = self._mlocked_frames()
        out = []
        for number, frame in self.frames.items():
            if frame.kind == "hugetlb" or number in protect or number in mlocked:
                continue
            # CHOICE: a page already in the swap cache needs no new slot.
            needs_slot = frame.kind == "shmem" or (frame.kind == "anon" and frame.slot < 0)
            if needs_slot and not slots:
                continue
            out.append(number)
        return out

    def _global_reclaim(self, target: int, protect: set[int]) -> None:
        scanned = 0
        while self.free_pages() < target:
            victims = self._evictable(protect)
            if not victims:
                break
            number = min(victims, key=lambda f: (self.frames[f].last_tick, f))
            lru = "file" if self.frames[number].kind == "file" else "anon"
            for name in ("pgscan_kswapd", "pgsteal_kswapd", f"pgscan_{lru}", f"pgsteal_{lru}"):
                self.counters[name] += 1
            scanned += 1
            self._evict(number)
        if scanned:
            self.events.append({"type": "global_reclaim", "scanned": scanned})

    def _evict(self, number: int) -> None:
        frame = self.frames[number]
        maps = self.mappers(number)
        if frame.kind == "anon":
            if frame.slot >= 0 and not frame.dirty:
                slot = frame.slot
            else:
                slot = self._alloc_slot()
                self.counters["pswpout"] += 1
            for pid, vpn in maps:
                self.procs[pid].ptes[vpn] = Pte(slot=slot)
                self._slot_ref(slot, +1)
            if frame.slot < 0:
                frame.slot = slot
                self.slot_cache[slot] = number
            self._free_frame(number)
            return
        for pid, vpn in maps:
            del self.procs[pid].ptes[vpn]
        if frame.kind == "shmem":
            slot = self._alloc_slot()
            self.counters["pswpout"] += 1
            self.objs[frame.obj].swapped[frame.index] = slot
            self._slot_ref(slot, +1)
        else:
            if frame.dirty:
                self.counters["nr_vmscan_write"] += 1
            self.objs[frame.obj].shadows.add(frame.index)
        self._free_frame(number)

    def badness(self, pid: int) -> int | None:
        proc = self.procs[pid]
        if proc.info.oom_score_adj == -1000:
            return None
        m = self.memory(pid)
        total = self.config.ram_pages + self.config.swap_slots
        points = m.vm_rss + m.vm_swap + m.vm_pte_bytes // PAGE_SIZE
        # CHOICE (kernel oom_badness): adj * (totalpages / 1000), the division first.
        return points + proc.info.oom_score_adj * (total // 1000)

    def _oom_victim(self) -> int | None:
        best: tuple[int, int] | None = None
        victim = None
        for pid, proc in self.procs.items():
            points = self.badness(pid)
            if points is None:
                continue
            key = (points, proc.order)
            if best is None or key > best:
                best, victim = key, pid
        return victim

    def _oom_kill(self, pid: int) -> None:
        self.counters["oom_kill"] += 1
        self.events.append({"type": "oom_kill", "pid": pid})
        self.exit(pid)

    def oom_score(self, pid: int) -> int:
        self._proc(pid)
        points = self.badness(pid)
        if points is None:
            return 0
        total = self.config.ram_pages + self.config.swap_slots
        # CHOICE: docs/model.md's formula as it stands, unclamped (see the report).
        return 1000 + _cdiv(points * 1000, total)

    def drain_events(self) -> list[dict[str, Any]]:
        out, self.events = self.events, []
        return out

    # ------------------------------------------------------------------ per-process reclaim

    def reclaim(self, pid: int, mode: str) -> ReclaimResult:
        proc = self._proc(pid)
        if mode not in ("file", "anon", "all"):
            raise InvalidArgument(f"mode {mode}")
        result = ReclaimResult()
        for vma in list(proc.info.vmas):
            if (mode == "file" and not vma.has_file) or (mode == "anon" and vma.has_file):
                continue
            self._reclaim_pages(proc, vma, vma.start, vma.end, result, madvise=None)
        self._after_swapout(proc)
        return result

    def reclaim_range(self, pid: int, start: int, end: int) -> ReclaimResult:
        proc = self._proc(pid)
        if start % PAGE_SIZE or end < start:
            raise InvalidArgument("bad range")
        result = ReclaimResult()
        for vma in list(proc.info.vmas):
            lo, hi = max(vma.start, start), min(vma.end, _round_up(end))
            if lo < hi:
                self._reclaim_pages(proc, vma, lo, hi, result, madvise=None)
        self._after_swapout(proc)
        return result

    def _after_swapout(self, proc: Proc) -> None:
        if self.config.swap_kind == "zram" and self.reclaim_after_zram_swapout:
            self._need(0, proc)

    def _reclaim_pages(self, proc: Proc, vma: Vma, lo: int, hi: int, result: ReclaimResult,
                       madvise: str | None) -> None:
        if vma.kind == "hugetlb":
            # CHOICE: skipped.hugetlb counts the present pages of the VMA walked.
            result.skipped["hugetlb"] += sum(
                1 for v in self._vpns_in(proc, lo, hi) if proc.ptes[v].present)
            return
        picked: list[tuple[int, Pte]] = []
        for vpn in self._vpns_in(proc, lo, hi):
            pte = proc.ptes[vpn]
            if not pte.present or pte.zero:
                continue
            number = pte.frame
            frame = self.frames[number]
            result.scanned += 1
            if self.mapcount(number) > 1 and (madvise is not None or self.config.dialect == "caf"):
                result.skipped["shared"] += 1
                continue
            if self.frame_mlocked(number):
                result.skipped["mlocked"] += 1
                continue
            if madvise is not None:
                pte.young = False
                frame.referenced = False
            if madvise == "cold":
                if frame.active:
                    frame.active = False
                    self.counters["pgdeactivate"] += 1
                continue
            picked.append((vpn, pte))
        # CHOICE: as the engine batches it, a VMA's anon pages go first (in address
        # order), then its shmem pages, then its file pages; pages of the latter two
        # are unmapped first and the frames left unmapped are then freed in frame order.
        kinds = {vpn: self.frames[pte.frame].kind for vpn, pte in picked}
        for vpn, pte in picked:
            if kinds[vpn] == "anon":
                self._reclaim_anon(proc, vpn, pte, result)
        idle: dict[str, set[int]] = {"shmem": set(), "file": set()}
        for kind in ("shmem", "file"):
            for vpn, pte in picked:
                if kinds[vpn] != kind:
                    continue
                number = pte.frame
                frame = self.frames[number]
                del proc.ptes[vpn]
                if kind == "file" and frame.dirty:
                    result.skipped["dirty"] += 1
                    continue
                result.reclaimed[kind] += 1
                if self.mapcount(number) == 0:
                    idle[kind].add(number)
        for number in sorted(idle["shmem"]):
            if not self._free_slot_available():
                break
            frame = self.frames[number]
            slot = self._alloc_slot()
            self.counters["pswpout"] += 1
            self.objs[frame.obj].swapped[frame.index] = slot
            self._slot_ref(slot, +1)
            self._free_frame(number)
        for number in sorted(idle["file"]):
            self.objs[self.frames[number].obj].shadows.add(self.frames[number].index)
            self._free_frame(number)

    def _reclaim_anon(self, proc: Proc, vpn: int, pte: Pte, result: ReclaimResult) -> None:
        """Rule 3: to its swap-cache slot, to a new slot, or kept and activated."""
        number = pte.frame
        frame = self.frames[number]
        if frame.slot >= 0 and not frame.dirty:
            slot = frame.slot
        elif frame.slot >= 0 or self._free_slot_available():
            if frame.slot < 0:
                slot = self._alloc_slot()
                frame.slot = slot
                self.slot_cache[slot] = number
            slot = frame.slot
            self.counters["pswpout"] += 1
            frame.dirty = False
        else:
            frame.active = True
            self.counters["pgactivate"] += 1
            result.skipped["no_swap"] += 1
            return
        proc.ptes[vpn] = Pte(slot=slot)
        self._slot_ref(slot, +1)
        if self.mapcount(number) == 0:
            self._free_frame(number)
        result.reclaimed["anon"] += 1

    def madvise(self, pid: int, addr: int, size: int, advice: str) -> ReclaimResult:
        proc = self._proc(pid)
        if advice not in ("cold", "pageout"):
            raise InvalidArgument(f"advice {advice}")
        if addr % PAGE_SIZE or size < 0:
            raise InvalidArgument("misaligned")
        length = _round_up(size)
        result = ReclaimResult()
        if size == 0:
            return result
        if length == 0 or addr + length > ADDR_LIMIT:
            raise InvalidArgument("wraps")
        end = addr + length
        inside = [v for v in proc.info.vmas if v.start < end and addr < v.end]
        if any(v.locked or v.kind == "hugetlb" for v in inside):
            raise InvalidArgument("locked or hugetlb VMA")
        for vma in inside:
            self._reclaim_pages(proc, vma, max(vma.start, addr), min(vma.end, end), result,
                                madvise=advice)
        self._after_swapout(proc)
        covered = sum(min(v.end, end) - max(v.start, addr) for v in inside)
        if covered != end - addr:
            raise OutOfMemory("hole in madvise range")
        return result

    # ------------------------------------------------------------------ time, writeback, caches

    def clear_refs(self, pid: int, mode: int) -> None:
        proc = self._proc(pid)
        if not 1 <= mode <= 5:
            raise InvalidArgument(f"clear_refs {mode}")
        if mode == 5:
            proc.hiwater_rss = self._rss(proc)
            return
        if mode == 4:
            return
        for vpn, pte in proc.ptes.items():
            vma = self._vma_at(proc, vpn)
            if (mode == 2 and vma.has_file) or (mode == 3 and not vma.has_file):
                continue
            if pte.present:
                pte.young = False
                if not pte.zero:
                    self.frames[pte.frame].referenced = False

    def advance(self, ticks: int = 1) -> None:
        if ticks < 0:
            raise InvalidArgument("negative ticks")
        for _ in range(ticks):
            self.tick += 1
            if self.tick % self.config.dirty_writeback_ticks == 0:
                for frame in self.frames.values():
                    if (frame.kind == "file" and frame.dirty
                            and self.tick - frame.last_tick >= self.config.dirty_expire_ticks):
                        frame.dirty = False

    def sync(self) -> None:
        for frame in self.frames.values():
            if frame.kind == "file":
                frame.dirty = False

    def drop_caches(self, mode: int) -> None:
        if mode not in (1, 2, 3):
            raise InvalidArgument(f"drop_caches {mode}")
        if mode & 1:
            for number, frame in sorted(self.frames.items()):
                if frame.kind == "file" and not frame.dirty and self.mapcount(number) == 0:
                    # CHOICE: drop_caches leaves no shadow (only vmscan stores them).
                    self._free_frame(number)

    # ------------------------------------------------------------------ views

    def swap_used_pages(self) -> int:
        return self.slots_used()

    def _rss(self, proc: Proc) -> int:
        return sum(1 for pte in proc.ptes.values() if pte.present and not pte.zero
                   and self.frames[pte.frame].kind != "hugetlb")

    def smaps(self, pid: int) -> SmapsCounts:
        proc = self._proc(pid)
        counts = self._mapcounts()
        out = SmapsCounts.zeros(len(proc.info.vmas))
        for row, vma in enumerate(proc.info.vmas):
            fields = dict.fromkeys(SmapsCounts.FIELDS, 0)
            for vpn in self._vpns_in(proc, vma.start, vma.end):
                pte = proc.ptes[vpn]
                if pte.zero:
                    continue
                if not pte.present:
                    fields["swap"] += PAGE_SIZE
                    count = self.slot_refs.get(pte.slot, 0)
                    fields["swap_pss"] += ONE_PAGE_PSS // count if count >= 2 else ONE_PAGE_PSS
                    continue
                frame = self.frames[pte.frame]
                count = counts[pte.frame]
                if frame.kind == "hugetlb":
                    fields["shared_hugetlb" if count >= 2 else "private_hugetlb"] += PAGE_SIZE
                    continue
                pss = ONE_PAGE_PSS // count if count >= 2 else ONE_PAGE_PSS
                fields["rss"] += PAGE_SIZE
                fields["pss"] += pss
                bucket = ("shared_" if count >= 2 else "private_") + (
                    "dirty" if frame.dirty else "clean")
                fields[bucket] += PAGE_SIZE
                if frame.dirty:
                    fields["pss_dirty"] += pss
                if pte.young:
                    fields["referenced"] += PAGE_SIZE
                if frame.kind == "anon":
                    fields["anonymous"] += PAGE_SIZE
                fields[{"anon": "pss_anon", "file": "pss_file", "shmem": "pss_shmem"}[
                    frame.kind]] += pss
                if vma.locked:
                    fields["locked"] += pss
            if vma.kind == "shmem":
                obj = self.objs[vma.object_id]
                first = vma.offset // PAGE_SIZE
                last = first + vma.size // PAGE_SIZE
                fields["swap"] += PAGE_SIZE * sum(1 for i in obj.swapped if first <= i < last)
            for name, value in fields.items():
                getattr(out, name)[row] = value
        return out

    def memory(self, pid: int) -> ProcessMemory:
        proc = self._proc(pid)
        kinds = {"anon": 0, "file": 0, "shmem": 0, "hugetlb": 0}
        swap = 0
        for pte in proc.ptes.values():
            if not pte.present:
                swap += 1
            elif not pte.zero:
                kinds[self.frames[pte.frame].kind] += 1
        rss = kinds["anon"] + kinds["file"] + kinds["shmem"]
        vmas = proc.info.vmas

        def pages(pred: Any) -> int:
            return sum(v.size for v in vmas if pred(v)) // PAGE_SIZE

        stack = pages(lambda v: v.name == "[stack]")
        exec_vm = pages(lambda v: v.perms[2] == "x" and v.perms[1] != "w" and v.name != "[stack]")
        text = min(pages(lambda v: v.kind == "file" and proc.info.exe is not None
                         and v.path == proc.info.exe and v.perms[2] == "x"), exec_vm)
        vm_size = self._vm_pages(proc)
        return ProcessMemory(
            vm_peak=max(proc.hiwater_vm, vm_size), vm_size=vm_size,
            vm_lck=pages(lambda v: v.locked), vm_hwm=max(proc.hiwater_rss, rss), vm_rss=rss,
            rss_anon=kinds["anon"], rss_file=kinds["file"], rss_shmem=kinds["shmem"],
            vm_data=pages(lambda v: v.perms[1] == "w" and v.perms[3] == "p"
                          and v.name != "[stack]"),
            vm_stk=stack, vm_exe=text, vm_lib=exec_vm - text,
            vm_pte_bytes=len(proc.leaves) * PAGE_SIZE, vm_swap=swap, hugetlb=kinds["hugetlb"],
            text=text)

    def meminfo(self) -> MemInfo:
        count = {k: 0 for k in ("active_anon", "inactive_anon", "active_file",
                                 "inactive_file", "unevictable")}
        cached = swap_cached = dirty = anon_pages = mapped = shmem = hugetlb = 0
        counts = self._mapcounts()
        mlocked = self._mlocked_frames()
        for number, frame in self.frames.items():
            if frame.kind == "hugetlb":
                hugetlb += 1
                continue
            mapcount = counts.get(number, 0)
            if number in mlocked:
                count["unevictable"] += 1
            else:
                lru = "file" if frame.kind == "file" else "anon"
                count[("active_" if frame.active else "inactive_") + lru] += 1
            if frame.kind in ("file", "shmem"):
                cached += 1
                if mapcount:
                    mapped += 1
            if frame.kind == "shmem":
                shmem += 1
            if frame.kind == "file" and frame.dirty:
                dirty += 1
            if frame.kind == "anon":
                if mapcount:
                    anon_pages += 1
                if frame.slot >= 0:
                    swap_cached += 1
        free = self.free_pages()
        pagecache = count["active_file"] + count["inactive_file"]
        available = max(0, free - self.whigh + pagecache - min(pagecache // 2, self.wlow))
        # CHOICE: writable private mappings and shmem (both need swap or RAM).
        committed = sum(v.size // PAGE_SIZE for p in self.procs.values() for v in p.info.vmas
                        if (v.perms[1] == "w" and v.perms[3] == "p") or v.kind == "shmem")
        return MemInfo(
            total=self.config.ram_pages, free=free, available=available, cached=cached,
            swap_cached=swap_cached, mlocked=count["unevictable"],
            swap_total=self.config.swap_slots,
            swap_free=self.config.swap_slots - self.slots_used(), dirty=dirty, writeback=0,
            anon_pages=anon_pages, mapped=mapped, shmem=shmem,
            page_tables=sum(len(p.leaves) for p in self.procs.values()), hugetlb=hugetlb,
            zram=self.zram_pages(), committed=committed, wmark_min=self.wmin,
            wmark_low=self.wlow, wmark_high=self.whigh, **count)

    def vmstat(self) -> dict[str, int]:
        info = self.meminfo()
        out = dict(self.counters)
        out.update(nr_free_pages=info.free, nr_inactive_anon=info.inactive_anon,
                   nr_active_anon=info.active_anon, nr_inactive_file=info.inactive_file,
                   nr_active_file=info.active_file, nr_unevictable=info.unevictable,
                   nr_mlock=info.mlocked, nr_anon_pages=info.anon_pages, nr_mapped=info.mapped,
                   nr_file_pages=info.cached + info.swap_cached, nr_dirty=info.dirty,
                   nr_writeback=0, nr_shmem=info.shmem, nr_swapcached=info.swap_cached)
        return out

    def pagemap(self, pid: int, first_page: int, count: int, *, privileged: bool) -> UInt64Array:
        proc = self._proc(pid)
        counts = self._mapcounts()
        out = np.zeros(count, dtype=np.uint64)
        for i in range(count):
            pte = proc.ptes.get(first_page + i)
            if pte is None:
                continue
            if not pte.present:
                value = PM_SWAP
                if privileged:
                    value |= pte.slot << PM_SWAP_OFFSET_SHIFT  # CHOICE: offset = slot number
            elif pte.zero:
                value = PM_PRESENT  # CHOICE: no page, so no flags; the zero page's PFN is hidden
            else:
                value = PM_PRESENT
                if privileged:
                    value |= pte.frame
                if counts[pte.frame] == 1:
                    value |= PM_EXCLUSIVE
                if self.frames[pte.frame].kind != "anon":
                    value |= PM_FILE
            out[i] = value
        return out


def _index(vma: Vma, vpn: int) -> int:
    """The page index into the VMA's file or shmem object of virtual page ``vpn``."""
    return (vma.offset + vpn * PAGE_SIZE - vma.start) // PAGE_SIZE


def _round_up(value: int) -> int:
    return (value + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


def _replace(vma: Vma, **changes: Any) -> Vma:
    from dataclasses import replace

    return replace(vma, **changes)


def _mergeable(left: Vma, right: Vma) -> bool:
    if left.end != right.start:
        return False
    same = (left.kind == right.kind and left.perms == right.perms and left.name == right.name
            and left.path == right.path and left.locked == right.locked
            and left.object_id == right.object_id)
    if not same or left.kind == "hugetlb":
        return False
    if left.kind == "anon":
        return True
    return left.offset + left.size == right.offset
