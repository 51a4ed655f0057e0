"""Renderer figures: fakeproc's smaps/maps/status/pagemap bytes against the
kernel's reads of the same files of a real process of the same shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import kernel
from bench.context import Context
from bench.harness import Curve, Figure, Report, Stats, measure, measure_simple
from bench.world import BIG_ADDR, build_vmas, new_machine
from fakeproc.engine import PAGE_SIZE, Machine

PID = 4242


def _renderers() -> Any:
    """The render package, or the reason it cannot be used yet."""
    import fakeproc.render as render

    for name in ("render_smaps", "render_smaps_rollup", "render_maps", "render_status",
                 "render_pagemap", "SmapsRenderer"):
        if not hasattr(render, name):
            raise ImportError(f"fakeproc.render has no {name}")
    return render


def fake_world(vmas: int, big_bytes: int) -> Machine:
    """A simulated process shaped like the helper: ``vmas`` small VMAs and a big resident one."""
    m = new_machine(ram_bytes=max(4 << 30, 2 * big_bytes))
    m.spawn(PID, "vmas")
    build_vmas(m, PID, vmas)
    if big_bytes:
        m.mmap(PID, BIG_ADDR, big_bytes, "anon")
        m.touch(PID, BIG_ADDR, big_bytes, write=True)
    return m


def bench_render(ctx: Context, report: Report) -> None:
    s = ctx.sizes
    group = "renderers vs kernel /proc"
    try:
        render = _renderers()
    except ImportError as exc:
        report.add(Figure("smaps / pagemap renderers", group, "kernel", na=f"renderers: {exc}"))
        return
    try:
        binary = ctx.binaries.get("vmas") or kernel.compile_c(kernel.HERE / "c" / "vmas.c",
                                                              ctx.workdir)
        ctx.binaries["vmas"] = binary
    except kernel.Unavailable as exc:
        report.add(Figure("smaps / pagemap renderers", group, "kernel", na=str(exc)))
        return
    target_n = s.smaps_vmas
    cold_curve = Curve("render_smaps cold / kernel smaps", "VMAs", unit="x",
                       note="ratio at each size (a ratio, not seconds)")
    for n in s.render_vmas:
        big = s.pagemap_bytes if n == min(s.render_vmas) else 0
        m = fake_world(n, big)
        with kernel.helper_process(binary, n, big >> 20) as helper:
            kernel_smaps = kernel.time_proc_read(helper, "smaps", s.repeats)
            fp_cold, fp_warm, fp_hit = _smaps_timings(render, m, s.repeats)
            is_target = n == target_n
            common = ("the kernel process also has its ~25 program/libc/stack VMAs; kernel "
                      "times are repeated whole reads (open, read, close)")
            report.add(Figure(
                f"smaps {n:,} VMAs cold", group, "kernel /proc/PID/smaps",
                "<= 2.0" if is_target else "", 2.0 if is_target else None,
                fakeproc=fp_cold, baseline=kernel_smaps,
                note="cold: render_smaps from nothing (engine figures + every block). "
                     + common))
            report.add(Figure(
                f"smaps {n:,} VMAs warm", group, "kernel /proc/PID/smaps",
                "<= 1.0" if is_target else "", 1.0 if is_target else None,
                fakeproc=fp_warm, baseline=kernel_smaps,
                note="warm: SmapsRenderer after the machine's version moved (time passed): "
                     "figures recomputed, unchanged VMA blocks reused"))
            report.add(Figure(
                f"smaps {n:,} VMAs cached", group, "kernel /proc/PID/smaps",
                fakeproc=fp_hit, baseline=kernel_smaps,
                note="cached: SmapsRenderer at the same machine version (no change since "
                     "the last read); the kernel has no such cache"))
            cold_curve.add(n, Stats((fp_cold.median / kernel_smaps.median,)))
            if n == min(s.render_vmas):
                _other_files(render, m, helper, s.repeats, report, group)
            if big:
                _pagemap(render, m, helper, big, s.repeats, report, group)
    report.curves.append(cold_curve)


def _smaps_timings(render: Any, m: Machine, repeats: int) -> tuple[Stats, Stats, Stats]:
    # Cold: nothing cached, the engine's figures included (advance(0), untimed,
    # marks the state changed).
    cold = measure(lambda _s: render.render_smaps(m, PID), lambda: m.advance(0), repeats)
    cache = render.SmapsRenderer()
    expected = render.render_smaps(m, PID)
    assert cache.render(m, PID) == expected

    def moved() -> None:
        m.advance(1)

    warm = measure(lambda _s: cache.render(m, PID), moved, repeats)
    hit = measure_simple(lambda: cache.render(m, PID), repeats)
    return cold, warm, hit


def _other_files(render: Any, m: Machine, helper: kernel.Helper, repeats: int,
                 report: Report, group: str) -> None:
    files: list[tuple[str, Callable[[], bytes]]] = [
        ("smaps_rollup", lambda: render.render_smaps_rollup(m, PID)),
        ("maps", lambda: render.render_maps(m, PID)),
        ("status", lambda: render.render_status(m, PID)),
    ]
    for name, fn in files:
        report.add(Figure(
            f"{name} ({helper.vmas:,} VMAs)", group, f"kernel /proc/PID/{name}",
            fakeproc=measure_simple(fn, repeats),
            baseline=kernel.time_proc_read(helper, name, repeats),
            note="render function alone (no FUSE); kernel: whole read"))


def _pagemap(render: Any, m: Machine, helper: kernel.Helper, size: int, repeats: int,
             report: Report, group: str) -> None:
    pages = size // PAGE_SIZE

    def fake() -> bytes:
        return bytes(render.render_pagemap(m, PID, BIG_ADDR // PAGE_SIZE * 8, pages * 8,
                                           privileged=True))

    assert len(fake()) == len(helper.read_pagemap()) == pages * 8
    report.add(Figure(
        f"pagemap {size >> 20} MiB resident", group, "kernel pagemap pread",
        "<= 1.0", 1.0, fakeproc=measure_simple(fake, repeats),
        baseline=kernel.time_pagemap_read(helper, repeats),
        note="both privileged (PFNs shown); one read of the window of a resident mapping"))
