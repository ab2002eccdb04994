"""The py-feat backend: the study's toolbox, when its model weights are available.

Runs py-feat 2.x ``Detectorv1`` (RetinaFace faces, MobileFaceNet landmarks,
XGBoost AU models, ResMaskNet emotions; head pose from py-feat's
landmarks-to-pose MLP) on batches of decoded frames, on CUDA when present,
else the CPU. Its output goes through
:func:`facs_core.importers.pyfeat_frame_table` (the conversion tested on
py-feat's own result files), which keeps the study's 20 AUs, the 7 emotions,
face box and head pose, and chooses the patient's face among several.

Weights
-------
py-feat downloads its weights from the Hugging Face hub on first use and
keeps them in its own package folder (``feat/resources``, which py-feat 2.1.5
passes as ``cache_dir``). Before any model is built this backend looks for
every file it needs there and in the standard hub cache (``$HF_HOME/hub``,
so an administrator can pre-fill a cache for an intranet; files found only
there are copied into py-feat's folder, as py-feat's own download would).
When a file is missing:

- with ``HF_HUB_OFFLINE=1`` it fails at once;
- otherwise it tries the hub once with a short timeout (no minute of
  retries).

Either way the message is one line naming the offline backend
(``--backend mediapipe``). The detector is then built with the hub forced
offline, so building it never touches the network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from facs_core.backends.base import Backend
from facs_core.decode import DecodedFrame
from facs_core.errors import InputError

#: Files the default Detectorv1 configuration loads: (repo, file, fallback file).
REQUIRED_WEIGHTS: tuple[tuple[str, str, str | None], ...] = (
    ("py-feat/retinaface_r34", "model.safetensors", "retinaface_r34.safetensors"),
    ("py-feat/mobilefacenet", "mobilefacenet_model_best.pth.tar", None),
    ("py-feat/xgb_au", "xgb_au_classifier_v2.skops", "xgb_au_classifier.skops"),
    ("py-feat/resmasknet", "config.json", None),
    ("py-feat/resmasknet", "ResMaskNet_Z_resmasking_dropout1_rot30.pth", None),
)
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
    reachable, reason = _hub_reachable()
    if not reachable:
        raise InputError(f"{what} and the hub cannot be reached ({reason}); {_OFFLINE_HINT}")
    from huggingface_hub import hf_hub_download

    for repo, filename in missing:
        try:
            hf_hub_download(repo, filename, cache_dir=str(cache), etag_timeout=HUB_TIMEOUT_S)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise InputError(f"{what} and the hub cannot be reached ({reason}); {_OFFLINE_HINT}") from None


def _hub_reachable() -> tuple[bool, str]:
    """One TCP connection to the hub, within :data:`HUB_TIMEOUT_S`.

    huggingface_hub retries an unreachable hub with back-off for about half a
    minute; this single probe says at once whether downloading can work.
    """
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=HUB_TIMEOUT_S).close()
    except OSError as exc:
        return False, f"{parts.hostname}: {exc.strerror or type(exc).__name__}"
    return True, ""


@contextmanager
def _hub_offline() -> Iterator[None]:
    # huggingface_hub reads this flag at call time; building the detector with
    # it set means a missing file fails at once instead of being fetched.
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


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
        ensure_weights()
        from feat.detector import Detectorv1

        self.device = default_device() if device == "auto" else device
        with _hub_offline():
            self._detector = Detectorv1(identity_model=None, gaze_model=None, device=self.device)

    @classmethod
    def library_version(cls) -> str:
        from importlib.metadata import version

        return f"py-feat {version('py-feat')} Detectorv1 retinaface/mobilefacenet/xgb/resmasknet"

    def detect(self, frames: Iterable[DecodedFrame]) -> pd.DataFrame:
        """Per-frame table of ``frames``, run in batches of ``batch_size``.

        The patient's face is chosen per call here (py-feat gives no
        appearance descriptor for :mod:`facs_core.tracking`).
        """
        import torch

        from facs_core.importers import pyfeat_frame_table

        results, stamps = [], {}
        frame_size: tuple[int, int] | None = None
        iterator = iter(frames)
        while batch := list(islice(iterator, self.params["batch_size"])):
            height, width = batch[0].image.shape[:2]
            frame_size = (width, height)
            tensor = torch.from_numpy(np.stack([f.image for f in batch])).permute(0, 3, 1, 2).float()
            fex = self._detector.detect(
                tensor,
                data_type="tensor",
                batch_size=len(batch),
                face_detection_threshold=self.params["face_detection_threshold"],
                progress_bar=False,
            )
            found = pd.DataFrame(fex)
            # py-feat numbers frames within the call; map back to decoded frame numbers.
            found["frame"] = np.asarray([f.index for f in batch])[found["frame"].to_numpy(dtype=int)]
            results.append(found)
            stamps.update({f.index: f.timestamp for f in batch})
        if not results:
            return pd.DataFrame(columns=["frame", "timestamp", "face", "face_confidence"])
        table = pyfeat_frame_table(pd.concat(results, ignore_index=True), timestamps=stamps, frame_size=frame_size)
        table["au_source"] = self.au_source
        return table
