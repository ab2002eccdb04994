"""Per-video wavelet features kept on disk beside the shards, so a restart reads them.

Computing the wavelet features of a store's videos takes seconds per video;
the dashboard's significance map needs all of them. An in-process cache is
empty after every server restart (and not shared with a second process), so
each video's :class:`facs_core.wavelets.WaveletFeatures` is also written to

    ``<data>/cache/wavelets/<run_id>/<video_id>-<key>.parquet``

where ``key`` hashes everything the result depends on: the shard file's size
and modification time (a re-extraction or a restore writes a new file, so the
old entry is never read again), the frame rate, the scales, the wavelet, the
measure (modulus or power), the maximum gap, the wavelet precision and this
module's format version. Files are written with
:func:`store.shards.write_atomically` (temporary name, fsync, rename), so a
reader sees a complete entry or none; an entry that cannot be read back or does
not match what was asked for is ignored and recomputed, never trusted. Beside
the entries, ``<video_id>-rate-<key>.json`` remembers the rate a shard's frames
were sampled at (:func:`cached_sampling_rate`), which decides the scales of the
rate-free map: a map over cached videos then reads no shard at all.

The cache holds derived data only: it lives outside ``frames/`` (no shard glob
or shard list sees it) and outside the backup's folders; deleting it costs time,
never results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facs_core import series, wavelets
from store.paths import StorePaths
from store.shards import _checked_id, write_atomically

logger = logging.getLogger(__name__)

#: Bumped whenever the stored layout or the feature computation changes, so old entries are not read.
FORMAT_VERSION = 1
_SCALE_COLUMNS = ("scale", "period_s", "frequency_hz", "support_frames", "support_s", "above_nyquist")
_META_KEY = b"facs_feature_cache"


@dataclass(frozen=True)
class WaveletParams:
    """The options of :func:`facs_core.wavelets.wavelet_features` that a cached entry depends on.

    Defaults are the study's (``facs_core.wavelets.DEFAULT_*``).
    """

    scales: tuple[float, ...] = wavelets.DEFAULT_SCALES
    wavelet: str = wavelets.DEFAULT_WAVELET
    power: bool = False
    max_gap_s: float = wavelets.DEFAULT_MAX_GAP_S
    precision: int = wavelets.DEFAULT_PRECISION

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))


def wavelet_cache_folder(paths: StorePaths) -> Path:
    """The folder of cached per-video wavelet features."""
    return paths.cache / "wavelets"


def cache_key(
    shard_file: Path, video_id: str, fps: float, params: WaveletParams, segments: pd.DataFrame | None = None
) -> str:
    """Hex digest of everything a video's features depend on (shard state, fps, parameters, segments)."""
    state = Path(shard_file).stat()
    # repr() of a float round-trips exactly, so 29.97 and 29.970000001 differ.
    description = {
        "format": FORMAT_VERSION,
        "shard_size": state.st_size,
        "shard_mtime_ns": state.st_mtime_ns,
        "video_id": video_id,
        "fps": repr(float(fps)),
        "scales": [repr(s) for s in params.scales],
        "wavelet": params.wavelet,
        "power": params.power,
        "max_gap_s": repr(float(params.max_gap_s)),
        "precision": params.precision,
    }
    if segments is not None:
        spans = sorted(zip(segments["start_s"], segments["end_s"], strict=True))
        description["segments"] = [[repr(float(a)), repr(float(b))] for a, b in spans]
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:20]


def cache_file(
    paths: StorePaths,
    shard_file: Path,
    video_id: str,
    fps: float,
    params: WaveletParams,
    segments: pd.DataFrame | None = None,
) -> Path:
    """Where the cached features of ``video_id`` from ``shard_file`` (``frames/<run_id>/...``) live."""
    run_id = _checked_id("run id", Path(shard_file).parent.name)
    key = cache_key(shard_file, video_id, fps, params, segments)
    return wavelet_cache_folder(paths) / run_id / f"{_checked_id('video id', video_id)}-{key}.parquet"


def _to_table(result: wavelets.WaveletFeatures, key: str) -> pa.Table:
    # One row per (AU, scale): values, frames used, the AU's valid frames and the scale table,
    # so a single file (one atomic rename) holds everything WaveletFeatures needs.
    n_aus, n_scales = len(result.aus), len(result.scales)
    columns: dict[str, object] = {"au": np.repeat(result.aus, n_scales).astype(str)}
    for name in _SCALE_COLUMNS:
        columns[name] = np.tile(result.scales[name].to_numpy(), n_aus)
    columns["value"] = result.values[0].ravel()
    columns["frames_used"] = result.frames_used[0].ravel()
    columns["frames_valid"] = np.repeat(result.frames_valid[0], n_scales)
    table = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    meta = {"key": key, "video_id": result.video_ids[0], "wavelet": result.wavelet, "power": result.power}
    return table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})


