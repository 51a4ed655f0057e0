"""The per-pid write parsers against the kernel's input/outcome tables."""

from __future__ import annotations

import errno
from typing import Literal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fakeproc.engine.types import Dialect
from fakeproc.errors import ParseError
from fakeproc.syntax import (
    NUMBUF_MAX_BYTES,
    RECLAIM_MAX_BYTES,
    ReclaimRange,
    ReclaimRequest,
    ReclaimWhole,
    parse_clear_refs,
    parse_comm_write,
    parse_oom_score_adj,
    parse_reclaim,
    reclaim_text,
)
from fakeproc.syntax._kernel import strim

GiB = 1 << 30
U64 = 1 << 64

# An expected outcome: the request, or the errno the write fails with.
Outcome = ReclaimRequest | Literal["EINVAL"]


def whole(mode: Literal["file", "anon", "all"]) -> ReclaimWhole:
    return ReclaimWhole(mode)


def rng(start: int, end: int) -> ReclaimRange:
    return ReclaimRange(start, end)


# (id, data, v2 outcome, caf outcome): every row of the kernel's A.3 table that
# a parser can decide, plus the token corners it implies.
RECLAIM_ROWS: list[tuple[str, bytes, Outcome, Outcome]] = [
    # A.3 row 1: the words, stripped of C isspace
    ("file", b"file", whole("file"), whole("file")),
    ("file-newline", b"file\n", whole("file"), whole("file")),
    ("all-padded", b"  all  ", whole("all"), whole("all")),
    ("anon-tab", b"\tanon\n", whole("anon"), whole("anon")),
    ("anon-vt-ff-cr", b"\v\f\ranon\r", whole("anon"), whole("anon")),
    # lib/ctype.c counts 0xA0 as a space, so strim() strips it as well
    ("file-nbsp", b"\xa0file\xa0", whole("file"), whole("file")),
    # A.3 row 2: exact, case-sensitive strcmp
    ("File", b"File", "EINVAL", "EINVAL"),
    ("files", b"files", "EINVAL", "EINVAL"),
    ("file-x", b"file x", "EINVAL", "EINVAL"),
    ("anon-0-4096", b"anon 0 4096", "EINVAL", "EINVAL"),
    # A.3 row 3: the old numeric modes are a range with no size
    ("old-1", b"1", "EINVAL", "EINVAL"),
    ("old-2", b"2", "EINVAL", "EINVAL"),
    ("old-3", b"3", "EINVAL", "EINVAL"),
    # A.3 row 4
    ("4096-8192", b"4096 8192", rng(0x1000, 0x3000), rng(0x1000, 0x3000)),
    # A.3 row 5: kstrtoul base 10 refuses hex; memparse takes it and a suffix
    ("hex-8K", b"0x100000 8K", "EINVAL", rng(0x100000, 0x102000)),
    # A.3 row 6: decimal 10 / octal 8, unaligned either way
    ("010-4096", b"010 4096", "EINVAL", "EINVAL"),
    # A.3 row 7
    ("4097-4096", b"4097 4096", "EINVAL", "EINVAL"),
    # A.3 row 8: size 0 is a no-op, one byte is a page
    ("size-0", b"4096 0", rng(4096, 4096), rng(4096, 4096)),
    ("size-1", b"4096 1", rng(4096, 8192), rng(4096, 8192)),
    # A.3 row 9: the length rounds up to 0
    ("size-wraps", b"4096 18446744073709551615", "EINVAL", "EINVAL"),
    # A.3 row 10: start + len wraps
    ("end-wraps", b"18446744073709547520 8192", "EINVAL", "EINVAL"),
    # A.3 row 11: strsep on one space leaves an empty second token
    ("two-spaces", b"4096  8192", "EINVAL", rng(4096, 4096)),
    # A.3 row 12: a tab does not separate tokens
    ("tab", b"4096\t8192", "EINVAL", "EINVAL"),
    # A.3 row 13: a third token is never read; junk after digits only bothers kstrtoul
    ("third-token", b"4096 8192 junk", rng(4096, 12288), rng(4096, 12288)),
    ("trailing-junk", b"4096 8192xyz", "EINVAL", rng(4096, 12288)),
    # A.3 row 14: a sign is not a digit; empty and blank writes name nothing
    ("minus", b"-1 4096", "EINVAL", "EINVAL"),
    ("empty", b"", "EINVAL", "EINVAL"),
    ("newline", b"\n", "EINVAL", "EINVAL"),
    # kstrtoul's own rules inside a token
    ("plus-size", b"4096 +8192", rng(4096, 12288), rng(4096, 4096)),
    ("plus-start", b"+4096 8192", "EINVAL", "EINVAL"),
    ("minus-size", b"4096 -8192", "EINVAL", rng(4096, 4096)),
    ("newline-in-token", b"4096\n 8192", rng(4096, 12288), rng(4096, 12288)),
    ("two-newlines-in-token", b"4096\n\n 8192", "EINVAL", rng(4096, 12288)),
    ("size-overflow", b"4096 99999999999999999999", "EINVAL",
     # memparse wraps silently: 10**20 - 1 is 5 * 2**64 + 7766279631452241919
     rng(4096, 4096 + 7766279631452241920)),
    ("hex-size", b"4096 0x1000", "EINVAL", rng(4096, 8192)),
    ("0x-alone", b"0x 4096", "EINVAL", rng(0, 4096)),
    ("octal-size", b"4096 010", rng(4096, 8192), rng(4096, 8192)),
    ("suffix-lower", b"1g 4k", "EINVAL", rng(GiB, GiB + 4096)),
    ("suffix-E", b"1E 4096", "EINVAL", rng(1 << 60, (1 << 60) + 4096)),
    ("suffix-P", b"4096 1P", "EINVAL", rng(4096, 4096 + (1 << 50))),
    # 16 << 60 is 2**64: the shift wraps to 0, an aligned start
    ("suffix-wraps", b"16E 4096", "EINVAL", rng(0, 4096)),
    ("bad-suffix", b"4096 8Q", "EINVAL", rng(4096, 8192)),  # 8 bytes, one page
    # the C string ends at the first NUL
    ("nul", b"file\0junk", whole("file"), whole("file")),
    ("nul-in-range", b"4096 8192\0xyz", rng(4096, 12288), rng(4096, 12288)),
    ("nul-first", b"\0file", "EINVAL", "EINVAL"),
    # A.3 row 15: the write is cut to 199 bytes before anything is read
    ("long-word", b"file" + b" " * 300, whole("file"), whole("file")),
    ("long-range", b"4096 8192 " + b"x" * 300, rng(4096, 12288), rng(4096, 12288)),
    ("cut-before-size", b" " * 195 + b"4096 8192", "EINVAL", "EINVAL"),
    ("non-ascii", "fïle".encode(), "EINVAL", "EINVAL"),
]


