"""Per-video wavelet features and one video's scalogram, with what they mean in seconds.

:func:`wavelet_features` cuts each AU series into pieces (segments and face
gaps as in :mod:`facs_core.series`), transforms them with
:mod:`facs_core.wavelets.transform` and averages ``|W|`` per video, AU and
scale into a :class:`WaveletFeatures`; :func:`scalogram` keeps the time axis
of one AU of one video for the patient view. :class:`WaveletParams` names the
options a result depends on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from facs_core.docstrings import fill_doc
from facs_core.errors import InputError
from facs_core.series import (
    Piece,
    check_frame_rate,
    frame_grid,
    segment_rows,
    split_valid,
    validate_frames,
    validate_segments,
    video_pieces,
)
from facs_core.wavelets.transform import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_PRECISION,
    DEFAULT_SCALES,
    DEFAULT_WAVELET,
    FilterBank,
    batched_sums,
    cwt,
    default_workers,
    plan_batches,
)

__all__ = [
    "DEFAULT_MAX_GAP_S",
    "FeatureBatches",
    "Scalogram",
    "WaveletFeatures",
    "WaveletParams",
    "rhythm_label",
    "scale_table",
    "scalogram",
    "segment_bounds",
    "video_features",
    "wavelet_features",
]

#: Longest face gap (seconds) filled by interpolation; longer gaps split the series.
DEFAULT_MAX_GAP_S = 0.5


@dataclass(frozen=True)
class WaveletParams:
    """How AU series become wavelet features: every option a result depends on.

    Defaults are the study's. ``scales`` is kept as a tuple of floats, so two
    parameter sets are equal (and hash equal) exactly when they ask for the
    same numbers.

    Attributes
    ----------
    scales : tuple of float
        Wavelet scales in frames.
    wavelet : str
        PyWavelets continuous wavelet name.
    power : bool
        Average ``|W|**2`` instead of ``|W|``.
    max_gap_s : float
        Longest face gap (seconds) filled by interpolation.
    precision : int
        PyWavelets' wavelet resolution, ``2**precision`` points.
    """

    scales: tuple[float, ...] = DEFAULT_SCALES
    wavelet: str = DEFAULT_WAVELET
    power: bool = False
    max_gap_s: float = DEFAULT_MAX_GAP_S
    precision: int = DEFAULT_PRECISION

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", tuple(float(s) for s in np.ravel(self.scales)))


def checked_rate(fps: float | None) -> float:
    """``fps`` as a positive float, or a one-line error naming what is wrong."""
    if fps is None:
        raise InputError("frame rate (fps) is missing; give the videos' frames per second")
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"frame rate {fps!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"frame rate must be a positive number of frames per second, not {fps!r}")
    return value


@dataclass(frozen=True)
class WaveletFeatures:
    """Per-video, per-AU, per-scale wavelet features and how they were made.

    Attributes
    ----------
    values : ndarray, shape (videos, aus, scales)
        Frame-weighted mean over pieces of mean ``|W|`` (or ``|W|²``); NaN
        where no piece was long enough or the AU had no valid frame.
    frames_used : ndarray of int, shape (videos, aus, scales)
        Frames behind each value.
    frames_valid : ndarray of int, shape (videos, aus)
        Frames with a value (after gap filling) per video and AU.
    video_ids : list of str
    aus : list of str
    scales : DataFrame
        One row per scale: ``scale, period_s, frequency_hz, support_frames, support_s``.
    wavelet : str
    power : bool
    """

    values: np.ndarray
    frames_used: np.ndarray
    frames_valid: np.ndarray
    video_ids: list[str]
    aus: list[str]
    scales: pd.DataFrame
    wavelet: str
    power: bool

    @staticmethod
    def column(au: str, scale: float) -> str:
        """Name of the feature column of ``au`` at ``scale`` in :meth:`wide`."""
        return f"{au}@{scale:g}"

    def wide(self) -> pd.DataFrame:
        """One row per video (``video_id`` index), one column per (AU, scale)."""
        scales = self.scales["scale"].to_numpy()
        columns = [self.column(au, s) for au in self.aus for s in scales]
        data = self.values.reshape(len(self.video_ids), -1)
        return pd.DataFrame(data, index=pd.Index(self.video_ids, name="video_id"), columns=columns)

    def long(self) -> pd.DataFrame:
        """One row per (video, AU, scale) with ``value``, ``frames_used`` and ``reason``."""
        n_videos, n_aus, n_scales = self.values.shape
        scales = self.scales["scale"].to_numpy()
        table = pd.DataFrame(
            {
                "video_id": np.repeat(self.video_ids, n_aus * n_scales),
                "au": np.tile(np.repeat(self.aus, n_scales), n_videos),
                "scale": np.tile(scales, n_videos * n_aus),
                "value": self.values.ravel(),
                "frames_used": self.frames_used.ravel(),
            }
        )
        table["reason"] = self.reasons().ravel()
        return table

    def reasons(self) -> np.ndarray:
        """Why each missing value is missing ("" where there is a value)."""
        support = self.scales["support_frames"].to_numpy()
        no_frames = (self.frames_valid == 0)[:, :, None]
        reasons = np.full(self.values.shape, "", dtype=object)
        short = np.isnan(self.values) & ~no_frames
        reasons[short] = np.broadcast_to(
            np.array([f"every piece shorter than the wavelet support ({int(s)} frames)" for s in support]),
            self.values.shape,
        )[short]
        reasons[np.broadcast_to(no_frames, self.values.shape)] = "no valid frames"
        return reasons

    @cached_property
    def scale_index(self) -> dict[float, int]:
        """Position of each scale."""
        return {float(s): i for i, s in enumerate(self.scales["scale"])}


@fill_doc
def scale_table(
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    precision: int = DEFAULT_PRECISION,
    bank: FilterBank | None = None,
) -> pd.DataFrame:
    """Each scale in clinical units.

    ``frequency_hz = pywt.scale2frequency(wavelet, scale) * fps`` and
    ``period_s = 1 / frequency_hz``; ``support_frames`` is the length of the
    discretised wavelet at that scale (a piece must be at least that long),
    ``support_s`` the same in seconds. ``above_nyquist`` marks scales whose
    frequency exceeds ``fps / 2`` (scale 1 of ``cmor1.5-1.0`` is 30 Hz at 30
    fps): PyWavelets computes them, but what they measure is aliased.

    Parameters
    ----------
    %(fps)s
    %(scales)s
    %(wavelet)s
    %(precision)s
    bank : FilterBank, optional
        Precomputed filters (overrides ``scales``, ``wavelet``, ``precision``).

    Examples
    --------
    >>> scale_table(30.0, [1, 21, 100]).round(3)
       scale  period_s  frequency_hz  support_frames  support_s  above_nyquist
    0    1.0     0.033        30.000              17      0.567           True
    1   21.0     0.700         1.429             337     11.233          False
    2  100.0     3.333         0.300            1601     53.367          False
    """
    fps = checked_rate(fps)
    bank = bank or FilterBank(wavelet, scales, precision)
    frequency = bank.frequencies(fps)
    return pd.DataFrame(
        {
            "scale": bank.scales,
            "period_s": 1.0 / frequency,
            "frequency_hz": frequency,
            "support_frames": bank.support,
            "support_s": bank.support / fps,
            "above_nyquist": frequency > fps / 2,
        }
    )


def rhythm_label(period_s: float, frequency_hz: float) -> str:
    """A scale as a clinician reads it: ``"0.70 s rhythm (1.43 Hz)"``.

    Examples
    --------
    >>> rhythm_label(0.7, 1 / 0.7)
    '0.70 s rhythm (1.43 Hz)'
    """
    return f"{period_s:.2f} s rhythm ({frequency_hz:.3g} Hz)"


def segment_bounds(segments: pd.DataFrame | None) -> dict[str, list[tuple[float, float]]] | None:
    """Each video's segments as sorted ``(start_s, end_s)`` pairs (None without a segments table)."""
    if segments is None:
        return None
    table = validate_segments(segments)
    bounds: dict[str, list[tuple[float, float]]] = {}
    for video_id, start, end in table.itertuples(index=False):
        bounds.setdefault(video_id, []).append((float(start), float(end)))
    return {k: sorted(v) for k, v in bounds.items()}


