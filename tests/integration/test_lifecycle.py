"""The mount as a whole: sharing, permissions, lifetime, robustness, concurrency, events."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeproc.fs import registry
from fakeproc.testing import (
    CLIENT_TIMEOUT_S,
    Mount,
    MountFactory,
    fakeproc_command,
    mount_fakeproc,
    poll,
    shell,
)

pytestmark = pytest.mark.fuse

ADDR, SIZE = 0x100000, 32 << 10


def _scene(m: Mount, pid: int = 100, uid: int = 0) -> None:
    m.ctl(f"spawn {pid} zygote uid={uid}", f"mmap {pid} {ADDR:#x} {SIZE} anon",
          f"touch {pid} {ADDR:#x} {SIZE} write")


@pytest.mark.parametrize("dialect", ["v2", "caf"])
def test_fork_sharing_per_dialect(fakeproc_factory: MountFactory, dialect: str) -> None:
    m = fakeproc_factory(dialect=dialect)
    _scene(m)
    m.ctl("fork 100 101")
    assert m.rollup(101)["Shared_Dirty"] == SIZE >> 10
    done = shell('echo anon > "$M/101/reclaim"', m.path)
    assert done.returncode == 0
    child, parent = m.rollup(101), m.rollup(100)
    if dialect == "v2":  # unmapped from the child only; the frames stay for the parent
        assert (child["Rss"], child["Swap"]) == (0, SIZE >> 10)
        assert parent["Rss"] == SIZE >> 10
    else:  # caf skips pages mapped by more than one process
        assert (child["Rss"], child["Swap"]) == (SIZE >> 10, 0)
    assert parent["Swap"] == 0


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every uid can reach (pytest's tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="fakeproc-shared-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_non_owner_is_refused_smaps_and_reclaim_but_reads_status(shared_dir: Path) -> None:
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another uid")
    m = mount_fakeproc(shared_dir, extra=("--allow-other",))
    try:
        _check_other_user(m)
    finally:
        m.unmount()


def _check_other_user(m: Mount) -> None:
    _scene(m, 100, uid=0)
    _scene(m, 200, uid=1000)
    as_user = "setpriv --reuid=1000 --regid=1000 --clear-groups "
    for name in ("smaps", "smaps_rollup", "maps", "pagemap"):
        done = shell(f'{as_user} cat "$M/100/{name}"', m.path)
        assert "Permission denied" in done.stderr, name
    denied = shell(f'{as_user} sh -c \'echo all > "$M/100/reclaim"\'', m.path)
    assert "Permission denied" in denied.stderr
    assert shell(f'{as_user} cat "$M/100/status"', m.path).returncode == 0
    own = shell(f'{as_user} sh -c \'echo all > "$M/200/reclaim" && cat "$M/200/smaps"\'',
                m.path)
    assert own.returncode == 0, own.stderr
    assert m.rollup(200)["Rss"] == 0


def _daemon(m: Mount) -> registry.DaemonRecord:
    record = registry.read_record(str(m.path))
    assert record is not None and record.is_running()
    return record


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL", "umount"])
def test_every_way_of_stopping_leaves_no_mount(fakeproc_factory: MountFactory, how: str) -> None:
    m = fakeproc_factory()
    daemon = _daemon(m)
    if how == "umount":
        done = subprocess.run(fakeproc_command("umount", str(m.path)), capture_output=True,
                              text=True, timeout=CLIENT_TIMEOUT_S, check=False)
        assert (done.returncode, done.stderr) == (0, "")
        assert not daemon.is_running()  # umount waited for the daemon
    else:
        os.kill(daemon.pid, getattr(signal, how))
    # After SIGKILL the unmount is fusermount3's (auto_unmount), which a
    # loaded machine can delay by seconds: a generous deadline, still a deadline.
    assert poll(lambda: registry.mount_type(str(m.path)) is None, timeout_s=30.0)
    assert poll(lambda: not daemon.is_running())


def test_umount_of_something_else_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(fakeproc_command("umount", str(tmp_path)), capture_output=True,
                          text=True, timeout=CLIENT_TIMEOUT_S, check=False)
    assert done.returncode == 1 and "not mounted" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["mount", "/nonexistent/x"], "does not exist"),
    (["mount", "/etc/hostname"], "not a directory"),
    (["mount", "/proc"], "already a mount point"),
    (["mount", "/tmp", "--restore", "x"], "arrives in a later release"),
])
def test_mount_failures_are_one_clear_line(args: list[str], message: str) -> None:
    done = subprocess.run(fakeproc_command(*args), capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False)
    assert done.returncode == 1
    assert message in done.stderr and done.stderr.count("\n") == 1


def test_a_handler_exception_is_eio_and_the_daemon_keeps_serving(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # Start the daemon with one renderer broken, in its own process.
    script = (
        "import sys\n"
        "from fakeproc.fs import operations\n"
        "def broken(machine, pid):\n"
        "    raise RuntimeError('injected')\n"
        "operations.PID_RENDERERS['statm'] = broken\n"
        "from fakeproc.cli import main\n"
        f"sys.exit(main(['mount', {str(mnt)!r}, '--log', {str(tmp_path / 'log')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    try:
        assert shell('echo "spawn 7 app" > "$M/sim/ctl"', mnt).returncode == 0
        broken = shell('cat "$M/7/statm"', mnt)
        assert "Input/output error" in broken.stderr
        assert shell('cat "$M/7/status"', mnt).returncode == 0
        assert "injected" in (tmp_path / "log").read_text()  # logged with its traceback
    finally:
        subprocess.run(fakeproc_command("umount", str(mnt)), timeout=CLIENT_TIMEOUT_S,
                       check=False)


def test_verbose_logs_every_request_and_a_quiet_mount_none(
        fakeproc_factory: MountFactory) -> None:
    loud, quiet = fakeproc_factory(extra=("--verbose",)), fakeproc_factory()
    for m in (loud, quiet):
        m.ctl("spawn 7 app")
        assert shell('echo file > "$M/7/reclaim"', m.path).returncode == 0

    def requests(m: Mount) -> list[str]:
        return [line.split(" request ", 1)[1] for line in m.log.read_text().splitlines()
                if " request " in line]

    # RELEASE reaches the daemon after close(2) has returned: wait for its line.
    assert poll(lambda: requests(loud)[-1:] and requests(loud)[-1].startswith("release"))
    opened, written, released = requests(loud)[-3:]
    assert opened.startswith("open ") and released.startswith("release ")
    assert written.startswith("write ") and written.endswith(r"b'file\n'")
    assert requests(quiet) == []


def test_busy_poll_is_on_by_default_and_0_turns_it_off(fakeproc_factory: MountFactory) -> None:
    polling, sleeping = fakeproc_factory(), fakeproc_factory(extra=("--busy-poll", "0"))
    for m in (polling, sleeping):
        m.ctl("spawn 7 app")
        assert shell('echo file > "$M/7/reclaim" && cat "$M/7/status"', m.path).returncode == 0
    one_cpu = len(os.sched_getaffinity(0)) == 1  # the client would wait for the CPU it spins on
    assert ("busy poll: off" if one_cpu else "busy poll: 50 µs") in polling.log.read_text()
    assert "busy poll: off" in sleeping.log.read_text()


@pytest.mark.parametrize("value", ["-1", "1000001", "50us", ""])
def test_a_bad_busy_poll_is_refused(value: str) -> None:
    done = subprocess.run(fakeproc_command("mount", "/tmp", "--busy-poll", value),
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"fakeproc mount: error: argument --busy-poll: invalid time '{value}' "
        "(microseconds, 0 to 1000000)")


def test_tail_follows_sim_events(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    m.ctl("spawn 1 init")
    tail = subprocess.Popen(["tail", "-n", "+1", "-s", "0.1", "-f", str(m.path / "sim/events")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert tail.stdout is not None
        assert '"command":"spawn 1 init"' in tail.stdout.readline()
        m.ctl("spawn 2 later")
        assert '"command":"spawn 2 later"' in tail.stdout.readline()
    finally:
        tail.kill()
        tail.communicate(timeout=CLIENT_TIMEOUT_S)


def test_control_lines_cut_across_writes_and_a_last_line_at_close(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    done = shell('{ printf "spa"; printf "wn 5 a\\nspawn"; printf " 6 b"; } > "$M/sim/ctl"',
                 m.path)
    assert done.returncode == 0
    assert Path(m.path, "5").is_dir() and Path(m.path, "6").is_dir()
    bad = subprocess.run(fakeproc_command("ctl", str(m.path), "spawn", "5", "again"),
                         capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False)
    assert bad.returncode == 1 and "line 1: spawn" in bad.stderr


def test_an_unfinished_control_line_runs_once_at_the_last_close(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    # printf >&3 closes its own copy of fd 3 first: the line waits for the last close.
    done = shell('exec 3>"$M/sim/ctl"; printf "spawn 9 late" >&3; '
                 'test ! -e "$M/9" || exit 5; exec 3>&-; test -d "$M/9"', m.path)
    assert (done.returncode, done.stderr) == (0, "")
    assert m.read("sim/events").count('"command":"spawn 9 late"') == 1


def test_a_bad_unfinished_control_line_is_told_by_sim_error(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    # Shells ignore close(2)'s errors, and the mount reports none: sim/error says it.
    done = shell('printf "spawn 5 a\\nspawn 5 again" > "$M/sim/ctl"', m.path)
    assert done.returncode == 0
    assert Path(m.path, "5").is_dir()
    assert poll(lambda: "line 2: spawn" in m.read("sim/error"))


def test_a_write_error_reaches_sh_echo(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    _scene(m)
    done = shell('echo bogus > "$M/100/reclaim"', m.path)
    assert done.returncode != 0 and "I/O error" in done.stderr  # dash's word for any errno
    bad = shell('echo "bogus 1" > "$M/sim/ctl"', m.path, shell_name="bash")
    assert "write error: Invalid argument" in bad.stderr


def test_status_shows_each_change_and_nothing_stale(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    _scene(m)

    def rss_kib() -> int:
        line = next(x for x in m.read("100/status").splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    assert rss_kib() == rss_kib() == SIZE >> 10
    m.write("100/reclaim", "anon")
    assert rss_kib() == 0
    m.ctl(f"touch 100 {ADDR:#x} 4096 write")
    assert rss_kib() == 4


def test_sigterm_unmounts_cleanly(fakeproc_factory: MountFactory) -> None:
    m = fakeproc_factory()
    daemon = _daemon(m)
    os.kill(daemon.pid, signal.SIGTERM)
    assert poll(lambda: not daemon.is_running())
    # The pid file goes only on the daemon's own way out (not a kill or auto_unmount).
    assert registry.read_record(str(m.path)) is None
    assert registry.mount_type(str(m.path)) is None


def _load(m: Mount, clients: int, rounds: int) -> None:
    for pid in range(100, 100 + clients):
        _scene(m, pid)
    # Six requests a round: three reads, a touch, a whole and a range reclaim.
    script = (
        f"i=0; while [ $i -lt {rounds // 6} ]; do "
        'cat "$M/$P/smaps_rollup" "$M/$P/status" "$M/meminfo" > /dev/null || exit 1; '
        f'echo "touch $P {ADDR} {SIZE} write" > "$M/sim/ctl" || exit 2; '
        'echo all > "$M/$P/reclaim" || exit 3; '
        f'echo "$(({ADDR} + i % 8 * 4096)) 4096" > "$M/$P/reclaim" || exit 4; '
        "i=$((i + 1)); done"
    )
    procs = [subprocess.Popen(["sh", "-c", script], env={**os.environ, "M": str(m.path),
                                                         "P": str(pid)},
                              stderr=subprocess.PIPE, text=True)
             for pid in range(100, 100 + clients)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert (proc.returncode, err) == (0, "")
    for pid in range(100, 100 + clients):
        rollup, rows = m.rollup(pid), m.smaps(pid)
        for label in ("Rss", "Pss", "Swap", "Anonymous", "Private_Dirty"):
            assert rollup[label] == sum(int(r[label]) for r in rows), (pid, label)


def test_concurrent_clients(fakeproc_mount: Mount) -> None:
    _load(fakeproc_mount, clients=8, rounds=100)


@pytest.mark.long
def test_concurrent_clients_long(fakeproc_mount: Mount) -> None:
    _load(fakeproc_mount, clients=8, rounds=1000)
