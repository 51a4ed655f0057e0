"""The shape of the mounted tree: names, inode numbers, modes and owners.

Pure: nothing here touches pyfuse3 or the engine. Inode numbers are computed,
not allocated, so they are stable for the life of the mount and need no
table: the top level takes 1..15, and pid P owns the 16 numbers starting at
``P << 4`` (its directory, then its files). A pid that exits and is spawned
again gets the same numbers back, as a reused pid does in /proc.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Literal

ROOT_INODE = 1
PID_SHIFT = 4
MAX_PID = 4_194_304

Access = Literal["read", "write", "both"]
# Where a file's bytes come from: rendered from the engine, one window of
# pagemap at a time, the control plane, or the growing event log.
Source = Literal["render", "pagemap", "reclaim", "clear_refs", "oom_score_adj", "comm",
                 "ctl", "clock", "error", "events"]


@dataclass(frozen=True)
class Entry:
    """One file or directory of the tree."""

    name: str
    mode: int  # permission bits only; the type comes from ``is_dir``
    source: Source | None = None  # None for directories
    is_dir: bool = False
    ptrace: bool = False  # open only for the process owner and root (the kernel's ptrace check)

    @property
    def readable(self) -> bool:
        return self.source not in ("reclaim", "clear_refs", "ctl") and not self.is_dir

    @property
    def writable(self) -> bool:
        return self.source in ("reclaim", "clear_refs", "oom_score_adj", "comm", "ctl")

    @property
    def st_mode(self) -> int:
        return (stat.S_IFDIR if self.is_dir else stat.S_IFREG) | self.mode


# Order is the listing order and the inode offset (1-based; 0 is the pid directory).
PID_DIR = Entry("<pid>", 0o555, is_dir=True)
PID_FILES: tuple[Entry, ...] = (
    Entry("reclaim", 0o200, "reclaim"),
    Entry("clear_refs", 0o200, "clear_refs"),
    Entry("smaps", 0o444, "render", ptrace=True),
    Entry("smaps_rollup", 0o444, "render", ptrace=True),
    Entry("maps", 0o444, "render", ptrace=True),
    Entry("status", 0o444, "render"),
    Entry("statm", 0o444, "render"),
    Entry("stat", 0o444, "render"),
    Entry("pagemap", 0o400, "pagemap", ptrace=True),
    Entry("cmdline", 0o444, "render"),
    Entry("comm", 0o644, "comm"),
    Entry("oom_score_adj", 0o644, "oom_score_adj"),
    Entry("oom_score", 0o444, "render"),
)

ROOT_DIR = Entry("", 0o555, is_dir=True)
SIM_DIR = Entry("sim", 0o755, is_dir=True)
# Top-level inodes, fixed: 2.. for the global files, then sim/ and its files.
TOP_FILES: dict[int, Entry] = {
    2: Entry("meminfo", 0o444, "render"),
    3: Entry("vmstat", 0o444, "render"),
    4: Entry("swaps", 0o444, "render"),
    5: Entry("stat", 0o444, "render"),
    6: Entry("uptime", 0o444, "render"),
    7: Entry("loadavg", 0o444, "render"),
    8: SIM_DIR,
}
SIM_INODE = 8
SIM_FILES: dict[int, Entry] = {
    9: Entry("ctl", 0o600, "ctl"),
    10: Entry("clock", 0o444, "clock"),
    11: Entry("error", 0o444, "error"),
    12: Entry("events", 0o444, "events"),
}

_TOP_BY_NAME = {e.name: ino for ino, e in TOP_FILES.items()}
_SIM_BY_NAME = {e.name: ino for ino, e in SIM_FILES.items()}
_PID_BY_NAME = {e.name: i + 1 for i, e in enumerate(PID_FILES)}


@dataclass(frozen=True)
class Node:
    """What an inode number stands for: a top-level node, or a pid's directory or file."""

    inode: int
    entry: Entry
    pid: int | None = None  # set for a pid directory and its files
    parent: int = ROOT_INODE

    @property
    def owned_by_process(self) -> bool:
        return self.pid is not None

    @property
    def in_sim(self) -> bool:
        return self.inode == SIM_INODE or self.inode in SIM_FILES


def pid_inode(pid: int) -> int:
    """The inode number of pid's directory."""
    return pid << PID_SHIFT


def node_of(inode: int) -> Node | None:
    """Decode an inode number; None when it names nothing (it may still need a live pid)."""
    if inode == ROOT_INODE:
        return Node(inode, ROOT_DIR)
    if inode in TOP_FILES:
        return Node(inode, TOP_FILES[inode])
    if inode in SIM_FILES:
        return Node(inode, SIM_FILES[inode], parent=SIM_INODE)
    pid, index = inode >> PID_SHIFT, inode & ((1 << PID_SHIFT) - 1)
    if not 1 <= pid <= MAX_PID:
        return None
    if index == 0:
        return Node(inode, PID_DIR, pid)
    if index <= len(PID_FILES):
        return Node(inode, PID_FILES[index - 1], pid, parent=pid_inode(pid))
    return None


def parse_pid_name(name: str) -> int | None:
    """The pid a directory name stands for: canonical decimal only, as procfs ("01" is no pid)."""
    if not name.isascii() or not name.isdigit() or (len(name) > 1 and name[0] == "0"):
        return None
    pid = int(name)
    return pid if 1 <= pid <= MAX_PID else None


def child_inode(parent: int, name: str) -> tuple[int, int | None] | None:
    """Look ``name`` up in directory ``parent``: (inode, pid or None), None if no such name.

    Liveness of a pid is the caller's business: this only knows the shape.
    """
    if parent == ROOT_INODE:
        if name in _TOP_BY_NAME:
            return _TOP_BY_NAME[name], None
        pid = parse_pid_name(name)
        return (pid_inode(pid), pid) if pid is not None else None
    if parent == SIM_INODE:
        ino = _SIM_BY_NAME.get(name)
        return (ino, None) if ino is not None else None
    node = node_of(parent)
    if node is not None and node.pid is not None and node.entry is PID_DIR:
        index = _PID_BY_NAME.get(name)
        return (parent + index, node.pid) if index is not None else None
    return None


def list_dir(inode: int, pids: list[int]) -> list[tuple[int, str, int]]:
    """Children of a directory as (listing key, name, inode), keys strictly increasing.

    Keys are stable across calls (fixed entries first, then pids by number), so
    a listing resumed from a key neither skips nor repeats an entry when pids
    come and go in between.
    """
    if inode == ROOT_INODE:
        fixed = [(ino, e.name, ino) for ino, e in TOP_FILES.items()]
        return fixed + [(16 + pid, str(pid), pid_inode(pid)) for pid in pids]
    if inode == SIM_INODE:
        return [(ino, e.name, ino) for ino, e in SIM_FILES.items()]
    node = node_of(inode)
    if node is not None and node.pid is not None and node.entry is PID_DIR:
        return [(i + 1, e.name, inode + i + 1) for i, e in enumerate(PID_FILES)]
    return []
