"""The top-level files: meminfo, vmstat, swaps, stat, uptime, loadavg."""

from __future__ import annotations

from fakeproc.engine.types import PAGE_SIZE, TICKS_PER_SECOND, MemInfo
from fakeproc.render import fields
from fakeproc.render.view import MachineView

_KIB_PER_PAGE = PAGE_SIZE >> 10
_PAGES_PER_HUGE_PAGE = fields.HUGE_PAGE_KIB // _KIB_PER_PAGE


def _kernel_stack_kib(m: MachineView) -> int:
    """One kernel stack per simulated task."""
    return len(m.pids()) * fields.KERNEL_STACK_KIB_PER_TASK


def meminfo_figures(m: MachineView) -> dict[str, int]:
    """Every source of fields.MEMINFO, in kB, from the engine's MemInfo.

    What the engine does not model (buffers, slab, vmalloc, zswap, THP,
    balloon) is 0, so the remaining lines stay consistent with each other:
    Active = Active(anon) + Active(file), and so on.
    """
    info: MemInfo = m.meminfo()
    kib = {name: getattr(info, name) * _KIB_PER_PAGE for name in (
        "total", "free", "available", "cached", "swap_cached", "active_anon",
        "inactive_anon", "active_file", "inactive_file", "unevictable", "mlocked",
        "swap_total", "swap_free", "dirty", "writeback", "anon_pages", "mapped",
        "shmem", "page_tables", "hugetlb", "committed")}
    total_kib = kib["total"]
    # __vm_enough_memory's limit with overcommit_ratio 50 and no hugetlb pool.
    commit_limit = max(total_kib - kib["hugetlb"], 0) * fields.OVERCOMMIT_RATIO_PERCENT // 100
    huge_pages = -(-info.hugetlb // _PAGES_PER_HUGE_PAGE)
    figures = {
        "MemTotal": total_kib,
        "MemFree": kib["free"],
        "MemAvailable": kib["available"],
        "Buffers": 0,
        "Cached": kib["cached"],
        "SwapCached": kib["swap_cached"],
        "Active": kib["active_anon"] + kib["active_file"],
        "Inactive": kib["inactive_anon"] + kib["inactive_file"],
        "Active(anon)": kib["active_anon"],
        "Inactive(anon)": kib["inactive_anon"],
        "Active(file)": kib["active_file"],
        "Inactive(file)": kib["inactive_file"],
        "Unevictable": kib["unevictable"],
        "Mlocked": kib["mlocked"],
        "SwapTotal": kib["swap_total"],
        "SwapFree": kib["swap_free"],
        "Dirty": kib["dirty"],
        "Writeback": kib["writeback"],
        "AnonPages": kib["anon_pages"],
        "Mapped": kib["mapped"],
        "Shmem": kib["shmem"],
        "KernelStack": _kernel_stack_kib(m),
        "PageTables": kib["page_tables"],
        "CommitLimit": commit_limit + kib["swap_total"],
        "Committed_AS": kib["committed"],
        "VmallocTotal": fields.VMALLOC_TOTAL_KIB,
        "HugePages_Total": huge_pages,
        "Hugepagesize": fields.HUGE_PAGE_KIB,
        "Hugetlb": kib["hugetlb"],
        # The direct map covers RAM in 2 MiB pages; the rest in 4 KiB pages.
        "DirectMap4k": total_kib % fields.HUGE_PAGE_KIB,
        "DirectMap2M": total_kib - total_kib % fields.HUGE_PAGE_KIB,
    }
    return {source: figures.get(source, 0) for _line, source in fields.MEMINFO}


def render_meminfo(m: MachineView) -> bytes:
    """/proc/meminfo."""
    figures = meminfo_figures(m)
    return "".join(line.format(figures[source]) for line, source in fields.MEMINFO).encode(
        "ascii")


def vmstat_figures(m: MachineView) -> dict[str, int]:
    """Every vmstat counter: the engine's where it has one, else derived or 0."""
    info = m.meminfo()
    derived = {
        "nr_free_pages": info.free,
        "nr_free_pages_blocks": info.free - info.free % _PAGES_PER_HUGE_PAGE,
        "nr_zone_write_pending": info.dirty + info.writeback,
        "nr_mlock": info.mlocked,
        "nr_zspages": info.zram,
        "nr_inactive_anon": info.inactive_anon,
        "nr_active_anon": info.active_anon,
        "nr_inactive_file": info.inactive_file,
        "nr_active_file": info.active_file,
        "nr_unevictable": info.unevictable,
        "nr_anon_pages": info.anon_pages,
        "nr_mapped": info.mapped,
        # meminfo's Cached is the page cache without the swap cache.
        "nr_file_pages": info.cached + info.swap_cached,
        "nr_dirty": info.dirty,
        "nr_writeback": info.writeback,
        "nr_shmem": info.shmem,
        "nr_kernel_stack": _kernel_stack_kib(m),  # the kernel counts this one in kB
        "nr_page_table_pages": info.page_tables,
        "nr_swapcached": info.swap_cached,
        "nr_hugetlb": info.hugetlb,
    }
    dirtyable = info.free + info.active_file + info.inactive_file
    derived["nr_dirty_threshold"] = dirtyable * fields.DIRTY_RATIO_PERCENT // 100
    derived["nr_dirty_background_threshold"] = (
        dirtyable * fields.DIRTY_BACKGROUND_RATIO_PERCENT // 100)
    engine = m.vmstat()
    figures = {name: engine.get(name, derived.get(name, 0)) for name in fields.VMSTAT_NAMES}
    for zone_name, node_name in fields.VMSTAT_ZONE_MIRRORS:
        if zone_name not in engine:
            figures[zone_name] = figures[node_name]
    return figures


def render_vmstat(m: MachineView) -> bytes:
    """/proc/vmstat: ``name value`` per line, in the kernel's order."""
    figures = vmstat_figures(m)
    return "".join(f"{name} {figures[name]}\n" for name in fields.VMSTAT_NAMES).encode("ascii")


def render_swaps(m: MachineView) -> bytes:
    """/proc/swaps: the header, then the one simulated device if there is swap."""
    text = fields.SWAPS_HEADER
    slots = m.config.swap_slots
    if slots > 0:
        path, kind, priority = fields.SWAP_DEVICES[m.config.swap_kind]
        size_kib = slots * _KIB_PER_PAGE
        used_kib = m.swap_used_pages() * _KIB_PER_PAGE
        pad = max(fields.SWAPS_NAME_COLUMNS - len(path), 1)
        size_gap = "\t" if size_kib < fields.SWAPS_NARROW_BELOW_KIB else ""
        used_gap = "\t" if used_kib < fields.SWAPS_NARROW_BELOW_KIB else ""
        text += (f"{path}{' ' * pad}{kind}\t{size_kib}\t{size_gap}"
                 f"{used_kib}\t{used_gap}{priority}\n")
    return text.encode("ascii")


def _last_pid(m: MachineView) -> int:
    """The most recently created live process (by start tick, then pid)."""
    pids = m.pids()
    if not pids:
        return 0
    return max(pids, key=lambda pid: (m.process(pid).start_tick, pid))


def render_global_stat(m: MachineView) -> bytes:
    """/proc/stat: every CPU idle since boot, btime from the configuration."""
    idle_per_cpu = m.tick  # USER_HZ ticks, as the cpu lines count
    zeros_after_idle = " 0" * (fields.STAT_CPU_COLUMNS - 4)
    lines = [f"cpu  0 0 0 {idle_per_cpu * fields.NR_CPUS}{zeros_after_idle}"]
    lines += [f"cpu{n} 0 0 0 {idle_per_cpu}{zeros_after_idle}" for n in range(fields.NR_CPUS)]
    n_procs = len(m.pids())
    lines += [
        "intr 0",
        "ctxt 0",
        f"btime {m.config.btime}",
        f"processes {n_procs}",
        f"procs_running {min(n_procs, 1)}",
        "procs_blocked 0",
        "softirq 0" + " 0" * fields.STAT_SOFTIRQ_KINDS,
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def _centiseconds(ticks: int) -> str:
    seconds, hundredths = divmod(ticks * 100 // TICKS_PER_SECOND, 100)
    return f"{seconds}.{hundredths:02d}"


def render_uptime(m: MachineView) -> bytes:
    """/proc/uptime: time since boot and the idle time summed over CPUs."""
    return (f"{_centiseconds(m.tick)} {_centiseconds(m.tick * fields.NR_CPUS)}\n"
            .encode("ascii"))


def render_loadavg(m: MachineView) -> bytes:
    """/proc/loadavg: no load (simulated processes never run), tasks and the last pid."""
    n_procs = len(m.pids())
    return f"0.00 0.00 0.00 {min(n_procs, 1)}/{n_procs} {_last_pid(m)}\n".encode("ascii")
