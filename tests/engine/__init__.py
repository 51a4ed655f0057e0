"""Tests of fakeproc.engine: tiny hand-computed worlds and a reference model."""