def _from_table(table: pa.Table, key: str, video_id: str, params: WaveletParams) -> wavelets.WaveletFeatures:
    meta = json.loads(table.schema.metadata[_META_KEY])
    if meta["key"] != key or meta["video_id"] != video_id:
        raise ValueError("entry belongs to another shard state or video")
    frame = table.to_pandas()
    aus = list(dict.fromkeys(frame["au"].astype(str)))
    n_aus, n_scales = len(aus), len(params.scales)
    if not aus or len(frame) != n_aus * n_scales:
        raise ValueError(f"entry has {len(frame)} rows, expected {n_aus} AUs x {n_scales} scales")
    scales = frame.loc[: n_scales - 1, list(_SCALE_COLUMNS)].reset_index(drop=True)
    if not np.array_equal(scales["scale"].to_numpy(), np.asarray(params.scales)):
        raise ValueError("entry was computed at other scales")
    return wavelets.WaveletFeatures(
        values=frame["value"].to_numpy(dtype=np.float64).reshape(1, n_aus, n_scales),
        frames_used=frame["frames_used"].to_numpy(dtype=np.int64).reshape(1, n_aus, n_scales),
        frames_valid=frame["frames_valid"].to_numpy(dtype=np.int64)[::n_scales].reshape(1, n_aus),
        video_ids=[video_id],
        aus=aus,
        scales=scales,
        wavelet=meta["wavelet"],
        power=bool(meta["power"]),
    )


def read_shard_frames(shard_file: Path, video_id: str) -> pd.DataFrame:
    """One shard's per-frame table in frame order, with ``video_id`` set."""
    frames = pq.read_table(shard_file, page_checksum_verification=True).to_pandas()
    frames = frames.sort_values("frame", kind="stable").reset_index(drop=True)
    return frames.assign(video_id=video_id)


def shard_sampling_rate(shard_file: Path, video_id: str, container_fps: float) -> float:
    """The rate ``video_id``'s frames in ``shard_file`` were sampled at (:func:`facs_core.series.sampling_rate`)."""
    frames = pq.read_table(shard_file, columns=["frame", "timestamp"], page_checksum_verification=True)
    return series.sampling_rate(frames.to_pandas(), fallback=container_fps)


def rate_file(paths: StorePaths, shard_file: Path, video_id: str, container_fps: float) -> Path:
    """Where the sampling rate of ``video_id`` in ``shard_file`` is remembered (beside its cached features)."""
    run_id = _checked_id("run id", Path(shard_file).parent.name)
    state = Path(shard_file).stat()
    description = {
        "format": FORMAT_VERSION,
        "shard_size": state.st_size,
        "shard_mtime_ns": state.st_mtime_ns,
        "video_id": video_id,
        "container_fps": repr(float(container_fps)),
    }
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:20]
    return wavelet_cache_folder(paths) / run_id / f"{_checked_id('video id', video_id)}-rate-{key}.json"


def cached_sampling_rate(
    paths: StorePaths, shard_file: Path, video_id: str, container_fps: float
) -> tuple[float, pd.DataFrame | None]:
    """:func:`shard_sampling_rate`, remembered per shard state so a cached video's shard is not read at all.

    The rate decides a video's scales, hence which cache entry holds its
    features; reading it from the shard on every map would cost a shard read
    per video even when every entry exists. It is kept in a small file keyed
    like the entries (shard size and modification time, video, container
    rate). When the rate has to be read, the whole shard is read once and its
    frames are returned too, for :func:`cached_wavelet_features` to transform
    without reading the shard again.

    Returns
    -------
    (float, DataFrame or None)
        The rate, and the shard's frames (:func:`read_shard_frames`) when they were read.
    """
    target = rate_file(paths, shard_file, video_id, container_fps)
    try:
        return float(json.loads(target.read_text("utf-8"))["rate"]), None
    except FileNotFoundError:
        pass
    # Any unreadable record (truncated, foreign) is measured again, never trusted.
    except (OSError, ValueError, KeyError, TypeError) as error:
        logger.warning("ignoring unreadable sampling-rate record %s (%s)", target.name, type(error).__name__)
    frames = read_shard_frames(shard_file, video_id)
    rate = series.sampling_rate(frames, fallback=float(container_fps))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(json.dumps({"rate": repr(rate)}), "utf-8")
        partial.replace(target)
    except OSError as error:
        logger.warning("could not write sampling-rate record %s (%s)", target.name, error.strerror)
    return rate, frames


