"""Fixtures for the engine tests: the same tiny worlds run on the engine and on the reference.

Every tiny-world test takes ``world``, a factory of machines, and runs once
against ``fakeproc.engine.Machine`` and once against the slow reference model
in ``reference.py``. The hand-computed figures therefore check both: a
figure that only one of them gets right points at that one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fakeproc.engine.types import PAGE_SIZE, MachineConfig

from .reference import RefMachine

MiB = 1 << 20
# 64 MiB of RAM keeps tiny worlds far above the watermarks (min 256, low 320,
# high 384 pages), so no global reclaim interferes unless a test wants it.
ROOMY_RAM = 64 * MiB

World = Callable[..., Any]


def engine_machine(config: MachineConfig) -> Any:
    from fakeproc.engine import Machine

    return Machine(config)


IMPLS: dict[str, Callable[[MachineConfig], Any]] = {
    "engine": engine_machine,
    "reference": RefMachine,
}


@pytest.fixture(params=sorted(IMPLS))
def impl(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def world(impl: str) -> World:
    """world(**MachineConfig fields) -> a fresh machine of the implementation under test."""

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("ram_bytes", ROOMY_RAM)
        kwargs.setdefault("swap_bytes", MiB)
        return IMPLS[impl](MachineConfig(**kwargs))

    return make


def kib(smaps: Any, name: str, row: int = 0) -> int:
    """One smaps figure of one VMA row in kB (fixed-point fields rounded once)."""
    value: int = smaps.kib(name, row)
    return value


def total_kib(smaps: Any, name: str) -> int:
    """A figure summed over all VMAs, then rounded (the smaps_rollup rule)."""
    value: int = smaps.total().kib(name)
    return value


def pages(n: int) -> int:
    return n * PAGE_SIZE
