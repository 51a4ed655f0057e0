"""Engine figures: reclaim against the kernel's PAGEOUT, and the big machine
(touches, LRU victim choice, per-VMA figures) against the pure-Python engine."""

from __future__ import annotations

import gc
from functools import partial

import numpy as np

from bench import kernel
from bench.context import FULL, Context, Sizes
from bench.harness import Curve, Figure, Report, measure, measure_simple, meminfo
from bench.pyref import PyMachine
from bench.world import BASE_ADDR, build_vmas, new_machine, resident_anon
from fakeproc.engine import PAGE_SIZE, Machine
from fakeproc.engine import frames as fr

RECLAIM_PID = 100
BIG_FIRST_PID = 1000
MANY_VMAS_PID = 99


def kernel_pageout(ctx: Context) -> kernel.PageoutResult:
    """The kernel's MADV_PAGEOUT of a resident clean file range (measured once a run)."""
    cached = ctx.shared.get("pageout")
    if isinstance(cached, kernel.PageoutResult):
        return cached
    if isinstance(cached, kernel.Unavailable):
        raise cached
    try:
        result = kernel.time_kernel_pageout(ctx.sizes.reclaim_bytes, ctx.sizes.heavy_repeats,
                                            ctx.workdir)
    except (kernel.Unavailable, OSError) as exc:
        ctx.shared["pageout"] = kernel.Unavailable(str(exc))
        raise kernel.Unavailable(str(exc)) from exc
    ctx.shared["pageout"] = result
    return result


def bench_reclaim(ctx: Context, report: Report) -> None:
    size = ctx.sizes.reclaim_bytes
    fig = report.add(Figure(
        f"engine reclaim_range {size >> 20} MiB anon", "engine",
        "kernel process_madvise PAGEOUT (clean file)", "<= 0.05", 0.05,
        note="engine: m.reclaim_range over a fully resident, dirty anon range (swap has room);"
             " kernel: the same size of clean page cache, resident before each repeat"))
    try:
        base = kernel_pageout(ctx)
    except kernel.Unavailable as exc:
        fig.na = f"kernel baseline: {exc}"
        return
    fig.baseline = base.stats
    fig.extra = {"kernel_method": base.method, "kernel_resident_before": base.resident_before,
                 "kernel_resident_after": base.resident_after}

    def setup() -> Machine:
        return resident_anon(size, pid=RECLAIM_PID)

    def run(m: Machine) -> None:
        done = m.reclaim_range(RECLAIM_PID, BASE_ADDR, BASE_ADDR + size)
        assert done.reclaimed["anon"] == size // PAGE_SIZE, done
    fig.fakeproc = measure(run, setup, ctx.sizes.heavy_repeats)


# -- the big machine ----------------------------------------------------------

def build_big(frames: int, processes: int) -> Machine:
    """``frames`` resident anon frames spread over ``processes`` processes of a 64 GiB machine."""
    m = new_machine(ram_bytes=64 << 30, swap_bytes=16 << 30)
    per = frames // processes
    for i in range(processes):
        pid = BIG_FIRST_PID + i
        m.spawn(pid, f"worker{i}")
        m.mmap(pid, BASE_ADDR, per * PAGE_SIZE, "anon")
        m.touch(pid, BASE_ADDR, per * PAGE_SIZE, write=True)
        m.advance(1)  # distinct ages, so the LRU order has something to order
    if m.swap_used_pages():
        raise ValueError(f"{frames:,} frames do not all fit in RAM: the figures would time swap")
    return m


def build_pyref(frames: int, processes: int) -> PyMachine:
    """The big machine's world in the pure-Python engine (built with the collector
    off: it would walk the millions of objects again and again as they come)."""
    py = PyMachine(ram_pages=frames * 2, swap_slots=frames * 2)
    per = frames // processes
    first = BASE_ADDR // PAGE_SIZE
    collecting = gc.isenabled()
    gc.disable()
    try:
        for i in range(processes):
            pid = BIG_FIRST_PID + i
            py.spawn(pid)
            py.mmap(pid, first, per)
            py.touch_many(pid, list(range(first, first + per)), write=True)
            py.tick += 1
    finally:
        if collecting:
            gc.enable()
    return py


