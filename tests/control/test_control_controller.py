"""Controller against the real engine: run_text semantics, per-pid writes, events."""

from __future__ import annotations

import errno
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeproc.control import SAVE_NOT_YET, Controller, EventLog
from fakeproc.control._controller import REQUEST_FORMAT, result_values
from fakeproc.control._events import json_string
from fakeproc.engine import Machine, MachineConfig
from fakeproc.engine.types import Dialect, ReclaimResult
from fakeproc.errors import FakeprocError, ParseError
from fakeproc.syntax import ControlSyntaxError

MiB = 1 << 20
BASE = 0x100000  # where the tests map their anon area


def make(dialect: Dialect = "v2", *, ram: int = 64 * MiB, swap: int = 16 * MiB,
         capacity: int = 10_000) -> Controller:
    machine = Machine(MachineConfig(ram_bytes=ram, swap_bytes=swap, dialect=dialect))
    return Controller(machine, EventLog(capacity=capacity))


def events(ctl: Controller) -> list[dict[str, Any]]:
    data = ctl.events.read(0, ctl.events.size)
    return [json.loads(line) for line in data.splitlines()]


def world(ctl: Controller, pages: int = 256) -> None:
    """Process 100 with ``pages`` dirty anon pages at BASE."""
    size = pages * 4096
    ctl.run_text(f"spawn 100 app\nmmap 100 {BASE:#x} {size} anon\n"
                 f"touch 100 {BASE:#x} {size} write\n")


# -- run_text ------------------------------------------------------------------


def test_a_syntax_error_anywhere_runs_nothing() -> None:
    ctl = make()
    with pytest.raises(ControlSyntaxError) as info:
        ctl.run_text("spawn 100 a\nspawn 101 b\nmmap 100 0 12Q anon\n")
    assert info.value.errno == errno.EINVAL
    assert ctl.machine.pids() == []
    assert ctl.events.size == 0
    assert ctl.last_error == "line 3: mmap: SIZE '12Q' is not a size\n"


def test_a_failing_command_stops_the_rest_and_keeps_the_earlier() -> None:
    ctl = make()
    with pytest.raises(FakeprocError) as info:
        ctl.run_text("spawn 100 a\nspawn 100 b\nspawn 101 c\n")
    assert info.value.errno == errno.EEXIST
    assert ctl.machine.pids() == [100]
    assert ctl.machine.process(100).comm == "a"
    assert ctl.last_error.startswith("line 2: spawn: ")
    assert ctl.last_error.endswith("\n")
    ctl_events = [(e["line"], e.get("error")) for e in events(ctl) if e["type"] == "ctl"]
    assert ctl_events == [(1, None), (2, "EEXIST")]


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("exit 5", errno.ESRCH, "line 1: exit: "),
        ("spawn 1 a\nmmap 1 0x1001 4K anon", errno.EINVAL, "line 2: mmap: "),
        ("spawn 1 a\nmmap 1 0x1000 4K anon\nmmap 1 0x1000 4K anon", errno.EEXIST,
         "line 3: mmap: "),
        ("spawn 1 a\ntouch 1 0x1000 4K", errno.EFAULT, "line 2: touch: "),
        ("spawn 1 a\nmmap 1 0x1000 4K anon perms=r--p\ntouch 1 0x1000 4K write",
         errno.EFAULT, "line 3: touch: "),
        ("save /tmp/state", errno.EINVAL, "line 1: save: "),
    ],
)
def test_engine_errors_come_back_with_their_errno(text: str, code: int, line: str) -> None:
    ctl = make()
    with pytest.raises(FakeprocError) as info:
        ctl.run_text(text)
    assert info.value.errno == code
    assert ctl.last_error.startswith(line)


def test_save_says_when_it_arrives() -> None:
    ctl = make()
    with pytest.raises(FakeprocError):
        ctl.run_text("save /tmp/state")
    assert ctl.last_error == f"line 1: save: {SAVE_NOT_YET}\n"


