"""The DuckDB catalog, shared by the dashboard and any number of CLI processes.

DuckDB lets one process at a time hold a database file, and then no other
process may open it at all. A :class:`Catalog` is therefore a *handle*, not an
open connection: every query, statement, transaction or explicit
:meth:`Catalog.session` is a unit of work that takes the process's turn on the
file (:mod:`store.lock`), opens DuckDB if it is not open yet, and gives the
turn back when the unit ends. Processes wait for their turn up to
``FACS_LOCK_TIMEOUT_S`` seconds (default 30) and then fail with one line.

Opening DuckDB costs tens of milliseconds, so after a unit of work the file is
kept open for a short linger (``FACS_CATALOG_LINGER_S``, default 0.1 s) in
case the next query follows at once (a page render issues several), and
closed immediately when another process waits. An idle dashboard holds
nothing. Within a process, threads share one connection through per-call
cursors; write transactions are serialised, and a thread inside a
:meth:`Catalog.transaction` runs every call on the same cursor, so helpers
that each write compose into one all-or-nothing transaction.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from facs_core.errors import StoreError
from store.lock import StoreBusyError, TurnLock, lock_timeout_s, only_user, register_user
from store.migrate import migrate
from store.paths import (
    BACKUP_STAGING_PREFIX,
    PRIVATE_FOLDER_MODE,
    StorePaths,
    make_private,
    private_umask,
    resolve_data_dir,
)

__all__ = ["Catalog", "StoreBusyError", "open_catalog"]

_LOCK_PID = re.compile(r"PID (\d+)")
LINGER_ENV = "FACS_CATALOG_LINGER_S"
DEFAULT_LINGER_S = 0.1
#: Interrupted writers' temporaries younger than this are left alone while other processes use the store.
STALE_PARTIAL_S = 3600.0


def named_row(cursor: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The next row of an executed ``cursor`` as ``{column: value}``, or None when there is none."""
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([column[0] for column in cursor.description], row, strict=True))


def _linger_s() -> float:
    try:
        return max(0.0, float(os.environ.get(LINGER_ENV, DEFAULT_LINGER_S)))
    except ValueError:
        return DEFAULT_LINGER_S


