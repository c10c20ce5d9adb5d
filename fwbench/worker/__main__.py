"""``python -m fwbench.worker``: see :mod:`fwbench.worker`."""

import sys

from fwbench.worker import main

sys.exit(main())
