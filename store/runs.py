"""Extraction runs in the catalog: one video, one backend, one parameter set.

A run's identity is ``params_hash``: the sha256 of the video's content hash,
the time ranges covered, the backend, its version and its parameters, as
canonical JSON. Asking for the same extraction again finds the same run, so a
finished one is never recomputed. The run id is derived from that hash, which
keeps a half-finished run's chunk folder (``chunks/<run_id>/``) findable after
a crash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from store.catalog import Catalog
from store.shards import write_shard_file

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled")


def params_hash(identity: dict[str, Any]) -> str:
    """sha256 (hex) of ``identity`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_id_for(hash_hex: str) -> str:
    """The run id of a parameter hash: ``r`` and its first 23 hex digits."""
    return "r" + hash_hex[:23]


def get_run(catalog: Catalog, run_id: str) -> dict[str, Any] | None:
    """The catalog row of one run (``params`` decoded), or None."""
    rows = catalog.query("SELECT * FROM runs WHERE run_id = ?", [run_id]).to_dict("records")
    if not rows:
        return None
    row = rows[0]
    row["params"] = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
    return row


def create_run(
    catalog: Catalog,
    run_id: str,
    *,
    video_id: str,
    backend: str,
    backend_version: str,
    params: dict[str, Any],
    hash_hex: str,
) -> None:
    """Record a new queued run (nothing happens if it exists)."""
    catalog.execute(
        "INSERT INTO runs (run_id, video_id, backend, backend_version, params, params_hash, status)"
        " VALUES (?, ?, ?, ?, ?, ?, 'queued') ON CONFLICT DO NOTHING",
        [run_id, video_id, backend, backend_version, json.dumps(params, sort_keys=True, default=str), hash_hex],
    )


def set_run_status(catalog: Catalog, run_id: str, status: str, error: str | None = None) -> None:
    """Move a run to ``status`` (``error`` is kept for failed runs)."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    finished = status in ("done", "failed", "cancelled")
    catalog.execute(
        "UPDATE runs SET status = ?, error = ?, finished_at = CASE WHEN ? THEN current_timestamp END WHERE run_id = ?",
        [status, error, finished, run_id],
    )


def finish_run(
    catalog: Catalog,
    run_id: str,
    *,
    shard_path: str,
    n_frames: int,
    n_face_frames: int,
    shard_sha256: str | None = None,
) -> None:
    """Mark a run done with its shard (path relative to the data folder), counts and checksum.

    ``shard_sha256`` is the hash the writer computed from the bytes it wrote
    (:class:`store.shards.WrittenFile`); without it the file is hashed now.
    """
    if shard_sha256 is None:
        from store.videos import sha256_file

        shard_sha256 = sha256_file(catalog.paths.root / shard_path)
    catalog.execute(
        "UPDATE runs SET status = 'done', error = NULL, shard_path = ?, shard_sha256 = ?, n_frames = ?,"
        " n_face_frames = ?, finished_at = current_timestamp WHERE run_id = ?",
        [shard_path, shard_sha256, n_frames, n_face_frames, run_id],
    )


def add_finished_run(
    catalog: Catalog,
    run_id: str,
    frames: pd.DataFrame,
    *,
    video_id: str,
    backend: str,
    backend_version: str,
    params: dict[str, Any],
    hash_hex: str,
) -> Path:
    """Record a per-frame table computed elsewhere as a finished run of ``video_id``; returns its shard's path.

    The run row is created (see :func:`create_run`), ``frames`` (with a
    boolean ``face`` column) is written as the run's shard, and the run is
    marked done with its frame counts and the shard's checksum.
    """
    create_run(
        catalog,
        run_id,
        video_id=video_id,
        backend=backend,
        backend_version=backend_version,
        params=params,
        hash_hex=hash_hex,
    )
    shard = write_shard_file(catalog.paths, run_id, video_id, frames)
    finish_run(
        catalog,
        run_id,
        shard_path=shard.path.relative_to(catalog.paths.root).as_posix(),
        n_frames=len(frames),
        n_face_frames=int(frames["face"].sum()),
        shard_sha256=shard.sha256,
    )
    return shard.path
