"""What a run is: its sizes (full, quick, smoke), its scratch directory, and
the baselines measured once and shared by several figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    """Every size a run uses; ``quick`` and ``smoke`` scale the full run down."""

    name: str
    repeats: int  # timed repeats of a cheap operation
    heavy_repeats: int  # of an operation whose set-up is costly
    reclaim_bytes: int  # the resident range reclaimed (engine and kernel PAGEOUT)
    big_frames: int  # resident frames of the big simulated machine
    big_processes: int
    touches: int  # random touches on the big machine
    memory_pyref_pages: int  # pages of the pure-Python engine in the memory figure
    victims: int  # pages chosen for global reclaim
    smaps_vmas: int  # VMAs of the process whose per-VMA figures are timed
    render_vmas: tuple[int, ...]  # VMA counts for the smaps renderer figures
    pagemap_bytes: int
    memory_pages: int  # resident pages for the memory-per-page figure
    fuse_ops: int  # round trips timed per repeat through a FUSE mount
    curve_points: dict[str, tuple[int, ...]] = field(default_factory=dict)


# The big machine holds 16 M (decimal) resident frames in its 64 GiB: 16 Mi
# frames would fill it to the last one, global reclaim would keep 41 K of
# them in swap, and the touches would time swap-ins and kswapd.
FULL = Sizes(
    name="full", repeats=11, heavy_repeats=9, reclaim_bytes=GiB, big_frames=16_000_000,
    big_processes=100, touches=1 << 20, memory_pyref_pages=1 << 20,
    victims=64 << 10, smaps_vmas=10_000, render_vmas=(100, 1_000, 10_000, 60_000),
    pagemap_bytes=GiB, memory_pages=4 << 20, fuse_ops=2_000,
    curve_points={"vmas": (1_000, 10_000, 60_000),
                  "resident_pages": (64 << 10, 256 << 10, GiB >> 12),
                  "processes": (10, 100, 1_000), "mmap_existing": (500, 1_000, 2_000)})

QUICK = Sizes(
    name="quick", repeats=5, heavy_repeats=3, reclaim_bytes=GiB, big_frames=1 << 20,
    big_processes=100, touches=1 << 20, memory_pyref_pages=256 << 10,
    victims=64 << 10, smaps_vmas=10_000, render_vmas=(100, 1_000, 10_000),
    pagemap_bytes=GiB, memory_pages=1 << 20, fuse_ops=500,
    curve_points={"vmas": (1_000, 10_000), "resident_pages": (64 << 10, 256 << 10),
                  "processes": (10, 100), "mmap_existing": (250, 500)})

SMOKE = Sizes(
    name="smoke", repeats=2, heavy_repeats=1, reclaim_bytes=8 * MiB, big_frames=16 << 10,
    big_processes=4, touches=4 << 10, memory_pyref_pages=4 << 10,
    victims=1 << 10, smaps_vmas=100, render_vmas=(100,), pagemap_bytes=8 * MiB,
    memory_pages=16 << 10, fuse_ops=20,
    curve_points={"vmas": (50, 100), "resident_pages": (1 << 10, 2 << 10),
                  "processes": (2, 4), "mmap_existing": (20, 40)})

PRESETS = {s.name: s for s in (FULL, QUICK, SMOKE)}


@dataclass
class Context:
    sizes: Sizes
    workdir: Path
    with_kernel: bool = True
    with_fuse: bool = True
    shared: dict[str, Any] = field(default_factory=dict)  # baselines reused across figures
    binaries: dict[str, Path] = field(default_factory=dict)
