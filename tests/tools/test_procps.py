"""procps-ng, run unchanged with the mount bound over /proc, shows the mount's figures.

Each tool runs through ``fakeproc shell MNT -- TOOL`` (a private mount
namespace; the daemon outside). Its exit status must be 0 and its stderr
empty, and every figure it prints is compared with smaps, smaps_rollup,
status or meminfo of the same mount, before and after reclaim.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import build_scene

from fakeproc.testing import Mount

pytestmark = pytest.mark.fuse

TOOLS = ("pmap", "ps", "top", "free", "unshare")
BEFORE, AFTER = 400, 410  # scene pids: no reclaim, and anon reclaim of the child


@pytest.fixture(scope="module")
def proc(module_mount: Mount) -> Iterator[Mount]:
    """The module's mount with two scenes, once binding it over /proc is known to work."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"procps tools missing: {' '.join(missing)} (apt-get install procps)")
    probe = module_mount.run_over_proc("true")
    if probe.returncode != 0:
        pytest.skip(f"cannot bind the mount over /proc here: {probe.stderr.strip()}")
    build_scene(module_mount, BEFORE, None)
    build_scene(module_mount, AFTER, "anon")
    yield module_mount


def run(m: Mount, *argv: str) -> str:
    done = m.run_over_proc(*argv)
    assert (done.returncode, done.stderr) == (0, ""), argv
    return done.stdout


PIDS = [BEFORE, BEFORE + 1, AFTER, AFTER + 1]


def _dirty(row: dict[str, int | str]) -> int:
    return int(row["Shared_Dirty"]) + int(row["Private_Dirty"])


@pytest.mark.parametrize("pid", PIDS)
def test_pmap_x(proc: Mount, pid: int) -> None:
    lines = run(proc, "pmap", "-x", str(pid)).splitlines()
    assert lines[0].startswith(f"{pid}:")
    assert lines[1].split() == ["Address", "Kbytes", "RSS", "Dirty", "Mode", "Mapping"]
    smaps = proc.smaps(pid)
    rows = [line.split() for line in lines[2:2 + len(smaps)]]
    for words, row in zip(rows, smaps, strict=True):
        start = str(row["range"]).split("-")[0]
        assert int(words[0], 16) == int(start, 16)
        assert [int(w) for w in words[1:4]] == [row["Size"], row["Rss"], _dirty(row)]
    total = lines[-1].split()
    assert total[:2] == ["total", "kB"]
    assert [int(w) for w in total[2:5]] == [
        sum(int(r["Size"]) for r in smaps), proc.rollup(pid)["Rss"],
        sum(_dirty(r) for r in smaps)]


@pytest.mark.parametrize("flag", ["-X", "-XX"])
@pytest.mark.parametrize("pid", PIDS)
def test_pmap_extended_columns_are_the_smaps_figures(proc: Mount, flag: str, pid: int) -> None:
    lines = run(proc, "pmap", flag, str(pid)).splitlines()
    header = lines[1].split()
    numeric = header[5:header.index("VmFlags" if "VmFlags" in header else "Mapping")]
    smaps = proc.smaps(pid)
    assert len(lines) == 2 + len(smaps) + 2
    for line, row in zip(lines[2:2 + len(smaps)], smaps, strict=True):
        words = line.split()
        assert int(words[0], 16) == int(str(row["range"]).split("-")[0], 16)
        for name, word in zip(numeric, words[5:5 + len(numeric)], strict=True):
            assert int(word) == row[name], (row["range"], name)
    totals = lines[-1].split()
    for name, word in zip(numeric, totals, strict=False):
        assert int(word) == sum(int(r[name]) for r in smaps), name


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def test_ps(proc: Mount) -> None:
    lines = run(proc, "ps", "-eo", "pid,user,rss,vsz,comm").splitlines()
    assert lines[0].split() == ["PID", "USER", "RSS", "VSZ", "COMMAND"]
    rows = {int(w[0]): w for w in (line.split() for line in lines[1:])}
    assert sorted(rows) == proc.pids()  # the caller (ps itself) is not listed
    for pid in PIDS:
        status = proc.status(pid)
        uid = int(proc.read(f"{pid}/status").split("Uid:")[1].split()[0])
        assert rows[pid][1:] == [_user(uid), str(status["VmRSS"]), str(status["VmSize"]),
                                 proc.read(f"{pid}/comm").strip()]


