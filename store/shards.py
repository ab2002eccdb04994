"""Per-frame results as Parquet shards, one per (extraction run, video).

A shard lives at ``frames/<run_id>/<video_id>.parquet`` under the data folder.
Writers put the whole table into a temporary ``*.partial`` file beside it,
flush it to disk and rename it into place, so a reader sees a complete shard
or none: a crash never leaves a half-written result. Writers need only the data
folder, never the catalog, so extraction workers in other processes (or on
other Ray nodes sharing the folder) can call :func:`write_shard` safely.

DuckDB reads the shards in place (``read_parquet``); nothing is loaded into the
catalog. DuckDB does not check Parquet page checksums, so :func:`parquet_list_sql`
first has every file's pages verified by pyarrow (:func:`verify_pages`), once
per file version (path, size, modification time) and process: a shard whose
bytes changed is refused in one line naming it, never read silently.

Integrity: every Parquet file is written with page checksums (CRC32 of each
page, verified by :func:`read_verified` and by pyarrow readers given
``page_checksum_verification=True``), and a shard's sha256 is computed from the
very bytes written, so the catalog can record it (``runs.shard_sha256``) and
``verify`` can tell any later change of a byte.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facs_core.errors import StoreError
from store.paths import StorePaths

__all__ = [
    "WrittenFile",
    "parquet_list_sql",
    "read_verified",
    "shard_path",
    "verify_pages",
    "write_atomically",
    "write_parquet",
    "write_shard",
    "write_shard_file",
]

#: Parquet page checksums: written on every table, verified by :func:`read_verified`.
PAGE_CHECKSUMS = True

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _checked_id(kind: str, value: str) -> str:
    # Ids become path components: refuse anything that could leave the folder.
    if not _SAFE_ID.match(value):
        raise ValueError(f"{kind} {value!r} is not a safe identifier (letters, digits, - and _)")
    return value


def shard_path(paths: StorePaths, run_id: str, video_id: str) -> Path:
    """Where the shard of ``video_id`` from extraction run ``run_id`` lives."""
    return paths.frames / _checked_id("run id", run_id) / f"{_checked_id('video id', video_id)}.parquet"


@dataclass(frozen=True)
class WrittenFile:
    """A file written atomically: where, how big, and the sha256 of its bytes."""

    path: Path
    size: int
    sha256: str


def _serialise(table: pa.Table, page_checksums: bool) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_page_checksum=page_checksums)
    return sink.getvalue()


def write_parquet(table: pa.Table, target: Path, *, page_checksums: bool = PAGE_CHECKSUMS) -> WrittenFile:
    """Write ``table`` as Parquet to ``target`` through a temporary file and a rename.

    The table is serialised in memory once (shards are compressed and small),
    hashed from those bytes and written, so the hash is of exactly what went
    to disk, not of a second read. The rename is atomic on POSIX file
    systems: ``target`` is either absent or complete.
    """
    body = _serialise(table, page_checksums)
    digest = hashlib.sha256(memoryview(body)).hexdigest()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "wb") as handle:
            handle.write(memoryview(body))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return WrittenFile(target, body.size, digest)


def write_atomically(table: pa.Table, target: Path) -> Path:
    """:func:`write_parquet`, returning only the path."""
    return write_parquet(table, target).path


def read_verified(path: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet file, checking every page's checksum where it has one."""
    return pq.read_table(path, columns=columns, page_checksum_verification=True)


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable, not only the file's bytes.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_shard(paths: StorePaths, run_id: str, video_id: str, frames: pd.DataFrame | pa.Table) -> Path:
    """:func:`write_shard_file`, returning only the path."""
    return write_shard_file(paths, run_id, video_id, frames).path


def write_shard_file(paths: StorePaths, run_id: str, video_id: str, frames: pd.DataFrame | pa.Table) -> WrittenFile:
    """Write one run's per-frame table for one video as a complete shard.

    ``video_id`` and ``run_id`` columns are added (or overwritten) so a query
    over many shards knows where each row came from. The returned sha256 is
    what the catalog records for the run.
    """
    table = frames if isinstance(frames, pa.Table) else pa.Table.from_pandas(frames, preserve_index=False)
    n = table.num_rows
    for name, value in (("run_id", run_id), ("video_id", video_id)):
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.add_column(0, name, pa.array([value] * n, type=pa.string()))
    return write_parquet(table, shard_path(paths, run_id, video_id))


_verified: set[tuple[str, int, int]] = set()
_verified_lock = threading.Lock()


def _shown(path: Path) -> str:
    # frames/<run_id>/<video_id>.parquet: names the shard without the server's data folder.
    return "/".join(path.parts[-3:]) if len(path.parts) >= 3 else path.name


def verify_pages(files: Iterable[str | os.PathLike[str]]) -> None:
    """Check every page checksum of each Parquet file, once per file version and process.

    A file is read (and its pages' CRC32 checked) by pyarrow the first time it
    is seen with its current size and modification time; later calls for the
    same version cost one ``stat``. Files written without page checksums
    pass (there is nothing to check).

    Raises
    ------
    StoreError
        A file's page fails its checksum or the file is not readable Parquet;
        the message names the shard (``frames/<run>/<video>.parquet``).
    """
    for name in files:
        path = Path(name)
        try:
            status = path.stat()
        except OSError:
            raise StoreError(f"frame shard {_shown(path)} is missing; run 'python -m facs_core verify'") from None
        key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
        with _verified_lock:
            if key in _verified:
                continue
        try:
            pq.ParquetFile(path, page_checksum_verification=True).read()
        except (OSError, pa.ArrowException) as exc:
            reason = "a page fails its checksum" if "checksum" in str(exc).lower() else "it is not readable Parquet"
            raise StoreError(
                f"frame shard {_shown(path)} is damaged ({reason}); run 'python -m facs_core verify'"
            ) from None
        with _verified_lock:
            _verified.add(key)


def parquet_list_sql(files: Iterable[Path]) -> str:
    """A DuckDB ``read_parquet([...])`` expression over ``files``, after :func:`verify_pages`.

    Paths are quoted as SQL string literals; ``union_by_name`` lets shards of
    different backends (different AU sets) be read together.

    Raises
    ------
    StoreError
        A file is missing or damaged (see :func:`verify_pages`).
    """
    files = list(files)
    verify_pages(files)
    quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}], union_by_name = true)"
