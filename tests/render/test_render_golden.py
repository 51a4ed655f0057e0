"""Golden files: every renderer on fixed worlds, byte for byte.

Regenerate with ``FAKEPROC_REGEN=1 pytest tests/render`` and read the diff
against real /proc files before committing it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from render_worlds import WORLDS

from fakeproc import render
from fakeproc.engine import Machine

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("FAKEPROC_REGEN") == "1"

PER_PID: dict[str, Callable[[Machine, int], bytes]] = {
    "maps": render.render_maps,
    "smaps": render.render_smaps,
    "smaps_rollup": render.render_smaps_rollup,
    "status": render.render_status,
    "statm": render.render_statm,
    "stat": render.render_stat,
    "cmdline": render.render_cmdline,
    "comm": render.render_comm,
    "oom_score_adj": render.render_oom_score_adj,
    "oom_score": render.render_oom_score,
}
GLOBAL: dict[str, Callable[[Machine], bytes]] = {
    "meminfo": render.render_meminfo,
    "vmstat": render.render_vmstat,
    "swaps": render.render_swaps,
    "stat": render.render_global_stat,
    "uptime": render.render_uptime,
    "loadavg": render.render_loadavg,
}
# The pagemap windows kept as golden files: (pid, first page, pages).
PAGEMAP_WINDOWS = {
    "small": [(200, 0x7E6000000, 256), (100, 0x560000000, 16)],
    "small_zram": [(200, 0x7E6000000, 256)],
}


def rendered(world_name: str) -> dict[str, bytes]:
    """Every file of a world, by its path under the golden directory."""
    m = WORLDS[world_name]()
    files = {f"{name}": fn(m) for name, fn in GLOBAL.items()}
    for pid in m.pids():
        for name, fn in PER_PID.items():
            files[f"{pid}/{name}"] = fn(m, pid)
    for pid, first, count in PAGEMAP_WINDOWS.get(world_name, []):
        for privileged in (True, False):
            who = "root" if privileged else "user"
            files[f"{pid}/pagemap.{first:x}+{count}.{who}"] = render.render_pagemap(
                m, pid, first * 8, count * 8, privileged=privileged)
    return files


@pytest.mark.parametrize("world_name", sorted(WORLDS))
def test_golden(world_name: str) -> None:
    directory = GOLDEN / world_name
    files = rendered(world_name)
    if REGEN:
        for rel, data in files.items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    on_disk = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
    assert on_disk == set(files), "golden files and rendered files differ in name"
    for rel, data in sorted(files.items()):
        assert (directory / rel).read_bytes() == data, f"{world_name}/{rel} changed"