def _max_gap_frames(max_gap_s: float, fps: float) -> int:
    if not math.isfinite(max_gap_s) or max_gap_s < 0:
        raise InputError(f"maximum gap must be zero or a positive number of seconds, not {max_gap_s!r}")
    return math.floor(max_gap_s * fps + 1e-9)


@fill_doc
def wavelet_features(
    frames: pd.DataFrame,
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    segments: pd.DataFrame | None = None,
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    aus: Sequence[str] | None = None,
    precision: int = DEFAULT_PRECISION,
    workers: int | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    require_values: bool = True,
) -> WaveletFeatures:
    """Mean wavelet modulus of each AU at each scale, per video.

    For each piece ``p`` of a video's AU series (segments and gaps as in
    :mod:`facs_core.series`), with ``n_p`` frames, mean removed, the piece
    mean is :math:`m_p(s) = \\frac{1}{n_p} \\sum_t |W_p(s, t)|`; the video's
    feature is :math:`\\sum_p n_p m_p(s) / \\sum_p n_p` over the pieces at
    least as long as the wavelet support at ``s``. Validated against a
    per-piece ``pywt.cwt(..., method="fft")`` loop to 1e-9 relative.

    Parameters
    ----------
    %(frames)s
    %(fps)s
    %(scales)s
    %(wavelet)s
    %(segments)s
    %(power)s
    %(max_gap_s)s
    aus : sequence of str, optional
        AU columns to use (default: every ``AUnn`` column).
    %(precision)s
    %(workers)s
    batch_bytes : int
        Working memory budget per batch (bytes); memory stays bounded by
        ``workers * batch_bytes`` plus the input, whatever the video length.
    require_values : bool
        Refuse (``InputError``) a result with no value at all; False returns
        it, every cell NaN with its reason (one video of a cohort).

    Examples
    --------
    Two videos of a 0.7 s rhythm, the second twice as strong: each feature is
    proportional to the amplitude, strongest at scale 21 (0.7 s at 30 fps):

    >>> import pandas as pd
    >>> from facs_core.datasets import rhythm_video
    >>> frames = pd.concat([rhythm_video("v1", 30, amplitude=0.1), rhythm_video("v2", 30, amplitude=0.2)])
    >>> features = wavelet_features(frames, 30.0, scales=[10, 21, 40])
    >>> wide = features.wide()
    >>> wide.columns.tolist()
    ['AU12@10', 'AU12@21', 'AU12@40']
    >>> (wide.loc["v2"] / wide.loc["v1"]).round(6).tolist()
    [2.0, 2.0, 2.0]
    >>> wide.loc["v1"].idxmax()
    'AU12@21'

    Returns
    -------
    WaveletFeatures
    """
    fps = checked_rate(fps)
    all_aus = validate_frames(frames)
    if aus is None:
        aus = all_aus
    else:
        unknown = [au for au in aus if au not in frames.columns]
        if unknown:
            raise InputError(f"frames table has no column {', '.join(unknown)}")
        aus = list(aus)
    check_frame_rate(frames, fps)
    bank = FilterBank(wavelet, scales, precision)
    _max_gap_frames(max_gap_s, fps)
    bounds = segment_bounds(segments)
    frames = frames.assign(video_id=frames["video_id"].astype(str).str.strip())
    videos = [(str(v), video) for v, video in frames.groupby("video_id", sort=True)]
    if bounds is not None:
        videos = [(v, video) for v, video in videos if v in bounds]
        if not videos:
            raise InputError("no video of the frames table has a segment in the segments table")
    features = video_features(videos, fps, bank, aus, power, max_gap_s, bounds, workers, batch_bytes)
    if require_values and np.isnan(features.values).all():
        raise InputError(
            "no AU series is long enough for any scale: every AU is missing or shorter than the wavelet support"
        )
    return features


