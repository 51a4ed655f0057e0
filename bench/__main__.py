"""``python -m bench [--quick|--smoke]``: every figure, a table, and results.json.

Each section runs on its own: one that fails is reported as n/a with its
reason and the others still run, so a missing part of fakeproc (or of the
host: gcc, /dev/fuse) costs its figures only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.context import PRESETS, Context
from bench.harness import Figure, Report, render_table

HERE = Path(__file__).resolve().parent


def sections() -> list[tuple[str, Callable[[Context, Report], None]]]:
    from bench.engine_bench import bench_big, bench_curves, bench_reclaim
    from bench.fuse_bench import bench_fuse
    from bench.memory import bench_memory
    from bench.render_bench import bench_render

    return [("engine reclaim", bench_reclaim), ("engine big machine", bench_big),
            ("daemon memory", bench_memory), ("renderers", bench_render),
            ("mount", bench_fuse), ("scaling", bench_curves)]


def run(mode: str, *, only: list[str] | None = None, out: Path | None = None,
        log: Callable[[str], None] = print) -> Report:
    """Run the sections of one mode and write results.json (``out``) if given."""
    report = Report(mode)
    workdir = Path(tempfile.mkdtemp(prefix="fakeproc-bench-"))
    ctx = Context(PRESETS[mode], workdir)
    try:
        for name, section in sections():
            if only and name not in only:
                continue
            t0 = time.perf_counter()
            try:
                section(ctx, report)
            except Exception as exc:  # one broken section must not hide the others
                detail = "".join(traceback.format_exception_only(exc)).strip()
                report.add(Figure(name, name, "-", na=f"section failed: {detail}"))
                report.notes.append(f"{name}: {traceback.format_exc()}")
            log(f"  {name}: {time.perf_counter() - t0:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if out is not None:
        report.write_json(out)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="mode",
                      help="the one-minute subset (1 M frames on the big machine)")
    size.add_argument("--smoke", action="store_const", const="smoke", dest="mode",
                      help="tiny sizes: checks that every section runs (seconds)")
    parser.add_argument("--only", action="append", metavar="SECTION",
                        help="run only this section (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json",
                        help="where to write the JSON results (default bench/results.json)")
    args = parser.parse_args(argv)
    mode = args.mode or "full"
    print(f"fakeproc bench, {mode} mode", flush=True)
    report = run(mode, only=args.only, out=args.out,
                 log=lambda line: print(line, file=sys.stderr, flush=True))
    print(render_table(report))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
