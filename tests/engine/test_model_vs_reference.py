"""The engine against the slow reference model, step by step (Hypothesis state machine).

Small machines (1-4 MiB of RAM, 0-64 slots of swap, disk or zram, both
dialects) so that global reclaim and the OOM killer happen. Every rule runs
one operation on both; they must raise the same errno or neither, and then
every per-VMA smaps figure, every process figure, the meminfo and vmstat
figures the reference models, and pagemap must agree. Invariants are checked
on the engine after every step.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fakeproc.engine import Machine
from fakeproc.engine.types import PAGE_SIZE, PSS_SHIFT, MachineConfig, SmapsCounts, Vma
from fakeproc.errors import FakeprocError, errno_of

from .reference import RefMachine

MiB = 1 << 20
WINDOW_PAGES = 256  # every mapping lies in this window; it crosses a page-table page
BASE = 0x200000 - 64 * PAGE_SIZE
HUGE_PAGE = 2 * MiB
HUGE_ADDR = 0x40000000
PATHS = ("/lib/a.so", "/data/b")
PIDS = (100, 101, 102, 103, 104, 105)

# vmstat names the reference models (the engine may count more).
COUNTERS = (
    "pswpin", "pswpout", "pgfault", "pgmajfault", "pgactivate", "pgdeactivate",
    "pgscan_kswapd", "pgsteal_kswapd", "pgscan_anon", "pgscan_file", "pgsteal_anon",
    "pgsteal_file", "workingset_refault_anon", "workingset_refault_file", "nr_vmscan_write",
    "oom_kill", "nr_free_pages", "nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
    "nr_active_file", "nr_unevictable", "nr_mlock", "nr_anon_pages", "nr_mapped",
    "nr_file_pages", "nr_dirty", "nr_shmem", "nr_swapcached",
)

pages_st = st.integers(1, 96)
offset_st = st.integers(0, WINDOW_PAGES - 1)


class EngineVsReference(RuleBasedStateMachine):
    engine: Any
    ref: RefMachine

    @initialize(ram_mib=st.sampled_from([1, 2, 4]), slots=st.sampled_from([0, 8, 64]),
                swap_kind=st.sampled_from(["disk", "zram"]),
                dialect=st.sampled_from(["v2", "caf"]))
    def setup(self, ram_mib: int, slots: int, swap_kind: str, dialect: str) -> None:
        config = MachineConfig(ram_bytes=ram_mib * MiB,
                               swap_bytes=(slots + 1) * PAGE_SIZE if slots else 0,
                               swap_kind=swap_kind, dialect=dialect)  # type: ignore[arg-type]
        self.engine = Machine(config)
        self.ref = RefMachine(config)
        self.both("spawn", 100, "init")

    # -- running one operation on both

    def both(self, name: str, *args: Any, **kwargs: Any) -> None:
        outcomes = []
        for machine in (self.engine, self.ref):
            try:
                value = getattr(machine, name)(*args, **kwargs)
            except FakeprocError as exc:
                outcomes.append(("error", errno_of(exc)))
            else:
                outcomes.append(("ok", summarise(value)))
        assert outcomes[0] == outcomes[1], f"{name}{args}{kwargs}: engine {outcomes[0]}, " \
            f"reference {outcomes[1]}"

    def span(self, data: st.DataObject, pid: int, most: int = 64) -> tuple[int, int]:
        """(addr, bytes): mostly a stretch of one of pid's VMAs, sometimes anywhere."""
        vmas: list[Vma] = []
        if pid in self.ref.procs:
            vmas = [v for v in self.ref.procs[pid].info.vmas if v.start < HUGE_ADDR]
        in_vma: int = data.draw(st.integers(0, 4)) if vmas else 0
        if in_vma:
            v = data.draw(st.sampled_from(vmas))
            first = data.draw(st.integers(v.start // PAGE_SIZE, v.end // PAGE_SIZE - 1))
            n = data.draw(st.integers(1, min(most, v.end // PAGE_SIZE - first)))
            return first * PAGE_SIZE, n * PAGE_SIZE
        at = data.draw(offset_st)
        return BASE + at * PAGE_SIZE, data.draw(st.integers(1, most)) * PAGE_SIZE

    def live(self, data: st.DataObject, mapped: bool = False) -> int:
        """A live pid (one with mappings, if ``mapped`` and there is one), or any pid."""
        pids = self.ref.pids()
        assert pids == self.engine.pids()
        if mapped:
            pids = [p for p in pids if self.ref.procs[p].info.vmas] or pids
        return data.draw(st.sampled_from(pids) if pids else st.sampled_from(PIDS))

    # -- rules

    @rule(pid=st.sampled_from(PIDS))
    def spawn(self, pid: int) -> None:
        self.both("spawn", pid, f"p{pid}")

    @rule(data=st.data(), child=st.sampled_from(PIDS))
    def fork(self, data: st.DataObject, child: int) -> None:
        self.both("fork", self.live(data), child)

    @rule(data=st.data())
    def exit(self, data: st.DataObject) -> None:
        self.both("exit", self.live(data))

    @rule(data=st.data(), at=offset_st, n=pages_st,
          kind=st.sampled_from(["anon", "anon", "file", "shmem"]),
          path=st.sampled_from(PATHS), perms=st.sampled_from(["rw-p", "r--p", "rw-s"]),
          file_offset=st.integers(0, 8))
    def mmap(self, data: st.DataObject, at: int, n: int, kind: str, path: str, perms: str,
             file_offset: int) -> None:
        kwargs: dict[str, Any] = {}
        if kind == "file":
            kwargs = {"path": path, "perms": perms, "offset": file_offset * PAGE_SIZE}
        elif kind == "shmem":
            kwargs = {"perms": "rw-s"}
        else:
            kwargs = {"perms": "rw-p" if perms == "rw-s" else perms}
        self.both("mmap", self.live(data), BASE + at * PAGE_SIZE, n * PAGE_SIZE, kind, **kwargs)

    def free_spot(self, pid: int, n: int) -> int | None:
        """The lowest page of the window where n pages are unmapped in pid, if any."""
        taken: set[int] = set()
        for v in self.ref.procs[pid].info.vmas:
            taken.update(range(v.start // PAGE_SIZE, v.end // PAGE_SIZE))
        first = BASE // PAGE_SIZE
        for at in range(first, first + WINDOW_PAGES - n + 1):
            if not taken.intersection(range(at, at + n)):
                return at
        return None

    @rule(data=st.data(), n=st.integers(16, 128),
          kind=st.sampled_from(["anon", "anon", "file", "shmem"]), path=st.sampled_from(PATHS))
    def grow(self, data: st.DataObject, n: int, kind: str, path: str) -> None:
        """Map n pages where there is room and write them all (or read, for a file)."""
        pid = self.live(data)
        if pid not in self.ref.procs:
            return
        at = self.free_spot(pid, n)
        if at is None:
            return
        kwargs: dict[str, Any] = {"perms": "rw-s" if kind == "shmem" else "rw-p"}
        if kind == "file":
            kwargs.update(path=path, perms=data.draw(st.sampled_from(["r--p", "rw-s"])))
        self.both("mmap", pid, at * PAGE_SIZE, n * PAGE_SIZE, kind, **kwargs)
        self.both("touch", pid, at * PAGE_SIZE, n * PAGE_SIZE,
                  write=kwargs["perms"][1] == "w")

    @rule(data=st.data(), n=st.integers(0, 8), write=st.booleans())
    def hugetlb(self, data: st.DataObject, n: int, write: bool) -> None:
        """A 2 MiB hugetlb mapping away from the window; n > 0 touches its first n pages."""
        pid = self.live(data)
        if n == 0:
            self.both("mmap", pid, HUGE_ADDR, HUGE_PAGE, "hugetlb")
        else:
            self.both("touch", pid, HUGE_ADDR, n * PAGE_SIZE, write=write)

    @rule(data=st.data(), at=offset_st, n=pages_st)
    def munmap(self, data: st.DataObject, at: int, n: int) -> None:
        self.both("munmap", self.live(data), BASE + at * PAGE_SIZE, n * PAGE_SIZE)

    @rule(data=st.data(), write=st.booleans())
    def touch(self, data: st.DataObject, write: bool) -> None:
        pid = self.live(data, mapped=True)
        addr, size = self.span(data, pid, most=128)
        if write and pid in self.ref.procs and data.draw(st.integers(0, 7)):
            # Mostly, write only where writes are allowed (EFAULT is tested too, rarely).
            write = all(v.perms[1] == "w" for v in self.ref.procs[pid].info.vmas
                        if v.start < addr + size and addr < v.end)
        self.both("touch", pid, addr, size, write=write)

    @rule(data=st.data(), lock=st.booleans())
    def mlock(self, data: st.DataObject, lock: bool) -> None:
        pid = self.live(data, mapped=True)
        addr, size = self.span(data, pid, most=16)
        self.both("mlock" if lock else "munlock", pid, addr, size)

    @rule(data=st.data(), mode=st.integers(1, 5))
    def clear_refs(self, data: st.DataObject, mode: int) -> None:
        self.both("clear_refs", self.live(data), mode)

    @rule(data=st.data(), mode=st.sampled_from(["file", "anon", "all"]))
    def reclaim(self, data: st.DataObject, mode: str) -> None:
        self.both("reclaim", self.live(data), mode)

    @rule(data=st.data(), at=offset_st, n=st.integers(0, 64))
    def reclaim_range(self, data: st.DataObject, at: int, n: int) -> None:
        start = BASE + at * PAGE_SIZE
        self.both("reclaim_range", self.live(data), start, start + n * PAGE_SIZE)

    @rule(data=st.data(), advice=st.sampled_from(["cold", "pageout"]))
    def madvise(self, data: st.DataObject, advice: str) -> None:
        pid = self.live(data, mapped=True)
        addr, size = self.span(data, pid)
        self.both("madvise", pid, addr, size, advice)

    @rule(data=st.data(), adj=st.sampled_from([-1000, -500, 0, 300, 1000]))
    def oom_score_adj(self, data: st.DataObject, adj: int) -> None:
        self.both("set_oom_score_adj", self.live(data), adj)

    @rule(ticks=st.sampled_from([1, 7, 499, 500, 3000]))
    def advance(self, ticks: int) -> None:
        self.both("advance", ticks)

    @rule()
    def sync(self) -> None:
        self.engine.sync()
        self.ref.sync()

    @rule(mode=st.sampled_from([1, 2, 3]))
    def drop_caches(self, mode: int) -> None:
        self.both("drop_caches", mode)

    # -- comparisons and invariants

    @invariant()
    def same_views(self) -> None:
        if not hasattr(self, "ref"):
            return
        e, r = self.engine, self.ref
        assert e.pids() == r.pids()
        assert_same("meminfo", vars(e.meminfo()), vars(r.meminfo()))
        ev, rv = e.vmstat(), r.vmstat()
        assert_same("vmstat", {k: ev[k] for k in COUNTERS}, {k: rv[k] for k in COUNTERS})
        assert e.swap_used_pages() == r.swap_used_pages()
        assert [x["pid"] for x in e.drain_events() if x["type"] == "oom_kill"] == [
            x["pid"] for x in r.drain_events() if x["type"] == "oom_kill"]
        for pid in r.pids():
            ep, rp = e.process(pid), r.process(pid)
            assert [vma_key(v) for v in ep.vmas] == [vma_key(v) for v in rp.vmas], pid
            assert (ep.minflt, ep.majflt, ep.refaults) == (rp.minflt, rp.majflt, rp.refaults)
            assert_same(f"memory({pid})", vars(e.memory(pid)), vars(r.memory(pid)))
            es, rs = e.smaps(pid), r.smaps(pid)
            assert_same(f"smaps({pid})", {n: getattr(es, n).tolist() for n in SmapsCounts.FIELDS},
                        {n: getattr(rs, n).tolist() for n in SmapsCounts.FIELDS})
            for v in rp.vmas:
                first, count = v.start // PAGE_SIZE, v.size // PAGE_SIZE
                for privileged in (False, True):
                    got = e.pagemap(pid, first, count, privileged=privileged).tolist()
                    want = r.pagemap(pid, first, count, privileged=privileged).tolist()
                    assert_same(f"pagemap({pid}, {first:#x}, privileged={privileged})",
                                dict(enumerate(got)), dict(enumerate(want)))
            assert e.oom_score(pid) == r.oom_score(pid)

    @invariant()
    def same_free_order(self) -> None:
        """Freed frames are reused last first, so a difference in the order frames are
        freed shows in PFNs only later: catch it at the step that makes it."""
        if not hasattr(self, "ref"):
            return
        stack = self.engine.frames._alloc
        got, want = stack._free[: stack._nfree].tolist(), self.ref._freed_frames
        assert got == want, f"free frames, top last: engine {got[-12:]}, reference {want[-12:]}"

    @invariant()
    def engine_invariants(self) -> None:
        if not hasattr(self, "engine"):
            return
        m = self.engine
        if hasattr(m, "check_invariants"):
            m.check_invariants()
        info = m.meminfo()
        assert info.free >= 0 and info.swap_free >= 0
        total_pss = 0
        for pid in m.pids():
            s = m.smaps(pid)
            mem = m.memory(pid)
            rollup = s.total()
            assert int(rollup.rss[0]) == mem.vm_rss * PAGE_SIZE  # Σ VMA Rss = process Rss
            assert (s.rss <= np.array([v.size for v in m.process(pid).vmas])).all()  # Size ≥ Rss
            assert (s.pss >> PSS_SHIFT <= s.rss).all()  # Rss ≥ Pss
            assert (s.shared_clean + s.shared_dirty + s.private_clean + s.private_dirty
                    == s.rss).all()  # Private + Shared = Rss
            assert (s.pss_anon + s.pss_file + s.pss_shmem == s.pss).all()
            assert int(rollup.swap[0]) >= mem.vm_swap * PAGE_SIZE
            total_pss += int(rollup.pss[0])
        # Every resident mapped frame's 4096 bytes are shared out among its
        # mappings, losing under one fixed-point unit per mapping to rounding.
        mapped_frames = info.anon_pages + info.mapped
        assert total_pss <= mapped_frames * (PAGE_SIZE << PSS_SHIFT)
        assert mapped_frames * (PAGE_SIZE << PSS_SHIFT) - total_pss <= 8 * PAGE_SIZE * max(
            1, mapped_frames)


def assert_same(what: str, got: dict[Any, Any], want: dict[Any, Any]) -> None:
    """Equal dicts, or a message naming each key that differs (engine vs reference)."""
    diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert not diff, f"{what}: engine != reference at {diff}"


def summarise(value: Any) -> Any:
    """What of an operation's return value must agree (Process objects are compared later)."""
    if value is None:
        return None
    if hasattr(value, "reclaimed") and hasattr(value, "skipped"):
        return (value.scanned, dict(value.reclaimed), dict(value.skipped))
    if hasattr(value, "minor") and hasattr(value, "major"):
        return (value.minor, value.major, value.refaults, tuple(value.oom_killed))
    return type(value).__name__


def vma_key(v: Any) -> tuple[Any, ...]:
    return (v.start, v.end, v.perms, v.offset, v.kind, v.path, v.name, v.locked)


EngineVsReference.TestCase.settings = settings(
    max_examples=int(os.environ.get("FAKEPROC_EXAMPLES", 100)), stateful_step_count=30,
    # The default run is the same every time (CI must not find new examples
    # at random); the long run explores.
    derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_engine_matches_reference = EngineVsReference.TestCase


class LongEngineVsReference(EngineVsReference):
    pass


LongEngineVsReference.TestCase.settings = settings(
    max_examples=2000, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_engine_matches_reference_long = pytest.mark.long(LongEngineVsReference.TestCase)
del precondition
