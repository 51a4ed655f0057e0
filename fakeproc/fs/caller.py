"""The calling process, as the real /proc sees it: its thread group and its own files.

FUSE names the caller by thread id (``RequestContext.pid``); ``self`` must
point at the thread group, so the tgid is read from the real
``/proc/<tid>/status``. A caller that is not simulated gets a small
read-only directory of its own whose files are the real ones, passed through.

This is the one place the daemon reads the real /proc while serving. That is
safe only because the daemon never runs where its mount covers /proc (the
mount is bound over /proc in a *private* namespace, the daemon outside it);
a daemon mounted on /proc itself gets ``RealProc(None)``, which reads nothing:
``self`` then names the calling thread and callers get no directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fakeproc.errors import NoSuchProcess, PermissionDenied


@dataclass(frozen=True)
class RealProc:
    """The real /proc at ``root``, or nothing at all when ``root`` is None."""

    root: str | None = "/proc"

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def thread_group(self, tid: int) -> int:
        """The process (thread group) a thread belongs to; the tid itself if unknown."""
        if self.root is None or tid <= 0:
            return tid
        try:
            with open(f"{self.root}/{tid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Tgid:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return tid

    def exists(self, pid: int) -> bool:
        return self.root is not None and os.path.isdir(f"{self.root}/{pid}")

    def owner(self, pid: int) -> tuple[int, int]:
        """(uid, gid) of a real process, as /proc shows them on its directory."""
        if self.root is None:
            raise NoSuchProcess(f"no real process {pid}")
        try:
            st = os.stat(f"{self.root}/{pid}")
        except OSError:
            raise NoSuchProcess(f"no real process {pid}") from None
        return st.st_uid, st.st_gid

    def read(self, pid: int, name: str, *, thread: bool = False) -> bytes:
        """A real process's file, whole (``thread``: its main thread's, under task/)."""
        if self.root is None:
            raise NoSuchProcess(f"no real process {pid}")
        path = f"{self.root}/{pid}/task/{pid}/{name}" if thread else f"{self.root}/{pid}/{name}"
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NoSuchProcess(f"real process {pid} exited") from None
        except ProcessLookupError:
            raise NoSuchProcess(f"real process {pid} exited") from None
        except PermissionError:
            raise PermissionDenied(f"the daemon may not read {path}") from None
