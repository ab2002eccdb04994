r"""Wavelet features at periods in seconds, whatever each video's frame rate: the rate-free map.

A scale ``s`` in frames means the period ``s / (C * fps)`` seconds (``C`` the
wavelet's centre frequency, :func:`pywt.scale2frequency` at scale 1), so one
scale is a different rhythm at 10 and at 30 fps. Here the cohort asks for
periods; each video is transformed at its own scales ``period * C * fps``, with
its own sampling period, and the features line up by period.

**Rate-free amplitude.** PyWavelets counts time in samples: its coefficient of
a rhythm of amplitude ``A`` at the matching scale grows like ``A * sqrt(scale)``,
so at one period a 30 fps video reads ``sqrt(3)`` times a 10 fps one. The
features here are those of the continuous transform with time in seconds,
:math:`W(s, \tau) = s^{-1/2} \int x(t)\, \overline{\psi((t - \tau)/s)}\, dt`, which
PyWavelets' coefficients approximate once multiplied by :math:`\sqrt{\Delta t}`
(``Δt = 1 / fps``); the modulus (power) features are scaled by
:math:`\sqrt{\Delta t}` (:math:`\Delta t`) accordingly, so one rhythm reads the
same at every frame rate.

A video cannot resolve a period shorter than two of its frames (the Nyquist
limit): that cell is left empty for that video with the reason "period below
two frames", never computed on an aliased or padded series; a series shorter
than the wavelet support at that period is left empty as in
:func:`~facs_core.wavelets.features.wavelet_features`.

Examples
--------
The same 0.7 s rhythm filmed at 10 and at 30 fps peaks at the same period:

>>> import numpy as np, pandas as pd
>>> from facs_core.datasets import rhythm_video
>>> frames = pd.concat([rhythm_video("ten", 60, fps=10.0), rhythm_video("thirty", 60, fps=30.0)])
>>> result = period_features(frames, {"ten": 10.0, "thirty": 30.0}, [0.1, 0.35, 0.7, 1.4])
>>> result.reasons()[0, 0, 0]  # 0.1 s is one frame at 10 fps
'period below two frames at 10 fps'
>>> [float(result.periods[i]) for i in np.nanargmax(result.values[:, 0, :], axis=1)]
[0.7, 0.7]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facs_core.docstrings import fill_doc
from facs_core.errors import InputError
from facs_core.series import check_frame_rate, validate_frames
from facs_core.wavelets.features import (
    DEFAULT_MAX_GAP_S,
    FeatureBatches,
    WaveletFeatures,
    checked_rate,
    segment_bounds,
)
from facs_core.wavelets.transform import (
    DEFAULT_PRECISION,
    DEFAULT_WAVELET,
    FilterBank,
    centre_frequency,
    default_workers,
)

__all__ = [
    "DEFAULT_PERIODS",
    "MIN_FRAMES_PER_PERIOD",
    "PeriodFeatures",
    "combine_periods",
    "estimate_rates",
    "log_periods",
    "period_features",
    "period_scales",
    "split_videos",
]

#: A period must span at least this many frames of a video to be resolved (Nyquist).
MIN_FRAMES_PER_PERIOD = 2.0


def log_periods(low: float, high: float, count: int) -> np.ndarray:
    """``count`` periods from ``low`` to ``high`` seconds, evenly spaced in log (as wavelet scales are).

    Examples
    --------
    >>> log_periods(0.1, 10, 3)
    array([ 0.1,  1. , 10. ])
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high < low:
        raise InputError(f"periods {low:g}-{high:g} s must be positive, the first no larger than the second")
    if count < 1 or (count == 1 and high != low):
        raise InputError(f"a period range needs a count of at least 2, not {count}")
    return np.geomspace(low, high, count) if count > 1 else np.array([float(low)])


#: The dashboard's periods: 100 from 0.2 s to 10 s, log-spaced.
DEFAULT_PERIODS: tuple[float, ...] = tuple(float(p) for p in log_periods(0.2, 10.0, 100))


def period_scales(
    periods: Sequence[float], fps: float, wavelet: str = DEFAULT_WAVELET, precision: int = DEFAULT_PRECISION
) -> tuple[np.ndarray, np.ndarray]:
    """The scales (frames) of ``periods`` at ``fps``, and which periods the rate resolves.

    Returns ``(scales, resolved)``: ``scales`` holds one scale per resolved
    period, ``resolved`` one flag per period (at least
    :data:`MIN_FRAMES_PER_PERIOD` frames long).

    Examples
    --------
    >>> scales, resolved = period_scales([0.05, 0.7], 30.0)
    >>> scales.round(3), resolved
    (array([21.]), array([False,  True]))
    """
    fps = checked_rate(fps)
    periods = np.asarray(periods, dtype=float)
    resolved = periods * fps >= MIN_FRAMES_PER_PERIOD * (1 - 1e-9)
    return periods[resolved] * centre_frequency(wavelet, precision) * fps, resolved


