"""The DuckDB catalog: one read-write connection per process.

DuckDB allows one read-write process per database file. The dashboard's process
(or one CLI command) owns the :class:`Catalog`; threads share it through
per-call cursors, and writes are serialised by a lock so concurrent Streamlit
sessions never interleave a transaction. Extraction workers never open it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from facs_core.errors import StoreError
from store.migrate import migrate
from store.paths import StorePaths, resolve_data_dir

_LOCK_PID = re.compile(r"PID (\d+)")


class Catalog:
    """An open store: the DuckDB catalog plus the folders beside it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The process's one connection to the catalog file.
    paths : StorePaths
        Layout of the data folder.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, paths: StorePaths) -> None:
        self._con = con
        self.paths = paths
        self._write_lock = threading.RLock()

    # -- reading -----------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a read query and return its result as a DataFrame."""
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        """Run a query and return its first row, or None."""
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params or []).fetchone()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run a query and return the first column of its first row."""
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    # -- writing -----------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement that changes the catalog, in its own transaction."""
        with self.transaction() as cur:
            cur.execute(sql, params or [])

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction: all of it is committed, or none."""
        with self._write_lock:
            cur = self._con.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                cur.close()
                raise
            cur.execute("COMMIT")
            cur.close()

    def checkpoint(self) -> None:
        """Write the write-ahead log into the catalog file (before a backup)."""
        with self._write_lock:
            self._con.execute("CHECKPOINT")

    def close(self) -> None:
        """Close the connection; the Catalog is unusable afterwards."""
        self._con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A short-lived owner (one CLI command) releases the file lock however it ends.
        self.close()


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the data folder {folder} is not writable by this user")
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"the data folder {folder} is not writable: {exc.strerror}") from None


def open_catalog(data_dir: str | os.PathLike[str] | None = None) -> Catalog:
    """Open (and on first start create and migrate) the store in ``data_dir``.

    Raises
    ------
    StoreError
        The data folder is not writable, the catalog is held by another
        process, or it was made by newer software. The message names the path.
    """
    paths = StorePaths(resolve_data_dir(data_dir))
    for folder in paths.folders():
        _ensure_writable(folder)
    try:
        con = duckdb.connect(str(paths.catalog))
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = _LOCK_PID.search(text)
            holder = f" (process {pid[1]})" if pid else ""
            raise StoreError(
                f"the store {paths.catalog} is in use by another process{holder};"
                " stop it, or choose another data folder with --data-dir or FACS_DATA_DIR"
            ) from None
        raise StoreError(f"cannot open the store {paths.catalog}: {text.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise StoreError(f"cannot open the store {paths.catalog}: {str(exc).splitlines()[0]}") from None
    try:
        migrate(con)
    except Exception:
        con.close()
        raise
    _remove_stale_temporaries(paths)
    return Catalog(con, paths)


def _remove_stale_temporaries(paths: StorePaths) -> None:
    """Delete what interrupted writers left behind; they are never results."""
    for folder in (paths.tmp, paths.frames, paths.videos, paths.playback, paths.cache):
        # "*.partial*" also matches playback copies ("*.partial.webm": FFmpeg picks formats by extension).
        for leftover in folder.rglob("*.partial*"):
            leftover.unlink(missing_ok=True)
