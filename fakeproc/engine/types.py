"""Plain value types shared by the engine and its views.

Units are in the names: ``*_pages`` are 4 KiB pages, ``*_bytes`` bytes,
``*_pss`` fixed-point bytes shifted left by :data:`PSS_SHIFT` (the kernel's
smaps arithmetic, rounded once by the reader after summing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

PAGE_SIZE = 4096
PAGE_SHIFT = 12
PSS_SHIFT = 12
TICKS_PER_SECOND = 100  # one tick is 10 ms, USER_HZ

Kind = Literal["anon", "shmem", "hugetlb", "file"]
Dialect = Literal["v2", "caf"]
SwapKind = Literal["disk", "zram"]
ReclaimMode = Literal["file", "anon", "all"]

KINDS: tuple[Kind, ...] = ("anon", "shmem", "hugetlb", "file")

Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MachineConfig:
    """What the simulated machine is made of. Sizes in bytes."""

    ram_bytes: int = 4 << 30
    swap_bytes: int = 1 << 30
    swap_kind: SwapKind = "disk"
    zram_ratio: float = 3.0  # uncompressed pages per page of RAM that zram uses
    dialect: Dialect = "v2"
    seed: int = 0
    btime: int = 1_764_460_800  # boot time, seconds since the epoch (2025-11-30 00:00 UTC)
    dirty_expire_ticks: int = 3000  # vm.dirty_expire_centisecs
    dirty_writeback_ticks: int = 500  # vm.dirty_writeback_centisecs

    @property
    def ram_pages(self) -> int:
        return self.ram_bytes // PAGE_SIZE

    @property
    def swap_slots(self) -> int:
        """Usable slots: mkswap's header takes the first page, as swapon shows."""
        pages = self.swap_bytes // PAGE_SIZE
        return max(pages - 1, 0)


@dataclass(frozen=True)
class Vma:
    """One mapping of a process: [start, end) in bytes, as maps shows it."""

    start: int
    end: int
    perms: str  # "rw-p": r/w/x then s (shared) or p (private)
    offset: int  # bytes into the file or shmem object
    kind: Kind
    path: str | None = None  # the simulated file, for kind "file"
    name: str | None = None  # "[heap]", "[stack]", "[anon:x]", "[anon_shmem:x]"
    locked: bool = False
    inode: int = 0
    dev: tuple[int, int] = (0, 0)
    object_id: int = -1  # the file or shmem object behind it (engine-internal identity)

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def shared(self) -> bool:
        return self.perms[3] == "s"

    @property
    def has_file(self) -> bool:
        """True when the kernel's vma has a vm_file: file and shmem mappings."""
        return self.kind in ("file", "shmem")

    @property
    def display_name(self) -> str:
        """The name column of maps/smaps ("" for an unnamed anon mapping)."""
        if self.kind == "file":
            return self.path or ""
        if self.name is not None:
            return self.name
        if self.kind == "shmem":
            return "/dev/zero (deleted)"
        if self.kind == "hugetlb":
            return "/anon_hugepage (deleted)"
        return ""


@dataclass
class Process:
    """A simulated process: identity, counters, and its mappings (sorted by start)."""

    pid: int
    comm: str
    uid: int = 0
    gid: int = 0
    ppid: int = 0
    cmdline: tuple[str, ...] = ()
    exe: str | None = None
    oom_score_adj: int = 0
    start_tick: int = 0
    minflt: int = 0
    majflt: int = 0
    refaults: int = 0
    hiwater_rss_pages: int = 0
    hiwater_vm_pages: int = 0
    vmas: list[Vma] = field(default_factory=list)


