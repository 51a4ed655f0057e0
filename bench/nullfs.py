"""The floor of a Python FUSE daemon: pyfuse3 with handlers that do nothing.

The same two files as the C baseline (``c/minifs.c``): ``/status``, a
status-sized text, and ``/reclaim``, which accepts any write. It is served
by pyfuse3 under fakeproc's own request loop (:mod:`fakeproc.fs.loop`) with
fakeproc's mount options and timeouts, so timed beside fakeproc and the C
file system it tells how much of fakeproc's cost per operation is pyfuse3
and Python (this file system's) and how much is fakeproc's own work (the
rest).

usage: python -m bench.nullfs MOUNTPOINT
"""

from __future__ import annotations

import errno
import stat
import sys

import pyfuse3

from fakeproc.fs.loop import serve_requests
from fakeproc.fs.operations import TIMEOUT_S, mount_options

ROOT = pyfuse3.ROOT_INODE
FILES = {b"status": (ROOT + 1, stat.S_IFREG | 0o444), b"reclaim": (ROOT + 2, stat.S_IFREG | 0o200)}
MODES = {ROOT: stat.S_IFDIR | 0o755, **dict(FILES.values())}
# minifs.c's text: 1,535 bytes, a newline every 40.
STATUS_TEXT = bytes(10 if i % 40 == 39 else ord("x") for i in range(1535))


class NullOperations(pyfuse3.Operations):
    async def lookup(self, parent_inode: int, name: bytes,
                     ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if parent_inode != ROOT or name not in FILES:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return await self.getattr(FILES[name][0], ctx)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if inode not in MODES:
            raise pyfuse3.FUSEError(errno.ENOENT)
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = inode
        attrs.st_mode = MODES[inode]
        attrs.st_nlink = 2 if inode == ROOT else 1
        attrs.entry_timeout = attrs.attr_timeout = TIMEOUT_S
        return attrs

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        return pyfuse3.FileInfo(fh=inode, direct_io=True, keep_cache=False)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return STATUS_TEXT[off:off + size]

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return len(buf)

    async def flush(self, fh: int) -> None:
        raise pyfuse3.FUSEError(errno.ENOSYS)  # as fakeproc: no FLUSH on close

    async def release(self, fh: int) -> None:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    # fakeproc's options (default_permissions, auto_unmount), under another name.
    options = {option for option in mount_options(allow_other=False)
               if not option.startswith(("fsname=", "subtype="))}
    pyfuse3.init(NullOperations(), argv[0], options | {"fsname=nullfs"})
    try:
        serve_requests()
    finally:
        pyfuse3.close(unmount=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
