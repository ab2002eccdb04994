"""Named points inside multi-step writes where a test can stop the process.

A crash test sets ``FACS_CRASH_POINT`` to a point's name and
``FACS_CRASH_MARKER`` to a file path, starts a real writer, waits for the
marker file and then SIGKILLs the writer: the kill provably lands at that
point of the write, not wherever a timer happened to fire. Unset (always, in
production) a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["CRASH_MARKER_ENV", "CRASH_POINT_ENV", "crash_point"]

CRASH_POINT_ENV = "FACS_CRASH_POINT"
CRASH_MARKER_ENV = "FACS_CRASH_MARKER"


def crash_point(name: str) -> None:
    """Stop here, forever, when ``$FACS_CRASH_POINT`` names this point (after writing the marker file)."""
    if os.environ.get(CRASH_POINT_ENV) != name:
        return
    marker = os.environ.get(CRASH_MARKER_ENV)
    if marker:
        # Renamed into place, so the test never reads a marker that exists but is still empty.
        partial = Path(f"{marker}.{os.getpid()}.tmp")
        partial.write_text(f"{os.getpid()} {name}\n")
        os.replace(partial, marker)
    while True:  # the test's SIGKILL ends this
        time.sleep(3600)
