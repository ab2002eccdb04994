"""``python -m facs_core``: the headless command line."""

import gc
import sys

from facs_core.cli import main

code = main()
# Every command has closed its store and files by now. Without this, the interpreter's last
# collections walk every object pandas and pyarrow created: 0.1 s of a 2.5 s `stats scalogram`
# run (bench/periods.py), against 0.04 s frozen. atexit handlers still run.
gc.freeze()
sys.exit(code)