#: Decimals an estimated frame rate is rounded to, as the catalog records rates (23.976, 29.97):
#: PyWavelets' discretised wavelet depends on the exact scale, so a rate read from rounded
#: timestamps (23.97600000004) must not make a video's scales differ from the nominal rate's.
RATE_DECIMALS = 3


def estimate_rates(frames: pd.DataFrame) -> dict[str, float]:
    """Each video's frame rate from its timestamps: ``1 / median(Δtimestamp / Δframe)``, to 3 decimals.

    Steps are taken between consecutive frames of a video in frame order;
    steps that do not advance the frame number, or whose timestamps are
    missing, are left out of the median.
    """
    codes, videos = pd.factorize(frames["video_id"].astype(str).str.strip(), sort=True)
    frame_numbers = frames["frame"].to_numpy(dtype=float)
    stamps = pd.to_numeric(frames["timestamp"], errors="coerce").to_numpy(dtype=float)
    # NumPy rather than a pandas group-by: the same medians in a tenth of the time.
    order = np.lexsort((frame_numbers, codes))
    codes, frame_numbers, stamps = codes[order], frame_numbers[order], stamps[order]
    step_frames = np.diff(frame_numbers)
    usable = (codes[1:] == codes[:-1]) & (step_frames > 0)
    per_frame = np.where(usable, np.diff(stamps) / np.where(usable, step_frames, 1.0), np.nan)
    bounds = np.searchsorted(codes[1:], np.arange(videos.size + 1))
    rates = {}
    for video, start, stop in zip(videos, bounds[:-1], bounds[1:], strict=True):
        steps = per_frame[start:stop]
        steps = steps[~np.isnan(steps)]
        median = float(np.median(steps)) if steps.size else np.nan
        if not median > 0:
            raise InputError(f"video {video} has no increasing timestamps to read its frame rate from; give --fps")
        rates[str(video)] = round(1.0 / median, RATE_DECIMALS)
    return rates


@dataclass(frozen=True)
class PeriodFeatures(WaveletFeatures):
    """:class:`~facs_core.wavelets.features.WaveletFeatures` at periods in seconds, one frame rate per video.

    ``scales`` has one row per period (``scale`` empty: each video has its
    own); ``values[v, a, i]`` is NaN where video ``v`` does not resolve period
    ``i`` or has no piece long enough, and :meth:`reasons` says which.

    Attributes
    ----------
    periods : ndarray, shape (periods,)
    rates : ndarray, shape (videos,)
        Each video's frame rate.
    cell_reasons : ndarray of object, shape (videos, aus, periods)
    """

    periods: np.ndarray = None  # type: ignore[assignment]
    rates: np.ndarray = None  # type: ignore[assignment]
    cell_reasons: np.ndarray = None  # type: ignore[assignment]

    @staticmethod
    def column(au: str, period: float) -> str:  # type: ignore[override]
        """Name of the feature column of ``au`` at ``period`` seconds in :meth:`wide`."""
        return f"{au}@{period:g}s"

    def wide(self) -> pd.DataFrame:
        """One row per video (``video_id`` index), one column per (AU, period)."""
        columns = [self.column(au, p) for au in self.aus for p in self.periods]
        data = self.values.reshape(len(self.video_ids), -1)
        return pd.DataFrame(data, index=pd.Index(self.video_ids, name="video_id"), columns=columns)

    def reasons(self) -> np.ndarray:
        """Why each missing value is missing ("" where there is a value)."""
        return self.cell_reasons


def split_videos(features: WaveletFeatures) -> list[WaveletFeatures]:
    """One single-video :class:`~facs_core.wavelets.features.WaveletFeatures` per video of ``features``.

    Examples
    --------
    >>> from facs_core.datasets import rhythm_cohort
    >>> from facs_core.wavelets import wavelet_features
    >>> frames, _ = rhythm_cohort(2, 0.5, 30.0, aus=["AU12"], face_gaps=())
    >>> parts = split_videos(wavelet_features(frames, 30.0, scales=[21]))
    >>> [(part.video_ids, part.values.shape) for part in parts]
    [(['synthetic000'], (1, 1, 1)), (['synthetic001'], (1, 1, 1))]
    """
    return [
        WaveletFeatures(
            values=features.values[i : i + 1],
            frames_used=features.frames_used[i : i + 1],
            frames_valid=features.frames_valid[i : i + 1],
            video_ids=[video_id],
            aus=list(features.aus),
            scales=features.scales,
            wavelet=features.wavelet,
            power=features.power,
        )
        for i, video_id in enumerate(features.video_ids)
    ]


