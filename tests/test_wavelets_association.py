"""The AU x scale map on a generated cohort whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import pytest
import pywt
from statsmodels.stats.multitest import multipletests

from facs_core import datasets
from facs_core.wavelets import (
    SCALE_RESULT_COLUMNS,
    AssociationParams,
    WaveletParams,
    associate_scales,
    scale_association,
    wavelet_features,
)

FPS = 30.0
#: The planted rhythm (datasets.rhythm_cohort): AU12 oscillates with a 0.7 s period, amplitude growing with BDI.
PERIOD_S = datasets.RHYTHM_PERIOD_S
SIGNAL_AU = "AU12"
NOISE_AUS = ("AU01", "AU04", "AU06")
SCALES = np.arange(2, 41, dtype=float)
#: The study's question: BDI against each cell, controlling for age and sex, BH over all cells.
BDI = AssociationParams(score="bdi", covariates=("age", "sex"))
PER_AU = AssociationParams(score="bdi", covariates=("age", "sex"), fdr_scope="au")


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    return planted_cohort()


def planted_cohort(coupled: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """48 one-minute videos, no face gaps: AU12's rhythm follows BDI (or, uncoupled, does not)."""
    return datasets.rhythm_cohort(48, 1.0, FPS, seed=7, aus=(*NOISE_AUS, SIGNAL_AU), coupled=coupled, face_gaps=())


@pytest.fixture(scope="module")
def result(cohort) -> pd.DataFrame:
    frames, clinical = cohort
    return scale_association(frames, clinical, FPS, BDI, WaveletParams(SCALES))


def test_result_columns_and_shape(result: pd.DataFrame) -> None:
    assert tuple(result.columns[: len(SCALE_RESULT_COLUMNS)]) == SCALE_RESULT_COLUMNS
    assert len(result) == 4 * SCALES.size
    assert (result["n"] == 48).all()


def test_planted_rhythm_found_at_its_scales(result: pd.DataFrame) -> None:
    signal = result[result["au"] == SIGNAL_AU]
    hits = signal[signal["significant"].astype(bool)]
    assert len(hits) > 0
    # Significant scales sit around the planted period, within an octave either side.
    assert hits["period_s"].between(PERIOD_S / 2, PERIOD_S * 2).all()
    best = signal.loc[signal["r"].idxmax()]
    assert best["period_s"] == pytest.approx(PERIOD_S, rel=0.15)
    assert best["r"] > 0.5


def test_no_cell_significant_when_nothing_is_related() -> None:
    # Global null (AU12 still oscillates, but not with BDI): BH over the whole map
    # keeps the chance of any discovery at or below 5 %.
    frames, clinical = planted_cohort(coupled=False)
    null = scale_association(frames, clinical, FPS, BDI, WaveletParams(SCALES))
    assert null["p"].notna().all()
    assert not null["significant"].astype(bool).any()


def test_noise_aus_stay_clean_with_per_au_fdr(cohort) -> None:
    # Per AU, every scale of a noise AU is a true null: BH then bounds the chance of
    # any discovery in that AU by 5 %, however strong the signal elsewhere.
    frames, clinical = cohort
    per_au = scale_association(frames, clinical, FPS, PER_AU, WaveletParams(SCALES))
    assert not per_au.loc[per_au["au"].isin(NOISE_AUS), "significant"].astype(bool).any()
    assert per_au.loc[per_au["au"] == SIGNAL_AU, "significant"].astype(bool).any()


def test_false_discoveries_within_the_fdr_bound(result: pd.DataFrame) -> None:
    # Across the whole map BH bounds the expected share of noise among discoveries
    # by 5 %; with ~17 true discoveries an odd noise cell may pass, a cluster may not.
    hits = result[result["significant"].astype(bool)]
    noise_hits = hits["au"].isin(NOISE_AUS).sum()
    assert noise_hits <= max(1, int(0.1 * len(hits)))


def test_one_cell_matches_pingouin_on_pywt_features(cohort, result: pd.DataFrame) -> None:
    # Independent path: pywt.cwt per video, then pingouin's partial correlation.
    frames, clinical = cohort
    scale = 21.0
    rows = []
    for video_id, video in frames.groupby("video_id"):
        series = video[SIGNAL_AU].to_numpy()
        coefficients, _ = pywt.cwt(series - series.mean(), [scale], "cmor1.5-1.0", method="conv")
        rows.append({"video_id": video_id, "feature": np.abs(coefficients[0]).mean()})
    data = pd.DataFrame(rows).merge(clinical, on="video_id")
    data["male"] = (data["sex"] == "m").astype(float)
    expected = pingouin.partial_corr(data, x="feature", y="bdi", covar=["age", "male"])
    cell = result[(result["au"] == SIGNAL_AU) & (result["scale"] == scale)].iloc[0]
    assert cell["r"] == pytest.approx(expected["r"].iloc[0], rel=1e-6)
    assert cell["p"] == pytest.approx(expected["p_val"].iloc[0], rel=1e-6)


