"""store: persistence for the FACS interview dashboard.

A DuckDB catalog (patients, videos, clinical scores, segments, runs, jobs,
users, audit) plus per-frame results as Parquet shards that DuckDB queries in
place. Only the app process (or one CLI process) opens the catalog read-write;
extraction workers write shards with :func:`store.shards.write_shard` and never
open the catalog.

The catalog's names are imported on first use: every command line call reads
the data folder's path (:mod:`store.paths`), which must not cost DuckDB's and
pandas' import when the command then analyses files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.paths import StorePaths, resolve_data_dir

if TYPE_CHECKING:
    from store.catalog import Catalog, open_catalog

__all__ = ["Catalog", "StorePaths", "open_catalog", "resolve_data_dir"]


def __getattr__(name: str) -> Any:
    if name in ("Catalog", "open_catalog"):
        from store import catalog

        return getattr(catalog, name)
    raise AttributeError(f"module 'store' has no attribute {name!r}")