@fill_doc
def combine_periods(
    parts: Sequence[tuple[str, float, WaveletFeatures | None]],
    periods: Sequence[float],
    aus: Sequence[str],
    wavelet: str = DEFAULT_WAVELET,
    power: bool = False,
    precision: int = DEFAULT_PRECISION,
) -> PeriodFeatures:
    """Line up per-video features computed at each video's :func:`period_scales` by period.

    Parameters
    ----------
    parts : sequence of (video_id, fps, WaveletFeatures or None)
        Each video's features at ``period_scales(periods, fps)[0]`` (one
        video each), or None when its rate resolves none of the periods.
    periods : sequence of float
        The periods asked for, seconds.
    aus : sequence of str
        The AUs, in the order of the result (an AU a video lacks is NaN there).
    %(wavelet)s
    %(power)s
    %(precision)s

    Examples
    --------
    >>> import numpy as np
    >>> from facs_core.datasets import rhythm_video
    >>> from facs_core.wavelets import wavelet_features
    >>> frames = rhythm_video("v1", seconds=20, fps=30.0)
    >>> scales, resolved = period_scales([0.05, 0.7], 30.0)
    >>> part = wavelet_features(frames, 30.0, scales=scales)
    >>> combined = combine_periods([("v1", 30.0, part)], [0.05, 0.7], ["AU12"])
    >>> combined.reasons()[0, 0].tolist(), bool(np.isfinite(combined.values[0, 0, 1]))
    (['period below two frames at 30 fps', ''], True)
    """
    periods = np.asarray(periods, dtype=float)
    aus = list(aus)
    n_v, n_a, n_p = len(parts), len(aus), periods.size
    values = np.full((n_v, n_a, n_p), np.nan)
    used = np.zeros((n_v, n_a, n_p), dtype=np.int64)
    valid = np.zeros((n_v, n_a), dtype=np.int64)
    reasons = np.full((n_v, n_a, n_p), "", dtype=object)
    support = np.full((n_v, n_p), np.nan)
    rates = np.empty(n_v)
    for v, (video_id, fps, features) in enumerate(parts):
        rates[v] = fps
        _, resolved = period_scales(periods, fps, wavelet, precision)
        reasons[v][:, ~resolved] = f"period below two frames at {fps:g} fps"
        if features is None:
            continue
        if features.video_ids != [video_id] or features.scales.shape[0] != int(resolved.sum()):
            raise ValueError(f"features of video {video_id} do not match its periods")
        source = np.array([features.aus.index(a) if a in features.aus else -1 for a in aus], dtype=int)
        reasons[v, source < 0] = "no valid frames"
        rows, source = np.flatnonzero(source >= 0), source[source >= 0]
        cells = np.ix_(rows, np.flatnonzero(resolved))
        # Continuous-time normalisation (module docstring): comparable across frame rates.
        values[v][cells] = features.values[0, source] * (1.0 / fps if power else math.sqrt(1.0 / fps))
        used[v][cells] = features.frames_used[0, source]
        valid[v, rows] = features.frames_valid[0, source]
        reasons[v][cells] = features.reasons()[0, source]
        support[v, resolved] = features.scales["support_s"].to_numpy()
    scales = pd.DataFrame(
        {
            "scale": np.full(n_p, np.nan),
            "period_s": periods,
            "frequency_hz": 1.0 / periods,
            "support_frames": np.full(n_p, np.nan),
            # The most demanding video's support: a piece at least this long is analysed by every video.
            "support_s": np.nanmax(np.where(np.isnan(support), -np.inf, support), axis=0, initial=-np.inf),
            "above_nyquist": np.zeros(n_p, dtype=bool),
        }
    )
    scales.loc[~np.isfinite(scales["support_s"]), "support_s"] = np.nan
    return PeriodFeatures(
        values=values,
        frames_used=used,
        frames_valid=valid,
        video_ids=[str(p[0]) for p in parts],
        aus=aus,
        scales=scales,
        wavelet=wavelet,
        power=power,
        periods=periods,
        rates=rates,
        cell_reasons=reasons,
    )


