"""The control language of ``sim/ctl``: parse lines into commands and back.

One command per non-empty line; words are separated by runs of blanks
(space, tab, CR, VT, FF), so a CRLF line or an indented one reads the same.
Every check that needs no machine state happens here, so that a write with a
bad line can be refused whole before anything runs. Messages follow one
shape, ``line 3: mmap: SIZE '12Q' is not a size``: the line, the command
word, the field in the grammar's spelling, the offending text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fakeproc.engine.types import Kind
from fakeproc.errors import ParseError
from fakeproc.syntax._commands import (
    Advice,
    Command,
    DropCaches,
    Exit,
    Fork,
    Madvise,
    Mlock,
    Mmap,
    Munlock,
    Munmap,
    Save,
    Spawn,
    Sync,
    Tick,
    Touch,
    command_word,
    default_perms,
)
from fakeproc.syntax._numbers import format_size, parse_number, parse_size

PID_MIN, PID_MAX = 1, 4_194_304  # PID_MAX_LIMIT on 64-bit
ID_MAX = 4_294_967_294  # uid_t/gid_t; 2**32-1 is (uid_t)-1, "no id"

_WORD = re.compile(r"[^ \t\r\v\f]+")
_PERMS = re.compile(r"[r-][w-][x-][sp]")
_KINDS: tuple[Kind, ...] = ("anon", "shmem", "hugetlb")
_ADVICES: tuple[Advice, ...] = ("cold", "pageout")


class ControlSyntaxError(ParseError):
    """Raised for a control line that breaks the grammar; ``line`` is its 1-based number.

    ``position`` is the offset of the fault in the text given to parse_control.
    """

    def __init__(self, message: str, position: int, line: int) -> None:
        super().__init__(message, position)
        self.line = line


@dataclass(frozen=True)
class _Word:
    text: str
    position: int  # offset in the whole text


class _Fault(Exception):
    """A complaint about one word; parse_control adds the line and the command."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


class _Line:
    """The words of one line after the command word, consumed left to right."""

    def __init__(self, line: str, offset: int, words: list[_Word]) -> None:
        self.line = line
        self.offset = offset
        self.words = words
        self.index = 0
        self.end = offset + len(line)

    def positional(self, field: str) -> _Word:
        if self.index >= len(self.words):
            raise _Fault(f"missing {field}", self.end)
        word = self.words[self.index]
        self.index += 1
        return word

    def optional(self) -> _Word | None:
        if self.index >= len(self.words):
            return None
        word = self.words[self.index]
        self.index += 1
        return word

    def rest(self) -> Iterator[_Word]:
        while self.index < len(self.words):
            word = self.words[self.index]
            self.index += 1
            yield word

    def done(self) -> None:
        if self.index < len(self.words):
            word = self.words[self.index]
            raise _Fault(f"unexpected '{word.text}'", word.position)

    def options(self, allowed: tuple[str, ...], *, rest_of_line: str = "") -> dict[str, _Word]:
        """key=value words in any order; ``rest_of_line`` names the key taking the rest."""
        found: dict[str, _Word] = {}
        for word in self.rest():
            key, eq, value = word.text.partition("=")
            if not eq:
                raise _Fault(f"unexpected '{word.text}'", word.position)
            if key not in allowed:
                raise _Fault(f"unknown option '{key}='", word.position)
            if key in found:
                raise _Fault(f"duplicate option '{key}='", word.position)
            value_position = word.position + len(key) + 1
            if key == rest_of_line:
                # The value runs to the end of the line, blanks included.
                value = self.line[value_position - self.offset:]
                self.index = len(self.words)
            found[key] = _Word(value, value_position)
        return found


def _number(word: _Word, field: str, low: int = 0, high: int | None = None) -> int:
    try:
        value = parse_number(word.text)
    except ParseError as exc:
        raise _Fault(f"{field} {exc}", word.position) from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise _Fault(f"{field} '{word.text}' is out of range {bound}", word.position)
    return value


def _size(word: _Word, field: str = "SIZE") -> int:
    try:
        return parse_size(word.text)
    except ParseError as exc:
        raise _Fault(f"{field} {exc}", word.position) from None


def _pid(word: _Word, field: str = "PID") -> int:
    return _number(word, field, PID_MIN, PID_MAX)


