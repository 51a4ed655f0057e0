"""The control commands as values: one frozen dataclass per command word.

Addresses, sizes and offsets are bytes; alignment and overlap are left to
the engine, which knows the address space. Defaults are the grammar's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fakeproc.engine.types import Kind

Advice = Literal["cold", "pageout"]


@dataclass(frozen=True)
class Spawn:
    """``spawn PID COMM [uid=N] [gid=N] [ppid=N] [cmdline=ARGS] [exe=PATH]``."""

    pid: int
    comm: str
    uid: int = 0
    gid: int | None = None  # None: the same as uid
    ppid: int = 0
    cmdline: tuple[str, ...] = ()
    exe: str | None = None


@dataclass(frozen=True)
class Fork:
    """``fork PARENT CHILD [comm=NAME]``."""

    parent: int
    child: int
    comm: str | None = None


@dataclass(frozen=True)
class Exit:
    """``exit PID``."""

    pid: int


def default_perms(kind: Kind) -> str:
    """The perms a line without ``perms=`` gets: shmem is always shared, the rest private."""
    return "rw-s" if kind == "shmem" else "rw-p"


@dataclass(frozen=True)
class Mmap:
    """``mmap PID ADDR SIZE anon|shmem|hugetlb|file=PATH [perms=P] [name=N] [offset=N]``.

    The parser fills ``perms`` with :func:`default_perms` when the line has no
    ``perms=``; build a shmem Mmap by hand with ``perms="rw-s"``.
    """

    pid: int
    addr: int
    size: int
    kind: Kind
    path: str | None = None  # set exactly when kind is "file"
    perms: str = "rw-p"
    name: str | None = None
    offset: int = 0


@dataclass(frozen=True)
class Munmap:
    """``munmap PID ADDR SIZE``."""

    pid: int
    addr: int
    size: int


@dataclass(frozen=True)
class Touch:
    """``touch PID ADDR SIZE [read|write]``."""

    pid: int
    addr: int
    size: int
    write: bool = False


@dataclass(frozen=True)
class Mlock:
    """``mlock PID ADDR SIZE``."""

    pid: int
    addr: int
    size: int


@dataclass(frozen=True)
class Munlock:
    """``munlock PID ADDR SIZE``."""

    pid: int
    addr: int
    size: int


@dataclass(frozen=True)
class Madvise:
    """``madvise PID ADDR SIZE cold|pageout``."""

    pid: int
    addr: int
    size: int
    advice: Advice


@dataclass(frozen=True)
class Sync:
    """``sync``: write back every dirty file page."""


@dataclass(frozen=True)
class DropCaches:
    """``drop_caches 1|2|3``."""

    mode: int


@dataclass(frozen=True)
class Tick:
    """``tick [N]``: advance the virtual clock by N ticks of 10 ms."""

    n: int = 1


@dataclass(frozen=True)
class Save:
    """``save PATH``: write the whole state (arrives with a later release)."""

    path: str


Command = (Spawn | Fork | Exit | Mmap | Munmap | Touch | Mlock | Munlock | Madvise | Sync
           | DropCaches | Tick | Save)

# The command word of each type, for messages and formatting.
COMMAND_WORDS: dict[type[Command], str] = {
    Spawn: "spawn", Fork: "fork", Exit: "exit", Mmap: "mmap", Munmap: "munmap",
    Touch: "touch", Mlock: "mlock", Munlock: "munlock", Madvise: "madvise", Sync: "sync",
    DropCaches: "drop_caches", Tick: "tick", Save: "save",
}


def command_word(cmd: Command) -> str:
    """The word a line starts with for ``cmd`` (``drop_caches`` for DropCaches)."""
    return COMMAND_WORDS[type(cmd)]
