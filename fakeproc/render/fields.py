"""Every label, width and padding rule of the rendered files, in one place.

The kernel builds its files from a handful of line shapes; each is one
:class:`Line` here. A table is a tuple of ``(Line, source)`` pairs, where the
source names the figure the line shows (an attribute of the engine's value
types, or a key the renderer computes). Renderers never pad by hand: they
look the line up here and call :meth:`Line.format`.

Kernel spellings live in this module and in the renderers only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One ``label value unit`` line shape.

    ``head`` is everything before the number (the label, its colon and the
    padding or tab that follows); the number is right-aligned in ``width``
    and widens, as ``seq_put_decimal_ull_width`` does, when it has more
    digits.
    """

    head: str
    width: int
    unit: str = " kB"

    def format(self, value: int) -> str:
        return f"{self.head}{value:>{self.width}}{self.unit}\n"

    def template(self) -> str:
        """The line as a %-format with one %d: lets a whole block format in one call."""
        return f"{self.head}%{self.width}d{self.unit}\n".replace("%", "%%", self.head.count("%"))


def padded(label: str, *, to: int = 16, width: int = 8, unit: str = " kB") -> Line:
    """``Label:`` padded with spaces to ``to`` columns (smaps, meminfo)."""
    return Line(f"{label}:".ljust(to), width, unit)


def tabbed(label: str, *, width: int = 8, unit: str = " kB") -> Line:
    """``Label:\\t`` then the number (status memory lines)."""
    return Line(f"{label}:\t", width, unit)


# --- smaps and smaps_rollup (fs/proc/task_mmu.c, __show_smap) -------------
#
# Sources: a SmapsCounts field name, or "size", "kernel_page" and
# "mmu_page" (computed per VMA), or None for a figure the engine does not
# model (KSM, LazyFree, THP), which the kernel shows as 0 here.

SMAPS_HEAD: tuple[tuple[Line, str], ...] = (
    (padded("Size"), "size"),
    (padded("KernelPageSize"), "kernel_page"),
    (padded("MMUPageSize"), "mmu_page"),
)

# The body shared by smaps and smaps_rollup, from Rss to Locked. The rollup
# inserts the three Pss_* split lines after Pss_Dirty (ROLLUP_PSS_SPLIT).
_SMAPS_BODY_BEFORE_SPLIT: tuple[tuple[Line, str | None], ...] = (
    (padded("Rss"), "rss"),
    (padded("Pss"), "pss"),
    (padded("Pss_Dirty"), "pss_dirty"),
)
ROLLUP_PSS_SPLIT: tuple[tuple[Line, str | None], ...] = (
    (padded("Pss_Anon"), "pss_anon"),
    (padded("Pss_File"), "pss_file"),
    (padded("Pss_Shmem"), "pss_shmem"),
)
_SMAPS_BODY_AFTER_SPLIT: tuple[tuple[Line, str | None], ...] = (
    (padded("Shared_Clean"), "shared_clean"),
    (padded("Shared_Dirty"), "shared_dirty"),
    (padded("Private_Clean"), "private_clean"),
    (padded("Private_Dirty"), "private_dirty"),
    (padded("Referenced"), "referenced"),
    (padded("Anonymous"), "anonymous"),
    (padded("KSM"), None),
    (padded("LazyFree"), None),
    (padded("AnonHugePages"), None),
    (padded("ShmemPmdMapped"), None),
    (padded("FilePmdMapped"), None),
    (padded("Shared_Hugetlb"), "shared_hugetlb"),
    # The kernel prints "Private_Hugetlb: %7lu kB": one column more label,
    # one less number, so the value still ends at column 24.
    (padded("Private_Hugetlb", to=17, width=7), "private_hugetlb"),
    (padded("Swap"), "swap"),
    (padded("SwapPss"), "swap_pss"),
    (padded("Locked"), "locked"),
)

