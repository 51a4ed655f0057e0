"""pytest plugin: fixtures that mount fakeproc for a test (registered as ``pytest11``).

``fakeproc_mount`` mounts a default machine; ``fakeproc_factory(ram=..., swap=...,
dialect=..., seed=..., extra=[...])`` mounts one with options (several per test
if needed). The daemon always runs in a separate process (a FUSE daemon in the
test process would deadlock the first time the test reads the mount), and is
always unmounted at teardown, even when the test fails. Without /dev/fuse or
fusermount3 the tests are skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CLIENT_TIMEOUT_S = 30.0


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


def mount_fakeproc(directory: Path, *, ram: str = "256M", swap: str = "64M",
                   dialect: str = "v2", seed: int = 0, extra: tuple[str, ...] = ()) -> Mount:
    """Mount fakeproc on ``directory/mnt`` with a daemon process; raise if it fails."""
    reason = fuse_unavailable()
    if reason is not None:
        pytest.skip(f"fakeproc needs FUSE: {reason}")
    path = directory / "mnt"
    path.mkdir(exist_ok=True)
    log = directory / "fakeproc.log"
    options = ("--ram", ram, "--swap", swap, "--dialect", dialect, "--seed", str(seed),
               "--log", str(log), *extra)
    done = subprocess.run(fakeproc_command("mount", str(path), *options), capture_output=True,
                          text=True, timeout=CLIENT_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fakeproc mount failed: {done.stderr.strip()}")
    return Mount(path, log, options)


MountFactory = Callable[..., Mount]


@pytest.fixture
def fakeproc_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MountFactory]:
    """Call with mount_fakeproc's options; every mount made is unmounted at teardown."""
    mounts: list[Mount] = []

    def make(**options: object) -> Mount:
        mount = mount_fakeproc(tmp_path_factory.mktemp("fakeproc"), **options)  # type: ignore[arg-type]
        mounts.append(mount)
        return mount

    try:
        yield make
    finally:
        for mount in mounts:
            with contextlib.suppress(Exception):
                mount.unmount()


@pytest.fixture
def fakeproc_mount(fakeproc_factory: MountFactory) -> Mount:
    """A fakeproc with 256M of RAM, 64M of disk swap, dialect v2, seed 0."""
    return fakeproc_factory()
