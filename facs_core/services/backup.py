"""Backup and restore of a whole store: catalog, per-frame shards and videos.

A backup is one uncompressed tar file (videos and Parquet are compressed
already) holding every file of the store under its path relative to the data
folder, then ``manifest.json``. The manifest lists each file's size and
sha256, the schema version and when the snapshot was taken.

Consistency: the catalog is checkpointed and copied while the catalog's write
lock is held, so no transaction commits in between (DuckDB writes its file
only at a checkpoint, and automatic checkpoints happen at commits). Shards and
videos are immutable once renamed into place and are written *before* the
catalog row that names them, so every file the snapshot's catalog refers to
already exists when the files are copied after it.

Integrity: a store that fails :func:`facs_core.services.integrity.verify_catalog` is
not archived unless ``allow_damaged`` is given (a backup must not preserve
corruption silently); each member's sha256 and the archive's own are recorded
in the catalog (``backups``, ``backup_members``) once it is written.

Restore extracts into a temporary folder beside the target, verifies every
file against the manifest, that the catalog opens and that the restored store
passes verification (catalog rows against files, orphans), and only then
renames the folder into place. An existing non-empty data folder is never overwritten
unless ``force`` is given, and then it is kept, renamed aside, not deleted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import duckdb

from facs_core import __version__
from facs_core.errors import InputError, StoreError
from facs_core.services import access
from facs_core.services.access import LocalOperator, PermissionDenied, User
from facs_core.wording import count
from store import audit
from store.catalog import Catalog
from store.lock import exclusive_turn
from store.migrate import migrate
from store.paths import BACKUP_STAGING_PREFIX, PRIVATE_FOLDER_MODE, StorePaths, private_umask

MANIFEST = "manifest.json"
FORMAT = "facs-backup/1"
#: Folders of the data folder that a backup holds (tmp, logs and backups are not data).
DATA_FOLDERS = ("videos", "playback", "frames", "chunks")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupResult:
    """What :func:`backup` wrote."""

    archive: Path
    files: int
    bytes: int
    schema_version: int
    #: What verification found in the store (non-empty only with ``allow_damaged``).
    problems: tuple[str, ...] = ()


class _Hashing(io.RawIOBase):
    """A raw stream over an open file that keeps the sha256 of every byte passing through (``digest``)."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()


class _HashingWriter(_Hashing):
    """Passes writes through to a file, feeding sha256 with every byte."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        return self._handle.write(data)

    def tell(self) -> int:
        return self._handle.tell()


class _HashingReader(_Hashing):
    """Reads a file once, feeding sha256 as tar copies it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def _data_files(paths: StorePaths) -> Iterator[tuple[Path, str]]:
    for name in DATA_FOLDERS:
        folder = paths.root / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            # Temporaries of interrupted writers are never results.
            if path.is_file() and not path.is_symlink() and not path.name.endswith(".partial"):
                yield path, path.relative_to(paths.root).as_posix()


def _add_file(tar: tarfile.TarFile, source: Path, arcname: str) -> dict:
    info = tarfile.TarInfo(arcname)
    info.size = source.stat().st_size
    info.mode = 0o600
    info.mtime = int(source.stat().st_mtime)
    with open(source, "rb") as handle:
        reader = _HashingReader(handle)
        tar.addfile(info, io.BufferedReader(reader, _CHUNK))
    return {"path": arcname, "size": info.size, "sha256": reader.digest.hexdigest()}


