"""Numbers of the command line and the control file (not of the reclaim file).

A NUMBER is decimal, or hex after ``0x``; a leading zero is still decimal
(``010`` is ten), because people type addresses and pids, not C literals.
A SIZE is a NUMBER with an optional K, M, G or T suffix (either case,
powers of 1024). Both must fit in 64 bits, like every address and size the
kernel takes.
"""

from __future__ import annotations

import re

from fakeproc.errors import ParseError

U64_MAX = (1 << 64) - 1

# Explicit character classes: Python's int() would also take "1_000", " 1"
# and non-ASCII digits, none of which belong to the grammar.
_NUMBER = re.compile(r"(?:0[xX](?P<hex>[0-9a-fA-F]+)|(?P<dec>[0-9]+))")
_SIZE = re.compile(_NUMBER.pattern + r"(?P<suffix>[kKmMgGtT]?)")
_SUFFIX_SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}


def _value(match: re.Match[str]) -> int:
    if match["hex"] is not None:
        return int(match["hex"], 16)
    return int(match["dec"], 10)


def parse_number(text: str) -> int:
    """A NUMBER: decimal or 0x hex, 0..2**64-1."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ParseError(f"'{text}' is not a number", 0)
    value = _value(match)
    if value > U64_MAX:
        raise ParseError(f"'{text}' is out of range", 0)
    return value


def parse_size(text: str) -> int:
    """A SIZE: a NUMBER with an optional K/M/G/T suffix, 0..2**64-1 bytes."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ParseError(f"'{text}' is not a size", 0)
    value = _value(match) << _SUFFIX_SHIFTS[match["suffix"].lower()]
    if value > U64_MAX:
        raise ParseError(f"'{text}' is out of range", 0)
    return value


def format_size(size: int) -> str:
    """The shortest exact SIZE for ``size`` bytes: ``8K`` rather than ``8192``."""
    for suffix, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift}{suffix}"
    return str(size)