@pytest.mark.parametrize("dialect", ["v2", "caf"])
@pytest.mark.parametrize(
    ("data", "v2", "caf"),
    [pytest.param(d, v, c, id=i) for i, d, v, c in RECLAIM_ROWS],
)
def test_reclaim_table(data: bytes, v2: Outcome, caf: Outcome, dialect: Dialect) -> None:
    expected = v2 if dialect == "v2" else caf
    if expected == "EINVAL":
        with pytest.raises(ParseError) as info:
            parse_reclaim(data, dialect)
        # reclaim_write turns every error, kstrtoul's ERANGE too, into EINVAL
        assert info.value.errno == errno.EINVAL
    else:
        request, count = parse_reclaim(data, dialect)
        assert request == expected
        assert count == min(len(data), 199)


def test_reclaim_returns_the_cut_count() -> None:
    # A writer of 500 bytes is told 199 were taken and would send the rest anew.
    assert parse_reclaim(b"all" + b"\n" * 497, "v2") == (ReclaimWhole("all"), 199)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"anon\n", "anon"),
        (b"  1048576 8192 \n", "1048576 8192"),
        (b"file\0junk", "file"),
        (b"\xff", "\\xff"),
    ],
)
def test_reclaim_text(data: bytes, text: str) -> None:
    assert reclaim_text(data) == text


