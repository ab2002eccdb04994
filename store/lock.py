"""Taking turns on the catalog file across processes.

DuckDB lets one process hold a database file read-write, and while it does no
other process may open the file at all. The dashboard and any number of
command-line processes therefore take turns: a process holds the file only for
a unit of work (:meth:`store.catalog.Catalog.session`) and waits its turn
otherwise. Two advisory ``flock`` files beside the catalog organise the turns:

- ``catalog.lock``: held exclusively by the process that has the catalog open.
  It carries the holder's process id and since when it holds the file, for the
  one-line message of a waiter that gives up.
- ``catalog.waiting``: held *shared* by every process waiting for its turn. A
  holder that finished a unit of work and would like to keep the file open a
  little longer (the next query of a page render usually follows within
  milliseconds, and opening DuckDB costs tens of milliseconds) checks this
  file and closes at once when someone waits.

``flock`` locks belong to the open file description and vanish when a process
dies, SIGKILL included, so a crashed holder never leaves the store locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

from facs_core.errors import StoreError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT_S",
    "LOCK_TIMEOUT_ENV",
    "StoreBusyError",
    "TurnLock",
    "exclusive_turn",
    "lock_timeout_s",
    "only_user",
    "register_user",
]

#: Environment variable: seconds a process waits for its turn before it gives up.
LOCK_TIMEOUT_ENV = "FACS_LOCK_TIMEOUT_S"
DEFAULT_LOCK_TIMEOUT_S = 30.0
_POLL_MIN_S = 0.002
_POLL_MAX_S = 0.05


class StoreBusyError(StoreError):
    """Another process held the catalog for longer than this one would wait."""


def lock_timeout_s() -> float:
    """The wait for a turn on the catalog: ``$FACS_LOCK_TIMEOUT_S`` or 30 s.

    Raises
    ------
    StoreError
        The variable is set to something that is not a non-negative number.
    """
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise StoreError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise StoreError(f"{LOCK_TIMEOUT_ENV}={raw!r} must be a finite number of seconds, 0 or more")
    return value


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class TurnLock:
    """The cross-process turn on one catalog file.

    Parameters
    ----------
    catalog : Path
        The DuckDB file; the lock files live beside it.
    """

    def __init__(self, catalog: Path) -> None:
        self.catalog = catalog
        self._lock_path = catalog.with_name(catalog.name + ".lock")
        self._wait_path = catalog.with_name(catalog.name + ".waiting")
        self._lock_fd: int | None = None
        self._wait_fd: int | None = None
        self.held = False

    def _fds(self) -> tuple[int, int]:
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if self._wait_fd is None:
            self._wait_fd = os.open(self._wait_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock_fd, self._wait_fd

    def acquire(self, timeout_s: float, configured_s: float | None = None) -> None:
        """Wait up to ``timeout_s`` for the turn (``configured_s``: the wait to name in the message).

        Raises
        ------
        StoreBusyError
            Another process kept its turn longer than ``timeout_s``; the
            message names the catalog, the holder and the variable to change.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self._acquire_fd(deadline, timeout_s if configured_s is None else configured_s)
            if self._current():
                self._mark_held()
                return
            # The lock file was replaced (a restore swapped the data folder): lock the new one.
            self.close()

    def _current(self) -> bool:
        """Whether the locked descriptor is still the file at the lock's path."""
        try:
            return os.fstat(self._lock_fd).st_ino == os.stat(self._lock_path).st_ino
        except OSError:
            return False

    def _acquire_fd(self, deadline: float, configured_s: float) -> None:
        lock_fd, wait_fd = self._fds()
        if _try_flock(lock_fd, fcntl.LOCK_EX):
            return
        announced = False
        pause = _POLL_MIN_S
        try:
            while True:
                # Announce the wait (shared: any number of waiters); a holder's
                # probe takes this file exclusively for an instant, so retry.
                if not announced:
                    announced = _try_flock(wait_fd, fcntl.LOCK_SH)
                if _try_flock(lock_fd, fcntl.LOCK_EX):
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreBusyError(self.busy_message(configured_s))
                time.sleep(min(remaining, pause * (0.5 + random.random())))
                pause = min(pause * 2, _POLL_MAX_S)
        finally:
            if announced:
                fcntl.flock(wait_fd, fcntl.LOCK_UN)

    def _mark_held(self) -> None:
        self.held = True
        stamp = f"{os.getpid()} {time.time():.3f}\n".encode()
        try:
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, stamp, 0)
        except OSError:  # the note is for messages only; the flock is what counts
            pass

    def release(self) -> None:
        """Give the turn back (the files stay, for the next turn)."""
        if self.held and self._lock_fd is not None:
            self.held = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def others_waiting(self) -> bool:
        """Whether another process waits for the turn (cheap: one system call or two)."""
        _, wait_fd = self._fds()
        if _try_flock(wait_fd, fcntl.LOCK_EX):
            fcntl.flock(wait_fd, fcntl.LOCK_UN)
            return False
        return True

    def holder(self) -> tuple[int, float] | None:
        """``(pid, held since, epoch seconds)`` written by the current holder, if readable."""
        try:
            text = self._lock_path.read_text().split()
            return int(text[0]), float(text[1])
        except (OSError, ValueError, IndexError):
            return None

    def busy_message(self, waited_s: float) -> str:
        """One line: whose turn it is, for how long, and what to change."""
        found = self.holder()
        if found is not None:
            pid, since = found
            who = f"process {pid} has held it for {max(0.0, time.time() - since):.0f} s"
        else:
            who = "another process holds it"
        return (
            f"the store {self.catalog} is busy: {who}; gave up after waiting {waited_s:g} s"
            f" (set {LOCK_TIMEOUT_ENV} to wait longer)"
        )

    def close(self) -> None:
        """Release the turn and close the lock files' descriptors."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        self.held = False
        for name in ("_lock_fd", "_wait_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)


def only_user(fd: int) -> bool:
    """Whether the process holding ``fd`` (from :func:`register_user`) is the store's only user now."""
    # A failed conversion may drop the shared lock first (flock(2)), so it is always taken again.
    sole = _try_flock(fd, fcntl.LOCK_EX)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return sole


def register_user(catalog: Path) -> tuple[int, bool]:
    """Mark this process as a user of the store; return the descriptor to keep and whether it is the only one.

    Every process that has the store open holds ``catalog.users`` shared for as
    long as it keeps the returned descriptor open (the kernel drops the lock of
    a killed process). Taking it exclusively first tells whether any other
    process uses the store: when none does, nothing another process is writing
    can be mistaken for a leftover of a crash.
    """
    fd = os.open(catalog.with_name(catalog.name + ".users"), os.O_RDWR | os.O_CREAT, 0o600)
    sole = _try_flock(fd, fcntl.LOCK_EX)
    # Converting to shared is not atomic, which only costs another process its
    # "only user" status for an instant: it then skips cleaning, never wrongly cleans.
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd, sole


@contextlib.contextmanager
def exclusive_turn(catalog: Path, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the turn on ``catalog`` for the block, from outside any :class:`~store.catalog.Catalog`.

    For operations that replace the store's files (restore): every process
    using the store waits meanwhile, and the lock files' replacement is
    noticed by their next turn.
    """
    turn = TurnLock(catalog)
    wait = lock_timeout_s() if timeout_s is None else timeout_s
    turn.acquire(wait, wait)
    try:
        yield
    finally:
        turn.close()
