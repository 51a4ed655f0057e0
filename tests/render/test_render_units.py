"""Renderers on tiny hand-filled worlds: every expected figure is worked out here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from render_formats import (
    check_maps_line,
    check_meminfo,
    check_smaps,
    check_smaps_rollup,
    check_swaps,
)
from render_handmade import StubMachine, zero_meminfo

from fakeproc.engine.types import PSS_SHIFT, MachineConfig, Process, SmapsCounts, Vma
from fakeproc.errors import InvalidArgument, NoSuchProcess
from fakeproc.render import (
    SmapsRenderer,
    render_cmdline,
    render_comm,
    render_maps,
    render_meminfo,
    render_pagemap,
    render_smaps,
    render_smaps_rollup,
    render_stat,
    render_swaps,
    render_uptime,
)
from fakeproc.render.pagemap import TASK_PAGES
from fakeproc.render.vma import format_header, vm_flags

KIB = 1024
PAGE = 4096


def anon(start: int, pages: int, **kw: object) -> Vma:
    return Vma(start=start, end=start + pages * PAGE, perms=str(kw.pop("perms", "rw-p")),
               offset=0, kind="anon", **kw)  # type: ignore[arg-type]


# (vma, the VmFlags this machine's kernel shows for such a mapping)
VMFLAG_TABLE = [
    (anon(0x1000, 1), "rd wr mr mw me ac"),
    (anon(0x1000, 1, name="[stack]"), "rd wr mr mw me gd ac"),
    (anon(0x1000, 1, locked=True), "rd wr mr mw me lo ac"),
    (anon(0x1000, 1, perms="r--p"), "rd mr mw me"),
    (anon(0x1000, 1, perms="---p"), "mr mw me"),
    (Vma(0x1000, 0x2000, "rw-s", 0, "shmem"), "rd wr sh mr mw me ms"),
    (Vma(0x1000, 0x2000, "r--s", 0, "shmem"), "rd sh mr mw me ms"),
    (Vma(0x1000, 0x2000, "r--p", 0, "file", path="/bin/x"), "rd mr mw me"),
    (Vma(0x1000, 0x2000, "r-xp", 0, "file", path="/bin/x"), "rd ex mr mw me"),
    (Vma(0x1000, 0x2000, "rw-p", 0, "file", path="/bin/x"), "rd wr mr mw me ac"),
    # A read-only shared file mapping: the file was opened O_RDONLY.
    (Vma(0x1000, 0x2000, "r--s", 0, "file", path="/x"), "rd mr me ms"),
    (Vma(0x1000, 0x2000, "rw-s", 0, "file", path="/x"), "rd wr sh mr mw me ms"),
    (Vma(0x1000, 0x2000, "rw-p", 0, "hugetlb"), "rd wr mr mw me de ht"),
    (Vma(0x1000, 0x2000, "rw-s", 0, "hugetlb"), "rd wr sh mr mw me ms de ht"),
]


@pytest.mark.parametrize(("vma", "flags"), VMFLAG_TABLE)
def test_vm_flags(vma: Vma, flags: str) -> None:
    assert " ".join(vm_flags(vma)) == flags


MAPS_TABLE = [
    # Unnamed: the prefix keeps its trailing space.
    ((0x7f0000000000, 0x7f0000001000, "rw-p", 0, (0, 0), 0, ""),
     "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"),
    # Short addresses are padded to 8 hex digits; the name still starts at column 73.
    ((0x1000, 0x3000, "r--p", 0x2000, (0xfe, 0), 1234, "/bin/x"),
     "00001000-00003000 r--p 00002000 fe:00 1234".ljust(73) + "/bin/x\n"),
    # A prefix longer than 72 columns gets one space before the name.
    ((0xffffffffff600000, 0xffffffffff601000, "--xp", 0xfffffffff000, (0xfe, 0),
      12345678901234, "[x]"),
     "ffffffffff600000-ffffffffff601000 --xp fffffffff000 fe:00 12345678901234  [x]\n"),
    # A newline in a path is escaped so the line stays one line.
    ((0x1000, 0x2000, "r--p", 0, (0xfe, 0), 1, "/a\nb"),
     "00001000-00002000 r--p 00000000 fe:00 1".ljust(73) + "/a\\012b\n"),
]


@pytest.mark.parametrize(("args", "line"), MAPS_TABLE)
def test_maps_header(args: tuple[int, int, str, int, tuple[int, int], int, str],
                     line: str) -> None:
    assert format_header(*args) == line
    check_maps_line(line[:-1])


def one_process_world(vmas: list[Vma], counts: SmapsCounts | None = None) -> StubMachine:
    proc = Process(pid=7, comm="app", cmdline=("app", "--x"), vmas=vmas)
    world = StubMachine(processes={7: proc})
    if counts is not None:
        world.counts[7] = counts
    return world


def test_rollup_rounds_once_after_summing() -> None:
    # Three VMAs of 3 pages, each page mapped by 8 processes: each VMA's Pss
    # is 3 * 4096 / 8 = 1536 bytes, shown as 1 kB; the sum, 4608 bytes, is
    # shown as 4 kB, not 3.
    vmas = [anon(0x10000 + i * 3 * PAGE, 3) for i in range(3)]
    counts = SmapsCounts.zeros(3)
    counts.rss[:] = 3 * PAGE
    counts.shared_dirty[:] = 3 * PAGE
    counts.pss[:] = 3 * ((PAGE << PSS_SHIFT) // 8)
    counts.pss_anon[:] = counts.pss
    world = one_process_world(vmas, counts)
    per_vma = check_smaps(render_smaps(world, 7).decode())
    assert [b["Pss"] for b in per_vma] == [1536 // KIB] * 3
    rollup = check_smaps_rollup(render_smaps_rollup(world, 7).decode())
    assert rollup["Pss"] == (3 * 1536) // KIB
    assert rollup["Pss"] > sum(b["Pss"] for b in per_vma)
    assert rollup["Rss"] == 9 * PAGE // KIB
    assert rollup["Pss_Anon"] == rollup["Pss"]


def test_rollup_header_spans_first_to_last_vma() -> None:
    world = one_process_world([anon(0x10000, 1), anon(0x7ff000000000, 4)])
    header = render_smaps_rollup(world, 7).decode().split("\n")[0]
    assert header.startswith("00010000-7ff000004000 ---p 00000000 00:00 0 ")
    assert header.endswith(" [rollup]")


def test_rollup_of_an_empty_mm() -> None:
    header = render_smaps_rollup(one_process_world([]), 7).decode().split("\n")[0]
    assert header.startswith("00000000-00000000 ---p")


def test_hugetlb_smaps_page_sizes() -> None:
    vma = Vma(0x200000, 0x600000, "rw-s", 0, "hugetlb")
    counts = SmapsCounts.zeros(1)
    counts.shared_hugetlb[:] = 2 << 20
    block = check_smaps(render_smaps(one_process_world([vma], counts), 7).decode())[0]
    assert (block["Size"], block["KernelPageSize"], block["MMUPageSize"]) == (4096, 2048, 2048)
    assert (block["Shared_Hugetlb"], block["Private_Hugetlb"], block["Rss"]) == (2048, 0, 0)


def test_smaps_renderer_matches_and_caches() -> None:
    vmas = [anon(0x10000 + i * PAGE, 1) for i in range(4)]
    world = one_process_world(vmas, SmapsCounts.zeros(4))
    cache = SmapsRenderer()
    first = cache.render(world, 7)
    assert first == render_smaps(world, 7)
    assert cache.render(world, 7) is first  # same version: the same bytes object
    counts = SmapsCounts.zeros(4)
    counts.rss[2] = PAGE
    world.counts[7] = counts
    world.version += 1
    second = cache.render(world, 7)
    assert second == render_smaps(world, 7) != first
    world.processes[7].vmas = vmas[:2]
    world.counts[7] = SmapsCounts.zeros(2)
    world.version += 1
    assert cache.render(world, 7) == render_smaps(world, 7)


PAGEMAP_TABLE = [
    # (offset, size, expected first page, expected entries)
    (0, 0, 0, 0),
    (0, 8, 0, 1),
    (8 * 100, 8 * 3, 100, 3),
    # Crossing the end of the address space: cut at the end.
    ((TASK_PAGES - 2) * 8, 8 * 5, TASK_PAGES - 2, 2),
    # At and past the end: nothing.
    (TASK_PAGES * 8, 8, 0, 0),
    ((TASK_PAGES + 10) * 8, 64, 0, 0),
]


@pytest.mark.parametrize(("offset", "size", "first", "entries"), PAGEMAP_TABLE)
def test_pagemap_window(offset: int, size: int, first: int, entries: int) -> None:
    world = one_process_world([])
    data = render_pagemap(world, 7, offset, size, privileged=True)
    values = np.frombuffer(data, dtype="<u8")
    assert len(values) == entries
    assert list(values & ((1 << 55) - 1)) == list(range(first, first + entries))
    unprivileged = np.frombuffer(render_pagemap(world, 7, offset, size, privileged=False),
                                 dtype="<u8")
    assert list(unprivileged) == [1 << 63] * entries


@pytest.mark.parametrize(("offset", "size"), [(1, 8), (0, 7), (4, 4), (8, 12), (-8, 8)])
def test_pagemap_misaligned_is_einval(offset: int, size: int) -> None:
    with pytest.raises(InvalidArgument):
        render_pagemap(one_process_world([]), 7, offset, size, privileged=True)


def test_dead_process_is_esrch() -> None:
    world = one_process_world([])
    for render in (render_maps, render_smaps, render_stat, render_comm, render_cmdline):
        with pytest.raises(NoSuchProcess):
            render(world, 8)
    with pytest.raises(NoSuchProcess):
        render_pagemap(world, 8, 0, 0, privileged=True)


SWAPS_TABLE = [
    # (kind, swap bytes, used pages, the row after the header)
    ("disk", 0, 0, None),
    ("disk", 64 << 20, 0, "/swapfile" + " " * 31 + "file\t\t65532\t\t0\t\t-2"),
    ("zram", 4 << 30, 3, "/dev/zram0" + " " * 30 + "partition\t4194300\t\t12\t\t100"),
    # 16 GiB: a size of 8 digits loses its second tab.
    ("disk", 16 << 30, 0, "/swapfile" + " " * 31 + "file\t\t16777212\t0\t\t-2"),
]


@pytest.mark.parametrize(("kind", "swap_bytes", "used", "row"), SWAPS_TABLE)
def test_swaps(kind: str, swap_bytes: int, used: int, row: str | None) -> None:
    world = StubMachine(config=MachineConfig(swap_bytes=swap_bytes, swap_kind=kind),  # type: ignore[arg-type]
                        swap_used=used)
    lines = render_swaps(world).decode().split("\n")
    assert lines[-1] == ""
    assert lines[1:-1] == ([row] if row else [])
    check_swaps(render_swaps(world).decode())


@given(st.integers(min_value=0, max_value=10**12))
@example(0)  # boot: "0.00 0.00"
@example(99)  # the last tick before one second
@example(100)  # exactly one second
def test_uptime(ticks: int) -> None:
    world = StubMachine(tick=ticks)
    up, idle = render_uptime(world).decode().split()
    assert up == f"{ticks // 100}.{ticks % 100:02d}"
    assert idle == f"{2 * ticks // 100}.{2 * ticks % 100:02d}"


@given(st.builds(dict, **{name: st.integers(0, 1 << 40)
                          for name in ("total", "free", "active_anon", "inactive_anon",
                                       "active_file", "inactive_file", "hugetlb",
                                       "swap_total", "swap_free")}))
@example(dict.fromkeys(("total", "free", "active_anon", "inactive_anon", "active_file",
                        "inactive_file", "hugetlb", "swap_total", "swap_free"), 0))  # empty
@example({"total": 1 << 40, "free": 1, "active_anon": 0, "inactive_anon": 0,
          "active_file": 0, "inactive_file": 0, "hugetlb": 1,
          "swap_total": 0, "swap_free": 0})  # numbers wider than the 8-digit column
def test_meminfo_sums_and_shape(figures: dict[str, int]) -> None:
    world = StubMachine(info=zero_meminfo(**figures))
    shown = check_meminfo(render_meminfo(world).decode())
    assert shown["Active"] == shown["Active(anon)"] + shown["Active(file)"]
    assert shown["Inactive"] == shown["Inactive(anon)"] + shown["Inactive(file)"]
    assert shown["MemTotal"] == figures["total"] * 4
    assert shown["Hugetlb"] == figures["hugetlb"] * 4
    assert shown["HugePages_Total"] * 2048 >= shown["Hugetlb"]
    assert shown["DirectMap4k"] + shown["DirectMap2M"] + shown["DirectMap1G"] == shown["MemTotal"]


def test_stat_comm_with_parenthesis_and_space() -> None:
    proc = Process(pid=9, comm="a) b (c", start_tick=250)
    world = StubMachine(processes={9: proc})
    text = render_stat(world, 9).decode()
    rpar = text.rindex(")")
    assert text[text.index("(") + 1 : rpar] == "a) b (c"
    rest = text[rpar + 2 :].split()
    assert len(rest) + 2 == 52
    assert rest[22 - 3] == "250"


def test_cmdline_and_comm() -> None:
    world = one_process_world([])
    assert render_cmdline(world, 7) == b"app\0--x\0"
    assert render_comm(world, 7) == b"app\n"
    world.processes[7] = dataclasses.replace(world.processes[7], cmdline=())
    assert render_cmdline(world, 7) == b""
