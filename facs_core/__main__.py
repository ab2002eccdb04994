"""``python -m facs_core``: the headless command line."""

import sys

from facs_core.cli import main

sys.exit(main())
