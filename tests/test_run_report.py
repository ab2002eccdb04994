"""Extraction tells the truth: what a job analysed, a faceless outcome as a warning, stale runs after segment edits."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from facs_core import run_scope
from facs_core.probe import probe_video
from facs_core.run_scope import face_warning, scope_text, segments_changed
from facs_core.services import segment_edits
from facs_core.services.access import LocalOperator
from facs_core.services.jobs import JobRunner, job_status, reextract, submit_extraction
from facs_core.services.run_report import describe_jobs, stale_runs
from store.segment_rows import segments_for
from store.videos import add_video
from tests.store_helpers import finish_queued_job

REPO = Path(__file__).resolve().parent.parent
OPERATOR = LocalOperator("test")


def test_scope_and_warning_wording() -> None:
    assert doctest.testmod(run_scope).failed == 0
    assert scope_text(0, 72, 72) == "whole video"
    assert scope_text(2, 46, 72) == "frames inside 2 segments, 46 of 72"
    assert face_warning(95, 0) == "no face found"
    assert face_warning(100, 12) == "face in 12 % of frames"
    assert face_warning(1000, 1) == "face in 1 % of frames"  # never "0 %" when a face was found
    assert face_warning(100, 50) is None
    # One rounding for the warning and the share shown beside it: 72 of 169 frames is 42.6 %.
    assert face_warning(169, 72) == "face in 42 % of frames" and run_scope.face_percent(169, 72) == "42 %"
    assert run_scope.face_percent(100, 58) == "58 %"
    assert segments_changed([(0.5, 1.5)], [(0.5, 1.5000000001)]) is False
    assert segments_changed([(0.5, 1.5), (2.0, 2.4)], [(0.5, 1.5)]) is True


def _store(catalog, source: Path, patient: str) -> str:
    record, _ = add_video(catalog, source, probe_video(source), patient_id=patient, original_name=source.name)
    return record["video_id"]


@pytest.mark.slow
def test_jobs_say_what_they_analyse_warn_when_faceless_and_go_stale_after_edits(
    catalog, data_dir: Path, feat_data: Path, mediapipe_model
) -> None:
    face = _store(catalog, feat_data / "single_face.mp4", "P001")
    faceless = _store(catalog, feat_data / "no_face.mp4", "P002")
    segment = segment_edits.add_segment(catalog, OPERATOR, face, 0.5, 1.5, "anhedonia")
    jobs = submit_extraction(catalog, [face, faceless], "mediapipe", {"chunk_frames": 40}, OPERATOR)
    assert JobRunner(catalog, num_cpus=2).run_until_idle() == {jobs[0]: "done", jobs[1]: "done"}

    table = describe_jobs(catalog, job_status(catalog)).set_index("job_id")
    frames = int(catalog.scalar("SELECT frame_count FROM videos WHERE video_id = ?", [face]))
    inside = int(catalog.scalar("SELECT n_frames FROM runs r JOIN jobs j USING (run_id) WHERE job_id = ?", [jobs[0]]))
    assert 0 < inside < frames
    assert table.loc[jobs[0], "analyses"] == f"frames inside 1 segment, {inside} of {frames}"
    assert table.loc[jobs[1], "analyses"] == "whole video"
    assert table.loc[jobs[1], "warning"] == "no face found"
    assert pd.isna(table.loc[jobs[0], "warning"])
    # The job's own line (what the command line reports) says both too.
    assert table.loc[jobs[0], "message"].startswith(f"frames inside 1 segment, {inside} of {frames} · ")
    assert (
        table.loc[jobs[1], "message"].startswith("whole video · ")
        and "warning: no face found" in table.loc[jobs[1], "message"]
    )
    listing = subprocess.run(
        [sys.executable, "-m", "facs_core", "--data-dir", str(data_dir), "jobs", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(row for row in listing.splitlines() if row.startswith(jobs[1]))
    assert "whole video" in line and "warning: no face found" in line
    assert stale_runs(catalog, [face, faceless]).empty

    # Moving the segment's end makes the run stale; re-extracting with the same settings clears it.
    segment_edits.update_segment(
        catalog, OPERATOR, segment["segment_id"], expected_revision=segment["revision"], end_s=2.0
    )
    stale = stale_runs(catalog, [face, faceless])
    assert stale["video_id"].tolist() == [face]
    assert bool(describe_jobs(catalog, job_status(catalog)).set_index("job_id").loc[jobs[0], "stale"])
    (again,) = reextract(catalog, face, OPERATOR)
    assert again != jobs[0]
    assert JobRunner(catalog, num_cpus=2).run_until_idle() == {again: "done"}
    assert stale_runs(catalog, [face, faceless]).empty
    params = catalog.query("SELECT r.params FROM runs r JOIN jobs j USING (run_id) WHERE job_id = ?", [again])
    assert '"chunk_frames": 40' in params.iloc[0, 0] and "[0.5, 2.0]" in params.iloc[0, 0]
    assert segments_for(catalog, face)["end_s"].tolist() == [2.0]


def test_only_the_newest_run_of_a_video_can_be_stale(catalog, feat_data: Path) -> None:
    video = _store(catalog, feat_data / "single_face.mp4", "P001")
    segment = segment_edits.add_segment(catalog, OPERATOR, video, 0.5, 1.5, "anhedonia")
    (first,) = submit_extraction(catalog, [video], "mediapipe", {}, OPERATOR)
    finish_queued_job(catalog, first, 169, 72)
    table = describe_jobs(catalog, job_status(catalog)).set_index("job_id")
    # The share beside the warning is the warning's own number.
    assert table.loc[first, "warning"] == "face in 42 % of frames" and table.loc[first, "face_share"] == "42 %"

    segment_edits.update_segment(
        catalog, OPERATOR, segment["segment_id"], expected_revision=segment["revision"], end_s=2.0
    )
    assert bool(describe_jobs(catalog, job_status(catalog)).set_index("job_id").loc[first, "stale"])
    (again,) = reextract(catalog, video, OPERATOR)
    # Queued, not finished: the old run is still the newest result, and still stale.
    assert bool(describe_jobs(catalog, job_status(catalog)).set_index("job_id").loc[first, "stale"])
    finish_queued_job(catalog, again, 240, 240)
    table = describe_jobs(catalog, job_status(catalog)).set_index("job_id")
    assert not table["stale"].any(), table[["status", "stale"]]
    assert stale_runs(catalog, [video]).empty
    assert table.loc[again, "face_share"] == "100 %" and pd.isna(table.loc[again, "warning"])
