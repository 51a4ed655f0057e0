"""``python -m fakeproc ...`` is ``fakeproc ...``."""

import sys

from fakeproc.cli import main

sys.exit(main())
