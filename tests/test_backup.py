"""Backup and restore: a consistent snapshot, verified by checksum, never overwriting by accident."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core import datasets
from facs_core.errors import InputError, StoreError
from facs_core.probe import probe_video
from facs_core.services import backup as backups
from facs_core.services.access import LocalOperator
from store import open_catalog, shards
from store.videos import add_video
from tests.conftest import REPO_ROOT

OPERATOR = LocalOperator("cli:test")
ADMIN1 = LocalOperator("admin1")


def _fill(catalog, feat_data: Path) -> dict:
    """A store with a real video, a shard, users and audit events; returns what to compare."""
    video = feat_data / "single_face.mp4"
    record, _ = add_video(catalog, video, probe_video(video), patient_id="P001", original_name="single_face.mp4")
    frames = datasets.video_frames(50, np.random.default_rng(7), no_face=0.0)
    written = shards.write_shard_file(catalog.paths, "run1", record["video_id"], frames)
    shard = written.path
    catalog.execute(
        "INSERT INTO runs (run_id, video_id, backend, params_hash, status, shard_path, shard_sha256, n_frames)"
        " VALUES ('run1', ?, 'test', 'h', 'done', ?, ?, 50)",
        [record["video_id"], shard.relative_to(catalog.paths.root).as_posix(), written.sha256],
    )
    catalog.execute(
        "INSERT INTO segments (video_id, start_s, end_s, label) VALUES (?, 0, 1, 'ÄÖ; DROP TABLE x')",
        [record["video_id"]],
    )
    return {
        "tables": {
            t: catalog.query(f"SELECT * FROM {t} ORDER BY ALL").drop(columns=["created_at"], errors="ignore")
            for t in ("patients", "videos", "runs", "segments", "users")
        },
        "files": {
            p.relative_to(catalog.paths.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (catalog.paths.root / record["stored_path"], shard)
        },
    }


def test_round_trip_restores_identical_tables_and_files(catalog, feat_data, tmp_path):
    before = _fill(catalog, feat_data)
    result = backups.backup(catalog, tmp_path / "b.tar", user=ADMIN1)
    assert result.files >= 3 and result.archive.exists()
    assert not list(tmp_path.glob("*.partial"))
    target = tmp_path / "restored"
    manifest = backups.restore(result.archive, target, user=LocalOperator("admin1"))
    assert manifest["schema_version"] == result.schema_version
    restored = open_catalog(target)
    try:
        for table, frame in before["tables"].items():
            again = restored.query(f"SELECT * FROM {table} ORDER BY ALL").drop(columns=["created_at"], errors="ignore")
            pd.testing.assert_frame_equal(frame, again, check_dtype=False)
        actions = restored.query("SELECT action FROM audit_log")["action"].tolist()
        assert actions[-1] == "restore"
        # Sequences continue after restore: new rows do not collide with restored ones.
        restored.execute("INSERT INTO segments (video_id, start_s, end_s, label) VALUES ('x', 0, 1, 'new')")
        assert restored.scalar("SELECT count(DISTINCT segment_id) FROM segments") == 2
    finally:
        restored.close()
    for relative, digest in before["files"].items():
        assert hashlib.sha256((target / relative).read_bytes()).hexdigest() == digest
    assert catalog.scalar("SELECT count(*) FROM audit_log WHERE action = 'backup' AND actor = 'admin1'") == 1


def test_restore_refuses_a_damaged_backup_and_leaves_the_target_alone(catalog, feat_data, tmp_path):
    _fill(catalog, feat_data)
    archive = backups.backup(catalog, tmp_path / "b.tar", user=OPERATOR).archive
    raw = bytearray(archive.read_bytes())
    # Flip one byte inside the video's content (the mp4 'ftyp' marker is in it).
    where = raw.find(b"ftyp")
    raw[where + 20] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="checksum mismatch"):
        backups.verify(damaged, user=OPERATOR)
    target = tmp_path / "restored"
    with pytest.raises(StoreError, match="checksum mismatch"):
        backups.restore(damaged, target, user=OPERATOR)
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if ".restore-" in p.name]


def test_restore_never_overwrites_without_force_and_keeps_the_old_folder(catalog, feat_data, tmp_path):
    _fill(catalog, feat_data)
    archive = backups.backup(catalog, tmp_path / "b.tar", user=OPERATOR).archive
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="not empty"):
        backups.restore(archive, target, user=OPERATOR)
    assert (target / "keep.txt").read_text() == "precious"
    backups.restore(archive, target, force=True, user=OPERATOR)
    kept = list(tmp_path.glob("existing.before-restore-*"))
    assert len(kept) == 1 and (kept[0] / "keep.txt").read_text() == "precious"
    assert (target / "catalog.duckdb").exists()


def _tar_with(tmp_path: Path, name: str, payload: bytes, manifest_path: str | None = None) -> Path:
    archive = tmp_path / "evil.tar"
    entry = {"path": manifest_path or name, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    manifest = json.dumps({"format": backups.FORMAT, "created_at": "x", "schema_version": 2, "files": [entry]}).encode()
    with tarfile.open(archive, "w") as tar:
        for member, body in ((name, payload), (backups.MANIFEST, manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return archive


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/evil", "videos/../../escape", "notes/secret.txt"])
def test_hostile_archives_are_refused_before_anything_is_written(tmp_path, name):
    archive = _tar_with(tmp_path, name, b"payload")
    target = tmp_path / "restored"
    with pytest.raises(InputError) as caught:
        backups.restore(archive, target, user=OPERATOR)
    assert "\n" not in str(caught.value)
    assert not target.exists() and not (tmp_path / "outside.txt").exists()


def test_not_a_backup_is_one_line(tmp_path):
    bogus = tmp_path / "b.tar"
    bogus.write_bytes(b"=cmd|' /C calc'!A0,1,2\n")
    with pytest.raises(InputError, match="not a readable FACS backup"):
        backups.restore(bogus, tmp_path / "x", user=OPERATOR)


def test_cli_backup_verify_restore(data_dir, feat_data, tmp_path):
    catalog = open_catalog(data_dir)
    _fill(catalog, feat_data)
    catalog.close()

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "facs_core", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
        )

    out = tmp_path / "snap.tar"
    made = cli("--data-dir", str(data_dir), "backup", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert cli("backup", "--verify", str(out)).returncode == 0
    refused = cli("--data-dir", str(data_dir), "restore", str(out))
    assert refused.returncode == 2 and refused.stderr.startswith("error: data folder") and "--force" in refused.stderr
    fresh = tmp_path / "fresh"
    done = cli("--data-dir", str(fresh), "restore", str(out))
    assert done.returncode == 0, done.stderr
    assert (fresh / "catalog.duckdb").exists()
