"""The embedded offline backend: MediaPipe Face Landmarker with blendshapes.

Needs no download at run time: the model file comes from a pinned registry
package and is checked by sha256 (:mod:`facs_core.models`). Runs the Tasks API
``FaceLandmarker`` in ``VIDEO`` mode with ``output_face_blendshapes=True`` and
``num_faces`` above one.

Two passes (:class:`facs_core.backends.base.Backend`): :meth:`detect` keeps
*every* face of every frame, with an appearance descriptor
(:mod:`facs_core.identity`); :meth:`assemble` then decides over the whole
video which face is the patient's (:mod:`facs_core.tracking`). Frames where
the patient's face is not found have ``face`` false and ``face_status``
``other_face`` or ``no_face``: never another person's values.

Output columns, after the leading four:

- ``AUxx``: 16 of the study's 20 AUs, each derived as
  ``resources/offline_au_derivation.csv`` states (:mod:`facs_core.offline_aus`):
  the mean of blendshape coefficients (the correspondences of py-feat's
  ``feat/resources/blendshape_region_map.json`` and the ARKit-to-FACS cheat
  sheet of melindaozel.com), or a landmark ratio normalised by face size
  (lips part AU25, eyes closed AU43). AU06, AU09, AU11 and AU23 have no
  honest estimate and are absent; the reasons travel in the Parquet metadata
  (``facs.absent_aus``), each AU column says how it was derived
  (``facs.au_derivation``). These are estimates, not FACS-coded intensities:
  ``au_source`` = ``"blendshape"`` in the metadata and in a column of that
  name.
- ``face_count`` (faces seen, the patient's included), ``face_status``
  (``patient`` / ``other_face`` / ``no_face``), ``track_id`` (tracklet of the
  kept face, -1 when none), ``identity_uncertain`` (kept face whose identity
  confidence is below :data:`facs_core.tracking.CONFIDENT_FROM`).
- ``face_x``, ``face_y``, ``face_w``, ``face_h`` (pixels, box of the 478
  landmarks), ``head_pitch``, ``head_yaw``, ``head_roll`` (degrees, Euler
  angles x-y-z of the facial transformation matrix, via
  :meth:`scipy.spatial.transform.Rotation.as_euler`), the ``geo_*`` ratios of
  :mod:`facs_core.face_geometry`, and ``bs_<name>``: the 52 blendshape
  coefficients as MediaPipe gives them.

``face_confidence``: the Face Landmarker reports no per-face detection score
(each face it returns passed ``min_face_detection_confidence`` and
``min_face_presence_confidence``); the column holds the confidence that the
kept face is the patient's (:func:`facs_core.tracking.patient_track`), 0 where
the patient's face was not found.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from facs_core.backends.base import Backend
from facs_core.decode import DecodedFrame
from facs_core.errors import InputError
from facs_core.face_geometry import GEOMETRY_COLUMNS, geometry_features
from facs_core.identity import face_descriptor
from facs_core.models import mediapipe_model_path, mediapipe_model_pin
from facs_core.offline_aus import absent_aus, derivations, derive_aus
from facs_core.tracking import CONFIDENT_FROM, STATUS_NO_FACE, STATUS_OTHER_FACE, STATUS_PATIENT, track_patient_faces

# MediaPipe's native logging (glog/absl) would interleave with our one-line
# progress on stderr; keep its warnings out unless the user asked for them.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_BOX = ("face_x", "face_y", "face_w", "face_h")
_POSE = ("head_pitch", "head_yaw", "head_roll")


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
    def au_scales(cls) -> dict[str, str]:
        """AU -> ``blendshape coefficient`` or ``geometric ratio mapped to [0, 1]`` (:mod:`facs_core.offline_aus`)."""
        return {d.au: d.scale for d in derivations() if d.derivation != "absent"}

    @classmethod
    def absent_aus(cls) -> dict[str, str]:
        """AU06, AU09, AU11, AU23 and why (:func:`facs_core.offline_aus.absent_aus`)."""
        return absent_aus()

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

    def detect(self, frames: Iterable[DecodedFrame]) -> pd.DataFrame:
        """First pass: every face of every frame (one row per face; a frame without one gets one row).

        Columns: ``frame``, ``timestamp``, ``face`` (the row holds a face),
        ``frame_width``, ``frame_height``, the box, head pose, the 52
        ``bs_*`` coefficients, the ``geo_*`` ratios
        (:mod:`facs_core.face_geometry`) and ``descriptor``, the face's
        appearance (:mod:`facs_core.identity`). A fresh landmarker (and so a
        fresh MediaPipe face track) serves each call, so one chunk's result
        depends only on that chunk's frames; who is who is decided later,
        over the whole video (:meth:`assemble`).
        """
        import mediapipe as mp

        rows: list[dict[str, Any]] = []
        landmarker = self._landmarker()
        try:
            last_ms = -1
            for decoded in frames:
                height, width = decoded.image.shape[:2]
                # VIDEO mode wants strictly increasing integer milliseconds.
                stamp_ms = max(round(decoded.timestamp * 1000.0), last_ms + 1)
                last_ms = stamp_ms
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(decoded.image))
                result = landmarker.detect_for_video(image, stamp_ms)
                base = {"frame": decoded.index, "timestamp": decoded.timestamp, "frame_width": width}
                base["frame_height"] = height
                if not result.face_landmarks:
                    rows.append({**base, "face": False})
                for i, landmarks in enumerate(result.face_landmarks):
                    points = np.array([(p.x * width, p.y * height, p.z * width) for p in landmarks])
                    xs, ys = points[:, 0], points[:, 1]
                    face: dict[str, Any] = {
                        **base,
                        "face": True,
                        "face_x": xs.min(),
                        "face_y": ys.min(),
                        "face_w": xs.max() - xs.min(),
                        "face_h": ys.max() - ys.min(),
                        "descriptor": face_descriptor(decoded.image, points[:, :2]),
                    }
                    face.update(zip(GEOMETRY_COLUMNS, geometry_features(points), strict=True))
                    if i < len(result.face_blendshapes):
                        face.update({f"bs_{c.category_name}": c.score for c in result.face_blendshapes[i]})
                    if i < len(result.facial_transformation_matrixes):
                        matrix = np.asarray(result.facial_transformation_matrixes[i])[:3, :3]
                        face.update(zip(_POSE, Rotation.from_matrix(matrix).as_euler("xyz", degrees=True), strict=True))
                    rows.append(face)
        finally:
            landmarker.close()
        return _detection_table(rows)

    @classmethod
    def assemble(cls, detections: pd.DataFrame) -> pd.DataFrame:
        """Second pass over a whole video: the patient's face in each frame (:mod:`facs_core.tracking`).

        ``face`` is true where the patient's face was found; ``face_status``
        says ``patient``, ``other_face`` (only other people's faces) or
        ``no_face``; ``face_confidence`` is the confidence that the kept face
        is the patient's, ``identity_uncertain`` flags kept faces below
        :data:`facs_core.tracking.CONFIDENT_FROM`, ``track_id`` numbers the
        kept face's tracklet and ``face_count`` counts all faces seen.
        """
        detections = _detection_table(detections)
        per_frame = detections.drop_duplicates("frame").sort_values("frame", kind="stable")
        table = pd.DataFrame(
            {"frame": per_frame["frame"].to_numpy(dtype="int64"), "timestamp": per_frame["timestamp"].to_numpy(float)}
        )
        faces, is_patient = track_patient_faces(detections, _BOX, "face_confidence")
        patient = faces[is_patient].set_index("frame")
        counts = faces.groupby("frame").size()
        joined = patient.reindex(table["frame"].to_numpy())
        found = joined["face_confidence"].notna().to_numpy()
        face_count = counts.reindex(table["frame"].to_numpy()).fillna(0).to_numpy(dtype="int64")
        table["face"] = found
        table["face_confidence"] = joined["face_confidence"].fillna(0.0).to_numpy(dtype="float64")
        for au, values in derive_aus(joined).items():
            table[au] = values.to_numpy(dtype="float64")
        table["au_source"] = cls.au_source
        table["face_count"] = face_count
        table["face_status"] = np.where(
            found, STATUS_PATIENT, np.where(face_count > 0, STATUS_OTHER_FACE, STATUS_NO_FACE)
        )
        table["track_id"] = joined["track_id"].fillna(-1).to_numpy(dtype="int64")
        table["identity_uncertain"] = found & (table["face_confidence"].to_numpy() < CONFIDENT_FROM)
        for column in (*_PER_FACE, *(f"bs_{name}" for name in _blendshape_names())):
            table[column] = joined[column].to_numpy(dtype="float64")
        return table


_PER_FACE = (*_BOX, *_POSE, *GEOMETRY_COLUMNS)


def _detection_table(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Detections with every column present, in a fixed order (chunks concatenate cleanly)."""
    columns = [
        "frame",
        "timestamp",
        "face",
        "frame_width",
        "frame_height",
        *_PER_FACE,
        *(f"bs_{name}" for name in _blendshape_names()),
        "descriptor",
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    # One astype for all columns: column-by-column assignment copied the table ~140 times per chunk.
    types = {"frame": "int64", "timestamp": "float64", "frame_width": "int64", "frame_height": "int64"}
    table = table.astype({**types, **dict.fromkeys(columns[5:-1], "float64")})
    table["face"] = table["face"].fillna(False).astype(bool)
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
