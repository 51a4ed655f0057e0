"""fakeproc.testing.mounted(): a mount for one with block; a user's reclaim daemon end to end."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakeproc.fs import registry
from fakeproc.testing import CLIENT_TIMEOUT_S, Mount, MountUnavailable, mounted

pytestmark = pytest.mark.fuse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reclaim_daemon.py"


def _gone(path: Path) -> bool:
    record = registry.read_record(str(path))
    return registry.mount_type(str(path)) is None and (record is None or not record.is_running())


@contextlib.contextmanager
def mounted_or_skip(**options: Any) -> Iterator[Mount]:
    """mounted(), with the test skipped where fakeproc cannot be mounted."""
    try:
        context = mounted(**options)
        m = context.__enter__()
    except MountUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield m
    finally:
        context.__exit__(None, None, None)


def test_mounted_unmounts_even_when_the_block_raises(tmp_path: Path) -> None:
    seen: list[Path] = []
    with pytest.raises(ZeroDivisionError), mounted_or_skip(directory=tmp_path) as m:
        seen.append(m.path)
        assert registry.mount_type(str(m.path)) == registry.FSTYPE
        m.ctl("spawn 7 victim")
        assert m.pids() == [7]
        _ = 1 // 0
    assert seen and _gone(seen[0])


@pytest.mark.parametrize(("dialect", "errno_expected"), [("v2", True), ("caf", False)])
def test_mounted_passes_its_options_on(dialect: str, errno_expected: bool) -> None:
    with mounted_or_skip(ram="96M", swap="8M", dialect=dialect, seed=5) as m:
        assert m.meminfo()["MemTotal"] == 96 << 10
        m.ctl("spawn 9 a", "mmap 9 0x100000 8K anon", "touch 9 0x100000 8K write")
        # v2 reads ADDR in base 10, so "0x..." is invalid; caf reads it through memparse.
        try:
            m.write("9/reclaim", "0x100000 4K")
            refused = False
        except OSError:
            refused = True
        assert refused is errno_expected
    assert _gone(m.path)


def test_a_workload_is_not_available_yet() -> None:
    with pytest.raises(MountUnavailable, match="later release"), mounted(workload="browser"):
        pass


def _process(m: Mount, pid: int, anon_kib: int, file_kib: int) -> None:
    m.ctl(f"spawn {pid} proc{pid}",
          f"mmap {pid} 0x100000 {anon_kib}K anon", f"touch {pid} 0x100000 {anon_kib}K write",
          f"mmap {pid} 0x10000000 {file_kib}K file=/lib/{pid}.so",
          f"touch {pid} 0x10000000 {file_kib}K")


def test_the_example_reclaim_daemon_end_to_end() -> None:
    threshold_kib = 1024
    sizes = {101: (2048, 64), 102: (256, 128), 103: (1024, 512), 104: (960, 32)}
    with mounted_or_skip() as m:
        for pid, (anon_kib, file_kib) in sizes.items():
            _process(m, pid, anon_kib, file_kib)
        before = {pid: m.rollup(pid) for pid in sizes}
        over = sorted(pid for pid, r in before.items() if r["Rss"] > threshold_kib)
        assert over and len(over) < len(sizes)  # the scene tells big from small
        done = subprocess.run([sys.executable, str(EXAMPLE), str(m.path), "--threshold-kib",
                               str(threshold_kib), "--once"], capture_output=True, text=True,
                              timeout=CLIENT_TIMEOUT_S, check=False)
        assert (done.returncode, done.stderr) == (0, "")
        printed = [tuple(int(w) for w in line.split()) for line in done.stdout.splitlines()]
        after = {pid: m.rollup(pid) for pid in sizes}
        assert printed == [(pid, before[pid]["Rss"], after[pid]["Rss"]) for pid in over]
        for pid in sizes:
            if pid in over:  # its anon memory went to swap; its file pages stayed
                assert after[pid]["Anonymous"] == 0
                assert after[pid]["Swap"] == before[pid]["Anonymous"]
                assert after[pid]["Rss"] == before[pid]["Rss"] - before[pid]["Anonymous"]
            else:
                assert after[pid] == before[pid]
        reclaims = [e for e in m.events() if e["type"] == "reclaim"]
        assert [(e["pid"], e["request"]) for e in reclaims] == [(pid, "anon") for pid in over]