def _path(word: _Word, field: str = "PATH") -> str:
    if not word.text.startswith("/"):
        raise _Fault(f"{field} '{word.text}' is not absolute", word.position)
    if any(c.isspace() or c == "\0" for c in word.text):
        raise _Fault(f"{field} {word.text!r} contains white space or NUL", word.position)
    return word.text


def _nonempty(word: _Word, field: str) -> str:
    if not word.text:
        raise _Fault(f"{field} is empty", word.position)
    return word.text


def _spawn(line: _Line) -> Spawn:
    pid = _pid(line.positional("PID"))
    comm = line.positional("COMM").text
    opts = line.options(("uid", "gid", "ppid", "cmdline", "exe"), rest_of_line="cmdline")
    return Spawn(
        pid=pid,
        comm=comm,
        uid=_number(opts["uid"], "uid", 0, ID_MAX) if "uid" in opts else 0,
        gid=_number(opts["gid"], "gid", 0, ID_MAX) if "gid" in opts else None,
        ppid=_number(opts["ppid"], "ppid", 0, PID_MAX) if "ppid" in opts else 0,
        cmdline=tuple(_WORD.findall(opts["cmdline"].text)) if "cmdline" in opts else (),
        exe=_path(opts["exe"], "exe") if "exe" in opts else None,
    )


def _fork(line: _Line) -> Fork:
    parent = _pid(line.positional("PARENT"), "PARENT")
    child = _pid(line.positional("CHILD"), "CHILD")
    opts = line.options(("comm",))
    comm = _nonempty(opts["comm"], "comm") if "comm" in opts else None
    return Fork(parent, child, comm)


def _exit(line: _Line) -> Exit:
    pid = _pid(line.positional("PID"))
    line.done()
    return Exit(pid)


def _range(line: _Line) -> tuple[int, int, int]:
    pid = _pid(line.positional("PID"))
    addr = _number(line.positional("ADDR"), "ADDR")
    size = _size(line.positional("SIZE"))
    return pid, addr, size


def _mmap(line: _Line) -> Mmap:
    pid, addr, size = _range(line)
    kind_word = line.positional("KIND")
    path: str | None = None
    kind: Kind
    if kind_word.text.startswith("file="):
        kind = "file"
        path = _path(_Word(kind_word.text[5:], kind_word.position + 5))
    elif kind_word.text in _KINDS:
        kind = next(k for k in _KINDS if k == kind_word.text)
    else:
        raise _Fault(f"KIND '{kind_word.text}' is not anon, shmem, hugetlb or file=PATH",
                     kind_word.position)
    opts = line.options(("perms", "name", "offset"))
    perms = default_perms(kind)
    if "perms" in opts:
        perms = opts["perms"].text
        if not _PERMS.fullmatch(perms):
            raise _Fault(f"perms '{perms}' is not [r-][w-][x-][sp]", opts["perms"].position)
    name: str | None = None
    if "name" in opts:
        if kind == "file":
            raise _Fault("name= is for mappings without a file", opts["name"].position)
        name = _nonempty(opts["name"], "name")
    offset = _number(opts["offset"], "offset") if "offset" in opts else 0
    return Mmap(pid, addr, size, kind, path=path, perms=perms, name=name, offset=offset)


def _munmap(line: _Line) -> Munmap:
    cmd = Munmap(*_range(line))
    line.done()
    return cmd


def _touch(line: _Line) -> Touch:
    pid, addr, size = _range(line)
    access = line.optional()
    write = False
    if access is not None:
        if access.text not in ("read", "write"):
            raise _Fault(f"'{access.text}' is not read or write", access.position)
        write = access.text == "write"
    line.done()
    return Touch(pid, addr, size, write)


def _mlock(line: _Line) -> Mlock:
    cmd = Mlock(*_range(line))
    line.done()
    return cmd


def _munlock(line: _Line) -> Munlock:
    cmd = Munlock(*_range(line))
    line.done()
    return cmd


def _madvise(line: _Line) -> Madvise:
    pid, addr, size = _range(line)
    word = line.positional("ADVICE")
    advice = next((a for a in _ADVICES if a == word.text), None)
    if advice is None:
        raise _Fault(f"ADVICE '{word.text}' is not cold or pageout", word.position)
    line.done()
    return Madvise(pid, addr, size, advice)


def _sync(line: _Line) -> Sync:
    line.done()
    return Sync()


