"""Rules for symptom segments on a video's timeline (no storage here).

A segment is a half-open time interval ``[start_s, end_s)`` in seconds on the
video's decoder clock, with a label (presets in
``facs_core/resources/segment_labels.csv``). It must start at or after 0,
end after it starts and not run past the video's end. Two segments of one
video overlap when each starts before the other ends; touching segments do
not overlap. The catalog operations live in :mod:`store.segment_rows`.

Extraction covers the marked segments, or the whole video when none are
marked: :func:`frame_ranges` turns segments into half-open frame ranges.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from facs_core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

#: How far a segment may run past the video's end from rounding of times typed or dragged in the UI.
END_TOLERANCE_S = 1e-3
MAX_LABEL_LENGTH = 80
OVERLAP_POLICIES: tuple[str, ...] = ("refuse", "merge")


@dataclass(frozen=True)
class SegmentLabel:
    """A preset label for symptom segments."""

    label: str
    description: str
    source: str


@cache
def segment_labels() -> tuple[SegmentLabel, ...]:
    """Preset segment labels, from ``resources/segment_labels.csv``."""
    text = resources.files("facs_core.resources").joinpath("segment_labels.csv").read_text("utf-8")
    return tuple(
        SegmentLabel(row["label"], row["description"], row["source"]) for row in csv.DictReader(text.splitlines())
    )


def check_label(label: str | None) -> str:
    """A non-empty label of at most 80 characters, on one line (presets or free text)."""
    text = " ".join(str(label or "").split())
    if not text:
        raise InputError("segment label is empty: choose a preset or type one")
    if len(text) > MAX_LABEL_LENGTH:
        raise InputError(f"segment label {text[:20]!r}... is longer than {MAX_LABEL_LENGTH} characters")
    return text


def check_bounds(start_s: float, end_s: float, duration_s: float | None, *, video_id: str) -> tuple[float, float]:
    """Validate a segment's times against each other and the video's duration.

    Raises
    ------
    InputError
        A time that is not a finite number, a negative start, an end not after
        the start, or an end past the video's duration.
    """
    try:
        start, end = float(start_s), float(end_s)
    except (TypeError, ValueError):
        raise InputError(f"video {video_id}: segment times {start_s!r}-{end_s!r} are not numbers") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InputError(f"video {video_id}: segment times {start_s!r}-{end_s!r} are not finite")
    if start < 0:
        raise InputError(f"video {video_id}: segment start {start:g} s is before the video starts (0 s)")
    if end <= start:
        raise InputError(f"video {video_id}: segment end {end:g} s is not after its start {start:g} s")
    if duration_s is not None and end > duration_s + END_TOLERANCE_S:
        raise InputError(f"video {video_id}: segment end {end:g} s is past the video's end ({duration_s:.3f} s)")
    if duration_s is not None:
        end = min(end, float(duration_s))
    return start, end


def check_overlap_policy(on_overlap: str) -> str:
    """``"refuse"`` (the default everywhere) or ``"merge"``."""
    if on_overlap not in OVERLAP_POLICIES:
        raise InputError(f"on_overlap {on_overlap!r}: use one of {', '.join(OVERLAP_POLICIES)}")
    return on_overlap


def overlapping(
    start_s: float, end_s: float, others: Iterable[tuple[int, float, float]]
) -> list[tuple[int, float, float]]:
    """The ``(segment_id, start_s, end_s)`` among ``others`` that overlap ``[start_s, end_s)``."""
    return [o for o in others if o[1] < end_s and start_s < o[2]]


def merged_bounds(start_s: float, end_s: float, others: Sequence[tuple[int, float, float]]) -> tuple[float, float]:
    """The union interval of a segment and the overlapping ``others``."""
    return min([start_s, *(o[1] for o in others)]), max([end_s, *(o[2] for o in others)])


def frame_ranges(
    segments: Iterable[tuple[float, float]],
    *,
    frame_count: int,
    fps: float | None = None,
    timestamps: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Half-open frame ranges ``[first, stop)`` that extraction covers.

    A frame belongs to a segment when its timestamp ``t`` satisfies
    ``start_s <= t < end_s``. With decoder ``timestamps`` (one per decoded
    frame) this is exact even for variable frame rates; otherwise frame *i* is
    taken to start at ``i / fps``. Overlapping or touching ranges are joined.
    With no segments the whole video ``[(0, frame_count)]`` is returned.

    Parameters
    ----------
    segments : iterable of (start_s, end_s)
    frame_count : int
        Decoded frames in the video.
    fps : float, optional
        Frame rate, used when ``timestamps`` is not given.
    timestamps : array, optional
        Decoder timestamp (seconds) of every frame.
    """
    # numpy here, not at the top: the command line reads this module's presets
    # to build its parser and must not pay numpy's import for every call.
    import numpy as np

    spans = sorted((float(s), float(e)) for s, e in segments)
    if not spans:
        return [(0, int(frame_count))] if frame_count > 0 else []
    if timestamps is not None:
        times = np.asarray(timestamps, dtype=float)
    elif fps is not None and fps > 0:
        times = np.arange(int(frame_count), dtype=float) / float(fps)
    else:
        raise InputError("frame ranges need the video's fps or its decoder timestamps")
    ranges: list[tuple[int, int]] = []
    for start, end in spans:
        first = int(np.searchsorted(times, start, side="left"))
        stop = int(np.searchsorted(times, end, side="left"))
        if stop <= first:
            continue
        if ranges and first <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], stop))
        else:
            ranges.append((first, stop))
    return ranges
