"""Files that show the same figure must agree, on fixed and on generated worlds."""

from __future__ import annotations

import pytest
import render_formats as fmt
from hypothesis import HealthCheck, given, settings
from render_worlds import WORLDS, random_worlds

from fakeproc import render
from fakeproc.engine import Machine

ROLLUP_ONLY = {"Pss_Anon", "Pss_File", "Pss_Shmem"}
FIXED_POINT_LABELS = {"Pss", "Pss_Dirty", "SwapPss", "Locked"}


def check_world(m: Machine) -> None:
    for pid in m.pids():
        blocks = fmt.check_smaps(render.render_smaps(m, pid).decode())
        rollup = fmt.check_smaps_rollup(render.render_smaps_rollup(m, pid).decode())
        status = fmt.check_status(render.render_status(m, pid).decode())
        statm = fmt.check_statm(render.render_statm(m, pid).decode())
        stat = fmt.check_pid_stat(render.render_stat(m, pid).decode())
        vmas = m.process(pid).vmas
        assert len(blocks) == len(vmas)

        # rollup = Σ smaps: exact for byte fields; for fixed-point ones the
        # rollup rounds once, so it is at least the sum of rounded figures
        # and less than that plus one kB per VMA.
        for label, value in rollup.items():
            if label in ROLLUP_ONLY:
                continue
            summed = sum(b[label] for b in blocks)
            if label in FIXED_POINT_LABELS:
                assert summed <= value < summed + max(len(blocks), 1), label
            else:
                assert value == summed, label
        assert rollup["Pss_Anon"] + rollup["Pss_File"] + rollup["Pss_Shmem"] <= rollup["Pss"]
        assert rollup["Pss"] <= rollup["Rss"] + len(blocks)
        assert rollup["Shared_Clean"] + rollup["Shared_Dirty"] + rollup["Private_Clean"] \
            + rollup["Private_Dirty"] == rollup["Rss"]

        def kib(label: str, status: dict[str, str] = status) -> int:
            return int(status[label].split()[0])

        # status VmRSS = RssAnon + RssFile + RssShmem = rollup Rss.
        assert kib("VmRSS") == kib("RssAnon") + kib("RssFile") + kib("RssShmem")
        assert kib("VmRSS") == rollup["Rss"]
        assert kib("VmSwap") <= rollup["Swap"]
        assert kib("VmHWM") >= kib("VmRSS")
        assert kib("VmSize") == sum(b["Size"] for b in blocks)
        # statm resident * 4 = VmRSS; size * 4 = VmSize.
        size, resident, shared, _text, _lib, _data, _dt = statm
        assert resident * 4 == kib("VmRSS")
        assert size * 4 == kib("VmSize")
        assert shared * 4 == kib("RssFile") + kib("RssShmem")
        # stat: vsize in bytes, rss in pages, faults from the engine.
        proc = m.process(pid)
        assert int(stat[22]) == size * 4096
        assert int(stat[23]) == resident
        assert (int(stat[9]), int(stat[11])) == (proc.minflt, proc.majflt)
        assert int(stat[21]) == proc.start_tick

    meminfo = fmt.check_meminfo(render.render_meminfo(m).decode())
    vmstat = fmt.check_vmstat(render.render_vmstat(m).decode())
    swaps = fmt.check_swaps(render.render_swaps(m).decode())
    assert meminfo["Active"] == meminfo["Active(anon)"] + meminfo["Active(file)"]
    assert meminfo["Inactive"] == meminfo["Inactive(anon)"] + meminfo["Inactive(file)"]
    assert meminfo["MemFree"] == vmstat["nr_free_pages"] * 4
    assert meminfo["Mlocked"] == vmstat["nr_mlock"] * 4
    assert meminfo["AnonPages"] == vmstat["nr_anon_pages"] * 4
    assert meminfo["SwapCached"] == vmstat["nr_swapcached"] * 4
    assert vmstat["nr_zone_inactive_anon"] == vmstat["nr_inactive_anon"]
    if meminfo["SwapTotal"]:
        (row,) = swaps
        assert int(row["size"]) == meminfo["SwapTotal"]
        assert int(row["used"]) == meminfo["SwapTotal"] - meminfo["SwapFree"]
    else:
        assert swaps == []
    uptime, idle = fmt.check_uptime(render.render_uptime(m).decode())
    assert round(uptime * 100) == m.tick
    stat = fmt.check_global_stat(render.render_global_stat(m).decode())
    assert int(stat["cpu"].split()[3]) == round(idle * 100)
    assert int(stat["btime"]) == m.config.btime
    loadavg = fmt.check_loadavg(render.render_loadavg(m).decode())
    assert loadavg[3].endswith(f"/{len(m.pids())}")


@pytest.mark.parametrize("world_name", sorted(WORLDS))
def test_fixed_worlds(world_name: str) -> None:
    check_world(WORLDS[world_name]())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_worlds())
def test_generated_worlds(m: Machine) -> None:
    check_world(m)


def test_smaps_renderer_tracks_changes() -> None:
    m = WORLDS["small"]()
    cache = render.SmapsRenderer()
    for step in range(4):
        assert cache.render(m, 200) == render.render_smaps(m, 200)
        assert cache.render(m, 100) == render.render_smaps(m, 100)
        if step == 0:
            m.touch(200, 0x7E6000000000, 1 << 20, write=True)
        elif step == 1:
            m.reclaim(200, "anon")
        elif step == 2:
            m.munmap(200, 0x7E6000000000, 1 << 20)
