"""Which daemon serves which mount: pid files, checked against the real /proc.

A pid file records the daemon's pid, its start time (field 22 of the real
/proc/PID/stat) and the mount point. ``umount`` trusts it only if a process
with that pid exists, started at that time and names fakeproc in its
command line, so a pid file left by a killed daemon never gets a stranger
signalled. Pid files live outside the mount (the mount point is covered).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

FSTYPE = "fuse.fakeproc"


def runtime_dir() -> Path:
    """Where pid files live: $XDG_RUNTIME_DIR/fakeproc, else a per-user dir in the temp dir."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base) and os.access(base, os.W_OK):
        return Path(base) / "fakeproc"
    return Path(tempfile.gettempdir()) / f"fakeproc-{os.getuid()}"


def resolve(mountpoint: str) -> str:
    """The absolute, symlink-free path of a mount point, without touching the mount itself.

    Only the parent directory is resolved: a stat of the mount root would be
    answered by the daemon, which deadlocks when the caller is the daemon.
    """
    path = os.path.abspath(mountpoint)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def pid_file(mountpoint: str) -> Path:
    digest = hashlib.sha256(resolve(mountpoint).encode()).hexdigest()[:20]
    return runtime_dir() / f"{digest}.pid"


def start_time_ticks(pid: int) -> int | None:
    """Field 22 of the real /proc/PID/stat, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[19])


@dataclass(frozen=True)
class DaemonRecord:
    pid: int
    start_ticks: int
    mountpoint: str

    def is_running(self) -> bool:
        """True only if the recorded process is still this very fakeproc daemon."""
        if start_time_ticks(self.pid) != self.start_ticks:
            return False
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"fakeproc" in cmdline or b"mount.py" in cmdline


def write_record(mountpoint: str) -> Path:
    """Record the calling process as the daemon of ``mountpoint``."""
    path = pid_file(mountpoint)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.getpid()
    record = {"pid": pid, "start_ticks": start_time_ticks(pid),
              "mountpoint": resolve(mountpoint)}
    tmp = path.with_suffix(f".{pid}.tmp")
    tmp.write_text(json.dumps(record) + "\n")
    tmp.replace(path)
    return path


def read_record(mountpoint: str) -> DaemonRecord | None:
    try:
        data = json.loads(pid_file(mountpoint).read_text())
        return DaemonRecord(int(data["pid"]), int(data["start_ticks"]), str(data["mountpoint"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_record(mountpoint: str) -> None:
    """Remove the pid file if it is the calling process's own."""
    record = read_record(mountpoint)
    if record is not None and record.pid == os.getpid():
        with contextlib.suppress(OSError):
            pid_file(mountpoint).unlink()


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_type(mountpoint: str, mountinfo: str | None = None) -> str | None:
    """The file system type mounted at ``mountpoint`` (the topmost), or None."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    target = resolve(mountpoint)
    found = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        if _unescape(fields[4]) == target:
            found = right.split()[0]
    return found
