"""Mount fakeproc from Python: a context manager, and a pytest plugin (``pytest11``).

Outside pytest::

    with fakeproc.testing.mounted(ram="1G", seed=3) as m:
        m.ctl("spawn 100 app", "mmap 100 0x100000 1M anon", "touch 100 0x100000 1M write")
        assert m.rollup(100)["Rss"] == 1024

In pytest, ``fakeproc_mount`` mounts a default machine (options from a
``@pytest.mark.fakeproc(ram=..., swap=..., dialect=..., seed=...)`` marker);
``fakeproc_factory(ram=..., swap=..., dialect=..., seed=..., extra=[...])`` mounts
one with options (several per test if needed). The daemon always runs in a
separate process (a FUSE daemon in the test process would deadlock the first
time the test reads the mount), and is always unmounted at the end, even when
the test fails. Where a mount cannot work (no /dev/fuse or fusermount3, or a
workload, which arrives in a later release) the context manager raises
:class:`MountUnavailable` and the fixtures skip the test with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import pytest
except ModuleNotFoundError:  # the context manager works without pytest; fixtures need it
    pytest = None  # type: ignore[assignment]

CLIENT_TIMEOUT_S = 30.0
DEFAULT_RAM, DEFAULT_SWAP = "256M", "64M"


class MountUnavailable(RuntimeError):
    """fakeproc cannot be mounted here (the reason is the message); tests skip on it."""


def fuse_unavailable() -> str | None:
    """Why a FUSE mount cannot work here, or None when it can."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed"
    return None


def fakeproc_command(*args: str) -> list[str]:
    """The fakeproc command line, run by this very interpreter."""
    return [sys.executable, "-m", "fakeproc", *args]


