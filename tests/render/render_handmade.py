"""A hand-filled MachineView: tiny worlds whose every figure is chosen by the test."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fakeproc.engine.types import (
    MachineConfig,
    MemInfo,
    Process,
    ProcessMemory,
    SmapsCounts,
    UInt64Array,
)
from fakeproc.errors import NoSuchProcess


def zero_memory() -> ProcessMemory:
    return ProcessMemory(**dict.fromkeys(ProcessMemory.__dataclass_fields__, 0))


def zero_meminfo(**figures: int) -> MemInfo:
    values = dict.fromkeys(MemInfo.__dataclass_fields__, 0)
    values.update(figures)
    return MemInfo(**values)


@dataclass
class StubMachine:
    config: MachineConfig = field(default_factory=MachineConfig)
    tick: int = 0
    version: int = 0
    processes: dict[int, Process] = field(default_factory=dict)
    counts: dict[int, SmapsCounts] = field(default_factory=dict)
    memories: dict[int, ProcessMemory] = field(default_factory=dict)
    info: MemInfo = field(default_factory=zero_meminfo)
    counters: dict[str, int] = field(default_factory=dict)
    swap_used: int = 0

    def pids(self) -> list[int]:
        return sorted(self.processes)

    def process(self, pid: int) -> Process:
        if pid not in self.processes:
            raise NoSuchProcess(f"no process {pid}")
        return self.processes[pid]

    def smaps(self, pid: int) -> SmapsCounts:
        self.process(pid)
        return self.counts.get(pid, SmapsCounts.zeros(len(self.processes[pid].vmas)))

    def memory(self, pid: int) -> ProcessMemory:
        self.process(pid)
        return self.memories.get(pid, zero_memory())

    def oom_score(self, pid: int) -> int:
        return 1000 + self.process(pid).oom_score_adj

    def pagemap(self, pid: int, first_page: int, count: int, *,
                privileged: bool) -> UInt64Array:
        # Entry i holds its own page number, so a window shows where it starts;
        # an unprivileged reader gets the flag bits only.
        pages = np.arange(first_page, first_page + count, dtype=np.uint64)
        flags = np.uint64(1 << 63)
        return pages | flags if privileged else np.full(count, flags, dtype=np.uint64)

    def meminfo(self) -> MemInfo:
        return self.info

    def vmstat(self) -> dict[str, int]:
        return dict(self.counters)

    def swap_used_pages(self) -> int:
        return self.swap_used
