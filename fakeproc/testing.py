"""pytest plugin: fixtures that mount fakeproc for a test (registered as ``pytest11``)."""
