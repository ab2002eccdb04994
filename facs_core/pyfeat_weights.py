"""py-feat's model weights as a verified folder: layout, manifest, bundles.

py-feat 2.x downloads its weights from the Hugging Face hub into its own
package folder. Hospitals' intranets do not reach the hub, so this module keeps
the weights in the project's model folder instead (:func:`model_folder`:
``$FACS_PYFEAT_DIR``, else ``<sys.prefix>/share/facs_core/pyfeat``), in the
hub-cache layout py-feat's loader reads offline
(``models--py-feat--<name>/snapshots/<revision>/<file>`` and
``refs/main``), with a ``manifest.json``::

    {"format": "facs-pyfeat-weights", "format_version": 1,
     "py_feat_version": "2.1.5", "fake": false,
     "files": [{"repo": "py-feat/retinaface_r34", "file": "model.safetensors",
                "revision": "<commit>", "sha256": "...", "size": 123}, ...]}

A *bundle* is a tar of such a folder. :func:`export_bundle` builds one on a
machine with internet (through ``huggingface_hub``); :func:`import_bundle`
verifies one on the intranet (manifest, every required file, sizes, sha256,
py-feat version, not fake, no stray member) and installs it atomically.

A manifest marked ``fake`` describes a generated test set (random weights in
py-feat's formats, see ``tests/pyfeat_fake_weights.py``): it is never imported,
and :func:`check_folder` refuses it unless ``FACS_PYFEAT_FAKE_TOKEN`` equals
the random token written in that manifest, which only the test that generated
the set knows.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import uuid
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from facs_core.errors import InputError
from facs_core.models import sha256_file

__all__ = [
    "FAKE_TOKEN_ENV",
    "FOLDER_ENV",
    "MANIFEST",
    "REQUIRED_WEIGHTS",
    "WeightFile",
    "check_folder",
    "export_bundle",
    "folder_summary",
    "import_bundle",
    "model_folder",
    "pack_folder",
    "pyfeat_version",
    "read_manifest",
    "snapshot_path",
    "write_manifest",
]

FOLDER_ENV = "FACS_PYFEAT_DIR"
FAKE_TOKEN_ENV = "FACS_PYFEAT_FAKE_TOKEN"
MANIFEST = "manifest.json"
FORMAT = "facs-pyfeat-weights"
FORMAT_VERSION = 1
#: Revision folder used when a set was not downloaded from the hub.
LOCAL_REVISION = "0" * 40
IMPORT_HINT = "get a bundle made with `python -m facs_core models export pyfeat --out BUNDLE.tar`"


class WeightFile(NamedTuple):
    """One file py-feat's default ``Detectorv1`` loads: hub repository, name, older name."""

    repo: str
    file: str
    fallback: str | None = None


#: Every file the default Detectorv1 (retinaface / mobilefacenet / xgb /
#: resmasknet, pose from landmarks) loads, py-feat 2.1.5. The pose model is
#: loaded lazily inside ``detect()``; without it pose is NaN with no error.
REQUIRED_WEIGHTS: tuple[WeightFile, ...] = (
    WeightFile("py-feat/retinaface_r34", "model.safetensors", "retinaface_r34.safetensors"),
    WeightFile("py-feat/mobilefacenet", "mobilefacenet_model_best.pth.tar"),
    WeightFile("py-feat/xgb_au", "xgb_au_classifier_v2.skops", "xgb_au_classifier.skops"),
    WeightFile("py-feat/resmasknet", "config.json"),
    WeightFile("py-feat/resmasknet", "ResMaskNet_Z_resmasking_dropout1_rot30.pth"),
    WeightFile("py-feat/pose_mlp_v2", "pose_mlp_v2.safetensors"),
    WeightFile("py-feat/pose_mlp_v2", "pose_mlp_v2.json"),
)


