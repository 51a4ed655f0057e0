"""The per-process text files other than maps/smaps: status, statm, stat and the small ones."""

from __future__ import annotations

from fakeproc.engine.types import PAGE_SIZE, Process, ProcessMemory
from fakeproc.render import fields
from fakeproc.render.view import MachineView

_KIB_PER_PAGE = PAGE_SIZE >> 10
# RLIM_INFINITY as an unsigned long: stat's rsslim.
_RLIM_INFINITY = (1 << 64) - 1
_PF_RANDOMIZE = 0x00400000  # the flag every ordinary user process carries
_SIGCHLD = 17


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def escape_comm(comm: str) -> str:
    """status escapes a newline and a backslash in the name (seq_escape_str)."""
    return comm.replace("\\", "\\\\").replace("\n", "\\n")


def _memory_figures(mem: ProcessMemory) -> dict[str, int]:
    """Every source of fields.STATUS_MEMORY, in kB."""
    figures = {
        "vm_pin": 0,
        "vm_pte_kib": mem.vm_pte_bytes >> 10,
        "hugetlb_kib": mem.hugetlb * _KIB_PER_PAGE,
    }
    for _line, source in fields.STATUS_MEMORY:
        if source not in fields.STATUS_KIB_SOURCES:
            figures[source] = getattr(mem, source) * _KIB_PER_PAGE
    return figures


def _process_group(proc: Process) -> tuple[int, int]:
    """(pgrp, session): each simulated process leads its own group and session."""
    return proc.pid, proc.pid