def _snapshot_catalog(catalog: Catalog, into: Path) -> list[Path]:
    """Copy the checkpointed catalog (and its WAL, if any) while no write can commit."""
    copied = []
    # catalog.transaction() holds the catalog's write lock for the whole copy;
    # the checkpoint runs on the same (re-entrant) lock.
    with catalog.transaction():
        catalog.checkpoint()
        for source in (catalog.paths.catalog, catalog.paths.catalog.with_name(catalog.paths.catalog.name + ".wal")):
            if source.exists():
                target = into / source.name
                shutil.copyfile(source, target)
                copied.append(target)
    return copied


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def default_archive(paths: StorePaths) -> Path:
    """``<data>/backups/facs-backup-<UTC time>.tar``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return paths.backups / f"facs-backup-{stamp}.tar"


def _check_out(out: str | os.PathLike[str]) -> Path:
    target = Path(out).expanduser().absolute()
    if target.exists():
        raise InputError(f"backup file {target} already exists; choose another --out")
    if not target.parent.is_dir():
        raise InputError(f"--out {out}: folder {target.parent} does not exist (it is not created)")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: folder {target.parent} is not writable")
    return target


def backup(
    catalog: Catalog,
    out: str | os.PathLike[str] | None = None,
    *,
    user: User,
    allow_damaged: bool = False,
) -> BackupResult:
    """Write a consistent, checksummed snapshot of the store to a tar file.

    Parameters
    ----------
    catalog : Catalog
        The open store (the app's, or the CLI's).
    out : path, optional
        The archive to write (default :func:`default_archive`). It must not
        exist and its folder must exist; it is written under a temporary name
        and renamed when complete.
    user : facs_core.services.access.User
        Who asks: must be allowed ``admin`` now (a refusal is audited); the
        command line passes :class:`~facs_core.services.access.LocalOperator`.
    allow_damaged : bool
        Archive a store that fails verification anyway (the record says so).

    Raises
    ------
    PermissionDenied
        ``user`` may not administer the store; nothing was written.
    StoreError
        The store fails verification (the message names what is damaged) and
        ``allow_damaged`` is not given, or the archive cannot be written.
    """
    from facs_core.services.integrity import damage_summary, verify_catalog

    actor = access.authorise(catalog, user, "admin", target="backup").username
    paths = catalog.paths
    # Owner-only whatever the caller's umask: the archive holds every video and score.
    private_umask()
    if out:
        target = _check_out(out)
    else:
        target = default_archive(paths)
        target.parent.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
        if target.exists():
            raise InputError(f"backup file {target} already exists; choose another --out")
    checked = verify_catalog(catalog, user)
    if not checked.ok and not allow_damaged:
        raise StoreError(
            f"the store fails verification, nothing archived ({count(len(checked.problems), 'problem')}:"
            f" {damage_summary(checked.problems)}); see 'python -m facs_core verify', or pass --allow-damaged"
        )
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    version = int(catalog.scalar("SELECT max(version) FROM schema_version"))
    # mkdtemp makes it 0700; opening the store removes it if this process dies.
    staging = Path(tempfile.mkdtemp(prefix=BACKUP_STAGING_PREFIX, dir=paths.tmp))
    try:
        catalog_files = _snapshot_catalog(catalog, staging)
        entries = []
        with open(partial, "xb", opener=_owner_only) as handle:
            sink = _HashingWriter(handle)
            with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
                # The manifest goes last in the tar (its hashes are computed while
                # copying); restore reads it by name.
                for source in catalog_files:
                    entries.append(_add_file(tar, source, source.name))
                for source, arcname in _data_files(paths):
                    entries.append(_add_file(tar, source, arcname))
                manifest = {
                    "format": FORMAT,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "software_version": __version__,
                    "schema_version": version,
                    "files": entries,
                }
                body = json.dumps(manifest, indent=1).encode("utf-8")
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(body)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(body))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except OSError as exc:
        raise StoreError(f"cannot write the backup {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    total = sum(entry["size"] for entry in entries)
    with catalog.transaction() as cur:
        cur.execute(
            "INSERT INTO backups (archive, sha256, files, bytes, damaged) VALUES (?, ?, ?, ?, ?)",
            [str(target), sink.digest.hexdigest(), len(entries), total, not checked.ok],
        )
        cur.executemany(
            "INSERT INTO backup_members (archive, path, size, sha256) VALUES (?, ?, ?, ?)",
            [[str(target), e["path"], e["size"], e["sha256"]] for e in entries],
        )
    detail = f"{len(entries)} files, {total} bytes" + ("" if checked.ok else ", store damaged")
    audit.record(catalog, actor, audit.BACKUP, target.name, detail)
    return BackupResult(target, len(entries), total, version, tuple(checked.problems))


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InputError(f"backup member {name!r} would leave the data folder; the archive is not trusted")
    allowed = path.name in ("catalog.duckdb", "catalog.duckdb.wal", MANIFEST) and len(path.parts) == 1
    if not allowed and path.parts[0] not in DATA_FOLDERS:
        raise InputError(f"backup member {name!r} is not part of a store")
    return path


def read_manifest(archive: str | os.PathLike[str]) -> dict:
    """The manifest of a backup file (not yet verified against the files)."""
    try:
        with tarfile.open(archive, "r:") as tar:
            member = tar.getmember(MANIFEST)
            manifest = json.loads(tar.extractfile(member).read().decode("utf-8"))
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise InputError(f"{archive} is not a readable FACS backup ({type(exc).__name__})") from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"{archive} is not a FACS backup of format {FORMAT}")
    return manifest


def _extract_verified(archive: Path, into: Path, manifest: dict) -> None:
    expected = {entry["path"]: entry for entry in manifest["files"]}
    seen = set()
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            path = _safe_member(member.name)
            if member.name == MANIFEST:
                continue
            if not member.isfile():
                raise InputError(f"backup member {member.name!r} is not a regular file")
            if member.name not in expected:
                raise InputError(f"backup member {member.name!r} is not in the manifest")
            target = into.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            source = tar.extractfile(member)
            with open(target, "wb") as handle:
                for block in iter(functools.partial(source.read, _CHUNK), b""):
                    digest.update(block)
                    handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
            if digest.hexdigest() != expected[member.name]["sha256"]:
                raise StoreError(f"backup {archive.name}: checksum mismatch for {member.name}; the backup is damaged")
            seen.add(member.name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise StoreError(f"backup {archive.name}: {count(len(missing), 'file')} missing, first {missing[0]}")


def _verify_restored(archive: Path, folder: Path, allow_damaged: bool, user: LocalOperator) -> tuple[str, ...]:
    """The extracted store's own verification: catalog rows against files, orphans.

    Checksums that older software did not record are taken from the files,
    which the manifest has just vouched for.
    """
    from facs_core.services.integrity import damage_summary, verify_data_dir

    outcome = verify_data_dir(folder, user, record=False, record_missing=True)
    if not outcome.ok and not allow_damaged:
        raise StoreError(
            f"backup {archive.name} holds a damaged store ({count(len(outcome.problems), 'problem')}:"
            f" {damage_summary(outcome.problems)}); nothing restored; pass --allow-damaged to restore it anyway"
        )
    return outcome.problems


def verify(archive: str | os.PathLike[str], *, user: User, allow_damaged: bool = False) -> dict:
    """Check every file of a backup against its manifest, and the store it holds, without restoring it.

    Like :func:`restore`, only the local operator verifies an archive (``user``
    a :class:`~facs_core.services.access.LocalOperator`): the archive is a file
    on the server, outside any store whose accounts could be checked.

    Raises
    ------
    PermissionDenied
        ``user`` is not the local operator; nothing was read.
    StoreError
        A member differs from the manifest, or the archived store fails
        verification (unless ``allow_damaged``).
    """
    if type(user) is not LocalOperator:
        raise PermissionDenied("verifying a backup file runs on the server: python -m facs_core backup --verify")
    archive = Path(archive)
    manifest = read_manifest(archive)
    with tempfile.TemporaryDirectory(prefix="facs-verify-") as scratch:
        _extract_verified(archive, Path(scratch), manifest)
        _verify_restored(archive, Path(scratch), allow_damaged, user)
    return manifest


def _is_empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[None]:
    """While a live store is replaced, hold its turn: the dashboard and commands using it wait.

    A process outside the turn protocol that holds the catalog file makes the
    restore refuse, in one line, before anything is moved.
    """
    catalog = target / "catalog.duckdb"
    if not catalog.exists():
        yield
        return
    with exclusive_turn(catalog):
        try:
            duckdb.connect(str(catalog)).close()
        except duckdb.Error:
            raise StoreError(f"the store {target} is in use by another process; stop it before restoring") from None
        yield


def restore(
    archive: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    user: User,
    allow_damaged: bool = False,
) -> dict:
    """Restore a backup into ``data_dir``; return its manifest.

    The archive is extracted into a temporary sibling of ``data_dir``, every
    file's sha256 is compared with the manifest, the catalog is opened and the
    store it holds is verified (:mod:`facs_core.services.integrity`) before anything is
    renamed; a damaged store is refused unless ``allow_damaged``. With ``force``, an existing data folder is
    renamed to ``<data_dir>.before-restore-<time>`` (kept, never deleted).

    Only the local operator restores (``user`` a
    :class:`~facs_core.services.access.LocalOperator`, the command line): it
    replaces every account and row, so no browser role may ask for it.

    Raises
    ------
    PermissionDenied
        ``user`` is not the local operator; nothing was read or changed.
    InputError
        The file is not a backup, is hostile (paths leaving the folder), or
        the data folder is not empty and ``force`` is not given.
    StoreError
        A checksum differs, a file is missing, the archived store fails
        verification, or the catalog is in use.
    """
    if type(user) is not LocalOperator:
        raise PermissionDenied("restore replaces the whole store; run it on the server: python -m facs_core restore")
    actor = user.username
    archive = Path(archive).expanduser().absolute()
    target = Path(data_dir).expanduser().absolute()
    if not archive.is_file():
        raise InputError(f"backup file {archive} does not exist")
    manifest = read_manifest(archive)
    if not _is_empty(target) and not force:
        raise InputError(f"data folder {target} is not empty; restore into an empty folder or pass --force")
    private_umask()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.restore-{uuid.uuid4().hex}")
    staging.mkdir(mode=PRIVATE_FOLDER_MODE)
    try:
        _extract_verified(archive, staging, manifest)
        try:
            con = duckdb.connect(str(staging / "catalog.duckdb"))
            version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            con.close()
        except duckdb.Error as exc:
            raise StoreError(f"backup {archive.name}: its catalog does not open ({str(exc).splitlines()[0]})") from None
        if version != manifest["schema_version"]:
            raise StoreError(f"backup {archive.name}: catalog schema {version} differs from its manifest")
        _verify_restored(archive, staging, allow_damaged, user)
        with _replacing(target):
            if target.exists():
                if _is_empty(target):
                    target.rmdir()
                else:
                    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                    os.replace(target, target.with_name(f"{target.name}.before-restore-{stamp}"))
            os.replace(staging, target)
            # Brought to this software's schema before any other process gets a turn on it.
            con = duckdb.connect(str(target / "catalog.duckdb"))
            try:
                migrate(con)
            finally:
                con.close()
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    from store import open_catalog

    restored = open_catalog(target)
    try:
        audit.record(restored, actor, audit.RESTORE, archive.name, f"backup taken {manifest['created_at']}")
    finally:
        restored.close()
    return manifest
