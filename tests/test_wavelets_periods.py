"""The rate-free map: periods in seconds, each video at its own frame rate, on data whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pywt
from scipy.signal import resample_poly

from facs_core import datasets
from facs_core.cli import main
from facs_core.errors import InputError
from facs_core.wavelets import (
    AssociationParams,
    combine_periods,
    log_periods,
    period_association,
    period_features,
    period_scales,
    wavelet_features,
)
from facs_core.wavelets.periods import estimate_rates

#: Periods compared between frame rates: from four frames of the slower rate to a few seconds.
PERIODS = log_periods(0.2, 4.0, 24)
#: Stated tolerance: a 30 fps series resampled to 25 fps gives each per-period feature within 2 % of itself
#: or 0.1 % of the largest feature of the video (periods where the trace has no rhythm hold only resampling noise).
RESAMPLE_RTOL = 0.02
RESAMPLE_ATOL_SHARE = 1e-3


def _video(video_id: str, fps: float, seconds: float, values: np.ndarray | None = None, **aus) -> pd.DataFrame:
    n = round(seconds * fps) if values is None else values.size
    t = np.arange(n) / fps
    table = {"video_id": video_id, "frame": np.arange(n), "timestamp": t}
    table.update({au: f(t) if callable(f) else f for au, f in aus.items()})
    return pd.DataFrame(table)


def _smooth(t: np.ndarray) -> np.ndarray:
    """An AU trace with rhythms at 0.5, 1.3 and 3.1 s on a slow drift, well inside [0, 1]."""
    return (
        0.4
        + 0.08 * np.sin(2 * np.pi * t / 0.5 + 0.3)
        + 0.12 * np.sin(2 * np.pi * t / 1.3 + 1.1)
        + 0.1 * np.sin(2 * np.pi * t / 3.1 + 2.0)
        + 0.05 * np.sin(2 * np.pi * t / 40.0)
    )


def test_resampled_video_gives_the_same_per_period_features() -> None:
    seconds = 90.0
    thirty = _video("v30", 30.0, seconds, AU12=_smooth)
    # Resampled as a video converter would: polyphase filter, 30 -> 25 fps.
    values = resample_poly(thirty["AU12"].to_numpy(), 5, 6)
    twenty_five = _video("v25", 25.0, seconds, values=values, AU12=values)
    frames = pd.concat([thirty, twenty_five])
    features = period_features(frames, {"v30": 30.0, "v25": 25.0}, PERIODS)
    a, b = features.values[features.video_ids.index("v30"), 0], features.values[features.video_ids.index("v25"), 0]
    assert np.isfinite(a).all() and np.isfinite(b).all()
    np.testing.assert_allclose(b, a, rtol=RESAMPLE_RTOL, atol=RESAMPLE_ATOL_SHARE * a.max())
    # Without the per-rate normalisation (PyWavelets' sample units) the two differ by sqrt(30/25), ~9.5 %.
    assert not np.allclose(b * np.sqrt(25.0), a * np.sqrt(30.0), rtol=RESAMPLE_RTOL, atol=RESAMPLE_ATOL_SHARE * a.max())


def test_period_features_are_pywavelets_coefficients_in_seconds() -> None:
    # Independent: PyWavelets' own transform at the scale of each period, mean |W| times sqrt(1/fps).
    fps = 23.976
    frames = _video("v", fps, 60.0, AU06=_smooth)
    periods = [0.3, 0.7, 1.3, 2.5]
    features = period_features(frames, fps, periods)
    series = frames["AU06"].to_numpy()
    for i, period in enumerate(periods):
        scale = period * pywt.scale2frequency("cmor1.5-1.0", 1.0) * fps
        coefficients, frequencies = pywt.cwt(series - series.mean(), [scale], "cmor1.5-1.0", method="fft")
        assert frequencies[0] * fps == pytest.approx(1 / period, rel=1e-12)
        expected = np.abs(coefficients[0]).mean() * np.sqrt(1 / fps)
        assert features.values[0, 0, i] == pytest.approx(expected, rel=1e-9)


def test_cells_a_video_cannot_resolve_are_marked_for_that_video() -> None:
    frames = pd.concat(
        [
            _video("slow", 10.0, 60.0, AU12=_smooth),
            _video("fast", 30.0, 60.0, AU12=_smooth),
            _video("short", 30.0, 15.0, AU12=_smooth),
        ]
    )
    periods = [0.1, 0.15, 0.7, 4.0]
    features = period_features(frames, {"slow": 10.0, "fast": 30.0, "short": 30.0}, periods)
    reasons = pd.DataFrame(features.reasons()[:, 0, :], index=features.video_ids, columns=periods)
    values = pd.DataFrame(features.values[:, 0, :], index=features.video_ids, columns=periods)
    # 0.1 s and 0.15 s are 1 and 1.5 frames at 10 fps: not computed there, computed at 30 fps (3 and 4.5 frames).
    assert reasons.loc["slow", 0.1] == reasons.loc["slow", 0.15] == "period below two frames at 10 fps"
    assert values.loc["slow", [0.1, 0.15]].isna().all() and values.loc["fast", [0.1, 0.15]].notna().all()
    # 4 s needs about 64 s of wavelet support at any rate: the 15 s video has none, and it is not padded.
    _, resolved = period_scales([4.0], 30.0)
    assert resolved.all()
    assert np.isnan(values.loc["short", 4.0]) and reasons.loc["short", 4.0].startswith("every piece shorter")
    assert values.loc["short", 0.7] > 0


def _mixed_cohort(n_videos: int = 40, seconds: float = 60.0, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Videos at 10, 23.976, 25 and 30 fps in turn; AU12's 0.7 s rhythm grows with BDI, AU01 and AU04 are noise."""
    aus = ["AU01", "AU04", "AU12"]
    return datasets.rhythm_cohort(n_videos, seconds / 60, (10.0, 23.976, 25.0, 30.0), seed, aus=aus, face_gaps=())


