"""Files the tools read that the engine has no figures for: sys/kernel, cpuinfo, environ."""

from __future__ import annotations

from fakeproc.render import fields
from fakeproc.render.view import MachineView


def render_pid_max(m: MachineView) -> bytes:
    """/proc/sys/kernel/pid_max."""
    return f"{fields.PID_MAX}\n".encode("ascii")


def render_osrelease(m: MachineView) -> bytes:
    """/proc/sys/kernel/osrelease."""
    return f"{fields.OSRELEASE}\n".encode("ascii")


def render_ostype(m: MachineView) -> bytes:
    """/proc/sys/kernel/ostype."""
    return f"{fields.OSTYPE}\n".encode("ascii")


def render_environ(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/environ: a simulated process has no environment (but must exist)."""
    m.process(pid)
    return b""


def render_cpuinfo(m: MachineView) -> bytes:
    """/proc/cpuinfo: fields.NR_CPUS identical CPUs, one block each."""
    blocks = []
    for cpu in range(fields.NR_CPUS):
        lines = [f"{label}: {value.format(cpu=cpu, cpus=fields.NR_CPUS)}\n"
                 for label, value in fields.CPUINFO_LINES]
        blocks.append("".join(lines) + "\n")
    return "".join(blocks).encode("ascii")