def random_touches(rng: np.random.Generator, processes: int, per: int,
                   count: int) -> list[tuple[int, np.ndarray]]:
    """``count`` random (process, page) accesses, grouped into one batch per process."""
    owner = rng.integers(0, processes, count)
    page = rng.integers(0, per, count) + BASE_ADDR // PAGE_SIZE
    order = np.argsort(owner, kind="stable")
    owner, page = owner[order], page[order]
    cuts = np.searchsorted(owner, np.arange(processes + 1))
    return [(BIG_FIRST_PID + i, page[cuts[i]:cuts[i + 1]]) for i in range(processes)]


def choose_victims(m: Machine, target: int) -> np.ndarray:
    """The victim choice of the engine's global reclaim (Machine._shrink's first pass):
    the evictable mask, the (age, frame) keys, then Machine._pick_lru. Eviction not included."""
    f = m.frames
    kind = f.kind
    evictable = ((kind == fr.ANON) | (kind == fr.FILE) | (kind == fr.SHMEM)) & (
        (f.flags & fr.MLOCKED) == 0)
    needs_slot = ((kind == fr.ANON) & (f.slot < 0)) | (kind == fr.SHMEM)
    cand = np.flatnonzero(evictable)
    keys = (f.last_access[cand].astype(np.int64) << 32) | cand
    return m._pick_lru(cand, keys, needs_slot[cand], target)


# The big machine's section at its peak (measured: 6.6 GB for 16 M frames, most of
# it the pure-Python engine's objects and the candidate list of its victim choice).
PEAK_BYTES_PER_FRAME = 420


def available_memory() -> int:
    """MemAvailable, in bytes (0 if it cannot be read)."""
    return meminfo().get("MemAvailable", 0)


def bench_big(ctx: Context, report: Report) -> None:
    s = ctx.sizes
    need, have = s.big_frames * PEAK_BYTES_PER_FRAME, available_memory()
    if have < need:  # better no figures than a machine swapping or an OOM kill
        report.add(Figure(
            "engine big machine", "engine big machine", "-",
            na=f"needs about {need / 1e9:.1f} GB of available memory for both engines' "
               f"{s.big_frames:,}-frame worlds; {have / 1e9:.1f} GB here"))
        return
    m = build_big(s.big_frames, s.big_processes)
    # The pure-Python engine holds the same world, not a smaller one compared per
    # unit: a random touch costs it 0.6 to 0.8 us at 1 Mi frames and 1.4 to 1.7 us
    # at 16 M, where its dicts and lists no longer fit in the caches.
    py = build_pyref(s.big_frames, s.big_processes)
    gc.freeze()  # out of reach of the collection before each repeat (tens of millions)
    try:
        _big_figures(s, report, m, py)
    finally:
        gc.unfreeze()


def _big_figures(s: Sizes, report: Report, m: Machine, py: PyMachine) -> None:
    rng = np.random.default_rng(1)
    per = s.big_frames // s.big_processes
    # The targets are for the full run's world; a smaller one fits in the caches.
    judged = s.big_frames == FULL.big_frames
    target, target_max = ("<= 0.05", 0.05) if judged else ("", None)
    unjudged = "" if judged else (
        f"; judged at the full run's {FULL.big_frames:,} frames only: a smaller world "
        "fits in the caches, on both sides")

    # 1. Random touches, batched per process.
    fig = report.add(Figure(
        f"{s.touches:,} random touches ({s.big_frames:,} frames)", "engine big machine",
        "pure-Python engine", target, target_max,
        note="m.touch_pages once per process with its share of the accesses (reads of "
             "resident pages: young bit, referenced/active, age); the same world on both "
             "sides" + unjudged))

    def fp_touch(batches: list[tuple[int, np.ndarray]]) -> None:
        for pid, pages in batches:
            m.touch_pages(pid, pages)

    def py_touch(batches: list[tuple[int, list[int]]]) -> None:
        for pid, pages in batches:
            py.touch_many(pid, pages)

    fig.fakeproc = measure(fp_touch, lambda: random_touches(rng, s.big_processes, per,
                                                            s.touches), s.repeats)
    fig.baseline = measure(py_touch, lambda: [
        (pid, pages.tolist()) for pid, pages in
        random_touches(rng, s.big_processes, per, s.touches)], s.repeats)

    # 2. Choosing the global-reclaim victims.
    fig = report.add(Figure(
        f"choose {s.victims:,} LRU victims of {s.big_frames:,}", "engine big machine",
        "pure-Python engine (heapq.nsmallest)", target, target_max,
        note="timed: the evictable mask, (age, frame) keys and Machine._pick_lru, i.e. "
             "global reclaim's choice without the eviction itself; the same world on both "
             "sides" + unjudged))
    chosen = choose_victims(m, s.victims)
    assert len(chosen) == s.victims
    fig.fakeproc = measure_simple(lambda: choose_victims(m, s.victims), s.repeats)
    # Seconds a repeat on the pure-Python side at full size: three tell its median.
    fig.baseline = measure_simple(lambda: py.pick_lru(s.victims), min(3, s.repeats), warmup=0)

    # 3. Per-VMA figures of a process with many VMAs (both sides at the same size).
    n = s.smaps_vmas
    m.spawn(MANY_VMAS_PID, "many")
    build_vmas(m, MANY_VMAS_PID, n)
    py.spawn(MANY_VMAS_PID)
    first = BASE_ADDR // PAGE_SIZE
    for i in range(n):
        py.mmap(MANY_VMAS_PID, first + 2 * i, 2, "rw-p" if i % 2 == 0 else "r--p")
        if i % 2 == 0:
            py.touch(MANY_VMAS_PID, first + 2 * i, write=True)
    fig = report.add(Figure(
        f"smaps figures of a {n:,}-VMA process", "engine big machine", "pure-Python engine",
        "<= 0.05", 0.05, note="m.smaps(pid) (SmapsCounts, numpy), recomputed each repeat, vs a "
                              "loop over every page of every VMA; same process on both sides"))
    # advance(0) marks the state changed (untimed), so each repeat computes
    # the figures instead of returning the engine's per-state view cache.
    fig.fakeproc = measure(lambda _s: m.smaps(MANY_VMAS_PID), lambda: m.advance(0), s.repeats)
    fig.baseline = measure_simple(lambda: py.smaps(MANY_VMAS_PID), s.repeats)


