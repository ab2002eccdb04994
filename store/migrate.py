"""Versioned schema migrations.

Each file ``store/migrations/NNNN_name.sql`` moves the catalog from schema
version ``NNNN - 1`` to ``NNNN``. A catalog made by any earlier version opens
and upgrades itself; each step runs in its own transaction, so an interrupted
upgrade leaves the catalog at the last complete version. Migration files are
never edited once released: a change of schema is a new file.

Numbers are reserved by parallel branches before they land, so the shipped set
may have gaps for a while (1, 2, 5). A catalog records each step it applied,
and opening it applies every shipped step it lacks, in order, so a store made
while step 3 was still on a branch gains step 3 when that lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema step."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """All shipped migrations, in version order."""
    found = []
    for entry in resources.files("store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or not versions or versions[0] != 1:
        raise RuntimeError(f"store migrations are not numbered uniquely from 1: {versions}")
    return found


LATEST_VERSION = migrations()[-1].version


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """Schema version of an open catalog; 0 for an empty file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Bring the catalog up to ``target`` (default: the latest version).

    Returns the version the catalog is at afterwards.
    """
    target = LATEST_VERSION if target is None else target
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    version = current_version(con)
    shipped = migrations()
    applied = {int(row[0]) for row in con.execute("SELECT version FROM schema_version").fetchall()}
    unknown = sorted(applied - {step.version for step in shipped})
    if version > LATEST_VERSION or unknown:
        from facs_core.errors import StoreError

        raise StoreError(
            f"the store is at schema version {max(version, *unknown)}, newer than this software"
            f" ({LATEST_VERSION}); upgrade the software before opening it"
        )
    for step in shipped:
        if step.version not in applied and step.version <= target:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(step.sql)
                con.execute(
                    "INSERT INTO schema_version (version, name) VALUES (?, ?)",
                    [step.version, step.name],
                )
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            version = max(version, step.version)
    return version
