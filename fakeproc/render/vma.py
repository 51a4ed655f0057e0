"""What one VMA looks like in maps and smaps: its header line and its VmFlags."""

from __future__ import annotations

import functools

from fakeproc.engine.types import Kind, Vma
from fakeproc.render import fields


def device_of(vma: Vma) -> tuple[int, int]:
    """The (major, minor) maps shows: the engine's, else a fixed plausible one."""
    if vma.dev != (0, 0):
        return vma.dev
    if vma.kind == "file":
        return fields.FILE_DEV
    if vma.kind == "shmem":
        return fields.SHMEM_DEV
    if vma.kind == "hugetlb":
        return fields.HUGETLB_DEV
    return (0, 0)


def escape_name(name: str) -> str:
    """seq_file_path escapes a newline in a path as octal, so a line stays a line."""
    return name.replace("\n", "\\012")


def format_header(start: int, end: int, perms: str, offset: int,
                  dev: tuple[int, int], inode: int, name: str) -> str:
    """One maps line (show_vma_header_prefix + the name column), with its newline."""
    prefix = (f"{start:08x}-{end:08x} {perms} {offset:08x} "
              f"{dev[0]:02x}:{dev[1]:02x} {inode} ")
    if not name:
        # An unnamed mapping keeps the prefix's trailing space.
        return prefix + "\n"
    return prefix.ljust(fields.MAPS_NAME_PAD) + " " + escape_name(name) + "\n"


def render_header(vma: Vma) -> str:
    """The maps line of ``vma``."""
    inode = vma.inode if vma.kind != "anon" else 0
    return format_header(vma.start, vma.end, vma.perms, vma.offset, device_of(vma),
                         inode, vma.display_name)


def vm_flags(vma: Vma) -> tuple[str, ...]:
    """The VmFlags mnemonics of ``vma``, in the kernel's bit order.

    The rules are the kernel's at mmap time: a shared file mapping opened
    for reading only loses VM_SHARED and VM_MAYWRITE (we take ``r--s`` on a
    file to mean the file was opened read-only); VM_ACCOUNT marks private
    writable mappings (accountable_mapping), except on hugetlbfs; hugetlbfs
    sets VM_HUGETLB | VM_DONTEXPAND.
    """
    readable, writable, executable = (vma.perms[0] == "r", vma.perms[1] == "w",
                                      vma.perms[2] == "x")
    shared = vma.shared
    file_read_only = vma.kind == "file" and not writable
    hugetlb = vma.kind == "hugetlb"
    present = {
        "rd": readable,
        "wr": writable,
        "ex": executable,
        "sh": shared and not file_read_only,
        "mr": True,
        "mw": not (shared and file_read_only),
        "me": True,
        "ms": shared,
        "gd": vma.kind == "anon" and vma.name == "[stack]",
        "lo": vma.locked,
        "de": hugetlb,
        "ac": not shared and writable and not hugetlb,
        "ht": hugetlb,
    }
    return tuple(flag for flag in fields.VMFLAG_ORDER if present[flag])


def render_vm_flags(vma: Vma) -> str:
    """The VmFlags line: every mnemonic is followed by a space, the last one too."""
    # The flags depend on these four only; there are few combinations, so
    # a 10,000-VMA smaps computes a handful of lines, not 10,000.
    return _vm_flags_line(vma.perms, vma.kind, vma.locked, vma.name == "[stack]")


@functools.lru_cache(maxsize=256)
def _vm_flags_line(perms: str, kind: Kind, locked: bool, stack: bool) -> str:
    vma = Vma(0, 0, perms, 0, kind, name="[stack]" if stack else None, locked=locked)
    return fields.VMFLAGS_HEAD + " " + "".join(f"{flag} " for flag in vm_flags(vma)) + "\n"


def page_size_kib(vma: Vma) -> int:
    """KernelPageSize and MMUPageSize: 2 MiB pages for hugetlb, else 4 KiB."""
    return fields.HUGE_PAGE_KIB if vma.kind == "hugetlb" else fields.KERNEL_PAGE_KIB
