"""The embedded offline backend: MediaPipe Face Landmarker with blendshapes.

Needs no download at run time: the model file comes from a pinned registry
package and is checked by sha256 (:mod:`facs_core.models`). Runs the Tasks API
``FaceLandmarker`` in ``VIDEO`` mode (tracking from frame to frame) with
``output_face_blendshapes=True`` and ``num_faces`` above one, so the patient's
face can be chosen among several (:func:`facs_core.faces.choose_patient_face`:
largest, most central, consistent across frames); ``face_count`` records how
many faces the frame held.

Output columns, after the leading four:

- ``AUxx``: AU estimates derived from the 52 ARKit-style blendshapes through
  ``resources/blendshape_au_map.csv`` (from py-feat's
  ``feat/resources/blendshape_region_map.json``, which follows FACS
  (Ekman & Friesen) and the ARKit-to-FACS correspondences of
  melindaozel.com/arkit-to-facs-cheat-sheet). An AU with several blendshapes
  (left and right sides) is their mean; blendshape coefficients already lie
  in [0, 1]. Study AUs without a blendshape counterpart (AU11, AU23, AU24,
  AU25, AU28, AU43) are absent. These columns are *blendshape-derived*, not
  FACS-coded intensities: ``au_source`` = ``"blendshape"`` in the table's
  Parquet metadata and in a column of the same name.
- ``bs_<name>``: the 52 blendshape coefficients as MediaPipe gives them.
- ``face_count``, ``face_x``, ``face_y``, ``face_w``, ``face_h`` (pixels, box
  of the 478 landmarks), ``head_pitch``, ``head_yaw``, ``head_roll``
  (degrees, Euler angles x-y-z of the facial transformation matrix, via
  :meth:`scipy.spatial.transform.Rotation.as_euler`).

``face_confidence``: the Face Landmarker reports no per-face score; each face
it returns passed ``min_face_detection_confidence`` and
``min_face_presence_confidence``, so a found face is 1.0 and no face is 0.0.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from facs_core.backends.base import Backend
from facs_core.decode import DecodedFrame
from facs_core.errors import InputError
from facs_core.faces import choose_patient_face
from facs_core.models import mediapipe_model_path, mediapipe_model_pin
from facs_core.reference import action_units

# MediaPipe's native logging (glog/absl) would interleave with our one-line
# progress on stderr; keep its warnings out unless the user asked for them.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_BOX = ("face_x", "face_y", "face_w", "face_h")
_POSE = ("head_pitch", "head_yaw", "head_roll")


@cache
def blendshape_au_map() -> dict[str, tuple[str, ...]]:
    """Study AU -> the blendshapes it is estimated from (``resources/blendshape_au_map.csv``).

    Only the study's AUs (:func:`facs_core.reference.action_units`) that have
    a counterpart, in the study's order.
    """
    text = resources.files("facs_core.resources").joinpath("blendshape_au_map.csv").read_text("utf-8")
    mapping: dict[str, list[str]] = {}
    for row in csv.DictReader(text.splitlines()):
        mapping.setdefault(row["au"], []).append(row["blendshape"])
    return {au: tuple(mapping[au]) for au in action_units() if au in mapping}


class MediaPipeBackend(Backend):
    """MediaPipe Face Landmarker, blendshape-derived AUs (offline default).

    Parameters
    ----------
    num_faces : int
        Most faces detected per frame (the patient is chosen among them).
    min_face_detection_confidence, min_face_presence_confidence, min_tracking_confidence : float
        MediaPipe's thresholds (its defaults, 0.5).
    """

    name: ClassVar[str] = "mediapipe"
    au_source: ClassVar[str] = "blendshape"

    def __init__(
        self,
        num_faces: int = 4,
        min_face_detection_confidence: float = 0.5,
        min_face_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise InputError(f"the mediapipe backend has no parameter {', '.join(sorted(unknown))}")
        if int(num_faces) < 1:
            raise InputError(f"num_faces must be at least 1, got {num_faces}")
        super().__init__(
            num_faces=int(num_faces),
            min_face_detection_confidence=float(min_face_detection_confidence),
            min_face_presence_confidence=float(min_face_presence_confidence),
            min_tracking_confidence=float(min_tracking_confidence),
        )
        self._model_path = mediapipe_model_path()

    @classmethod
    def library_version(cls) -> str:
        import mediapipe

        return f"mediapipe {mediapipe.__version__}; face_landmarker.task sha256 {mediapipe_model_pin().sha256[:12]}"

    def _landmarker(self) -> Any:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self._model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=self.params["num_faces"],
            min_face_detection_confidence=self.params["min_face_detection_confidence"],
            min_face_presence_confidence=self.params["min_face_presence_confidence"],
            min_tracking_confidence=self.params["min_tracking_confidence"],
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        return vision.FaceLandmarker.create_from_options(options)

    def process(self, frames: Iterable[DecodedFrame]) -> pd.DataFrame:
        """Per-frame table of ``frames``.

        A fresh landmarker (and so a fresh face track) serves each call, so
        one chunk's result depends only on that chunk's frames.
        """
        import mediapipe as mp

        frame_rows: list[tuple[int, float]] = []
        faces: list[dict[str, Any]] = []
        blendshape_names: list[str] = []
        frame_size: tuple[int, int] | None = None
        landmarker = self._landmarker()
        try:
            last_ms = -1
            for decoded in frames:
                height, width = decoded.image.shape[:2]
                frame_size = (width, height)
                # VIDEO mode wants strictly increasing integer milliseconds.
                stamp_ms = max(round(decoded.timestamp * 1000.0), last_ms + 1)
                last_ms = stamp_ms
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(decoded.image))
                result = landmarker.detect_for_video(image, stamp_ms)
                frame_rows.append((decoded.index, decoded.timestamp))
                for i, landmarks in enumerate(result.face_landmarks):
                    xs = np.fromiter((p.x for p in landmarks), float) * width
                    ys = np.fromiter((p.y for p in landmarks), float) * height
                    face: dict[str, Any] = {
                        "frame": decoded.index,
                        "face_x": xs.min(),
                        "face_y": ys.min(),
                        "face_w": xs.max() - xs.min(),
                        "face_h": ys.max() - ys.min(),
                    }
                    if i < len(result.face_blendshapes):
                        categories = result.face_blendshapes[i]
                        if not blendshape_names:
                            blendshape_names = [c.category_name for c in categories]
                        face.update({f"bs_{c.category_name}": c.score for c in categories})
                    if i < len(result.facial_transformation_matrixes):
                        matrix = np.asarray(result.facial_transformation_matrixes[i])[:3, :3]
                        face.update(zip(_POSE, Rotation.from_matrix(matrix).as_euler("xyz", degrees=True), strict=True))
                    faces.append(face)
        finally:
            landmarker.close()
        return self._frame_table(frame_rows, faces, frame_size)

    def _frame_table(
        self, frame_rows: list[tuple[int, float]], faces: list[dict[str, Any]], frame_size: tuple[int, int] | None
    ) -> pd.DataFrame:
        table = pd.DataFrame(frame_rows, columns=["frame", "timestamp"])
        table = table.astype({"frame": "int64", "timestamp": "float64"})
        au_map = blendshape_au_map()
        bs_columns = [f"bs_{name}" for name in _blendshape_names()]
        if faces:
            detected = pd.DataFrame(faces)
            detected["face_count"] = detected.groupby("frame")["frame"].transform("size")
            patient = detected[
                choose_patient_face(detected, box_columns=_BOX, frame_size=frame_size).to_numpy()
            ].set_index("frame")
        else:
            patient = pd.DataFrame(columns=["face_count", *_BOX, *_POSE, *bs_columns]).rename_axis("frame")
        patient = patient.reindex(columns=["face_count", *_BOX, *_POSE, *bs_columns])
        joined = patient.reindex(table["frame"].to_numpy())
        has_face = joined["face_count"].notna().to_numpy()
        table["face"] = has_face
        table["face_confidence"] = has_face.astype("float64")
        for au, shapes in au_map.items():
            values = joined[[f"bs_{s}" for s in shapes]].to_numpy(dtype=float).mean(axis=1)
            table[au] = np.clip(values, 0.0, 1.0)
        table["au_source"] = self.au_source
        table["face_count"] = joined["face_count"].fillna(0).to_numpy(dtype="int64")
        for column in (*_BOX, *_POSE, *bs_columns):
            table[column] = joined[column].to_numpy(dtype="float64")
        return table


@cache
def _blendshape_names() -> tuple[str, ...]:
    """MediaPipe's 52 blendshape names in its output order (fixed by the model)."""
    from mediapipe.tasks.python.vision.face_landmarker import Blendshapes

    return tuple(_camel(member.name) for member in sorted(Blendshapes, key=lambda m: m.value))


def _camel(enum_name: str) -> str:
    # The enum spells BROW_DOWN_LEFT; results spell browDownLeft.
    if enum_name == "NEUTRAL":
        return "_neutral"
    first, *rest = enum_name.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)
