"""The batched transform against PyWavelets itself: same numbers, per series, per scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pywt
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_core.cli.options import parse_scales
from facs_core.errors import InputError
from facs_core.wavelets import FilterBank, cwt, scale_table, scalogram, wavelet_features

FPS = 30.0


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("wavelet", ["cmor1.5-1.0", "cmor2.0-0.5", "morl", "mexh"])
@pytest.mark.parametrize("length", [37, 500, 1999])
def test_cwt_equals_pywt_fft_and_conv(wavelet: str, length: int) -> None:
    rng = np.random.default_rng(length)
    data = rng.standard_normal((3, length))
    scales = np.array([1.0, 1.5, 2.0, 7.0, 21.0, 33.3, 60.0])
    ours = cwt(data, scales, wavelet)
    for method in ("fft", "conv"):
        reference = np.stack([pywt.cwt(row, scales, wavelet, method=method)[0] for row in data], axis=1)
        assert ours.shape == reference.shape
        assert ours.dtype.kind == reference.dtype.kind
        assert _relative_error(ours, reference) < 1e-9


def test_cwt_small_chunks_change_nothing() -> None:
    # A tiny memory budget forces one scale per inverse FFT: the result must not move.
    data = np.random.default_rng(3).standard_normal((4, 800))
    scales = np.arange(1, 41)
    whole = cwt(data, scales)
    chunked = cwt(data, scales, batch_bytes=1)
    np.testing.assert_array_equal(whole, chunked)


def test_fft_size_is_scipys_five_smooth_length() -> None:
    # The shortest filter at scale 1 pads a series by its support; every padded length
    # from there to 40,000 must round up to scipy's fast length (2^a 3^b 5^c).
    bank = FilterBank("cmor1.5-1.0", [1.0])
    support = int(bank.support[0])
    lengths = np.arange(1, 40001 - support)
    expected = [scipy.fft.next_fast_len(int(n) + support, real=True) for n in lengths]
    assert [bank.fft_size(int(n)) for n in lengths] == expected


def test_cwt_refuses_nan() -> None:
    with pytest.raises(InputError, match="NaN"):
        cwt(np.array([0.0, np.nan, 1.0] * 20), [1, 2])


def test_support_is_pywt_filter_length() -> None:
    bank = FilterBank("cmor1.5-1.0", [1, 10, 100])
    wavelet = pywt.ContinuousWavelet("cmor1.5-1.0")
    width = wavelet.upper_bound - wavelet.lower_bound
    # PyWavelets samples the wavelet at floor(s * width) + 1 points at scale s.
    assert bank.support.tolist() == [int(np.floor(s * width)) + 1 for s in (1, 10, 100)]


def test_scale_table_matches_scale2frequency() -> None:
    scales = np.arange(1, 101, dtype=float)
    table = scale_table(FPS, scales)
    expected = pywt.scale2frequency("cmor1.5-1.0", scales) * FPS
    np.testing.assert_allclose(table["frequency_hz"], expected, rtol=1e-12)
    np.testing.assert_allclose(table["period_s"], 1 / expected, rtol=1e-12)
    # The example: scale 21 at 30 fps is a 0.7 s rhythm.
    assert table.loc[table["scale"] == 21, "period_s"].item() == pytest.approx(0.7, rel=1e-3)
    assert table["above_nyquist"].tolist() == list(expected > FPS / 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1-100", np.arange(1, 101.0)), ("2-4:0.5", [2, 2.5, 3, 3.5, 4]), ("1,2,4,8", [1, 2, 4, 8]), ("21", [21])],
)
def test_parse_scales(text: str, expected) -> None:
    np.testing.assert_allclose(parse_scales(text), expected)


@pytest.mark.parametrize("text", ["", "0-10", "10-1", "a-b", "1-10:0", "-3"])
def test_parse_scales_refuses(text: str) -> None:
    with pytest.raises(InputError, match="scales"):
        parse_scales(text)


def _frames(values: dict[str, np.ndarray], video_id: str = "v1", first_frame: int = 0) -> pd.DataFrame:
    n = len(next(iter(values.values())))
    frame = np.arange(first_frame, first_frame + n)
    return pd.DataFrame({"video_id": video_id, "frame": frame, "timestamp": frame / FPS, **values})


def _pywt_mean_modulus(piece: np.ndarray, scales: np.ndarray, power: bool = False) -> np.ndarray:
    coefficients, _ = pywt.cwt(piece - piece.mean(), scales, "cmor1.5-1.0", method="fft")
    magnitude = np.abs(coefficients) ** 2 if power else np.abs(coefficients)
    return magnitude.mean(axis=1)


@pytest.mark.parametrize("power", [False, True])
def test_features_equal_pywt_loop_without_gaps(power: bool) -> None:
    rng = np.random.default_rng(11)
    scales = np.arange(1, 31, dtype=float)
    frames = pd.concat(
        [
            _frames({"AU12": rng.uniform(0, 1, n), "AU04": rng.uniform(0, 1, n)}, video_id=f"v{i}")
            for i, n in enumerate([900, 1300, 701])
        ]
    )
    features = wavelet_features(frames, FPS, scales, power=power)
    for v, video_id in enumerate(features.video_ids):
        video = frames[frames["video_id"] == video_id]
        for a, au in enumerate(features.aus):
            expected = _pywt_mean_modulus(video[au].to_numpy(), scales, power)
            np.testing.assert_allclose(features.values[v, a], expected, rtol=1e-9)
            assert (features.frames_used[v, a] == len(video)).all()


def test_long_series_overlap_save_equals_pywt() -> None:
    # Long enough that small scales use many overlap-save blocks and large ones one block.
    rng = np.random.default_rng(21)
    n = 9000
    values = 0.4 + 0.1 * np.sin(np.arange(n) / 7.0) + 0.05 * rng.standard_normal(n)
    scales = np.array([1.0, 2.0, 3.0, 6.0, 12.0, 25.0, 47.0, 100.0])
    bank = FilterBank("cmor1.5-1.0", scales)
    assert any(plan.hop < n for plan in bank.block_plans(n)) and any(plan.hop == n for plan in bank.block_plans(n))
    features = wavelet_features(_frames({"AU12": values}), FPS, scales, batch_bytes=2**20)
    np.testing.assert_allclose(features.values[0, 0], _pywt_mean_modulus(values, scales), rtol=1e-9)


@pytest.mark.parametrize("power", [False, True])
def test_one_thread_reusing_its_buffers_across_batches_equals_pywt(power: bool) -> None:
    # One worker, a small budget: batches of long multi-block rows, rows of different lengths
    # and then short ones run through the same scratch buffers, which must leave no trace.
    rng = np.random.default_rng(5)
    lengths = [9000, 7000, 6100, 3000, 3000, 2900, 1000, 900, 800, 300]
    scales = np.array([1.0, 2.0, 3.0, 6.0, 12.0, 25.0, 47.0, 100.0])
    frames = pd.concat([_frames({"AU12": rng.uniform(0, 1, n)}, video_id=f"v{i}") for i, n in enumerate(lengths)])
    features = wavelet_features(frames, FPS, scales, power=power, workers=1, batch_bytes=2**19)
    support = features.scales["support_frames"].to_numpy()
    for v, video_id in enumerate(features.video_ids):
        values = frames.loc[frames["video_id"] == video_id, "AU12"].to_numpy()
        expected = np.where(values.size >= support, _pywt_mean_modulus(values, scales, power), np.nan)
        np.testing.assert_allclose(features.values[v, 0], expected, rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(20, 2500), min_size=1, max_size=4),
    scales=st.lists(st.floats(1.0, 60.0), min_size=1, max_size=6, unique=True),
    seed=st.integers(0, 2**16),
)
def test_batched_features_equal_pywt_for_any_lengths_and_scales(lengths, scales, seed) -> None:
    # Pieces of different lengths share batches and block plans; every one must still match pywt.
    rng = np.random.default_rng(seed)
    scales = np.sort(np.array(scales))
    frames = pd.concat([_frames({"AU12": rng.uniform(0, 1, n)}, video_id=f"v{i}") for i, n in enumerate(lengths)])
    features = wavelet_features(frames, FPS, scales) if _any_fits(lengths, scales) else None
    if features is None:
        with pytest.raises(InputError, match="shorter than the wavelet support"):
            wavelet_features(frames, FPS, scales)
        return
    support = features.scales["support_frames"].to_numpy()
    for v, video_id in enumerate(features.video_ids):
        values = frames.loc[frames["video_id"] == video_id, "AU12"].to_numpy()
        expected = np.where(values.size >= support, _pywt_mean_modulus(values, scales), np.nan)
        np.testing.assert_allclose(features.values[v, 0], expected, rtol=1e-9)


def _any_fits(lengths: list[int], scales: np.ndarray) -> bool:
    return bool((max(lengths) >= FilterBank("cmor1.5-1.0", scales).support).any())


def test_features_with_gaps_equal_frame_weighted_pywt_pieces() -> None:
    # Built by hand: a 6-frame gap (0.2 s, filled), a 60-frame gap (2 s, splits),
    # NaN at both ends (dropped) and three decoder-dropped frames (a short gap).
    rng = np.random.default_rng(5)
    n = 2400
    values = rng.uniform(0, 1, n)
    values[:4] = np.nan
    values[500:506] = np.nan
    values[1200:1260] = np.nan
    values[-3:] = np.nan
    frames = _frames({"AU12": values})
    frames = frames.drop(index=[1700, 1701, 1702])
    scales = np.array([1.0, 5.0, 21.0, 50.0, 72.0])
    features = wavelet_features(frames, FPS, scales, max_gap_s=0.5)

    first = values[4:1200].copy()
    gap = np.arange(500 - 4, 506 - 4)
    first[gap] = np.interp(gap, [499 - 4, 506 - 4], [values[499], values[506]])
    second = values[1260 : n - 3].copy()
    dropped = np.arange(1700 - 1260, 1703 - 1260)
    second[dropped] = np.interp(dropped, [1699 - 1260, 1703 - 1260], [values[1699], values[1703]])
    pieces = [first, second]
    support = FilterBank("cmor1.5-1.0", scales).support
    numerator = np.zeros(scales.size)
    used = np.zeros(scales.size)
    for piece in pieces:
        valid = piece.size >= support
        numerator += np.where(valid, piece.size * _pywt_mean_modulus(piece, scales), 0)
        used += np.where(valid, piece.size, 0)
    expected = numerator / used
    # Scale 72 needs 1153 frames: the first piece (1196) counts there, the second (1137) does not.
    assert second.size < support[-1] <= first.size
    assert used.tolist() == [first.size + second.size] * 4 + [first.size]
    np.testing.assert_allclose(features.values[0, 0], expected, rtol=1e-9)
    assert features.frames_used[0, 0].tolist() == used.astype(int).tolist()


def test_short_series_cells_are_marked_not_padded() -> None:
    scales = np.array([2.0, 40.0, 100.0])
    frames = pd.concat(
        [
            _frames({"AU12": np.random.default_rng(1).uniform(0, 1, 3000)}, video_id="long"),
            _frames({"AU12": np.random.default_rng(2).uniform(0, 1, 900)}, video_id="short"),
        ]
    )
    features = wavelet_features(frames, FPS, scales)
    support = features.scales["support_frames"].to_numpy()
    assert support[1] < 900 < support[2]
    short = features.video_ids.index("short")
    assert np.isfinite(features.values[short, 0, :2]).all()
    assert np.isnan(features.values[short, 0, 2])
    assert "shorter than the wavelet support" in features.reasons()[short, 0, 2]
    long_table = features.long()
    assert long_table.loc[long_table["value"].isna(), "video_id"].tolist() == ["short"]


def test_segments_are_transformed_separately() -> None:
    rng = np.random.default_rng(8)
    values = rng.uniform(0, 1, 3000)
    frames = _frames({"AU12": values})
    segments = pd.DataFrame({"video_id": ["v1", "v1"], "start_s": [10.0, 60.0], "end_s": [40.0, 90.0]})
    scales = np.array([3.0, 21.0])
    features = wavelet_features(frames, FPS, scales, segments=segments)
    a, b = values[300:1200], values[1800:2700]
    expected = (a.size * _pywt_mean_modulus(a, scales) + b.size * _pywt_mean_modulus(b, scales)) / (a.size + b.size)
    np.testing.assert_allclose(features.values[0, 0], expected, rtol=1e-9)


def test_frames_without_face_are_gaps() -> None:
    rng = np.random.default_rng(9)
    values = rng.uniform(0, 1, 2000)
    frames = _frames({"AU12": values})
    frames["face"] = True
    frames.loc[800:999, "face"] = False
    scales = np.array([4.0, 10.0])
    features = wavelet_features(frames, FPS, scales)
    before, after = _pywt_mean_modulus(values[:800], scales), _pywt_mean_modulus(values[1000:], scales)
    expected = (800 * before + 1000 * after) / 1800
    np.testing.assert_allclose(features.values[0, 0], expected, rtol=1e-9)


def test_scalogram_rows_average_to_the_features() -> None:
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 1, 2500)
    values[1000:1100] = np.nan
    frames = _frames({"AU12": values}, first_frame=30)
    scales = np.array([2.0, 21.0, 70.0])
    image = scalogram(frames, "v1", "AU12", FPS, scales)
    features = wavelet_features(frames, FPS, scales)
    assert image.modulus.shape == (3, 2500)
    assert np.isnan(image.modulus[:, 1000:1100]).all()
    # Scale 70 needs 1121 frames: the 1000-frame first piece is blank there.
    assert np.isnan(image.modulus[2, :1000]).all() and np.isfinite(image.modulus[2, 1100:]).all()
    np.testing.assert_allclose(np.nanmean(image.modulus, axis=1), features.values[0, 0], rtol=1e-9)
    np.testing.assert_allclose(image.times, (np.arange(2500) + 30) / FPS)
    np.testing.assert_allclose(image.periods_s, 1 / (pywt.scale2frequency("cmor1.5-1.0", scales) * FPS))
    segment = scalogram(frames, "v1", "AU12", FPS, scales, segment=(40.0, 60.0))
    assert segment.times[0] >= 40.0 and segment.times[-1] < 60.0
    assert segment.long().shape[0] == 3 * segment.times.size
