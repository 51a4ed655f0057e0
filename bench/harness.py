"""Timing, figures and the report: what every benchmark module shares.

A figure is a ratio: fakeproc's cost over a baseline's cost, both measured
in this run on this machine, each as min/median/max over repeats. The
verdict compares the ratio of the medians with the figure's target. When
the two sides ran at different sizes (the pure-Python reference cannot
hold 16 M pages), each side's time is divided by its own unit count first
and the figure says so.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

S = TypeVar("S")


@dataclass(frozen=True)
class Stats:
    """Seconds (or any cost) of several repeats."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {"min": self.min, "median": self.median, "max": self.max,
                "repeats": len(self.values), "values": list(self.values)}


def measure(run: Callable[[S], object], setup: Callable[[], S], repeats: int,
            *, warmup: int = 0) -> Stats:
    """Time ``run(setup())`` ``repeats`` times; setup is not timed.

    The garbage collector is off while timing (it would charge one repeat
    for the garbage of all), as timeit does.
    """
    for _ in range(warmup):
        run(setup())
    return Stats(tuple(_timed(run, setup()) for _ in range(repeats)))


def measure_alternating(runs: Sequence[Callable[[], object]], repeats: int,
                        *, warmup: int = 1) -> list[Stats]:
    """Time each of ``runs`` ``repeats`` times, taking turns: one repeat of each,
    the first of every round rotating, so a slow spell of a shared machine
    falls on every side alike instead of on whichever ran then."""
    for run in runs:
        for _ in range(warmup):
            run()
    times: list[list[float]] = [[] for _ in runs]
    for round_ in range(repeats):
        for i in range(len(runs)):
            turn = (round_ + i) % len(runs)
            times[turn].append(_timed(_ignoring_state(runs[turn]), None))
    return [Stats(tuple(t)) for t in times]


def _ignoring_state(run: Callable[[], object]) -> Callable[[None], object]:
    return lambda _state: run()


def _timed(run: Callable[[S], object], state: S) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        run(state)
        return time.perf_counter() - t0
    finally:
        gc.enable()


def measure_simple(run: Callable[[], object], repeats: int, *, warmup: int = 1) -> Stats:
    """Time ``run()`` with no per-repeat set-up."""
    return measure(_ignoring_state(run), lambda: None, repeats, warmup=warmup)


@dataclass
class Figure:
    """One line of the report."""

    name: str
    group: str
    baseline_name: str
    target: str = ""  # as printed, e.g. "<= 0.05"
    target_max: float | None = None  # the ratio must not exceed this
    unit: str = "s"
    fakeproc: Stats | None = None
    baseline: Stats | None = None
    fakeproc_units: int = 1  # what the fakeproc time covers (pages, touches, VMAs...)
    baseline_units: int = 1
    unit_name: str = ""  # the thing counted by *_units, when they differ
    note: str = ""
    na: str | None = None  # why the figure could not be measured
    # A budget on fakeproc's own figure (per unit), judged instead of the ratio
    # (memory: bytes per page); the ratio against the baseline is still shown.
    absolute_max: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    subject: str = "fakeproc"  # what the "fakeproc" side times, when it is not fakeproc
    # CPU seconds per unit of the daemons behind both sides (file systems), if measured.
    cpu_per_unit: tuple[float, float] | None = None

    @property
    def per_unit(self) -> bool:
        return self.fakeproc_units != self.baseline_units

    @property
    def ratio(self) -> float | None:
        if self.fakeproc is None or self.baseline is None or self.baseline.median <= 0:
            return None
        fp = self.fakeproc.median / self.fakeproc_units
        base = self.baseline.median / self.baseline_units
        return fp / base if base > 0 else None

    @property
    def ratio_min(self) -> float | None:
        if self.fakeproc is None or self.baseline is None or self.baseline.min <= 0:
            return None
        return (self.fakeproc.min / self.fakeproc_units) / (self.baseline.min / self.baseline_units)

    @property
    def passed(self) -> bool | None:
        if self.absolute_max is not None:
            if self.fakeproc is None:
                return None
            return self.fakeproc.median / self.fakeproc_units <= self.absolute_max
        ratio = self.ratio
        if ratio is None or self.target_max is None:
            return None
        return ratio <= self.target_max

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "group": self.group, "baseline_name": self.baseline_name,
            "unit": self.unit, "target": self.target, "target_max": self.target_max,
            "fakeproc": self.fakeproc.as_dict() if self.fakeproc else None,
            "baseline": self.baseline.as_dict() if self.baseline else None,
            "fakeproc_units": self.fakeproc_units, "baseline_units": self.baseline_units,
            "unit_name": self.unit_name, "ratio": self.ratio, "ratio_of_mins": self.ratio_min,
            "absolute_max": self.absolute_max,
            "pass": self.passed, "note": self.note, "na": self.na, "extra": self.extra,
            "subject": self.subject,
            "daemon_cpu_per_unit": None if self.cpu_per_unit is None else
            dict(zip(("fakeproc", "baseline"), self.cpu_per_unit, strict=True)),
        }
        return out


