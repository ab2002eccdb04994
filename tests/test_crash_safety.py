"""SIGKILL in the middle of writing: the store reopens consistent.

Each test starts a real subprocess that writes (catalog transactions, result
shards, an upload), kills it with SIGKILL once it is demonstrably mid-way, and
reopens the store: schema intact, no half transactions, no ``.partial`` file
left or read as a result, and everything committed before the kill still there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from facs_core.probe import probe_video
from facs_core.services import backup as backups
from facs_core.services.access import LocalOperator
from store import open_catalog
from store.crashpoints import CRASH_MARKER_ENV, CRASH_POINT_ENV
from store.migrate import LATEST_VERSION
from store.shards import parquet_list_sql
from store.videos import add_video, sha256_file
from tests.conftest import REPO_ROOT

BATCH = 40


def _start(code: str, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after(proc: subprocess.Popen, marker: str, lines: int) -> list[str]:
    """Read ``lines`` lines starting with ``marker`` from the child, then SIGKILL it."""
    seen = []
    deadline = time.monotonic() + 120
    while len(seen) < lines and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"child ended early: {proc.stderr.read()[-2000:]}")
        if line.startswith(marker):
            seen.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return seen


def test_kill_during_catalog_writes_leaves_whole_transactions(data_dir, tmp_path):
    open_catalog(data_dir).close()
    proc = _start(
        f"""
        import sys
        from store import open_catalog
        catalog = open_catalog(sys.argv[1])
        n = 0
        while True:
            with catalog.transaction() as cur:
                for i in range({BATCH}):
                    cur.execute("INSERT INTO segments (video_id, start_s, end_s, label) VALUES (?, ?, ?, ?)",
                                [f"v{{n}}", i, i + 1, "Zoë'); DROP TABLE segments; --"])
                cur.execute("INSERT INTO audit_log (actor, action, target) VALUES ('t', 'edit', ?)", [f"v{{n}}"])
            n += 1
            print("committed", n, flush=True)
        """,
        data_dir,
    )
    committed = _kill_after(proc, "committed", 15)
    catalog = open_catalog(data_dir)
    try:
        assert catalog.scalar("SELECT max(version) FROM schema_version") == LATEST_VERSION
        rows = catalog.scalar("SELECT count(*) FROM segments")
        batches = catalog.scalar("SELECT count(*) FROM audit_log WHERE action = 'edit'")
        assert rows == batches * BATCH  # no half transaction survived
        assert batches >= len(committed)  # nothing committed was lost
        assert catalog.scalar("SELECT count(DISTINCT label) FROM segments") == 1
        # The store keeps working and backs up cleanly.
        catalog.execute("INSERT INTO patients (patient_id) VALUES ('P001')")
        archive = backups.backup(catalog, tmp_path / "after-crash.tar", user=LocalOperator("test")).archive
    finally:
        catalog.close()
    assert len(backups.verify(archive, user=LocalOperator("test"))["files"]) >= 1


def test_kill_during_shard_writes_leaves_only_complete_shards(data_dir):
    open_catalog(data_dir).close()
    proc = _start(
        """
        import sys
        import numpy as np, pandas as pd
        from store.paths import StorePaths
        from store.shards import write_shard
        paths = StorePaths(__import__("pathlib").Path(sys.argv[1]))
        frame = pd.DataFrame({"frame": np.arange(400_000), "timestamp": np.arange(400_000) / 30.0,
                              "face": True, "face_confidence": np.random.default_rng(1).random(400_000),
                              "AU01": np.random.default_rng(2).random(400_000)})
        n = 0
        while True:
            write_shard(paths, "run1", f"video{n}", frame)
            n += 1
            print("shard", n, flush=True)
        """,
        data_dir,
    )
    _kill_after(proc, "shard", 3)
    catalog = open_catalog(data_dir)  # opening removes leftovers of interrupted writers
    try:
        files = sorted((data_dir / "frames").rglob("*"))
        assert not [f for f in files if f.name.endswith(".partial")]
        shard_files = [f for f in files if f.suffix == ".parquet"]
        assert len(shard_files) >= 3
        counts = duckdb.sql(
            f"SELECT video_id, count(*) AS n FROM {parquet_list_sql(shard_files)} GROUP BY video_id"
        ).fetchall()
        assert {n for _, n in counts} == {400_000}
    finally:
        catalog.close()


def test_kill_during_upload_leaves_no_temporary_file(data_dir, feat_data):
    open_catalog(data_dir).close()
    proc = _start(
        f"""
        import io, sys, time
        from pathlib import Path
        from facs_core.services.access import LocalOperator
        from facs_core.services.uploads import receive_upload
        from store import open_catalog

        class Slow(io.RawIOBase):
            # A client that sends the real video, then keeps sending slowly.
            def __init__(self):
                self.head = Path({str(feat_data / "single_face.mp4")!r}).read_bytes()
                self.sent = 0
            def readable(self):
                return True
            def read(self, n=-1):
                if self.sent == 0:
                    self.sent = 1
                    return self.head
                print("receiving", self.sent, flush=True)
                self.sent += 1
                time.sleep(0.02)
                return b"\\0" * 65536

        receive_upload(open_catalog(Path(sys.argv[1])), LocalOperator("test"), Slow(), "../../etc/passwd")
        """,
        data_dir,
    )
    _kill_after(proc, "receiving", 10)
    leftovers = list((data_dir / "tmp").iterdir())
    assert leftovers and all(p.name.endswith(".partial") for p in leftovers)  # killed mid-way indeed
    assert all("passwd" not in p.name for p in leftovers)
    catalog = open_catalog(data_dir)
    try:
        assert list((data_dir / "tmp").iterdir()) == []
        assert catalog.scalar("SELECT count(*) FROM videos") == 0
    finally:
        catalog.close()


# -- kills at named points of multi-step writes ---------------------------------
def _kill_at(point: str, argv: list[str], tmp_path: Path, timeout_s: float = 180) -> None:
    """Run ``python argv`` with the crash point armed, wait for its marker, SIGKILL it, prove where it died."""
    marker = tmp_path / f"marker-{point}"
    env = {**os.environ, CRASH_POINT_ENV: point, CRASH_MARKER_ENV: str(marker)}
    proc = subprocess.Popen(
        [sys.executable, *argv], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"writer ended before reaching {point}: {proc.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"writer never reached {point}"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # The marker names the killed process and the point: the kill landed exactly there.
    assert marker.read_text().split() == [str(proc.pid), point]


def _visit_rows(catalog) -> dict[str, int]:
    return {
        table: catalog.scalar(f"SELECT count(*) FROM {table}")
        for table in ("patients", "videos", "visit_covariates", "assessments")
    } | {"audit": catalog.scalar("SELECT count(*) FROM audit_log WHERE action = 'upload'")}


WHOLE_VISIT = {"patients": 1, "videos": 1, "visit_covariates": 1, "assessments": 2, "audit": 1}
NO_VISIT = dict.fromkeys(WHOLE_VISIT, 0)


@pytest.mark.parametrize(
    ("point", "committed"),
    [
        ("video-file-copied", False),  # the copy is complete under its temporary name
        ("video-file-in-place", False),  # renamed into place, no row yet
        ("ingest-rows-uncommitted", False),  # patient and video rows written, transaction open
        ("ingest-committed", True),  # everything committed, the command not yet done
    ],
)
def test_kill_during_videos_add_leaves_the_whole_visit_or_none_of_it(point, committed, data_dir, feat_data, tmp_path):
    video = feat_data / "single_face.mp4"
    add = ["-m", "facs_core", "--data-dir", str(data_dir), "videos", "add", str(video), "--patient", "P001"]
    add += ["--visit-date", "2024-03-01"]
    add += ["--age", "41", "--sex", "female", "--score", "bdi=23", "--score", "phq9=11", "--no-playback"]
    open_catalog(data_dir).close()
    _kill_at(point, add, tmp_path)
    catalog = open_catalog(data_dir)
    try:
        assert _visit_rows(catalog) == (WHOLE_VISIT if committed else NO_VISIT)
        assert not list(data_dir.rglob("*.partial*"))  # the dead writer's temporary is gone
        if committed:
            stored = catalog.paths.root / catalog.scalar("SELECT stored_path FROM videos")
            assert stored.read_bytes() == video.read_bytes()
    finally:
        catalog.close()
    # Adding the video again completes (or, when committed, finds) the visit; one file, reused.
    again = subprocess.run([sys.executable, *add], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert ("already stored" in again.stdout) == committed
    catalog = open_catalog(data_dir)
    try:
        assert _visit_rows(catalog) == WHOLE_VISIT
        assert [p.name for p in (data_dir / "videos").iterdir()] == [f"{sha256_file(video)}.mp4"]
    finally:
        catalog.close()


def test_kill_while_queueing_extraction_queues_nothing(data_dir, feat_data, tmp_path):
    catalog = open_catalog(data_dir)
    try:
        ids = []
        for name in ("single_face.mp4", "no_face.mp4"):
            record, _ = add_video(catalog, feat_data / name, probe_video(feat_data / name), patient_id="P001")
            ids.append(record["video_id"])
    finally:
        catalog.close()
    code = (
        "import sys; from store import open_catalog; from facs_core.services.jobs import submit_extraction;"
        "from facs_core.services.access import LocalOperator;"
        f"submit_extraction(open_catalog(sys.argv[1]), {ids!r}, 'mediapipe', {{}}, LocalOperator('test'))"
    )
    _kill_at("jobs-queued-uncommitted", ["-c", code, str(data_dir)], tmp_path)
    catalog = open_catalog(data_dir)
    try:
        # The first video's run and job were written in the killed transaction: none survived.
        assert catalog.scalar("SELECT count(*) FROM runs") == 0
        assert catalog.scalar("SELECT count(*) FROM jobs") == 0
        assert catalog.scalar("SELECT count(*) FROM audit_log WHERE action = 'extraction queued'") == 0
    finally:
        catalog.close()


def test_kill_while_loading_a_demo_visit_leaves_whole_visits_only(data_dir, tmp_path):
    open_catalog(data_dir).close()
    code = (
        "import sys; from store import open_catalog; from facs_core.services.demo import load_demo;"
        "load_demo(open_catalog(sys.argv[1]), n_patients=2, with_videos=False, extract=False)"
    )
    _kill_at("demo-visit-uncommitted", ["-c", code, str(data_dir)], tmp_path)
    catalog = open_catalog(data_dir)
    try:
        # The first visit's patient, video, scores, run and segment were all in the killed transaction.
        for table in ("patients", "videos", "assessments", "visit_covariates", "runs", "segments"):
            assert catalog.scalar(f"SELECT count(*) FROM {table}") == 0, table
    finally:
        catalog.close()
