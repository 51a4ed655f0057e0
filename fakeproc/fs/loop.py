"""A one-task driver for pyfuse3's main loop, in place of trio.

pyfuse3 reaches its event loop only through its module attribute ``trio``
(``pyfuse3.asyncio`` swaps in asyncio the same way), and uses little of it: a
lock, a nursery, ``wait_readable`` on the FUSE fd and ``notify_closing``.
fakeproc's handlers never await, so one task serves every request in turn,
and the loop needs no scheduler: this driver runs pyfuse3's coroutines to
completion, and pyfuse3's read of the (blocking) FUSE fd is what sleeps
until the next request, as in libfuse's own single-threaded loop. (Trio
spent three system calls and a scheduler pass on every request.)

Before that read, ``wait_readable`` busy-polls (``busy_poll_s``,
``--busy-poll``): the requests of one operation come a few microseconds
apart (OPEN, WRITE, RELEASE of an ``echo``), and a read that sleeps between
them pays for a wake-up each time, after which the next request runs on
cold caches (on a virtual machine, on a vCPU that halted). So for a few
tens of microseconds after each request the driver polls the FUSE fd
without sleeping, and only then leaves the wait to the read. This is the
trade Linux offers sockets (``net.core.busy_poll``): a little CPU while
requests flow, for latency; an idle daemon does not spin. On a single CPU
the poll would take the CPU the client needs to send the request, so there
the driver never polls. Nor while the CPUs are contended: a spinning daemon
takes CPU from the clients and loses the scheduler's favour for threads
that sleep, so waiting on a busy machine gets slower, not faster
(measured: a fifth slower an op with two CPU hogs running). The driver
counts its thread's involuntary context switches every few dozen requests;
when it was preempted more than a couple of times, it stops polling for a
while, twice as long each time in a row that polling meets contention.
And pyfuse3 reads holding the GIL: while a helper
thread has work (a pid invalidation, fs/invalidate.py), the driver waits in
poll(2), which releases it, instead.

SIGTERM and SIGINT interrupt that read (their handler is installed without
SA_RESTART, so read(2) fails with EINTR and pyfuse3 goes round its loop
again); the handler starts the stop, and a SIGALRM every few milliseconds
re-interrupts the read until the loop sees it, in case the signal came
between the loop's check and its read. Helper threads must block these
signals (:func:`start_without_loop_signals`): a signal taken by another
thread would not interrupt the read.
"""

from __future__ import annotations

import logging
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import pyfuse3

log = logging.getLogger("fakeproc.fs")

_TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Interrupts the blocking read while the loop stops (see the module's docs).
_INTERRUPT = signal.SIGALRM
_INTERRUPT_EVERY_S = 0.01
# While a helper thread is busy, how long each poll lets it run before checking again.
_HELPER_POLL_MS = 10
LOOP_SIGNALS = frozenset({*_TERMINATING_SIGNALS, _INTERRUPT})
_MAX_TASKS = 1  # handlers never await: a second task would only add switches
# After SIGTERM/SIGINT, requests already queued are served for at most this long.
STOP_DRAIN_S = 1.0
# How long to poll for the next request before a read that sleeps (see the module's docs).
BUSY_POLL_S = 50e-6
# Busy polling's look for contention (ContentionBackoff): one every _CHECK_EVERY
# requests; more than _PREEMPTIONS_OK preemptions since the last stop the polling,
# for at most _MAX_BACKOFF times _CHECK_EVERY requests.
_CHECK_EVERY = 64
_PREEMPTIONS_OK = 2
_MAX_BACKOFF = 64


def _preemptions() -> int:
    """Involuntary context switches of the calling thread so far."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


class ContentionBackoff:
    """When to busy-poll: always, unless the thread was preempted while polling.

    Every ``_CHECK_EVERY`` requests it counts the thread's involuntary context
    switches; more than ``_PREEMPTIONS_OK`` since the last look while polling
    mean the CPUs are contended, and polling stops for as many requests
    again, then twice as many each time polling meets contention once more
    (up to ``_MAX_BACKOFF`` times), until a look while polling finds none.
    """

    def __init__(self, preemptions: Callable[[], int] = _preemptions) -> None:
        self._preemptions = preemptions
        self._preempted = preemptions()
        self._polling = True
        self._waits = 0
        self._next_look = _CHECK_EVERY
        self._backoff = 1  # in looks: how long the next stop lasts

    def poll_now(self) -> bool:
        """Busy-poll before this request's read?"""
        self._waits += 1
        if self._waits < self._next_look:
            return self._polling
        preempted = self._preemptions()
        contended = preempted - self._preempted > _PREEMPTIONS_OK
        self._preempted = preempted
        if not self._polling:
            self._polling = True  # the stop is over: try again
        elif contended:
            self._polling = False
        else:
            self._backoff = 1
        if self._polling:
            self._next_look = self._waits + _CHECK_EVERY
        else:
            self._next_look = self._waits + self._backoff * _CHECK_EVERY
            self._backoff = min(2 * self._backoff, _MAX_BACKOFF)
        return self._polling


class ClosedResourceError(Exception):
    """Raised by ``wait_readable`` once the loop is told to stop (pyfuse3 then returns)."""


class _Done(tuple[()]):
    """An awaitable that is already done, with no coroutine to create and run:
    awaiting it iterates an empty tuple, in C. pyfuse3 awaits the lock and
    ``wait_readable`` on every request."""

    if TYPE_CHECKING:
        def __await__(self) -> Generator[None, None, None]: ...
    else:
        __await__ = tuple.__iter__


DONE = _Done()


class Lock:
    """pyfuse3's read lock: with one task it is never contended."""

    def __aenter__(self) -> _Done:
        return DONE

    def __aexit__(self, exc_type: type[BaseException] | None,
                  exc: BaseException | None, tb: TracebackType | None) -> _Done:
        return DONE


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

    def __init__(self, helper_busy: Callable[[], bool] = lambda: False,
                 busy_poll_s: float = 0.0, preemptions: Callable[[], int] = _preemptions,
                 ) -> None:
        self._helper_busy = helper_busy
        self._busy_poll_s = busy_poll_s
        self._poll: select.poll | None = None  # on the FUSE fd, made at the first wait
        self._backoff = ContentionBackoff(preemptions)
        self.lowlevel = self
        self.from_thread = self
        self._closing = False
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
            signal.setitimer(signal.ITIMER_REAL, _INTERRUPT_EVERY_S, _INTERRUPT_EVERY_S)

    def wait_readable(self, fd: int) -> _Done:
        """Done when the read that follows may block; once the loop stops, only
        while requests are still queued.

        Serving, this polls for a request for up to ``busy_poll_s``, and the
        read then blocks until one comes, holding the GIL, so while a helper
        thread is busy this waits in poll instead. Stopping, a
        queued request may hold a lock that a pid invalidation is waiting on:
        what is already queued is served, then the loop ends
        (pyfuse3.terminate calls notify_closing).
        """
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(fd, select.POLLIN)
        poll = self._poll
        while self._serving() and self._helper_busy():
            if poll.poll(_HELPER_POLL_MS):
                return DONE
        if self._busy_poll_s and self._serving() and self._backoff.poll_now():
            deadline = time.perf_counter() + self._busy_poll_s
            # A signal's handler runs between two polls and ends the spin.
            while not poll.poll(0) and self._serving() and time.perf_counter() < deadline:
                pass
        if self._serving():
            return DONE
        stop_by = self._stop_by
        while not self._closing:
            if stop_by is not None and time.monotonic() < stop_by and poll.poll(0):
                return DONE
            pyfuse3.terminate()
        raise ClosedResourceError("the FUSE loop is terminating")

    def _serving(self) -> bool:
        """Neither stopping after a signal nor closing."""
        return self._stop_by is None and not self._closing


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGALRM's handler: its only work is the EINTR it gives the blocking read."""


def start_without_loop_signals(thread: threading.Thread) -> None:
    """Start a helper thread that never takes the loop's signals.

    A signal sent to the process goes to any one thread that does not block
    it; the loop's must reach the loop's thread, to interrupt its read. The
    new thread inherits the mask in force when it starts.
    """
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, LOOP_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def serve_requests(helper_busy: Callable[[], bool] = lambda: False,
                   busy_poll_s: float = BUSY_POLL_S) -> None:
    """Run pyfuse3's main loop with a :class:`Driver` as its trio until unmounted or signalled.

    ``helper_busy`` tells whether a helper thread has work (it needs the
    GIL); ``busy_poll_s`` is how long to poll for the next request before
    sleeping for it (0: never; on a single CPU it is 0 anyway). The previous
    handlers of the loop's signals are restored afterwards.
    """
    if len(os.sched_getaffinity(0)) == 1:
        busy_poll_s = 0.0
    log.info("busy poll: %s", f"{busy_poll_s * 1e6:g} µs" if busy_poll_s else "off")
    driver = Driver(helper_busy, busy_poll_s)
    saved_trio = pyfuse3.trio  # type: ignore[attr-defined]
    saved_handlers = {signum: signal.signal(signum, driver.on_signal)
                      for signum in _TERMINATING_SIGNALS}
    saved_handlers[_INTERRUPT] = signal.signal(_INTERRUPT, _interrupted)
    for signum in LOOP_SIGNALS:
        signal.siginterrupt(signum, True)  # no SA_RESTART: the read must fail with EINTR
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
        signal.setitimer(signal.ITIMER_REAL, 0)
        # Handlers next: a signal now must not reach on_signal with trio back.
        for signum, handler in saved_handlers.items():
            signal.signal(signum, handler)
        pyfuse3.trio = saved_trio  # type: ignore[attr-defined]