SMAPS_BODY = _SMAPS_BODY_BEFORE_SPLIT + _SMAPS_BODY_AFTER_SPLIT
ROLLUP_BODY = _SMAPS_BODY_BEFORE_SPLIT + ROLLUP_PSS_SPLIT + _SMAPS_BODY_AFTER_SPLIT

# "THPeligible:    %8u": no unit. fakeproc models no THP, so it is 0, as
# for every VMA of a machine whose THP mode is "madvise".
THP_ELIGIBLE = padded("THPeligible", unit="")
# Shown only when the CPU and kernel support memory protection keys. This
# machine's kernel shows it (pkey 0 for every VMA); the spec's sample
# machine did not. We follow the machine the tests run on.
PROTECTION_KEY = padded("ProtectionKey", unit="")
SHOW_PROTECTION_KEY = True
VMFLAGS_HEAD = "VmFlags:"

KERNEL_PAGE_KIB = 4
HUGE_PAGE_KIB = 2048

# VmFlags mnemonics in the kernel's bit order (show_smap_vma_flags). Only
# the flags a simulated VMA can carry are listed.
VMFLAG_ORDER: tuple[str, ...] = (
    "rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "lo", "de", "ac", "ht",
)

# --- maps (show_vma_header_prefix) -----------------------------------------

# The name column: the kernel pads to 25 + 6 * sizeof(void *) - 1 = 72
# columns and writes one more space, so a name starts at column 73.
MAPS_NAME_PAD = 72
ROLLUP_NAME = "[rollup]"
ROLLUP_PERMS = "---p"

# Device numbers (major, minor) for a VMA whose engine record has none: a
# disk for simulated files, the shmem mount's anonymous device for shmem,
# and hugetlbfs's internal mount for hugetlb.
FILE_DEV = (0xFE, 0x00)
SHMEM_DEV = (0x00, 0x01)
HUGETLB_DEV = (0x00, 0x10)

# --- status (fs/proc/task_mmu.c task_mem, fs/proc/array.c) -----------------
#
# Sources: ProcessMemory fields in pages; "vm_pin" is always 0;
# "vm_pte_kib" is vm_pte_bytes >> 10; "hugetlb_kib" is hugetlb pages in kB.
STATUS_MEMORY: tuple[tuple[Line, str], ...] = (
    (tabbed("VmPeak"), "vm_peak"),
    (tabbed("VmSize"), "vm_size"),
    (tabbed("VmLck"), "vm_lck"),
    (tabbed("VmPin"), "vm_pin"),
    (tabbed("VmHWM"), "vm_hwm"),
    (tabbed("VmRSS"), "vm_rss"),
    (tabbed("RssAnon"), "rss_anon"),
    (tabbed("RssFile"), "rss_file"),
    (tabbed("RssShmem"), "rss_shmem"),
    (tabbed("VmData"), "vm_data"),
    (tabbed("VmStk"), "vm_stk"),
    (tabbed("VmExe"), "vm_exe"),
    (tabbed("VmLib"), "vm_lib"),
    (tabbed("VmPTE"), "vm_pte_kib"),
    (tabbed("VmSwap"), "vm_swap"),
    (tabbed("HugetlbPages"), "hugetlb_kib"),
)
# Figures STATUS_MEMORY shows already in kB; all the others are pages.
STATUS_KIB_SOURCES = frozenset({"vm_pin", "vm_pte_kib", "hugetlb_kib"})

# Plausible constant lines of status, for a process with one thread on a
# machine with two CPUs and one NUMA node, as this machine's kernel prints
# them (6.18 order). The identity and memory lines are computed.
STATUS_MEMS_ALLOWED = ",".join(["00000000"] * 31 + ["00000001"])
STATUS_SPECULATION = (
    ("Speculation_Store_Bypass", "thread vulnerable"),
    ("SpeculationIndirectBranch", "conditional enabled"),
)
ROOT_CAPS = "000001fffeffffff"  # as root in this machine's container
FULL_CAP_BOUND = "000001fffeffffff"
NO_CAPS = "0000000000000000"
NR_CPUS = 2

