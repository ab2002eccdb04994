"""Which of several detected faces is the patient's.

In an interview recording the patient is filmed on purpose: their face is the
largest and most central one, and it stays where it was from one frame to the
next. Interviewers or relatives at the edge of the picture are smaller, off
centre, and elsewhere. :func:`choose_patient_face` scores every face of a frame
on those three cues and keeps the best one; frames with one face keep it.

Score of face *i* in a frame (all distances divided by the picture's diagonal
*D*, areas by the frame's largest face area)::

    score_i = area_i / max_area - |c_i - c_frame| / D - |c_i - c_patient| / D - |c_i - c_prev| / D

where ``c_frame`` is the picture's centre, ``c_patient`` the median centre of
the faces a first, size-and-centre-only pass chose across the whole video, and
``c_prev`` the centre chosen in the previous frame with a face. The track terms
make the choice stable when two faces are about the same size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Column names of the face box, as py-feat writes them.
BOX_COLUMNS: tuple[str, str, str, str] = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight")


def _picture_geometry(
    x: np.ndarray, y: np.ndarray, right: np.ndarray, bottom: np.ndarray, frame_size: tuple[int, int] | None
) -> tuple[np.ndarray, float]:
    if frame_size is not None:
        width, height = frame_size
        return np.array([width / 2.0, height / 2.0]), float(np.hypot(width, height))
    # Without the picture's size, the boxes' overall extent stands in for it.
    left, top, r, b = np.nanmin(x), np.nanmin(y), np.nanmax(right), np.nanmax(bottom)
    diagonal = float(np.hypot(r - left, b - top)) or 1.0
    return np.array([(left + r) / 2.0, (top + b) / 2.0]), diagonal


def choose_patient_face(
    boxes: pd.DataFrame,
    *,
    frame_column: str = "frame",
    box_columns: tuple[str, str, str, str] = BOX_COLUMNS,
    frame_size: tuple[int, int] | None = None,
) -> pd.Series:
    """Mark the patient's face among the faces detected in each frame.

    Parameters
    ----------
    boxes : DataFrame
        One row per detected face: a frame number and the face box (x, y,
        width, height in pixels). Rows with a missing box are frames without
        a face and are never chosen.
    frame_column : str
        The column with the frame number.
    box_columns : tuple of 4 str
        The columns holding x, y, width and height.
    frame_size : (width, height), optional
        The picture's size; when missing, the boxes' overall extent is used.

    Returns
    -------
    Series of bool
        Aligned with ``boxes.index``: True on the one chosen face of each frame
        that has one.

    Notes
    -----
    The score is given in the module docstring. Checked in
    ``tests/test_importers.py`` against frames built with a known patient
    (large, central) beside smaller off-centre faces, including frames where
    the two are the same size and only the track decides.
    """
    chosen = pd.Series(False, index=boxes.index)
    if boxes.empty:
        return chosen
    x, y, w, h = (boxes[c].to_numpy(dtype=float) for c in box_columns)
    valid = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
    if not valid.any():
        return chosen
    frames = boxes[frame_column].to_numpy()
    cx, cy, area = x + w / 2.0, y + h / 2.0, w * h
    centre, diagonal = _picture_geometry(x[valid], y[valid], (x + w)[valid], (y + h)[valid], frame_size)

    positions = np.flatnonzero(valid)
    order = positions[np.argsort(frames[positions], kind="stable")]
    groups = np.split(order, np.flatnonzero(np.diff(frames[order])) + 1)

    def base_score(members: np.ndarray) -> np.ndarray:
        size = area[members] / area[members].max()
        off_centre = np.hypot(cx[members] - centre[0], cy[members] - centre[1]) / diagonal
        return size - off_centre

    first_pass = np.array([g[np.argmax(base_score(g))] for g in groups])
    patient_centre = np.array([np.median(cx[first_pass]), np.median(cy[first_pass])])

    picks = []
    previous: np.ndarray | None = None
    for members in groups:
        if len(members) == 1:
            pick = members[0]
        else:
            score = base_score(members)
            score -= np.hypot(cx[members] - patient_centre[0], cy[members] - patient_centre[1]) / diagonal
            if previous is not None:
                score -= np.hypot(cx[members] - previous[0], cy[members] - previous[1]) / diagonal
            pick = members[np.argmax(score)]
        previous = np.array([cx[pick], cy[pick]])
        picks.append(pick)
    chosen.iloc[np.asarray(picks)] = True
    return chosen


def face_counts(
    boxes: pd.DataFrame, *, frame_column: str = "frame", box_columns: tuple[str, str, str, str] = BOX_COLUMNS
) -> pd.Series:
    """Number of detected faces (rows with a box) in each row's frame, aligned with ``boxes.index``."""
    has_box = boxes[list(box_columns)].notna().all(axis=1)
    return has_box.groupby(boxes[frame_column]).transform("sum").astype("int64")
