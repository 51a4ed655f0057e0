"""The bench must not rot: its smallest sizes run end to end in seconds.

Each section of ``python -m bench`` runs at the ``smoke`` sizes; a section
that raises shows up as an n/a figure whose reason starts "section failed",
which is what these tests look for. Figures that need the host (gcc,
/dev/fuse, a mount) may be n/a for a stated reason; they may not crash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import run
from bench.harness import Figure, Stats, measure_alternating, render_table
from bench.pyref import PyMachine


def _crashed(figures: list[Figure]) -> list[str]:
    return [f"{f.name}: {f.na}" for f in figures if f.na and f.na.startswith("section failed")]


@pytest.mark.parametrize("section", ["engine reclaim", "engine big machine", "daemon memory",
                                     "renderers", "scaling"])
def test_section_runs(section: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    report = run("smoke", only=[section], out=out, log=lambda _line: None)
    assert not _crashed(report.figures)
    data = json.loads(out.read_text())
    assert data["mode"] == "smoke" and "kernel" in data["machine"]
    for fig in data["figures"]:
        if fig["na"] is None and fig["fakeproc"] is not None and fig["baseline"] is not None:
            assert fig["fakeproc"]["min"] <= fig["fakeproc"]["median"] <= fig["fakeproc"]["max"]
            assert fig["ratio"] is not None and fig["ratio"] > 0
    assert render_table(report)


def test_big_machine_without_the_memory_is_na_not_an_oom_kill(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import engine_bench

    assert engine_bench.available_memory() > 0  # from /proc/meminfo
    monkeypatch.setattr(engine_bench, "available_memory", lambda: 1 << 20)
    report = run("smoke", only=["engine big machine"], out=tmp_path / "r.json",
                 log=lambda _line: None)
    [fig] = report.figures
    assert fig.na is not None and "available memory" in fig.na and "0.0 GB here" in fig.na


@pytest.mark.fuse
def test_mount_section_runs(tmp_path: Path) -> None:
    report = run("smoke", only=["mount"], out=tmp_path / "r.json", log=lambda _line: None)
    assert not _crashed(report.figures)


# Ratios: the table of (fakeproc s, fakeproc units, baseline s, baseline units, ratio).
@pytest.mark.parametrize(("fp", "fp_units", "base", "base_units", "ratio"), [
    (1.0, 1, 2.0, 1, 0.5),  # same size: plain ratio of medians
    (4.0, 16, 1.0, 1, 0.25),  # 16x the work in 4x the time: per unit, a quarter
    (3.0, 1, 3.0, 1, 1.0),
])
def test_figure_ratio_per_unit(fp: float, fp_units: int, base: float, base_units: int,
                               ratio: float) -> None:
    fig = Figure("x", "g", "b", "<= 1.0", 1.0, fakeproc=Stats((fp, fp * 2, fp / 2)),
                 baseline=Stats((base,)), fakeproc_units=fp_units, baseline_units=base_units)
    assert fig.ratio == pytest.approx(ratio)
    assert fig.passed is (ratio <= 1.0)


def test_budget_judges_fakeproc_alone() -> None:
    fig = Figure("mem", "g", "b", absolute_max=32.0, fakeproc=Stats((3200.0,)),
                 baseline=Stats((1.0,)), fakeproc_units=100, baseline_units=1)
    assert fig.passed is True
    fig.fakeproc = Stats((3300.0,))
    assert fig.passed is False


def test_pyref_agrees_with_the_engine_on_a_tiny_world() -> None:
    """The baseline computes the same figures, so the race is a fair one."""
    from bench.world import BASE_ADDR, build_vmas, new_machine
    from fakeproc.engine import PAGE_SIZE

    m = new_machine()
    m.spawn(7, "t")
    build_vmas(m, 7, 6)
    py = PyMachine(ram_pages=64, swap_slots=64)
    py.spawn(7)
    first = BASE_ADDR // PAGE_SIZE
    for i in range(6):
        py.mmap(7, first + 2 * i, 2, "rw-p" if i % 2 == 0 else "r--p")
        if i % 2 == 0:
            py.touch(7, first + 2 * i, write=True)
    counts = m.smaps(7)
    rows = py.smaps(7)
    for name in ("rss", "pss", "private_dirty", "anonymous", "referenced"):
        assert [int(v) for v in getattr(counts, name)] == [r[name] for r in rows], name
    chosen = py.pick_lru(2)
    assert len(chosen) == 2 and chosen == sorted(chosen)


def test_alternating_repeats_take_turns_and_rotate_who_goes_first() -> None:
    calls: list[str] = []
    stats = measure_alternating([lambda: calls.append("a"), lambda: calls.append("b")],
                                repeats=3, warmup=1)
    warmups, rounds = calls[:2], calls[2:]
    assert (warmups, rounds) == (["a", "b"], ["a", "b", "b", "a", "a", "b"])
    assert [len(s.values) for s in stats] == [3, 3]
