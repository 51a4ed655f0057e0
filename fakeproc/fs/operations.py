"""The pyfuse3 adapter: each handler decodes a request, calls one function, encodes.

Every handler goes through :func:`_handler`: a FUSEError passes through, a
FakeprocError becomes its errno (via :func:`fakeproc.errors.errno_of`, the one
mapping), and anything else is logged with its traceback and answered with
EIO, so one bug costs one request, not the mount.

The handlers run one request at a time on one thread (:mod:`.loop` drives
pyfuse3's loop) and none of them needs to wait for anything, so they are
plain functions that :func:`_handler` turns into the coroutines pyfuse3
awaits: each runs to completion without interleaving, and no locks are needed.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pyfuse3

from fakeproc import render
from fakeproc.engine.types import TICKS_PER_SECOND, Process
from fakeproc.errors import (
    FakeprocError,
    InvalidArgument,
    NoSuchProcess,
    PermissionDenied,
    errno_of,
)
from fakeproc.fs import tree
from fakeproc.fs.caller import RealProc
from fakeproc.fs.handles import LineBuffer, Snapshot, check_pagemap_window
from fakeproc.fs.invalidate import PidForgetter

if TYPE_CHECKING:
    from fakeproc.control import Controller, EventLog
    from fakeproc.engine import Machine

log = logging.getLogger("fakeproc.fs")

# How long the kernel may trust what a lookup or getattr said: a second,
# which spares a LOOKUP of the pid per path walk and a getattr per path
# component and permission check. A simulated pid's directory is trusted too:
# when its process goes (exit, OOM kill, a respawned pid) the daemon
# invalidates the kernel's copy before the request that did it returns (see
# .invalidate), so an exited pid still vanishes at once. A caller's own
# directory is looked up afresh every time (nothing tells the daemon when a
# real process exits), and sim/events' attributes too: its size grows and
# `tail -f` polls it.
CALLER_DIR_TIMEOUT_S = 0.0
TIMEOUT_S = 1.0

PidRenderer = Callable[["Machine", int], bytes]
GlobalRenderer = Callable[["Machine"], bytes]

# Per-pid files rendered whole; the fault-injection test replaces one entry.
PID_RENDERERS: dict[str, PidRenderer] = {
    "smaps": render.render_smaps,
    "smaps_rollup": render.render_smaps_rollup,
    "maps": render.render_maps,
    "status": render.render_status,
    "statm": render.render_statm,
    "stat": render.render_stat,
    "cmdline": render.render_cmdline,
    "comm": render.render_comm,
    "oom_score_adj": render.render_oom_score_adj,
    "oom_score": render.render_oom_score,
    "environ": render.render_environ,
}
GLOBAL_RENDERERS: dict[str, GlobalRenderer] = {
    "meminfo": render.render_meminfo,
    "vmstat": render.render_vmstat,
    "swaps": render.render_swaps,
    "stat": render.render_global_stat,
    "uptime": render.render_uptime,
    "loadavg": render.render_loadavg,
    "pid_max": render.render_pid_max,
    "osrelease": render.render_osrelease,
    "ostype": render.render_ostype,
    "cpuinfo": render.render_cpuinfo,
}

T = TypeVar("T")


def _summary(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _handler(fn: Callable[..., T]) -> Callable[..., Coroutine[Any, Any, T]]:
    """The coroutine pyfuse3 awaits, around a plain function: translate errors,
    never let one escape. (Request logging, for --verbose, is added per mount:
    see :meth:`ProcOperations._log_requests`.)"""

    @functools.wraps(fn)
    async def wrapper(*args: Any) -> T:  # pyfuse3 passes every argument by position
        try:
            return fn(*args)
        except pyfuse3.FUSEError:
            raise
        except Exception as exc:
            raise _fuse_error(exc, fn.__name__) from None

    wrapper.__fakeproc_handler__ = True  # type: ignore[attr-defined]
    return wrapper


def _fuse_error(exc: Exception, handler: str) -> pyfuse3.FUSEError:
    """The FUSEError that answers ``exc``; an unexpected one is logged, and is EIO."""
    if not isinstance(exc, FakeprocError):
        log.exception("unexpected error in %s; answering EIO", handler)
    return pyfuse3.FUSEError(errno_of(exc))


def _logging_request(name: str, serve: Callable[..., Coroutine[Any, Any, T]],
                     ) -> Callable[..., Coroutine[Any, Any, T]]:
    async def logged(*args: Any) -> T:
        log.debug("request %s %s", name, " ".join(_summary(a) for a in args if not _is_ctx(a)))
        return await serve(*args)
    return logged


def _is_ctx(value: object) -> bool:
    return isinstance(value, pyfuse3.RequestContext | pyfuse3.SetattrFields | pyfuse3.ReaddirToken)


@dataclass(slots=True)
class Handle:
    """One open file: what it is, for which process, and its read/write state.

    Every open builds one, so the read and write state is built on first use:
    a file is either read or written, most only once.
    """

    node: tree.Node
    process: Process | None  # the process as it was at open (pid files only)
    privileged: bool  # the opener was uid 0: pagemap shows PFNs
    caller: bool = False  # a real caller's own entry: its bytes come from the real /proc
    lines_run: int = 0  # control lines this handle has handed over so far
    _snapshot: Snapshot | None = None
    _lines: LineBuffer | None = None

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = Snapshot()
        return self._snapshot

    @property
    def lines(self) -> LineBuffer:
        if self._lines is None:
            self._lines = LineBuffer()
        return self._lines


class ProcOperations(pyfuse3.Operations):
    """The procfs tree over one Machine, its Controller and its EventLog."""

    supports_dot_lookup = False
    enable_writeback_cache = False  # errors of cached writes would be lost
    enable_acl = False

    def __init__(self, machine: Machine, controller: Controller, events: EventLog, *,
                 owner_uid: int, owner_gid: int, real_proc: RealProc | None = None,
                 forgetter: PidForgetter | None = None, log_requests: bool = False) -> None:
        super().__init__()
        self.machine = machine
        self.controller = controller
        self.events = events
        self.owner_uid = owner_uid
        self.owner_gid = owner_gid
        self.real_proc = real_proc if real_proc is not None else RealProc()
        self.mount_ns = time.time_ns()
        self._handles: dict[int, Handle] = {}
        self._smaps = render.SmapsRenderer()  # re-formats only VMAs that changed
        self._renderings: dict[tuple[Callable[..., bytes], int | None], bytes] = {}
        self._rendered_version = -1
        self._fh_numbers = itertools.count(1)
        self._events_size = 0
        self._events_mtime_ns = self.mount_ns
        # Pids whose directory the kernel may have cached, with the process it showed.
        self._kernel_pids: dict[int, Process] = {}
        self._kernel_pids_ended = machine.ended
        self.forgetter = forgetter if forgetter is not None else PidForgetter()
        if log_requests:
            self._log_requests()

    def _log_requests(self) -> None:
        """Log one line per request, at DEBUG (--verbose): this mount's handlers are
        wrapped, so a mount without it pays nothing for it."""
        for name, member in vars(ProcOperations).items():
            if getattr(member, "__fakeproc_handler__", False):
                setattr(self, name, _logging_request(name, getattr(self, name)))

    # -- helpers --------------------------------------------------------------

    def _node(self, inode: int) -> tree.Node:
        return self._resolve(inode)[0]

    def _resolve(self, inode: int) -> tuple[tree.Node, Process | None]:
        """The node of ``inode`` and its live simulated process (None outside pid
        directories and for a real caller's own); ENOENT if it names nothing now."""
        node = tree.node_of(inode)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if node.pid is None:
            return node, None
        process = self.machine.live_process(node.pid)
        if process is None and not self._is_caller_node(node):
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node, process

    def _is_caller_node(self, node: tree.Node) -> bool:
        """A node of a real, not simulated process's own directory (see lookup for who)."""
        return (node.pid is not None and node.entry.caller and not self._alive(node.pid)
                and self.real_proc.exists(node.pid))

    def _alive(self, pid: int) -> bool:
        return self._live_process(pid) is not None

    def _live_process(self, pid: int | None) -> Process | None:
        """The simulated process behind ``pid``, if there is one."""
        return None if pid is None else self.machine.live_process(pid)

    def _process(self, handle: Handle) -> Process:
        """The live process behind a handle; ESRCH once it exited (even if its pid is reused)."""
        assert handle.node.pid is not None
        current = self.machine.process(handle.node.pid)
        if handle.process is not None and not _same_process(current, handle.process):
            raise NoSuchProcess(f"process {handle.node.pid} exited")
        return current

    def _attributes(self, node: tree.Node) -> pyfuse3.EntryAttributes:
        entry = node.entry
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = node.inode
        attrs.st_mode = entry.st_mode
        attrs.st_nlink = 2 if entry.is_dir else 1
        attrs.st_size = 0  # procfs files report 0; events reports its true size below
        attrs.st_blksize = 4096
        attrs.st_blocks = 0
        time_ns = self.mount_ns
        entry_timeout = attr_timeout = TIMEOUT_S
        if node.pid is not None and not self._alive(node.pid):
            # A caller's own directory: read-only, owned as the real process is.
            attrs.st_uid, attrs.st_gid = self.real_proc.owner(node.pid)
            attrs.st_mode &= ~0o222
            entry_timeout = attr_timeout = CALLER_DIR_TIMEOUT_S
        elif node.pid is not None:
            process = self.machine.process(node.pid)
            attrs.st_uid, attrs.st_gid = process.uid, process.gid
            start_s = self.machine.config.btime + process.start_tick / TICKS_PER_SECOND
            time_ns = int(start_s * 1_000_000_000)
            if entry is tree.PID_DIR:
                self._kernel_pids[node.pid] = process
        elif node.in_sim:
            attrs.st_uid, attrs.st_gid = self.owner_uid, self.owner_gid
        else:
            attrs.st_uid = attrs.st_gid = 0
        if entry.source == "events":
            # tail -f polls st_size and st_mtime: both must be true.
            size = self.events.size
            if size != self._events_size:
                self._events_size = size
                self._events_mtime_ns = time.time_ns()
            attrs.st_size = size
            attrs.st_blocks = (size + 511) // 512
            time_ns = self._events_mtime_ns
            attr_timeout = 0.0
        attrs.st_atime_ns = attrs.st_mtime_ns = attrs.st_ctime_ns = time_ns
        attrs.entry_timeout = entry_timeout
        attrs.attr_timeout = attr_timeout
        return attrs

    def _forget_gone_pids(self) -> None:
        """After a change to the machine, make the kernel forget the pids whose process went.

        A pid counts as gone when it has no process or another one than the
        kernel was shown (a respawned pid may have another owner).
        """
        if self._kernel_pids_ended == self.machine.ended:
            return  # no process ended, so none of these pids went or was reused
        self._kernel_pids_ended = self.machine.ended
        gone = [pid for pid, process in self._kernel_pids.items()
                if not self._is_live(pid, process)]
        if gone:
            for pid in gone:
                del self._kernel_pids[pid]
            self.forgetter.forget(gone)

    def _is_live(self, pid: int, process: Process) -> bool:
        try:
            return self.machine.process(pid) is process
        except NoSuchProcess:
            return False

    def _run_ctl(self, handle: Handle, text: bytes) -> None:
        # Number lines across the writes of one handle, so sim/error's
        # "line N" counts from the first line written through this fd.
        first_line = handle.lines_run + 1
        handle.lines_run += text.count(b"\n")
        self.controller.run_text(text.decode("utf-8", "replace"), first_line=first_line)

    # -- directory requests ---------------------------------------------------

    @_handler
    def lookup(self, parent_inode: int, name: bytes,
               ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        found = tree.child_inode(parent_inode, name.decode("utf-8", "replace"))
        if found is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        inode, pid = found
        if (parent_inode == tree.ROOT_INODE and pid is not None and not self._alive(pid)
                and pid != self.real_proc.thread_group(ctx.pid)):
            # Only the caller itself sees a directory for a real process.
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes(self._node(inode))

    @_handler
    def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        node = self._node(inode)
        if node.entry.source != "self":
            raise pyfuse3.FUSEError(errno.EINVAL)
        # ctx.pid is the calling thread: self names its thread group.
        return str(self.real_proc.thread_group(ctx.pid)).encode()

    @_handler
    def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._attributes(self._node(inode))

    @_handler
    def setattr(self, inode: int, attr: pyfuse3.EntryAttributes,
                fields: pyfuse3.SetattrFields, fh: int | None,
                ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        # O_TRUNC and `truncate -s0` arrive here: accepted and ignored, as procfs
        # does. Changing owner or mode is refused, as proc_setattr does.
        if fields.update_mode or fields.update_uid or fields.update_gid:
            raise pyfuse3.FUSEError(errno.EPERM)
        return self._attributes(self._node(inode))

    @_handler
    def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        node = self._node(inode)
        if not node.entry.is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    @_handler
    def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        node = self._node(fh)
        pids = self.machine.pids() if fh == tree.ROOT_INODE else []
        caller = node.pid is not None and not self._alive(node.pid)
        for key, name, inode in tree.list_dir(node.inode, pids, caller=caller):
            if key <= start_id:
                continue
            child = tree.node_of(inode)
            assert child is not None
            if not pyfuse3.readdir_reply(token, name.encode(), self._attributes(child), key):
                return

    @_handler
    def releasedir(self, fh: int) -> None:
        return None

    @_handler
    def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        return None  # inode numbers are computed, so there is nothing to free

    @_handler
    def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_namemax = 255
        return data

    # -- file requests --------------------------------------------------------

    @_handler
    def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        node, process = self._resolve(inode)
        entry, pid = node.entry, node.pid
        if entry.is_dir:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if pid is not None and entry.ptrace:
            owner_uid = process.uid if process is not None else self.real_proc.owner(pid)[0]
            if ctx.uid not in (0, owner_uid):
                # Mode bits cannot express the kernel's ptrace check; do it here.
                raise PermissionDenied(f"uid {ctx.uid} may not open {entry.name} of {pid}")
        fh = next(self._fh_numbers)
        self._handles[fh] = Handle(node, process, privileged=ctx.uid == 0,
                                   caller=pid is not None and process is None)
        return pyfuse3.FileInfo(fh=fh, direct_io=True, keep_cache=False)

    @_handler
    def read(self, fh: int, off: int, size: int) -> bytes:
        handle = self._handles[fh]
        entry, pid = handle.node.entry, handle.node.pid
        source = entry.source
        if not entry.readable:
            raise InvalidArgument(f"{entry.name} is write-only")
        if source == "events":
            return self.events.read(off, size)
        if source == "pagemap":
            check_pagemap_window(off, size)
            assert pid is not None
            self._process(handle)
            return render.render_pagemap(self.machine, pid, off, size,
                                         privileged=handle.privileged)
        return handle.snapshot.read(off, size, lambda: self._render(handle))

    def _render(self, handle: Handle) -> bytes:
        entry, pid = handle.node.entry, handle.node.pid
        if pid is not None and handle.caller:
            return self.real_proc.read(pid, entry.name, thread=handle.node.in_thread)
        if pid is not None:
            self._process(handle)
            renderer = PID_RENDERERS[entry.name]
            if renderer is render.render_smaps:
                return self._smaps.render(self.machine, pid)
            return self._rendered((renderer, pid), lambda: renderer(self.machine, pid))
        if entry.source == "clock":
            return f"{self.machine.tick}\n".encode()
        if entry.source == "error":
            return _error_text(self.controller.last_error)
        global_renderer = GLOBAL_RENDERERS[entry.name]
        return self._rendered((global_renderer, None), lambda: global_renderer(self.machine))

    def _rendered(self, key: tuple[Callable[..., bytes], int | None],
                  render_now: Callable[[], bytes]) -> bytes:
        """A renderer's bytes, formatted once per machine version.

        Renderers are pure functions of the machine, and every change to it
        bumps ``machine.version``: readers that poll an idle machine (``top``,
        ``ps``, a monitor re-reading status) get the text of the last change.
        """
        if self._rendered_version != self.machine.version:
            self._rendered_version = self.machine.version
            self._renderings.clear()
        data = self._renderings.get(key)
        if data is None:
            data = self._renderings[key] = render_now()
        return data

    @_handler
    def write(self, fh: int, off: int, buf: bytes) -> int:
        # Even a failed write may have changed the machine (the control
        # lines before a failing one stay done).
        try:
            return self._write(self._handles[fh], buf)
        finally:
            self._forget_gone_pids()

    def _write(self, handle: Handle, buf: bytes) -> int:
        # The offset is ignored: `echo x >> file` must act like `echo x > file`.
        source, pid = handle.node.entry.source, handle.node.pid
        if source == "ctl":
            lines = handle.lines.feed(buf)
            if lines:
                try:
                    self._run_ctl(handle, lines)
                except FakeprocError:
                    handle.lines.discard()  # the rest of a rejected write goes with it
                    raise
            return len(buf)
        if pid is None or not handle.node.entry.writable:
            raise InvalidArgument(f"{handle.node.entry.name} is not writable")
        if handle.caller:
            raise PermissionDenied(f"{pid}/{handle.node.entry.name} of a real caller is read-only")
        # As the kernel's handlers: parse (EINVAL) first, then find the process (ESRCH).
        if source == "reclaim":
            return self.controller.write_reclaim(pid, buf, opened=handle.process)
        if source == "clear_refs":
            return self.controller.write_clear_refs(pid, buf, opened=handle.process)
        if source == "oom_score_adj":
            return self.controller.write_oom_score_adj(pid, buf, opened=handle.process)
        # comm: only a thread of the process itself may rename it; through the
        # mount every writer is another process, so the kernel answer is EINVAL.
        self._process(handle)
        raise InvalidArgument("comm can only be changed by the process itself")

    @_handler
    def flush(self, fh: int) -> None:
        # ENOSYS once, and the kernel sends no FLUSH again on this mount: every
        # close(2) saves a round trip, as procfs, whose close never fails.
        # sim/ctl's unfinished last line runs at release instead.
        raise pyfuse3.FUSEError(errno.ENOSYS)

    @_handler
    def release(self, fh: int) -> None:
        # The last close of a sim/ctl fd runs its unfinished last line. The
        # kernel queues RELEASE before close(2) returns, so the closer's next
        # request sees the line done (but a pid directory the kernel cached
        # is only invalidated once the daemon gets here: see docs/usage.md).
        handle = self._handles.pop(fh, None)
        if handle is not None and handle.node.entry.source == "ctl":
            rest = handle.lines.take_rest()
            if rest:
                try:
                    self._run_ctl(handle, rest + b"\n")
                except FakeprocError as exc:
                    # Nobody waits for release's answer; sim/error has the words.
                    log.info("control line at release failed: %s", exc)
                finally:
                    self._forget_gone_pids()

    @_handler
    def fsync(self, fh: int, datasync: bool) -> None:
        return None


def _same_process(current: Process, opened: Process) -> bool:
    """Is the live process behind a pid the one a handle was opened on?

    The engine hands out its live Process objects, and a respawned pid gets
    a new one: identity tells a reused pid from the process a handle saw.
    """
    return current is opened


def _error_text(value: Any) -> bytes:
    if not value:
        return b""
    text = value if isinstance(value, bytes) else str(value).encode()
    return text if text.endswith(b"\n") else text + b"\n"


def mount_options(*, allow_other: bool) -> set[str]:
    """The FUSE mount options (see module docs of fakeproc.fs.daemon)."""
    options = {"fsname=fakeproc", "subtype=fakeproc", "default_permissions", "auto_unmount"}
    if allow_other:
        options.add("allow_other")
    return options


__all__ = ["GLOBAL_RENDERERS", "PID_RENDERERS", "ProcOperations", "mount_options"]
