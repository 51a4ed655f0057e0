"""The reclaim file through a real mount: the patch's examples and the §A.3-style input table."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeproc.testing import Mount, mount_fakeproc, shell

pytestmark = pytest.mark.fuse

PID = 100
ANON_ADDR, ANON_BYTES = 0x100000, 64 << 10
FILE_ADDR, FILE_BYTES = 0x200000, 32 << 10
PAGE = 4096
PRESENT, SWAPPED = 1 << 63, 1 << 62


def kib(nbytes: int) -> int:
    return nbytes >> 10


def build_scene(m: Mount) -> None:
    m.ctl(f"spawn {PID} browser uid=1000",
          f"mmap {PID} {ANON_ADDR:#x} {ANON_BYTES} anon name=tab-1",
          f"mmap {PID} {FILE_ADDR:#x} {FILE_BYTES} file=/usr/lib/libweb.so perms=r--p",
          f"touch {PID} {ANON_ADDR:#x} {ANON_BYTES} write",
          f"touch {PID} {FILE_ADDR:#x} {FILE_BYTES} read")


def pagemap(m: Mount, addr: int, pages: int) -> list[int]:
    """pagemap entries read with dd, as a script would (8-byte aligned windows)."""
    done = shell(f'dd if="$M/{PID}/pagemap" bs=8 skip={addr // PAGE} count={pages} '
                 "2>/dev/null | od -An -v -tx8", m.path)
    assert done.returncode == 0, done.stderr
    return [int(word, 16) for word in done.stdout.split()]


def anon_row(m: Mount) -> dict[str, int | str]:
    return next(r for r in m.smaps(PID) if r["name"] == "[anon:tab-1]")


def file_row(m: Mount) -> dict[str, int | str]:
    return next(r for r in m.smaps(PID) if r["name"] == "/usr/lib/libweb.so")


def echo(m: Mount, words: str) -> None:
    """One of the patch's example lines, verbatim but for the path."""
    done = shell(f'echo {words} > "$M/{PID}/reclaim"', m.path)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_patch_examples(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    build_scene(m)
    cached_before = m.meminfo()["Cached"]
    assert m.status(PID)["VmRSS"] == kib(ANON_BYTES + FILE_BYTES)

    echo(m, "file")
    assert file_row(m)["Rss"] == 0
    assert anon_row(m)["Rss"] == kib(ANON_BYTES)
    assert m.rollup(PID)["Rss"] == kib(ANON_BYTES)
    assert m.status(PID)["RssFile"] == 0
    assert m.meminfo()["Cached"] == cached_before - kib(FILE_BYTES)  # nobody else mapped it
    assert pagemap(m, FILE_ADDR, FILE_BYTES // PAGE) == [0] * (FILE_BYTES // PAGE)

    echo(m, "anon")
    assert anon_row(m)["Rss"] == 0
    assert anon_row(m)["Swap"] == kib(ANON_BYTES)
    assert m.rollup(PID)["Swap"] == kib(ANON_BYTES)
    assert m.status(PID)["VmSwap"] == kib(ANON_BYTES)
    assert all(e & SWAPPED and not e & PRESENT for e in pagemap(m, ANON_ADDR, 16))
    swap_free = m.meminfo()["SwapFree"]
    assert m.meminfo()["SwapTotal"] - swap_free == kib(ANON_BYTES)

    m.ctl(f"touch {PID} {ANON_ADDR:#x} {ANON_BYTES} write",
          f"touch {PID} {FILE_ADDR:#x} {FILE_BYTES} read")
    assert m.status(PID)["VmRSS"] == kib(ANON_BYTES + FILE_BYTES)
    echo(m, "all")
    assert m.rollup(PID)["Rss"] == 0
    assert m.status(PID)["VmRSS"] == 0
    assert m.rollup(PID)["Swap"] == kib(ANON_BYTES)

    m.ctl(f"touch {PID} {ANON_ADDR:#x} {ANON_BYTES} write")
    assert anon_row(m)["Swap"] == 0  # written again: the slots are free
    echo(m, "$((1<<20)) 8192")
    row = anon_row(m)
    assert row["Rss"] == kib(ANON_BYTES - 8192)
    assert row["Swap"] == kib(8192)
    assert m.status(PID)["VmSwap"] == kib(8192)
    entries = pagemap(m, ANON_ADDR, 3)
    assert [bool(e & SWAPPED) for e in entries] == [True, True, False]
    assert entries[2] & PRESENT
    rollup = m.rollup(PID)
    rows = m.smaps(PID)
    for label in ("Rss", "Pss", "Swap", "Private_Dirty", "Anonymous"):
        assert rollup[label] == sum(int(r[label]) for r in rows), label


# (data, v2 outcome, caf outcome): "ok" or the errno text bash prints.
EINVAL = "Invalid argument"
ROWS = [
    ("file", "ok", "ok"), ("file\n", "ok", "ok"), ("  all  ", "ok", "ok"), ("\tanon\n", "ok", "ok"),
    ("File", EINVAL, EINVAL), ("files", EINVAL, EINVAL), ("file x", EINVAL, EINVAL),
    ("anon 0 4096", EINVAL, EINVAL),
    ("1", EINVAL, EINVAL), ("2", EINVAL, EINVAL), ("3", EINVAL, EINVAL),
    ("4096 8192", "ok", "ok"),
    ("0x100000 8K", EINVAL, "ok"),
    ("010 4096", EINVAL, EINVAL),
    ("4097 4096", EINVAL, EINVAL),
    ("4096 0", "ok", "ok"), ("4096 1", "ok", "ok"),
    ("4096 18446744073709551615", EINVAL, EINVAL),
    ("18446744073709547520 8192", EINVAL, EINVAL),
    ("4096  8192", EINVAL, "ok"),
    ("4096\t8192", EINVAL, EINVAL),
    ("4096 8192 junk", "ok", "ok"), ("4096 8192xyz", EINVAL, "ok"),
    ("-1 4096", EINVAL, EINVAL), ("\n", EINVAL, EINVAL),
    ("0x300000 4096", EINVAL, "ok"),  # caf: a range in an unmapped gap is a no-op
    ("3145728 4096", "ok", "ok"),  # v2: the same gap in decimal
]


@pytest.fixture(scope="module", params=["v2", "caf"])
def dialect_mount(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Mount]]:
    m = mount_fakeproc(tmp_path_factory.mktemp("rows"), dialect=request.param)
    try:
        build_scene(m)
        yield request.param, m
    finally:
        m.unmount()


@pytest.mark.parametrize(("data", "v2", "caf"), ROWS, ids=[repr(r[0]) for r in ROWS])
def test_reclaim_input_table(dialect_mount: tuple[str, Mount], data: str, v2: str,
                             caf: str) -> None:
    dialect, m = dialect_mount
    expected = v2 if dialect == "v2" else caf
    events_before = m.read("sim/events").count('"type":"reclaim"')
    done = shell(f'printf %s "$D" > "$M/{PID}/reclaim"', m.path, shell_name="bash",
                 env={"D": data})
    if expected == "ok":
        assert (done.returncode, done.stderr) == (0, "")
        assert m.read("sim/events").count('"type":"reclaim"') == events_before + 1
    else:
        assert done.returncode != 0
        assert f"write error: {expected}" in done.stderr
        assert m.read("sim/events").count('"type":"reclaim"') == events_before


def test_a_long_write_is_cut_at_199_bytes_and_the_rest_is_a_new_command(
        fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    build_scene(m)
    data = "all".ljust(199) + "file"
    done = shell(f'printf %s "$D" > "$M/{PID}/reclaim"', m.path, env={"D": data})
    assert (done.returncode, done.stderr) == (0, "")
    requests = [line for line in m.read("sim/events").splitlines() if '"type":"reclaim"' in line]
    assert [r.split('"request":"')[1].split('"')[0] for r in requests] == ["all", "file"]


def test_dead_pid_write_is_esrch(fakeproc_mount: Mount) -> None:
    m = fakeproc_mount
    build_scene(m)
    done = shell(f'exec 3>"$M/{PID}/reclaim"; echo "exit {PID}" > "$M/sim/ctl"; '
                 "echo all >&3", m.path, shell_name="bash")
    assert "write error: No such process" in done.stderr
    assert not Path(m.path, str(PID)).exists()
    gone = shell(f'echo all > "$M/{PID}/reclaim"', m.path, shell_name="bash")
    assert "No such file or directory" in gone.stderr


def test_pagemap_windows_must_be_whole_entries(fakeproc_mount: Mount) -> None:
    """Misaligned pagemap windows are EINVAL; aligned ones give one u64 per page."""
    m = fakeproc_mount
    build_scene(m)
    bad = shell(f'dd if="$M/{PID}/pagemap" bs=4 skip=1 count=1', m.path)
    assert bad.returncode != 0 and "Invalid argument" in bad.stderr
    fd = os.open(Path(m.path, f"{PID}/pagemap"), os.O_RDONLY)
    try:
        (entry,) = struct.unpack("<Q", os.pread(fd, 8, ANON_ADDR // PAGE * 8))
        assert entry & PRESENT
        hole = (ANON_ADDR + ANON_BYTES) // PAGE * 8
        assert os.pread(fd, 8, hole) == struct.pack("<Q", 0)  # no VMA there: 0
    finally:
        os.close(fd)
