"""The FUSE layer's pure parts, without /dev/fuse: tree shape, read snapshots, line buffer."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Awaitable
from typing import Any

import pyfuse3
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fakeproc.cli import build_parser
from fakeproc.errors import InvalidArgument
from fakeproc.fs import registry, tree
from fakeproc.fs.handles import LineBuffer, Snapshot, check_pagemap_window
from fakeproc.fs.loop import (
    BUSY_POLL_S,
    LOOP_SIGNALS,
    ClosedResourceError,
    ContentionBackoff,
    Driver,
    start_without_loop_signals,
)


@pytest.mark.parametrize(("name", "pid"), [
    ("1", 1), ("100", 100), ("4194304", 4194304),
    ("0", None), ("01", None), ("4194305", None), ("+1", None), ("1a", None),
    ("", None), ("١", None),  # a non-ASCII digit is no pid
])
def test_pid_names_are_canonical_decimal(name: str, pid: int | None) -> None:
    assert tree.parse_pid_name(name) == pid


@given(st.integers(1, tree.MAX_PID))
@example(tree.MAX_PID)  # the largest pid still fits the inode scheme
def test_every_pid_file_inode_decodes_back(pid: int) -> None:
    found = tree.child_inode(tree.ROOT_INODE, str(pid))
    assert found is not None
    dir_inode, _ = found
    for entry in tree.PID_FILES:
        child = tree.child_inode(dir_inode, entry.name)
        assert child is not None
        node = tree.node_of(child[0])
        assert node is not None
        assert (node.pid, node.entry) == (pid, entry)
        assert node.parent == dir_inode


def test_top_level_and_pid_inodes_never_collide() -> None:
    top = set(tree.TOP_FILES) | set(tree.SIM_FILES) | {tree.ROOT_INODE}
    assert max(top) < tree.pid_inode(1)
    assert len(tree.PID_FILES) < 1 << tree.PID_SHIFT


def test_listing_keys_increase_so_a_resumed_listing_skips_nothing() -> None:
    before = tree.list_dir(tree.ROOT_INODE, [1, 5, 9])
    keys = [key for key, _, _ in before]
    assert keys == sorted(set(keys))
    # pid 5 exits and 7 appears between two readdir calls that resume after pid 1
    resume_after = next(key for key, name, _ in before if name == "1")
    after = [name for key, name, _ in tree.list_dir(tree.ROOT_INODE, [1, 7, 9])
             if key > resume_after]
    assert after == ["7", "9"]


@pytest.mark.parametrize(("name", "mode", "readable", "writable"), [
    ("reclaim", 0o200, False, True), ("clear_refs", 0o200, False, True),
    ("pagemap", 0o400, True, False), ("comm", 0o644, True, True),
    ("oom_score_adj", 0o644, True, True), ("smaps", 0o444, True, False),
])
def test_pid_file_modes(name: str, mode: int, readable: bool, writable: bool) -> None:
    entry = next(e for e in tree.PID_FILES if e.name == name)
    assert (entry.mode, entry.readable, entry.writable) == (mode, readable, writable)


def test_ptrace_check_covers_exactly_the_kernel_files() -> None:
    assert {e.name for e in tree.PID_FILES if e.ptrace} == {"smaps", "smaps_rollup", "maps",
                                                            "pagemap"}


def test_snapshot_renders_at_zero_and_after_a_jump_only() -> None:
    renders: list[bytes] = []

    def render() -> bytes:
        renders.append(b"v%d......" % len(renders))
        return renders[-1]

    snap = Snapshot()
    assert snap.read(0, 4, render) == b"v0.."
    assert snap.read(4, 100, render) == b"...."  # sequential: the same snapshot
    assert snap.read(8, 100, render) == b""  # at the end: 0 bytes, no error
    assert len(renders) == 1
    assert snap.read(0, 2, render) == b"v1"  # back to 0: fresh
    assert snap.read(5, 2, render) == b".."  # a jump: fresh again
    assert len(renders) == 3
    assert snap.read(500, 8, render) == b""  # far past the end


@pytest.mark.parametrize(("offset", "size", "ok"), [
    (0, 8, True), (0x2AAAAAAB00, 4096, True), (4, 8, False), (8, 12, False), (0, 0, True),
])
def test_pagemap_windows_are_whole_entries(offset: int, size: int, ok: bool) -> None:
    if ok:
        check_pagemap_window(offset, size)
    else:
        with pytest.raises(InvalidArgument):
            check_pagemap_window(offset, size)


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"\n")), max_size=8))
@example([b"spawn 1 a", b"pp\nfork 1", b" 2\n"])  # a line cut across three writes
@example([b"\n\n"])  # empty lines go through whole; the parser decides about them
def test_line_buffer_hands_over_every_byte_once_in_whole_lines(chunks: list[bytes]) -> None:
    buf = LineBuffer()
    handed = [buf.feed(chunk) for chunk in chunks]
    rest = buf.take_rest()
    assert b"".join(handed) + rest == b"".join(chunks)
    assert all(h == b"" or h.endswith(b"\n") for h in handed)
    assert b"\n" not in rest


MOUNTINFO = (
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "42 27 0:39 / /tmp/with\\040space rw - fuse.fakeproc fakeproc rw,user_id=0\n"
    "43 27 0:40 / /tmp/m rw - tmpfs tmpfs rw\n"
    "44 43 0:41 / /tmp/m rw - fuse.fakeproc fakeproc rw\n"
)


@pytest.mark.parametrize(("path", "fstype"), [
    ("/tmp/with space", "fuse.fakeproc"),  # mountinfo escapes the space as \040
    ("/tmp/m", "fuse.fakeproc"),  # the topmost of two stacked mounts wins
    ("/proc", "proc"), ("/tmp", None),
])
def test_mount_type_reads_mountinfo(path: str, fstype: str | None) -> None:
    assert registry.mount_type(path, MOUNTINFO) == fstype


def test_a_stale_pid_file_never_names_a_live_stranger() -> None:
    # pid 1 is alive, but not started at tick 0 as a fakeproc daemon.
    assert registry.start_time_ticks(1) is not None
    stale = registry.DaemonRecord(pid=1, start_ticks=-1, mountpoint="/x")
    assert not stale.is_running()
    assert not registry.DaemonRecord(pid=2**22 + 1, start_ticks=0, mountpoint="/x").is_running()


def _finish(awaitable: Awaitable[Any]) -> None:
    """Await something that must not suspend, as the loop driver does."""
    with pytest.raises(StopIteration):
        next(awaitable.__await__())


def test_the_loop_driver_leaves_the_waiting_to_the_read_and_stops_when_told() -> None:
    fuse_r, fuse_w = os.pipe()  # stands in for /dev/fuse
    try:
        driver = Driver()
        _finish(driver.wait_readable(fuse_r))  # no request yet: pyfuse3's read will wait
        driver.notify_closing(fuse_r)  # pyfuse3.terminate, or the fd going away
        with pytest.raises(ClosedResourceError):
            _finish(driver.wait_readable(fuse_r))
    finally:
        for fd in (fuse_r, fuse_w):
            os.close(fd)


def test_the_loop_driver_serves_queued_requests_after_a_signal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop request first drains what is queued (a waiting LOOKUP may hold the lock an
    invalidation needs), then ends the loop through pyfuse3.terminate()."""
    fuse_r, fuse_w = os.pipe()
    try:
        driver = Driver()
        terminated: list[bool] = []
        timers: list[tuple[int, float, float]] = []

        def terminate() -> None:
            terminated.append(True)
            driver.notify_closing(fuse_r)  # as pyfuse3.terminate does
        monkeypatch.setattr(pyfuse3, "terminate", terminate)
        monkeypatch.setattr(signal, "setitimer",
                            lambda which, first, every: timers.append((which, first, every)))
        os.write(fuse_w, b"request")
        driver.on_signal(signal.SIGTERM, None)
        # SIGALRM keeps interrupting the read, in case the signal came just before it.
        assert [(which, every > 0) for which, _, every in timers] == [
            (signal.ITIMER_REAL, True)]
        _finish(driver.wait_readable(fuse_r))  # still served: it was queued
        assert not terminated
        os.read(fuse_r, 100)  # served: nothing is queued any more
        with pytest.raises(ClosedResourceError):
            _finish(driver.wait_readable(fuse_r))
        assert terminated == [True]
    finally:
        for fd in (fuse_r, fuse_w):
            os.close(fd)


