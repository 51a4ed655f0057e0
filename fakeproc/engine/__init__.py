"""The simulated memory system: pure Python and numpy, no I/O, no clock."""

from .machine import Machine
from .types import (
    KINDS,
    PAGE_SIZE,
    PSS_SHIFT,
    TICKS_PER_SECOND,
    MachineConfig,
    MemInfo,
    Process,
    ProcessMemory,
    ReclaimResult,
    SmapsCounts,
    TouchResult,
    Vma,
)

__all__ = [
    "KINDS", "PAGE_SIZE", "PSS_SHIFT", "TICKS_PER_SECOND", "Machine", "MachineConfig",
    "MemInfo", "Process", "ProcessMemory", "ReclaimResult", "SmapsCounts", "TouchResult", "Vma",
]
