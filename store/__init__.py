"""store: persistence for the FACS interview dashboard.

A DuckDB catalog (patients, videos, clinical scores, segments, runs, jobs,
users, audit) plus per-frame results as Parquet shards that DuckDB queries in
place. Only the app process (or one CLI process) opens the catalog read-write;
extraction workers write shards with :func:`store.shards.write_shard` and never
open the catalog.
"""

from store.catalog import Catalog, open_catalog
from store.paths import StorePaths, resolve_data_dir

__all__ = ["Catalog", "StorePaths", "open_catalog", "resolve_data_dir"]
