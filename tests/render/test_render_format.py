"""Line shapes of every file, checked on fakeproc's output and on this machine's /proc.

The checks in render_formats are written from the kernel's format strings,
not from fakeproc's field table; running them on the real files proves them.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import render_formats as fmt
from render_worlds import WORLDS

from fakeproc import render
from fakeproc.render import fields

PER_PID_CHECKS: dict[str, tuple[Callable[[str], Any], Callable[..., bytes]]] = {
    "maps": (fmt.check_maps, render.render_maps),
    "smaps": (fmt.check_smaps, render.render_smaps),
    "smaps_rollup": (fmt.check_smaps_rollup, render.render_smaps_rollup),
    "status": (fmt.check_status, render.render_status),
    "statm": (fmt.check_statm, render.render_statm),
    "stat": (fmt.check_pid_stat, render.render_stat),
}
GLOBAL_CHECKS: dict[str, tuple[Callable[[str], Any], Callable[..., bytes]]] = {
    "meminfo": (fmt.check_meminfo, render.render_meminfo),
    "vmstat": (fmt.check_vmstat, render.render_vmstat),
    "swaps": (fmt.check_swaps, render.render_swaps),
    "stat": (fmt.check_global_stat, render.render_global_stat),
    "uptime": (fmt.check_uptime, render.render_uptime),
    "loadavg": (fmt.check_loadavg, render.render_loadavg),
}
REAL_PROC = Path("/proc")
ON_LINUX_6_18 = platform.system() == "Linux" and platform.release().startswith("6.18")


@pytest.mark.parametrize("name", sorted(PER_PID_CHECKS))
def test_real_pid_file(name: str) -> None:
    check, _ = PER_PID_CHECKS[name]
    check((REAL_PROC / str(os.getpid()) / name).read_text())


@pytest.mark.parametrize("name", sorted(GLOBAL_CHECKS))
def test_real_global_file(name: str) -> None:
    check, _ = GLOBAL_CHECKS[name]
    check((REAL_PROC / name).read_text())


@pytest.mark.parametrize("world_name", sorted(WORLDS))
def test_rendered_files(world_name: str) -> None:
    m = WORLDS[world_name]()
    for check, fn in GLOBAL_CHECKS.values():
        check(fn(m).decode())
    for pid in m.pids():
        for check, fn in PER_PID_CHECKS.values():
            check(fn(m, pid).decode())
        assert render.render_comm(m, pid).decode().endswith("\n")
        assert len(render.render_comm(m, pid)) <= 16
        cmdline = render.render_cmdline(m, pid)
        assert cmdline == b"" or cmdline.endswith(b"\0")


@pytest.mark.skipif(not ON_LINUX_6_18, reason="the vmstat list is the one of Linux 6.18")
def test_vmstat_names_match_this_kernel() -> None:
    real = [line.split()[0] for line in (REAL_PROC / "vmstat").read_text().splitlines()]
    assert list(fields.VMSTAT_NAMES) == real


@pytest.mark.skipif(not ON_LINUX_6_18, reason="meminfo lines depend on the kernel's config")
def test_meminfo_labels_match_this_kernel() -> None:
    real = [line.split(":")[0] for line in (REAL_PROC / "meminfo").read_text().splitlines()]
    assert [line.head.split(":")[0] for line, _ in fields.MEMINFO] == real
