"""The control language: numbers, every command, exact messages, round trips."""

from __future__ import annotations

import errno

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fakeproc.engine.types import KINDS
from fakeproc.errors import ParseError
from fakeproc.syntax import (
    PID_MAX,
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
    Save,
    Spawn,
    Sync,
    Tick,
    Touch,
    format_command,
    format_size,
    parse_control,
    parse_number,
    parse_size,
)

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
U64_MAX = (1 << 64) - 1

NUMBER_ROWS: list[tuple[str, int | None]] = [
    ("0", 0),
    ("42", 42),
    ("010", 10),  # a leading zero is still decimal
    ("0x10", 16),
    ("0XfF", 255),
    ("18446744073709551615", U64_MAX),
    ("18446744073709551616", None),  # one past 64 bits
    ("", None),
    ("0x", None),
    ("-1", None),
    ("+1", None),
    ("1_000", None),  # Python's int() would take it; the grammar does not
    (" 1", None),
    ("١", None),  # Arabic-Indic one: a digit to str.isdigit, not to the grammar
    ("4K", None),  # a suffix belongs to SIZE only
]


@pytest.mark.parametrize(("text", "expected"), NUMBER_ROWS)
def test_parse_number(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ParseError):
            parse_number(text)
    else:
        assert parse_number(text) == expected


SIZE_ROWS: list[tuple[str, int | None]] = [
    ("4096", 4096),
    ("4K", 4 * KiB),
    ("4k", 4 * KiB),
    ("12M", 12 * MiB),
    ("1g", GiB),
    ("2T", 2 * TiB),
    ("0x10K", 16 * KiB),
    ("010K", 10 * KiB),
    ("16777215T", 16777215 * TiB),
    ("16777216T", None),  # 2**64: does not fit
    ("1P", None),  # the control grammar stops at T
    ("12Q", None),
    ("K", None),
    ("4KB", None),
    ("4 K", None),
]


@pytest.mark.parametrize(("text", "expected"), SIZE_ROWS)
def test_parse_size(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ParseError):
            parse_size(text)
    else:
        assert parse_size(text) == expected


@given(st.integers(0, U64_MAX))
@example(0)  # zero has no suffix form
@example(3 * TiB)  # the largest suffix
@example(1023)  # just below a KiB
def test_format_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size


VALID_ROWS: list[tuple[str, list[Command]]] = [
    ("spawn 100 app", [Spawn(100, "app")]),
    ("spawn 0x64 app uid=10 gid=20 ppid=1 exe=/bin/app",
     [Spawn(100, "app", uid=10, gid=20, ppid=1, exe="/bin/app")]),
    # cmdline= takes the rest of the line, split on blanks, exe= included
    ("spawn 1 init cmdline=/sbin/init  --x exe=/y",
     [Spawn(1, "init", cmdline=("/sbin/init", "--x", "exe=/y"))]),
    ("spawn 1 init cmdline=", [Spawn(1, "init")]),
    ("spawn 4194304 a-very-long-command-name", [Spawn(4194304, "a-very-long-command-name")]),
    ("fork 100 101", [Fork(100, 101)]),
    ("fork 100 101 comm=tab", [Fork(100, 101, comm="tab")]),
    ("exit 7", [Exit(7)]),
    ("mmap 100 0x10000 8K anon", [Mmap(100, 0x10000, 8 * KiB, "anon")]),
    # shmem is shared unless the line says otherwise
    ("mmap 100 0x10000 8K shmem name=ring",
     [Mmap(100, 0x10000, 8 * KiB, "shmem", perms="rw-s", name="ring")]),
    ("mmap 100 0x10000 8K shmem perms=rw-p", [Mmap(100, 0x10000, 8 * KiB, "shmem")]),
    ("mmap 100 0x10000 2M hugetlb", [Mmap(100, 0x10000, 2 * MiB, "hugetlb")]),
    ("mmap 100 0x10000 8K file=/lib/libc.so offset=0x1000 perms=r-xp",
     [Mmap(100, 0x10000, 8 * KiB, "file", path="/lib/libc.so", perms="r-xp", offset=4096)]),
    ("mmap 1 4096 4096 anon name=[heap] perms=---s",
     [Mmap(1, 4096, 4096, "anon", name="[heap]", perms="---s")]),
    ("munmap 1 0x1000 4K", [Munmap(1, 0x1000, 4 * KiB)]),
    ("touch 1 0x1000 4K", [Touch(1, 0x1000, 4 * KiB)]),
    ("touch 1 0x1000 4K read", [Touch(1, 0x1000, 4 * KiB)]),
    ("touch 1 0x1000 4K write", [Touch(1, 0x1000, 4 * KiB, write=True)]),
    ("mlock 1 0x1000 4K", [Mlock(1, 0x1000, 4 * KiB)]),
    ("munlock 1 0x1000 4K", [Munlock(1, 0x1000, 4 * KiB)]),
    ("madvise 1 0x1000 4K cold", [Madvise(1, 0x1000, 4 * KiB, "cold")]),
    ("madvise 1 0x1000 0 pageout", [Madvise(1, 0x1000, 0, "pageout")]),
    ("sync", [Sync()]),
    ("drop_caches 3", [DropCaches(3)]),
    ("tick", [Tick(1)]),
    ("tick 500", [Tick(500)]),
    ("save /tmp/state", [Save("/tmp/state")]),
    # blank lines, indentation, tabs and CRLF endings
    ("\n  exit 1\r\n\n\texit\t2  \n", [Exit(1), Exit(2)]),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), VALID_ROWS)