@given(st.binary(max_size=300), st.sampled_from(["v2", "caf"]))
@example(b"", "v2")  # the empty write: EINVAL, never an IndexError
@example(b"9" * 40 + b" 1", "v2")  # kstrtoul overflow is EINVAL here, not ERANGE
@example(b"0x", "caf")  # memparse with a prefix and no digits
def test_reclaim_raises_only_parse_error(data: bytes, dialect: Dialect) -> None:
    try:
        request, count = parse_reclaim(data, dialect)
    except ParseError as exc:
        assert exc.errno == errno.EINVAL
        assert 0 <= exc.position <= len(data)
        return
    assert count == min(len(data), RECLAIM_MAX_BYTES)
    if isinstance(request, ReclaimRange):
        assert 0 <= request.start <= request.end < U64
        assert request.start % 4096 == 0
        assert request.end % 4096 == 0


@given(st.integers(0, (1 << 40) - 1), st.integers(0, 1 << 40))
@example(0, 0)  # the smallest no-op
@example(1, 4096)  # unaligned start by one byte
def test_reclaim_dialects_agree_on_plain_decimal(page: int, size: int) -> None:
    # Without prefixes, suffixes or leading zeros both readers see the same numbers.
    start = page * 4096
    data = f"{start} {size}".encode()
    expected = ReclaimRange(start, start + -(-size // 4096) * 4096)
    assert parse_reclaim(data, "v2") == (expected, len(data))
    assert parse_reclaim(data, "caf") == (expected, len(data))


# (id, data, expected value or errno name, count) for clear_refs; D.8 rows first.
CLEAR_REFS_ROWS: list[tuple[str, bytes, int | str]] = [
    ("space-5-newline", b" 5\n", 5),
    ("plus", b"+1", 1),
    ("leading-zero", b"01", 1),
    ("two-newlines", b"1\n\n", 1),
    ("tabs", b"\t1\t", 1),
    ("nul-garbage", b"1\0garbage", 1),
    ("thirty-spaces", b"1" + b" " * 30, 1),
    ("eleven-ones", b"1" * 11, "ERANGE"),
    ("hex", b"0x1", "EINVAL"),
    ("empty", b"", "EINVAL"),
    ("zero", b"0", "EINVAL"),
    ("six", b"6", "EINVAL"),
    ("minus-one", b"-1", "EINVAL"),
    ("int-min", b"-2147483648", "EINVAL"),
    ("below-int-min", b"-2147483649", "ERANGE"),
    # 2**32 + 1 would be 1 if truncated: the kernel says ERANGE instead
    ("wraps-to-1", b"4294967297", "ERANGE"),
    ("u64-overflow", b"99999999999", "ERANGE"),
    ("two-numbers", b"1 2", "EINVAL"),
    ("minus-plus", b"-+1", "EINVAL"),
    # the cut to 12 bytes leaves only blanks
    ("cut-to-blank", b" " * 12 + b"5", "EINVAL"),
    ("cut-digits", b"1234567890123", "ERANGE"),
    ("five", b"5", 5),
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, e, id=i) for i, d, e in CLEAR_REFS_ROWS])
def test_clear_refs_table(data: bytes, expected: int | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ParseError) as info:
            parse_clear_refs(data)
        assert info.value.errno == getattr(errno, expected)
    else:
        assert parse_clear_refs(data) == (expected, min(len(data), 12))


def test_clear_refs_counts_named_in_the_spec() -> None:
    # The two counts D.8 states outright.
    assert parse_clear_refs(b"1\0garbage") == (1, 9)
    assert parse_clear_refs(b"1" + b" " * 30) == (1, 12)


