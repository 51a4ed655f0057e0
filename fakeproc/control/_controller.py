"""The controller: runs control commands and per-pid writes against the machine.

It is the one place where parsed requests meet the engine, so it is also
where the event log is written: a ``ctl`` event per command run, a
``reclaim`` or ``madvise`` event with what the reclaim did, and every
happening the engine reports (``global_reclaim``, ``oom_kill``). The order
is the order of causes: the engine's happenings during an operation come
first, then the operation's own result event, and a control command's
``ctl`` event comes last, closing it (with ``error`` set when it failed).
"""

from __future__ import annotations

import errno
import os
from typing import Any

from fakeproc.control._events import EventLog
from fakeproc.engine import Machine
from fakeproc.engine.types import ReclaimResult
from fakeproc.errors import FakeprocError, InvalidArgument, errno_of
from fakeproc.syntax import (
    Command,
    ControlSyntaxError,
    DropCaches,
    Exit,
    Fork,
    Madvise,
    Mlock,
    Mmap,
    Munlock,
    Munmap,
    ReclaimWhole,
    Save,
    Spawn,
    Sync,
    Tick,
    Touch,
    command_word,
    format_command,
    parse_clear_refs,
    parse_control_lines,
    parse_oom_score_adj,
    parse_reclaim,
    reclaim_text,
)

SAVE_NOT_YET = "save arrives with a later release"


def _result_fields(result: ReclaimResult) -> dict[str, Any]:
    return {
        "scanned": result.scanned,
        "reclaimed": dict(result.reclaimed),
        "skipped": dict(result.skipped),
    }


class Controller:
    """Runs what users write into ``sim/ctl`` and the per-pid files.

    ``last_error`` is what ``sim/error`` shows: ``""`` after a control write
    that fully succeeded, else ``"line N: <command>: <reason>\\n"`` for the
    write that failed last. Per-pid writes (reclaim, clear_refs,
    oom_score_adj) answer with their errno only and leave it alone.
    """

    def __init__(self, machine: Machine, events: EventLog) -> None:
        self.machine = machine
        self.events = events
        self.last_error = ""

    # -- sim/ctl ---------------------------------------------------------

    def run_text(self, text: str, *, first_line: int = 1) -> None:
        """Parse every line of ``text``, then run them in order like ``sh -e``.

        A syntax error anywhere runs nothing (EINVAL). Otherwise the first
        command that fails stops the rest and its error propagates; the
        commands before it stay done. ``first_line`` numbers the first line
        (a handle's lines may span several writes).
        """
        self.last_error = ""
        try:
            commands = parse_control_lines(text, first_line=first_line)
        except ControlSyntaxError as exc:
            self.last_error = f"{exc}\n"
            raise
        for line, cmd in commands:
            self._run_one(line, cmd)

    def _run_one(self, line: int, cmd: Command) -> None:
        """Run one command; its ``ctl`` event closes it, after what it caused."""
        text = format_command(cmd)
        try:
            self._dispatch(cmd)
        except FakeprocError as exc:
            reason = str(exc) or os.strerror(exc.errno)
            self.last_error = f"line {line}: {command_word(cmd)}: {reason}\n"
            self._drain()
            self.events.append("ctl", self.machine.tick, line=line, command=text,
                               error=errno.errorcode.get(errno_of(exc), "EIO"))
            raise
        except Exception:
            # A bug, not bad input: say so in sim/error and let the fs layer answer EIO.
            self.last_error = f"line {line}: {command_word(cmd)}: internal error\n"
            raise
        self._drain()
        self.events.append("ctl", self.machine.tick, line=line, command=text)

    def _dispatch(self, cmd: Command) -> None:
        m = self.machine
        match cmd:
            case Spawn():
                m.spawn(cmd.pid, cmd.comm, uid=cmd.uid, gid=cmd.gid, ppid=cmd.ppid,
                        cmdline=cmd.cmdline, exe=cmd.exe)
            case Fork():
                m.fork(cmd.parent, cmd.child, comm=cmd.comm)
            case Exit():
                m.exit(cmd.pid)
            case Mmap():
                m.mmap(cmd.pid, cmd.addr, cmd.size, cmd.kind, path=cmd.path, perms=cmd.perms,
                       name=cmd.name, offset=cmd.offset)
            case Munmap():
                m.munmap(cmd.pid, cmd.addr, cmd.size)
            case Touch():
                m.touch(cmd.pid, cmd.addr, cmd.size, write=cmd.write)
            case Mlock():
                m.mlock(cmd.pid, cmd.addr, cmd.size)
            case Munlock():
                m.munlock(cmd.pid, cmd.addr, cmd.size)
            case Madvise():
                result = m.madvise(cmd.pid, cmd.addr, cmd.size, cmd.advice)
                self._drain()
                self.events.append("madvise", m.tick, pid=cmd.pid,
                                   request=f"{cmd.addr} {cmd.size} {cmd.advice}",
                                   **_result_fields(result))
            case Sync():
                m.sync()
            case DropCaches():
                m.drop_caches(cmd.mode)
            case Tick():
                m.advance(cmd.n)
            case Save():
                raise InvalidArgument(SAVE_NOT_YET)

    def _drain(self) -> None:
        """Log what the engine did on its own (global reclaim, OOM kills) since last asked."""
        for event in self.machine.drain_events():
            fields = dict(event)
            kind = str(fields.pop("type"))
            tick = int(fields.pop("tick", self.machine.tick))
            fields.pop("seq", None)
            self.events.append(kind, tick, **fields)

    # -- per-pid files ---------------------------------------------------

    def _require(self, pid: int) -> None:
        """ESRCH for a pid with no live process (machine.process raises it)."""
        self.machine.process(pid)

    def write_reclaim(self, pid: int, data: bytes) -> int:
        """One write() to ``<pid>/reclaim``: parse (EINVAL first), then ESRCH, then reclaim."""
        request, count = parse_reclaim(data, self.machine.config.dialect)
        self._require(pid)
        if isinstance(request, ReclaimWhole):
            result = self.machine.reclaim(pid, request.mode)
        else:
            result = self.machine.reclaim_range(pid, request.start, request.end)
        self._drain()
        self.events.append("reclaim", self.machine.tick, pid=pid, request=reclaim_text(data),
                           **_result_fields(result))
        return count

    def write_clear_refs(self, pid: int, data: bytes) -> int:
        """One write() to ``<pid>/clear_refs``."""
        mode, count = parse_clear_refs(data)
        self._require(pid)
        self.machine.clear_refs(pid, mode)
        self._drain()
        return count

    def write_oom_score_adj(self, pid: int, data: bytes) -> int:
        """One write() to ``<pid>/oom_score_adj``."""
        value, count = parse_oom_score_adj(data)
        self._require(pid)
        self.machine.set_oom_score_adj(pid, value)
        self._drain()
        return count
