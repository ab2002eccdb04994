"""Features use only confident patient frames, count the rest, and keep each backend's scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import median_abs_deviation

from facs_core import datasets
from facs_core.features import features_from_shards, occurrence_threshold, per_video_features
from store.paths import StorePaths
from store.shards import write_shard


def _frames(seed: int = 0, n: int = 400, au_source: str = "blendshape") -> pd.DataFrame:
    """Two visits' frames with the patient track: other faces, no face, some uncertain identities."""
    table = datasets.video_frames(n, np.random.default_rng(seed), fps=30.0, no_face=0.2)
    table = datasets.with_patient_track(table[["frame", "timestamp", "face", "face_confidence", "AU12", "AU25"]], seed)
    table.insert(0, "video_id", np.where(np.arange(n) < n // 2, "v1", "v2"))
    # Uncertain frames carry a value far off the rest: if they were averaged in, the means would show it.
    table.loc[table["identity_uncertain"], ["AU12", "AU25"]] = 1.0
    table["au_source"] = au_source
    return table


def _shards(frames: pd.DataFrame, folder: Path) -> list[Path]:
    paths = StorePaths(folder)
    return [write_shard(paths, "run", v, t.drop(columns="video_id")) for v, t in frames.groupby("video_id")]


def test_only_confident_patient_frames_enter_and_the_rest_are_counted(tmp_path: Path) -> None:
    frames = _frames()
    result = per_video_features(frames).set_index("video_id")
    for video, window in frames.groupby("video_id"):
        used = window[window["face"] & ~window["identity_uncertain"]]
        row = result.loc[video]
        assert row["n_face_frames"] == len(used)
        assert row["n_uncertain_frames"] == int((window["face"] & window["identity_uncertain"]).sum())
        assert row["n_other_face_frames"] == int((window["face_status"] == "other_face").sum())
        assert row["n_no_face_frames"] == len(window) - len(used)
        assert row["AU12"] == pytest.approx(used["AU12"].mean(), rel=1e-12)
        assert row["AU12_rate"] == pytest.approx((used["AU12"] >= 0.4).mean(), rel=1e-12)
    from_shards = features_from_shards(_shards(frames, tmp_path))
    pd.testing.assert_frame_equal(per_video_features(frames), from_shards, check_exact=False, rtol=1e-12)


def test_occurrence_threshold_follows_the_backend_scale(tmp_path: Path) -> None:
    assert occurrence_threshold("pyfeat") == 0.5 and occurrence_threshold("blendshape") == 0.4
    offline = _frames(seed=1, au_source="blendshape")
    pyfeat = _frames(seed=1, au_source="pyfeat")
    for frames in (offline, pyfeat):
        frames.loc[frames["face"], "AU12"] = 0.45  # occurs on the offline scale, not on py-feat's
    assert (per_video_features(offline)["AU12_rate"] == 1.0).all()
    assert (per_video_features(pyfeat)["AU12_rate"] == 0.0).all()
    assert (features_from_shards(_shards(offline, tmp_path / "a"))["AU12_rate"] == 1.0).all()
    assert (features_from_shards(_shards(pyfeat, tmp_path / "b"))["AU12_rate"] == 0.0).all()
    # An explicit threshold overrides both.
    assert (per_video_features(offline, threshold=0.5)["AU12_rate"] == 0.0).all()


def test_visit_normalisation_is_median_and_mad_of_the_visit() -> None:
    frames = _frames(seed=2)
    # Visit v2 on another scale entirely: normalised features must not see the difference.
    scaled = frames.copy()
    v2 = scaled["video_id"] == "v2"
    scaled.loc[v2, "AU12"] = scaled.loc[v2, "AU12"] * 10 + 3
    result = per_video_features(scaled, normalise="visit").set_index("video_id")
    for video, window in scaled.groupby("video_id"):
        used = window.loc[window["face"] & ~window["identity_uncertain"], "AU12"].to_numpy()
        z = (used - np.median(used)) / median_abs_deviation(used, scale="normal")
        assert result.at[video, "AU12"] == pytest.approx(z.mean(), rel=1e-9)
        assert result.at[video, "AU12_sd"] == pytest.approx(z.std(ddof=1), rel=1e-9)
        assert result.at[video, "AU12_rate"] == pytest.approx((z >= 2.0).mean(), rel=1e-12)
    plain = per_video_features(frames, normalise="visit").set_index("video_id")
    assert result.at["v2", "AU12"] == pytest.approx(plain.at["v2", "AU12"], abs=1e-6)
