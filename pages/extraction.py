"""Extraction: queue AU extraction of videos and follow every job live.

Jobs live in the catalog and are driven by the app process's background
runner (:class:`facs_core.services.jobs.JobRunner`), so the page never waits, survives a
browser reload and shows jobs started in other sessions or from the command
line. The job list refreshes itself every two seconds (``st.fragment``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facs_core.backend_status import backend_statuses
from facs_core.services import access, jobs, run_report, visibility
from facs_core.services.access import PermissionDenied
from web import background, common, run_notices
from web.auth import recheck, require, touch

store = common.catalog()
user = require(store, "run_extraction")

st.title("Extraction")
st.caption("Action Units are extracted on this server in the background; you can leave this page at any time.")

with st.expander("Backends on this server", expanded=False, icon=":material/memory:"):
    for status in backend_statuses():
        if status.ready:
            st.markdown(f":green[**{status.backend}** · ready] · {status.detail}")
        else:
            st.markdown(f":orange[**{status.backend}** · not ready] · {status.detail}")
            st.caption(f"To make {status.backend} ready: {status.how}")

patients = access.visible_patients(store, user)
visits = common.visits_table(store, patients)
extractable = visits[visits["stored_path"].notna()]

# Jobs are named by their visit (patient, date) as every page names a visit, for the visits this user may see.
visit_names = common.visit_labels(visits)
labels = {video_id: visit_names[video_id] for video_id in extractable["video_id"]}
# "Extract this video" links (Timeline, Upload, stale notices) open the page with ?video=...: that video is chosen.
wanted = st.query_params.get("video")
if wanted in labels and st.session_state.get("ex_opened_for") != wanted:
    st.session_state["ex_opened_for"] = wanted
    st.session_state["ex_videos"] = [wanted]

if st.session_state.pop("ex_clear", False):
    # Jobs were just queued: the form starts empty, so a second click cannot queue them again.
    st.session_state["ex_videos"] = []

with st.form("extract_form", border=True):
    chosen = st.multiselect(
        "Videos",
        list(labels),
        format_func=labels.get,
        key="ex_videos",
        default=None
        if "ex_videos" in st.session_state
        else [v for v in st.session_state.get("uploaded_videos", []) if v in labels],
    )
    left, right = st.columns(2)
    # Only a backend ready on this server is offered; a job with another would fetch models from outside or fail.
    backends, refused = jobs.queueable_backends()
    backend = left.selectbox(
        "Backend",
        backends,
        index=backends.index("mediapipe") if "mediapipe" in backends else 0,
        key="ex_backend",
        help="mediapipe runs offline with its pinned model; pyfeat (the study's toolbox) needs its weights"
        " imported (see 'Backends on this server').",
    )
    for name, why in refused.items():
        left.caption(f"{name} is not offered: {why}.")
    every = right.number_input("Analyse every n-th frame", min_value=1, max_value=30, value=1, step=1, key="ex_every")
    if chosen:
        # Said before the job starts: segments limit the frames analysed.
        scopes = run_report.planned_scope(store, chosen, int(st.session_state.get("ex_every", 1)))
        st.caption(
            "Will analyse: "
            + "; ".join(f"video {video_id}: {scopes.get(video_id, 'whole video')}" for video_id in chosen)
            + ". Marked segments limit extraction to their frames; a video without segments is analysed whole."
        )
    start = st.form_submit_button("Start extraction", type="primary", icon=":material/play_arrow:")
if extractable.empty:
    st.caption("No stored videos you may extract yet (synthetic demo visits have AU series but no video).")

if start:
    with common.friendly_errors():
        if not chosen:
            st.error("Choose at least one video.", icon=":material/error:")
        elif backend is None:
            st.error("No backend is ready on this server; see 'Backends on this server'.", icon=":material/error:")
        else:
            submission = jobs.submit_jobs(store, chosen, backend, {"every": int(every)}, user)
            background.start_background_work(store)
            st.session_state["ex_queued"] = (submission.summary(), submission.queued > 0)
            st.session_state["ex_clear"] = True
    if st.session_state.get("ex_clear"):
        st.rerun()
queued = st.session_state.pop("ex_queued", None)
if queued:
    summary, any_new = queued
    if any_new:
        st.success(summary, icon=":material/check_circle:")
    else:
        st.info(summary, icon=":material/info:")

visible_videos = set(visits["video_id"])


@st.fragment(run_every=2)
def job_list() -> None:
    """Every job on the visible videos, refreshed every 2 s without rerunning the page.

    Each refresh re-reads the session and the account first (:func:`recheck`):
    a timed-out or disabled user's next tick or click signs them out, and the
    job calls check the acting user again themselves.
    """
    actor = recheck(store, "run_extraction")
    try:
        viewer = common.viewer(store)
    except PermissionDenied as exc:
        st.error(str(exc), icon=":material/block:")
        return
    table = visibility.visible_jobs(store, viewer, jobs.job_status(store))
    table = table[table["video_id"].isin(visible_videos)]
    # Everything the list shows is read before anything is drawn, and the header counts the rows drawn:
    # while a refresh is under way the browser must not pair a new count with the previous rows.
    table = run_report.describe_jobs(store, table.head(50))
    st.subheader("Jobs")
    if table.empty:
        st.caption("No extraction jobs yet.")
        return
    active = int(table["status"].isin(["queued", "running"]).sum())
    st.caption(f"{active} queued or running · refreshed every 2 s")
    for job in table.itertuples(index=False):
        with st.container(border=True):
            left, right = st.columns([4, 1])
            progress = 1.0 if job.status == "done" else float(job.progress or 0.0)
            warning = job.warning if isinstance(job.warning, str) else None
            status = run_notices.job_status_label(job.status, warning)
            analyses = f" · {job.analyses}" if isinstance(job.analyses, str) else ""
            # A job without a message has None, NaN once pandas fills the column beside one that has: no "nan".
            has_message = isinstance(job.message, str) and job.message
            running = f" · {job.message}" if job.status in ("queued", "running") and has_message else ""
            left.progress(
                min(max(progress, 0.0), 1.0),
                text=f"{status} · {common.job_visit(visit_names, job.video_id)} · {job.backend}{analyses}{running}",
            )
            if warning:
                left.badge(warning, icon=":material/warning:", color="orange")
            if job.stale:
                left.badge("stale: segments edited since this run", icon=":material/update:", color="violet")
            if job.status == "failed" and job.error:
                left.error(f"Failed: {job.error}", icon=":material/error:")
            if job.status == "done" and pd.notna(job.n_frames):
                face = int(job.n_face_frames or 0)
                # The job's own line repeats scope and warning (for the command line); only a damage note is added.
                damage = [part for part in str(job.message or "").split("; ") if part.startswith("damaged")]
                left.caption(
                    f"{int(job.n_frames)} frames analysed, {face} with a face (the patient's, {job.face_share})."
                    + "".join(f" {d[:1].upper()}{d[1:]}." for d in damage)
                )
            if job.stale and right.button("Re-extract", key=f"reextract_{job.job_id}", icon=":material/refresh:"):
                touch()
                with common.friendly_errors():
                    jobs.reextract(store, job.video_id, actor)
                    background.start_background_work(store)
                    st.toast(f"{common.job_visit(visit_names, job.video_id)}: queued again with its current segments")
            if job.status in ("queued", "running") and right.button(
                "Cancel", key=f"cancel_{job.job_id}", icon=":material/stop:"
            ):
                touch()
                with common.friendly_errors():
                    st.toast(f"Job {job.job_id}: {jobs.cancel_job(store, job.job_id, actor)}")
            if job.status in ("failed", "cancelled") and right.button(
                "Retry", key=f"retry_{job.job_id}", icon=":material/refresh:"
            ):
                touch()
                with common.friendly_errors():
                    jobs.retry_job(store, job.job_id, actor)
                    background.start_background_work(store)
                    st.toast(f"Job {job.job_id} queued again")


job_list()