class _Holder:
    """This process's turn on one catalog file, shared by every handle and thread."""

    def __init__(self, paths: StorePaths) -> None:
        self.paths = paths
        self.turn = TurnLock(paths.catalog)
        self.cond = threading.Condition(threading.RLock())
        self.write_lock = threading.RLock()
        self.local = threading.local()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.users = 0
        self.draining = False
        self.released_at = 0.0
        self.closer: threading.Thread | None = None
        self.migrated = False
        self.opens = 0
        self.presence_fd, _ = register_user(paths.catalog)
        weakref.finalize(self, _close_fds, self.turn, self.presence_fd)

    def only_user(self) -> bool:
        """Whether no other process has this store open right now."""
        return only_user(self.presence_fd)

    # -- turns -------------------------------------------------------------
    def depth(self) -> int:
        return getattr(self.local, "depth", 0)

    def enter(self, timeout_s: float | None = None) -> duckdb.DuckDBPyConnection:
        """Start (or join, when nested in this thread) a unit of work; return the connection."""
        if self.depth():
            self.local.depth += 1
            return self.con
        timeout_s = lock_timeout_s() if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        with self.cond:
            if self.con is not None and self.users and self.turn.others_waiting():
                # Threads of this process keep overlapping: let the other process in first.
                self.draining = True
            while self.draining:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreBusyError(self.turn.busy_message(timeout_s))
                self.cond.wait(min(remaining, 0.05))
            if self.con is None:
                self._open(max(0.0, deadline - time.monotonic()), timeout_s)
            self.users += 1
            self.local.depth = 1
            return self.con

    def leave(self) -> None:
        """End this thread's unit of work; the file is closed now or after the linger."""
        self.local.depth -= 1
        if self.local.depth:
            return
        with self.cond:
            self.users -= 1
            if self.users == 0:
                linger = _linger_s()
                if self.draining or linger == 0 or self.turn.others_waiting():
                    self._close()
                else:
                    self.released_at = time.monotonic()
                    if self.closer is None or not self.closer.is_alive():
                        self.closer = threading.Thread(target=self._linger, name="facs-catalog-closer", daemon=True)
                        self.closer.start()
            self.cond.notify_all()

    def _linger(self) -> None:
        with self.cond:
            while self.con is not None:
                if self.users == 0:
                    idle = time.monotonic() - self.released_at
                    if idle >= _linger_s() or self.turn.others_waiting():
                        self._close()
                        break
                self.cond.wait(0.01)

    def _open(self, wait_s: float, timeout_s: float) -> None:
        self.turn.acquire(wait_s, timeout_s)
        deadline = time.monotonic() + wait_s
        try:
            while True:
                try:
                    con = duckdb.connect(str(self.paths.catalog))
                    break
                except duckdb.IOException as exc:
                    # A process outside this protocol (an older release, the duckdb shell) holds the file.
                    text = str(exc)
                    if "lock" not in text.lower():
                        raise StoreError(
                            f"cannot open the store {self.paths.catalog}: {text.splitlines()[0]}"
                        ) from None
                    if time.monotonic() >= deadline:
                        pid = _LOCK_PID.search(text)
                        holder = f" (process {pid[1]})" if pid else ""
                        raise StoreBusyError(
                            f"the store {self.paths.catalog} is in use by another process{holder};"
                            f" gave up after waiting {timeout_s:g} s (set FACS_LOCK_TIMEOUT_S to wait longer)"
                        ) from None
                    time.sleep(0.02)
                except duckdb.Error as exc:
                    raise StoreError(
                        f"cannot open the store {self.paths.catalog}: {str(exc).splitlines()[0]}"
                    ) from None
            if not self.migrated:
                try:
                    migrate(con)
                except BaseException:
                    con.close()
                    raise
                self.migrated = True
        except BaseException:
            self.turn.release()
            raise
        self.con = con
        self.opens += 1

    def _close(self) -> None:
        if self.con is not None:
            try:
                self.con.close()
            finally:
                self.con = None
                self.draining = False
                self.turn.release()

    def close_now(self) -> None:
        """Close the file at once if no unit of work runs (``Catalog.close``)."""
        with self.cond:
            if self.users == 0:
                self._close()
            self.cond.notify_all()


def _close_fds(turn: TurnLock, presence_fd: int) -> None:
    turn.close()
    with contextlib.suppress(OSError):
        os.close(presence_fd)


_HOLDERS: weakref.WeakValueDictionary[Path, _Holder] = weakref.WeakValueDictionary()
_HOLDERS_LOCK = threading.Lock()


def _holder_for(paths: StorePaths) -> _Holder:
    key = paths.catalog.resolve()
    with _HOLDERS_LOCK:
        holder = _HOLDERS.get(key)
        if holder is None:
            holder = _Holder(paths)
            _HOLDERS[key] = holder
        return holder


