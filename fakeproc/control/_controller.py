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
import functools
import os

from fakeproc.control._events import EventLog, json_string
from fakeproc.engine import Machine
from fakeproc.engine.types import Dialect, Process, ReclaimResult
from fakeproc.errors import FakeprocError, InvalidArgument, NoSuchProcess, errno_of
from fakeproc.syntax import (
    RECLAIM_MAX_BYTES,
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
    ReclaimRequest,
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


def _result_format() -> str:
    """The %-format of a ReclaimResult's event fields, its kinds and reasons in order."""
    empty = ReclaimResult()

    def counts(names: dict[str, int]) -> str:
        # The engine's names for kinds and reasons: ASCII words, nothing to escape.
        return "{" + ",".join(f'"{name}":%d' for name in names) + "}"
    return (f'"scanned":%d,"reclaimed":{counts(empty.reclaimed)},'
            f'"skipped":{counts(empty.skipped)}')


# A reclaim or madvise event's fields: pid, the request (a JSON string) and
# the result, formatted directly rather than through the JSON encoder (which
# cost a third of a reclaim write); the tests hold the two to the same bytes.
REQUEST_FORMAT = '"pid":%d,"request":%s,' + _result_format()


def result_values(result: ReclaimResult) -> tuple[int, ...]:
    """The result's values for REQUEST_FORMAT, after pid and request (the engine
    only ever adds to the kinds and reasons a ReclaimResult starts with, so
    there is one per field)."""
    return (result.scanned, *result.reclaimed.values(), *result.skipped.values())


@functools.lru_cache(maxsize=256)
def _reclaim_request(data: bytes, dialect: Dialect) -> tuple[ReclaimRequest, int, str]:
    """parse_reclaim, and the request as the event's JSON string, once per distinct write.

    A reclaim policy writes the same few requests over and over. ``data`` is
    already cut to the bytes the kernel reads, so the cache holds little.
    """
    request, count = parse_reclaim(data, dialect)
    return request, count, json_string(reclaim_text(data))


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
                request = json_string(f"{cmd.addr} {cmd.size} {cmd.advice}")
                self.events.append_format("madvise", m.tick, REQUEST_FORMAT,
                                          (cmd.pid, request, *result_values(result)))
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

    def _require(self, pid: int, opened: Process | None) -> None:
        """ESRCH unless ``pid`` has a live process, and, if given, the one the
        writer opened the file on (a reused pid names another)."""
        current = self.machine.process(pid)
        if opened is not None and current is not opened:
            raise NoSuchProcess(f"process {pid} exited")

    def write_reclaim(self, pid: int, data: bytes, *, opened: Process | None = None) -> int:
        """One write() to ``<pid>/reclaim``: parse (EINVAL first), then ESRCH, then reclaim."""
        request, count, request_json = _reclaim_request(data[:RECLAIM_MAX_BYTES],
                                                        self.machine.config.dialect)
        self._require(pid, opened)
        if isinstance(request, ReclaimWhole):
            result = self.machine.reclaim(pid, request.mode)
        else:
            result = self.machine.reclaim_range(pid, request.start, request.end)
        self._drain()
        self.events.append_format("reclaim", self.machine.tick, REQUEST_FORMAT,
                                  (pid, request_json, *result_values(result)))
        return count

    def write_clear_refs(self, pid: int, data: bytes, *, opened: Process | None = None) -> int:
        """One write() to ``<pid>/clear_refs``."""
        mode, count = parse_clear_refs(data)
        self._require(pid, opened)
        self.machine.clear_refs(pid, mode)
        self._drain()
        return count

    def write_oom_score_adj(self, pid: int, data: bytes, *,
                            opened: Process | None = None) -> int:
        """One write() to ``<pid>/oom_score_adj``."""
        value, count = parse_oom_score_adj(data)
        self._require(pid, opened)
        self.machine.set_oom_score_adj(pid, value)
        self._drain()
        return count
