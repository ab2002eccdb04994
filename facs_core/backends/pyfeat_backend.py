"""The py-feat backend: the study's toolbox, when its model weights are available.

Runs py-feat 2.x ``Detectorv1`` (RetinaFace faces, MobileFaceNet landmarks,
XGBoost AU models, ResMaskNet emotions; head pose from py-feat's
landmarks-to-pose MLP) on batches of decoded frames, on CUDA when present,
else the CPU.

Two passes, as the offline backend (:class:`facs_core.backends.base.Backend`):
:meth:`PyFeatBackend.detect` keeps *every* face py-feat finds, with an
appearance descriptor of the face aligned on py-feat's landmarks
(:mod:`facs_core.identity`); :meth:`PyFeatBackend.assemble` decides over the
whole video which face is the patient's (:mod:`facs_core.tracking`) and
converts that face's values with :func:`facs_core.importers.pyfeat_frame_table`
(the conversion tested on py-feat's own result files: the study's 20 AUs, the
7 emotions, face box, head pose). Frames where the patient's face is not
found are ``other_face`` or ``no_face``, never another person's values.

Weights
-------
py-feat downloads its weights from the Hugging Face hub on first use and
keeps them in its own package folder (``feat/resources``, which py-feat 2.1.5
passes as ``cache_dir``). This backend looks, in order:

1. in the project's model folder (:func:`facs_core.pyfeat_weights.model_folder`,
   filled by ``python -m facs_core models import BUNDLE.tar``): checked against
   its manifest (complete, this py-feat version, not a generated test set) and
   handed to py-feat as its resource folder, so nothing is written into the
   installed package;
2. otherwise in py-feat's own folder and in the standard hub cache
   (``$HF_HOME/hub``; files found only there are copied into py-feat's
   folder, as py-feat's own download would). When a file is missing: with
   ``HF_HUB_OFFLINE=1`` it fails at once; otherwise it tries the hub once with
   a short timeout (no minute of retries).

Every failure is one line naming the offline backend (``--backend mediapipe``).
Once the weights are local, the hub is forced offline for the backend's whole
life (building the detector and every ``detect()``, which loads the pose model
lazily): no call can wait on the network or retry a download.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from facs_core import pyfeat_weights
from facs_core.backends.base import Backend
from facs_core.decode import DecodedFrame
from facs_core.errors import InputError
from facs_core.faces import BOX_COLUMNS
from facs_core.identity import IBUG68_EYES, face_descriptor
from facs_core.importers import PYFEAT_EMOTIONS, PYFEAT_POSE
from facs_core.reference import action_units
from facs_core.tracking import CONFIDENT_FROM, STATUS_NO_FACE, STATUS_OTHER_FACE, STATUS_PATIENT, track_patient_faces

#: Files the default Detectorv1 configuration loads (pose model included).
REQUIRED_WEIGHTS = pyfeat_weights.REQUIRED_WEIGHTS
#: Seconds the one attempt to reach the hub may take.
HUB_TIMEOUT_S = 5.0
_OFFLINE_HINT = "use the offline backend: --backend mediapipe"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def pyfeat_cache() -> Path:
    """py-feat's own weight folder (``feat/resources``), found without importing torch."""
    import importlib.util

    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"py-feat is not installed; {_OFFLINE_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "resources"


def _cached(repo: str, filename: str, cache_dir: Path | str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=str(cache_dir) if cache_dir else None)
    return found if isinstance(found, str) else None


def _copy_from_hub_cache(repo: str, target_cache: Path) -> None:
    from huggingface_hub import constants

    folder = f"models--{repo.replace('/', '--')}"
    # symlinks=True keeps the cache's snapshot -> blob links relative and valid.
    shutil.copytree(Path(constants.HF_HUB_CACHE) / folder, target_cache / folder, symlinks=True, dirs_exist_ok=True)


def missing_in_pyfeat_cache() -> list[str]:
    """Required files found neither in py-feat's folder nor in ``$HF_HOME/hub`` (no download)."""
    cache = pyfeat_cache()
    return [
        f"{repo}/{filename}"
        for repo, filename, fallback in REQUIRED_WEIGHTS
        if not any(_cached(repo, name, where) for name in (filename, fallback) if name for where in (cache, None))
    ]