@dataclass
class Curve:
    """A scaling curve: cost at a few sizes, and each point's cost per unit
    relative to the smallest point (1.0 = linear growth)."""

    name: str
    size_name: str
    sizes: list[int] = field(default_factory=list)
    costs: list[Stats] = field(default_factory=list)
    unit: str = "s"
    note: str = ""

    def add(self, size: int, cost: Stats) -> None:
        self.sizes.append(size)
        self.costs.append(cost)

    def growth(self) -> list[float]:
        """Cost per unit of size at each point over that of the first point."""
        if not self.costs:
            return []
        base = self.costs[0].median / self.sizes[0]
        return [(c.median / s) / base if base > 0 else float("nan")
                for s, c in zip(self.sizes, self.costs, strict=True)]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size_name": self.size_name, "unit": self.unit,
                "note": self.note,
                "points": [{"size": s, **c.as_dict(), "per_unit_growth": g}
                           for s, c, g in zip(self.sizes, self.costs, self.growth(),
                                              strict=True)]}


@dataclass
class Report:
    """Every figure and curve of one run, and where it ran."""

    mode: str
    figures: list[Figure] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "machine": machine_info(),
                "elapsed_s": time.time() - self.started,
                "figures": [f.as_dict() for f in self.figures],
                "curves": [c.as_dict() for c in self.curves], "notes": self.notes}

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2, default=_json_default) + "\n")


def _json_default(obj: object) -> object:
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)  # type: ignore[call-overload]
    return str(obj)


def machine_info() -> dict[str, Any]:
    """Where the figures were taken: enough to tell two runs' machines apart."""
    info: dict[str, Any] = {
        "kernel": platform.release(), "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
    }
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = meminfo()
    for key in ("MemTotal", "SwapTotal"):
        if key in memory:
            info[key] = f"{memory[key] >> 10} kB"
    return info


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes ({} if it cannot be read)."""
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            number, *unit = value.split()
            out[key] = int(number) * (1024 if unit == ["kB"] else 1)
    except (OSError, ValueError):
        return {}
    return out


# -- the terminal table --------------------------------------------------------

def format_cost(seconds: float, unit: str = "s") -> str:
    if unit != "s":
        return f"{seconds:,.1f} {unit}"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def _triple(stats: Stats | None, unit: str) -> str:
    if stats is None:
        return "-"
    return (f"{format_cost(stats.min, unit)} / {format_cost(stats.median, unit)}"
            f" / {format_cost(stats.max, unit)}")


def render_table(report: Report) -> str:
    """The report as plain text: one line per figure, then the curves."""
    lines = [f"fakeproc bench ({report.mode}) — fakeproc and baseline as min / median / max;"
             " ratio = fakeproc median / baseline median (per unit when sizes differ)", ""]
    group = None
    for f in report.figures:
        if f.group != group:
            group = f.group
            lines.append(f"[{group}]")
        if f.na is not None:
            lines.append(f"  {f.name:<44} n/a: {f.na}")
            continue
        ratio = f.ratio
        verdict = {True: "PASS", False: "MISS", None: "info"}[f.passed]
        ratio_text = f"{ratio:.3f}" if ratio is not None else "-"
        lines.append(f"  {f.name:<44} ratio {ratio_text:>8}  target {f.target or '-':<8} "
                     f"{verdict}")
        per = f" (per {f.unit_name}: {f.fakeproc_units:,} vs {f.baseline_units:,})" \
            if f.per_unit else ""
        lines.append(f"      {f.subject} {_triple(f.fakeproc, f.unit)}{per}")
        lines.append(f"      {f.baseline_name}: {_triple(f.baseline, f.unit)}")
        if f.cpu_per_unit is not None:
            mine, theirs = (format_cost(cpu, "s") for cpu in f.cpu_per_unit)
            lines.append(f"      daemon CPU per {f.unit_name or 'run'}: {f.subject} {mine}, "
                         f"{f.baseline_name} {theirs}")
        if f.note:
            lines.append(f"      note: {f.note}")
    if report.curves:
        lines.append("")
        lines.append("[scaling] median cost at each size; (x) = cost per unit vs the first point")
        for c in report.curves:
            points = "  ".join(f"{s:,}: {format_cost(st.median, c.unit)} ({g:.2f}x)"
                               for s, st, g in zip(c.sizes, c.costs, c.growth(), strict=True))
            lines.append(f"  {c.name} [{c.size_name}]: {points}")
            if c.note:
                lines.append(f"      note: {c.note}")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