def test_top(proc: Mount) -> None:
    lines = run(proc, "top", "-b", "-n1", "-w", "200").splitlines()
    info = proc.meminfo()
    mem = next(line for line in lines if line.startswith("MiB Mem"))
    assert mem.split(":")[1].split()[0] == f"{info['MemTotal'] / 1024:.1f}"
    swap = next(line for line in lines if line.startswith("MiB Swap"))
    assert swap.split(":")[1].split()[0] == f"{info['SwapTotal'] / 1024:.1f}"
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["PID"])
    assert lines[head].split()[:7] == ["PID", "USER", "PR", "NI", "VIRT", "RES", "SHR"]
    rows = {int(w[0]): w for w in (line.split() for line in lines[head + 1:] if line.strip())}
    assert sorted(rows) == proc.pids()
    for pid in PIDS:
        status = proc.status(pid)
        shared = status["RssFile"] + status["RssShmem"]
        assert [int(w) for w in rows[pid][4:7]] == [status["VmSize"], status["VmRSS"], shared]
        assert rows[pid][-1] == proc.read(f"{pid}/comm").strip()


def test_free(proc: Mount) -> None:
    lines = run(proc, "free").splitlines()
    assert lines[0].split() == ["total", "used", "free", "shared", "buff/cache", "available"]
    info = proc.meminfo()
    mem = [int(w) for w in lines[1].split()[1:]]
    cache = info["Buffers"] + info["Cached"] + info["SReclaimable"]
    # procps-ng 4 counts used as total - available (3.x: total - free - cache).
    assert mem == [info["MemTotal"], info["MemTotal"] - info["MemAvailable"],
                   info["MemFree"], info["Shmem"], cache, info["MemAvailable"]]
    swap = [int(w) for w in lines[2].split()[1:]]
    assert swap == [info["SwapTotal"], info["SwapTotal"] - info["SwapFree"], info["SwapFree"]]
    assert swap[1] > 0  # the reclaimed scene is in swap: the figures are not all 0


SELF_PROBE = """
import os, threading
seen = []
def look():
    seen.append((threading.get_native_id(), os.readlink("/proc/self")))
thread = threading.Thread(target=look)
thread.start(); thread.join()
tid, from_thread = seen[0]
status = open("/proc/self/status").read()
tgid = next(l.split()[1] for l in status.splitlines() if l.startswith("Tgid:"))
stat_pid = open(f"/proc/{os.getpid()}/stat").read().split()[0]
task = os.listdir("/proc/self/task")
print(os.getpid(), os.readlink("/proc/self"), tid != os.getpid(), from_thread, tgid,
      stat_pid, task, "1" in os.listdir("/proc"))
"""


def test_self_is_the_calling_process_not_its_thread(proc: Mount) -> None:
    words = run(proc, sys.executable, "-c", SELF_PROBE).split(maxsplit=6)
    pid = words[0]
    assert words[1:6] == [pid, "True", pid, pid, pid]
    assert words[6].strip() == f"['{pid}'] False"  # its own entry only; no real pid 1


def test_a_caller_entry_is_read_only(proc: Mount) -> None:
    # bash names the errno (dash says "I/O error" for all); even root is refused.
    done = proc.run_over_proc("bash", "-c", 'echo x > /proc/$$/comm')
    assert done.returncode != 0
    assert "Permission denied" in done.stderr


def test_the_daemon_keeps_the_real_proc(proc: Mount) -> None:
    # The bind is private to the tool's namespace: outside, /proc is the kernel's.
    assert os.path.exists(f"/proc/{os.getpid()}/exe")
    done = subprocess.run(["ps", "-p", str(os.getpid()), "-o", "pid="], capture_output=True,
                          text=True, check=False, timeout=30)
    assert done.stdout.strip() == str(os.getpid())