def ensure_weights(cache: Path | None = None) -> None:
    """Make sure every weight file is in py-feat's folder, or fail fast in one line.

    Raises
    ------
    InputError
        A file is missing and the hub is offline or unreachable.
    """
    cache = cache or pyfeat_cache()
    missing = []
    for repo, filename, fallback in REQUIRED_WEIGHTS:
        names = [filename, *([fallback] if fallback else [])]
        if any(_cached(repo, name, cache) for name in names):
            continue
        if any(_cached(repo, name, None) for name in names):
            _copy_from_hub_cache(repo, cache)
            continue
        missing.append((repo, filename))
    if not missing:
        return
    repo, filename = missing[0]
    what = f"py-feat weights {repo}/{filename} are not in the local cache ({cache} or $HF_HOME)"
    if _truthy(os.environ.get("HF_HUB_OFFLINE")):
        raise InputError(f"{what} and HF_HUB_OFFLINE is set; {_OFFLINE_HINT}")
    reachable, reason = pyfeat_weights.hub_reachable(HUB_TIMEOUT_S)
    if not reachable:
        raise InputError(f"{what} and the hub cannot be reached ({reason}); {_OFFLINE_HINT}")
    from huggingface_hub import hf_hub_download

    for repo, filename in missing:
        try:
            hf_hub_download(repo, filename, cache_dir=str(cache), etag_timeout=HUB_TIMEOUT_S)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise InputError(f"{what} and the hub cannot be reached ({reason}); {_OFFLINE_HINT}") from None


class _PyFeatEnvironment:
    """The hub forced offline and, optionally, py-feat pointed at a weight folder.

    Held for a backend's whole life: py-feat looks weights up while building
    the detector and again inside ``detect()`` (the pose model), and both must
    stay off the network and read the chosen folder.
    """

    def __init__(self, resources: Path | None) -> None:
        from huggingface_hub import constants

        self._constants = constants
        self._offline_before = constants.HF_HUB_OFFLINE
        self._env_before = os.environ.get("HF_HUB_OFFLINE")
        self._patched: list[tuple[Any, Any]] = []
        constants.HF_HUB_OFFLINE = True
        # Libraries that read the variable rather than the constant (and child
        # processes) see the same.
        os.environ["HF_HUB_OFFLINE"] = "1"
        if resources is not None:
            import feat.detector
            import feat.utils.io
            from feat.utils import face_pose_mlp

            folder = str(resources)
            # py-feat binds get_resource_path into feat.detector at import; the
            # face detector and the pose model look it up in feat.utils.io.
            for module in (feat.utils.io, feat.detector):
                self._patched.append((module, module.get_resource_path))
                module.get_resource_path = lambda folder=folder: folder
            # The pose model is cached per device: drop one loaded from elsewhere.
            face_pose_mlp._CACHE.clear()

    def restore(self) -> None:
        for module, original in self._patched:
            module.get_resource_path = original
        self._patched.clear()
        self._constants.HF_HUB_OFFLINE = self._offline_before
        if self._env_before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = self._env_before


def local_weights() -> Path | None:
    """The checked model folder when weights were imported there, else None (py-feat's own folder).

    Raises
    ------
    InputError
        The model folder has a manifest but cannot be used (generated test
        set, other py-feat version, missing or damaged file).
    """
    folder = pyfeat_weights.model_folder()
    if not (folder / pyfeat_weights.MANIFEST).is_file():
        return None
    pyfeat_weights.check_folder(folder)
    return folder


def _weights_tag() -> str:
    """`` weights <digest>`` of the imported set (`` GENERATED TEST weights ...`` for a fake one), or ""."""
    import hashlib
    import json

    try:
        manifest = pyfeat_weights.read_manifest(pyfeat_weights.model_folder())
    except InputError:
        return ""
    digest = hashlib.sha256(json.dumps(sorted(e["sha256"] for e in manifest["files"])).encode()).hexdigest()[:12]
    return f" GENERATED TEST weights {digest}" if manifest.get("fake") else f" weights {digest}"