def test_the_map_from_frames_is_the_stores_per_video_features_combined() -> None:
    # The store path (services.analysis) transforms each video alone at its own scales and lines them up with
    # combine_periods; period_features batches each rate's videos. The two must give the same numbers.
    frames, _ = _mixed_cohort(n_videos=8, seconds=20.0)
    frames.loc[frames.index[100:108], "AU04"] = np.nan  # a 0.8 s face gap at 10 fps: the series splits there
    rates = estimate_rates(frames)
    whole = period_features(frames, None, PERIODS)
    parts = []
    for video_id, fps in sorted(rates.items()):
        scales, _ = period_scales(PERIODS, fps)
        alone = wavelet_features(frames[frames["video_id"] == video_id], fps, scales=scales, require_values=False)
        parts.append((video_id, fps, alone))
    combined = combine_periods(parts, PERIODS, whole.aus)
    np.testing.assert_array_equal(whole.values, combined.values)
    np.testing.assert_array_equal(whole.frames_used, combined.frames_used)
    np.testing.assert_array_equal(whole.reasons(), combined.reasons())


def test_a_given_rate_that_the_timestamps_contradict_is_refused() -> None:
    frames = _video("v", 30.0, 20.0, AU12=_smooth)
    for rates in ({"v": 25.0}, 25.0):
        with pytest.raises(InputError, match=r"0\.03333 s apart .* but fps is 25"):
            period_features(frames, rates, [0.5, 1.0])
    # Read from the timestamps, the rate is 30 fps.
    assert period_features(frames, None, [0.5, 1.0]).rates.tolist() == [30.0]


def test_planted_rhythm_is_recovered_on_a_mixed_rate_cohort() -> None:
    frames, clinical = _mixed_cohort()
    periods = log_periods(0.25, 3.0, 20)
    result = period_association(frames, clinical, None, AssociationParams("bdi", ("age",)), periods)
    significant = result[result["significant"].fillna(False).astype(bool)]
    assert set(significant["au"]) == {"AU12"}
    best = result.loc[result["p"].idxmin()]
    assert best["au"] == "AU12" and best["r"] > 0.8
    assert best["period_s"] == pytest.approx(0.7, rel=0.15)
    # Every video, whatever its rate, is in the planted cell.
    assert int(best["n"]) == 40 and int(best["n_unresolved"]) == 0 and np.isnan(best["scale"])
    assert (result["data_source"] == "both").all() and (result["df"] == 40 - 3).all()