class _InThread:
    """The executor of one worker: runs each task as it is submitted, in the calling thread."""

    def __enter__(self) -> _InThread:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, task: Callable[..., object], *args: object) -> Future:
        future: Future = Future()
        future.set_result(task(*args))
        return future


@fill_doc
def period_features(
    frames: pd.DataFrame,
    rates: Mapping[str, float] | float | None,
    periods: Sequence[float] = DEFAULT_PERIODS,
    wavelet: str = DEFAULT_WAVELET,
    segments: pd.DataFrame | None = None,
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    precision: int = DEFAULT_PRECISION,
    workers: int | None = None,
) -> PeriodFeatures:
    """Mean wavelet modulus of each AU at each period (seconds), each video at its own frame rate.

    Parameters
    ----------
    %(frames)s
    rates : mapping of video id to fps, float or None
        Each video's frame rate; one number for all; None reads each from its
        timestamps (:func:`estimate_rates`).
    periods : sequence of float
        Periods in seconds.
    %(wavelet)s
    %(segments)s
    %(power)s
    %(max_gap_s)s
    %(precision)s
    %(workers)s

    Returns
    -------
    PeriodFeatures

    Examples
    --------
    >>> from facs_core.datasets import rhythm_video
    >>> frames = rhythm_video("v1", seconds=20, fps=30.0)
    >>> features = period_features(frames, None, [0.35, 0.7, 1.0])  # rate read from the timestamps
    >>> features.wide().columns.tolist(), int(features.values[0, 0].argmax())
    (['AU12@0.35s', 'AU12@0.7s', 'AU12@1s'], 1)
    """
    aus = validate_frames(frames)
    periods = np.asarray(periods, dtype=float)
    if periods.size == 0 or not np.all(np.isfinite(periods)) or np.any(periods <= 0):
        raise InputError("periods must be a non-empty list of positive numbers of seconds")
    frames = frames.assign(video_id=frames["video_id"].astype(str).str.strip())
    # Rates read from the timestamps agree with them by construction; rates given are checked per group below.
    given = rates is not None
    if rates is None:
        rates = estimate_rates(frames)
    elif not isinstance(rates, Mapping):
        rate = checked_rate(rates)
        rates = {str(v): rate for v in frames["video_id"].unique()}
    bounds = segment_bounds(segments)
    rows_of = {str(v): rows for v, rows in frames.groupby("video_id", sort=True)}
    videos = [v for v in rows_of if bounds is None or v in bounds]
    missing = [v for v in videos if v not in rates]
    if missing:
        raise InputError(f"no frame rate for video {missing[0]}")
    by_video: dict[str, WaveletFeatures | None] = {}
    # Videos of one rate share their scales: one batched transform per rate, not per video.
    groups: list[tuple[float, list[str], np.ndarray]] = []
    for fps in sorted({checked_rate(rates[v]) for v in videos}):
        group = [v for v in videos if checked_rate(rates[v]) == fps]
        if given:
            check_frame_rate(pd.concat([rows_of[v] for v in group]), fps)
        scales, resolved = period_scales(periods, fps, wavelet, precision)
        if resolved.any():
            groups.append((fps, group, scales))
        else:
            by_video.update(dict.fromkeys(group))

    # The rate with the most frames first: its batches are the longest, and the main thread cuts the
    # next rate's pieces while the pool transforms them. Every rate's batches share one pool, so no
    # thread idles while another finishes a rate.
    groups.sort(key=lambda g: -sum(len(rows_of[v]) for v in g[1]))
    jobs = []
    threads = workers or default_workers()
    with ThreadPoolExecutor(max_workers=threads) if threads > 1 else _InThread() as pool:
        for fps, group, scales in groups:
            job = FeatureBatches(
                [(v, rows_of[v]) for v in group],
                fps,
                FilterBank(wavelet, scales, precision),
                aus,
                power,
                max_gap_s,
                bounds,
            )
            jobs.append((job, [pool.submit(job.run, batch) for batch in job.batches]))
        results = [job.features([future.result() for future in futures]) for job, futures in jobs]
    for features in results:
        by_video.update(zip(features.video_ids, split_videos(features), strict=True))
    parts = [(v, checked_rate(rates[v]), by_video[v]) for v in videos if v in by_video]
    if not parts:
        raise InputError("no video of the frames table has a segment in the segments table")
    result = combine_periods(parts, periods, aus, wavelet, power, precision)
    if np.isnan(result.values).all():
        raise InputError(
            "no AU series is long enough for any period: every AU is missing, shorter than the wavelet support"
            " or sampled too slowly"
        )
    return result
