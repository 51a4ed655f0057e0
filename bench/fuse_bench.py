"""Figures through a real mount: fakeproc's FUSE file system end to end, against
a minimal libfuse3 C file system (``c/minifs.c``) and the kernel's /proc; and,
for scale, the floor of any pyfuse3 daemon (``nullfs.py``, handlers that do
nothing) against the same C file system.

Everything that touches a mount point is guarded: a mount that does not
answer could block any process that looks at it, so the first look is made
by a child process with a time limit, and the daemon is killed (by its pid)
and lazily unmounted if it fails to answer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import kernel
from bench.context import Context
from bench.engine_bench import kernel_pageout
from bench.harness import Figure, Report, measure, measure_alternating
from bench.kernel import read_file

MOUNT_TIMEOUT_S = 20.0
PROBE_TIMEOUT_S = 5.0
RECLAIM_PID = 200
STATUS_PID = 201
VMAS_PID = 202
BASE = 0x3F80_0000_0000


class MountFailed(Exception):
    """The file system did not mount or does not answer (the message says how)."""


def _mounted(mountpoint: Path) -> bool:
    target = str(mountpoint)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if line.split()[4] == target:
            return True
    return False


def _probe(path: Path) -> bool:
    """True if ``path`` can be stat'ed within the time limit, by a child process."""
    try:
        done = subprocess.run(["stat", "-c", "%s", str(path)], capture_output=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@dataclass
class Mount:
    mountpoint: Path
    proc: subprocess.Popen[bytes]
    log: Path


def _stop(mount: Mount) -> None:
    if _mounted(mount.mountpoint):
        subprocess.run(["fusermount3", "-u", "-z", str(mount.mountpoint)], capture_output=True,
                       check=False)
    if mount.proc.poll() is None:
        mount.proc.send_signal(signal.SIGTERM)
        try:
            mount.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mount.proc.kill()
            mount.proc.wait()


@contextlib.contextmanager
def mounted(argv: list[str], mountpoint: Path, probe: str, log: Path) -> Iterator[Mount]:
    """Run a foreground FUSE daemon on ``mountpoint`` until the block ends."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as log_file:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT)
    mount = Mount(mountpoint, proc, log)
    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not _mounted(mountpoint):
            if proc.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                raise MountFailed(f"daemon exited {proc.returncode}: {' '.join(tail)}")
            if time.monotonic() > deadline:
                raise MountFailed(f"not mounted within {MOUNT_TIMEOUT_S:g} s")
            time.sleep(0.05)
        if not _probe(mountpoint / probe):
            raise MountFailed(f"mounted, but {probe} did not answer within "
                              f"{PROBE_TIMEOUT_S:g} s (the daemon is stuck)")
        yield mount
    finally:
        _stop(mount)


def write_file(path: Path, data: bytes) -> None:
    """open, write, close: what `echo X > file` costs (without O_TRUNC's setattr)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _count_requests(log: Path, marker: str, before: int, ops: int) -> dict[str, float]:
    """Requests per op by type, from the debug log lines after ``before``.

    ``marker`` precedes the request's name: libfuse's ``opcode: READ`` and
    fakeproc's ``request read``.
    """
    counts: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines()[before:]:
        if marker in line:
            name = line.split(marker, 1)[1].split()[0].rstrip(",").upper()
            counts[name] = counts.get(name, 0) + 1 / ops
    return dict(sorted(counts.items()))


def _requests_per_op(log: Path, marker: str, op: Callable[[], object]) -> dict[str, float]:
    """Run ``op`` 20 times (after 3 untimed) and count the requests it sent."""
    n = 20
    for _ in range(3):
        op()
    time.sleep(0.2)
    before = _log_lines(log)
    for _ in range(n):
        op()
    time.sleep(0.2)  # the daemon's log is flushed per line; let it land
    return _count_requests(log, marker, before, n)


def _record_requests(fig: Figure, side: str, counts: dict[str, float]) -> None:
    fig.extra[f"{side}_requests_per_op"] = round(sum(counts.values()), 2)
    fig.extra[f"{side}_requests_by_type"] = {k: round(v, 2) for k, v in counts.items()}


def _log_lines(log: Path) -> int:
    return len(log.read_text(errors="replace").splitlines())


def bench_fuse(ctx: Context, report: Report) -> None:
    s = ctx.sizes
    group = "through the mount"
    side_by_side = ("fakeproc, the C file system, the no-op pyfuse3 one and fakeproc "
                    "--busy-poll 0 mounted side by side, their repeats taking turns "
                    f"({s.fuse_ops:,} ops each)")
    op_figs = (
        report.add(Figure(
            "status read op (open+read+close)", group, "C libfuse3 fs read op", "<= 1.5", 1.5,
            fakeproc_units=s.fuse_ops, baseline_units=s.fuse_ops, unit_name="op",
            note=side_by_side)),
        report.add(Figure(
            "reclaim write op (open+write+close)", group, "C libfuse3 fs write op", "<= 1.5",
            1.5, fakeproc_units=s.fuse_ops, baseline_units=s.fuse_ops, unit_name="op",
            note=side_by_side)))

    def info_figs(subject: str, suffix: str, note: str) -> tuple[Figure, ...]:
        """The op figures again, with another file system timed against the C one."""
        return tuple(report.add(Figure(
            f"{fig.name.split(' (')[0]}, {suffix}", group, fig.baseline_name,
            fakeproc_units=s.fuse_ops, baseline_units=s.fuse_ops, unit_name="op",
            subject=subject, note=note)) for fig in op_figs)

    floor_figs = info_figs(
        "no-op pyfuse3 fs", "no-op pyfuse3 fs",
        "the floor of a Python FUSE daemon: pyfuse3 under fakeproc's request loop, handlers "
        "that do nothing (bench/nullfs.py); what fakeproc costs above it is its own work")
    sleeping_figs = info_figs(
        "fakeproc --busy-poll 0", "--busy-poll 0",
        "fakeproc without its busy poll: each request found by a read that sleeps, as the C "
        "file system's")
    reclaim_fig = report.add(Figure(
        f"echo anon > reclaim, {s.reclaim_bytes >> 20} MiB resident", group,
        "kernel process_madvise PAGEOUT (clean file)", "<= 0.25", 0.25,
        note="open+write 'anon'+close of <pid>/reclaim on the mount, the range all dirty anon "
             "resident (re-touched, untimed, before each repeat)"))
    smaps_n = s.smaps_vmas if s.name == "full" else min(s.smaps_vmas, 1_000)
    smaps_fig = report.add(Figure(
        f"cat smaps of a {smaps_n:,}-VMA process", group, "kernel /proc/PID/smaps",
        "<= 1.5" if smaps_n == s.smaps_vmas else "",
        1.5 if smaps_n == s.smaps_vmas else None,
        note="" if smaps_n == s.smaps_vmas else
        "quick mode: 1,000 VMAs (building VMAs through sim/ctl costs O(VMAs) a mmap)"))
    if not Path("/dev/fuse").exists() or shutil.which("fusermount3") is None:
        for fig in report.figures:
            if fig.group == group:
                fig.na = "no /dev/fuse or fusermount3"
        return
    try:
        minifs = ctx.binaries.get("minifs") or kernel.compile_c(
            kernel.HERE / "c" / "minifs.c", ctx.workdir, pkg="fuse3")
        ctx.binaries["minifs"] = minifs
    except kernel.Unavailable as exc:
        for fig in (*op_figs, *floor_figs, *sleeping_figs):
            fig.na = f"C FUSE baseline: {exc}"
    else:
        _op_figures(ctx, minifs, op_figs, floor_figs, sleeping_figs)
    try:
        _fakeproc_figures(ctx, reclaim_fig, smaps_fig, smaps_n)
    except MountFailed as exc:
        for fig in (reclaim_fig, smaps_fig):
            if fig.na is None:
                fig.na = f"fakeproc mount: {exc}"


@dataclass
class _Subject:
    """A file system in the op figures: its two files, its daemon, and the CPU it used."""

    root: Path  # where status and reclaim are
    pid: int
    cpu_s: list[float] = field(default_factory=list)  # the daemon's CPU time, per run

    def ops(self, count: int, op: Callable[[Path], object], name: str) -> Callable[[], None]:
        """``count`` ops on ``root/name``, noting the daemon's CPU time in ``cpu_s``."""
        path = self.root / name

        def run() -> None:
            before = _daemon_cpu_s(self.pid)
            for _ in range(count):
                op(path)
            self.cpu_s.append(_daemon_cpu_s(self.pid) - before)
        return run

    def cpu_per_op(self, runs: int, count: int) -> float:
        """The daemon's median CPU time per op over the last ``runs`` runs of ``count`` ops."""
        return statistics.median(self.cpu_s[-runs:]) / count


def _daemon_cpu_s(pid: int) -> float:
    """Time on a CPU of the daemon's main thread, the one that serves requests
    (/proc/PID/schedstat counts in nanoseconds; utime and stime in clock ticks)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def _op_figures(ctx: Context, minifs: Path, op_figs: tuple[Figure, ...],
                floor_figs: tuple[Figure, ...], sleeping_figs: tuple[Figure, ...]) -> None:
    """The status read and reclaim write ops of fakeproc, the C file system, the
    no-op pyfuse3 one and fakeproc without busy polling, all mounted at once and
    taking turns; then the requests each op sends (fakeproc's and C's)."""
    s = ctx.sizes
    fakeproc = [sys.executable, "-m", "fakeproc", "mount", "MNT", "--foreground"]
    daemons = [  # name, argv (MNT: the mount point), file to probe, figures it is the subject of
        ("C libfuse3 fs", [str(minifs), "MNT", "-f", "-s"], "status", ()),
        ("no-op pyfuse3 fs", [sys.executable, "-m", "bench.nullfs", "MNT"], "status",
         floor_figs),
        ("fakeproc", fakeproc, "sim/clock", op_figs),
        ("fakeproc --busy-poll 0", [*fakeproc, "--busy-poll", "0"], "sim/clock", sleeping_figs),
    ]
    subjects: list[tuple[_Subject, tuple[Figure, ...]]] = []
    with contextlib.ExitStack() as stack:
        for i, (name, argv, probe, figs) in enumerate(daemons):
            mnt = ctx.workdir / f"ops{i}"
            try:
                mount = stack.enter_context(mounted(
                    [str(mnt) if arg == "MNT" else arg for arg in argv], mnt, probe,
                    ctx.workdir / f"ops{i}.log"))
            except MountFailed as exc:
                for fig in (*op_figs, *floor_figs, *sleeping_figs) if i == 0 else figs:
                    fig.na = f"{name}: {exc}"
                if i == 0:
                    return
                continue
            root = mnt
            if probe == "sim/clock":  # a fakeproc: the files are a process's
                _ctl(mnt, [f"spawn {STATUS_PID} status", f"mmap {STATUS_PID} {BASE:#x} 1M anon",
                           f"touch {STATUS_PID} {BASE:#x} 1M write"])
                root = mnt / str(STATUS_PID)
            subjects.append((_Subject(root, mount.proc.pid), figs))
        # No file mappings: "file" reclaims nothing, so the write is all FUSE + parsing.
        ops: list[tuple[Callable[[Path], object], str]] = [
            (read_file, "status"), (lambda path: write_file(path, b"file\n"), "reclaim")]
        c = subjects[0][0]
        for k, (op, name) in enumerate(ops):
            times = measure_alternating(
                [subject.ops(s.fuse_ops, op, name) for subject, _ in subjects], s.repeats)
            for (subject, figs), stats in zip(subjects[1:], times[1:], strict=True):
                fig = figs[k]
                fig.fakeproc, fig.baseline = stats, times[0]
                fig.cpu_per_unit = (subject.cpu_per_op(s.repeats, s.fuse_ops),
                                    c.cpu_per_op(s.repeats, s.fuse_ops))
    status_fig, write_fig = op_figs
    _c_requests(ctx, minifs, status_fig, write_fig)
    _fakeproc_requests(ctx, status_fig, write_fig)


def _c_requests(ctx: Context, minifs: Path, status_fig: Figure, write_fig: Figure) -> None:
    """Requests per op, from libfuse's debug output (slower, so a separate mount)."""
    mnt = ctx.workdir / "minifs-debug"
    log = ctx.workdir / "minifs-debug.log"
    try:
        with mounted([str(minifs), str(mnt), "-f", "-s", "-d"], mnt, "status", log):
            _record_requests(status_fig, "c", _requests_per_op(
                log, "opcode: ", lambda: read_file(mnt / "status")))
            _record_requests(write_fig, "c", _requests_per_op(
                log, "opcode: ", lambda: write_file(mnt / "reclaim", b"file\n")))
    except MountFailed as exc:
        status_fig.extra["c_requests"] = write_fig.extra["c_requests"] = f"not counted: {exc}"


def _ctl(mnt: Path, lines: list[str]) -> None:
    write_file(mnt / "sim" / "ctl", ("\n".join(lines) + "\n").encode())


def _fakeproc_requests(ctx: Context, status_fig: Figure, write_fig: Figure) -> None:
    """Requests per op, from --verbose's one log line per request (a separate, slower mount)."""
    mnt = ctx.workdir / "fakeproc-verbose"
    log = ctx.workdir / "fakeproc-verbose.log"
    argv = [sys.executable, "-m", "fakeproc", "mount", str(mnt), "--foreground", "--verbose",
            "--log", str(log)]
    try:
        with mounted(argv, mnt, "sim/clock", ctx.workdir / "fakeproc-verbose.out"):
            _ctl(mnt, [f"spawn {STATUS_PID} status"])
            _record_requests(status_fig, "fakeproc", _requests_per_op(
                log, "request ", lambda: read_file(mnt / str(STATUS_PID) / "status")))
            _record_requests(write_fig, "fakeproc", _requests_per_op(
                log, "request ", lambda: write_file(mnt / str(STATUS_PID) / "reclaim", b"file\n")))
    except MountFailed as exc:
        status_fig.extra["fakeproc_requests"] = write_fig.extra["fakeproc_requests"] = (
            f"not counted: {exc}")


def _fakeproc_figures(ctx: Context, reclaim_fig: Figure, smaps_fig: Figure,
                      smaps_n: int) -> None:
    """The figures of a fakeproc mount with a big process: echo anon end to end, cat smaps."""
    s = ctx.sizes
    mnt = ctx.workdir / "fakeproc"
    size = s.reclaim_bytes
    argv = [sys.executable, "-m", "fakeproc", "mount", str(mnt), "--foreground",
            "--ram", str(max(4 << 30, 2 * size)), "--swap", str(max(2 << 30, 2 * size)),
            "--log", str(ctx.workdir / "fakeproc.log")]
    with mounted(argv, mnt, "sim/clock", ctx.workdir / "fakeproc.out"):
        _ctl(mnt, [f"spawn {RECLAIM_PID} reclaimer",
                   f"mmap {RECLAIM_PID} {BASE:#x} {size} anon"])
        try:
            base = kernel_pageout(ctx)
            reclaim_fig.baseline = base.stats
        except kernel.Unavailable as exc:
            reclaim_fig.na = f"kernel baseline: {exc}"

        def retouch() -> None:
            _ctl(mnt, [f"touch {RECLAIM_PID} {BASE:#x} {size} write"])

        reclaim_fig.fakeproc = measure(
            lambda _s: write_file(mnt / str(RECLAIM_PID) / "reclaim", b"anon\n"), retouch,
            s.heavy_repeats)
        rollup = read_file(mnt / str(RECLAIM_PID) / "smaps_rollup").decode()
        reclaim_fig.extra["smaps_rollup_after"] = rollup

        _ctl(mnt, [f"spawn {VMAS_PID} vmas"])
        lines = []
        for i in range(smaps_n):
            addr = BASE + 2 * i * 4096
            perms = "rw-p" if i % 2 == 0 else "r--p"
            lines.append(f"mmap {VMAS_PID} {addr:#x} 8K anon perms={perms}")
            lines.append(f"touch {VMAS_PID} {addr:#x} 4K {'write' if i % 2 == 0 else 'read'}")
        _ctl(mnt, lines)
        smaps_fig.fakeproc = measure(lambda _s: read_file(mnt / str(VMAS_PID) / "smaps"),
                                     lambda: None, s.repeats, warmup=1)
    try:
        binary = ctx.binaries.get("vmas") or kernel.compile_c(kernel.HERE / "c" / "vmas.c",
                                                              ctx.workdir)
        ctx.binaries["vmas"] = binary
        with kernel.helper_process(binary, smaps_n, 0) as helper:
            smaps_fig.baseline = kernel.time_proc_read(helper, "smaps", s.repeats)
    except kernel.Unavailable as exc:
        smaps_fig.na = f"kernel baseline: {exc}"
