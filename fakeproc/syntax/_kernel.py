"""The kernel's string and number helpers, byte for byte.

Each function mirrors one lib/ routine the proc write handlers call
(``strim``, ``_kstrtoull``, ``kstrtoint``, ``memparse``), because a user's
script that works against a real kernel must get the same answer here,
including the odd corners (``"4096\\n"`` is a valid kstrtoul token, memparse
wraps silently, an overflow is ERANGE even when junk follows).

Errors are :class:`ParseError` whose ``position`` is the offset of the fault
in the bytes handed to the function, and whose ``errno`` is the one the
kernel returns (EINVAL or ERANGE).
"""

from __future__ import annotations

import errno

from fakeproc.errors import ParseError

U64_MAX = (1 << 64) - 1

# lib/ctype.c marks 9-13, 32 and also 160 (Latin-1 no-break space) as _S:
# the kernel's isspace() is true for all seven, so strim() strips 0xA0 too.
_KERNEL_SPACE = b"\t\n\v\f\r \xa0"


def cstring(data: bytes) -> bytes:
    """What a C string in a zeroed buffer holds: everything before the first NUL."""
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


def strim(data: bytes) -> tuple[bytes, int]:
    """The kernel's strstrip(): (the stripped bytes, offset of their start in ``data``)."""
    end_stripped = data.rstrip(_KERNEL_SPACE)
    text = end_stripped.lstrip(_KERNEL_SPACE)
    return text, len(end_stripped) - len(text)


def _digit_value(byte: int) -> int:
    """The value _parse_integer gives a character, or 16 when it is not a digit at all."""
    if 0x30 <= byte <= 0x39:
        return byte - 0x30
    lower = byte | 0x20
    if 0x61 <= lower <= 0x66:
        return lower - 0x61 + 10
    return 16


def _is_xdigit(data: bytes, index: int) -> bool:
    return index < len(data) and _digit_value(data[index]) < 16


def fixup_radix(data: bytes, base: int) -> tuple[int, int]:
    """_parse_integer_fixup_radix: (the base, how many prefix bytes to skip)."""
    if base == 0:
        if data[:1] == b"0":
            # "0x" needs a hex digit after it to mean hex; "0x" alone is octal 0
            # followed by junk, exactly as the kernel reads it.
            if data[1:2] in (b"x", b"X") and _is_xdigit(data, 2):
                base = 16
            else:
                base = 8
        else:
            base = 10
    if base == 16 and data[:1] == b"0" and data[1:2] in (b"x", b"X"):
        return base, 2
    return base, 0


def parse_integer(data: bytes, base: int) -> tuple[int, int, bool]:
    """_parse_integer: (value mod 2**64, digits consumed, overflowed)."""
    value = 0
    count = 0
    for byte in data:
        digit = _digit_value(byte)
        if digit >= base:
            break
        value = value * base + digit
        count += 1
    return value & U64_MAX, count, value > U64_MAX


def kstrtoull(data: bytes, base: int) -> int:
    """kstrtoull(): an optional ``+``, digits, one optional ``\\n``, nothing else."""
    skip = 1 if data[:1] == b"+" else 0
    return _kstrtoull(data, base, skip)


def _kstrtoull(data: bytes, base: int, start: int) -> int:
    body = data[start:]
    base, prefix = fixup_radix(body, base)
    value, count, overflow = parse_integer(body[prefix:], base)
    end = start + prefix + count
    # The kernel checks overflow before it looks at what follows the digits.
    if overflow:
        raise ParseError("number out of range", start, errno=errno.ERANGE)
    if count == 0:
        raise ParseError("no digits", end)
    if data[end : end + 1] == b"\n":
        end += 1
    if end != len(data):
        raise ParseError("junk after the number", end)
    return value


def kstrtoint(data: bytes, base: int) -> int:
    """kstrtoint(): kstrtoll with a leading ``-`` or ``+``, then the int range (ERANGE)."""
    if data[:1] == b"-":
        magnitude = _kstrtoull(data, base, 1)
        if magnitude > 1 << 63:
            raise ParseError("number out of range", 0, errno=errno.ERANGE)
        value = -magnitude
    else:
        value = kstrtoull(data, base)
        if value >= 1 << 63:
            raise ParseError("number out of range", 0, errno=errno.ERANGE)
    if not -(1 << 31) <= value < 1 << 31:
        raise ParseError("number out of range", 0, errno=errno.ERANGE)
    return value


_MEMPARSE_SHIFTS = {b: 10 * (i + 1) for i, letters in enumerate(
    ("kK", "mM", "gG", "tT", "pP", "eE")) for b in letters.encode()}


def memparse(data: bytes) -> tuple[int, int]:
    """memparse(): (value mod 2**64, bytes consumed). Never fails; no digits is 0.

    simple_strtoull in base 0 (0x hex, leading-0 octal), then one optional
    K/M/G/T/P/E suffix in either case; the shift wraps like a C ``<<=``.
    """
    base, prefix = fixup_radix(data, 0)
    value, count, _ = parse_integer(data[prefix:], base)
    end = prefix + count
    shift = _MEMPARSE_SHIFTS.get(data[end]) if end < len(data) else None
    if shift is not None:
        value = (value << shift) & U64_MAX
        end += 1
    return value, end
