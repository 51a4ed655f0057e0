"""Independent checks of procfs file shapes, written from the kernel's format strings.

They share nothing with fakeproc.render.fields on purpose: the same checks
run on fakeproc's output and on the real /proc of the machine running the
tests, so a check that is wrong fails on the real files.
"""

from __future__ import annotations

import re

MAPS_LINE = re.compile(
    r"(?P<prefix>[0-9a-f]{8,16}-[0-9a-f]{8,16} [r-][w-][x-][sp] [0-9a-f]{8,} "
    r"[0-9a-f]{2,}:[0-9a-f]{2,} \d+ )(?:(?P<pad> *) (?P<name>\S.*))?")
NAME_COLUMN = 73

SMAPS_KB_LABELS = (
    "Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Pss_Dirty", "Shared_Clean",
    "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM",
    "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb",
    "Private_Hugetlb", "Swap", "SwapPss", "Locked",
)
ROLLUP_LABELS = (
    "Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean",
    "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM",
    "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb",
    "Private_Hugetlb", "Swap", "SwapPss", "Locked",
)
VALUE_LINE = re.compile(r"(?P<label>[A-Za-z_]+):(?P<space> +)(?P<value>\d+)(?P<unit> kB)?")
VMFLAGS_LINE = re.compile(r"VmFlags: (?:[a-z]{2} )*")
VALUE_END_COLUMN = 24  # every smaps/meminfo value ends here unless it is too wide

STATUS_LABELS = (
    "Name", "Umask", "State", "Tgid", "Ngid", "Pid", "PPid", "TracerPid", "Uid", "Gid",
    "FDSize", "Groups", "NStgid", "NSpid", "NSpgid", "NSsid", "Kthread", "VmPeak", "VmSize",
    "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData", "VmStk",
    "VmExe", "VmLib", "VmPTE", "VmSwap", "HugetlbPages", "CoreDumping", "THP_enabled",
    "untag_mask", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt",
    "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
    "Seccomp_filters", "Speculation_Store_Bypass", "SpeculationIndirectBranch",
    "Cpus_allowed", "Cpus_allowed_list", "Mems_allowed", "Mems_allowed_list",
    "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches",
)
STATUS_MEMORY_LINE = re.compile(r"(?P<label>Vm\w+|Rss\w+|HugetlbPages):\t(?P<value> *\d+) kB")
STATUS_LINE = re.compile(r"(?P<label>\w+):\t(?P<value>.*)")

MEMINFO_LABELS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
    "Unevictable", "Mlocked", "SwapTotal", "SwapFree", "Zswap", "Zswapped", "Dirty",
    "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable",
    "SUnreclaim", "KernelStack", "PageTables", "SecPageTables", "NFS_Unstable", "Bounce",
    "WritebackTmp", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed",
    "VmallocChunk", "Percpu", "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped",
    "FileHugePages", "FilePmdMapped", "Balloon", "HugePages_Total", "HugePages_Free",
    "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize", "Hugetlb", "DirectMap4k",
    "DirectMap2M", "DirectMap1G",
)
MEMINFO_LINE = re.compile(r"(?P<label>[A-Za-z0-9_()]+):(?P<space> +)(?P<value>\d+)(?P<unit> kB)?")
MEMINFO_COUNTS = ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")

VMSTAT_LINE = re.compile(r"[a-z0-9_]+ -?\d+")

SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"
SWAPS_ROW = re.compile(
    r"(?P<path>\S+)(?P<pad> +)(?P<type>partition|file\t)\t(?P<size>\d+)\t(?P<gap1>\t?)"
    r"(?P<used>\d+)\t(?P<gap2>\t?)-?\d+")

