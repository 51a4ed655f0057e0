"""A one-task driver for pyfuse3's main loop, in place of trio.

pyfuse3 reaches its event loop only through its module attribute ``trio``
(``pyfuse3.asyncio`` swaps in asyncio the same way), and uses little of it: a
lock, a nursery, ``wait_readable`` on the FUSE fd and ``notify_closing``.
fakeproc's handlers never await, so one task serves every request in turn,
and the loop needs no scheduler: this driver runs pyfuse3's coroutines to
completion and waits for the FUSE fd with one poll(2). Trio spent three
system calls and a scheduler pass on every request, several times the cost
of the handler itself.

SIGTERM and SIGINT reach a waiting poll through a wakeup pipe
(``signal.set_wakeup_fd``); their handler ends the loop with
``pyfuse3.terminate()``.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from collections.abc import Callable, Coroutine
from types import FrameType, TracebackType
from typing import Any

import pyfuse3

log = logging.getLogger("fakeproc.fs")

_TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_MAX_TASKS = 1  # handlers never await: a second task would only add switches
# After SIGTERM/SIGINT, requests already queued are served for at most this long.
STOP_DRAIN_S = 1.0


class ClosedResourceError(Exception):
    """Raised by ``wait_readable`` once the loop is told to stop (pyfuse3 then returns)."""


class Lock:
    """pyfuse3's read lock: with one task it is never contended."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        return None


class _Task:
    name = "fakeproc-fuse"


class _Nursery:
    """Runs each started task to the end, one after the other, when the block ends."""

    def __init__(self) -> None:
        self._waiting: list[Coroutine[Any, Any, Any]] = []

    async def __aenter__(self) -> _Nursery:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        while self._waiting:
            task = self._waiting.pop(0)
            if exc is None:
                await task
            else:
                task.close()  # never started: the loop is failing anyway

    def start_soon(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
                   name: str | None = None) -> None:
        self._waiting.append(fn(*args))


class Driver:
    """Stands in for the ``trio`` module inside pyfuse3 while :func:`serve_requests` runs."""

    ClosedResourceError = ClosedResourceError
    Lock = Lock

    def __init__(self, wakeup_fd: int) -> None:
        self.lowlevel = self
        self.from_thread = self
        self._wakeup_fd = wakeup_fd
        self._closing = False
        self._polls: dict[int, select.poll] = {}
        self.signal: int | None = None  # the signal that ended the loop, if one did
        self._stop_by: float | None = None  # set by a signal: serve the queue until then

    def current_trio_token(self) -> Driver:
        return self

    def current_task(self) -> _Task:
        return _Task()

    def open_nursery(self) -> _Nursery:
        return _Nursery()

    def notify_closing(self, fd: int) -> None:
        self._closing = True

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM and SIGINT: stop once the requests already queued are served."""
        self.signal = signum
        if self._stop_by is None:
            self._stop_by = time.monotonic() + STOP_DRAIN_S

    async def wait_readable(self, fd: int) -> None:
        """Block until ``fd`` has a request (or is gone), or a signal asks the loop to stop."""
        poll = self._polls.get(fd)
        if poll is None:
            poll = self._polls[fd] = select.poll()
            poll.register(fd, select.POLLIN)
            poll.register(self._wakeup_fd, select.POLLIN)
        while not self._closing:
            if self._stop_by is not None:
                # Stopping. A queued request may hold a lock that a pid
                # invalidation (fs/invalidate.py) is waiting on: serve what is
                # already queued, then end the loop (pyfuse3 calls notify_closing).
                if time.monotonic() < self._stop_by and _ready(poll.poll(0), fd):
                    return
                pyfuse3.terminate()
                continue
            # A signal interrupts poll, runs its handler and, through the
            # wakeup pipe, wakes the retried poll at once.
            if _ready(poll.poll(), fd):
                return
            _drain(self._wakeup_fd)
        raise ClosedResourceError("the FUSE loop is terminating")


def _ready(events: list[tuple[int, int]], fd: int) -> bool:
    return fd in [ready_fd for ready_fd, _ in events]  # no generator: once per request


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def serve_requests() -> None:
    """Run pyfuse3's main loop with a :class:`Driver` as its trio until unmounted or signalled.

    The previous SIGTERM and SIGINT handlers and wakeup fd are restored afterwards.
    """
    read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    driver = Driver(read_fd)
    saved_trio = pyfuse3.trio  # type: ignore[attr-defined]
    saved_handlers = {signum: signal.signal(signum, driver.on_signal)
                      for signum in _TERMINATING_SIGNALS}
    saved_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    pyfuse3.trio = driver  # type: ignore[attr-defined]
    try:
        coroutine = pyfuse3.main(max_tasks=_MAX_TASKS)
        try:
            coroutine.send(None)
        except StopIteration:
            if driver.signal is not None:
                log.info("signal %d: unmounting", driver.signal)
            return
        coroutine.close()
        raise RuntimeError("a FUSE handler awaited; the one-task driver cannot suspend it")
    finally:
        # Handlers first: a signal now must not reach on_signal with trio back.
        for signum, handler in saved_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(saved_wakeup)
        pyfuse3.trio = saved_trio  # type: ignore[attr-defined]
        os.close(read_fd)
        os.close(write_fd)