# --- meminfo (fs/proc/meminfo.c) ---------------------------------------------
#
# Sources are keys the renderer computes, all in kB. The few lines that
# are not "label padded to 16 + %8lu kB" say so.
MEMINFO: tuple[tuple[Line, str], ...] = (
    (padded("MemTotal"), "MemTotal"),
    (padded("MemFree"), "MemFree"),
    (padded("MemAvailable"), "MemAvailable"),
    (padded("Buffers"), "Buffers"),
    (padded("Cached"), "Cached"),
    (padded("SwapCached"), "SwapCached"),
    (padded("Active"), "Active"),
    (padded("Inactive"), "Inactive"),
    (padded("Active(anon)"), "Active(anon)"),
    (padded("Inactive(anon)"), "Inactive(anon)"),
    (padded("Active(file)"), "Active(file)"),
    (padded("Inactive(file)"), "Inactive(file)"),
    (padded("Unevictable"), "Unevictable"),
    (padded("Mlocked"), "Mlocked"),
    (padded("SwapTotal"), "SwapTotal"),
    (padded("SwapFree"), "SwapFree"),
    (padded("Zswap"), "Zswap"),
    (padded("Zswapped"), "Zswapped"),
    (padded("Dirty"), "Dirty"),
    (padded("Writeback"), "Writeback"),
    (padded("AnonPages"), "AnonPages"),
    (padded("Mapped"), "Mapped"),
    (padded("Shmem"), "Shmem"),
    (padded("KReclaimable"), "KReclaimable"),
    (padded("Slab"), "Slab"),
    (padded("SReclaimable"), "SReclaimable"),
    (padded("SUnreclaim"), "SUnreclaim"),
    (padded("KernelStack"), "KernelStack"),
    (padded("PageTables"), "PageTables"),
    (padded("SecPageTables"), "SecPageTables"),
    (padded("NFS_Unstable"), "NFS_Unstable"),
    (padded("Bounce"), "Bounce"),
    (padded("WritebackTmp"), "WritebackTmp"),
    (padded("CommitLimit"), "CommitLimit"),
    (padded("Committed_AS"), "Committed_AS"),
    (padded("VmallocTotal"), "VmallocTotal"),
    (padded("VmallocUsed"), "VmallocUsed"),
    (padded("VmallocChunk"), "VmallocChunk"),
    (padded("Percpu"), "Percpu"),
    (padded("AnonHugePages"), "AnonHugePages"),
    (padded("ShmemHugePages"), "ShmemHugePages"),
    (padded("ShmemPmdMapped"), "ShmemPmdMapped"),
    (padded("FileHugePages"), "FileHugePages"),
    (padded("FilePmdMapped"), "FilePmdMapped"),
    (padded("Balloon"), "Balloon"),
    # hugetlb_report_meminfo: "HugePages_Total:   %5lu", counts, no unit.
    (padded("HugePages_Total", to=19, width=5, unit=""), "HugePages_Total"),
    (padded("HugePages_Free", to=19, width=5, unit=""), "HugePages_Free"),
    (padded("HugePages_Rsvd", to=19, width=5, unit=""), "HugePages_Rsvd"),
    (padded("HugePages_Surp", to=19, width=5, unit=""), "HugePages_Surp"),
    (padded("Hugepagesize"), "Hugepagesize"),
    (padded("Hugetlb"), "Hugetlb"),
    (padded("DirectMap4k"), "DirectMap4k"),
    (padded("DirectMap2M"), "DirectMap2M"),
    (padded("DirectMap1G"), "DirectMap1G"),
)

# x86_64 with 4-level page tables: 32 TiB - 1 in kB.
VMALLOC_TOTAL_KIB = 34_359_738_367
KERNEL_STACK_KIB_PER_TASK = 16  # THREAD_SIZE on x86_64
OVERCOMMIT_RATIO_PERCENT = 50  # vm.overcommit_ratio default

