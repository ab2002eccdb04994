"""What an extraction run analysed and whether its outcome needs a warning, in words.

A run covers either the whole video or only the frames inside the video's
marked segments at the time it was queued (``runs.params["segments"]``). A
reader must see which, how many frames that is, whether a face was found in
enough of them, and whether the segments have changed since.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["LOW_FACE_SHARE", "face_percent", "face_warning", "ordinal", "scope_text", "segments_changed"]

#: Below this share of analysed frames with the patient's face, a finished run carries a warning.
LOW_FACE_SHARE = 0.5


def ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``11th``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def scope_text(n_segments: int, frames_inside: int | None, frames_total: int | None, every: int = 1) -> str:
    """``"whole video"`` or ``"frames inside 2 segments, 46 of 72"``, plus the stride when not 1.

    Examples
    --------
    >>> scope_text(0, 72, 72)
    'whole video'
    >>> scope_text(2, 46, 72)
    'frames inside 2 segments, 46 of 72'
    >>> scope_text(1, 10, None, every=3)
    'frames inside 1 segment, 10; every 3rd frame'
    """
    if n_segments <= 0:
        text = "whole video"
    else:
        noun = "segment" if n_segments == 1 else "segments"
        count = "" if frames_inside is None else f", {frames_inside}"
        total = f" of {frames_total}" if frames_inside is not None and frames_total else ""
        text = f"frames inside {n_segments} {noun}{count}{total}"
    if every > 1:
        text += f"; every {ordinal(every)} frame"
    return text


def face_warning(n_frames: int | None, n_face_frames: int | None) -> str | None:
    """``"no face found"``, ``"face in 12 % of frames"`` below :data:`LOW_FACE_SHARE`, else None.

    Examples
    --------
    >>> face_warning(95, 0), face_warning(100, 12), face_warning(100, 80), face_warning(0, 0)
    ('no face found', 'face in 12 % of frames', None, 'no frame analysed')
    """
    if n_frames is None or (isinstance(n_frames, float) and math.isnan(n_frames)):
        return None
    frames = int(n_frames)
    faces = 0 if n_face_frames is None or n_face_frames != n_face_frames else int(n_face_frames)
    if frames <= 0:
        return "no frame analysed"
    if faces <= 0:
        return "no face found"
    if faces / frames < LOW_FACE_SHARE:
        return f"face in {face_percent(frames, faces)} of frames"
    return None


def face_percent(n_frames: int, n_face_frames: int) -> str:
    """The share of analysed frames with a face as a whole percentage, ``"42 %"``; every place that shows it uses this.

    Rounded down, so a share below :data:`LOW_FACE_SHARE` never reads as at
    or above it and an incomplete one never as ``100 %``; but never ``0 %``
    when a face was found.

    Examples
    --------
    >>> face_percent(169, 72), face_percent(100, 58), face_percent(1000, 1)
    ('42 %', '58 %', '1 %')
    >>> face_percent(10, 0), face_percent(1000, 999)
    ('0 %', '99 %')
    """
    frames, faces = max(int(n_frames), 1), min(max(int(n_face_frames), 0), max(int(n_frames), 1))
    # Whole numbers throughout: 58 of 100 is 58 %, never 57 % from 0.58 * 100 = 57.999...
    return f"{max(1, 100 * faces // frames) if faces else 0} %"


def segments_changed(
    used: Sequence[Sequence[float]] | None, current: Sequence[Sequence[float]], tolerance_s: float = 1e-6
) -> bool:
    """True when a run that analysed only ``used`` segments no longer matches the video's ``current`` ones.

    A run over the whole video (``used`` empty or None) holds every frame, so
    no edit of the segments makes it stale.

    Examples
    --------
    >>> segments_changed([(0.5, 1.5)], [(0.5, 1.5)]), segments_changed([(0.5, 1.5)], [(0.5, 2.0)])
    (False, True)
    >>> segments_changed([], [(0.5, 2.0)]), segments_changed([(0.5, 1.5)], [])
    (False, True)
    """
    if not used:
        return False
    a = sorted((float(s), float(e)) for s, e in used)
    b = sorted((float(s), float(e)) for s, e in current)
    if len(a) != len(b):
        return True
    return any(
        abs(x0 - y0) > tolerance_s or abs(x1 - y1) > tolerance_s for (x0, x1), (y0, y1) in zip(a, b, strict=True)
    )
