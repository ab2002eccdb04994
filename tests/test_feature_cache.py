"""On-disk cache of per-video wavelet features (facs_core.services.feature_cache)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core import datasets, wavelets
from facs_core.errors import InputError
from facs_core.reference import action_units
from facs_core.services import backup, feature_cache
from store.catalog import Catalog
from store.paths import StorePaths
from store.shards import write_shard

FPS = 10.0
AUS = list(action_units())
PARAMS = feature_cache.WaveletParams(scales=tuple(float(s) for s in range(1, 21)))


def _frames(seed: int, n: int = 400) -> pd.DataFrame:
    """A synthetic per-frame table with a long face gap, one AU without any face frame."""
    table = datasets.video_frames(n, np.random.default_rng(seed), fps=FPS)
    table.loc[150:189, "face"] = False  # 4 s: longer than the wavelet module bridges
    table.loc[~table["face"], AUS] = np.nan
    table["AU43"] = np.nan
    # Written out of order: the cache must read the shard in frame order, like a fresh computation.
    return table.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _fresh(shard: Path, video_id: str) -> wavelets.WaveletFeatures:
    frames = pd.read_parquet(shard).sort_values("frame").assign(video_id=video_id)
    return wavelets.wavelet_features(
        frames,
        FPS,
        scales=PARAMS.scales,
        wavelet=PARAMS.wavelet,
        power=PARAMS.power,
        max_gap_s=PARAMS.max_gap_s,
        precision=PARAMS.precision,
    )


def _assert_same(cached: wavelets.WaveletFeatures, fresh: wavelets.WaveletFeatures) -> None:
    # Exact: no tolerance anywhere.
    np.testing.assert_array_equal(cached.values, fresh.values)
    assert cached.values.dtype == fresh.values.dtype
    np.testing.assert_array_equal(cached.frames_used, fresh.frames_used)
    np.testing.assert_array_equal(cached.frames_valid, fresh.frames_valid)
    assert (cached.video_ids, cached.aus, cached.wavelet, cached.power) == (
        fresh.video_ids,
        fresh.aus,
        fresh.wavelet,
        fresh.power,
    )
    pd.testing.assert_frame_equal(cached.scales, fresh.scales, check_exact=True)
    pd.testing.assert_frame_equal(cached.wide(), fresh.wide(), check_exact=True)
    np.testing.assert_array_equal(cached.reasons(), fresh.reasons())


@pytest.fixture
def paths(catalog: Catalog) -> StorePaths:
    return catalog.paths


def _entries(paths: StorePaths) -> list[Path]:
    return sorted(feature_cache.wavelet_cache_folder(paths).rglob("*.parquet"))


def test_cached_features_equal_a_fresh_computation_exactly(paths: StorePaths, monkeypatch) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(1))
    first = feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    fresh = _fresh(shard, "vid-a")
    _assert_same(first, fresh)
    assert "no valid frames" in set(first.reasons().ravel())  # AU43 had no face frame
    [entry] = _entries(paths)
    assert entry.parent.name == "run-1" and entry.name.startswith("vid-a-")

    # The second call reads the entry: computing again would fail here.
    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although a cache entry exists")

    monkeypatch.setattr(wavelets, "wavelet_features", refuse)
    _assert_same(feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS), fresh)


def test_the_sampling_rate_is_read_from_the_shard_once(paths: StorePaths, monkeypatch) -> None:
    # Frames 1/24 s apart in a container that says 26.4 fps: the timestamps decide (series.sampling_rate).
    table = _frames(11).assign(timestamp=lambda t: t["frame"] / 24.0)
    shard = write_shard(paths, "run-1", "vid-a", table)
    rate, frames = feature_cache.cached_sampling_rate(paths, shard, "vid-a", 26.4)
    assert rate == feature_cache.shard_sampling_rate(shard, "vid-a", 26.4) == pytest.approx(24.0)
    pd.testing.assert_frame_equal(frames, feature_cache.read_shard_frames(shard, "vid-a"))
    # Handed on, the frames are transformed without a second read, to the same features.
    features = feature_cache.cached_wavelet_features(paths, shard, "vid-a", rate, PARAMS, frames=frames)

    read_table = feature_cache.pq.read_table

    def no_shard(source, *args, **kwargs):
        assert Path(source) != shard, "read the shard although its rate and features are cached"
        return read_table(source, *args, **kwargs)

    monkeypatch.setattr(feature_cache.pq, "read_table", no_shard)
    assert feature_cache.cached_sampling_rate(paths, shard, "vid-a", 26.4) == (rate, None)
    _assert_same(feature_cache.cached_wavelet_features(paths, shard, "vid-a", rate, PARAMS), features)


def test_a_rewritten_shard_or_a_damaged_record_measures_the_rate_again(paths: StorePaths) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(12))
    first, _ = feature_cache.cached_sampling_rate(paths, shard, "vid-a", FPS)
    record = feature_cache.rate_file(paths, shard, "vid-a", FPS)
    record.write_text("{not json", "utf-8")
    again, frames = feature_cache.cached_sampling_rate(paths, shard, "vid-a", FPS)
    assert again == first and frames is not None
    assert feature_cache.cached_sampling_rate(paths, shard, "vid-a", FPS)[1] is None

    write_shard(paths, "run-1", "vid-a", _frames(13).assign(timestamp=lambda t: t["frame"] / 12.0))
    assert feature_cache.rate_file(paths, shard, "vid-a", FPS) != record
    rate, frames = feature_cache.cached_sampling_rate(paths, shard, "vid-a", FPS)
    assert rate == pytest.approx(12.0) and frames is not None


def test_other_parameters_are_other_entries(paths: StorePaths) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(2))
    modulus = feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    power_params = feature_cache.WaveletParams(scales=PARAMS.scales, power=True)
    power = feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, power_params)
    assert power.power and not modulus.power
    assert not np.allclose(power.values, modulus.values, equal_nan=True)
    assert len(_entries(paths)) == 2


def test_rewritten_shard_invalidates_the_entry(paths: StorePaths) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(3))
    before = feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    old_entry = feature_cache.cache_file(paths, shard, "vid-a", FPS, PARAMS)

    write_shard(paths, "run-1", "vid-a", _frames(4))  # e.g. a restore over the same path
    assert feature_cache.cache_file(paths, shard, "vid-a", FPS, PARAMS) != old_entry
    after = feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    _assert_same(after, _fresh(shard, "vid-a"))
    assert not np.array_equal(after.values, before.values, equal_nan=True)


def test_same_bytes_with_a_new_modification_time_invalidate(paths: StorePaths) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(5))
    old_entry = feature_cache.cache_file(paths, shard, "vid-a", FPS, PARAMS)
    state = shard.stat()
    os.utime(shard, ns=(state.st_atime_ns, state.st_mtime_ns + 1_000_000_000))
    assert feature_cache.cache_file(paths, shard, "vid-a", FPS, PARAMS) != old_entry


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other video"])
def test_damaged_entry_is_ignored_and_recomputed(paths: StorePaths, damage: str) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(6))
    feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    entry = feature_cache.cache_file(paths, shard, "vid-a", FPS, PARAMS)
    good = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"PAR1" + os.urandom(200) + b"PAR1")
    elif damage == "empty":
        entry.write_bytes(b"")
    else:
        # A complete, valid entry of another video copied over this one.
        other = write_shard(paths, "run-1", "vid-b", _frames(7))
        feature_cache.cached_wavelet_features(paths, other, "vid-b", FPS, PARAMS)
        entry.write_bytes(feature_cache.cache_file(paths, other, "vid-b", FPS, PARAMS).read_bytes())

    result = feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    _assert_same(result, _fresh(shard, "vid-a"))
    assert entry.read_bytes() == good  # rewritten whole
    assert not list(entry.parent.glob("*.partial"))


def test_failed_computation_stores_nothing(paths: StorePaths) -> None:
    frames = _frames(8)
    frames[AUS] = np.nan
    shard = write_shard(paths, "run-1", "vid-a", frames)
    with pytest.raises(InputError):
        feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    assert _entries(paths) == []


def test_cache_is_never_read_as_a_result(paths: StorePaths) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(9))
    feature_cache.cached_wavelet_features(paths, shard, "vid-a", FPS, PARAMS)
    [entry] = _entries(paths)
    assert paths.cache.is_dir()  # created with the store
    # Shard lists come from frames/; backups copy only the data folders: the cache is in neither.
    assert sorted(paths.frames.rglob("*.parquet")) == [shard]
    relative = entry.relative_to(paths.root).parts
    assert relative[0] not in backup.DATA_FOLDERS
    assert not entry.is_relative_to(paths.frames)


def test_unsafe_ids_are_refused(paths: StorePaths) -> None:
    shard = write_shard(paths, "run-1", "vid-a", _frames(10))
    with pytest.raises(ValueError, match="video id"):
        feature_cache.cached_wavelet_features(paths, shard, "../vid-a", FPS, PARAMS)
