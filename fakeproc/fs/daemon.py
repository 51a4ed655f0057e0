"""Running the file system: mount, serve until unmounted or signalled, clean up.

Mount options: ``default_permissions`` (the kernel checks modes and owners),
``fsname=fakeproc`` and ``subtype=fakeproc`` (the mount shows as
``fakeproc on MNT type fuse.fakeproc``), ``auto_unmount`` (libfuse's
fusermount3 helper unmounts if the daemon dies, even by SIGKILL), and
``allow_other`` on request (other users see the mount at all).

SIGTERM and SIGINT end the main loop; the ``finally`` unmounts. The daemon
reads nothing under its own mount point, and nothing of the real /proc while
serving, so binding the mount over /proc elsewhere cannot deadlock it.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import pyfuse3
import trio

from fakeproc.fs.operations import ProcOperations, mount_options

log = logging.getLogger("fakeproc.fs")


async def _serve_until_done() -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_terminate_on_signal)
        await pyfuse3.main()
        # The loop ended by an unmount: stop waiting for signals.
        nursery.cancel_scope.cancel()


async def _terminate_on_signal() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("signal %d: unmounting", signum)
            pyfuse3.terminate()
            return


def serve(operations: ProcOperations, mountpoint: str, *, allow_other: bool = False,
          on_mounted: Callable[[], None] | None = None) -> None:
    """Mount ``operations`` on ``mountpoint`` and serve until unmounted or signalled.

    ``on_mounted`` runs once the mount exists (the CLI's readiness report).
    Raises RuntimeError when libfuse cannot mount.
    """
    pyfuse3.init(operations, mountpoint, mount_options(allow_other=allow_other))
    log.info("mounted on %s", mountpoint)
    try:
        if on_mounted is not None:
            on_mounted()
        trio.run(_serve_until_done)
    finally:
        pyfuse3.close(unmount=True)
        log.info("unmounted %s", mountpoint)
