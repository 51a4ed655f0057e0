"""The FUSE layer: the procfs tree served by pyfuse3 over one simulated machine.

Modules: :mod:`.tree` (names, inode numbers, modes: pure), :mod:`.handles`
(per-open-file rules: pure), :mod:`.operations` (the pyfuse3 handlers),
:mod:`.daemon` (mount, serve), :mod:`.loop` (the request loop, signals),
:mod:`.registry` (pid files and mount lookups for ``umount``), :mod:`.caller`
(who is calling, from the real /proc).
"""
