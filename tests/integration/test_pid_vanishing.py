"""Cached pid directories still vanish at once: exit, OOM kill, a respawned pid."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from collections.abc import Coroutine
from typing import Any

import pytest

from fakeproc.control import Controller, EventLog
from fakeproc.engine import Machine, MachineConfig
from fakeproc.fs import tree
from fakeproc.fs.caller import RealProc
from fakeproc.fs.invalidate import PidForgetter
from fakeproc.fs.operations import ProcOperations
from fakeproc.testing import CLIENT_TIMEOUT_S, Mount, MountFactory, shell

ROUNDS = 40


# -- without /dev/fuse: which pids are forgotten, and the helper thread ----------


class _Ctx:
    pid, uid, gid, umask = os.getpid(), 0, 0, 0


class _RecordingForgetter(PidForgetter):
    def __init__(self) -> None:
        super().__init__()
        self.forgotten: list[list[int]] = []

    def forget(self, pids: Any) -> bool:
        self.forgotten.append(sorted(pids))
        return True


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    with pytest.raises(StopIteration) as stop:
        coroutine.send(None)
    return stop.value.value


def _operations() -> tuple[ProcOperations, _RecordingForgetter]:
    machine = Machine(MachineConfig(ram_bytes=64 << 20, swap_bytes=0))
    events = EventLog()
    forgetter = _RecordingForgetter()
    ops = ProcOperations(machine, Controller(machine, events), events, owner_uid=0, owner_gid=0,
                         real_proc=RealProc(None), forgetter=forgetter)
    return ops, forgetter


def _ctl(ops: ProcOperations, text: str) -> None:
    found = tree.child_inode(tree.SIM_INODE, "ctl")
    assert found is not None
    fh = _run(ops.open(found[0], os.O_WRONLY, _Ctx())).fh
    _run(ops.write(fh, 0, text.encode()))
    _run(ops.release(fh))


def test_only_looked_up_pids_that_went_are_forgotten() -> None:
    ops, forgetter = _operations()
    _ctl(ops, "spawn 10 a\nspawn 11 b\nspawn 12 c\n")
    for pid in (10, 11):
        _run(ops.lookup(tree.ROOT_INODE, str(pid).encode(), _Ctx()))
    _ctl(ops, "exit 10\nexit 12\n")  # 12 was never shown to the kernel
    assert forgetter.forgotten == [[10]]
    _ctl(ops, "exit 11\nspawn 11 b uid=1000\n")  # same pid, another process
    assert forgetter.forgotten == [[10], [11]]
    _ctl(ops, "tick 1\n")  # nothing shown went
    assert forgetter.forgotten == [[10], [11]]


def test_the_helper_ignores_enoent_and_the_wait_is_short_when_contended() -> None:
    calls: list[tuple[str, int]] = []
    release = threading.Event()

    def forget_entry(parent: int, name: bytes) -> None:
        calls.append(("entry", int(name)))
        if name == b"7":
            release.wait(5)  # a LOOKUP in the root holds its lock
        raise OSError(errno.ENOENT, "not cached")

    forgetter = PidForgetter(forget_entry, lambda inode: calls.append(("inode", inode)),
                             wait_s=0.05)
    try:
        assert forgetter.forget([5]) is True
        assert forgetter.forget([7]) is False
        release.set()
        assert forgetter.forget([9]) is True  # after the contended one completed
    finally:
        forgetter.close()
    assert calls == [("entry", 5), ("inode", tree.pid_inode(5)), ("entry", 7),
                     ("inode", tree.pid_inode(7)), ("entry", 9), ("inode", tree.pid_inode(9))]


# -- through the mount and a real shell -------------------------------------------

fuse = pytest.mark.fuse


@fuse
def test_an_exited_pid_vanishes_at_once(fakeproc_mount: Mount) -> None:
    script = (
        f"i=0; while [ $i -lt {ROUNDS} ]; do "
        'echo "spawn 42 x" > "$M/sim/ctl" || exit 1; '
        'test -d "$M/42" && cat "$M/42/status" > /dev/null || exit 2; '  # now cached
        'echo "exit 42" > "$M/sim/ctl" || exit 3; '
        'test ! -e "$M/42" && ! cat "$M/42/status" 2> /dev/null || exit 4; '
        "i=$((i + 1)); done"
    )
    done = shell(script, fakeproc_mount.path)
    assert (done.returncode, done.stderr) == (0, "")


@fuse
@pytest.mark.parametrize("one_write", [True, False])
def test_a_respawned_pid_shows_its_new_owner_at_once(fakeproc_mount: Mount,
                                                     one_write: bool) -> None:
    respawn = ('printf "exit 42\\nspawn 42 y uid=$u\\n" > "$M/sim/ctl" || exit 3; ' if one_write
               else 'echo "exit 42" > "$M/sim/ctl" && echo "spawn 42 y uid=$u" > "$M/sim/ctl" '
                    "|| exit 3; ")
    script = (
        'echo "spawn 42 x uid=0" > "$M/sim/ctl" || exit 1; '
        f"i=0; while [ $i -lt {ROUNDS} ]; do "
        "u=$((1000 + i)); "
        'stat -c %u "$M/42" "$M/42/status" > /dev/null || exit 2; '  # now cached
        f"{respawn}"
        '[ "$(stat -c %u "$M/42")" = $u ] || exit 4; '
        '[ "$(stat -c %u "$M/42/status")" = $u ] || exit 5; '
        "i=$((i + 1)); done"
    )
    done = shell(script, fakeproc_mount.path)
    assert (done.returncode, done.stderr) == (0, "")


@fuse
def test_an_oom_killed_pid_vanishes_at_once(fakeproc_factory: MountFactory) -> None:
    m = fakeproc_factory(ram="64M", swap="0")
    m.ctl("spawn 101 victim", "mmap 101 0x100000 40M anon", "touch 101 0x100000 40M write",
          "spawn 102 hog", "mmap 102 0x100000 40M anon")
    m.write("101/oom_score_adj", "1000")
    script = (
        'test -d "$M/101" && cat "$M/101/status" > /dev/null || exit 1; '  # now cached
        'echo "touch 102 0x100000 40M write" > "$M/sim/ctl" || exit 2; '
        'test ! -e "$M/101" && ! cat "$M/101/status" 2> /dev/null || exit 3; '
        'test -d "$M/102" || exit 4'
    )
    done = shell(script, m.path)
    assert (done.returncode, done.stderr) == (0, "")
    assert [e["pid"] for e in m.events() if e["type"] == "oom_kill"] == [101]


@fuse
def test_listing_while_pids_exit_never_deadlocks(fakeproc_mount: Mount) -> None:
    # One client keeps the root's lock busy with listings and lookups (each
    # caching pid entries) while another exits and respawns those pids: the
    # invalidations must not deadlock the daemon (contended, one may complete
    # just after the write that caused it, so vanishing is not checked here).
    pids = " ".join(str(p) for p in range(300, 316))
    reader = (
        "end=$(($(date +%s) + 4)); while [ $(date +%s) -lt $end ]; do "
        'ls "$M" > /dev/null || exit 1; '
        f'for p in {pids}; do stat "$M/$p" > /dev/null 2>&1; cat "$M/$p/status" '
        "> /dev/null 2>&1; done; done; exit 0"
    )
    writer = (
        f"i=0; while [ $i -lt {ROUNDS} ]; do "
        f'for p in {pids}; do echo "spawn $p w" > "$M/sim/ctl" || exit 1; done; '
        f'for p in {pids}; do echo "exit $p" > "$M/sim/ctl" || exit 2; done; '
        "i=$((i + 1)); done"
    )
    env = {**os.environ, "M": str(fakeproc_mount.path)}
    procs = [subprocess.Popen(["sh", "-c", script], env=env, stderr=subprocess.PIPE, text=True)
             for script in (reader, reader, writer)]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=CLIENT_TIMEOUT_S * 4)
            assert (proc.returncode, err) == (0, "")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
