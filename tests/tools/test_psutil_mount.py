"""psutil, pointed at a mount, reports what smaps, smaps_rollup and status of the same pid say.

Each kind of reclaim gets its own process pair in one mount; every figure is
compared with the mount's own files read at the same state.
"""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
from conftest import RECLAIMS, build_scene

from fakeproc.testing import Mount

pytestmark = pytest.mark.fuse

KIB = 1024


@pytest.fixture
def procfs(module_mount: Mount) -> Iterator[Mount]:
    saved = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = str(module_mount.path)
    try:
        yield module_mount
    finally:
        psutil.PROCFS_PATH = saved


def _btime(m: Mount) -> int:
    line = next(line for line in m.read("stat").splitlines() if line.startswith("btime "))
    return int(line.split()[1])


@pytest.mark.parametrize(("kind", "base"), [(k, 200 + 10 * i) for i, k in enumerate(RECLAIMS)])
def test_process_figures_match_the_mount(procfs: Mount, kind: str, base: int) -> None:
    m = procfs
    pid = build_scene(m, base, RECLAIMS[kind])
    rollup, status, smaps = m.rollup(pid), m.status(pid), m.smaps(pid)
    if kind != "none":  # the reclaim took something, or the comparison proves little
        assert rollup["Rss"] < m.rollup(base)["Rss"] or rollup["Swap"] > 0
    if kind in ("anon", "all", "range", "pageout"):
        assert rollup["Swap"] > 0

    p = psutil.Process(pid)
    assert p.name() == m.read(f"{pid}/comm").strip()
    assert p.cmdline() == m.read(f"{pid}/cmdline").split("\0")[:-1]
    assert list(p.uids()) == [int(u) for u in
                              next(line for line in m.read(f"{pid}/status").splitlines()
                                   if line.startswith("Uid:")).split()[1:4]]
    start_ticks = int(m.read(f"{pid}/stat").rsplit(")", 1)[1].split()[19])
    assert p.create_time() == pytest.approx(_btime(m) + start_ticks / 100)

    info = p.memory_info()
    assert (info.rss, info.vms) == (status["VmRSS"] * KIB, status["VmSize"] * KIB)
    assert info.rss == rollup["Rss"] * KIB
    full = p.memory_full_info()
    assert full.uss == sum(rollup[k] for k in ("Private_Clean", "Private_Dirty",
                                               "Private_Hugetlb")) * KIB
    assert (full.pss, full.swap) == (rollup["Pss"] * KIB, rollup["Swap"] * KIB)
    total_kib = m.meminfo()["MemTotal"]
    assert p.memory_percent() == pytest.approx(100 * status["VmRSS"] / total_kib)

    rows = p.memory_maps(grouped=False)
    assert [r.addr for r in rows] == [row["range"] for row in smaps]
    for r, row in zip(rows, smaps, strict=True):
        assert r.path == (str(row["name"]).removesuffix(" (deleted)") or "[anon]")
        for field, key in (("rss", "Rss"), ("size", "Size"), ("pss", "Pss"), ("swap", "Swap"),
                           ("private_dirty", "Private_Dirty"),
                           ("shared_clean", "Shared_Clean"), ("anonymous", "Anonymous")):
            assert getattr(r, field) == int(row[key]) * KIB, (r.addr, field)
    grouped = {g.path: g for g in p.memory_maps(grouped=True)}
    assert set(grouped) == {r.path for r in rows}
    for path, g in grouped.items():
        same = [row for r, row in zip(rows, smaps, strict=True) if r.path == path]
        assert g.rss == sum(int(row["Rss"]) for row in same) * KIB
        assert g.swap == sum(int(row["Swap"]) for row in same) * KIB


def test_machine_figures_match_the_mount(procfs: Mount) -> None:
    m = procfs
    build_scene(m, 300, "anon")  # so swap and pswpout are not 0
    info, vmstat = m.meminfo(), m.vmstat()
    vm = psutil.virtual_memory()
    assert (vm.total, vm.free, vm.available) == (
        info["MemTotal"] * KIB, info["MemFree"] * KIB, info["MemAvailable"] * KIB)
    assert vm.cached == info["Cached"] * KIB
    sw = psutil.swap_memory()
    assert (sw.total, sw.free) == (info["SwapTotal"] * KIB, info["SwapFree"] * KIB)
    assert sw.used == sw.total - sw.free > 0
    assert sw.sout == vmstat["pswpout"] * 4096 > 0
    assert psutil.boot_time() == _btime(m)
    assert psutil.pids() == m.pids()