def test_cli_periods_on_a_mixed_rate_cohort(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames, clinical = _mixed_cohort(n_videos=16, seconds=30.0)
    frames.to_parquet(tmp_path / "frames.parquet", index=False)
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    out = tmp_path / "map.parquet"
    inputs = ["--frames", str(tmp_path / "frames.parquet"), "--clinical", str(tmp_path / "clinical.csv")]
    code = main(
        ["stats", "scalogram", *inputs, "--score", "bdi", "--covariates", "age", "--periods", "0.15-2",
         "--period-count", "6", "--out", str(out)]
    )  # fmt: skip
    done = capsys.readouterr()
    assert code == 0, done.err
    assert "20 AUs" not in done.out and "(3 AUs x 6 periods)" in done.out
    assert "whose frame rate cannot resolve the period" in done.err  # 0.15 s at 10 fps
    table = pd.read_parquet(out)
    assert table["scale"].isna().all() and len(table) == 18
    first = table[table["period_s"] == table["period_s"].min()]
    assert (first["n_unresolved"] == 4).all() and (first["n"] == 12).all()
    import json

    import pyarrow.parquet as pq

    provenance = json.loads(pq.read_schema(out).metadata[b"facs_provenance"])
    assert provenance["n_videos"] == 16 and provenance["covariates"] == ["age"]
    assert provenance["axis"].startswith("periods") and len(provenance["inputs_sha256"]) == 16


def test_cli_periods_and_fps_are_exclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["stats", "scalogram", "--frames", "f.csv", "--clinical", "c.csv", "--score", "bdi", "--fps", "30",
              "--periods", "0.2-10", "--out", str(tmp_path / "r.csv")])  # fmt: skip
    assert "not allowed with argument" in capsys.readouterr().err


def test_frame_rates_read_from_timestamps_are_the_medians_of_each_videos_steps() -> None:
    # Against pandas' own group-by on an untidy table: rows shuffled, ids with spaces, dropped frames,
    # a repeated frame number, a missing timestamp, a jittery variable-rate video.
    rng = np.random.default_rng(5)
    parts = []
    for video_id, fps in (("b ", 25.0), (" a", 29.97), ("c", 10.0)):
        frame = np.delete(np.arange(200), [10, 11, 50])
        stamps = frame / fps + rng.normal(0, 0.002 if video_id == "c" else 0.0, frame.size)
        parts.append(pd.DataFrame({"video_id": video_id, "frame": frame, "timestamp": stamps}))
    # Two frames only, numbered after the others': one step, which no other video's last frame may join.
    parts.append(pd.DataFrame({"video_id": "d", "frame": [1000, 1002], "timestamp": [50.0, 50.2]}))
    frames = pd.concat(parts, ignore_index=True)
    frames.loc[5, "timestamp"] = np.nan
    frames = pd.concat([frames, frames.iloc[[20]]], ignore_index=True).sample(frac=1.0, random_state=1)

    ordered = frames.assign(video_id=frames["video_id"].str.strip()).sort_values(["video_id", "frame"])
    steps = ordered.groupby("video_id")[["frame", "timestamp"]].diff()
    per_frame = (steps["timestamp"] / steps["frame"]).where(steps["frame"] > 0)
    expected = {k: round(1.0 / v, 3) for k, v in per_frame.groupby(ordered["video_id"]).median().items()}

    assert estimate_rates(frames) == expected
    assert list(estimate_rates(frames)) == ["a", "b", "c", "d"]
    assert estimate_rates(frames)["d"] == 10.0


def test_a_video_without_increasing_timestamps_is_named() -> None:
    frames = pd.concat([_video("v1", 30.0, 2.0, AU12=_smooth), _video("v2", 30.0, 2.0, AU12=_smooth)])
    frames.loc[frames["video_id"] == "v2", "timestamp"] = 1.0
    with pytest.raises(InputError, match="video v2 has no increasing timestamps"):
        estimate_rates(frames)
