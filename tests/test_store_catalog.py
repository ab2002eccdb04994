"""The DuckDB catalog: creation, versioned migrations, de-duplication, bad starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from facs_core.errors import StoreError
from store import open_catalog
from store.migrate import LATEST_VERSION, current_version, migrate, migrations
from store.paths import resolve_data_dir
from store.videos import VideoMetadata, add_video, sha256_file

REPO = Path(__file__).resolve().parent.parent
META = VideoMetadata(container="mp4", codec="avc1", fps=30.0, frame_count=90, duration_s=3.0, width=64, height=48)


def run_cli(
    *args: str, env_data_dir: Path | None = None, env_extra: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **(env_extra or {})}
    if env_data_dir is not None:
        env["FACS_DATA_DIR"] = str(env_data_dir)
    return subprocess.run(
        [sys.executable, "-m", "facs_core", *args], capture_output=True, text=True, cwd=REPO, env=env, **kwargs
    )


def test_store_is_created_on_first_start_in_facs_data_dir(data_dir: Path) -> None:
    assert not data_dir.exists()
    catalog = open_catalog()
    try:
        assert catalog.paths.root == data_dir
        assert (data_dir / "catalog.duckdb").is_file()
        with catalog.session() as con:
            assert current_version(con) == LATEST_VERSION
        tables = set(catalog.query("SELECT table_name FROM information_schema.tables")["table_name"])
        for table in ("patients", "videos", "assessments", "visit_covariates", "segments", "runs", "jobs", "audit_log"):
            assert table in tables
    finally:
        catalog.close()


def test_data_folder_defaults_to_data_under_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FACS_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir() == tmp_path / "data"
    monkeypatch.setenv("FACS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert resolve_data_dir() == tmp_path / "elsewhere"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_a_store_made_by_schema_version_1_opens_and_upgrades_itself(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    # Build the file exactly as the first release did: only migration 1 applied.
    con = duckdb.connect(str(data_dir / "catalog.duckdb"))
    assert migrate(con, target=1) == 1
    con.execute("INSERT INTO patients (patient_id) VALUES ('P001')")
    con.execute(
        "INSERT INTO videos (video_id, sha256, patient_id, stored_path, fps, duration_s)"
        " VALUES ('abc', 'abcdef', 'P001', 'videos/abcdef.mp4', 30, 60)"
    )
    con.execute("INSERT INTO segments (video_id, start_s, end_s, label) VALUES ('abc', 1.0, 5.5, 'symptoms')")
    con.execute("INSERT INTO assessments (video_id, instrument, score) VALUES ('abc', 'bdi', 21)")
    tables_v1 = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    con.close()
    assert "users" not in tables_v1

    catalog = open_catalog(data_dir)
    try:
        assert catalog.scalar("SELECT max(version) FROM schema_version") == LATEST_VERSION
        # Everything stored under version 1 survived the upgrade unchanged.
        assert catalog.fetchone("SELECT patient_id FROM patients") == ("P001",)
        assert catalog.fetchone("SELECT video_id, stored_path FROM videos") == ("abc", "videos/abcdef.mp4")
        assert catalog.fetchone("SELECT start_s, end_s, label, revision FROM segments") == (1.0, 5.5, "symptoms", 1)
        assert catalog.fetchone("SELECT instrument, score FROM assessments") == ("bdi", 21.0)
        # And version 2's tables are there.
        catalog.execute("INSERT INTO users (username, role) VALUES ('ana', 'clinician')")
        assert catalog.scalar("SELECT count(*) FROM users") == 1
    finally:
        catalog.close()
    # Opening again applies nothing twice.
    again = open_catalog(data_dir)
    try:
        assert again.scalar("SELECT count(*) FROM schema_version") == len(migrations())
    finally:
        again.close()


def test_a_store_from_newer_software_is_refused_with_one_line(data_dir: Path) -> None:
    open_catalog(data_dir).close()
    con = duckdb.connect(str(data_dir / "catalog.duckdb"))
    con.execute("INSERT INTO schema_version (version, name) VALUES (?, 'future')", [LATEST_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match="newer than this software"):
        open_catalog(data_dir)


def test_same_video_twice_returns_the_existing_record_and_copies_nothing(catalog, tmp_path: Path) -> None:
    source = tmp_path / "interview.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    first, created = add_video(catalog, source, META, patient_id="P001", original_name="Interview Smith.mp4")
    assert created
    stored = catalog.paths.root / first["stored_path"]
    assert stored.read_bytes() == source.read_bytes()
    # The original name is metadata only, never part of the stored path.
    assert "Smith" not in first["stored_path"]
    assert first["stored_path"] == f"videos/{sha256_file(source)}.mp4"

    copy = tmp_path / "renamed copy.mp4"
    copy.write_bytes(source.read_bytes())
    second, created_again = add_video(catalog, copy, META, patient_id="P002", original_name="other.mp4")
    assert not created_again
    assert second == first
    assert catalog.scalar("SELECT count(*) FROM videos") == 1
    assert catalog.scalar("SELECT count(*) FROM patients") == 1
    assert sorted(p.name for p in catalog.paths.videos.iterdir()) == [stored.name]


def test_a_patient_name_is_refused_as_patient_code(catalog, tmp_path: Path) -> None:
    from facs_core.errors import InputError

    source = tmp_path / "v.mp4"
    source.write_bytes(b"video bytes")
    with pytest.raises(InputError, match="pseudonymous"):
        add_video(catalog, source, META, patient_id="John Smith")
    assert catalog.scalar("SELECT count(*) FROM videos") == 0
    assert list(catalog.paths.videos.iterdir()) == []


def test_cli_help_lists_subcommands_and_global_data_dir() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "--data-dir" in result.stdout
    for command in ("init", "info"):
        assert command in result.stdout


def test_cli_creates_and_describes_the_store(tmp_path: Path) -> None:
    target = tmp_path / "store"
    result = run_cli("--data-dir", str(target), "init")
    assert result.returncode == 0, result.stderr
    assert (target / "catalog.duckdb").is_file()
    info = run_cli("--data-dir", str(target), "info", "--json")
    assert info.returncode == 0, info.stderr
    assert '"videos": 0' in info.stdout


def test_unwritable_data_folder_gives_one_line_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    target = blocker / "data"
    result = run_cli("--data-dir", str(target), "init")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(target) in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def _holder_process(target: Path, body: str) -> subprocess.Popen:
    """A process that opens the store, runs ``body`` (which prints "ready"), then sleeps."""
    code = f"""
