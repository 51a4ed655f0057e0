"""The error hierarchy, and the one place that maps errors to errno.

Every error fakeproc raises on purpose derives from :class:`FakeprocError`
and carries the errno a kernel would answer with. Each class also subclasses
the builtin it resembles, so callers that know nothing of fakeproc can still
catch it sensibly.
"""

from __future__ import annotations

import errno as _errno


class FakeprocError(Exception):
    """Base of all deliberate fakeproc errors; ``errno`` is what a caller sees."""

    errno: int = _errno.EIO


class InvalidArgument(FakeprocError, ValueError):
    """Raised for input the kernel would refuse with EINVAL."""

    errno = _errno.EINVAL


class ParseError(InvalidArgument):
    """Raised by a parser; ``position`` is the 0-based offset of the fault in the input."""

    def __init__(self, message: str, position: int = 0, *, errno: int = _errno.EINVAL) -> None:
        super().__init__(message)
        self.position = position
        self.errno = errno


class OutOfRange(FakeprocError, OverflowError):
    """Raised when a number does not fit its type (kstrtoint's ERANGE)."""

    errno = _errno.ERANGE


class NoSuchProcess(FakeprocError, LookupError):
    """Raised when a pid names no live simulated process (ESRCH)."""

    errno = _errno.ESRCH


class AlreadyExists(FakeprocError, FileExistsError):
    """Raised when a pid is taken or a mapping would overlap another (EEXIST)."""

    errno = _errno.EEXIST


class OutOfMemory(FakeprocError, MemoryError):
    """Raised when an operation cannot get memory: an OOM kill of the caller, a hole for madvise."""

    errno = _errno.ENOMEM


class BadAddress(FakeprocError, ValueError):
    """Raised for an access outside any mapping or against its permissions (EFAULT)."""

    errno = _errno.EFAULT


class PermissionDenied(FakeprocError, PermissionError):
    """Raised when the caller may not open or change a file (EACCES)."""

    errno = _errno.EACCES


def errno_of(exc: BaseException) -> int:
    """The errno to answer for ``exc``: its own for a FakeprocError, else EIO."""
    if isinstance(exc, FakeprocError):
        return exc.errno
    return _errno.EIO