@dataclass
class SmapsCounts:
    """Per-VMA smaps figures, one row per VMA in address order (numpy int64 arrays).

    Byte fields: rss, shared_clean, shared_dirty, private_clean, private_dirty,
    referenced, anonymous, swap, shared_hugetlb, private_hugetlb.
    Fixed-point fields (bytes << PSS_SHIFT): pss, pss_dirty, pss_anon,
    pss_file, pss_shmem, swap_pss, locked. Render a fixed-point sum as
    ``value >> PSS_SHIFT >> 10`` kB, once, after summing (kernel rule).
    """

    rss: Int64Array
    pss: Int64Array
    pss_dirty: Int64Array
    pss_anon: Int64Array
    pss_file: Int64Array
    pss_shmem: Int64Array
    shared_clean: Int64Array
    shared_dirty: Int64Array
    private_clean: Int64Array
    private_dirty: Int64Array
    referenced: Int64Array
    anonymous: Int64Array
    swap: Int64Array
    swap_pss: Int64Array
    locked: Int64Array
    shared_hugetlb: Int64Array
    private_hugetlb: Int64Array

    FIELDS = (
        "rss", "pss", "pss_dirty", "pss_anon", "pss_file", "pss_shmem",
        "shared_clean", "shared_dirty", "private_clean", "private_dirty",
        "referenced", "anonymous", "swap", "swap_pss", "locked",
        "shared_hugetlb", "private_hugetlb",
    )
    FIXED_POINT = frozenset({"pss", "pss_dirty", "pss_anon", "pss_file", "pss_shmem",
                             "swap_pss", "locked"})

    @classmethod
    def zeros(cls, n: int) -> SmapsCounts:
        return cls(**{f: np.zeros(n, dtype=np.int64) for f in cls.FIELDS})

    def total(self) -> SmapsCounts:
        """The one-row sum over all VMAs (what smaps_rollup rounds)."""
        return SmapsCounts(**{f: getattr(self, f).sum(keepdims=True) for f in self.FIELDS})

    def kib(self, name: str, row: int = 0) -> int:
        """One figure of one row in kB, rounded the kernel's way."""
        value = int(getattr(self, name)[row])
        if name in self.FIXED_POINT:
            value >>= PSS_SHIFT
        return value >> 10


@dataclass(frozen=True)
class ProcessMemory:
    """The memory lines of status/statm/stat, in pages."""

    vm_peak: int
    vm_size: int
    vm_lck: int
    vm_hwm: int
    vm_rss: int
    rss_anon: int
    rss_file: int
    rss_shmem: int
    vm_data: int
    vm_stk: int
    vm_exe: int
    vm_lib: int
    vm_pte_bytes: int
    vm_swap: int
    hugetlb: int
    text: int  # statm's text (code pages)


@dataclass(frozen=True)
class MemInfo:
    """Global figures for meminfo, in pages."""

    total: int
    free: int
    available: int
    cached: int
    swap_cached: int
    active_anon: int
    inactive_anon: int
    active_file: int
    inactive_file: int
    unevictable: int
    mlocked: int
    swap_total: int
    swap_free: int
    dirty: int
    writeback: int
    anon_pages: int
    mapped: int
    shmem: int
    page_tables: int
    hugetlb: int
    zram: int  # RAM held by compressed swap (zram's pool)
    committed: int  # Σ VmSize-like commit of writable private mappings
    wmark_min: int
    wmark_low: int
    wmark_high: int


@dataclass(slots=True)
class ReclaimResult:
    """What one reclaim (per-process, madvise or global) did, in pages."""

    scanned: int = 0
    # Copies of these (dict.copy runs in C: every reclaim write makes a result).
    reclaimed: dict[str, int] = field(
        default_factory={"anon": 0, "file": 0, "shmem": 0}.copy)
    skipped: dict[str, int] = field(
        default_factory={"shared": 0, "mlocked": 0, "no_swap": 0, "dirty": 0,
                         "hugetlb": 0}.copy)

    @property
    def reclaimed_total(self) -> int:
        return sum(self.reclaimed.values())

    def add(self, other: ReclaimResult) -> None:
        self.scanned += other.scanned
        for k, v in other.reclaimed.items():
            self.reclaimed[k] += v
        for k, v in other.skipped.items():
            self.skipped[k] += v


@dataclass
class TouchResult:
    """Faults one touch took, by cause."""

    minor: int = 0
    major: int = 0
    refaults: int = 0
    oom_killed: tuple[int, ...] = ()