def test_a_good_write_clears_the_last_error() -> None:
    ctl = make()
    with pytest.raises(FakeprocError):
        ctl.run_text("exit 5")
    assert ctl.last_error
    ctl.run_text("tick 3")
    assert ctl.last_error == ""
    assert ctl.machine.tick == 3


def test_first_line_numbers_messages_and_events() -> None:
    ctl = make()
    with pytest.raises(FakeprocError):
        ctl.run_text("spawn 1 a\n\nexit 2", first_line=10)
    assert ctl.last_error.startswith("line 12: exit: ")
    assert [e["line"] for e in events(ctl)] == [10, 12]


def test_every_command_logs_a_ctl_event_in_canonical_form() -> None:
    ctl = make()
    ctl.run_text("spawn 100 app\n  mmap 100 1048576 8192 anon\ntick\n")
    assert [(e["type"], e["command"], e["tick"]) for e in events(ctl)] == [
        ("ctl", "spawn 100 app", 0),
        ("ctl", "mmap 100 0x100000 8K anon", 0),
        ("ctl", "tick 1", 1),
    ]


def test_the_whole_command_set_runs() -> None:
    ctl = make()
    ctl.run_text(
        "spawn 100 app uid=1000 cmdline=/bin/app --flag\n"
        "mmap 100 0x100000 64K anon name=heap\n"
        "mmap 100 0x200000 64K file=/lib/libx.so perms=r-xp\n"
        "mmap 100 0x300000 64K shmem\n"
        "touch 100 0x100000 64K write\n"
        "touch 100 0x200000 64K\n"
        "touch 100 0x300000 64K write\n"
        "fork 100 101 comm=child\n"
        "mlock 100 0x100000 16K\n"
        "munlock 100 0x100000 16K\n"
        "madvise 100 0x100000 64K cold\n"
        "munmap 100 0x300000 64K\n"
        "sync\n"
        "drop_caches 3\n"
        "tick 10\n"
        "exit 101\n"
    )
    m = ctl.machine
    assert m.pids() == [100]
    assert m.process(100).uid == 1000
    assert m.process(100).cmdline == ("/bin/app", "--flag")
    assert [v.display_name for v in m.process(100).vmas] == ["[anon:heap]", "/lib/libx.so"]
    assert m.tick == 10
    assert sum(e["type"] == "ctl" for e in events(ctl)) == 16


def test_madvise_logs_what_it_did() -> None:
    ctl = make()
    world(ctl, pages=16)
    before = ctl.machine.memory(100).rss_anon
    ctl.run_text(f"madvise 100 {BASE:#x} 64K pageout")
    after = ctl.machine.memory(100).rss_anon
    madvise = [e for e in events(ctl) if e["type"] == "madvise"]
    assert len(madvise) == 1
    assert madvise[0]["pid"] == 100
    assert madvise[0]["request"] == f"{BASE} {64 * 1024} pageout"
    assert madvise[0]["reclaimed"]["anon"] == before - after > 0
    assert list(madvise[0]) == ["seq", "tick", "type", "pid", "request", "scanned",
                                "reclaimed", "skipped"]


def test_engine_happenings_are_logged() -> None:
    # 8 MiB of RAM and no swap: two 3 MiB anon areas cannot both stay, so the OOM
    # killer takes the bigger, older process when the second one faults.
    ctl = make(ram=8 * MiB, swap=0)
    ctl.run_text(
        "spawn 100 big\nmmap 100 0x100000 6M anon\ntouch 100 0x100000 6M write\n"
        "spawn 101 new\nmmap 101 0x100000 6M anon\ntouch 101 0x100000 6M write\n"
    )
    kills = [e for e in events(ctl) if e["type"] == "oom_kill"]
    assert [k["pid"] for k in kills] == [100]
    assert ctl.machine.pids() == [101]
    # the kill comes just before the ctl event of the touch that caused it
    log = events(ctl)
    at = [e["type"] for e in log].index("oom_kill")
    assert log[at + 1]["type"] == "ctl"
    assert log[at + 1]["line"] == 6
    assert at + 2 == len(log)


