"""The ``fakeproc`` command: mount, umount, ctl, shell.

``fakeproc mount`` returns only once the file system is mounted: the daemon
is a forked child that reports over a pipe ("ok", or the reason it failed)
and then detaches. Everything is checked that can be checked before the fork,
so the common mistakes get one clear line on stderr and exit status 1
(bad usage is argparse's exit status 2).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fakeproc import __version__
from fakeproc.errors import FakeprocError
from fakeproc.fs import registry

if TYPE_CHECKING:
    from fakeproc.fs.operations import ProcOperations

EVENTS_CAPACITY = 10_000  # the latest events kept in sim/events (older ones drop off)
UMOUNT_TIMEOUT_S = 10.0


class CliError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


def _size(text: str) -> int:
    from fakeproc.syntax import parse_size

    try:
        return parse_size(text)
    except FakeprocError as exc:
        raise argparse.ArgumentTypeError(f"invalid size '{text}' (e.g. 4G, 512M, 0x1000)") from exc


def _number(text: str) -> int:
    from fakeproc.syntax import parse_number

    try:
        return parse_number(text)
    except FakeprocError as exc:
        raise argparse.ArgumentTypeError(f"invalid number '{text}'") from exc


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"invalid ratio '{text}' (a number >= 1)")
    return value


def _microseconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"invalid time '{text}' (microseconds, 0 to 1000000)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fakeproc",
        description="A procfs for simulated processes, with per-process reclaim "
                    "(/<pid>/reclaim) over FUSE.")
    parser.add_argument("--version", action="version", version=f"fakeproc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mount = commands.add_parser(
        "mount", help="mount a simulated machine on MOUNTPOINT",
        description="Mount a simulated machine on MOUNTPOINT. Returns once it is mounted "
                    "(exit 0) or has failed (one line on stderr, non-zero exit).")
    mount.add_argument("mountpoint", metavar="MOUNTPOINT")
    mount.add_argument("--ram", type=_size, default=4 << 30, metavar="SIZE",
                       help="simulated RAM (default 4G)")
    mount.add_argument("--swap", type=_size, default=1 << 30, metavar="SIZE",
                       help="swap device size, 0 for none (default 1G)")
    mount.add_argument("--swap-kind", choices=("disk", "zram"), default="disk",
                       help="swap device (default disk)")
    mount.add_argument("--zram-ratio", type=_ratio, default=3.0, metavar="R",
                       help="zram compression ratio (default 3.0)")
    mount.add_argument("--seed", type=_number, default=0, metavar="N",
                       help="random seed (default 0)")
    mount.add_argument("--dialect", choices=("v2", "caf"), default="v2",
                       help="reclaim file dialect (default v2)")
    mount.add_argument("--allow-other", action="store_true",
                       help="let other users see the mount (FUSE allow_other)")
    mount.add_argument("--foreground", action="store_true",
                       help="serve in this process instead of detaching")
    mount.add_argument("--events-log", metavar="FILE",
                       help="also append every sim/events line to FILE")
    mount.add_argument("--log", metavar="FILE", help="daemon log file")
    # The default is fs.loop.BUSY_POLL_S, not imported: umount and ctl need no pyfuse3.
    mount.add_argument("--busy-poll", type=_microseconds, default=50, metavar="USEC",
                       help="after each request, poll this long for the next one before "
                            "sleeping: lower latency for a little CPU; 0 never polls, nor "
                            "does a single CPU (default 50)")
    mount.add_argument("--verbose", action="store_true",
                       help="log every FUSE request (debug level)")
    # Announced in the design, not available yet: refused with a clear message.
    for later in ("--workload", "--restore", "--journal"):
        mount.add_argument(later, action="append", help=argparse.SUPPRESS)

    umount = commands.add_parser("umount", help="unmount and wait for the daemon to exit")
    umount.add_argument("mountpoint", metavar="MOUNTPOINT")

    ctl = commands.add_parser("ctl", help="send one control command to MOUNTPOINT/sim/ctl")
    ctl.add_argument("mountpoint", metavar="MOUNTPOINT")
    ctl.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...")

    shell = commands.add_parser(
        "shell", help="run a command (default: a shell) with MOUNTPOINT bound over /proc",
        description="Run CMD with the mount bound over /proc in a private mount namespace, "
                    "so tools that hard-code /proc (ps, top, pmap, free) read the "
                    "simulated machine. The daemon stays outside and the rest of the "
                    "system keeps the real /proc. Exits with CMD's status.")
    shell.add_argument("mountpoint", metavar="MOUNTPOINT")
    shell.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...")
    return parser


# -- mount --------------------------------------------------------------------

def check_mountpoint(mountpoint: str) -> None:
    """The checks libfuse would fail on less clearly, done before forking."""
    if not os.path.exists(mountpoint):
        raise CliError(f"mount point {mountpoint} does not exist")
    if not os.path.isdir(mountpoint):
        raise CliError(f"mount point {mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise CliError(f"{mountpoint} is already a mount point")
    if not os.path.exists("/dev/fuse"):
        raise CliError("/dev/fuse is missing (load the fuse module, or pass the device "
                       "to the container)")
    if shutil.which("fusermount3") is None:
        raise CliError("fusermount3 not found in PATH (install the fuse3 package)")


def _configure_logging(args: argparse.Namespace, *, to_stderr: bool) -> None:
    level = logging.DEBUG if args.verbose else logging.INFO
    fmt = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    if args.log:
        handler: logging.Handler = logging.FileHandler(args.log)
    elif to_stderr:
        handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)


def _build_operations(args: argparse.Namespace) -> ProcOperations:
    from fakeproc.control import Controller, EventLog
    from fakeproc.engine import Machine, MachineConfig
    from fakeproc.fs.caller import RealProc
    from fakeproc.fs.operations import ProcOperations

    config = MachineConfig(ram_bytes=args.ram, swap_bytes=args.swap, swap_kind=args.swap_kind,
                           zram_ratio=args.zram_ratio, dialect=args.dialect, seed=args.seed)
    machine = Machine(config)
    # Line-buffered append: each event reaches the real file as it happens.
    sink = open(args.events_log, "a", encoding="ascii") if args.events_log else None  # noqa: SIM115
    events = EventLog(EVENTS_CAPACITY, sink)
    controller = Controller(machine, events)
    # Mounted on /proc itself, the daemon could only read its own mount (and
    # hang): then callers are not looked up in the real /proc at all.
    on_proc = registry.resolve(args.mountpoint) == "/proc"
    return ProcOperations(machine, controller, events,
                          owner_uid=os.getuid(), owner_gid=os.getgid(),
                          real_proc=RealProc(None if on_proc else "/proc"),
                          log_requests=args.verbose)


def _serve(args: argparse.Namespace, on_mounted: Callable[[], None] | None = None) -> None:
    # Imported here: umount and ctl need neither numpy nor pyfuse3.
    from fakeproc.fs.daemon import serve

    operations = _build_operations(args)
    mountpoint = registry.resolve(args.mountpoint)

    def mounted() -> None:
        registry.write_record(mountpoint)
        if on_mounted is not None:
            on_mounted()

    try:
        serve(operations, mountpoint, allow_other=args.allow_other,
              busy_poll_s=args.busy_poll * 1e-6, on_mounted=mounted)
    finally:
        registry.remove_record(mountpoint)


def run_mount(args: argparse.Namespace) -> int:
    for later in ("workload", "restore", "journal"):
        if getattr(args, later):
            raise CliError(f"--{later} arrives in a later release")
    if args.events_log:
        args.events_log = os.path.abspath(args.events_log)
    if args.log:
        args.log = os.path.abspath(args.log)
    check_mountpoint(args.mountpoint)
    if args.foreground:
        _configure_logging(args, to_stderr=True)
        try:
            _serve(args)
        except RuntimeError as exc:
            raise CliError(f"cannot mount {args.mountpoint}: {exc}") from None
        return 0
    return _daemonize(args)


def _daemonize(args: argparse.Namespace) -> int:
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            report = ready.readline().decode(errors="replace").strip()
        if report == "ok":
            return 0
        os.waitpid(pid, 0)
        raise CliError(report or "the daemon exited before mounting")
    # The child: its own session, no terminal, stdio away from the caller's
    # pipes (else `subprocess.run(["fakeproc", "mount", ...])` would wait for it).
    os.close(ready_r)
    status = 1
    try:
        os.setsid()
        os.chdir("/")
        # libfuse says why a mount failed on stderr: keep it to report it.
        with tempfile.TemporaryFile() as libfuse_errors:
            _redirect_stdio(libfuse_errors.fileno())
            _configure_logging(args, to_stderr=False)

            def report_ready() -> None:
                os.write(ready_w, b"ok\n")
                os.close(ready_w)
                _redirect_stdio(None)

            try:
                _serve(args, report_ready)
                status = 0
            except RuntimeError as exc:
                libfuse_errors.seek(0)
                detail = libfuse_errors.read().decode(errors="replace").strip().splitlines()
                reason = detail[-1] if detail else str(exc)
                with contextlib.suppress(OSError):
                    os.write(ready_w, f"cannot mount {args.mountpoint}: {reason}\n".encode())
    except BaseException:  # the child must never return into the parent's code path
        logging.getLogger("fakeproc").exception("daemon failed")
        with contextlib.suppress(OSError):
            os.write(ready_w, b"the daemon failed; see its --log\n")
    finally:
        os._exit(status)


def _redirect_stdio(stderr_fd: int | None) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(null if stderr_fd is None else stderr_fd, 2)
    os.close(null)


# -- umount -------------------------------------------------------------------

def run_umount(args: argparse.Namespace) -> int:
    mountpoint = registry.resolve(args.mountpoint)
    fstype = registry.mount_type(mountpoint)
    record = registry.read_record(mountpoint)
    daemon = record if record is not None and record.is_running() else None
    if fstype is None and daemon is None:
        raise CliError(f"{args.mountpoint} is not mounted")
    if fstype is not None and fstype != registry.FSTYPE:
        raise CliError(f"{args.mountpoint} is a {fstype} mount, not fakeproc")
    if fstype is not None:
        done = subprocess.run(["fusermount3", "-u", mountpoint], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise CliError(done.stderr.strip() or f"fusermount3 -u {mountpoint} failed")
    elif daemon is not None:
        # Mounted no longer but the daemon lives on (it was lazily unmounted): stop it.
        os.kill(daemon.pid, signal.SIGTERM)
    if daemon is not None:
        deadline = time.monotonic() + UMOUNT_TIMEOUT_S
        while daemon.is_running():
            if time.monotonic() > deadline:
                raise CliError(f"daemon {daemon.pid} did not exit within {UMOUNT_TIMEOUT_S:g} s")
            time.sleep(0.02)
    return 0


# -- ctl ----------------------------------------------------------------------

def run_ctl(args: argparse.Namespace) -> int:
    if not args.words:
        raise CliError("ctl needs a command, e.g.: fakeproc ctl MNT spawn 100 app")
    line = " ".join(args.words) + "\n"
    sim = Path(args.mountpoint) / "sim"
    try:
        fd = os.open(sim / "ctl", os.O_WRONLY)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTCONN, errno.EACCES) and exc.filename:
            raise CliError(f"{exc.filename}: {exc.strerror}") from None
        reason = ""
        with contextlib.suppress(OSError):
            reason = (sim / "error").read_text().strip()
        raise CliError(reason or os.strerror(exc.errno or errno.EIO)) from None
    return 0


# -- shell --------------------------------------------------------------------

# Runs in the new namespace: bind the mount ($0) over /proc, then become CMD.
# The bind happens while /proc is still the real one, so mount(8) works.
_BIND_THEN_EXEC = 'mount --bind -- "$0" /proc && exec "$@"'


def shell_command(mountpoint: str, cmd: Sequence[str], *, root: bool) -> list[str]:
    """The argv that runs ``cmd`` with ``mountpoint`` bound over /proc (pure, for tests).

    A private mount namespace keeps the bind from the rest of the system (and
    from the daemon, which must keep reading the real /proc). Without root,
    a user namespace maps the caller to root so it may mount there.
    """
    argv = ["unshare", "--mount", "--propagation", "private"]
    if not root:
        argv.append("--map-root-user")
    command = list(cmd) or [os.environ.get("SHELL") or "/bin/sh"]
    return [*argv, "--", "/bin/sh", "-c", _BIND_THEN_EXEC, mountpoint, *command]


def run_shell(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    mountpoint = registry.resolve(args.mountpoint)
    fstype = registry.mount_type(mountpoint)
    if fstype is None:
        raise CliError(f"{args.mountpoint} is not mounted")
    if fstype != registry.FSTYPE:
        raise CliError(f"{args.mountpoint} is a {fstype} mount, not fakeproc")
    if shutil.which("unshare") is None:
        raise CliError("unshare not found in PATH (install util-linux)")
    argv = shell_command(mountpoint, cmd, root=os.geteuid() == 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)  # CMD's exit status becomes ours


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runners = {"mount": run_mount, "umount": run_umount, "ctl": run_ctl, "shell": run_shell}
    try:
        return runners[args.command](args)
    except CliError as exc:
        print(f"fakeproc {args.command}: {exc}", file=sys.stderr)
        return 1