def render_status(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/status, every line of Linux 6.18 in its order."""
    proc = m.process(pid)
    mem = m.memory(pid)
    pgrp, session = _process_group(proc)
    root = proc.uid == 0
    caps = fields.ROOT_CAPS if root else fields.NO_CAPS
    sig_limit = m.config.ram_pages // 64  # RLIMIT_SIGPENDING: max_threads / 2
    ids = (
        ("Name", escape_comm(proc.comm)),
        ("Umask", "0022"),
        ("State", "S (sleeping)"),
        ("Tgid", str(proc.pid)),
        ("Ngid", "0"),
        ("Pid", str(proc.pid)),
        ("PPid", str(proc.ppid)),
        ("TracerPid", "0"),
        ("Uid", "\t".join([str(proc.uid)] * 4)),
        ("Gid", "\t".join([str(proc.gid)] * 4)),
        ("FDSize", "64"),
        # No supplementary groups: the kernel still writes the space.
        ("Groups", " "),
        ("NStgid", str(proc.pid)),
        ("NSpid", str(proc.pid)),
        ("NSpgid", str(pgrp)),
        ("NSsid", str(session)),
        ("Kthread", "0"),
    )
    figures = _memory_figures(mem)
    tail = (
        ("CoreDumping", "0"),
        ("THP_enabled", "1"),
        ("untag_mask", "0xffffffffffffffff"),
        ("Threads", "1"),
        ("SigQ", f"0/{sig_limit}"),
        ("SigPnd", fields.NO_CAPS),
        ("ShdPnd", fields.NO_CAPS),
        ("SigBlk", fields.NO_CAPS),
        ("SigIgn", fields.NO_CAPS),
        ("SigCgt", fields.NO_CAPS),
        ("CapInh", fields.NO_CAPS),
        ("CapPrm", caps),
        ("CapEff", caps),
        ("CapBnd", fields.FULL_CAP_BOUND),
        ("CapAmb", fields.NO_CAPS),
        ("NoNewPrivs", "0"),
        ("Seccomp", "0"),
        ("Seccomp_filters", "0"),
        *fields.STATUS_SPECULATION,
        ("Cpus_allowed", f"{(1 << fields.NR_CPUS) - 1:x}"),
        ("Cpus_allowed_list", f"0-{fields.NR_CPUS - 1}"),
        ("Mems_allowed", fields.STATUS_MEMS_ALLOWED),
        ("Mems_allowed_list", "0"),
        ("voluntary_ctxt_switches", "0"),
        ("nonvoluntary_ctxt_switches", "0"),
    )
    text = "".join(f"{label}:\t{value}\n" for label, value in ids)
    text += "".join(line.format(figures[source]) for line, source in fields.STATUS_MEMORY)
    text += "".join(f"{label}:\t{value}\n" for label, value in tail)
    return _encode(text)


def render_statm(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/statm: size resident shared text lib data dt, in pages."""
    mem = m.memory(pid)
    shared = mem.rss_file + mem.rss_shmem
    data = mem.vm_data + mem.vm_stk
    return f"{mem.vm_size} {mem.vm_rss} {shared} {mem.text} 0 {data} 0\n".encode("ascii")


def _layout(proc: Process) -> dict[str, int]:
    """Plausible mm layout addresses for stat (start_code, start_stack, ...).

    The engine keeps no such pointers; they are taken from the mappings: the
    executable's first and executable VMAs, its writable VMA, the heap and the
    stack. A process without them shows 0, as the kernel does for an mm it
    hides.
    """
    exe = [v for v in proc.vmas if proc.exe is not None and v.path == proc.exe]
    code = [v for v in exe if v.perms[2] == "x"]
    data = [v for v in exe if v.perms[1] == "w"]
    heap = [v for v in proc.vmas if v.name == "[heap]"]
    stack = [v for v in proc.vmas if v.name == "[stack]"]
    layout = dict.fromkeys(("start_code", "end_code", "start_stack", "start_data",
                            "end_data", "start_brk", "arg_start", "arg_end",
                            "env_start", "env_end"), 0)
    if code:
        layout["start_code"] = exe[0].start
        layout["end_code"] = code[-1].end
    if data:
        layout["start_data"] = data[0].start
        layout["end_data"] = data[-1].end
    if heap:
        layout["start_brk"] = heap[0].start
    if stack:
        top = stack[-1].end
        args = len("\0".join(proc.cmdline)) + 1 if proc.cmdline else 0
        # The stack holds, from the top: 8 bytes of padding, the environment
        # (none here), the arguments; the stack pointer sits a page below.
        layout["env_end"] = layout["env_start"] = top - 8
        layout["arg_end"] = top - 8
        layout["arg_start"] = top - 8 - args
        layout["start_stack"] = top - PAGE_SIZE
    return layout


def render_stat(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/stat: the 52 fields of do_task_stat, state S, one thread."""
    proc = m.process(pid)
    mem = m.memory(pid)
    pgrp, session = _process_group(proc)
    lay = _layout(proc)
    values: list[int] = [
        proc.ppid, pgrp, session,
        0,  # tty_nr
        -1,  # tpgid
        _PF_RANDOMIZE,
        proc.minflt, 0, proc.majflt, 0,  # minflt cminflt majflt cmajflt
        0, 0, 0, 0,  # utime stime cutime cstime
        20, 0,  # priority nice
        1, 0,  # num_threads itrealvalue
        proc.start_tick,
        mem.vm_size * PAGE_SIZE,
        mem.vm_rss,
        _RLIM_INFINITY,
        lay["start_code"], lay["end_code"], lay["start_stack"],
        0, 0,  # kstkesp kstkeip
        0, 0, 0, 0,  # signal blocked sigignore sigcatch
        0, 0, 0,  # wchan nswap cnswap
        _SIGCHLD,
        proc.pid % fields.NR_CPUS,  # processor it last ran on
        0, 0, 0, 0, 0,  # rt_priority policy blkio_ticks guest_time cguest_time
        lay["start_data"], lay["end_data"], lay["start_brk"],
        lay["arg_start"], lay["arg_end"], lay["env_start"], lay["env_end"],
        0,  # exit_code
    ]
    # The name is shown raw between parentheses; readers find the last ")".
    head = f"{proc.pid} ({proc.comm}) S "
    return _encode(head + " ".join(map(str, values)) + "\n")


def render_cmdline(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/cmdline: every argument followed by a NUL."""
    proc = m.process(pid)
    return b"".join(_encode(arg) + b"\0" for arg in proc.cmdline)


def render_comm(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/comm: the name and a newline."""
    return _encode(m.process(pid).comm + "\n")


def render_oom_score_adj(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/oom_score_adj."""
    return f"{m.process(pid).oom_score_adj}\n".encode("ascii")


def render_oom_score(m: MachineView, pid: int) -> bytes:
    """/proc/<pid>/oom_score."""
    return f"{m.oom_score(pid)}\n".encode("ascii")
