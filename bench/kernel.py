"""Baselines from the real kernel: reading a real process's /proc files, and
MADV_PAGEOUT of a real 1 GiB mapping.

The helper process is a small C program (``c/vmas.c``) compiled here with
gcc; pageout goes through ctypes (process_madvise on a pidfd of ourselves,
or plain madvise when that is refused).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.harness import Stats, measure

HERE = Path(__file__).resolve().parent
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MADV_PAGEOUT = 21
# x86_64 syscall numbers (the same on every architecture using the generic table
# for these two, which covers aarch64 too).
SYS_PIDFD_OPEN = 434
SYS_PROCESS_MADVISE = 440



def read_file(path: str | os.PathLike[str]) -> bytes:
    """open, read to the end, close: what `cat` costs."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)

class Unavailable(Exception):
    """A baseline cannot be measured here; the message says why (shown as n/a)."""


def compile_c(source: Path, out_dir: Path, *, pkg: str | None = None) -> Path:
    """Compile one C file with gcc (and a pkg-config package's flags)."""
    if shutil.which("gcc") is None:
        raise Unavailable("gcc not found")
    flags: list[str] = []
    if pkg is not None:
        if shutil.which("pkg-config") is None:
            raise Unavailable("pkg-config not found")
        done = subprocess.run(["pkg-config", "--cflags", "--libs", pkg], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"pkg-config {pkg}: {done.stderr.strip()}")
        flags = done.stdout.split()
    out_dir = out_dir / "bin"
    out_dir.mkdir(exist_ok=True)
    binary = out_dir / source.stem
    done = subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source), *flags],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Unavailable(f"gcc {source.name} failed: {done.stderr.strip()[:200]}")
    return binary


@dataclass
class Helper:
    """A running real process with ``vmas`` small VMAs and a big resident mapping."""

    proc: subprocess.Popen[bytes]
    vmas: int
    big_start: int
    big_bytes: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, name: str) -> bytes:
        """One whole /proc/PID/<name>: open, read to the end, close (what `cat` does)."""
        return read_file(f"/proc/{self.pid}/{name}")

    def read_pagemap(self) -> bytes:
        """The pagemap entries of the big mapping (8 bytes a page)."""
        fd = os.open(f"/proc/{self.pid}/pagemap", os.O_RDONLY)
        try:
            return os.pread(fd, self.big_bytes // PAGE_SIZE * 8,
                            self.big_start // PAGE_SIZE * 8)
        finally:
            os.close(fd)


@contextlib.contextmanager
def helper_process(binary: Path, vmas: int, big_mib: int) -> Iterator[Helper]:
    proc = subprocess.Popen([str(binary), str(vmas), str(big_mib)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        if len(line) != 2:
            raise Unavailable(f"the helper process failed (exit {proc.wait()})")
        yield Helper(proc, vmas, int(line[0], 16), big_mib << 20)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def time_proc_read(helper: Helper, name: str, repeats: int) -> Stats:
    return measure(lambda _s: helper.read(name), lambda: None, repeats, warmup=1)


def time_pagemap_read(helper: Helper, repeats: int) -> Stats:
    return measure(lambda _s: helper.read_pagemap(), lambda: None, repeats, warmup=1)


# -- MADV_PAGEOUT of a 1 GiB clean file mapping --------------------------------

class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


@dataclass
class PageoutResult:
    stats: Stats
    method: str
    resident_before: int  # pages, by mincore, before the last timed pageout
    resident_after: int


def _resident_pages(libc: ctypes.CDLL, addr: int, size: int) -> int:
    vec = (ctypes.c_ubyte * (size // PAGE_SIZE))()
    if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
        return -1
    return sum(1 for v in vec if v & 1)


def time_kernel_pageout(size: int, repeats: int, workdir: Path) -> PageoutResult:
    """Time MADV_PAGEOUT of a ``size``-byte clean file mapping, resident before each repeat.

    No swap here, so file pages: reclaiming a clean page-cache page is the
    kernel's cheapest eviction, which makes the baseline a hard one.
    """
    if platform.machine() not in ("x86_64", "aarch64"):
        raise Unavailable(f"syscall numbers not known for {platform.machine()}")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    path = Path(tempfile.mkstemp(prefix="pageout-", dir=workdir)[1])
    try:
        with path.open("r+b") as fh:
            block = os.urandom(1 << 20)
            for _ in range(size >> 20):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())  # clean pages: pageout drops them, no writeback
        fd = os.open(path, os.O_RDONLY)
        try:
            # libc's mmap, not Python's: no buffer export to outlive, and the
            # address is known for madvise and mincore.
            addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        finally:
            os.close(fd)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise Unavailable(f"mmap of the test file failed: {os.strerror(ctypes.get_errno())}")
        try:
            return _pageout_loop(libc, addr, size, repeats)
        finally:
            libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(size))
    finally:
        path.unlink(missing_ok=True)


def _pageout_loop(libc: ctypes.CDLL, addr: int, size: int, repeats: int) -> PageoutResult:
    view = np.ctypeslib.as_array((ctypes.c_ubyte * size).from_address(addr))
    pidfd = libc.syscall(SYS_PIDFD_OPEN, os.getpid(), 0)
    iov = _IoVec(addr, size)
    method = "process_madvise(pidfd of self, MADV_PAGEOUT)"

    def pageout_process(_state: None) -> None:
        done = libc.syscall(SYS_PROCESS_MADVISE, pidfd, ctypes.byref(iov), 1, MADV_PAGEOUT, 0)
        if done < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    def pageout_self(_state: None) -> None:
        if libc.madvise(addr, size, MADV_PAGEOUT) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    def populate() -> None:
        # Reading one byte a page maps every page (and reads back what the
        # previous repeat evicted); this is the untimed set-up.
        int(view[::PAGE_SIZE].sum())

    run = pageout_process
    try:
        if pidfd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_open")
        populate()
        pageout_process(None)
    except OSError:
        run, method = pageout_self, "madvise(MADV_PAGEOUT) on itself"
    before = after = 0
    try:
        def setup() -> None:
            nonlocal before
            populate()
            before = _resident_pages(libc, addr, size)

        stats = measure(run, setup, repeats)
        after = _resident_pages(libc, addr, size)
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    return PageoutResult(stats, method, before, after)
