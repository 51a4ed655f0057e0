"""EventLog: JSON shape, absolute offsets, bounding, the sink."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fakeproc.control import EventLog

DESIGN_EXAMPLE = (
    '{"seq":7,"tick":120,"type":"reclaim","pid":100,"request":"anon","scanned":512,'
    '"reclaimed":{"anon":480,"file":0,"shmem":0},'
    '"skipped":{"shared":32,"mlocked":0,"no_swap":0,"dirty":0,"hugetlb":0}}\n'
)


def test_line_shape_matches_the_documented_example() -> None:
    log = EventLog()
    for tick in range(6):
        log.append("ctl", tick, line=1, command="tick 1")
    before = log.size
    log.append("reclaim", 120, pid=100, request="anon", scanned=512,
               reclaimed={"anon": 480, "file": 0, "shmem": 0},
               skipped={"shared": 32, "mlocked": 0, "no_swap": 0, "dirty": 0, "hugetlb": 0})
    assert log.read(before, 1 << 20).decode() == DESIGN_EXAMPLE
    assert log.seq == 7


def test_formatted_fields_give_the_same_lines_whenever_they_are_formatted() -> None:
    fields = ('"pid":%d,"request":%s,"scanned":%d,"reclaimed":{"anon":%d,"file":0,"shmem":0},'
              '"skipped":{"shared":%d,"mlocked":0,"no_swap":0,"dirty":0,"hugetlb":0}')
    log = EventLog()
    for tick in range(6):
        log.append_format("ctl", tick, '"line":%d,"command":%s', (1, '"tick 1"'))
    assert log.seq == 6
    log.append_format("reclaim", 120, fields, (100, '"anon"', 512, 480, 32))
    log.append_format("tick", 121, "", ())
    lines = log.read(0, log.size).decode().splitlines(keepends=True)
    assert lines[0] == '{"seq":1,"tick":0,"type":"ctl","line":1,"command":"tick 1"}\n'
    assert lines[6] == DESIGN_EXAMPLE
    assert lines[7] == '{"seq":8,"tick":121,"type":"tick"}\n'


@pytest.mark.parametrize("count", [1, 255, 256, 257, 1000])
def test_events_waiting_to_be_formatted_count_everywhere(count: int) -> None:
    """Size, length, reads and the capacity bound see an event the moment it is appended."""
    log, reference = EventLog(capacity=300), EventLog(capacity=300)
    for i in range(count):
        log.append_format("ctl", i, '"line":%d', (i,))
        reference.append("ctl", i, line=i)
        assert log.seq == reference.seq == i + 1
    assert len(log) == len(reference) == min(count, 300)
    assert log.kept_from == reference.kept_from
    assert log.size == reference.size
    assert log.read(0, log.size) == reference.read(0, reference.size)


def test_an_event_without_fields_is_its_seq_tick_and_type() -> None:
    log = EventLog()
    log.append("tick", 5)
    assert log.read(0, 100) == b'{"seq":1,"tick":5,"type":"tick"}\n'


def test_a_sink_gets_each_formatted_event_at_once() -> None:
    sink = io.StringIO()
    log = EventLog(sink=sink)
    log.append_format("ctl", 0, '"line":%d', (1,))
    assert sink.getvalue() == '{"seq":1,"tick":0,"type":"ctl","line":1}\n'


def test_keys_come_in_a_stable_order() -> None:
    log = EventLog()
    log.append("oom_kill", 3, pid=9, comm="x")
    record = json.loads(log.read(0, log.size))
    assert list(record) == ["seq", "tick", "type", "pid", "comm"]


def test_non_ascii_is_escaped_so_sizes_are_bytes() -> None:
    log = EventLog()
    log.append("ctl", 0, command="spawn 1 café")
    data = log.read(0, log.size)
    assert log.size == len(data)
    assert json.loads(data)["command"] == "spawn 1 café"
    assert data.isascii()


# seq is refused by append itself; tick and type by Python (they are its parameters).
@pytest.mark.parametrize(("key", "error"), [("seq", ValueError), ("tick", TypeError),
                                            ("type", TypeError)])
def test_reserved_keys_are_refused(key: str, error: type[Exception]) -> None:
    log = EventLog()
    with pytest.raises(error):
        log.append("ctl", 0, **{key: 1})
    assert log.size == 0


def test_size_counts_every_byte_ever_appended() -> None:
    log = EventLog(capacity=2)
    lines = []
    for i in range(5):
        before = log.size
        log.append("ctl", i, n=i)
        lines.append(log.read(before, 1 << 10))
    assert log.size == sum(len(line) for line in lines)
    assert len(log) == 2
    # only the newest two survive; an offset that was dropped reads from the oldest kept line
    assert log.read(0, 1 << 10) == lines[3] + lines[4]
    assert log.kept_from == sum(len(line) for line in lines[:3])


def test_reads_at_and_past_the_end_are_empty() -> None:
    log = EventLog()
    log.append("ctl", 0)
    assert log.read(log.size, 10) == b""
    assert log.read(log.size + 100, 10) == b""
    assert log.read(0, 0) == b""


def test_reads_in_the_middle_of_a_line() -> None:
    log = EventLog()
    log.append("ctl", 0, a=1)
    log.append("ctl", 1, a=2)
    whole = log.read(0, log.size)
    assert log.read(5, 7) == whole[5:12]
    assert log.read(3, log.size) == whole[3:]


def test_sink_gets_every_line_even_dropped_ones() -> None:
    sink = io.StringIO()
    log = EventLog(capacity=1, sink=sink)
    for i in range(4):
        log.append("ctl", i)
    assert [json.loads(line)["seq"] for line in sink.getvalue().splitlines()] == [1, 2, 3, 4]
    assert len(sink.getvalue().encode()) == log.size


def test_numpy_numbers_in_engine_events_are_written_as_numbers() -> None:
    log = EventLog()
    log.append("global_reclaim", 1, scanned=np.int64(7))
    assert json.loads(log.read(0, log.size))["scanned"] == 7


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EventLog(capacity=0)


# Steps: ("append", text, 0, 0) or ("read", "", offset, size).
ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.text(max_size=30), st.just(0), st.just(0)),
        st.tuples(st.just("read"), st.just(""), st.integers(0, 2000), st.integers(0, 400)),
    ),
    max_size=60,
)


@given(st.integers(1, 5), ops)
@example(1, [("append", "a", 0, 0), ("append", "b", 0, 0), ("read", "", 0, 1000)])  # one kept
@example(2, [("append", "", 0, 0), ("read", "", 10_000, 5)])  # past the end
@example(3, [("append", "é", 0, 0), ("read", "", 1, 3)])  # escaped non-ASCII, mid-line read
@example(2, [("append", "50%\r\n", 0, 0), ("append", "%s", 0, 0), ("read", "", 0, 200)])
def test_reads_match_a_reference_of_everything_ever_written(
        capacity: int, steps: list[tuple[str, str, int, int]]) -> None:
    log = EventLog(capacity=capacity)
    everything = b""  # the reference: every line ever appended, never dropped
    starts: list[int] = []
    for op, text, offset, size in steps:
        if op == "append":
            starts.append(len(everything))
            seq = len(starts)
            log.append("ctl", seq * 10, text=text)
            record = {"seq": seq, "tick": seq * 10, "type": "ctl", "text": text}
            everything += (json.dumps(record, separators=(",", ":")) + "\n").encode()
            continue
        kept_from = starts[-capacity] if len(starts) >= capacity else 0
        expected = everything[max(offset, kept_from):][:size] if offset < len(everything) else b""
        assert log.read(offset, size) == expected
    assert log.size == len(everything)
    assert len(log) == min(capacity, len(starts))
