"""The pytest plugin as a user's suite sees it: fixtures, the marker, skips, and no mount left.

A small suite runs in a separate pytest (the plugin loads through its
``pytest11`` entry point, as in a user's project); it records every mount
point it got, and this test checks each one is gone afterwards, including
those of failing tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fakeproc.fs import registry
from fakeproc.testing import CLIENT_TIMEOUT_S, fuse_unavailable

pytestmark = pytest.mark.fuse

USER_SUITE = '''
from pathlib import Path

import pytest

RECORD = Path(__file__).with_name("mounts.txt")


def note(m):
    with RECORD.open("a") as f:
        f.write(f"{m.path}\\n")


@pytest.mark.fakeproc(ram="128M", swap="16M", dialect="caf", seed=4)
def test_marker_options_and_helpers(fakeproc_mount):
    m = fakeproc_mount
    note(m)
    assert m.meminfo()["MemTotal"] == 128 << 10
    assert m.meminfo()["SwapTotal"] == (16 << 10) - 4
    m.ctl("spawn 5 app", "mmap 5 0x100000 8K anon", "touch 5 0x100000 8K write")
    assert m.rollup(5)["Rss"] == 8 and m.status(5)["VmRSS"] == 8
    assert [row["Rss"] for row in m.smaps(5)] == [8]
    m.write("5/reclaim", "0x100000 4K")  # hex: only the caf dialect takes it
    assert m.rollup(5)["Swap"] == 4


def test_failing_test_still_unmounts(fakeproc_mount):
    note(fakeproc_mount)
    assert False, "deliberate failure"


def test_factory_mounts_all_unmount(fakeproc_factory):
    note(fakeproc_factory())
    note(fakeproc_factory(seed=2))
    raise RuntimeError("deliberate error")


@pytest.mark.fakeproc(workload="browser")
def test_workload_is_skipped(fakeproc_mount):
    note(fakeproc_mount)
'''


def test_a_user_suite_with_the_plugin(tmp_path: Path) -> None:
    reason = fuse_unavailable()
    if reason is not None:
        pytest.skip(reason)
    (tmp_path / "test_user.py").write_text(USER_SUITE)
    # --strict-markers: the plugin itself registers the fakeproc marker.
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S * 4, check=False,
        cwd=tmp_path)
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 1, done.stdout
    assert "2 failed, 1 passed, 1 skipped" in summary, done.stdout
    assert "workloads arrive in a later release" in done.stdout
    paths = (tmp_path / "mounts.txt").read_text().split()
    assert len(paths) == 4  # the skipped test never got a mount
    for path in paths:
        record = registry.read_record(path)
        assert registry.mount_type(path) is None, path
        assert record is None or not record.is_running(), path
