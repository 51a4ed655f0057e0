"""Renderers: one pure function per procfs file, engine state → bytes.

Labels, widths and padding live in :mod:`fakeproc.render.fields`; the
functions here only choose the figures.
"""

from fakeproc.render.pagemap import render_pagemap
from fakeproc.render.process import (
    render_cmdline,
    render_comm,
    render_oom_score,
    render_oom_score_adj,
    render_stat,
    render_statm,
    render_status,
)
from fakeproc.render.smaps import (
    SmapsRenderer,
    render_maps,
    render_smaps,
    render_smaps_rollup,
)
from fakeproc.render.sysctl import (
    render_cpuinfo,
    render_environ,
    render_osrelease,
    render_ostype,
    render_pid_max,
)
from fakeproc.render.system import (
    render_global_stat,
    render_loadavg,
    render_meminfo,
    render_swaps,
    render_uptime,
    render_vmstat,
)
from fakeproc.render.view import MachineView

__all__ = [
    "MachineView",
    "SmapsRenderer",
    "render_cmdline",
    "render_comm",
    "render_cpuinfo",
    "render_environ",
    "render_global_stat",
    "render_loadavg",
    "render_maps",
    "render_meminfo",
    "render_oom_score",
    "render_oom_score_adj",
    "render_osrelease",
    "render_ostype",
    "render_pagemap",
    "render_pid_max",
    "render_smaps",
    "render_smaps_rollup",
    "render_stat",
    "render_statm",
    "render_status",
    "render_swaps",
    "render_uptime",
    "render_vmstat",
]
