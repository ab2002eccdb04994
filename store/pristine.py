"""Whether a data folder holds nothing but an empty, just-created store.

A command that fails must leave no trace: when it created the data folder on
its way to the failure (opening the catalog creates it), the command line
removes the folder again, but only if :func:`is_pristine` says it holds nothing
anyone could miss: no file outside the catalog and the scratch folders, and no
row in any catalog table but the schema's own record.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["is_pristine"]

#: What an empty store may hold besides its (empty) folders: the catalog and the files
#: beside it (write-ahead log, turn and lock files), and scratch folders.
_CATALOG = "catalog.duckdb"
_SCRATCH = ("tmp", "logs")


def is_pristine(root: Path) -> bool:
    """True when ``root`` holds only an empty store (or nothing at all)."""
    root = Path(root)
    if not root.is_dir():
        return True
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        relative = path.relative_to(root)
        if (len(relative.parts) == 1 and path.name.startswith(_CATALOG)) or relative.parts[0] in _SCRATCH:
            continue
        return False
    catalog = root / _CATALOG
    if not catalog.exists():
        return True
    try:
        con = duckdb.connect(str(catalog), read_only=True)
    except duckdb.Error:
        return False  # held by another process, or unreadable: not ours to judge
    try:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name <> 'schema_version'"
            ).fetchall()
        ]
        return all(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] == 0 for t in tables)
    except duckdb.Error:
        return False
    finally:
        con.close()
