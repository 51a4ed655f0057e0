"""``make demo``: mount fakeproc on a temporary directory and show reclaim at work.

Every step is a real shell command run through ``sh -c`` against the mount,
printed before it runs, with the lines of smaps_rollup and status that change.
The mount is always taken down, even if a step fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fakeproc.testing import fakeproc_command, fuse_unavailable

BROWSER, TAB_BYTES, TABS = 1000, 1 << 20, 3
LIB = "/usr/lib/libwebcore.so"
SCENE = [
    f"spawn {BROWSER} browser uid=0 exe=/usr/bin/browser",
    *[f"mmap {BROWSER} {0x10000000 + i * 0x200000:#x} 1M anon name=tab-{i + 1}"
      for i in range(TABS)],
    f"mmap {BROWSER} 0x40000000 512K file={LIB} perms=r-xp",
    *[f"touch {BROWSER} {0x10000000 + i * 0x200000:#x} 1M write" for i in range(TABS)],
    f"touch {BROWSER} 0x40000000 512K read",
    "spawn 2000 renderer",
    f"mmap 2000 0x40000000 512K file={LIB} perms=r-xp",
    "touch 2000 0x40000000 512K read",
    f"fork {BROWSER} {BROWSER + 1} comm=browser-child",
]


def run(command: str, mnt: Path) -> str:
    print(f"$ {command}")
    done = subprocess.run(["sh", "-c", command], env={**os.environ, "M": str(mnt)},
                          capture_output=True, text=True, timeout=30, check=False)
    out = done.stdout + done.stderr
    if out:
        print(out.rstrip())
    return done.stdout


def figures(mnt: Path, pid: int) -> None:
    run(f'grep -E "^(Rss|Pss|Swap):" "$M/{pid}/smaps_rollup"; '
        f'grep -E "^(VmRSS|RssAnon|RssFile|VmSwap):" "$M/{pid}/status"', mnt)


def show(mnt: Path) -> None:
    print("# the scene, built through sim/ctl")
    for line in SCENE:
        run(f'echo "{line}" > "$M/sim/ctl"', mnt)
    run(f'cat "$M/{BROWSER}/maps"', mnt)
    figures(mnt, BROWSER)
    for step in ("file", "anon", "all"):
        print(f"\n# reclaim: {step}")
        if step == "all":
            # Bring tab-1 and the library back in first (refaults), so "all"
            # has both kinds to take.
            run(f'echo "touch {BROWSER} 0x10000000 1M write" > "$M/sim/ctl"', mnt)
            run(f'echo "touch {BROWSER} 0x40000000 512K read" > "$M/sim/ctl"', mnt)
            figures(mnt, BROWSER)
        run(f'echo {step} > "$M/{BROWSER}/reclaim"', mnt)
        figures(mnt, BROWSER)
    print("\n# the range form: reclaim only tab-2, as a browser does for a background tab")
    run(f'echo "touch {BROWSER} 0x10200000 1M write" > "$M/sim/ctl"', mnt)
    figures(mnt, BROWSER)
    run(f'echo {0x10200000} {TAB_BYTES} > "$M/{BROWSER}/reclaim"', mnt)
    figures(mnt, BROWSER)
    print("\n# what happened, from sim/events")
    run('tail -n 4 "$M/sim/events"', mnt)


def main() -> int:
    reason = fuse_unavailable()
    if reason is not None:
        print(f"demo needs FUSE: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="fakeproc-demo-") as tmp:
        mnt = Path(tmp) / "mnt"
        mnt.mkdir()
        done = subprocess.run(fakeproc_command("mount", str(mnt), "--ram", "256M", "--swap",
                                               "64M"), capture_output=True, text=True, timeout=30,
                              check=False)
        if done.returncode != 0:
            print(done.stderr.strip(), file=sys.stderr)
            return 1
        try:
            print(f"# fakeproc mounted on {mnt}  (M={mnt})\n")
            show(mnt)
        finally:
            subprocess.run(fakeproc_command("umount", str(mnt)), timeout=30, check=False)
            print("\n# unmounted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
