"""maps, smaps and smaps_rollup, and a cache that re-renders only what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fakeproc.engine.types import PSS_SHIFT, SmapsCounts, Vma
from fakeproc.render import fields
from fakeproc.render.view import MachineView
from fakeproc.render.vma import format_header, page_size_kib, render_header, render_vm_flags

# One VMA's row of SmapsCounts, in SmapsCounts.FIELDS order.
Row = tuple[int, ...]

_FIELD_INDEX = {name: i for i, name in enumerate(SmapsCounts.FIELDS)}
_FIXED_POINT_ROW = tuple(name in SmapsCounts.FIXED_POINT for name in SmapsCounts.FIELDS)


def _kib(row: Row, source: str) -> int:
    """One figure of a row in kB, rounded once, the kernel's way."""
    i = _FIELD_INDEX[source]
    value = row[i]
    if _FIXED_POINT_ROW[i]:
        value >>= PSS_SHIFT
    return value >> 10


def _rows(counts: SmapsCounts) -> list[Row]:
    """The per-VMA rows as plain int tuples (one numpy pass for all VMAs)."""
    table = np.stack([getattr(counts, name) for name in SmapsCounts.FIELDS], axis=1)
    return [tuple(r) for r in table.tolist()]


def _render_body(lines: tuple[tuple[fields.Line, str | None], ...], row: Row) -> str:
    return "".join(line.format(_kib(row, source) if source else 0) for line, source in lines)


def render_smaps_block(vma: Vma, row: Row) -> str:
    """Everything smaps shows for one VMA, from its maps line to VmFlags."""
    page_kib = page_size_kib(vma)
    head_values = {"size": vma.size >> 10, "kernel_page": page_kib, "mmu_page": page_kib}
    parts = [render_header(vma)]
    parts.extend(line.format(head_values[source]) for line, source in fields.SMAPS_HEAD)
    parts.append(_render_body(fields.SMAPS_BODY, row))
    parts.append(fields.THP_ELIGIBLE.format(0))
    if fields.SHOW_PROTECTION_KEY:
        parts.append(fields.PROTECTION_KEY.format(0))
    parts.append(render_vm_flags(vma))
    return "".join(parts)


def render_maps(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/maps."""
    vmas = m.process(pid).vmas
    return "".join(render_header(vma) for vma in vmas).encode("utf-8", "surrogateescape")


def render_smaps(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/smaps, rendered afresh (SmapsRenderer caches)."""
    vmas = m.process(pid).vmas
    rows = _rows(m.smaps(pid))
    text = "".join(render_smaps_block(vma, row) for vma, row in zip(vmas, rows, strict=True))
    return text.encode("utf-8", "surrogateescape")


def render_smaps_rollup(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/smaps_rollup: Σ over VMAs of the fixed-point figures, rounded once."""
    vmas = m.process(pid).vmas
    total = m.smaps(pid).total()
    row = _rows(total)[0]
    start, end = (vmas[0].start, vmas[-1].end) if vmas else (0, 0)
    header = format_header(start, end, fields.ROLLUP_PERMS, 0, (0, 0), 0, fields.ROLLUP_NAME)
    return (header + _render_body(fields.ROLLUP_BODY, row)).encode("ascii")


@dataclass
class _PidCache:
    version: int
    text: bytes
    blocks: dict[tuple[Vma, Row], str] = field(default_factory=dict)


class SmapsRenderer:
    """smaps with a cache: the whole file per machine version, and each VMA's block.

    When nothing changed (same ``m.version``) a read costs a dict look-up.
    When something changed, only VMAs whose mapping or figures changed are
    formatted again; the others reuse their block. Blocks of VMAs that are
    gone are dropped at each render, so the cache holds one file per pid.
    """

    def __init__(self) -> None:
        self._by_pid: dict[int, _PidCache] = {}

    def render(self, m: MachineView, pid: int) -> bytes:
        """The same bytes as :func:`render_smaps`."""
        cached = self._by_pid.get(pid)
        if cached is not None and cached.version == m.version:
            return cached.text
        vmas = m.process(pid).vmas
        rows = _rows(m.smaps(pid))
        old = cached.blocks if cached is not None else {}
        blocks: dict[tuple[Vma, Row], str] = {}
        parts = []
        for vma, row in zip(vmas, rows, strict=True):
            key = (vma, row)
            block = old.get(key)
            if block is None:
                block = render_smaps_block(vma, row)
            blocks[key] = block
            parts.append(block)
        text = "".join(parts).encode("utf-8", "surrogateescape")
        self._by_pid[pid] = _PidCache(m.version, text, blocks)
        return text

    def forget(self, pid: int) -> None:
        """Drop what is cached for ``pid`` (call when the process exits)."""
        self._by_pid.pop(pid, None)