def test_parse_control_valid(text: str, expected: list[Command]) -> None:
    assert parse_control(text) == expected


# (text, exact message, line): one row per check the grammar makes.
INVALID_ROWS: list[tuple[str, str]] = [
    ("frob 1", "line 1: frob: unknown command"),
    ("Exit 1", "line 1: Exit: unknown command"),
    ("exit", "line 1: exit: missing PID"),
    ("exit 1 2", "line 1: exit: unexpected '2'"),
    ("exit 0", "line 1: exit: PID '0' is out of range 1..4194304"),
    ("exit 4194305", "line 1: exit: PID '4194305' is out of range 1..4194304"),
    ("exit x", "line 1: exit: PID 'x' is not a number"),
    ("exit -1", "line 1: exit: PID '-1' is not a number"),
    ("spawn 1", "line 1: spawn: missing COMM"),
    ("spawn 1 a uid=x", "line 1: spawn: uid 'x' is not a number"),
    ("spawn 1 a uid=4294967295", "line 1: spawn: uid '4294967295' is out of range 0..4294967294"),
    ("spawn 1 a uid=1 uid=2", "line 1: spawn: duplicate option 'uid='"),
    ("spawn 1 a color=red", "line 1: spawn: unknown option 'color='"),
    ("spawn 1 a b", "line 1: spawn: unexpected 'b'"),
    ("spawn 1 a ppid=4194305", "line 1: spawn: ppid '4194305' is out of range 0..4194304"),
    ("spawn 1 a exe=bin/a", "line 1: spawn: exe 'bin/a' is not absolute"),
    ("fork 1", "line 1: fork: missing CHILD"),
    ("fork 1 0", "line 1: fork: CHILD '0' is out of range 1..4194304"),
    ("fork 1 2 comm=", "line 1: fork: comm is empty"),
    ("mmap 1 0 12Q anon", "line 1: mmap: SIZE '12Q' is not a size"),
    ("mmap 1 0 4K", "line 1: mmap: missing KIND"),
    ("mmap 1 0 4K file", "line 1: mmap: KIND 'file' is not anon, shmem, hugetlb or file=PATH"),
    ("mmap 1 0 4K ANON", "line 1: mmap: KIND 'ANON' is not anon, shmem, hugetlb or file=PATH"),
    ("mmap 1 0 4K file=lib.so", "line 1: mmap: PATH 'lib.so' is not absolute"),
    ("mmap 1 0 4K file=", "line 1: mmap: PATH '' is not absolute"),
    ("mmap 1 0 4K file=/a\xa0b", "line 1: mmap: PATH '/a\\xa0b' contains white space or NUL"),
    ("mmap 1 0 4K anon perms=rwxq", "line 1: mmap: perms 'rwxq' is not [r-][w-][x-][sp]"),
    ("mmap 1 0 4K anon perms=rw-", "line 1: mmap: perms 'rw-' is not [r-][w-][x-][sp]"),
    ("mmap 1 0 4K anon name=", "line 1: mmap: name is empty"),
    ("mmap 1 0 4K file=/a name=x", "line 1: mmap: name= is for mappings without a file"),
    ("mmap 1 0 4K anon offset=4K", "line 1: mmap: offset '4K' is not a number"),
    ("mmap 1 0 4K anon shared", "line 1: mmap: unexpected 'shared'"),
    ("mmap 1 0x 4K anon", "line 1: mmap: ADDR '0x' is not a number"),
    ("munmap 1 0 1P", "line 1: munmap: SIZE '1P' is not a size"),
    ("touch 1 0 4K rw", "line 1: touch: 'rw' is not read or write"),
    ("touch 1 0 4K write now", "line 1: touch: unexpected 'now'"),
    ("madvise 1 0 4K", "line 1: madvise: missing ADVICE"),
    ("madvise 1 0 4K dontneed", "line 1: madvise: ADVICE 'dontneed' is not cold or pageout"),
    ("sync now", "line 1: sync: unexpected 'now'"),
    ("drop_caches", "line 1: drop_caches: missing MODE"),
    ("drop_caches 4", "line 1: drop_caches: MODE '4' is not 1, 2 or 3"),
    ("drop_caches 01", "line 1: drop_caches: MODE '01' is not 1, 2 or 3"),
    ("tick -1", "line 1: tick: N '-1' is not a number"),
    ("tick 1 2", "line 1: tick: unexpected '2'"),
    ("save state.json", "line 1: save: PATH 'state.json' is not absolute"),
    # the line number counts blank lines and the lines before the bad one
    ("exit 1\n\nexit 0", "line 3: exit: PID '0' is out of range 1..4194304"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_ROWS)
def test_parse_control_invalid(text: str, message: str) -> None:
    with pytest.raises(ControlSyntaxError) as info:
        parse_control(text)
    assert str(info.value) == message
    assert info.value.errno == errno.EINVAL
    assert info.value.line == int(message.split(":")[0].removeprefix("line "))


def test_error_position_points_at_the_word() -> None:
    text = "exit 1\nmmap 1 0 12Q anon\n"
    with pytest.raises(ControlSyntaxError) as info:
        parse_control(text)
    assert text[info.value.position:].startswith("12Q")


def test_first_line_numbers_the_lines() -> None:
    with pytest.raises(ControlSyntaxError) as info:
        parse_control("sync\nfrob", first_line=41)
    assert info.value.line == 42
    assert str(info.value) == "line 42: frob: unknown command"


# Words the grammar can carry: no blanks, no newline, not empty.
_BLANKS = " \t\r\v\f\n"
words = st.text(st.characters(exclude_characters=_BLANKS, exclude_categories=["Cs"]),
                min_size=1, max_size=12)
# Path parts: no white space of any kind (a path may hold no blank at all) and no NUL.
_path_parts = st.text(st.characters(exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc"]),
                      max_size=6).filter(lambda s: not any(c.isspace() for c in s))
paths = st.builds(lambda parts: "/" + "/".join(parts), st.lists(_path_parts, max_size=3))
pids = st.integers(1, PID_MAX)
u64 = st.integers(0, U64_MAX)
ids = st.integers(0, 4_294_967_294)
perms = st.builds("".join, st.tuples(*(st.sampled_from(p) for p in ("r-", "w-", "x-", "sp"))))


@st.composite
def mmaps(draw: st.DrawFn) -> Mmap:
    kind = draw(st.sampled_from(KINDS))
    return Mmap(
        pid=draw(pids), addr=draw(u64), size=draw(u64), kind=kind,
        path=draw(paths) if kind == "file" else None,
        perms=draw(perms),
        name=None if kind == "file" else draw(st.none() | words),
        offset=draw(u64),
    )


commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(Spawn, pids, words, ids, st.none() | ids, st.integers(0, PID_MAX),
              st.lists(words, max_size=4).map(tuple), st.none() | paths),
    st.builds(Fork, pids, pids, st.none() | words),
    st.builds(Exit, pids),
    mmaps(),
    st.builds(Munmap, pids, u64, u64),
    st.builds(Touch, pids, u64, u64, st.booleans()),
    st.builds(Mlock, pids, u64, u64),
    st.builds(Munlock, pids, u64, u64),
    st.builds(Madvise, pids, u64, u64, st.sampled_from(["cold", "pageout"])),
    st.just(Sync()),
    st.builds(DropCaches, st.sampled_from([1, 2, 3])),
    st.builds(Tick, u64),
    st.builds(Save, paths),
)


@given(commands)
@example(Spawn(1, "cmdline=x"))  # a COMM that looks like an option stays the COMM
@example(Spawn(1, "a", cmdline=("uid=1", "exe=/x")))  # cmdline= swallows options
@example(Mmap(1, 0, 0, "anon", name="[anon:x]"))  # bracketed names are kept as given
@example(Spawn(1, "a", uid=0, gid=0))  # an explicit gid 0 differs from "same as uid"
@example(Mmap(1, 0, 4096, "shmem"))  # rw-p on shmem must be written out: the default is rw-s
def test_format_then_parse_round_trips(cmd: Command) -> None:
    assert parse_control(format_command(cmd)) == [cmd]


@given(st.lists(commands, max_size=5))
@example([])  # no commands at all: an empty text
def test_many_lines_round_trip(cmds: list[Command]) -> None:
    text = "\n".join(format_command(c) for c in cmds) + "\n"
    assert parse_control(text) == cmds


@given(st.text(max_size=80))
@example("mmap 1 0 4K anon cmdline=x")  # cmdline= is spawn's alone
@example("spawn 1 a =")  # an option with an empty key
@example("\x00")  # NUL is a word character, and no command
def test_parse_control_raises_only_syntax_error(text: str) -> None:
    try:
        parse_control(text)
    except ControlSyntaxError as exc:
        assert exc.errno == errno.EINVAL
        assert 0 <= exc.position <= len(text)
        assert str(exc).startswith(f"line {exc.line}: ")