def pyfeat_version() -> str:
    """The installed py-feat's version (no import of py-feat or torch)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("py-feat")
    except PackageNotFoundError:
        raise InputError("py-feat is not installed; use the offline backend: --backend mediapipe") from None


def model_folder() -> Path:
    """Where imported py-feat weights live: ``$FACS_PYFEAT_DIR``, else ``<sys.prefix>/share/facs_core/pyfeat``."""
    explicit = os.environ.get(FOLDER_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path(sys.prefix) / "share" / "facs_core" / "pyfeat"


def _repo_folder(root: Path, repo: str) -> Path:
    return root / f"models--{repo.replace('/', '--')}"


def snapshot_path(root: Path, repo: str, name: str, revision: str = LOCAL_REVISION) -> Path:
    """Where the hub-cache layout under ``root`` keeps ``repo``'s file ``name``.

    Creates the repository's ``refs/main`` naming ``revision`` (the pointer
    huggingface_hub follows offline), not the file itself.
    """
    folder = _repo_folder(root, repo)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    return folder / "snapshots" / revision / name


def _found_file(root: Path, weight: WeightFile) -> tuple[str, str, Path] | None:
    """(name, revision, path) of ``weight`` (or its older name) in ``root``'s hub layout."""
    folder = _repo_folder(root, weight.repo)
    try:
        revision = (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    for name in (weight.file, weight.fallback):
        if name and (folder / "snapshots" / revision / name).is_file():
            return name, revision, folder / "snapshots" / revision / name
    return None


def write_manifest(root: Path, *, fake: bool = False, fake_token: str | None = None) -> dict[str, Any]:
    """Hash every required file under ``root`` and write ``root/manifest.json``.

    Raises
    ------
    InputError
        A required file is missing from ``root``.
    """
    entries = []
    for weight in REQUIRED_WEIGHTS:
        found = _found_file(root, weight)
        if found is None:
            raise InputError(f"py-feat weight {weight.repo}/{weight.file} is missing from {root}")
        name, revision, path = found
        entries.append(
            {
                "repo": weight.repo,
                "file": name,
                "revision": revision,
                "sha256": sha256_file(path),
                "size": path.stat().st_size,
            }
        )
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "py_feat_version": pyfeat_version(),
        "fake": bool(fake),
        "files": entries,
    }
    if fake:
        manifest["fake_token"] = fake_token or uuid.uuid4().hex
        manifest["note"] = "GENERATED TEST WEIGHTS: random numbers in py-feat's formats, never for analysis"
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(root: Path, where: str | None = None) -> dict[str, Any]:
    """The parsed manifest of a weight folder, checked for shape.

    Raises
    ------
    InputError
        No manifest, not JSON, or not a py-feat weight manifest.
    """
    where = where or str(root)
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{where} has no {MANIFEST}: not a py-feat weight set; {IMPORT_HINT}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: {MANIFEST} cannot be read ({type(exc).__name__}); {IMPORT_HINT}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(files, list)
        or not all(isinstance(e, dict) and {"repo", "file", "revision", "sha256", "size"} <= set(e) for e in files)
    ):
        raise InputError(f"{where}: {MANIFEST} is not a py-feat weight manifest; {IMPORT_HINT}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{where}: weight set format {manifest.get('format_version')!r} is not {FORMAT_VERSION}; {IMPORT_HINT}"
        )
    return manifest


def _entry_for(manifest: dict[str, Any], weight: WeightFile) -> dict[str, Any] | None:
    names = {weight.file, weight.fallback}
    return next((e for e in manifest["files"] if e["repo"] == weight.repo and e["file"] in names), None)


def _safe_part(text: str, what: str, where: str) -> str:
    parts = PurePosixPath(text).parts
    if not text or PurePosixPath(text).is_absolute() or ".." in parts or "\\" in text:
        raise InputError(f"{where}: {what} {text!r} is not a plain name; {IMPORT_HINT}")
    return text