# --- vmstat (mm/vmstat.c vmstat_text), Linux 6.18 x86_64, in kernel order ---
VMSTAT_NAMES: tuple[str, ...] = (
    "nr_free_pages", "nr_free_pages_blocks", "nr_zone_inactive_anon",
    "nr_zone_active_anon", "nr_zone_inactive_file", "nr_zone_active_file",
    "nr_zone_unevictable", "nr_zone_write_pending", "nr_mlock", "nr_zspages",
    "nr_free_cma", "numa_hit", "numa_miss", "numa_foreign", "numa_interleave",
    "numa_local", "numa_other", "nr_inactive_anon", "nr_active_anon",
    "nr_inactive_file", "nr_active_file", "nr_unevictable", "nr_slab_reclaimable",
    "nr_slab_unreclaimable", "nr_isolated_anon", "nr_isolated_file",
    "workingset_nodes", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file",
    "workingset_restore_anon", "workingset_restore_file",
    "workingset_nodereclaim", "nr_anon_pages", "nr_mapped", "nr_file_pages",
    "nr_dirty", "nr_writeback", "nr_shmem", "nr_shmem_hugepages",
    "nr_shmem_pmdmapped", "nr_file_hugepages", "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages", "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim", "nr_dirtied", "nr_written",
    "nr_throttled_written", "nr_kernel_misc_reclaimable", "nr_foll_pin_acquired",
    "nr_foll_pin_released", "nr_kernel_stack", "nr_page_table_pages",
    "nr_sec_page_table_pages", "nr_iommu_pages", "nr_swapcached",
    "pgpromote_success", "pgpromote_candidate", "pgpromote_candidate_nrl",
    "pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged",
    "pgdemote_proactive", "nr_hugetlb", "nr_balloon_pages", "nr_kernel_file_pages",
    "nr_dirty_threshold", "nr_dirty_background_threshold", "nr_memmap_pages",
    "nr_memmap_boot_pages", "pgpgin", "pgpgout", "pswpin", "pswpout",
    "pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_movable",
    "pgalloc_device", "allocstall_dma", "allocstall_dma32", "allocstall_normal",
    "allocstall_movable", "allocstall_device", "pgskip_dma", "pgskip_dma32",
    "pgskip_normal", "pgskip_movable", "pgskip_device", "pgfree", "pgactivate",
    "pgdeactivate", "pglazyfree", "pgfault", "pgmajfault", "pglazyfreed",
    "pgrefill", "pgreuse", "pgsteal_kswapd", "pgsteal_direct",
    "pgsteal_khugepaged", "pgsteal_proactive", "pgscan_kswapd", "pgscan_direct",
    "pgscan_khugepaged", "pgscan_proactive", "pgscan_direct_throttle",
    "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
    "zone_reclaim_success", "zone_reclaim_failed", "pginodesteal",
    "slabs_scanned", "kswapd_inodesteal", "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly", "pageoutrun", "pgrotated", "drop_pagecache",
    "drop_slab", "oom_kill", "numa_pte_updates", "numa_huge_pte_updates",
    "numa_hint_faults", "numa_hint_faults_local", "numa_pages_migrated",
    "pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
    "thp_migration_fail", "thp_migration_split", "compact_migrate_scanned",
    "compact_free_scanned", "compact_isolated", "compact_stall", "compact_fail",
    "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned", "htlb_buddy_alloc_success",
    "htlb_buddy_alloc_fail", "unevictable_pgs_culled", "unevictable_pgs_scanned",
    "unevictable_pgs_rescued", "unevictable_pgs_mlocked",
    "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
    "unevictable_pgs_stranded", "thp_fault_alloc", "thp_fault_fallback",
    "thp_fault_fallback_charge", "thp_collapse_alloc", "thp_collapse_alloc_failed",
    "thp_file_alloc", "thp_file_fallback", "thp_file_fallback_charge",
    "thp_file_mapped", "thp_split_page", "thp_split_page_failed",
    "thp_deferred_split_page", "thp_underused_split_page", "thp_split_pmd",
    "thp_scan_exceed_none_pte", "thp_scan_exceed_swap_pte",
    "thp_scan_exceed_share_pte", "thp_split_pud", "thp_zero_page_alloc",
    "thp_zero_page_alloc_failed", "thp_swpout", "thp_swpout_fallback",
    "balloon_inflate", "balloon_deflate", "balloon_migrate", "swap_ra",
    "swap_ra_hit", "swpin_zero", "swpout_zero", "ksm_swpin_copy", "cow_ksm",
    "zswpin", "zswpout", "zswpwb", "direct_map_level2_splits",
    "direct_map_level3_splits", "direct_map_level2_collapses",
    "direct_map_level3_collapses", "nr_unstable",
)

