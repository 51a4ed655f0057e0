"""The obvious pure-Python engine, per page: the baseline the numpy engine must beat.

One small list per frame ([kind, flags, mapcount, last_access]), one dict per
process from page number to [frame, young], and plain loops. It implements
only what the benchmarks time (anon faults and touches, LRU victim choice,
per-VMA smaps figures), the way a careful Python programmer would write it
first: dict look-ups, ``heapq.nsmallest`` rather than a full sort.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

PAGE_SIZE = 4096
PSS_SHIFT = 12
FREE, ANON, FILE, SHMEM = 0, 1, 2, 3
DIRTY, REFERENCED, ACTIVE, MLOCKED = 1, 2, 4, 8
_PAGE_PSS = PAGE_SIZE << PSS_SHIFT


@dataclass
class PyProcess:
    pid: int
    vmas: list[tuple[int, int, str]] = field(default_factory=list)  # start page, end page, perms
    pt: dict[int, list[int]] = field(default_factory=dict)  # page -> [frame, young]
    minflt: int = 0


class PyMachine:
    """A per-page machine with Python objects for everything."""

    def __init__(self, ram_pages: int, swap_slots: int) -> None:
        self.frames: list[list[int]] = []  # grown as used, like the engine
        self.free: list[int] = []
        self.ram_pages = ram_pages
        self.swap_available = swap_slots
        self.procs: dict[int, PyProcess] = {}
        self.tick = 0

    def spawn(self, pid: int) -> None:
        self.procs[pid] = PyProcess(pid)

    def mmap(self, pid: int, first_page: int, pages: int, perms: str = "rw-p") -> None:
        proc = self.procs[pid]
        proc.vmas.append((first_page, first_page + pages, perms))
        proc.vmas.sort()

    def _allocate(self) -> int:
        if self.free:
            frame = self.free.pop()
            self.frames[frame] = [ANON, REFERENCED, 0, self.tick]
            return frame
        if len(self.frames) >= self.ram_pages:
            raise MemoryError("out of frames")
        self.frames.append([ANON, REFERENCED, 0, self.tick])
        return len(self.frames) - 1

    def touch(self, pid: int, page: int, write: bool) -> None:
        """One access: fault in a new anon frame, or mark a present one young and referenced."""
        proc = self.procs[pid]
        pte = proc.pt.get(page)
        if pte is None:
            frame = self._allocate()
            info = self.frames[frame]
            info[2] = 1
            if write:
                info[1] |= DIRTY
            proc.pt[page] = [frame, 1]
            proc.minflt += 1
            return
        info = self.frames[pte[0]]
        pte[1] = 1
        flags = info[1]
        if flags & REFERENCED and not flags & (ACTIVE | MLOCKED):
            flags |= ACTIVE
        flags |= REFERENCED
        if write:
            flags |= DIRTY
        info[1] = flags
        info[3] = self.tick

    def touch_many(self, pid: int, pages: list[int], write: bool = False) -> None:
        for page in pages:
            self.touch(pid, page, write)

    def pick_lru(self, target: int) -> list[int]:
        """The ``target`` least recently used evictable frames, by (age, frame);
        anon frames only while swap slots last (they all need one here)."""
        candidates = [(info[3], frame) for frame, info in enumerate(self.frames)
                      if info[0] in (ANON, FILE, SHMEM) and not info[1] & MLOCKED]
        slots = self.swap_available
        chosen: list[int] = []
        for _age, frame in heapq.nsmallest(len(candidates) if slots < target else target,
                                           candidates):
            if self.frames[frame][0] != FILE:
                if slots == 0:
                    continue
                slots -= 1
            chosen.append(frame)
            if len(chosen) == target:
                break
        return chosen

    def smaps(self, pid: int) -> list[dict[str, int]]:
        """Per-VMA figures (bytes; pss fixed-point), one dict per VMA, by walking every page."""
        proc = self.procs[pid]
        rows = []
        for start, end, _perms in proc.vmas:
            row = dict.fromkeys(("rss", "pss", "pss_dirty", "shared_clean", "shared_dirty",
                                 "private_clean", "private_dirty", "referenced", "anonymous",
                                 "swap"), 0)
            for page in range(start, end):
                pte = proc.pt.get(page)
                if pte is None:
                    continue
                kind, flags, mapcount, _age = self.frames[pte[0]]
                pss = _PAGE_PSS // max(mapcount, 1)
                dirty = flags & DIRTY
                row["rss"] += PAGE_SIZE
                row["pss"] += pss
                if dirty:
                    row["pss_dirty"] += pss
                if mapcount >= 2:
                    row["shared_dirty" if dirty else "shared_clean"] += PAGE_SIZE
                else:
                    row["private_dirty" if dirty else "private_clean"] += PAGE_SIZE
                if pte[1]:
                    row["referenced"] += PAGE_SIZE
                if kind == ANON:
                    row["anonymous"] += PAGE_SIZE
            rows.append(row)
        return rows