def test_global_reclaim_is_logged() -> None:
    ctl = make(ram=8 * MiB, swap=16 * MiB)
    # three touches of 4 MiB: each fits in RAM on its own, together they do not
    ctl.run_text("spawn 100 big\nmmap 100 0x100000 12M anon\n"
                 "touch 100 0x100000 4M write\ntouch 100 0x500000 4M write\n"
                 "touch 100 0x900000 4M write\n")
    assert any(e["type"] == "global_reclaim" for e in events(ctl))
    assert ctl.machine.swap_used_pages() > 0


# -- write_reclaim ---------------------------------------------------------------


def test_write_reclaim_anon_swaps_out_and_logs_the_documented_shape() -> None:
    ctl = make()
    world(ctl)
    before = ctl.machine.memory(100)
    assert ctl.write_reclaim(100, b"anon\n") == 5
    after = ctl.machine.memory(100)
    assert after.rss_anon < before.rss_anon
    assert after.vm_swap - before.vm_swap == before.rss_anon - after.rss_anon
    (event,) = [e for e in events(ctl) if e["type"] == "reclaim"]
    assert list(event) == ["seq", "tick", "type", "pid", "request", "scanned", "reclaimed",
                           "skipped"]
    assert event["pid"] == 100
    assert event["request"] == "anon"
    assert list(event["reclaimed"]) == ["anon", "file", "shmem"]
    assert list(event["skipped"]) == ["shared", "mlocked", "no_swap", "dirty", "hugetlb"]
    assert event["reclaimed"]["anon"] == before.rss_anon - after.rss_anon


@pytest.mark.parametrize(
    ("dialect", "data", "text"),
    [
        ("v2", b"1048576 8192\n", "1048576 8192"),
        ("caf", b" 0x100000 8K", "0x100000 8K"),
    ],
)
def test_write_reclaim_range(dialect: Dialect, data: bytes, text: str) -> None:
    ctl = make(dialect)
    world(ctl)
    before = ctl.machine.memory(100)
    assert ctl.write_reclaim(100, data) == len(data)
    after = ctl.machine.memory(100)
    # [1 MiB, 1 MiB + 8 KiB) is the first two pages of the area
    assert before.rss_anon - after.rss_anon == 2
    (event,) = [e for e in events(ctl) if e["type"] == "reclaim"]
    assert event["request"] == text
    assert event["reclaimed"]["anon"] == 2


def test_write_reclaim_file_leaves_anon_alone() -> None:
    ctl = make()
    world(ctl)
    before = ctl.machine.memory(100)
    ctl.write_reclaim(100, b"file")
    assert ctl.machine.memory(100) == before


def test_write_reclaim_of_an_unmapped_range_is_a_no_op() -> None:
    ctl = make()
    world(ctl)
    digest = ctl.machine.digest()
    assert ctl.write_reclaim(100, b"1073741824 4096") == 15
    assert ctl.machine.digest() == digest


def test_write_reclaim_parses_before_looking_for_the_process() -> None:
    ctl = make()
    # the kernel answers EINVAL for bad input even when the task is gone
    with pytest.raises(ParseError) as bad:
        ctl.write_reclaim(4242, b"bogus")
    assert bad.value.errno == errno.EINVAL
    with pytest.raises(FakeprocError) as dead:
        ctl.write_reclaim(4242, b"all")
    assert dead.value.errno == errno.ESRCH
    assert ctl.events.size == 0


@pytest.mark.parametrize(("write", "good"), [
    ("write_reclaim", b"all"), ("write_clear_refs", b"1"), ("write_oom_score_adj", b"1")])
