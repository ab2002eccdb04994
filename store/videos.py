"""Videos and patients in the catalog, with sha256 de-duplication.

A video file is kept under the data folder by its content hash,
``videos/<sha256>.<container>``; the name it was uploaded under is stored as
metadata only and never becomes part of a path. Storing the same content twice
returns the existing record instead of making a copy.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

from facs_core.errors import InputError
from facs_core.records import VideoMetadata
from store.catalog import Catalog
from store.crashpoints import crash_point

_CHUNK = 1 << 20
_PATIENT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_CONTAINER = re.compile(r"^[a-z0-9]{1,8}$")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def video_id_for(sha256: str) -> str:
    """The video id: the first 16 hex digits of its sha256 (stable across stores)."""
    return sha256[:16]


def check_patient_code(code: str) -> str:
    """A pseudonymous patient code: 1-32 letters, digits, '.', '_' or '-'.

    Names are refused by construction: no spaces, no commas, nothing a full
    name would need.
    """
    code = (code or "").strip()
    if not _PATIENT_CODE.match(code):
        raise InputError(
            f"patient code {code!r} is not a pseudonymous code: use 1-32 letters, digits,"
            " '.', '_' or '-' (for example P017), never a name"
        )
    return code


def check_patient_kind(catalog: Catalog, patient_id: str, synthetic: bool) -> str:
    """Refuse to mix real and synthetic visits under one patient; return the checked code.

    A demo patient holds synthetic visits only and a real patient real ones, so
    that the data-source filter (real / synthetic) never splits one patient.
    """
    code = check_patient_code(patient_id)
    stored = catalog.scalar("SELECT synthetic FROM patients WHERE patient_id = ?", [code])
    if stored is not None and bool(stored) != bool(synthetic):
        if stored:
            raise InputError(
                f"patient {code} holds synthetic demo visits; store a real visit under a patient code of its own"
            )
        raise InputError(f"patient {code} holds real visits; synthetic demo data cannot be added to it")
    return code


def ensure_patient(catalog: Catalog, patient_id: str, synthetic: bool = False) -> str:
    """Create the patient if unknown; return the checked code (real and synthetic visits never mix)."""
    code = check_patient_kind(catalog, patient_id, synthetic)
    catalog.execute(
        "INSERT INTO patients (patient_id, synthetic) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [code, synthetic],
    )
    return code


def get_video(catalog: Catalog, video_id: str) -> dict[str, Any] | None:
    """The catalog row of one video, or None."""
    rows = catalog.query("SELECT * FROM videos WHERE video_id = ?", [video_id]).to_dict("records")
    return rows[0] if rows else None


def find_by_sha256(catalog: Catalog, sha256: str) -> dict[str, Any] | None:
    """The catalog row of the video with this content, or None."""
    rows = catalog.query("SELECT * FROM videos WHERE sha256 = ?", [sha256]).to_dict("records")
    return rows[0] if rows else None


def store_video_file(
    catalog: Catalog, source: str | os.PathLike[str], sha256: str, container: str, *, move: bool = False
) -> Path:
    """Put a video's content in place under ``videos/<sha256>.<container>``; return the relative path.

    The file is written under a temporary name and renamed, so the final name
    only ever holds complete content. A file already there (same content, by
    its name) is kept. Writing the file *before* any catalog row means a crash
    leaves at worst an unreferenced file that the next upload of that content
    reuses, never a row without its file.
    """
    if not _CONTAINER.match(container):
        raise InputError(f"container {container!r} is not a known video container")
    relative = Path("videos") / f"{sha256}.{container}"
    target = catalog.paths.root / relative
    if not target.exists():
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            if move:
                shutil.move(os.fspath(source), partial)
            else:
                shutil.copyfile(source, partial)
            crash_point("video-file-copied")
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    crash_point("video-file-in-place")
    return relative


def insert_video_row(
    catalog: Catalog,
    relative: Path,
    metadata: VideoMetadata,
    *,
    sha256: str,
    patient_id: str | None = None,
    original_name: str | None = None,
    visit_date: date | None = None,
    camera: str | None = None,
    recording_date: date | None = None,
    synthetic: bool = False,
) -> str:
    """Catalogue a stored file (its patient too, if new); return the video id.

    Run it inside the caller's transaction to commit it together with the
    visit's other rows.
    """
    values: dict[str, Any] = {
        "video_id": video_id_for(sha256),
        "sha256": sha256,
        "patient_id": patient_id,
        "visit_date": visit_date,
        "original_name": original_name,
        "stored_path": relative.as_posix(),
        "size_bytes": (catalog.paths.root / relative).stat().st_size,
        "camera": camera,
        "recording_date": recording_date,
        "synthetic": synthetic,
    }
    values.update({f.name: getattr(metadata, f.name) for f in fields(metadata)})
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    with catalog.transaction() as cur:
        if patient_id is not None:
            values["patient_id"] = ensure_patient(catalog, patient_id, synthetic=synthetic)
        cur.execute(f"INSERT INTO videos ({columns}) VALUES ({marks})", list(values.values()))
    return values["video_id"]


def insert_fileless_video(
    catalog: Catalog,
    *,
    video_id: str,
    sha256: str,
    patient_id: str,
    visit_date: date | None,
    original_name: str | None,
    fps: float,
    frame_count: int,
    duration_s: float,
    camera: str | None = None,
    synthetic: bool = False,
) -> None:
    """Catalogue a visit that has no video file, only its per-frame table (the synthetic demo).

    ``stored_path`` stays NULL; the recording date is the visit date. A video id
    that is already catalogued is left as it is. Creates the patient if new.
    """
    with catalog.transaction() as cur:
        ensure_patient(catalog, patient_id, synthetic=synthetic)
        cur.execute(
            "INSERT INTO videos (video_id, sha256, patient_id, visit_date, original_name, stored_path,"
            " fps, frame_count, duration_s, camera, recording_date, synthetic)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                video_id,
                sha256,
                patient_id,
                visit_date,
                original_name,
                fps,
                frame_count,
                duration_s,
                camera,
                visit_date,
                synthetic,
            ],
        )


def add_video(
    catalog: Catalog,
    source: str | os.PathLike[str],
    metadata: VideoMetadata,
    *,
    patient_id: str | None = None,
    original_name: str | None = None,
    visit_date: date | None = None,
    camera: str | None = None,
    recording_date: date | None = None,
    synthetic: bool = False,
    sha256: str | None = None,
    move: bool = False,
    with_row: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a probed video file and catalogue it (patient and video row in one transaction).

    Parameters
    ----------
    source : path
        The file to store. It is copied (or moved, with ``move=True``) under
        the data folder by hash.
    metadata : VideoMetadata
        What probing found; the container names the stored file's extension.
    sha256 : str, optional
        The content hash, if the caller already computed it while receiving.
    with_row : callable, optional
        ``with_row(video_id)`` is called inside the transaction that inserts
        the video row, after it: the rows it writes (a visit's scores, its
        audit event) commit with the video or not at all. Not called when the
        content was already stored.

    Returns
    -------
    record, created : dict, bool
        The catalog row, and False when the same content was already stored
        (nothing is copied or changed then).
    """
    sha = sha256 or sha256_file(source)
    existing = find_by_sha256(catalog, sha)
    if existing is not None:
        return existing, False
    if patient_id is not None:
        patient_id = check_patient_kind(catalog, patient_id, synthetic)
    relative = store_video_file(catalog, source, sha, metadata.container, move=move)
    with catalog.transaction():
        # Checked again inside the transaction: another process may have stored the same content meanwhile.
        existing = find_by_sha256(catalog, sha)
        if existing is not None:
            return existing, False
        video_id = insert_video_row(
            catalog,
            relative,
            metadata,
            sha256=sha,
            patient_id=patient_id,
            original_name=original_name,
            visit_date=visit_date,
            camera=camera,
            recording_date=recording_date,
            synthetic=synthetic,
        )
        if with_row is not None:
            with_row(video_id)
    return get_video(catalog, video_id), True


def video_file(catalog: Catalog, record: dict[str, Any]) -> Path:
    """Absolute path of a catalogued video's stored file."""
    return catalog.paths.root / record["stored_path"]
