"""The shape of the mounted tree: names, inode numbers, modes and owners.

Pure: nothing here touches pyfuse3 or the engine. Inode numbers are computed,
not allocated, so they are stable for the life of the mount and need no
table: the fixed nodes (the top level, ``sim/``, ``sys/``) take 1..31, and
pid P owns the 32 numbers starting at ``P << 5``: its directory, its files,
``task/``, ``task/P/`` and the files under that. A pid that exits and is
spawned again gets the same numbers back, as a reused pid does in /proc.

A pid directory stands either for a simulated process or for the *caller*:
a real process that reads the mount and is not simulated sees a small
read-only directory of its own (the entries marked ``caller``), so that tools
which look themselves up (``ps``, ``top``, ``pmap``) work with the mount bound
over /proc.
"""

from __future__ import annotations

import functools
import stat
from dataclasses import dataclass
from typing import Literal

ROOT_INODE = 1
PID_SHIFT = 5
MAX_PID = 4_194_304

Access = Literal["read", "write", "both"]
# Where a file's bytes come from: rendered from the engine, one window of
# pagemap at a time, the control plane, the growing event log, or (a
# symbolic link) the caller's own pid.
Source = Literal["render", "pagemap", "reclaim", "clear_refs", "oom_score_adj", "comm",
                 "ctl", "clock", "error", "events", "self"]


@dataclass(frozen=True)
class Entry:
    """One file, directory or symbolic link of the tree."""

    name: str
    mode: int  # permission bits only; the type comes from ``is_dir`` / ``is_link``
    source: Source | None = None  # None for directories
    is_dir: bool = False
    ptrace: bool = False  # open only for the process owner and root (the kernel's ptrace check)
    caller: bool = False  # also served in a calling (not simulated) process's own directory
    is_link: bool = False

    @property
    def readable(self) -> bool:
        return (self.source not in ("reclaim", "clear_refs", "ctl") and not self.is_dir
                and not self.is_link)

    @property
    def writable(self) -> bool:
        return self.source in ("reclaim", "clear_refs", "oom_score_adj", "comm", "ctl")

    @functools.cached_property
    def st_mode(self) -> int:
        if self.is_link:
            return stat.S_IFLNK | self.mode
        return (stat.S_IFDIR if self.is_dir else stat.S_IFREG) | self.mode


# Order is the listing order and the inode offset (1-based; 0 is the pid directory).
PID_DIR = Entry("<pid>", 0o555, is_dir=True, caller=True)
TASK_DIR = Entry("task", 0o555, is_dir=True, caller=True)
PID_FILES: tuple[Entry, ...] = (
    Entry("reclaim", 0o200, "reclaim"),
    Entry("clear_refs", 0o200, "clear_refs"),
    Entry("smaps", 0o444, "render", ptrace=True),
    Entry("smaps_rollup", 0o444, "render", ptrace=True),
    Entry("maps", 0o444, "render", ptrace=True, caller=True),
    Entry("status", 0o444, "render", caller=True),
    Entry("statm", 0o444, "render", caller=True),
    Entry("stat", 0o444, "render", caller=True),
    Entry("pagemap", 0o400, "pagemap", ptrace=True),
    Entry("cmdline", 0o444, "render", caller=True),
    Entry("comm", 0o644, "comm", caller=True),
    Entry("oom_score_adj", 0o644, "oom_score_adj"),
    Entry("oom_score", 0o444, "render"),
    # 0400 and owned by the process's uid: only the owner and root read it.
    Entry("environ", 0o400, "render", caller=True),
    TASK_DIR,
)
# task/<tid>/: one thread per process, whose tid is its pid.
THREAD_DIR = Entry("<tid>", 0o555, is_dir=True, caller=True)
THREAD_DIR_INDEX = len(PID_FILES) + 1
THREAD_FILES: tuple[Entry, ...] = tuple(
    e for e in PID_FILES if e.name in ("stat", "statm", "status", "comm", "cmdline", "maps",
                                       "smaps", "environ"))

