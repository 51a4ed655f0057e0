"""``python mount.py MOUNTPOINT ...`` is ``fakeproc mount MOUNTPOINT ...``."""

import sys

from fakeproc.cli import main

if __name__ == "__main__":
    sys.exit(main(["mount", *sys.argv[1:]]))
