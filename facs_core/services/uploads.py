"""Receiving an uploaded file safely, before anything else looks at it.

:func:`receive_upload` streams an upload into the store's scratch folder under
a random name (the name the browser sent is never used as a path), refuses it
when the disk would run short or it exceeds the size limit, checks from its
first bytes what it really is (not from its extension) and removes the partial
file on any failure. The uploader is authorised (``upload``, for the patient
when known) before a byte is written, at the moment the upload arrives. Video containers are recognised by
:func:`facs_core.probe.sniff_container`; CSV/text uploads by being decodable
UTF-8 text without NUL bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from facs_core.errors import InputError, StoreError
from facs_core.probe import sniff_container
from facs_core.services import access
from facs_core.services.access import User
from store.catalog import Catalog

#: The dashboard's upload limit, matching nginx ``client_max_body_size`` and
#: Streamlit's ``server.maxUploadSize`` (MB).
DEFAULT_SIZE_LIMIT = 4096 * 1024 * 1024
#: Space left free on the data disk after an upload, so the catalog can still write.
DEFAULT_DISK_RESERVE = 512 * 1024 * 1024
_CHUNK = 1 << 20
_SNIFF = 64 * 1024
KINDS = ("video", "csv")


@dataclass(frozen=True)
class ReceivedUpload:
    """An upload safely on disk in the store's scratch folder."""

    path: Path
    size: int
    sha256: str
    kind: str
    container: str | None
    display_name: str


def display_name(declared_name: str | None) -> str:
    """The declared name reduced to something safe to show and store as metadata.

    Folders are dropped (``../../etc/passwd`` becomes ``passwd``), control
    characters removed, Unicode normalised (NFC) and the length capped. It is
    never used to build a path.
    """
    text = unicodedata.normalize("NFC", str(declared_name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    return text[:200] or "upload"


def _declared_size(stream: BinaryIO) -> int | None:
    size = getattr(stream, "size", None)
    if isinstance(size, int):
        return size
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return end - here
    except (AttributeError, OSError, ValueError):
        return None


def _check_disk(folder: Path, needed: int, reserve: int, label: str) -> None:
    free = shutil.disk_usage(folder).free
    if free - needed < reserve:
        raise StoreError(
            f"{label}: not enough free disk space in {folder} ({free / 1e9:.2f} GB free,"
            f" {needed / 1e9:.2f} GB needed plus {reserve / 1e9:.2f} GB kept free)"
        )


def _sniff(head: bytes, kind: str, label: str) -> str | None:
    if kind == "video":
        container = sniff_container(head)
        if container is None:
            raise InputError(f"{label}: the content is not a video container (MP4, MOV, AVI, MKV or WebM)")
        return container
    if b"\x00" in head:
        raise InputError(f"{label}: the content is binary, not a CSV text file")
    try:
        # The cut may fall inside a multi-byte character: ignore only the tail.
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            raise InputError(f"{label}: the content is not UTF-8 text (byte {exc.start})") from None
    return None


def receive(
    catalog: Catalog,
    user: User,
    stream: BinaryIO,
    declared_name: str | None,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    *,
    patient_id: str | None = None,
    kind: str = "video",
    disk_reserve: int = DEFAULT_DISK_RESERVE,
) -> ReceivedUpload:
    """Stream an upload into the store's ``tmp`` folder and check it; see :class:`ReceivedUpload`.

    Parameters
    ----------
    catalog : Catalog
        The store; the file lands in ``catalog.paths.tmp`` under a random name.
    user : facs_core.services.access.User
        The uploader: must be allowed ``upload`` (for ``patient_id`` when
        given) now, before anything is received; a refusal is audited.
    stream : binary file-like
        The upload (Streamlit's ``UploadedFile``, an open file, a socket reader).
    declared_name : str
        The name the client sent: shown in messages, never used as a path.
    size_limit : int
        Largest accepted size in bytes.
    kind : {"video", "csv"}
        What the content must be, judged from its bytes.
    disk_reserve : int
        Bytes that must remain free on the data disk afterwards.
    patient_id : str, optional
        The patient the upload is for, when the form already names one.

    Raises
    ------
    PermissionDenied
        ``user`` may not upload (for this patient); nothing was received.
    InputError
        Empty, too large, or not the expected kind of content.
    StoreError
        Not enough disk space.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    access.authorise(catalog, user, "upload", patient_id)
    paths = catalog.paths
    label = display_name(declared_name)
    if size_limit <= 0:
        raise ValueError("size_limit must be positive")
    declared = _declared_size(stream)
    if declared is not None and declared > size_limit:
        raise InputError(f"{label}: {declared / 1e6:.1f} MB is over the upload limit of {size_limit / 1e6:.0f} MB")
    paths.tmp.mkdir(parents=True, exist_ok=True)
    _check_disk(paths.tmp, declared if declared is not None else 0, disk_reserve, label)
    target = paths.tmp / f"upload-{uuid.uuid4().hex}.partial"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with open(target, "xb") as handle:
            os.chmod(target, 0o600)
            while True:
                block = stream.read(_CHUNK)
                if not block:
                    break
                size += len(block)
                if size > size_limit:
                    raise InputError(f"{label}: over the upload limit of {size_limit / 1e6:.0f} MB")
                if len(head) < _SNIFF:
                    head += block[: _SNIFF - len(head)]
                if declared is None and size % (256 * _CHUNK) < len(block):
                    # Unknown length: re-check the disk every 256 MiB.
                    _check_disk(paths.tmp, 0, disk_reserve, label)
                digest.update(block)
                handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())
        if size == 0:
            raise InputError(f"{label}: the file is empty (0 bytes)")
        container = _sniff(head, kind, label)
        final = target.with_name(target.name.removesuffix(".partial") + (f".{container}" if container else ".csv"))
        os.replace(target, final)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return ReceivedUpload(final, size, digest.hexdigest(), kind, container, label)


def receive_upload(
    catalog: Catalog, user: User, stream: BinaryIO, declared_name: str | None, size_limit: int = DEFAULT_SIZE_LIMIT
) -> Path:
    """Receive a video upload; return the path of the checked temporary file.

    The caller ingests it (``facs_core.services.ingest.ingest_video(..., original_name=
    display_name(declared_name))``) and deletes it afterwards in a ``finally``.
    See :func:`receive` for the checks and for CSV uploads.
    """
    return receive(catalog, user, stream, declared_name, size_limit).path
