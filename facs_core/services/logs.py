"""Logging that keeps tracebacks out of users' sight and identifying data out of logs.

Log lines name videos by their id (a hash prefix) and patients by their
pseudonymous code, never by a file's original name or any clinical value.
"""

from __future__ import annotations

import logging
import os
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

from facs_core.records import LOGGER_NAME

__all__ = ["LOGGER_NAME", "log_exception", "log_folder"]


def log_folder(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder logs go to: ``<data folder>/logs`` if writable, else the temp folder.

    A data folder that does not exist yet is not created for a log: a command
    that failed must not leave a ``./data`` behind as a side effect.
    """
    from store.paths import resolve_data_dir

    root = resolve_data_dir(data_dir)
    if not root.is_dir():
        return Path(tempfile.gettempdir())
    folder = root / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def log_exception(exc: BaseException, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Append ``exc`` with its traceback to the error log; return the log's path."""
    path = log_folder(data_dir) / "errors.log"
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"--- {stamp}\n{text}\n")
    logging.getLogger(LOGGER_NAME).debug("logged %s to %s", type(exc).__name__, path)
    return path
