"""Per-video wavelet features are cached when a shard is produced (extraction job, demo loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facs_core import wavelets
from facs_core.models import install_model
from facs_core.probe import probe_video
from facs_core.services import feature_cache
from facs_core.services.access import LocalOperator
from facs_core.services.demo import load_demo
from facs_core.services.jobs import JobRunner, submit_extraction
from store.catalog import Catalog
from store.shards import write_shard
from store.videos import add_video


def _fresh(shard: Path, video_id: str, fps: float) -> wavelets.WaveletFeatures:
    # The significance map's default: its periods in seconds, at this video's own scales.
    frames = pd.read_parquet(shard).sort_values("frame", kind="stable").reset_index(drop=True)
    scales, _ = wavelets.period_scales(wavelets.DEFAULT_PERIODS, fps)
    return wavelets.wavelet_features(frames.assign(video_id=video_id), fps, scales=scales, require_values=False)


def _entry(catalog: Catalog, video_id: str) -> tuple[Path, Path, float]:
    """The newest finished shard of ``video_id``, its cache file and the fps it is keyed by."""
    row = catalog.query(
        "SELECT r.shard_path, v.fps FROM runs r JOIN videos v USING (video_id)"
        " WHERE r.video_id = ? AND r.status = 'done'",
        [video_id],
    ).iloc[0]
    shard = catalog.paths.root / row["shard_path"]
    fps = float(row["fps"])
    return shard, feature_cache.cache_file(catalog.paths, shard, video_id, fps, feature_cache.analysis_params(fps)), fps


def _assert_equal_to_fresh(catalog: Catalog, video_id: str) -> None:
    shard, entry, fps = _entry(catalog, video_id)
    assert entry.exists()
    mtime = entry.stat().st_mtime_ns
    params = feature_cache.analysis_params(fps)
    cached = feature_cache.cached_wavelet_features(catalog.paths, shard, video_id, fps, params)
    assert entry.stat().st_mtime_ns == mtime  # read back, not recomputed
    fresh = _fresh(shard, video_id, fps)
    np.testing.assert_array_equal(cached.values, fresh.values)
    np.testing.assert_array_equal(cached.frames_used, fresh.frames_used)
    assert cached.aus == fresh.aus


def test_extraction_job_caches_the_features_of_its_shard(catalog: Catalog, feat_data: Path) -> None:
    install_model()
    source = feat_data / "single_face.mp4"
    record, _ = add_video(catalog, source, probe_video(source), patient_id="P001", original_name=source.name)
    (job,) = submit_extraction(catalog, [record["video_id"]], "mediapipe", {"chunk_frames": 40}, LocalOperator("test"))
    assert JobRunner(catalog, num_cpus=2).run_until_idle() == {job: "done"}
    _assert_equal_to_fresh(catalog, record["video_id"])


def test_demo_loader_caches_the_features_of_synthetic_shards(catalog: Catalog) -> None:
    load_demo(catalog, n_patients=2, with_videos=False)
    video_ids = catalog.query("SELECT video_id FROM videos WHERE synthetic")["video_id"].tolist()
    assert video_ids
    for video_id in video_ids:
        _assert_equal_to_fresh(catalog, video_id)


def test_a_failing_computation_is_logged_not_raised(catalog: Catalog, caplog) -> None:
    # No AU column: wavelet_features refuses the table; the shard stays, nothing is cached.
    frames = pd.DataFrame(
        {"frame": np.arange(50), "timestamp": np.arange(50) / 10.0, "face": True, "face_confidence": 0.9}
    )
    shard = write_shard(catalog.paths, "run-x", "vid-x", frames)
    assert feature_cache.precompute(catalog.paths, shard, "vid-x", 10.0) is None
    assert shard.exists()
    assert "vid-x" in caplog.text and "Traceback" not in caplog.text
    assert not list(feature_cache.wavelet_cache_folder(catalog.paths).rglob("*vid-x*"))