def test_fdr_across_all_cells_is_bh_over_the_whole_map(result: pd.DataFrame) -> None:
    expected = multipletests(result["p"], method="fdr_bh")[1]
    np.testing.assert_allclose(result["p_fdr"], expected, rtol=1e-12)


def test_per_au_fdr(cohort) -> None:
    frames, clinical = cohort
    features = wavelet_features(frames, FPS, SCALES)
    per_au = associate_scales(features, clinical, PER_AU)
    for _, cells in per_au.groupby("au"):
        np.testing.assert_allclose(cells["p_fdr"], multipletests(cells["p"], method="fdr_bh")[1], rtol=1e-12)
    assert (per_au["fdr_scope"] == "per AU").all()


def test_short_videos_drop_out_of_long_scales_only(cohort) -> None:
    frames, clinical = cohort
    # Three videos cut to 20 s (600 frames): too short for scales whose support exceeds 600 frames.
    short_ids = list(clinical["video_id"][:3])
    cut = frames[~frames["video_id"].isin(short_ids) | (frames["frame"] < 600)]
    result = scale_association(cut, clinical, FPS, BDI, WaveletParams(np.array([10.0, 30.0, 40.0])))
    support = result.groupby("scale")["support_frames"].first()
    assert support[30.0] < 600 < support[40.0]
    at40 = result[result["scale"] == 40.0]
    assert (at40["n"] == 45).all() and (at40["n_short"] == 3).all()
    assert at40["reason"].str.contains("shorter than the wavelet support").all()
    at30 = result[result["scale"] == 30.0]
    assert (at30["n"] == 48).all() and (at30["n_short"] == 0).all()


def test_au_without_valid_frames_is_reported_not_fatal(cohort) -> None:
    frames, clinical = cohort
    blank = frames.assign(AU04=np.nan)
    result = scale_association(blank, clinical, FPS, BDI, WaveletParams(np.array([10.0, 21.0])))
    au04 = result[result["au"] == "AU04"]
    assert au04["r"].isna().all() and (au04["n_no_frames"] == 48).all()
    assert au04["reason"].str.contains("no valid frames").all()
    assert result.loc[result["au"] == SIGNAL_AU, "r"].notna().all()


def test_scales_below_two_frames_are_left_out_as_on_the_rate_free_map() -> None:
    # Frames at one rate: scale s of cmor1.5-1.0 is a period of s frames. Below two frames the
    # rate cannot resolve it; every video is left out of those cells, as the rate-free map leaves
    # out each video whose rate cannot resolve a period, and the other cells are the same numbers.
    from facs_core.wavelets import period_association

    fps = 10.0
    frames, clinical = datasets.rhythm_cohort(12, 0.5, fps, seed=3, aus=("AU01", SIGNAL_AU), face_gaps=())
    scales = np.array([1.0, 1.5, 2.0, 4.0, 7.0])
    by_scale = scale_association(frames, clinical, fps, BDI, WaveletParams(scales))
    by_period = period_association(frames, clinical, fps, BDI, list(scales / fps))
    aliased = by_scale["scale"] < 2
    assert (by_scale["above_nyquist"] == aliased).all()
    assert by_scale.loc[aliased, "r"].isna().all() and by_scale.loc[aliased, "p_fdr"].isna().all()
    assert (by_scale.loc[aliased, "n"] == 0).all() and (by_scale.loc[aliased, "n_unresolved"] == 12).all()
    assert by_scale.loc[aliased, "reason"].str.contains("12 videos left out: period below two frames").all()
    assert (by_scale.loc[~aliased, "n_unresolved"] == 0).all() and (by_scale.loc[~aliased, "n"] == 12).all()
    for column in ("n", "n_unresolved"):
        assert by_scale[column].tolist() == by_period[column].tolist(), column
    for column in ("r", "p", "p_fdr"):
        np.testing.assert_allclose(by_scale[column], by_period[column], rtol=0, atol=1e-12, equal_nan=True)
