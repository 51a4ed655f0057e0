"""maps, smaps and smaps_rollup, and a cache that re-renders only what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fakeproc.engine.types import PSS_SHIFT, SmapsCounts, Vma
from fakeproc.render import fields
from fakeproc.render.view import MachineView
from fakeproc.render.vma import format_header, page_size_kib, render_header, render_vm_flags

# One VMA's figures in kB, in the order of _BODY_SOURCES.
Row = tuple[int, ...]


def _compile(lines: tuple[tuple[fields.Line, str | None], ...]) -> tuple[str, tuple[str, ...]]:
    """A table as one %-format and the figures it takes, in order.

    Lines whose figure fakeproc does not model are baked in as text, so a
    whole block is formatted by one ``%`` call instead of a call per line.
    """
    parts: list[str] = []
    sources: list[str] = []
    for line, source in lines:
        if source is None:
            parts.append(line.format(0).replace("%", "%%"))
        else:
            parts.append(line.template())
            sources.append(source)
    return "".join(parts), tuple(sources)


_HEAD_TEMPLATE, _HEAD_SOURCES = _compile(
    tuple((line, source) for line, source in fields.SMAPS_HEAD))
_BODY_TEMPLATE, _BODY_SOURCES = _compile(fields.SMAPS_BODY)
_ROLLUP_TEMPLATE, _ROLLUP_SOURCES = _compile(fields.ROLLUP_BODY)
_TAIL = fields.THP_ELIGIBLE.format(0) + (
    fields.PROTECTION_KEY.format(0) if fields.SHOW_PROTECTION_KEY else "")
assert _HEAD_SOURCES == ("size", "kernel_page", "mmu_page")


def _kib_rows(counts: SmapsCounts, sources: tuple[str, ...]) -> list[Row]:
    """Per-VMA figures in kB, each rounded once the kernel's way, as plain ints."""
    columns = []
    for name in sources:
        values = getattr(counts, name)
        if name in SmapsCounts.FIXED_POINT:
            values = values >> PSS_SHIFT
        columns.append(values >> 10)
    if not columns or len(columns[0]) == 0:
        return []
    return [tuple(r) for r in np.stack(columns, axis=1).tolist()]


def render_smaps_block(vma: Vma, row: Row) -> str:
    """Everything smaps shows for one VMA, from its maps line to VmFlags."""
    return render_header(vma) + _smaps_fields(vma, row)


def _smaps_fields(vma: Vma, row: Row) -> str:
    """A VMA's smaps block after its maps line."""
    page_kib = page_size_kib(vma)
    return "".join((
        _HEAD_TEMPLATE % (vma.size >> 10, page_kib, page_kib),
        _BODY_TEMPLATE % row,
        _TAIL,
        render_vm_flags(vma),
    ))


def _smaps_blocks(vmas: list[Vma], rows: list[Row]) -> list[str]:
    """Every VMA's block. VMAs alike in size, flags and figures (common in a
    process with thousands of small mappings) share their formatted fields."""
    memo: dict[tuple[object, ...], str] = {}
    blocks = []
    for vma, row in zip(vmas, rows, strict=True):
        key = (vma.size, vma.perms, vma.kind, vma.locked, vma.name == "[stack]", row)
        body = memo.get(key)
        if body is None:
            body = memo[key] = _smaps_fields(vma, row)
        blocks.append(render_header(vma) + body)
    return blocks


def render_maps(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/maps."""
    vmas = m.process(pid).vmas
    return "".join(render_header(vma) for vma in vmas).encode("utf-8", "surrogateescape")


def render_smaps(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/smaps, rendered afresh (SmapsRenderer caches)."""
    vmas = m.process(pid).vmas
    rows = _kib_rows(m.smaps(pid), _BODY_SOURCES)
    text = "".join(_smaps_blocks(vmas, rows))
    return text.encode("utf-8", "surrogateescape")


def render_smaps_rollup(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/smaps_rollup: Σ over VMAs of the fixed-point figures, rounded once."""
    vmas = m.process(pid).vmas
    row = _kib_rows(m.smaps(pid).total(), _ROLLUP_SOURCES)[0]
    start, end = (vmas[0].start, vmas[-1].end) if vmas else (0, 0)
    header = format_header(start, end, fields.ROLLUP_PERMS, 0, (0, 0), 0, fields.ROLLUP_NAME)
    return (header + _ROLLUP_TEMPLATE % row).encode("ascii")


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
        rows = _kib_rows(m.smaps(pid), _BODY_SOURCES)
        if cached is None:
            # Cold: format everything at once, sharing the text of alike VMAs.
            parts = _smaps_blocks(vmas, rows)
            blocks = dict(zip(zip(vmas, rows, strict=True), parts, strict=True))
        else:
            old = cached.blocks
            blocks = {}
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
        if len(self._by_pid) > 2 * len(m.pids()) + 16:
            # Keep the cache to live processes without asking callers to say
            # when one exits.
            for gone in set(self._by_pid).difference(m.pids()):
                del self._by_pid[gone]
        return text

    def forget(self, pid: int) -> None:
        """Drop what is cached for ``pid`` (call when the process exits)."""
        self._by_pid.pop(pid, None)
