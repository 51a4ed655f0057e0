"""fakeproc: a procfs for simulated processes, with Linux per-process reclaim."""

__version__ = "0.1.0"
