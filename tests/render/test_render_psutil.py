"""psutil reads the rendered files as it reads /proc, and gets the engine's figures.

The files are written into a plain directory tree and psutil.PROCFS_PATH
points at it. The real /proc stays mounted: psutil decides at import time,
from /proc/self, whether smaps exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from render_worlds import WORLDS

from fakeproc import render
from fakeproc.engine import Machine
from fakeproc.engine.types import PAGE_SIZE, PSS_SHIFT, TICKS_PER_SECOND

PER_PID = {
    "stat": render.render_stat, "statm": render.render_statm, "status": render.render_status,
    "smaps": render.render_smaps, "smaps_rollup": render.render_smaps_rollup,
    "cmdline": render.render_cmdline, "comm": render.render_comm, "maps": render.render_maps,
}
GLOBAL = {
    "meminfo": render.render_meminfo, "vmstat": render.render_vmstat,
    "stat": render.render_global_stat, "swaps": render.render_swaps,
    "uptime": render.render_uptime, "loadavg": render.render_loadavg,
}


def write_tree(m: Machine, root: Path) -> None:
    for name, fn in GLOBAL.items():
        (root / name).write_bytes(fn(m))
    for pid in m.pids():
        (root / str(pid)).mkdir()
        for name, pfn in PER_PID.items():
            (root / str(pid) / name).write_bytes(pfn(m, pid))


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Machine]:
    m = WORLDS[request.param]()
    write_tree(m, tmp_path)
    saved = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = str(tmp_path)
    try:
        yield m
    finally:
        psutil.PROCFS_PATH = saved


def test_process_figures(world: Machine) -> None:
    m = world
    for pid in m.pids():
        proc = m.process(pid)
        mem = m.memory(pid)
        counts = m.smaps(pid)
        total = counts.total()
        p = psutil.Process(pid)
        assert p.name() == proc.comm
        assert p.uids() == (proc.uid, proc.uid, proc.uid)
        assert p.create_time() == pytest.approx(
            m.config.btime + proc.start_tick / TICKS_PER_SECOND)
        info = p.memory_info()
        assert info.rss == mem.vm_rss * PAGE_SIZE
        assert info.vms == mem.vm_size * PAGE_SIZE
        full = p.memory_full_info()
        # psutil sums the rollup's Private_* lines, each rounded to kB.
        private_kib = sum(int(getattr(total, name)[0]) >> 10 for name in
                          ("private_clean", "private_dirty", "private_hugetlb"))
        assert full.uss == private_kib * 1024
        assert full.pss == (int(total.pss[0]) >> PSS_SHIFT >> 10) << 10
        assert full.swap == (int(total.swap[0]) >> 10) << 10
        maps = p.memory_maps(grouped=False)
        assert len(maps) == len(proc.vmas)
        for row, vma, rss in zip(maps, proc.vmas, counts.rss, strict=True):
            assert row.addr == f"{vma.start:08x}-{vma.end:08x}"
            assert row.path == (vma.display_name.removesuffix(" (deleted)") or "[anon]")
            assert row.rss == int(rss)
        grouped = p.memory_maps(grouped=True)
        assert sum(g.rss for g in grouped) == int(total.rss[0])
        assert {g.path for g in grouped} == {r.path for r in maps}


def test_system_figures(world: Machine) -> None:
    m = world
    info = m.meminfo()
    vm = psutil.virtual_memory()
    assert vm.total == info.total * PAGE_SIZE
    assert vm.available == info.available * PAGE_SIZE
    assert vm.free == info.free * PAGE_SIZE
    assert vm.cached == info.cached * PAGE_SIZE
    assert vm.active == (info.active_anon + info.active_file) * PAGE_SIZE
    assert vm.inactive == (info.inactive_anon + info.inactive_file) * PAGE_SIZE
    assert vm.shared == info.shmem * PAGE_SIZE
    swap = psutil.swap_memory()
    assert swap.total == info.swap_total * PAGE_SIZE
    assert swap.free == info.swap_free * PAGE_SIZE
    assert swap.used == m.swap_used_pages() * PAGE_SIZE
    counters = m.vmstat()
    assert swap.sin == counters.get("pswpin", 0) * PAGE_SIZE
    assert swap.sout == counters.get("pswpout", 0) * PAGE_SIZE
    assert psutil.boot_time() == m.config.btime
