"""Layer "syntax": pure parsers for every writable file's input.

Bytes or text in, a typed request out, or a :class:`~fakeproc.errors.ParseError`
carrying the errno the kernel would return and the position of the fault.
Nothing here looks at a machine: checks that need state (alignment against
mappings, a live pid) belong to the engine and the control layer.
"""

from fakeproc.syntax._commands import (
    Advice,
    Command,
    DropCaches,
    Exit,
    Fork,
    Madvise,
    Mlock,
    Mmap,
    Munlock,
    Munmap,
    Save,
    Spawn,
    Sync,
    Tick,
    Touch,
    command_word,
    default_perms,
)
from fakeproc.syntax._control import (
    PID_MAX,
    PID_MIN,
    ControlSyntaxError,
    format_command,
    parse_control,
    parse_control_lines,
)
from fakeproc.syntax._numbers import format_size, parse_number, parse_size
from fakeproc.syntax._procfile import (
    NUMBUF_MAX_BYTES,
    RECLAIM_MAX_BYTES,
    ReclaimRange,
    ReclaimRequest,
    ReclaimWhole,
    parse_clear_refs,
    parse_comm_write,
    parse_oom_score_adj,
    parse_reclaim,
    reclaim_text,
)

__all__ = [
    "NUMBUF_MAX_BYTES",
    "PID_MAX",
    "PID_MIN",
    "RECLAIM_MAX_BYTES",
    "Advice",
    "Command",
    "ControlSyntaxError",
    "DropCaches",
    "Exit",
    "Fork",
    "Madvise",
    "Mlock",
    "Mmap",
    "Munlock",
    "Munmap",
    "ReclaimRange",
    "ReclaimRequest",
    "ReclaimWhole",
    "Save",
    "Spawn",
    "Sync",
    "Tick",
    "Touch",
    "command_word",
    "default_perms",
    "format_command",
    "format_size",
    "parse_clear_refs",
    "parse_comm_write",
    "parse_control",
    "parse_control_lines",
    "parse_number",
    "parse_oom_score_adj",
    "parse_reclaim",
    "parse_size",
    "reclaim_text",
]
