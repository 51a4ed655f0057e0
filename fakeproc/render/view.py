"""What the renderers read from the engine: a structural view of ``Machine``.

Renderers depend on this protocol rather than on the engine class, so they
can be tested against any object with these methods, and so that the
render layer states exactly what it needs.
"""

from __future__ import annotations

from typing import Protocol

from fakeproc.engine.types import (
    MachineConfig,
    MemInfo,
    Process,
    ProcessMemory,
    SmapsCounts,
    UInt64Array,
)


class MachineView(Protocol):
    """The read-only part of the engine's ``Machine`` the renderers use."""

    @property
    def config(self) -> MachineConfig: ...

    @property
    def tick(self) -> int: ...

    @property
    def version(self) -> int: ...

    def pids(self) -> list[int]: ...

    def process(self, pid: int) -> Process: ...

    def smaps(self, pid: int) -> SmapsCounts: ...

    def memory(self, pid: int) -> ProcessMemory: ...

    def oom_score(self, pid: int) -> int: ...

    def pagemap(self, pid: int, first_page: int, count: int, *,
                privileged: bool) -> UInt64Array: ...

    def meminfo(self) -> MemInfo: ...

    def vmstat(self) -> dict[str, int]: ...

    def swap_used_pages(self) -> int: ...