# Per-zone counters that mirror a node counter on a one-zone machine.
VMSTAT_ZONE_MIRRORS: tuple[tuple[str, str], ...] = (
    ("nr_zone_inactive_anon", "nr_inactive_anon"),
    ("nr_zone_active_anon", "nr_active_anon"),
    ("nr_zone_inactive_file", "nr_inactive_file"),
    ("nr_zone_active_file", "nr_active_file"),
    ("nr_zone_unevictable", "nr_unevictable"),
)
DIRTY_RATIO_PERCENT = 20  # vm.dirty_ratio default
DIRTY_BACKGROUND_RATIO_PERCENT = 10  # vm.dirty_background_ratio default

# --- swaps (mm/swapfile.c swap_show) ------------------------------------------
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
SWAPS_NAME_COLUMNS = 40
# The kernel adds a second tab after a size or use below this many kB.
SWAPS_NARROW_BELOW_KIB = 10_000_000
# (path, type column, priority) per simulated swap kind. A regular file
# shows as "file" followed by a tab, so both kinds line up.
SWAP_DEVICES: dict[str, tuple[str, str, int]] = {
    "disk": ("/swapfile", "file\t", -2),
    "zram": ("/dev/zram0", "partition", 100),
}

# --- top-level stat -------------------------------------------------------------
# cpu: user nice system idle iowait irq softirq steal guest guest_nice.
STAT_CPU_COLUMNS = 10
STAT_SOFTIRQ_KINDS = 10


# --- sys/kernel (the sysctls procps reads) -------------------------------

PID_MAX = 4_194_304  # PID_MAX_LIMIT on 64-bit, the engine's largest pid
OSTYPE = "Linux"
# The kernel whose formats the renderers follow; procps picks its parsers by it.
OSRELEASE = "6.18.0-fakeproc"

# --- cpuinfo (arch/x86/kernel/cpu/proc.c): one block per CPU --------------
# ``label\t: value``; labels under 8 columns take a second tab, as the kernel
# pads them. top reads the file to count CPUs and tell core types apart.
CPUINFO_LINES: tuple[tuple[str, str], ...] = (
    ("processor\t", "{cpu}"),
    ("vendor_id\t", "GenuineIntel"),
    ("cpu family\t", "6"),
    ("model\t\t", "85"),
    ("model name\t", "fakeproc virtual CPU"),
    ("stepping\t", "7"),
    ("cpu MHz\t\t", "2000.000"),
    ("physical id\t", "0"),
    ("siblings\t", "{cpus}"),
    ("core id\t\t", "{cpu}"),
    ("cpu cores\t", "{cpus}"),
    ("apicid\t\t", "{cpu}"),
    ("fpu\t\t", "yes"),
    ("flags\t\t", "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat "
                  "pse36 clflush mmx fxsr sse sse2 ht syscall nx lm"),
    ("bogomips\t", "4000.00"),
)