def shell(script: str, mount: os.PathLike[str] | str, *, shell_name: str = "sh",
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in sh (or bash, whose error texts name the errno) with $M = the mount.

    dash reports every failed write as "I/O error"; bash says which errno.
    """
    return subprocess.run([shell_name, "-c", script], capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False,
                          env={**os.environ, "M": os.fspath(mount), **(env or {})})


def poll(condition: Callable[[], bool], *, timeout_s: float = 10.0) -> bool:
    """Wait for ``condition`` with a deadline; False if it never came true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _kib_table(text: str) -> dict[str, int]:
    """``Label:  123 kB`` lines as {label: 123}; other lines are left out."""
    table: dict[str, int] = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        words = value.split()
        if sep and words and words[0].isdigit() and " " not in label:
            table[label] = int(words[0])
    return table


@dataclass
class Mount:
    """A mounted fakeproc: its path and helpers that go through the file system."""

    path: Path
    log: Path
    options: tuple[str, ...] = ()
    _mounted: bool = field(default=True, repr=False)

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text()

    def read_bytes(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def write(self, rel: str, data: str | bytes) -> int:
        """One write() to a file (like ``printf DATA > file``); raises OSError on error."""
        raw = data.encode() if isinstance(data, str) else data
        fd = os.open(self.path / rel, os.O_WRONLY | os.O_TRUNC)
        try:
            return os.write(fd, raw)
        finally:
            os.close(fd)

    def ctl(self, *commands: str) -> None:
        """Run control commands, one line each, in one write; raises OSError with sim/error."""
        try:
            self.write("sim/ctl", "".join(c + "\n" for c in commands))
        except OSError as exc:
            exc.strerror = f"{exc.strerror}: {self.read('sim/error').strip()}"
            raise

    def sh(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell snippet with $M set to the mount point."""
        done = shell(script, self.path)
        if check:
            done.check_returncode()
        return done

    def smaps(self, pid: int) -> list[dict[str, int | str]]:
        """smaps as one dict per VMA: the figures in kB, plus 'range' and 'name'."""
        rows: list[dict[str, int | str]] = []
        for line in self.read(f"{pid}/smaps").splitlines():
            head = line.split(maxsplit=5)
            if head and "-" in head[0] and not head[0].endswith(":"):
                rows.append({"range": head[0], "name": head[5] if len(head) > 5 else ""})
            elif rows:
                rows[-1].update(_kib_table(line))
        return rows

    def rollup(self, pid: int) -> dict[str, int]:
        return _kib_table(self.read(f"{pid}/smaps_rollup"))

    def status(self, pid: int) -> dict[str, int]:
        return _kib_table(self.read(f"{pid}/status"))

    def meminfo(self) -> dict[str, int]:
        return _kib_table(self.read("meminfo"))

    def vmstat(self) -> dict[str, int]:
        return {name: int(value) for name, value in
                (line.split() for line in self.read("vmstat").splitlines())}

    def pids(self) -> list[int]:
        """The simulated pids, as a directory listing shows them."""
        return sorted(int(name) for name in os.listdir(self.path) if name.isdigit())

    def events(self) -> list[dict[str, Any]]:
        """sim/events as a list of dicts (the newest ones the daemon kept)."""
        return [json.loads(line) for line in self.read("sim/events").splitlines()]

    def run_over_proc(self, *argv: str, timeout_s: float = CLIENT_TIMEOUT_S,
                      ) -> subprocess.CompletedProcess[str]:
        """Run argv with this mount bound over /proc (``fakeproc shell MNT -- ARGV``)."""
        return subprocess.run(fakeproc_command("shell", str(self.path), "--", *argv),
                              capture_output=True, text=True, timeout=timeout_s, check=False)

    def unmount(self) -> None:
        """``fakeproc umount``; if that fails, a lazy fusermount3 so nothing stays behind."""
        if not self._mounted:
            return
        self._mounted = False
        done = subprocess.run(fakeproc_command("umount", str(self.path)), capture_output=True,
                              text=True, timeout=CLIENT_TIMEOUT_S, check=False)
        if done.returncode != 0 and os.path.ismount(self.path):
            subprocess.run(["fusermount3", "-u", "-z", str(self.path)], capture_output=True,
                           timeout=CLIENT_TIMEOUT_S, check=False)


def start_mount(directory: Path, *, ram: str = DEFAULT_RAM, swap: str = DEFAULT_SWAP,
                dialect: str = "v2", seed: int = 0, workload: str | None = None,
                extra: Sequence[str] = ()) -> Mount:
    """Mount fakeproc on ``directory/mnt`` with a daemon process; the caller unmounts.

    Raises MountUnavailable when it cannot work here, RuntimeError when the
    mount fails.
    """
    if workload is not None:
        raise MountUnavailable(f"workload {workload!r}: workloads arrive in a later release")
    reason = fuse_unavailable()
    if reason is not None:
        raise MountUnavailable(f"fakeproc needs FUSE: {reason}")
    path = directory / "mnt"
    path.mkdir(exist_ok=True)
    log = directory / "fakeproc.log"
    options = ("--ram", ram, "--swap", swap, "--dialect", dialect, "--seed", str(seed),
               "--log", str(log), *extra)
    done = subprocess.run(fakeproc_command("mount", str(path), *options), capture_output=True,
                          text=True, timeout=CLIENT_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fakeproc mount failed: {done.stderr.strip()}")
    return Mount(path, log, tuple(options))


@contextlib.contextmanager
def mounted(directory: os.PathLike[str] | str | None = None, *, ram: str = DEFAULT_RAM,
            swap: str = DEFAULT_SWAP, dialect: str = "v2", seed: int = 0,
            workload: str | None = None, extra: Sequence[str] = ()) -> Iterator[Mount]:
    """A mounted fakeproc for the ``with`` block, unmounted however the block ends.

    ``directory`` holds the mount point and the daemon's log (default: a new
    temporary directory, removed afterwards). Options are ``fakeproc mount``'s;
    ``extra`` adds raw command-line options (e.g. ``("--swap-kind", "zram")``).
    """
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="fakeproc-"))
        mount = start_mount(Path(directory), ram=ram, swap=swap, dialect=dialect, seed=seed,
                            workload=workload, extra=extra)
        stack.callback(mount.unmount)
        yield mount


def mount_fakeproc(directory: Path, *, ram: str = DEFAULT_RAM, swap: str = DEFAULT_SWAP,
                   dialect: str = "v2", seed: int = 0, workload: str | None = None,
                   extra: Sequence[str] = ()) -> Mount:
    """start_mount for tests: where fakeproc cannot be mounted, the test is skipped."""
    try:
        return start_mount(directory, ram=ram, swap=swap, dialect=dialect, seed=seed,
                           workload=workload, extra=extra)
    except MountUnavailable as exc:
        assert pytest is not None, "mount_fakeproc skips tests: it needs pytest"
        pytest.skip(str(exc))


MountFactory = Callable[..., Mount]

if pytest is not None:
    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers", "fakeproc(ram=, swap=, dialect=, seed=, workload=, extra=): options "
                       "of the machine the fakeproc_mount fixture mounts")

    @pytest.fixture
    def fakeproc_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MountFactory]:
        """Call with mount_fakeproc's options; every mount made is unmounted at teardown."""
        mounts: list[Mount] = []

        def make(**options: Any) -> Mount:
            mount = mount_fakeproc(tmp_path_factory.mktemp("fakeproc"), **options)
            mounts.append(mount)
            return mount

        try:
            yield make
        finally:
            for mount in mounts:
                with contextlib.suppress(Exception):
                    mount.unmount()

    @pytest.fixture
    def fakeproc_mount(request: pytest.FixtureRequest, fakeproc_factory: MountFactory) -> Mount:
        """A fakeproc: 256M of RAM, 64M of disk swap, dialect v2, seed 0, unless a
        ``@pytest.mark.fakeproc(...)`` marker says otherwise."""
        marker = request.node.get_closest_marker("fakeproc")
        options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        return fakeproc_factory(**options)