# -- scaling curves -----------------------------------------------------------

def _fresh_smaps(m: Machine, _state: object) -> None:
    m.smaps(MANY_VMAS_PID)


def bench_curves(ctx: Context, report: Report) -> None:
    s = ctx.sizes
    points = s.curve_points
    curve = Curve("engine m.smaps(pid)", "VMAs")
    for n in points["vmas"]:
        m = new_machine()
        m.spawn(MANY_VMAS_PID, "many")
        build_vmas(m, MANY_VMAS_PID, n)
        curve.add(n, measure(partial(_fresh_smaps, m), partial(m.advance, 0), s.repeats))
    report.curves.append(curve)

    curve = Curve("engine reclaim_range", "resident pages")
    for pages in points["resident_pages"]:
        size = pages * PAGE_SIZE

        def run(m: Machine, size: int = size) -> None:
            m.reclaim_range(RECLAIM_PID, BASE_ADDR, BASE_ADDR + size)
        curve.add(pages, measure(run, partial(resident_anon, size, pid=RECLAIM_PID),
                                 s.heavy_repeats))
    report.curves.append(curve)

    curve = Curve("engine touch_pages, same total touches", "processes",
                  note="the same number of touches (and resident pages) split over more "
                       "processes; (x) is per process here, so 1.0 = each process's batch "
                       "costs the same however small it is (a fixed per-call cost)")
    total = max(points["processes"]) * 64
    for procs in points["processes"]:
        m = build_big(total * 4, procs)
        rng = np.random.default_rng(2)
        batches = random_touches(rng, procs, total * 4 // procs, total)

        def touch_all(m: Machine = m, batches: list[tuple[int, np.ndarray]] = batches) -> None:
            for pid, pages in batches:
                m.touch_pages(pid, pages)
        curve.add(procs, measure_simple(touch_all, s.repeats))
    report.curves.append(curve)

    curve = Curve("engine m.mmap of one more VMA", "existing VMAs",
                  note="cost of one mmap call next to N VMAs (per-unit growth 1.0 = linear "
                       "in N, i.e. building N VMAs is quadratic)")
    for existing in points["mmap_existing"]:
        m = new_machine()
        m.spawn(MANY_VMAS_PID, "many")
        build_vmas(m, MANY_VMAS_PID, existing, touch=False)
        top = BASE_ADDR + 4 * existing * PAGE_SIZE

        def one_more(m: Machine = m, top: int = top) -> None:
            m.mmap(MANY_VMAS_PID, top, PAGE_SIZE, "anon", perms="r--p")
            m.munmap(MANY_VMAS_PID, top, PAGE_SIZE)
        curve.add(existing, measure_simple(one_more, s.repeats))
    report.curves.append(curve)