class Catalog:
    """A handle on a store: the DuckDB catalog plus the folders beside it.

    Every method is a unit of work that waits for this process's turn on the
    file (up to ``FACS_LOCK_TIMEOUT_S``); nest calls in :meth:`session` or
    :meth:`transaction` to make several of them one unit.

    Parameters
    ----------
    paths : StorePaths
        Layout of the data folder.
    """

    def __init__(self, paths: StorePaths) -> None:
        self.paths = paths
        self._holder = _holder_for(paths)

    # -- units of work -----------------------------------------------------
    @contextmanager
    def session(self, timeout_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the catalog for the block; yield a cursor (inside a transaction, the transaction's).

        No other process reads or writes the catalog until the block ends, so
        a read followed by a write inside one session is atomic. Keep
        sessions short: other processes wait for them.

        Raises
        ------
        StoreBusyError
            Another process kept the catalog longer than ``timeout_s``
            (default ``FACS_LOCK_TIMEOUT_S``).
        """
        holder = self._holder
        con = holder.enter(timeout_s)
        try:
            tx = getattr(holder.local, "tx", None)
            if tx is not None:
                yield tx
                return
            cur = con.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            holder.leave()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.session() as cur:
            yield cur

    # -- reading -----------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a read query and return its result as a DataFrame."""
        with self._cursor() as cur:
            return cur.execute(sql, params or []).df()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        """Run a query and return its first row, or None."""
        with self._cursor() as cur:
            return cur.execute(sql, params or []).fetchone()

    def fetchrow(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, Any] | None:
        """Run a query and return its first row as ``{column: value}``, or None."""
        with self._cursor() as cur:
            return named_row(cur.execute(sql, params or []))

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run a query and return the first column of its first row."""
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    # -- writing -----------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement that changes the catalog, in its own transaction (or the thread's open one)."""
        with self.transaction() as cur:
            cur.execute(sql, params or [])

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction: all of it is committed, or none.

        Nested in another transaction of the same thread, it joins that one:
        store helpers that write on their own compose into one transaction.
        """
        holder = self._holder
        con = holder.enter()
        try:
            outer = getattr(holder.local, "tx", None)
            if outer is not None:
                yield outer
                return
            with holder.write_lock:
                cur = con.cursor()
                cur.execute("BEGIN TRANSACTION")
                holder.local.tx = cur
                try:
                    yield cur
                except BaseException:
                    holder.local.tx = None
                    cur.execute("ROLLBACK")
                    cur.close()
                    raise
                holder.local.tx = None
                try:
                    cur.execute("COMMIT")
                finally:
                    cur.close()
        finally:
            holder.leave()

    def checkpoint(self) -> None:
        """Write the write-ahead log into the catalog file (before a backup)."""
        holder = self._holder
        con = holder.enter()
        try:
            with holder.write_lock:
                con.execute("CHECKPOINT")
        finally:
            holder.leave()

    @property
    def opens(self) -> int:
        """How often this process opened the DuckDB file (to measure what units of work cost)."""
        return self._holder.opens

    def close(self) -> None:
        """Give the file back now instead of after the linger; the handle stays usable."""
        self._holder.close_now()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data folder {folder}: {exc.strerror}") from None
    make_private(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the data folder {folder} is not writable by this user")
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"the data folder {folder} is not writable: {exc.strerror}") from None


def open_catalog(data_dir: str | os.PathLike[str] | None = None) -> Catalog:
    """A handle on the store in ``data_dir``, created and migrated on first start.

    The catalog file is opened once here (to create, migrate and check it) and
    then only for each unit of work.

    Raises
    ------
    StoreError
        The data folder is not writable, another process kept the catalog
        longer than ``FACS_LOCK_TIMEOUT_S``, or it was made by newer
        software. The message names the path.
    """
    private_umask()
    paths = StorePaths(resolve_data_dir(data_dir))
    for folder in paths.folders():
        _ensure_writable(folder)
    catalog = Catalog(paths)
    with catalog.session():
        pass
    for written in (paths.catalog, paths.catalog.with_name(paths.catalog.name + ".wal")):
        if written.exists():
            make_private(written, 0o600)
    _remove_stale_temporaries(paths, everything=catalog._holder.only_user())
    return catalog


def _remove_stale_temporaries(paths: StorePaths, everything: bool) -> None:
    """Delete what interrupted writers left behind; they are never results.

    With ``everything`` (no other process uses the store) every temporary is a
    leftover; otherwise only those nobody wrote to for :data:`STALE_PARTIAL_S`,
    so another process's upload, shard or backup in flight is never pulled
    away. Leftovers include half-written backup archives (``backups/.*.partial``)
    and the catalog copies of an interrupted backup (``tmp/facs-backup-*``).
    """
    now = time.time()
    for staging in paths.tmp.glob(f"{BACKUP_STAGING_PREFIX}*"):
        try:
            if everything or now - staging.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            continue
    for folder in (paths.tmp, paths.frames, paths.videos, paths.playback, paths.cache, paths.backups):
        # "*.partial*" also matches playback copies ("*.partial.webm": FFmpeg picks formats by extension).
        for leftover in folder.rglob("*.partial*"):
            try:
                if everything or now - leftover.stat().st_mtime > STALE_PARTIAL_S:
                    leftover.unlink(missing_ok=True)
            except OSError:
                continue