OOM_ROWS: list[tuple[str, bytes, int | str]] = [
    ("hex", b"0x10", 16),
    ("octal", b"010", 8),
    ("hex-upper", b"0X1f", 31),
    ("minus-hex", b"-0x10", -16),
    ("plus-hex", b"+0x10", 16),
    ("min", b"-1000", -1000),
    ("max", b"1000\n", 1000),
    ("padded", b" 500\n", 500),
    ("zero", b"0", 0),
    ("minus-zero", b"-0", 0),
    ("nul", b"1000\0xx", 1000),
    ("above", b"1001", "EINVAL"),
    ("below", b"-1001", "EINVAL"),
    ("overflow", b"99999999999", "ERANGE"),
    ("negative-overflow", b"-99999999999", "ERANGE"),
    ("bad-octal", b"08", "EINVAL"),
    ("0x-alone", b"0x", "EINVAL"),
    ("empty", b"", "EINVAL"),
    ("minus-alone", b"-", "EINVAL"),
    ("double-minus", b"--1", "EINVAL"),
    ("plus-minus", b"+-1", "EINVAL"),
    ("word", b"max", "EINVAL"),
    # cut to 12 bytes: "-00000000001" is -1, the trailing "000" never arrives
    ("cut", b"-00000000001000", -1),
]


@pytest.mark.parametrize(("data", "expected"), [pytest.param(d, e, id=i) for i, d, e in OOM_ROWS])
def test_oom_score_adj_table(data: bytes, expected: int | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ParseError) as info:
            parse_oom_score_adj(data)
        assert info.value.errno == getattr(errno, expected)
    else:
        assert parse_oom_score_adj(data) == (expected, min(len(data), 12))


@pytest.mark.parametrize("data", [b"", b"newname", b"x" * 100])
def test_comm_write_is_always_einval(data: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_comm_write(data)
    assert info.value.errno == errno.EINVAL


@given(st.binary(max_size=40))
@example(b"")  # empty: EINVAL from kstrtoint, not an exception of ours
@example(b"-")  # a sign with nothing after it
@example(b"0x")  # a hex prefix with no digit is octal 0 then junk
def test_numbuf_parsers_raise_only_parse_error(data: bytes) -> None:
    for parse, low, high in ((parse_clear_refs, 1, 5), (parse_oom_score_adj, -1000, 1000)):
        try:
            value, count = parse(data)
        except ParseError as exc:
            assert exc.errno in (errno.EINVAL, errno.ERANGE)
            assert 0 <= exc.position <= len(data)
            continue
        assert low <= value <= high
        assert count == min(len(data), NUMBUF_MAX_BYTES)


@given(st.integers(-1000, 1000), st.sampled_from(["{}", "{:#x}", "{:#o}"]))
@example(-1000, "{:#x}")  # -0x3e8: the sign comes before the prefix
@example(8, "{:#o}")  # Python's 0o10 is not C's 010; rewritten below
def test_oom_score_adj_reads_every_base(value: int, fmt: str) -> None:
    text = fmt.format(value).replace("0o", "0")
    assert parse_oom_score_adj(text.encode()) == (value, len(text))


# lib/ctype.c's _S class: 9-13, the space and Latin-1's no-break space.
_KERNEL_SPACES = b"\t\n\v\f\r \xa0"


@given(st.lists(st.sampled_from([*(bytes([c]) for c in _KERNEL_SPACES),
                                 b"a", b"0", b"\x00", b"\x85", b"\x1c"]), max_size=12))
def test_strim_strips_exactly_the_kernel_spaces_at_both_ends(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    text, offset = strim(data)
    assert data[offset:offset + len(text)] == text
    assert set(data[:offset]) <= set(_KERNEL_SPACES)
    assert set(data[offset + len(text):]) <= set(_KERNEL_SPACES)
    assert text == b"" or (text[0] not in _KERNEL_SPACES and text[-1] not in _KERNEL_SPACES)
