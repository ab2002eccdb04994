"""The extraction job state machine, driven in-process: a real store and a real video, no Ray.

:class:`~facs_core.services.executors.InProcessExecutor` runs the same work
Ray would (numbering frames, computing chunks) in the test's thread, one piece
per poll, so every state in between can be looked at: claimed and numbering,
chunks half done, cancelled half way, resumed, failed, finished.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from facs_core.backends.base import get_backend
from facs_core.decode import decode_frames
from facs_core.probe import probe_video
from facs_core.services.access import LocalOperator
from facs_core.services.executors import InProcessExecutor
from facs_core.services.jobs import JobRunner, Stage, cancel_job, job_status, retry_job, submit_extraction
from store.catalog import Catalog
from store.job_rows import get_job
from store.runs import get_run
from store.videos import VideoMetadata, add_video

OPERATOR = LocalOperator("test")
VIDEO = "single_face.mp4"  # 1 s, a few dozen frames


@pytest.fixture(autouse=True)
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    # Any ``import ray`` on the way fails: the state machine must not need it.
    monkeypatch.setitem(sys.modules, "ray", None)


def _video(catalog: Catalog, source: Path) -> str:
    record, _ = add_video(catalog, source, probe_video(source), patient_id="P001", original_name=source.name)
    return record["video_id"]


def _runner(catalog: Catalog, per_poll: int | None = 1) -> JobRunner:
    return JobRunner(catalog, poll_s=0.0, executor=InProcessExecutor(per_poll=per_poll))


def _run_of(catalog: Catalog, job_id: str) -> dict:
    return get_run(catalog, get_job(catalog, job_id)["run_id"])


def test_a_job_goes_through_its_stages_to_the_same_table_as_the_backend(
    catalog: Catalog, feat_data: Path, mediapipe_model: Path
) -> None:
    video = _video(catalog, feat_data / VIDEO)
    (job,) = submit_extraction(catalog, [video], "mediapipe", {"chunk_frames": 8}, OPERATOR)
    assert get_job(catalog, job)["status"] == "queued"
    runner = _runner(catalog, per_poll=0)

    runner.step()  # claimed, the frames' numbering submitted; the executor runs nothing yet
    held = get_job(catalog, job)
    assert (held["status"], held["driver"]) == ("running", runner.driver)
    assert runner._active[job].stage is Stage.INDEX
    runner.step()
    assert runner._active[job].stage is Stage.INDEX  # still waiting for the numbering
    runner.executor.per_poll = 1
    runner.step()  # numbered, chunks planned and submitted, the first one computed
    active = runner._active[job]
    assert active.stage is Stage.CHUNKS
    n_chunks = len(active.chunks)
    assert n_chunks >= 3
    seen = [get_job(catalog, job)["progress"]]
    while job in runner._active:
        runner.step()
        seen.append(get_job(catalog, job)["progress"])
    assert seen == sorted(seen) and 0 < seen[0] < 1 and seen[-1] == 1.0
    assert len(seen) == n_chunks  # one chunk per poll: every state in between was written

    done = get_job(catalog, job)
    assert done["status"] == "done" and done["message"]
    run = _run_of(catalog, job)
    assert run["status"] == "done"
    shard = pd.read_parquet(catalog.paths.root / run["shard_path"])
    with get_backend("mediapipe") as backend:
        direct = backend.process(decode_frames(feat_data / VIDEO))
    assert shard["frame"].tolist() == direct["frame"].tolist()
    assert run["n_frames"] == len(direct)
    assert not (catalog.paths.chunks / run["run_id"]).exists()  # merged chunks are removed


def test_cancel_half_way_then_retry_reuses_the_finished_chunks(
    catalog: Catalog, feat_data: Path, mediapipe_model: Path
) -> None:
    video = _video(catalog, feat_data / VIDEO)
    (job,) = submit_extraction(catalog, [video], "mediapipe", {"chunk_frames": 8}, OPERATOR)
    runner = _runner(catalog)
    for _ in range(3):
        runner.step()
    folder = runner._active[job].folder
    finished = {p: p.stat().st_mtime_ns for p in folder.glob("0*.parquet")}
    assert 0 < len(finished) < len(runner._active[job].chunks)

    assert cancel_job(catalog, job, OPERATOR) == "cancel requested"
    runner.step()
    assert job not in runner._active
    assert (get_job(catalog, job)["status"], _run_of(catalog, job)["status"]) == ("cancelled", "cancelled")
    runner.step()  # nothing left to drive, nothing claimed
    assert get_job(catalog, job)["status"] == "cancelled"

    retry_job(catalog, job, OPERATOR)
    again = JobRunner(catalog, poll_s=0.0, keep_chunks=True, executor=InProcessExecutor())
    assert again.run_until_idle() == {job: "done"}
    assert job_status(catalog).set_index("job_id").loc[job, "status"] == "done"
    # The chunks finished before the cancel were not computed again.
    assert {p: p.stat().st_mtime_ns for p in finished} == finished


def test_a_broken_video_fails_its_own_job_in_one_line_and_the_other_finishes(
    catalog: Catalog, feat_data: Path, tmp_path: Path, mediapipe_model: Path
) -> None:
    good = _video(catalog, feat_data / VIDEO)
    fake = tmp_path / "broken.mp4"
    fake.write_text("not a video at all\n" * 100)
    record, _ = add_video(catalog, fake, VideoMetadata("mp4", "h264", 30.0, 90, 3.0, 640, 360), patient_id="P002")
    jobs = submit_extraction(catalog, [record["video_id"], good], "mediapipe", {"chunk_frames": 16}, OPERATOR)
    outcome = _runner(catalog, per_poll=None).run_until_idle()
    assert outcome == {jobs[0]: "failed", jobs[1]: "done"}
    failed = get_job(catalog, jobs[0])
    assert "cannot decode" in failed["error"] and "\n" not in failed["error"]
    assert _run_of(catalog, jobs[0])["status"] == "failed"


def test_a_missing_file_fails_the_job_before_any_work(catalog: Catalog, feat_data: Path, tmp_path: Path) -> None:
    video = _video(catalog, feat_data / VIDEO)
    (job,) = submit_extraction(catalog, [video], "mediapipe", {}, OPERATOR)
    stored = catalog.paths.root / catalog.query("SELECT stored_path FROM videos")["stored_path"].iloc[0]
    stored.unlink()
    executor = InProcessExecutor()
    runner = JobRunner(catalog, poll_s=0.0, executor=executor)
    assert runner.run_until_idle() == {job: "failed"}
    assert "stored file of video" in get_job(catalog, job)["error"]


def test_a_driver_that_lost_its_lease_drops_the_job_without_writing(
    catalog: Catalog, feat_data: Path, mediapipe_model: Path
) -> None:
    video = _video(catalog, feat_data / VIDEO)
    (job,) = submit_extraction(catalog, [video], "mediapipe", {"chunk_frames": 8}, OPERATOR)
    runner = _runner(catalog)
    runner.step()
    runner.step()
    # Another driver took the job over meanwhile (this one paused past its lease).
    catalog.execute("UPDATE jobs SET driver = 'someone-else' WHERE job_id = ?", [job])
    before = get_job(catalog, job)
    runner.step()
    assert job not in runner._active
    after = get_job(catalog, job)
    assert after["driver"] == "someone-else"
    assert (after["progress"], after["message"]) == (before["progress"], before["message"])
