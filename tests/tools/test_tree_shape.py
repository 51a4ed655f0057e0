"""The tree's new nodes without /dev/fuse: self, sys/, cpuinfo, task/, callers' entries, shell."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fakeproc import render
from fakeproc.cli import shell_command
from fakeproc.engine import Machine, MachineConfig
from fakeproc.fs import tree
from fakeproc.fs.caller import RealProc
from fakeproc.render import fields


def _walk(path: str) -> int | None:
    """The inode a path names from the root, as lookups would find it."""
    inode = tree.ROOT_INODE
    for name in path.split("/"):
        found = tree.child_inode(inode, name)
        if found is None:
            return None
        inode = found[0]
    return inode


@pytest.mark.parametrize(("path", "kind"), [
    ("self", stat.S_IFLNK), ("sys", stat.S_IFDIR), ("sys/kernel", stat.S_IFDIR),
    ("sys/kernel/pid_max", stat.S_IFREG), ("sys/kernel/osrelease", stat.S_IFREG),
    ("sys/kernel/ostype", stat.S_IFREG), ("cpuinfo", stat.S_IFREG),
    ("7/task", stat.S_IFDIR), ("7/task/7", stat.S_IFDIR), ("7/task/7/stat", stat.S_IFREG),
    ("7/environ", stat.S_IFREG),
])
def test_paths_the_tools_read_exist(path: str, kind: int) -> None:
    inode = _walk(path)
    assert inode is not None
    node = tree.node_of(inode)
    assert node is not None
    assert stat.S_IFMT(node.entry.st_mode) == kind


@pytest.mark.parametrize("path", [
    "sys/vm", "sys/kernel/pid", "self/x", "7/task/8", "7/task/7/reclaim", "7/task/7/task",
    "sim/self", "7/sys",
])
def test_names_that_do_not_exist(path: str) -> None:
    assert _walk(path) is None


def test_fixed_inodes_stay_below_the_first_pid_and_are_unique() -> None:
    inodes = [tree.ROOT_INODE, *tree.FIXED]
    assert len(set(inodes)) == len(inodes)
    assert max(inodes) < tree.pid_inode(1)
    names = {(parent, e.name) for parent, e in tree.FIXED.values()}
    assert len(names) == len(tree.FIXED)


@given(st.integers(1, tree.MAX_PID))
@example(1)  # the lowest pid's block starts right after the fixed inodes
@example(tree.MAX_PID)  # the highest pid's thread files still decode to it
def test_every_node_of_a_pid_decodes_back_with_its_parent(pid: int) -> None:
    seen: set[int] = set()
    stack = [tree.pid_inode(pid)]
    while stack:
        inode = stack.pop()
        assert inode not in seen
        seen.add(inode)
        node = tree.node_of(inode)
        assert node is not None and node.pid == pid
        assert inode >> tree.PID_SHIFT == pid
        for _key, name, child in tree.list_dir(inode, []):
            assert tree.child_inode(inode, name) == (child, pid)
            child_node = tree.node_of(child)
            assert child_node is not None and child_node.parent == inode
            stack.append(child)
    assert len(seen) == 1 + len(tree.PID_FILES) + 1 + len(tree.THREAD_FILES)


def test_a_callers_directory_lists_only_read_only_caller_files() -> None:
    pid_dir = tree.pid_inode(9)
    names = [name for _, name, _ in tree.list_dir(pid_dir, [], caller=True)]
    assert set(names) == {"maps", "status", "statm", "stat", "cmdline", "comm", "environ",
                          "task"}
    assert set(names) < {name for _, name, _ in tree.list_dir(pid_dir, [])}
    thread_dir = tree.pid_inode(9) + tree.THREAD_DIR_INDEX
    thread = {name for _, name, _ in tree.list_dir(thread_dir, [], caller=True)}
    assert "smaps" not in thread and {"stat", "status", "maps"} <= thread


def test_thread_nodes_know_they_are_under_task() -> None:
    inode = _walk("12/task/12/status")
    assert inode is not None
    node = tree.node_of(inode)
    assert node is not None and node.in_thread
    top = tree.node_of(_walk("12/status") or 0)
    assert top is not None and not top.in_thread


def test_thread_group_of_a_thread_is_the_process() -> None:
    real = RealProc()
    tids: list[int] = []
    started, done = threading.Event(), threading.Event()

    def work() -> None:
        tids.append(threading.get_native_id())
        started.set()
        done.wait(timeout=10)  # alive while asked about: a dead tid may be reused

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert started.wait(timeout=10)
        assert tids[0] != os.getpid()
        assert real.thread_group(tids[0]) == os.getpid()
    finally:
        done.set()
        worker.join()
    assert real.thread_group(os.getpid()) == os.getpid()
    assert real.owner(os.getpid()) == (os.getuid(), os.getgid())
    assert real.read(os.getpid(), "stat").split()[0] == str(os.getpid()).encode()


def test_without_a_real_proc_nothing_is_read() -> None:
    # A daemon mounted on /proc itself must not read under its own mount.
    blind = RealProc(None)
    assert blind.thread_group(1234) == 1234
    assert not blind.exists(os.getpid())


def test_sysctls_and_cpuinfo() -> None:
    m = Machine(MachineConfig(ram_bytes=64 << 20, swap_bytes=0))
    assert int(render.render_pid_max(m)) == fields.PID_MAX == tree.MAX_PID
    release = render.render_osrelease(m).decode()
    assert release.endswith("\n") and release.split(".")[:2] == ["6", "18"]
    # One block per CPU, each ended by an empty line, numbered from 0.
    blocks = render.render_cpuinfo(m).decode().split("\n\n")
    assert blocks[-1] == "" and len(blocks) == fields.NR_CPUS + 1
    firsts = [block.splitlines()[0] for block in blocks[:-1]]
    assert firsts == [f"processor\t: {cpu}" for cpu in range(fields.NR_CPUS)]
    m.spawn(5, "x")
    assert render.render_environ(m, 5) == b""


@pytest.mark.parametrize(("cmd", "root", "tail"), [
    (["ps", "-e"], True, ["/m", "ps", "-e"]),
    (["top", "-b"], False, ["/m", "top", "-b"]),
])
def test_shell_binds_the_mount_over_proc_in_a_private_namespace(
        cmd: list[str], root: bool, tail: list[str]) -> None:
    argv = shell_command("/m", cmd, root=root)
    assert argv[:4] == ["unshare", "--mount", "--propagation", "private"]
    assert ("--map-root-user" in argv) is not root
    assert argv[-len(tail):] == tail
    script = argv[argv.index("-c") + 1]
    assert script.index("mount --bind") < script.index("exec")


def test_shell_without_a_command_runs_the_users_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "/bin/zsh-like")
    assert shell_command("/m", [], root=True)[-1] == "/bin/zsh-like"