def test_the_loop_driver_busy_polls_for_the_next_request_then_leaves_it_to_the_read() -> None:
    fuse_r, fuse_w = os.pipe()
    try:
        # Nothing comes: the poll gives up once its time is out (pyfuse3's read then sleeps).
        t0 = time.perf_counter()
        _finish(Driver(busy_poll_s=0.02).wait_readable(fuse_r))
        assert time.perf_counter() - t0 >= 0.02
        # A request comes while it polls: it returns for it, long before its time is out.
        writer = threading.Thread(target=lambda: (time.sleep(0.01), os.write(fuse_w, b"request")))
        t0 = time.perf_counter()
        writer.start()
        _finish(Driver(busy_poll_s=60).wait_readable(fuse_r))
        assert time.perf_counter() - t0 < 30
        assert os.read(fuse_r, 100) == b"request"
        writer.join()
    finally:
        for fd in (fuse_r, fuse_w):
            os.close(fd)


def test_busy_polling_stops_while_the_thread_is_preempted_and_backs_off() -> None:
    preempted = 0
    backoff = ContentionBackoff(lambda: preempted)

    def decisions(requests: int, preemptions_each: int) -> list[tuple[bool, int]]:
        """Polling or not for each request, as runs of (decision, requests)."""
        nonlocal preempted
        runs: list[tuple[bool, int]] = []
        for _ in range(requests):
            preempted += preemptions_each
            polling = backoff.poll_now()
            if runs and runs[-1][0] == polling:
                runs[-1] = (polling, runs[-1][1] + 1)
            else:
                runs.append((polling, 1))
        return runs

    n = 64  # requests between two looks
    assert decisions(10 * n, 0) == [(True, 10 * n)]  # a calm machine: always
    # Contended: a stop of one period, then two, then four, polling one period between.
    assert decisions(10 * n, 1) == [(True, n - 1), (False, n), (True, n), (False, 2 * n),
                                    (True, n), (False, 4 * n), (True, 1)]
    # Calm again: polling that meets no contention resets the backoff.
    assert decisions(4 * n, 0) == [(True, 4 * n)]
    assert decisions(3 * n, 1)[:2] == [(True, n - 1), (False, n)]