def check_folder(root: Path, *, deep: bool = False, where: str | None = None) -> dict[str, Any]:
    """Check that ``root`` holds a complete weight set this py-feat can load.

    Parameters
    ----------
    root : Path
        A weight folder (hub-cache layout and manifest).
    deep : bool
        Also compare every file's sha256 (sizes are always compared).
    where : str, optional
        How messages name the set (a bundle's file name).

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    InputError
        Fake set (without its token), other py-feat version, a required file
        missing, or a file whose size or sha256 differs from the manifest.
    """
    where = where or str(root)
    manifest = read_manifest(root, where)
    if manifest.get("fake"):
        token = manifest.get("fake_token")
        if not token or os.environ.get(FAKE_TOKEN_ENV) != token:
            raise InputError(
                f"{where} holds generated test weights (marked fake), not py-feat's; {IMPORT_HINT}"
                " and import it with `python -m facs_core models import BUNDLE.tar`"
            )
    installed = pyfeat_version()
    if manifest.get("py_feat_version") != installed:
        raise InputError(
            f"{where} holds weights for py-feat {manifest.get('py_feat_version')}, but py-feat {installed} is"
            f" installed; export a bundle with py-feat {installed}"
        )
    for weight in REQUIRED_WEIGHTS:
        entry = _entry_for(manifest, weight)
        if entry is None:
            raise InputError(f"{where} is incomplete: {weight.repo}/{weight.file} is not in its manifest")
        repo = _safe_part(entry["repo"], "repository", where)
        name = _safe_part(entry["file"], "file", where)
        revision = _safe_part(entry["revision"], "revision", where)
        path = _repo_folder(root, repo) / "snapshots" / revision / name
        if not path.is_file():
            raise InputError(f"{where} is incomplete: {repo}/{name} is missing")
        if path.stat().st_size != entry["size"] or (deep and sha256_file(path) != entry["sha256"]):
            raise InputError(f"{where} is damaged: {repo}/{name} does not match its sha256 in the manifest")
        ref = _repo_folder(root, repo) / "refs" / "main"
        if not ref.is_file() or ref.read_text().strip() != revision:
            raise InputError(f"{where} is damaged: {repo} refs/main does not name revision {revision[:12]}")
    return manifest


def folder_summary(root: Path | None = None) -> dict[str, Any]:
    """What is installed in the model folder, for ``models list`` and the Extraction page.

    Returns
    -------
    dict
        ``ready`` (bool), ``folder``, ``detail`` (one line: version and size,
        or why it is not ready), ``fake`` and ``py_feat_version``.
    """
    root = root or model_folder()
    summary: dict[str, Any] = {"folder": str(root), "ready": False, "fake": False, "py_feat_version": None}
    if not (root / MANIFEST).is_file():
        summary["detail"] = f"not installed; {IMPORT_HINT}, then `python -m facs_core models import BUNDLE.tar`"
        return summary
    try:
        manifest = check_folder(root)
    except InputError as exc:
        summary["detail"] = str(exc)
        with contextlib.suppress(InputError):
            summary["fake"] = bool(read_manifest(root).get("fake"))
        return summary
    size = sum(int(e["size"]) for e in manifest["files"])
    summary.update(
        ready=True,
        fake=bool(manifest.get("fake")),
        py_feat_version=manifest["py_feat_version"],
        detail=f"py-feat {manifest['py_feat_version']} weights, {len(manifest['files'])} files,"
        f" {size / 1e6:.1f} MB{' (GENERATED TEST SET)' if manifest.get('fake') else ''}",
    )
    return summary


def pack_folder(root: Path, out: Path) -> Path:
    """Write the weight folder ``root`` (manifest and listed files) as the tar ``out``, atomically."""
    manifest = read_manifest(root)
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"output folder {out.parent} does not exist")
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        with tarfile.open(partial, "w") as tar:
            tar.add(root / MANIFEST, arcname=MANIFEST)
            for entry in manifest["files"]:
                folder = _repo_folder(Path("."), entry["repo"])
                tar.add(root / folder / "refs" / "main", arcname=str(folder / "refs" / "main"))
                member = folder / "snapshots" / entry["revision"] / entry["file"]
                # dereference: a hub cache keeps files as links into blobs/.
                tar.add((root / member).resolve(), arcname=str(member))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def hub_reachable(timeout_s: float = 5.0) -> tuple[bool, str]:
    """One TCP connection to the hub (``HF_ENDPOINT``) within ``timeout_s``: (reachable, reason).

    huggingface_hub retries an unreachable hub with back-off for about half a
    minute; this single probe says at once whether downloading can work.
    """
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
    except OSError as exc:
        return False, f"{parts.hostname}: {exc.strerror or type(exc).__name__}"
    return True, ""


