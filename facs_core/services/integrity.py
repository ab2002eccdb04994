"""Verify a whole store: catalog, videos, playback copies and shards, byte for byte.

Every file the store keeps has its sha256 recorded in the catalog when it is
written: a video's in ``videos.sha256`` (its file is named by it), a browser
playback copy's in ``videos.playback_sha256``, a shard's in
``runs.shard_sha256``. :func:`verify_catalog` checks

* that every table of the catalog reads back (DuckDB checksums each block it
  reads, so a changed byte in a used block of ``catalog.duckdb`` is found);
* that every file the catalog names exists, and hashes to what was recorded;
* that no video, playback copy or shard lies in the data folder without a
  catalog row naming it (an orphan).

Each problem is one line, ``<file relative to the data folder>: <what>``; a
clean store has none. The outcome is recorded in ``verifications`` (the
Admin page shows the last one). Files written by software older than schema
version 5 have no recorded checksum: they are reported until
``record_missing=True`` (``verify --record-missing``) records the hashes they
have now, trusting them from then on.

Verification reveals the store's layout (file names, which rows are damaged)
and writes to the catalog, so each call takes the acting user and is
authorised as the ``admin`` action (:func:`facs_core.services.access.authorise`:
the account is re-read, a refusal is audited); the command line acts as the
local operator.

Chunks (``chunks/``) are scratch space of jobs in progress and the wavelet
cache (``cache/``) is derived data; neither is checked.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any

import duckdb

from facs_core.errors import FacsError, StoreError
from facs_core.services import access
from facs_core.services.access import LocalOperator, PermissionDenied, User
from store.catalog import Catalog
from store.paths import StorePaths, resolve_data_dir
from store.videos import sha256_file

__all__ = [
    "Verification",
    "damage_summary",
    "last_verification",
    "verify_catalog",
    "verify_data_dir",
]

#: Folders whose files must each be named by a catalog row.
CHECKED_FOLDERS: tuple[str, ...] = ("videos", "playback", "frames")


@dataclass(frozen=True)
class Verification:
    """The outcome of one verification.

    Attributes
    ----------
    problems : tuple of str
        One line per problem, ``<path>: <what>``; empty when the store is sound.
    files_checked : int
        Files hashed (the catalog counts as one).
    recorded : int
        Checksums recorded for files that had none (``record_missing``).
    """

    problems: tuple[str, ...]
    files_checked: int
    recorded: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def damage_summary(problems: tuple[str, ...] | list[str], shown: int = 3) -> str:
    """The first ``shown`` problems joined on one line, and how many more there are."""
    listed = "; ".join(problems[:shown])
    more = len(problems) - shown
    return listed + (f"; and {more} more" if more > 0 else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _inside(paths: StorePaths, relative: str) -> Path | None:
    # A catalog path is data, not trusted: it must stay below the data folder.
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    return paths.root.joinpath(*pure.parts)


def _read_all_tables(catalog: Catalog) -> list[str]:
    problems = []
    tables = catalog.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
    )["table_name"].tolist()
    for table in tables:
        try:
            catalog.fetchone(f'SELECT count(*), sum(hash(COLUMNS(*))) FROM "{table}"')
        except duckdb.Error as exc:
            problems.append(f"{catalog.paths.catalog.name}: table {table} cannot be read ({_first_line(exc)})")
    return problems


@dataclass
class _Check:
    """One file the catalog names and the checksum it recorded."""

    relative: str
    expected: str | None
    what: str
    record_sql: str | None = None
    record_key: Any = None


def _records(catalog: Catalog, sql: str) -> list[SimpleNamespace]:
    # NULL stays None (pandas would make it NaN, which is truthy).
    table = catalog.query(sql)
    table = table.astype(object).where(table.notna(), None)
    return [SimpleNamespace(**row) for row in table.to_dict("records")]


def _catalogued_files(catalog: Catalog) -> Iterator[_Check]:
    videos = _records(
        catalog, "SELECT video_id, sha256, stored_path, playback_path, playback_sha256 FROM videos ORDER BY video_id"
    )
    for row in videos:
        if row.stored_path:
            yield _Check(row.stored_path, row.sha256, f"video {row.video_id}")
        if row.playback_path:
            yield _Check(
                row.playback_path,
                row.playback_sha256,
                f"playback copy of video {row.video_id}",
                "UPDATE videos SET playback_sha256 = ? WHERE video_id = ?",
                row.video_id,
            )
    runs = _records(
        catalog,
        "SELECT run_id, video_id, shard_path, shard_sha256 FROM runs"
        " WHERE status = 'done' AND shard_path IS NOT NULL ORDER BY run_id",
    )
    for row in runs:
        yield _Check(
            row.shard_path,
            row.shard_sha256,
            f"shard of run {row.run_id}, video {row.video_id}",
            "UPDATE runs SET shard_sha256 = ? WHERE run_id = ?",
            row.run_id,
        )


def _stored_files(paths: StorePaths) -> Iterator[str]:
    for name in CHECKED_FOLDERS:
        folder = paths.root / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            # Temporaries of writers in flight are not results (and are removed at start).
            if path.is_file() and ".partial" not in path.name:
                yield path.relative_to(paths.root).as_posix()


def verify_catalog(catalog: Catalog, user: User, *, record: bool = True, record_missing: bool = False) -> Verification:
    """Check the open store's catalog and every file it names; see the module docstring.

    Parameters
    ----------
    catalog : Catalog
        The open store.
    user : facs_core.services.access.User
        Who asks: must be allowed ``admin`` now (a refusal is audited); the
        command line passes :class:`~facs_core.services.access.LocalOperator`.
        The record names this account.
    record : bool
        Append the outcome to ``verifications``.
    record_missing : bool
        Record the current hash of files that have no checksum yet instead of
        reporting them.

    Raises
    ------
    PermissionDenied
        ``user`` may not administer the store; nothing was read or recorded.
    """
    actor = access.authorise(catalog, user, "admin", target="verify").username
    started = datetime.now(UTC)
    paths = catalog.paths
    problems = _read_all_tables(catalog)
    checked, recorded = 1, 0
    named: set[str] = set()
    if not problems:
        for item in _catalogued_files(catalog):
            named.add(item.relative)
            target = _inside(paths, item.relative)
            if target is None:
                problems.append(f"{item.relative}: the catalog names a path outside the data folder ({item.what})")
                continue
            if not target.is_file():
                problems.append(f"{item.relative}: missing ({item.what})")
                continue
            try:
                actual = sha256_file(target)
            except OSError as exc:
                problems.append(f"{item.relative}: cannot be read ({exc.strerror or exc}; {item.what})")
                continue
            checked += 1
            if item.expected is None:
                if record_missing and item.record_sql:
                    catalog.execute(item.record_sql, [actual, item.record_key])
                    recorded += 1
                else:
                    problems.append(
                        f"{item.relative}: no checksum recorded ({item.what}); 'verify --record-missing' records it"
                    )
            elif actual != item.expected:
                problems.append(f"{item.relative}: content differs from its recorded sha256 ({item.what})")
        for relative in _stored_files(paths):
            if relative not in named:
                problems.append(f"{relative}: orphan file, no catalog row names it")
    outcome = Verification(tuple(problems), checked, recorded, started)
    if record:
        _record(catalog, outcome, actor)
    return outcome


def _record(catalog: Catalog, outcome: Verification, actor: str) -> None:
    # A catalog too damaged to take the record is already among the problems.
    with contextlib.suppress(duckdb.Error):
        catalog.execute(
            "INSERT INTO verifications (started_at, actor, files_checked, problems) VALUES (?, ?, ?, ?)",
            [outcome.started_at.replace(tzinfo=None), actor, outcome.files_checked, json.dumps(list(outcome.problems))],
        )


def verify_data_dir(
    data_dir: str | os.PathLike[str] | None,
    user: User,
    *,
    record: bool = True,
    record_missing: bool = False,
) -> Verification:
    """Open the store in ``data_dir`` and verify it as ``user``; a catalog that does not open is a problem too.

    Nothing is created: a folder without a catalog is refused. ``user`` is
    authorised as in :func:`verify_catalog`; an account can only be checked in
    a catalog that opens, so only the local operator hears that it does not.

    Raises
    ------
    PermissionDenied
        ``user`` may not administer the store (or the catalog does not open
        and ``user`` is not the local operator).
    StoreError
        There is no store in ``data_dir``, or it is in use by another process.
    """
    from store import open_catalog

    paths = StorePaths(resolve_data_dir(data_dir))
    if not paths.catalog.is_file():
        raise StoreError(f"no store in {paths.root} (no {paths.catalog.name}); nothing to verify")
    try:
        catalog = open_catalog(paths.root)
    except FacsError as exc:
        if "in use by another process" in str(exc):
            raise
        return _unopened(paths, exc, user)
    except duckdb.Error as exc:
        return _unopened(paths, exc, user)
    with catalog:
        return verify_catalog(catalog, user, record=record, record_missing=record_missing)


def _unopened(paths: StorePaths, exc: BaseException, user: User) -> Verification:
    # Without a catalog no account can be checked: fail closed for everyone but the operator.
    if type(user) is not LocalOperator:
        raise PermissionDenied("the store's catalog does not open, so no account can be checked; ask the operator")
    return Verification((f"{paths.catalog.name}: cannot be opened ({_first_line(exc)})",), 1)


def last_verification(catalog: Catalog, user: User) -> dict[str, Any] | None:
    """The latest recorded verification (``problems`` decoded), or None when there was none.

    It names damaged files, so ``user`` must be allowed ``admin`` (as for
    :func:`verify_catalog`; a refusal is audited).
    """
    access.authorise(catalog, user, "admin", target="verify")
    rows = catalog.query(
        "SELECT verification_id, started_at, finished_at, actor, files_checked, problems"
        " FROM verifications ORDER BY verification_id DESC LIMIT 1"
    ).to_dict("records")
    if not rows:
        return None
    row = rows[0]
    row["problems"] = json.loads(row["problems"]) if isinstance(row["problems"], str) else list(row["problems"])
    return row