def test_the_command_line_default_busy_poll_is_the_loops() -> None:
    args = build_parser().parse_args(["mount", "/mnt"])
    assert args.busy_poll * 1e-6 == pytest.approx(BUSY_POLL_S)


def test_a_signal_ends_the_busy_poll_and_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    fuse_r, fuse_w = os.pipe()
    try:
        driver = Driver(busy_poll_s=60)
        monkeypatch.setattr(pyfuse3, "terminate", lambda: driver.notify_closing(fuse_r))
        monkeypatch.setattr(signal, "setitimer", lambda which, first, every: None)
        # on_signal runs between two polls, as the handler of a SIGTERM would.
        signaller = threading.Thread(
            target=lambda: (time.sleep(0.01), driver.on_signal(signal.SIGTERM, None)))
        t0 = time.perf_counter()
        signaller.start()
        with pytest.raises(ClosedResourceError):
            _finish(driver.wait_readable(fuse_r))
        assert time.perf_counter() - t0 < 30
        signaller.join()
    finally:
        for fd in (fuse_r, fuse_w):
            os.close(fd)


def test_helper_threads_leave_the_loop_signals_to_the_loop() -> None:
    """A signal taken by a helper thread would not interrupt the loop's blocking read."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    seen: list[set[int | signal.Signals]] = []
    thread = threading.Thread(target=lambda: seen.append(
        signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    start_without_loop_signals(thread)
    thread.join()
    assert LOOP_SIGNALS.issubset(seen[0])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before  # the caller's is unchanged


def test_the_loop_driver_waits_in_poll_while_a_helper_thread_works() -> None:
    """pyfuse3 reads the FUSE fd holding the GIL: while a helper has work, the driver
    waits where the GIL is released, until a request comes or the helper is done."""
    fuse_r, fuse_w = os.pipe()
    done = threading.Event()
    try:
        driver = Driver(lambda: not done.is_set())

        def work() -> None:
            time.sleep(0.05)  # an invalidation's work
            done.set()
        helper = threading.Thread(target=work)
        helper.start()
        _finish(driver.wait_readable(fuse_r))  # returns once the helper is done
        assert done.is_set()
        helper.join()
        done.clear()  # busy again, but a request is waiting: serve it
        os.write(fuse_w, b"request")
        _finish(driver.wait_readable(fuse_r))
    finally:
        for fd in (fuse_r, fuse_w):
            os.close(fd)