def _drop_caches(line: _Line) -> DropCaches:
    word = line.positional("MODE")
    if word.text not in ("1", "2", "3"):
        raise _Fault(f"MODE '{word.text}' is not 1, 2 or 3", word.position)
    line.done()
    return DropCaches(int(word.text))


def _tick(line: _Line) -> Tick:
    word = line.optional()
    cmd = Tick(_number(word, "N")) if word is not None else Tick()
    line.done()
    return cmd


def _save(line: _Line) -> Save:
    path = _path(line.positional("PATH"))
    line.done()
    return Save(path)


_PARSERS: dict[str, Callable[[_Line], Command]] = {
    "spawn": _spawn, "fork": _fork, "exit": _exit, "mmap": _mmap, "munmap": _munmap,
    "touch": _touch, "mlock": _mlock, "munlock": _munlock, "madvise": _madvise,
    "sync": _sync, "drop_caches": _drop_caches, "tick": _tick, "save": _save,
}


def _parse_line(line: str, offset: int) -> Command | None:
    """One line (without its newline, starting at ``offset``) → its command, None if blank."""
    words = [_Word(m.group(), offset + m.start()) for m in _WORD.finditer(line)]
    if not words:
        return None
    head, rest = words[0], words[1:]
    parser = _PARSERS.get(head.text)
    if parser is None:
        raise _Fault("unknown command", head.position)
    return parser(_Line(line, offset, rest))


def parse_control_lines(text: str, *, first_line: int = 1) -> list[tuple[int, Command]]:
    """As :func:`parse_control`, each command paired with its line number."""
    commands: list[tuple[int, Command]] = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=first_line):
        try:
            cmd = _parse_line(line, offset)
        except _Fault as fault:
            head = _WORD.search(line)
            word = head.group() if head else ""
            raise ControlSyntaxError(f"line {number}: {word}: {fault.reason}",
                                     fault.position, number) from None
        if cmd is not None:
            commands.append((number, cmd))
        offset += len(line) + 1
    return commands


def parse_control(text: str, *, first_line: int = 1) -> list[Command]:
    """Parse every line of ``text``; the first bad line raises ControlSyntaxError.

    ``first_line`` is the number of the first line of ``text`` (a writer's
    lines may arrive over several writes). Blank lines are skipped but counted.
    """
    return [cmd for _, cmd in parse_control_lines(text, first_line=first_line)]


def format_command(cmd: Command) -> str:
    """The canonical line for ``cmd`` (no newline): parse_control gives ``[cmd]`` back."""
    word = command_word(cmd)
    parts: list[str] = [word]
    match cmd:
        case Spawn():
            parts += [str(cmd.pid), cmd.comm]
            if cmd.uid:
                parts.append(f"uid={cmd.uid}")
            if cmd.gid is not None:
                parts.append(f"gid={cmd.gid}")
            if cmd.ppid:
                parts.append(f"ppid={cmd.ppid}")
            if cmd.exe is not None:
                parts.append(f"exe={cmd.exe}")
            if cmd.cmdline:
                # Last: cmdline= swallows the rest of the line.
                parts.append("cmdline=" + " ".join(cmd.cmdline))
        case Fork():
            parts += [str(cmd.parent), str(cmd.child)]
            if cmd.comm is not None:
                parts.append(f"comm={cmd.comm}")
        case Exit():
            parts.append(str(cmd.pid))
        case Mmap():
            parts += [str(cmd.pid), hex(cmd.addr), format_size(cmd.size)]
            parts.append(f"file={cmd.path}" if cmd.kind == "file" else cmd.kind)
            if cmd.perms != default_perms(cmd.kind):
                parts.append(f"perms={cmd.perms}")
            if cmd.name is not None:
                parts.append(f"name={cmd.name}")
            if cmd.offset:
                parts.append(f"offset={hex(cmd.offset)}")
        case Munmap() | Mlock() | Munlock():
            parts += [str(cmd.pid), hex(cmd.addr), format_size(cmd.size)]
        case Touch():
            parts += [str(cmd.pid), hex(cmd.addr), format_size(cmd.size)]
            parts.append("write" if cmd.write else "read")
        case Madvise():
            parts += [str(cmd.pid), hex(cmd.addr), format_size(cmd.size), cmd.advice]
        case Sync():
            pass
        case DropCaches():
            parts.append(str(cmd.mode))
        case Tick():
            parts.append(str(cmd.n))
        case Save():
            parts.append(cmd.path)
    return " ".join(parts)