def default_device() -> str:
    """``"cuda"`` when a CUDA device is present, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class PyFeatBackend(Backend):
    """py-feat ``Detectorv1``: the study's 20 AUs, 7 emotions, face box, head pose.

    Parameters
    ----------
    batch_size : int
        Frames per forward pass.
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    face_detection_threshold : float
        py-feat's face score threshold.
    """

    name: ClassVar[str] = "pyfeat"
    au_source: ClassVar[str] = "pyfeat"

    def __init__(
        self, batch_size: int = 8, device: str = "auto", face_detection_threshold: float = 0.5, **unknown: Any
    ) -> None:
        if unknown:
            raise InputError(f"the pyfeat backend has no parameter {', '.join(sorted(unknown))}")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        # The device changes speed, not results: it is not part of the run's identity.
        super().__init__(batch_size=int(batch_size), face_detection_threshold=float(face_detection_threshold))
        resources = local_weights()
        if resources is None:
            ensure_weights()
        from feat.detector import Detectorv1

        self.device = default_device() if device == "auto" else device
        self._environment: _PyFeatEnvironment | None = _PyFeatEnvironment(resources)
        try:
            self._detector = Detectorv1(identity_model=None, gaze_model=None, device=self.device)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Drop the detector and give py-feat and the hub their settings back."""
        self._detector = None
        if self._environment is not None:
            self._environment.restore()
            self._environment = None

    @classmethod
    def library_version(cls) -> str:
        from importlib.metadata import version

        described = f"py-feat {version('py-feat')} Detectorv1 retinaface/mobilefacenet/xgb/resmasknet"
        return f"{described}{_weights_tag()}"

    def detect(self, frames: Iterable[DecodedFrame]) -> pd.DataFrame:
        """First pass: every face py-feat finds in ``frames`` (batches of ``batch_size``).

        One row per face (a frame without one gets one row with ``face``
        false): ``frame``, ``timestamp``, ``face``, ``frame_width``,
        ``frame_height``, py-feat's box, ``FaceScore``, AUs, emotions and
        pose, and ``descriptor``, the face's appearance
        (:mod:`facs_core.identity`, aligned on py-feat's 68 landmarks). Who
        is the patient is decided over the whole video (:meth:`assemble`).
        """
        import torch

        parts = []
        iterator = iter(frames)
        while batch := list(islice(iterator, self.params["batch_size"])):
            tensor = torch.from_numpy(np.stack([f.image for f in batch])).permute(0, 3, 1, 2).float()
            fex = self._detector.detect(
                tensor,
                data_type="tensor",
                batch_size=len(batch),
                face_detection_threshold=self.params["face_detection_threshold"],
                progress_bar=False,
            )
            parts.append(_detections(pd.DataFrame(fex), batch))
        if not parts:
            return _detection_table([])
        return _detection_table(pd.concat(parts, ignore_index=True))

    @classmethod
    def assemble(cls, detections: pd.DataFrame) -> pd.DataFrame:
        """Second pass over a whole video: the patient's face in each frame (:mod:`facs_core.tracking`).

        The per-frame table of :func:`facs_core.importers.pyfeat_frame_table`
        (AUs, emotions, box, pose) for the patient's face, with ``face``
        false where it was not found (``face_status`` ``other_face`` or
        ``no_face``: never another person's values); ``face_confidence`` is
        the confidence that the kept face is the patient's, ``face_score``
        py-feat's face detection score, ``track_id`` the kept face's
        tracklet, ``identity_uncertain`` a kept face below
        :data:`facs_core.tracking.CONFIDENT_FROM`, ``face_count`` all faces
        seen.
        """
        from facs_core.importers import pyfeat_frame_table

        detections = _detection_table(detections)
        per_frame = detections.drop_duplicates("frame").sort_values("frame", kind="stable")
        frames = per_frame["frame"].to_numpy(dtype="int64")
        stamps = dict(zip(frames.tolist(), per_frame["timestamp"].to_numpy(float).tolist(), strict=True))
        faces, is_patient = track_patient_faces(detections, BOX_COLUMNS, "track_confidence")
        patient = faces[is_patient].set_index("frame")
        # One row per frame: the patient's face, or an empty row (face false) where it was not found.
        chosen = patient.reindex(frames).rename_axis("frame").reset_index()
        measured = [c for c in _MEASURES if c in detections.columns]
        table = pyfeat_frame_table(chosen[["frame", *measured]], timestamps=stamps, source="py-feat detections")
        found = table["face"].to_numpy(dtype=bool)
        face_count = faces.groupby("frame").size().reindex(frames).fillna(0).to_numpy(dtype="int64")
        confidence = chosen["track_confidence"].fillna(0.0).to_numpy(dtype="float64")
        table["face_score"] = table["face_confidence"].where(found)
        table["face_confidence"] = np.where(found, confidence, 0.0)
        table["au_source"] = cls.au_source
        table["face_count"] = face_count
        table["face_status"] = np.where(
            found, STATUS_PATIENT, np.where(face_count > 0, STATUS_OTHER_FACE, STATUS_NO_FACE)
        )
        table["track_id"] = np.where(found, chosen["track_id"].fillna(-1).to_numpy(), -1).astype("int64")
        table["identity_uncertain"] = found & (confidence < CONFIDENT_FROM)
        return table