ROOT_DIR = Entry("", 0o555, is_dir=True)
SIM_DIR = Entry("sim", 0o755, is_dir=True)
SYS_DIR = Entry("sys", 0o555, is_dir=True)
SYS_KERNEL_DIR = Entry("kernel", 0o555, is_dir=True)
SELF_LINK = Entry("self", 0o777, "self", is_link=True)
# Fixed inodes, children of the root: 2.. for the global files, then sim/,
# self, sys/ and (added later, so out of order) cpuinfo.
TOP_FILES: dict[int, Entry] = {
    2: Entry("meminfo", 0o444, "render"),
    3: Entry("vmstat", 0o444, "render"),
    4: Entry("swaps", 0o444, "render"),
    5: Entry("stat", 0o444, "render"),
    6: Entry("uptime", 0o444, "render"),
    7: Entry("loadavg", 0o444, "render"),
    8: SIM_DIR,
    13: SELF_LINK,
    14: SYS_DIR,
    19: Entry("cpuinfo", 0o444, "render"),
}
SIM_INODE = 8
SIM_FILES: dict[int, Entry] = {
    9: Entry("ctl", 0o600, "ctl"),
    10: Entry("clock", 0o444, "clock"),
    11: Entry("error", 0o444, "error"),
    12: Entry("events", 0o444, "events"),
}
SYS_INODE = 14
SYS_FILES: dict[int, Entry] = {15: SYS_KERNEL_DIR}
SYS_KERNEL_INODE = 15
# The sysctls procps reads: pid_max sizes its pid columns, osrelease tells
# which kernel's formats to expect.
SYS_KERNEL_FILES: dict[int, Entry] = {
    16: Entry("pid_max", 0o444, "render"),
    17: Entry("osrelease", 0o444, "render"),
    18: Entry("ostype", 0o444, "render"),
}

# Every fixed node: inode -> (parent inode, entry).
FIXED: dict[int, tuple[int, Entry]] = {
    **{ino: (ROOT_INODE, e) for ino, e in TOP_FILES.items()},
    **{ino: (SIM_INODE, e) for ino, e in SIM_FILES.items()},
    **{ino: (SYS_INODE, e) for ino, e in SYS_FILES.items()},
    **{ino: (SYS_KERNEL_INODE, e) for ino, e in SYS_KERNEL_FILES.items()},
}
_FIXED_CHILDREN: dict[int, dict[str, int]] = {}
for _ino, (_parent, _entry) in FIXED.items():
    _FIXED_CHILDREN.setdefault(_parent, {})[_entry.name] = _ino
_PID_BY_NAME = {e.name: i + 1 for i, e in enumerate(PID_FILES)}
_TASK_INDEX = _PID_BY_NAME["task"]
_THREAD_BY_NAME = {e.name: THREAD_DIR_INDEX + 1 + i for i, e in enumerate(THREAD_FILES)}


@dataclass(frozen=True)
class Node:
    """What an inode number stands for: a fixed node, or a pid's directory or file."""

    inode: int
    entry: Entry
    pid: int | None = None  # set for a pid directory and everything under it
    parent: int = ROOT_INODE

    @property
    def in_sim(self) -> bool:
        return self.inode == SIM_INODE or self.parent == SIM_INODE

    @property
    def in_thread(self) -> bool:
        """Under task/<tid>/ (the thread's own view of the process's files)."""
        return self.pid is not None and self.parent == pid_inode(self.pid) + THREAD_DIR_INDEX


def pid_inode(pid: int) -> int:
    """The inode number of pid's directory."""
    return pid << PID_SHIFT