STATM = re.compile(r"\d+ \d+ \d+ \d+ 0 \d+ 0\n")
PID_STAT = re.compile(r"\d+ \(.{0,16}\) [RSDZTtWXxKPI](?: -?\d+){49}\n", re.DOTALL)
GLOBAL_STAT_LINES = (
    re.compile(r"cpu  \d+(?: \d+){9}"),
    re.compile(r"cpu\d+ \d+(?: \d+){9}"),
    re.compile(r"intr \d+(?: \d+)*"),
    re.compile(r"ctxt \d+"),
    re.compile(r"btime \d+"),
    re.compile(r"processes \d+"),
    re.compile(r"procs_running \d+"),
    re.compile(r"procs_blocked \d+"),
    re.compile(r"softirq \d+(?: \d+){10}"),
)
UPTIME = re.compile(r"\d+\.\d\d \d+\.\d\d\n")
LOADAVG = re.compile(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n")


def _lines(text: str) -> list[str]:
    assert text.endswith("\n"), "a procfs text file ends with a newline"
    return text[:-1].split("\n")


def check_maps_line(line: str) -> re.Match[str]:
    """A maps line: the prefix with its trailing space; a name starts at column 73."""
    match = MAPS_LINE.fullmatch(line)
    assert match, f"not a maps line: {line!r}"
    if match["name"] is not None:
        prefix = match["prefix"]
        if len(prefix) <= NAME_COLUMN - 1:
            assert line.index(match["name"]) == NAME_COLUMN, line
        else:
            assert match["pad"] == "", line
    return match


def check_maps(text: str) -> list[re.Match[str]]:
    if not text:
        return []
    return [check_maps_line(line) for line in _lines(text)]


def check_value_line(line: str, label: str, *, unit: bool = True) -> int:
    """``Label:`` then a value ending at column 24 (or later when wider), with or without kB."""
    match = VALUE_LINE.fullmatch(line)
    assert match, f"not a value line: {line!r}"
    assert match["label"] == label, (line, label)
    assert (match["unit"] is not None) == unit, line
    end = len(label) + 1 + len(match["space"]) + len(match["value"])
    if end != VALUE_END_COLUMN:
        # Only a number too wide for its column may push the end out, and
        # then by a single separating space.
        assert end > VALUE_END_COLUMN and len(match["space"]) == 1, line
    return int(match["value"])


def check_smaps(text: str) -> list[dict[str, int]]:
    """Every VMA block of smaps: header, the kB fields in order, THPeligible,
    an optional ProtectionKey, VmFlags with its trailing space."""
    blocks: list[dict[str, int]] = []
    if not text:
        return blocks
    lines = _lines(text)
    i = 0
    while i < len(lines):
        check_maps_line(lines[i])
        i += 1
        block = {}
        for label in SMAPS_KB_LABELS:
            block[label] = check_value_line(lines[i], label)
            i += 1
        block["THPeligible"] = check_value_line(lines[i], "THPeligible", unit=False)
        i += 1
        if lines[i].startswith("ProtectionKey:"):
            check_value_line(lines[i], "ProtectionKey", unit=False)
            i += 1
        assert VMFLAGS_LINE.fullmatch(lines[i]), lines[i]
        i += 1
        blocks.append(block)
    return blocks


def check_smaps_rollup(text: str) -> dict[str, int]:
    lines = _lines(text)
    header = check_maps_line(lines[0])
    assert header["name"] == "[rollup]"
    assert " ---p 00000000 00:00 0 " in header["prefix"]
    assert len(lines) == 1 + len(ROLLUP_LABELS)
    return {label: check_value_line(line, label)
            for label, line in zip(ROLLUP_LABELS, lines[1:], strict=True)}


def check_status(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in _lines(text):
        match = STATUS_LINE.fullmatch(line)
        assert match, line
        fields[match["label"]] = match["value"]
        if line.startswith(("Vm", "Rss", "HugetlbPages")):
            memory = STATUS_MEMORY_LINE.fullmatch(line)
            assert memory and len(memory["value"]) >= 8, line
            assert len(memory["value"]) == 8 or memory["value"][0] != " ", line
    assert tuple(fields) == STATUS_LABELS
    return fields


def check_meminfo(text: str) -> dict[str, int]:
    figures: dict[str, int] = {}
    for line in _lines(text):
        match = MEMINFO_LINE.fullmatch(line)
        assert match, line
        label = match["label"]
        head = 19 if label in MEMINFO_COUNTS else max(16, len(label) + 1)
        number_column = 5 if label in MEMINFO_COUNTS else 8
        assert (match["unit"] is None) == (label in MEMINFO_COUNTS), line
        end = len(label) + 1 + len(match["space"]) + len(match["value"])
        assert end == head + max(number_column, len(match["value"])), line
        figures[label] = int(match["value"])
    assert tuple(figures) == MEMINFO_LABELS
    return figures


def check_vmstat(text: str) -> dict[str, int]:
    figures: dict[str, int] = {}
    for line in _lines(text):
        assert VMSTAT_LINE.fullmatch(line), line
        name, value = line.split(" ")
        assert name not in figures
        figures[name] = int(value)
    return figures


def check_swaps(text: str) -> list[re.Match[str]]:
    lines = _lines(text)
    assert lines[0] == SWAPS_HEADER
    rows = []
    for line in lines[1:]:
        match = SWAPS_ROW.fullmatch(line)
        assert match, line
        assert len(match["path"]) + len(match["pad"]) == max(40, len(match["path"]) + 1), line
        assert (match["gap1"] == "\t") == (int(match["size"]) < 10_000_000), line
        assert (match["gap2"] == "\t") == (int(match["used"]) < 10_000_000), line
        rows.append(match)
    return rows


def check_statm(text: str) -> list[int]:
    assert STATM.fullmatch(text), text
    return [int(x) for x in text.split()]


def check_pid_stat(text: str) -> list[str]:
    assert PID_STAT.fullmatch(text), text
    rpar = text.rindex(")")
    return [text[: text.index(" ")], text[text.index("(") + 1 : rpar],
            *text[rpar + 2 :].split()]


def check_global_stat(text: str) -> dict[str, str]:
    lines = _lines(text)
    kinds = iter(GLOBAL_STAT_LINES)
    expected = next(kinds)
    found: dict[str, str] = {}
    for line in lines:
        # cpuN lines repeat; every other kind appears once, in order.
        while not expected.fullmatch(line):
            expected = next(kinds)
        key, _, value = line.partition(" ")
        found[key] = value
    assert list(kinds) == [], "missing /proc/stat lines"
    return found


def check_uptime(text: str) -> tuple[float, float]:
    assert UPTIME.fullmatch(text), text
    up, idle = text.split()
    return float(up), float(idle)


def check_loadavg(text: str) -> list[str]:
    assert LOADAVG.fullmatch(text), text
    return text.split()