def export_bundle(out: Path, *, cache_dir: Path | None = None) -> Path:
    """Download every required file with ``huggingface_hub`` and pack them as ``out``.

    Parameters
    ----------
    out : Path
        The bundle (``.tar``) to write.
    cache_dir : Path, optional
        Hub cache to download into (default: huggingface_hub's own,
        ``$HF_HOME/hub``); ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` apply as usual.

    Raises
    ------
    InputError
        A file cannot be downloaded (one line with the reason).
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    if not constants.HF_HUB_OFFLINE:
        reachable, reason = hub_reachable()
        if not reachable:
            raise InputError(
                f"cannot download py-feat weights: the hub cannot be reached ({reason}); run this on a"
                " machine with internet (or set HF_ENDPOINT to a mirror)"
            )
    with tempfile.TemporaryDirectory(prefix="facs-pyfeat-export-") as scratch:
        staging = Path(scratch)
        for weight in REQUIRED_WEIGHTS:
            path = None
            for name in (weight.file, weight.fallback):
                if not name:
                    continue
                try:
                    path = Path(hf_hub_download(weight.repo, name, cache_dir=str(cache_dir) if cache_dir else None))
                    break
                except EntryNotFoundError:
                    continue  # an older py-feat name may be there instead
                except Exception as exc:
                    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
                    raise InputError(f"cannot download py-feat weight {weight.repo}/{name}: {reason}") from None
            if path is None:
                raise InputError(f"cannot download py-feat weights: the hub has no {weight.repo}/{weight.file}")
            # .../snapshots/<revision>/<name>: keep the hub's revision.
            revision = path.parent.name
            target = snapshot_path(staging, weight.repo, path.name, revision)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        write_manifest(staging)
        return pack_folder(staging, out)


def _extract(tar_path: Path, destination: Path, where: str) -> None:
    """Extract regular files only, refusing links, devices and paths outside ``destination``."""
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            for member in tar.getmembers():
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise InputError(f"{where}: member {member.name!r} points outside the bundle; not a weight bundle")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InputError(f"{where}: member {member.name!r} is not a plain file; not a weight bundle")
                target = destination.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise InputError(f"{where}: member {member.name!r} cannot be read")
                with source, open(target, "wb") as handle:
                    shutil.copyfileobj(source, handle, 1 << 20)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{where} is damaged or not a tar file ({type(exc).__name__}); {IMPORT_HINT}") from None


def import_bundle(bundle: Path, target: Path | None = None) -> dict[str, Any]:
    """Verify a bundle and install it as the model folder; return its manifest.

    Nothing in ``target`` changes unless every check passes: the bundle is
    extracted next to it, checked in full (sha256 of every file), and then
    swapped in by renames.

    Raises
    ------
    InputError
        Not a file, not a tar, fake, other py-feat version, incomplete, or a
        file whose sha256 differs from the manifest.
    """
    bundle = Path(bundle)
    where = f"bundle {bundle.name}"
    if not bundle.is_file():
        raise InputError(f"{where}: file not found")
    target = Path(target) if target else model_folder()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.importing")
    retired = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    try:
        staging.mkdir()
        _extract(bundle, staging, where)
        manifest = read_manifest(staging, where)
        if manifest.get("fake"):
            raise InputError(f"{where} holds generated test weights (marked fake), not py-feat's; {IMPORT_HINT}")
        check_folder(staging, deep=True, where=where)
        listed = {MANIFEST} | {
            str(PurePosixPath(_repo_folder(Path("."), e["repo"]).name) / sub)
            for e in manifest["files"]
            for sub in ("refs/main", f"snapshots/{e['revision']}/{e['file']}")
        }
        present = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
        stray = sorted(present - listed)
        if stray:
            raise InputError(f"{where}: {stray[0]} is not in its manifest; not a weight bundle made by models export")
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return manifest
