"""`python -m bench`: fakeproc against the kernel and baselines; ratios from one run."""