def video_features(
    videos: Sequence[tuple[str, pd.DataFrame]],
    fps: float,
    bank: FilterBank,
    aus: Sequence[str],
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    bounds: dict[str, list[tuple[float, float]]] | None = None,
    workers: int | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> WaveletFeatures:
    """:func:`wavelet_features` of videos already checked and split, one ``(video_id, rows)`` each.

    What :func:`wavelet_features` runs once it has validated the table, the
    rate and the segments. ``bounds`` maps a video to its segments (None:
    whole videos).
    """
    job = FeatureBatches(videos, fps, bank, aus, power, max_gap_s, bounds, batch_bytes)
    threads = workers or default_workers()
    if threads > 1 and len(job.batches) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return job.features(list(pool.map(job.run, job.batches)))
    return job.features([job.run(batch) for batch in job.batches])


class FeatureBatches:
    """One frame rate's videos cut into pieces and grouped into transform batches.

    :meth:`run` transforms one of :attr:`batches` (any thread, any order);
    :meth:`features` averages the results into a :class:`WaveletFeatures`.
    :func:`video_features` runs the batches of one rate on a thread pool;
    :func:`~facs_core.wavelets.periods.period_features` feeds the batches of
    every rate to one pool, so no thread idles while another finishes a rate.
    Arguments as for :func:`video_features`.
    """

    def __init__(
        self,
        videos: Sequence[tuple[str, pd.DataFrame]],
        fps: float,
        bank: FilterBank,
        aus: Sequence[str],
        power: bool = False,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
        bounds: dict[str, list[tuple[float, float]]] | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        max_gap = _max_gap_frames(max_gap_s, fps)
        self.fps, self.bank, self.aus, self.power, self.batch_bytes = fps, bank, list(aus), power, batch_bytes
        self.video_ids = [video_id for video_id, _ in videos]
        self.pieces: list[Piece] = []
        for video_id, video in videos:
            self.pieces.extend(video_pieces(video, aus, fps, max_gap, None if bounds is None else bounds[video_id]))
        self.lengths = np.array([p.n_frames for p in self.pieces], dtype=np.int64)
        #: Indices into :attr:`pieces`, one array per transform batch.
        self.batches: list[np.ndarray] = plan_batches(self.lengths, bank, batch_bytes) if self.pieces else []

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(batch, sums, valid)`` of one batch (:func:`~facs_core.wavelets.transform.batched_sums`)."""
        sums, valid = batched_sums([self.pieces[i].values for i in batch], self.bank, self.power, self.batch_bytes)
        return batch, sums, valid

    def features(self, results: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> WaveletFeatures:
        """The per-video averages from :meth:`run`'s results, given in the order of :attr:`batches`."""
        video_position = {v: i for i, v in enumerate(self.video_ids)}
        au_position = {a: i for i, a in enumerate(self.aus)}
        shape = (len(self.video_ids), len(self.aus), self.bank.scales.size)
        numerator = np.zeros(shape)
        frames_used = np.zeros(shape, dtype=np.int64)
        frames_valid = np.zeros(shape[:2], dtype=np.int64)
        if self.pieces:
            where_v = np.array([video_position[p.video_id] for p in self.pieces])
            where_a = np.array([au_position[p.au] for p in self.pieces])
            np.add.at(frames_valid, (where_v, where_a), self.lengths)
            for group, sums, valid in results:
                np.add.at(numerator, (where_v[group], where_a[group]), sums)
                np.add.at(frames_used, (where_v[group], where_a[group]), valid * self.lengths[group, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(frames_used > 0, numerator / frames_used, np.nan)
        return WaveletFeatures(
            values=values,
            frames_used=frames_used,
            frames_valid=frames_valid,
            video_ids=self.video_ids,
            aus=self.aus,
            scales=scale_table(self.fps, bank=self.bank),
            wavelet=self.bank.wavelet_name,
            power=self.power,
        )


# --------------------------------------------------------------------------
# One video's scalogram, for the patient view


@dataclass(frozen=True)
class Scalogram:
    """``|W|`` of one AU over one segment of one video, scale x time.

    Attributes
    ----------
    modulus : ndarray, shape (scales, frames)
        ``|W|`` (or ``|W|²`` with ``power``) of the mean-removed pieces; NaN in
        long gaps and where the piece is shorter than the wavelet support.
    times : ndarray, shape (frames,)
        Time of each column in seconds (the decoder's timestamps).
    frames : ndarray of int, shape (frames,)
        Frame number of each column.
    scales, periods_s, frequencies_hz : ndarray, shape (scales,)
        Each row's scale and what it means in seconds and Hz.
    """

    modulus: np.ndarray
    times: np.ndarray
    frames: np.ndarray
    scales: np.ndarray
    periods_s: np.ndarray
    frequencies_hz: np.ndarray
    video_id: str
    au: str
    power: bool

    def binned(self, max_columns: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The image averaged into at most ``max_columns`` time bins: ``(values, bin starts, bin width s)``.

        Bins wholly inside a face gap are NaN; the mean ignores NaN within a bin.
        """
        n = self.modulus.shape[1]
        step = max(1, int(np.ceil(n / max_columns)))
        columns = int(np.ceil(n / step))
        padded = np.full((self.modulus.shape[0], columns * step), np.nan)
        padded[:, :n] = self.modulus
        blocks = padded.reshape(self.modulus.shape[0], columns, step)
        counts = np.isfinite(blocks).sum(axis=2)
        sums = np.nansum(blocks, axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, sums / counts, np.nan)
        width = float(np.nanmedian(np.diff(self.times))) * step if n > 1 else 1.0
        return values, self.times[::step][:columns], width

    def long(self) -> pd.DataFrame:
        """Tidy form for plotting: ``time_s, period_s, scale, value``."""
        return pd.DataFrame(
            {
                "time_s": np.tile(self.times, self.scales.size),
                "scale": np.repeat(self.scales, self.times.size),
                "period_s": np.repeat(self.periods_s, self.times.size),
                "value": self.modulus.ravel(),
            }
        )


@fill_doc
def scalogram(
    frames: pd.DataFrame,
    video_id: str,
    au: str,
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    segment: tuple[float, float] | None = None,
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    precision: int = DEFAULT_PRECISION,
) -> Scalogram:
    """Scale x time image of ``|W|`` for one AU of one video, for the patient view.

    Pieces are cut and transformed exactly as for :func:`wavelet_features`, so
    the image's row means, frame-weighted, are that video's features.

    Parameters
    ----------
    %(frames)s
    video_id : str
        The video to draw.
    au : str
        The AU column, e.g. ``"AU12"``.
    %(fps)s
    %(scales)s
    %(wavelet)s
    segment : (start_s, end_s), optional
        Time span to draw (end exclusive); default the whole video.
    %(power)s
    %(max_gap_s)s
    %(precision)s

    Examples
    --------
    >>> from facs_core.datasets import rhythm_video
    >>> frames = rhythm_video("v1", seconds=30, amplitude=0.1)
    >>> image = scalogram(frames, "v1", "AU12", 30.0, scales=[10, 21, 40])
    >>> image.modulus.shape  # (scales, frames)
    (3, 900)
    >>> image.periods_s.round(2)
    array([0.33, 0.7 , 1.33])
    """
    fps = checked_rate(fps)
    validate_frames(frames)
    if au not in frames.columns:
        raise InputError(f"frames table has no column {au}")
    video = frames[frames["video_id"].astype(str).str.strip() == str(video_id)]
    if video.empty:
        raise InputError(f"frames table has no rows for video {video_id}")
    check_frame_rate(video, fps)
    bank = FilterBank(wavelet, scales, precision)
    first, stamps, values = frame_grid(video, [au])
    bounds = None if segment is None else [(float(segment[0]), float(segment[1]))]
    rows = segment_rows(stamps, first, fps, bounds)[0]
    if rows.size == 0:
        raise InputError(f"video {video_id} has no frame between {segment[0]} s and {segment[1]} s")
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    image = np.full((bank.scales.size, hi - lo), np.nan)
    pieces = split_valid(values[lo:hi, 0], _max_gap_frames(max_gap_s, fps))
    if not pieces:
        raise InputError(f"video {video_id} has no valid {au} value in this segment")
    for offset, piece in pieces:
        coefficients = cwt(piece - piece.mean(), bank=bank)
        magnitude = np.abs(coefficients) ** 2 if power else np.abs(coefficients)
        magnitude[bank.support > piece.size] = np.nan
        image[:, offset : offset + piece.size] = magnitude
    frequency = bank.frequencies(fps)
    grid_frames = np.arange(lo, hi) + first
    times = stamps[lo:hi]
    if np.isnan(times).any():
        known = np.isfinite(times)
        times = np.interp(grid_frames, grid_frames[known], times[known]) if known.any() else grid_frames / fps
    return Scalogram(
        modulus=image,
        times=times,
        frames=grid_frames,
        scales=bank.scales,
        periods_s=1.0 / frequency,
        frequencies_hz=frequency,
        video_id=str(video_id),
        au=au,
        power=power,
    )
