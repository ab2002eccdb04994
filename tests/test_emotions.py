"""py-feat's seven emotions from frames to per-video features, cohort statistics and exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core import datasets
from facs_core.datasets import frame_segments, with_emotions
from facs_core.datasets import frames as synthetic_frames
from facs_core.features import features_from_shards, per_video_features
from facs_core.importers import PYFEAT_EMOTIONS
from facs_core.stats import associate
from facs_core.stats.cohort import CohortParams, cohort_associations
from facs_core.stats.provenance import PROVENANCE_COLUMNS
from store.paths import StorePaths
from store.shards import write_shard
from web import cohort_analysis as analysis


def test_emotion_features_per_video() -> None:
    frames = with_emotions(synthetic_frames(n_videos=4, seed=11), {"vid000", "vid002"})
    result = per_video_features(frames, threshold=0.3).set_index("video_id")
    for video_id, table in frames.groupby("video_id"):
        faces = table[table["face"]]
        for emotion in PYFEAT_EMOTIONS:
            values = faces[emotion].dropna().to_numpy()
            if video_id in ("vid000", "vid002"):
                assert result.at[video_id, emotion] == pytest.approx(values.mean(), rel=1e-12)
                assert result.at[video_id, f"{emotion}_rate"] == pytest.approx(np.mean(values >= 0.3), rel=1e-12)
                assert result.at[video_id, f"{emotion}_sd"] == pytest.approx(values.std(ddof=1), rel=1e-12)
            else:
                assert np.isnan(result.at[video_id, emotion])  # that backend has no emotions: none invented
    # AU columns first, then emotions; each statistic in that order.
    columns = list(result.columns)
    assert columns.index("AU43") < columns.index("anger") < columns.index("neutral") < columns.index("AU01_rate")


def test_emotions_over_shards_of_two_backends_match_pandas(tmp_path: Path) -> None:
    frames = with_emotions(synthetic_frames(n_videos=4, seed=12), {"vid001", "vid003"})
    paths = StorePaths(tmp_path / "data")
    files = []
    for video_id, table in frames.groupby("video_id"):
        if video_id not in ("vid001", "vid003"):  # a MediaPipe shard: no emotion columns at all
            table = table.drop(columns=list(PYFEAT_EMOTIONS))
        files.append(write_shard(paths, f"run{video_id}", video_id, table.drop(columns="video_id")))
    for segments in (None, frame_segments()):
        expected = per_video_features(frames, segments)
        got = features_from_shards(files, segments)
        pd.testing.assert_frame_equal(expected, got, check_exact=False, rtol=1e-12, atol=1e-15)


def _cohort(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """40 py-feat visits with AU and emotion features; the first five come from a backend without emotions."""
    names = ["AU01", "AU12", *PYFEAT_EMOTIONS, *(f"{emotion}_sd" for emotion in PYFEAT_EMOTIONS)]
    features, clinical = datasets.cohort(n_videos=40, seed=seed, features=names)
    features.insert(1, "backend", "pyfeat")
    features.loc[:4, list(PYFEAT_EMOTIONS)] = np.nan
    return features, clinical


def test_emotions_relate_to_a_score_like_aus() -> None:
    features, clinical = _cohort()
    result = cohort_associations(features, clinical, CohortParams("bdi", ("age",), feature="emotion_mean"))
    expected = associate(features[["video_id", *PYFEAT_EMOTIONS]], clinical, "bdi", ["age"], fdr="bh")
    pd.testing.assert_frame_equal(
        result.drop(columns=list(PROVENANCE_COLUMNS)).reset_index(drop=True), expected.reset_index(drop=True)
    )
    with_values = features["happiness"].notna().sum()
    assert with_values < len(features)
    assert result.set_index("feature").loc["happiness", "n"] == with_values  # visits without emotions left out
    table = analysis.table3(result, {"AU12": "Lip corner puller"})
    assert table.set_index("AU").loc["happiness", "Action Unit"] == "emotion (py-feat)"
    sd = cohort_associations(features, clinical, CohortParams("bdi", ("age",), feature="emotion_sd"))
    assert sd["feature"].tolist() == [f"{e}_sd" for e in PYFEAT_EMOTIONS]
    # Without any emotion values (MediaPipe-only cohort) the choice is refused in one line.
    from facs_core.errors import InputError

    with pytest.raises(InputError, match="emotions come from py-feat runs only"):
        without = features.drop(columns=list(PYFEAT_EMOTIONS))
        cohort_associations(without, clinical, CohortParams("bdi", ("age",), feature="emotion_mean"))


def test_methods_text_names_the_emotion_feature() -> None:
    from facs_core.methods_text import AnalysisSettings, methods_paragraph

    settings = AnalysisSettings(
        instrument="BDI-II",
        covariates=("age",),
        method="pearson",
        correction="Benjamini-Hochberg FDR",
        alpha=0.05,
        n_videos=35,
        n_patients=20,
        feature="emotion_mean",
        backends=(("pyfeat", "py-feat 2.1.5"),),
        n_aus=7,
    )
    assert "seven emotions" in methods_paragraph(settings)
