"""Shared for the tools tests: one mount per module, and a scene to reclaim."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakeproc.testing import Mount, MountUnavailable, mounted

ANON, FILE, SHMEM = 0x100000, 0x400000, 0x800000
ANON_SIZE, FILE_SIZE, SHMEM_SIZE = 512 << 10, 256 << 10, 128 << 10

# How each kind of reclaim is asked for (None: no reclaim, the "before" state).
RECLAIMS: dict[str, str | None] = {
    "none": None,
    "file": "file",
    "anon": "anon",
    "all": "all",
    "range": f"{ANON} {ANON_SIZE // 2}",
    "pageout": "madvise",
}


@pytest.fixture(scope="module")
def module_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    """One mount for a module's tests (mounting costs more than the tests themselves)."""
    try:
        with mounted(tmp_path_factory.mktemp("tools"), ram="256M", swap="64M") as m:
            yield m
    except MountUnavailable as exc:
        pytest.skip(str(exc))


def build_scene(m: Mount, pid: int, reclaim: str | None, *, uid: int = 0) -> int:
    """A parent with anon, file and shmem memory and a forked child; reclaim the child.

    Returns the child's pid (pid + 1), whose pages are partly shared with the
    parent, so Pss and the shared/private split are not trivial.
    """
    child = pid + 1
    m.ctl(f"spawn {pid} app{pid} uid={uid} cmdline=app --id {pid}",
          f"mmap {pid} {ANON:#x} {ANON_SIZE} anon name=heapish",
          f"mmap {pid} {FILE:#x} {FILE_SIZE} file=/usr/lib/libscene{pid}.so perms=r-xp",
          f"mmap {pid} {SHMEM:#x} {SHMEM_SIZE} shmem",
          f"touch {pid} {ANON:#x} {ANON_SIZE} write",
          f"touch {pid} {FILE:#x} {FILE_SIZE}",
          f"touch {pid} {SHMEM:#x} {SHMEM_SIZE} write",
          f"fork {pid} {child}",
          # The child writes half its anon memory: those pages become its own.
          f"touch {child} {ANON:#x} {ANON_SIZE // 2} write")
    if reclaim == "madvise":
        m.ctl(f"madvise {child} {ANON:#x} {ANON_SIZE} pageout")
    elif reclaim is not None:
        m.write(f"{child}/reclaim", reclaim)
    return child
