"""Telling the kernel to forget pid directories whose process is gone.

A pid directory's entry and attributes are cached by the kernel for a while
(a path walk then costs no LOOKUP of the pid), so when its process exits, is
OOM-killed or is replaced by a new process with the same pid, the daemon
must invalidate the kernel's copy before the request that caused it returns:
"an exited pid vanishes at once".

The kernel's entry invalidation takes the parent directory's lock, which a
client's LOOKUP in the root holds while it waits for this single-threaded
daemon: called from a handler it could deadlock. So a helper thread sends
the notifications (pyfuse3's notify functions release the GIL, and libfuse's
are thread-safe) while the handler waits for it, but only for a short
while: when contended, the handler returns, the daemon serves the blocking
LOOKUP (ENOENT for a dead pid) and the notification completes after it.
"""

from __future__ import annotations

import errno
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyfuse3

from fakeproc.fs import tree
from fakeproc.fs.loop import start_without_loop_signals

log = logging.getLogger("fakeproc.fs")

# Uncontended, a notification takes microseconds; contended, it waits for a
# request this daemon has yet to serve, so waiting longer would only stall.
WAIT_S = 0.1

ForgetEntry = Callable[[int, bytes], None]
ForgetInode = Callable[[int], None]


def _kernel_forget_entry(parent_inode: int, name: bytes) -> None:
    pyfuse3.invalidate_entry(parent_inode, name)


def _kernel_forget_inode(inode: int) -> None:
    pyfuse3.invalidate_inode(inode, attr_only=True)


@dataclass
class _Batch:
    pids: Sequence[int]
    done: threading.Event = field(default_factory=threading.Event)


class PidForgetter:
    """Invalidates the kernel's cached pid directory entries and attributes, off the loop."""

    def __init__(self, forget_entry: ForgetEntry = _kernel_forget_entry,
                 forget_inode: ForgetInode = _kernel_forget_inode, wait_s: float = WAIT_S) -> None:
        self._forget_entry = forget_entry
        self._forget_inode = forget_inode
        self._wait_s = wait_s
        self._batches: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._last: _Batch | None = None
        self._thread: threading.Thread | None = None

    def busy(self) -> bool:
        """Has the helper thread work left? (It serves batches in order.)"""
        return self._last is not None and not self._last.done.is_set()

    def forget(self, pids: Sequence[int]) -> bool:
        """Invalidate these pids' directories; True if done before the short wait ran out."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve, name="fakeproc-invalidate",
                                            daemon=True)
            start_without_loop_signals(self._thread)
        batch = self._last = _Batch(pids)
        self._batches.put(batch)
        done = batch.done.wait(self._wait_s)
        if not done:
            log.debug("invalidation of pids %s is contended; it completes later", list(pids))
        return done

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the helper thread (before the FUSE session goes away)."""
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("a pid invalidation is still blocked in the kernel at unmount")
            self._thread = None

    def _serve(self) -> None:
        while (batch := self._batches.get()) is not None:
            try:
                for pid in batch.pids:
                    self._forget_pid(pid)
            except Exception:  # keep serving: a dead helper would stall every write
                log.exception("invalidating pids %s", list(batch.pids))
            finally:
                batch.done.set()

    def _forget_pid(self, pid: int) -> None:
        # ENOENT: the kernel had already dropped it (or never kept it).
        try:
            self._forget_entry(tree.ROOT_INODE, str(pid).encode())
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("invalidating the entry of pid %d: %s", pid, exc)
        try:
            self._forget_inode(tree.pid_inode(pid))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("invalidating the attributes of pid %d: %s", pid, exc)