# Every request decodes an inode; the few a busy client uses are kept.
@functools.lru_cache(maxsize=4096)
def node_of(inode: int) -> Node | None:
    """Decode an inode number; None when it names nothing (it may still need a live pid)."""
    if inode == ROOT_INODE:
        return Node(inode, ROOT_DIR)
    if inode in FIXED:
        parent, entry = FIXED[inode]
        return Node(inode, entry, parent=parent)
    pid, index = inode >> PID_SHIFT, inode & ((1 << PID_SHIFT) - 1)
    if not 1 <= pid <= MAX_PID:
        return None
    base = pid_inode(pid)
    if index == 0:
        return Node(inode, PID_DIR, pid)
    if index <= len(PID_FILES):
        return Node(inode, PID_FILES[index - 1], pid, parent=base)
    if index == THREAD_DIR_INDEX:
        return Node(inode, THREAD_DIR, pid, parent=base + _TASK_INDEX)
    if index - THREAD_DIR_INDEX - 1 < len(THREAD_FILES):
        return Node(inode, THREAD_FILES[index - THREAD_DIR_INDEX - 1], pid,
                    parent=base + THREAD_DIR_INDEX)
    return None


def parse_pid_name(name: str) -> int | None:
    """The pid a directory name stands for: canonical decimal only, as procfs ("01" is no pid)."""
    if not name.isascii() or not name.isdigit() or (len(name) > 1 and name[0] == "0"):
        return None
    pid = int(name)
    return pid if 1 <= pid <= MAX_PID else None


def child_inode(parent: int, name: str) -> tuple[int, int | None] | None:
    """Look ``name`` up in directory ``parent``: (inode, pid or None), None if no such name.

    Liveness of a pid, and whether it is simulated or the caller, is the
    caller's business: this only knows the shape.
    """
    fixed = _FIXED_CHILDREN.get(parent)
    if fixed is not None:
        if name in fixed:
            return fixed[name], None
        if parent != ROOT_INODE:
            return None
        pid = parse_pid_name(name)
        return (pid_inode(pid), pid) if pid is not None else None
    node = node_of(parent)
    if node is None or node.pid is None:
        return None
    base = pid_inode(node.pid)
    if node.entry is PID_DIR:
        index = _PID_BY_NAME.get(name)
        return (base + index, node.pid) if index is not None else None
    if node.entry is TASK_DIR:
        return (base + THREAD_DIR_INDEX, node.pid) if name == str(node.pid) else None
    if node.entry is THREAD_DIR:
        index = _THREAD_BY_NAME.get(name)
        return (base + index, node.pid) if index is not None else None
    return None


def list_dir(inode: int, pids: list[int], *, caller: bool = False) -> list[tuple[int, str, int]]:
    """Children of a directory as (listing key, name, inode), keys strictly increasing.

    Keys are stable across calls (fixed entries first, then pids by number), so
    a listing resumed from a key neither skips nor repeats an entry when pids
    come and go in between. ``pids`` are the root's pid directories; under a
    pid, ``caller`` lists only what a caller's own directory holds.
    """
    fixed = _FIXED_CHILDREN.get(inode)
    if fixed is not None:
        rows = [(ino, name, ino) for name, ino in sorted(fixed.items(), key=lambda kv: kv[1])]
        if inode == ROOT_INODE:
            rows += [((1 << PID_SHIFT) + pid, str(pid), pid_inode(pid)) for pid in pids]
        return rows
    node = node_of(inode)
    if node is None or node.pid is None:
        return []
    base = pid_inode(node.pid)
    if node.entry is PID_DIR:
        files = [(i + 1, e) for i, e in enumerate(PID_FILES)]
    elif node.entry is TASK_DIR:
        return [(THREAD_DIR_INDEX, str(node.pid), base + THREAD_DIR_INDEX)]
    elif node.entry is THREAD_DIR:
        files = [(THREAD_DIR_INDEX + 1 + i, e) for i, e in enumerate(THREAD_FILES)]
    else:
        return []
    return [(index, e.name, base + index) for index, e in files if e.caller or not caller]
