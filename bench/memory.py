"""Memory figures, each measured in a fresh subprocess as the growth of its
resident set (VmRSS from /proc/self/status) around the work, after the
imports and an empty machine exist. RSS is what a daemon really costs: it
counts numpy's slack from growing arrays and Python's own objects, which
Machine.memory_bytes() (also reported) does not.

Run as ``python -m bench.memory engine N`` / ``pyref N`` / ``tib``: prints JSON.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.context import PRESETS, Context
from bench.harness import Figure, Report, Stats

TIB = 1 << 40
PID = 100


def _rss_bytes() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in bytes."""
    rss = hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return rss, hwm


def measure_engine(pages: int) -> dict[str, Any]:
    """RSS growth of a machine with ``pages`` resident anon pages over 16 processes."""
    from bench.world import BASE_ADDR, new_machine
    from fakeproc.engine import PAGE_SIZE

    m = new_machine(ram_bytes=2 * pages * PAGE_SIZE + (1 << 30), swap_bytes=1 << 30)
    gc.collect()
    rss0, _ = _rss_bytes()
    processes = 16
    per = pages // processes
    for i in range(processes):
        m.spawn(PID + i, f"p{i}")
        m.mmap(PID + i, BASE_ADDR, per * PAGE_SIZE, "anon")
        m.touch(PID + i, BASE_ADDR, per * PAGE_SIZE, write=True)
    gc.collect()
    rss1, hwm = _rss_bytes()
    return {"pages": per * processes, "rss_delta": rss1 - rss0, "hwm_delta": hwm - rss0,
            "engine_memory_bytes": m.memory_bytes()}


def measure_pyref(pages: int) -> dict[str, Any]:
    from bench.pyref import PyMachine

    py = PyMachine(ram_pages=2 * pages, swap_slots=pages)
    gc.collect()
    rss0, _ = _rss_bytes()
    processes = 16
    per = pages // processes
    for i in range(processes):
        py.spawn(PID + i)
        py.mmap(PID + i, 1 << 20, per)
        py.touch_many(PID + i, list(range(1 << 20, (1 << 20) + per)), write=True)
    gc.collect()
    rss1, hwm = _rss_bytes()
    return {"pages": per * processes, "rss_delta": rss1 - rss0, "hwm_delta": hwm - rss0}


def measure_tib() -> dict[str, Any]:
    """RSS growth from mapping 1 TiB that is never touched, and viewing/reclaiming it."""
    from bench.world import BASE_ADDR, new_machine

    m = new_machine()
    m.spawn(PID, "huge")
    gc.collect()
    rss0, _ = _rss_bytes()
    steps: dict[str, int] = {}
    m.mmap(PID, BASE_ADDR, TIB, "anon")
    steps["mmap"] = _rss_bytes()[0] - rss0
    m.smaps(PID)
    m.memory(PID)
    steps["smaps+memory"] = _rss_bytes()[0] - rss0
    m.reclaim(PID, "anon")
    steps["reclaim anon"] = _rss_bytes()[0] - rss0
    gc.collect()
    rss1, hwm = _rss_bytes()
    return {"rss_delta": rss1 - rss0, "hwm_delta": hwm - rss0, "steps": steps,
            "engine_memory_bytes": m.memory_bytes()}


def _run(*args: str, timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.memory", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else
                           f"exit {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def bench_memory(ctx: Context, report: Report) -> None:
    s = ctx.sizes
    group = "daemon memory"
    # Judged at the full run's size: over fewer pages the daemon's fixed cost
    # (interpreter, numpy, tables) weighs more on each.
    judged = s.name == "full"
    fig = report.add(Figure(
        f"bytes per resident page ({s.memory_pages:,} pages)", group,
        "pure-Python engine (same measure)", "<= 32 B" if judged else "", unit="B",
        absolute_max=32.0 if judged else None, fakeproc_units=s.memory_pages,
        baseline_units=s.memory_pages,
        note="RSS growth of a fresh subprocess (after gc) while its processes fault in "
             "their pages, over the pages; peak (VmHWM) growth in extra" + (
                 "" if judged else f"; judged in the full run only "
                 f"({PRESETS['full'].memory_pages >> 20} Mi pages): over fewer pages the "
                 "daemon's fixed cost weighs more on each")))
    try:
        fp = [_run("engine", str(s.memory_pages)) for _ in range(s.heavy_repeats)]
        py_pages = min(s.memory_pages, s.memory_pyref_pages)
        py = [_run("pyref", str(py_pages)) for _ in range(max(1, s.heavy_repeats // 2))]
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        fig.na = f"subprocess failed: {exc}"
        return
    fig.fakeproc_units = fp[0]["pages"]
    fig.baseline_units = py[0]["pages"]
    fig.unit_name = "page" if fig.fakeproc_units != fig.baseline_units else ""
    fig.fakeproc = Stats(tuple(float(r["rss_delta"]) for r in fp))
    fig.baseline = Stats(tuple(float(r["rss_delta"]) for r in py))
    fig.extra = {"engine": fp, "pyref": py,
                 "engine_memory_bytes_per_page": fp[0]["engine_memory_bytes"] / fp[0]["pages"],
                 "peak_bytes_per_page": max(r["hwm_delta"] for r in fp) / fp[0]["pages"]}
    fig.note += (f"; numpy state alone {fig.extra['engine_memory_bytes_per_page']:.1f} B/page, "
                 f"peak {fig.extra['peak_bytes_per_page']:.1f} B/page")

    fig = report.add(Figure(
        "1 TiB mapping never touched", group, "budget 1 MiB", "<= 1.0", 1.0, unit="B",
        note="RSS growth after mmap 1 TiB + smaps + memory + reclaim anon of it; the baseline "
             "is the budget itself (an untouched kernel mapping costs ~0, so no ratio to it "
             "could be finite)"))
    try:
        tib = [_run("tib") for _ in range(s.heavy_repeats)]
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        fig.na = f"subprocess failed: {exc}"
        return
    fig.fakeproc = Stats(tuple(float(max(r["rss_delta"], r["hwm_delta"])) for r in tib))
    fig.baseline = Stats((float(1 << 20),))
    fig.extra = {"runs": tib}


def main(argv: list[str]) -> int:
    what = argv[0]
    if what == "engine":
        out = measure_engine(int(argv[1]))
    elif what == "pyref":
        out = measure_pyref(int(argv[1]))
    elif what == "tib":
        out = measure_tib()
    else:
        print(f"unknown measure {what!r}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
