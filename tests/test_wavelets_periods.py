"""The rate-free map: periods in seconds, each video at its own frame rate, on data whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pywt
from scipy.signal import resample_poly

from facs_core.cli import main
from facs_core.wavelets import AssociationParams, log_periods, period_association, period_features, period_scales

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
    """Videos at 10, 23.976, 25 and 30 fps; AU12's 0.7 s rhythm grows with BDI, AU01 and AU04 are noise."""
    rng = np.random.default_rng(seed)
    rates = (10.0, 23.976, 25.0, 30.0)
    frames, clinical = [], []
    for v in range(n_videos):
        fps = rates[v % len(rates)]
        bdi = int(rng.integers(0, 64))
        amplitude = 0.01 + 0.06 * bdi / 63
        phase = rng.uniform(0, 2 * np.pi)
        n = round(seconds * fps)
        noise = {au: 0.3 + 0.06 * rng.standard_normal(n) for au in ("AU01", "AU04", "AU12")}
        t = np.arange(n) / fps
        noise["AU12"] = np.clip(noise["AU12"] + amplitude * np.sin(2 * np.pi * t / 0.7 + phase), 0, 1)
        frames.append(_video(f"m{v:02d}", fps, seconds, **noise))
        clinical.append(
            {"video_id": f"m{v:02d}", "patient_id": f"P{v:02d}", "bdi": bdi, "age": int(rng.integers(20, 70))}
        )
    return pd.concat(frames, ignore_index=True), pd.DataFrame(clinical)


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
