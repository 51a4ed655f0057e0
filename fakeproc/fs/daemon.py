"""Running the file system: mount, serve until unmounted or signalled, clean up.

Mount options: ``default_permissions`` (the kernel checks modes and owners),
``fsname=fakeproc`` and ``subtype=fakeproc`` (the mount shows as
``fakeproc on MNT type fuse.fakeproc``), ``auto_unmount`` (libfuse's
fusermount3 helper unmounts if the daemon dies, even by SIGKILL), and
``allow_other`` on request (other users see the mount at all).

SIGTERM and SIGINT end the main loop (see :mod:`.loop`); the ``finally``
unmounts. The daemon reads nothing under its own mount point, and nothing of
the real /proc while serving, so binding the mount over /proc elsewhere
cannot deadlock it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pyfuse3

from fakeproc.fs.loop import BUSY_POLL_S, serve_requests
from fakeproc.fs.operations import ProcOperations, mount_options

log = logging.getLogger("fakeproc.fs")


def serve(operations: ProcOperations, mountpoint: str, *, allow_other: bool = False,
          busy_poll_s: float = BUSY_POLL_S, on_mounted: Callable[[], None] | None = None) -> None:
    """Mount ``operations`` on ``mountpoint`` and serve until unmounted or signalled.

    ``busy_poll_s``: how long to poll for the next request before sleeping
    (see :mod:`.loop`). ``on_mounted`` runs once the mount exists (the CLI's
    readiness report). Raises RuntimeError when libfuse cannot mount.
    """
    pyfuse3.init(operations, mountpoint, mount_options(allow_other=allow_other))
    log.info("mounted on %s", mountpoint)
    try:
        if on_mounted is not None:
            on_mounted()
        serve_requests(helper_busy=operations.forgetter.busy, busy_poll_s=busy_poll_s)
    finally:
        operations.forgetter.close()  # its notifications need the session
        pyfuse3.close(unmount=True)
        log.info("unmounted %s", mountpoint)
