"""Engine worlds for the renderer tests, built only through the engine's public API."""

from __future__ import annotations

from hypothesis import strategies as st

from fakeproc.engine import Machine, MachineConfig

K = 1024
M = 1024 * K
PAGE = 4096

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
APP = "/system/bin/app_process64"


def _load_program(m: Machine, pid: int, base: int) -> None:
    """An executable's text, rodata and data, libc, a heap and a stack, as exec leaves them."""
    m.mmap(pid, base, 8 * K, "file", path=APP, perms="r--p")
    m.mmap(pid, base + 8 * K, 20 * K, "file", path=APP, perms="r-xp", offset=8 * K)
    m.mmap(pid, base + 28 * K, 4 * K, "file", path=APP, perms="rw-p", offset=28 * K)
    m.mmap(pid, base + 1 * M, 132 * K, "anon", name="[heap]")
    m.mmap(pid, 0x7F0000000000, 160 * K, "file", path=LIBC, perms="r--p")
    m.mmap(pid, 0x7F0000028000, 1368 * K, "file", path=LIBC, perms="r-xp", offset=160 * K)
    m.mmap(pid, 0x7F000017E000, 8 * K, "file", path=LIBC, perms="rw-p", offset=1528 * K)
    m.mmap(pid, 0x7FFD00000000, 132 * K, "anon", name="[stack]")
    m.touch(pid, base, 32 * K)
    m.touch(pid, base + 28 * K, 4 * K, write=True)
    m.touch(pid, 0x7F0000000000, 64 * K)
    m.touch(pid, 0x7F0000028000, 256 * K)
    m.touch(pid, 0x7F000017E000, 8 * K, write=True)
    m.touch(pid, 0x7FFD00000000 + 120 * K, 12 * K, write=True)
    m.touch(pid, base + 1 * M, 16 * K, write=True)


def small_world(*, swap_kind: str = "disk") -> Machine:
    """The golden world: a zygote, a forked app with every kind of mapping, some swap."""
    m = Machine(MachineConfig(ram_bytes=256 * M, swap_bytes=64 * M,
                              swap_kind=swap_kind))  # type: ignore[arg-type]
    m.spawn(1, "init", cmdline=("/sbin/init",), exe="/sbin/init")
    m.mmap(1, 0x555555554000, 16 * K, "file", path="/sbin/init", perms="r-xp")
    m.touch(1, 0x555555554000, 16 * K)
    m.advance(150)
    m.spawn(100, "zygote64", ppid=1, cmdline=(APP, "-Xzygote", "--start-system-server"),
            exe=APP)
    _load_program(m, 100, 0x5600_0000_0000)
    m.mmap(100, 0x7E0000000000, 4 * M, "anon", name="dalvik-main space")
    m.touch(100, 0x7E0000000000, 1 * M, write=True)
    m.advance(250)
    m.fork(100, 200, comm="com.example.browser.tab")
    m.set_oom_score_adj(200, 700)
    # The child writes part of the inherited heap (copy on write) and maps its own.
    m.touch(200, 0x7E0000000000, 256 * K, write=True)
    m.mmap(200, 0x7E1000000000, 2 * M, "shmem", name="tab-ashmem")
    m.touch(200, 0x7E1000000000, 512 * K, write=True)
    m.mmap(200, 0x7E2000000000, 1 * M, "shmem")
    m.touch(200, 0x7E2000000000, 64 * K)
    m.mmap(200, 0x7E4000000000, 4 * M, "hugetlb", perms="rw-s")
    m.touch(200, 0x7E4000000000, 2 * M, write=True)
    m.mmap(200, 0x7E5000000000, 64 * K, "anon", name="locked")
    m.mlock(200, 0x7E5000000000, 64 * K)
    m.mmap(200, 0x7E6000000000, 1 * M, "anon")
    m.touch(200, 0x7E6000000000, 512 * K, write=True)
    m.touch(200, 0x7E6000000000 + 512 * K, 128 * K)  # reads map the zero page
    m.mmap(200, 0x7E7000000000, 64 * K, "file", path="/data/app/tab.db", perms="rw-s")
    m.touch(200, 0x7E7000000000, 32 * K, write=True)
    m.advance(100)
    # Per-process reclaim: part of the anon heap goes to swap, the file cache shrinks.
    m.reclaim_range(200, 0x7E6000000000, 0x7E6000000000 + 256 * K)
    m.reclaim(200, "file")
    m.advance(20)
    return m