import sys, time
from store import open_catalog
catalog = open_catalog({str(target)!r})
{body}
time.sleep(60)
"""
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)


def test_an_idle_process_with_the_store_open_does_not_block_the_command_line(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    holder = _holder_process(target, 'catalog.scalar("SELECT 1"); print("ready", flush=True)')
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run_cli("--data-dir", str(target), "users", "add", "ana", "--role", "admin", "--sso", timeout=60)
        assert result.returncode == 0, result.stderr
        info = run_cli("--data-dir", str(target), "info", timeout=60)
        assert info.returncode == 0, info.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_waits_its_bounded_turn_then_says_so_in_one_line(tmp_path: Path) -> None:
    target = tmp_path / "held"
    # The holder sits inside one unit of work (a session) for a minute.
    holder = _holder_process(target, 'session = catalog.session(); session.__enter__(); print("ready", flush=True)')
    try:
        assert holder.stdout.readline().strip() == "ready"
        env = {"FACS_LOCK_TIMEOUT_S": "1.5"}
        started = time.monotonic()
        result = run_cli(
            "--data-dir", str(target), "users", "add", "ana", "--role", "admin", "--sso", timeout=60, env_extra=env
        )
        waited = time.monotonic() - started
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(target / "catalog.duckdb") in lines[0]
        assert f"process {holder.pid} has held it" in lines[0]
        assert "FACS_LOCK_TIMEOUT_S" in lines[0] and "1.5 s" in lines[0]
        assert "Traceback" not in result.stderr
        assert 1.5 <= waited < 30
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone (SIGKILL drops its turn): the same command now succeeds, nothing was half-written.
    again = run_cli("--data-dir", str(target), "users", "add", "ana", "--role", "admin", "--sso", timeout=60)
    assert again.returncode == 0, again.stderr
    catalog = open_catalog(target)
    try:
        assert catalog.scalar("SELECT count(*) FROM users") == 1
    finally:
        catalog.close()


def test_a_process_outside_the_protocol_holding_the_file_gives_one_line(tmp_path: Path) -> None:
    target = tmp_path / "raw"
    open_catalog(target).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time, duckdb
                con = duckdb.connect({str(target / "catalog.duckdb")!r})
                print("ready", flush=True)
                time.sleep(60)
                """
            ),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run_cli("--data-dir", str(target), "info", timeout=60, env_extra={"FACS_LOCK_TIMEOUT_S": "1"})
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(target / "catalog.duckdb") in lines[0]
        assert f"another process (process {holder.pid})" in lines[0]
    finally:
        holder.kill()
        holder.wait()