#: py-feat's measurements kept from the first pass into the per-frame table.
_MEASURES: tuple[str, ...] = (*action_units(), *PYFEAT_EMOTIONS, *BOX_COLUMNS, *PYFEAT_POSE, "FaceScore")


def _detections(fex: pd.DataFrame, batch: list[DecodedFrame]) -> pd.DataFrame:
    """py-feat's output for one batch as detection rows, with each face's appearance descriptor."""
    # py-feat numbers frames within the call; map back to decoded frame numbers.
    position = fex["frame"].to_numpy(dtype=int)
    height, width = batch[0].image.shape[:2]
    out = pd.DataFrame(
        {
            "frame": np.asarray([f.index for f in batch], dtype="int64")[position],
            "timestamp": np.asarray([f.timestamp for f in batch], dtype=float)[position],
            "frame_width": width,
            "frame_height": height,
        }
    )
    for column in _MEASURES:
        if column in fex.columns:
            out[column] = pd.to_numeric(fex[column], errors="coerce").to_numpy(dtype=float)
    boxes = out.reindex(columns=list(BOX_COLUMNS)).to_numpy(dtype=float)
    out["face"] = np.isfinite(boxes).all(axis=1)
    x = fex.reindex(columns=[f"x_{k}" for k in range(68)]).to_numpy(dtype=float)
    y = fex.reindex(columns=[f"y_{k}" for k in range(68)]).to_numpy(dtype=float)
    descriptors: list[np.ndarray | None] = []
    for row in range(len(fex)):
        points = np.column_stack([x[row], y[row]])
        if out["face"].iat[row] and np.isfinite(points[list(IBUG68_EYES)]).all():
            descriptors.append(face_descriptor(batch[position[row]].image, points, eyes=IBUG68_EYES))
        else:
            descriptors.append(None)
    out["descriptor"] = descriptors
    # A face whose eyes py-feat could not place cannot be told apart from others: not a face to keep.
    out["face"] = out["face"].to_numpy() & np.array([d is not None for d in descriptors], dtype=bool)
    return out


def _detection_table(rows: pd.DataFrame | list) -> pd.DataFrame:
    """Detections with every column present, in a fixed order (chunks concatenate cleanly)."""
    columns = ["frame", "timestamp", "face", "frame_width", "frame_height", *_MEASURES, "descriptor"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    types = {"frame": "int64", "timestamp": "float64", "frame_width": "int64", "frame_height": "int64"}
    table = table.astype({**types, **dict.fromkeys(_MEASURES, "float64")})
    table["face"] = table["face"].fillna(False).astype(bool)
    return table