def no_swap_world() -> Machine:
    """One process, no swap device: swaps shows the header only."""
    m = Machine(MachineConfig(ram_bytes=64 * M, swap_bytes=0))
    m.spawn(42, "solo", cmdline=("solo",))
    m.mmap(42, 0x10000000, 256 * K, "anon")
    m.touch(42, 0x10000000, 128 * K, write=True)
    m.reclaim(42, "anon")  # no swap: nothing leaves
    m.advance(7)
    return m


def empty_world() -> Machine:
    """A process with no mappings at all (an mm without VMAs)."""
    m = Machine(MachineConfig(ram_bytes=32 * M, swap_bytes=8 * M, swap_kind="zram"))
    m.spawn(5, "empty")
    return m


WORLDS = {
    "small": small_world,
    "small_zram": lambda: small_world(swap_kind="zram"),
    "no_swap": no_swap_world,
    "empty": empty_world,
}


# --- Hypothesis worlds: a few processes, random mappings and operations ----

_SLOT = 4 * M  # each generated mapping gets its own 4 MiB slot: no overlaps


@st.composite
def random_worlds(draw: st.DrawFn) -> Machine:
    """A machine after a random but valid sequence of operations."""
    swap_pages = draw(st.sampled_from([0, 512, 4096]))
    m = Machine(MachineConfig(ram_bytes=16 * M, swap_bytes=swap_pages * PAGE,
                              swap_kind=draw(st.sampled_from(["disk", "zram"])),
                              seed=draw(st.integers(0, 3))))
    m.spawn(10, "parent", exe="/bin/p")
    pids = [10]
    n_maps = draw(st.integers(1, 6))
    for i in range(n_maps):
        kind = draw(st.sampled_from(["anon", "shmem", "file", "hugetlb"]))
        pages = draw(st.integers(1, 64)) if kind != "hugetlb" else 512
        addr = 0x100000000 + i * _SLOT
        path = draw(st.sampled_from(["/bin/p", "/lib/a.so", "/data/f"])) if kind == "file" else None
        perms = draw(st.sampled_from(["rw-p", "r--p", "r-xp", "rw-s", "r--s"])) \
            if kind == "file" else None
        m.mmap(10, addr, pages * PAGE, kind, path=path, perms=perms)
        writable = perms is None or perms[1] == "w"
        touched = draw(st.integers(0, pages))
        if touched:
            m.touch(10, addr, touched * PAGE, write=writable and draw(st.booleans()))
    if draw(st.booleans()):
        m.fork(10, 11)
        pids.append(11)
    for _ in range(draw(st.integers(0, 4))):
        pid = draw(st.sampled_from(pids))
        vmas = m.process(pid).vmas
        vma = draw(st.sampled_from(vmas))
        op = draw(st.sampled_from(["write", "reclaim", "range", "mlock", "tick", "clear"]))
        if op == "write" and vma.perms[1] == "w":
            m.touch(pid, vma.start, vma.size, write=True)
        elif op == "reclaim":
            m.reclaim(pid, draw(st.sampled_from(["file", "anon", "all"])))
        elif op == "range":
            m.reclaim_range(pid, vma.start, vma.end)
        elif op == "mlock" and vma.kind != "hugetlb":
            m.mlock(pid, vma.start, vma.size)
        elif op == "tick":
            m.advance(draw(st.integers(1, 600)))
        elif op == "clear":
            m.clear_refs(pid, draw(st.integers(1, 5)))
    return m