def cached_wavelet_features(
    paths: StorePaths,
    shard_file: Path,
    video_id: str,
    fps: float,
    params: WaveletParams = WaveletParams(),
    segments: pd.DataFrame | None = None,
    require_values: bool = True,
    frames: pd.DataFrame | None = None,
) -> wavelets.WaveletFeatures:
    """``facs_core.wavelets.wavelet_features`` of one video's shard, read from disk when computed before.

    Parameters
    ----------
    paths : StorePaths
        The data folder's layout (the cache lives under ``paths.cache``).
    shard_file : Path
        The video's shard, ``frames/<run_id>/<video_id>.parquet``.
    video_id : str
    fps : float
        The run's frame rate.
    params : WaveletParams
        Scales, wavelet, measure, maximum gap and precision (default: the study's).
    segments : DataFrame, optional
        ``video_id, start_s, end_s`` of this video's segments: only frames inside them count.
    require_values : bool
        As for ``wavelet_features``: False keeps (and caches) a video too short for every
        scale, all NaN with each cell's reason, instead of refusing it.
    frames : DataFrame, optional
        The shard's frames when the caller has read them already (:func:`read_shard_frames`).

    Returns
    -------
    WaveletFeatures
        Exactly (bit for bit) what ``wavelet_features(frames, fps, ...)`` returns for the
        shard's frames; a missing, unreadable or mismatching entry is recomputed and rewritten.
        Errors of the computation itself (``InputError``) propagate and nothing is stored.
    """
    shard_file = Path(shard_file)
    key = cache_key(shard_file, video_id, fps, params, segments)
    target = cache_file(paths, shard_file, video_id, fps, params, segments)
    if target.exists():
        try:
            return _from_table(pq.read_table(target, page_checksum_verification=True), key, video_id, params)
        # Any unreadable entry (truncated, corrupt, foreign) is recomputed, never trusted.
        except Exception as error:
            logger.warning("ignoring unreadable wavelet cache entry %s (%s)", target.name, type(error).__name__)
    result = wavelets.wavelet_features(
        read_shard_frames(shard_file, video_id) if frames is None else frames,
        fps,
        scales=params.scales,
        wavelet=params.wavelet,
        power=params.power,
        max_gap_s=params.max_gap_s,
        precision=params.precision,
        segments=segments,
        require_values=require_values,
    )
    try:
        write_atomically(_to_table(result, key), target)
    except OSError as error:
        # A read-only or full disk costs speed, not the result.
        logger.warning("could not write wavelet cache entry %s (%s)", target.name, error.strerror)
    return result


def analysis_params(fps: float) -> WaveletParams:
    """The parameters the significance map asks for at ``fps``: the scales of its default periods.

    The map is rate-free (:data:`facs_core.wavelets.DEFAULT_PERIODS`, seconds); a
    video at ``fps`` is transformed at the scales of the periods it resolves.
    """
    scales, _ = wavelets.period_scales(wavelets.DEFAULT_PERIODS, fps)
    return WaveletParams(scales=tuple(scales))


def precompute(paths: StorePaths, shard_file: Path, video_id: str, fps: float) -> Path | None:
    """Fill the cache for a freshly written shard, with the parameters the significance map uses.

    Called by the extraction job and the demo loader right after a shard is
    written, so data flows one way (video -> frames -> per-video features) and
    no page computes features on its first view. A failure (bad frames, full
    disk, ...) is logged with the file and video id only and never raised: the
    shard is the result; the features can be computed again later.

    Returns
    -------
    Path or None
        The cache entry written, or ``None`` when the computation failed.
    """
    try:
        rate, frames = cached_sampling_rate(paths, shard_file, video_id, float(fps))
        params = analysis_params(rate)
        cached_wavelet_features(paths, shard_file, video_id, rate, params, require_values=False, frames=frames)
        return cache_file(paths, shard_file, video_id, rate, params)
    except Exception as error:  # the features are derived data; the extraction must not fail over them
        logger.warning(
            "could not precompute wavelet features of video %s (%s): %s",
            video_id,
            Path(shard_file).name,
            type(error).__name__,
        )
        # A failed precompute leaves no cache entry of the video, not even its rate record (and, like the
        # computation, never fails the extraction).
        with contextlib.suppress(Exception):
            rate_file(paths, shard_file, video_id, float(fps)).unlink(missing_ok=True)
        return None