def test_a_write_opened_on_an_exited_process_that_pid_now_names_is_esrch_after_parsing(
        write: str, good: bytes) -> None:
    ctl = make()
    world(ctl)
    opened = ctl.machine.process(100)
    ctl.run_text("exit 100\nspawn 100 again\n")
    with pytest.raises(ParseError):  # bad input first, as the kernel parses first
        getattr(ctl, write)(100, b"bogus", opened=opened)
    with pytest.raises(FakeprocError) as gone:
        getattr(ctl, write)(100, good, opened=opened)
    assert gone.value.errno == errno.ESRCH
    assert getattr(ctl, write)(100, good, opened=ctl.machine.process(100)) == len(good)


@given(st.integers(0, 1 << 22), st.text(max_size=8), st.integers(0, 1 << 40),
       st.lists(st.integers(0, 1 << 40), min_size=8, max_size=8))
def test_the_result_event_format_is_what_the_json_encoder_writes(
        pid: int, request: str, scanned: int, counts: list[int]) -> None:
    result = ReclaimResult(scanned=scanned)
    for key, value in zip([*result.reclaimed, *result.skipped], counts, strict=True):
        (result.reclaimed if key in result.reclaimed else result.skipped)[key] = value
    fields = {"pid": pid, "request": request, "scanned": scanned,
              "reclaimed": result.reclaimed, "skipped": result.skipped}
    formatted = REQUEST_FORMAT % (pid, json_string(request), *result_values(result))
    assert formatted == json.dumps(fields, separators=(",", ":"))[1:-1]


def test_write_reclaim_returns_the_cut_count() -> None:
    ctl = make()
    world(ctl)
    assert ctl.write_reclaim(100, b"all" + b" " * 400) == 199


def test_write_reclaim_leaves_sim_error_alone() -> None:
    ctl = make()
    with pytest.raises(FakeprocError):
        ctl.run_text("exit 9")
    message = ctl.last_error
    with pytest.raises(ParseError):
        ctl.write_reclaim(9, b"bogus")
    assert ctl.last_error == message


# -- clear_refs and oom_score_adj -------------------------------------------------


def test_write_clear_refs_clears_referenced() -> None:
    ctl = make()
    world(ctl, pages=8)
    assert int(ctl.machine.smaps(100).referenced.sum()) > 0
    assert ctl.write_clear_refs(100, b"1\n") == 2
    assert int(ctl.machine.smaps(100).referenced.sum()) == 0


@pytest.mark.parametrize(
    ("pid", "data", "code"),
    [
        (100, b"6", errno.EINVAL),
        (100, b"11111111111", errno.ERANGE),
        (4242, b"1", errno.ESRCH),
        (4242, b"0x1", errno.EINVAL),  # parsing comes first
    ],
)
def test_write_clear_refs_errors(pid: int, data: bytes, code: int) -> None:
    ctl = make()
    world(ctl, pages=1)
    with pytest.raises(FakeprocError) as info:
        ctl.write_clear_refs(pid, data)
    assert info.value.errno == code


@pytest.mark.parametrize(("data", "value"), [(b"0x10", 16), (b"010\n", 8), (b"-1000", -1000)])
def test_write_oom_score_adj(data: bytes, value: int) -> None:
    ctl = make()
    world(ctl, pages=1)
    assert ctl.write_oom_score_adj(100, data) == len(data)
    assert ctl.machine.process(100).oom_score_adj == value


@pytest.mark.parametrize(
    ("pid", "data", "code"),
    [(100, b"1001", errno.EINVAL), (100, b"99999999999", errno.ERANGE),
     (4242, b"0", errno.ESRCH)],
)
def test_write_oom_score_adj_errors(pid: int, data: bytes, code: int) -> None:
    ctl = make()
    world(ctl, pages=1)
    with pytest.raises(FakeprocError) as info:
        ctl.write_oom_score_adj(pid, data)
    assert info.value.errno == code
    assert ctl.machine.process(100).oom_score_adj == 0


def test_event_log_stays_bounded_under_a_controller() -> None:
    ctl = make(capacity=4)
    ctl.run_text("tick\n" * 10)
    assert len(ctl.events) == 4
    assert [e["seq"] for e in events(ctl)] == [7, 8, 9, 10]
