#!/usr/bin/env python3
"""A tiny proactive reclaimer: swap out the anonymous memory of every process over a size.

It reads ``smaps_rollup`` of each pid under a procfs root and writes ``anon``
to ``reclaim`` of those whose Rss exceeds a threshold. Pointed at a fakeproc
mount it runs unchanged against simulated processes (as it would against a
kernel with per-process reclaim at /proc):

    python examples/reclaim_daemon.py MNT --threshold-kib 1024 --once

It prints one line per process it reclaimed: ``PID RSS_BEFORE_KIB RSS_AFTER_KIB``.
Standard library only, as a user's daemon would be.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def rss_kib(rollup: str) -> int:
    """The Rss line of smaps_rollup, in kB."""
    for line in rollup.splitlines():
        if line.startswith("Rss:"):
            return int(line.split()[1])
    raise ValueError("smaps_rollup has no Rss line")


def read_rss_kib(root: str, pid: int) -> int | None:
    """A process's Rss, or None if it is gone or not ours to read."""
    try:
        with open(os.path.join(root, str(pid), "smaps_rollup")) as f:
            return rss_kib(f.read())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def pids(root: str) -> list[int]:
    return sorted(int(name) for name in os.listdir(root) if name.isdigit())


def reclaim_pass(root: str, threshold_kib: int, mode: str = "anon") -> list[tuple[int, int, int]]:
    """One pass over every pid: (pid, Rss before, Rss after) for each one reclaimed."""
    done = []
    for pid in pids(root):
        before = read_rss_kib(root, pid)
        if before is None or before <= threshold_kib:
            continue
        try:
            with open(os.path.join(root, str(pid), "reclaim"), "w") as f:
                f.write(mode)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # exited meanwhile, or not ours
        after = read_rss_kib(root, pid)
        done.append((pid, before, before if after is None else after))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="procfs root: /proc, or a fakeproc mount")
    parser.add_argument("--threshold-kib", type=int, required=True,
                        help="reclaim processes whose Rss exceeds this many kB")
    parser.add_argument("--mode", choices=("anon", "file", "all"), default="anon")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    while True:
        for pid, before, after in reclaim_pass(args.root, args.threshold_kib, args.mode):
            print(pid, before, after, flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
