"""Notices about extraction runs on the pages that show their results: stale runs, links to extract a video.

A run that analysed only the frames inside a video's segments is stale once
those segments are edited (:func:`facs_core.services.run_report.stale_runs`).
The Timeline, Patient and Cohort pages say so where its numbers are shown,
with a one-click re-extraction for whoever may run extraction on the video.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from facs_core.services import access, jobs, run_report
from facs_core.services.access import User
from store import Catalog
from web import background, common, formatting
from web.auth import touch

__all__ = ["extract_link", "job_status_label", "stale_notice"]

EXTRACTION_PAGE = "pages/extraction.py"


def extract_link(video_id: str, label: str = "Extract this video") -> None:
    """A link to the Extraction page with ``video_id`` chosen there (``?video=...``)."""
    common.page_link(EXTRACTION_PAGE, label=label, icon=":material/memory:", query_params={"video": video_id})


def job_status_label(status: str, warning: object, with_warning: bool = False) -> str:
    """A job's status as every page words it: ``"done with a warning"`` when its run has a face warning.

    ``warning`` is :func:`facs_core.services.run_report.describe_jobs`' column
    (``"no face found"``, ``"face in 42 % of frames"``, else missing). The
    Extraction page shows the warning as a badge beside the status; with
    ``with_warning`` it follows the status, ``"done with a warning · no face found"``
    (one table cell, on Home).
    """
    if not (isinstance(warning, str) and warning):
        return str(status)
    return f"done with a warning · {warning}" if with_warning else "done with a warning"


def _reextract(store: Catalog, user: User, video_ids: Sequence[str]) -> None:
    touch()
    with common.friendly_errors():
        queued = [job for video_id in video_ids for job in jobs.reextract(store, video_id, user)]
        background.start_background_work(store)
        st.session_state["stale_notice_queued"] = len(queued)


def stale_notice(store: Catalog, user: User, video_ids: Sequence[str], key: str) -> None:
    """A warning for each of ``video_ids`` (visible to ``user``) whose newest run is stale; nothing otherwise.

    One video: its line and a "Re-extract" button. Several (the Cohort page):
    one line with their count and one button for all. The button appears only
    where ``user``'s role may run extraction; others are told who can.
    """
    queued = st.session_state.pop("stale_notice_queued", None)
    if queued:
        them = "it" if queued == 1 else "them"
        st.success(
            f"{formatting.count(queued, 'extraction job')} queued with the current segments; follow {them} on the"
            " Extraction page.",
            icon=":material/check_circle:",
        )
    stale = run_report.stale_runs(store, list(video_ids))
    if stale.empty:
        return
    pending = stale[stale["pending"]]
    if not pending.empty:
        which = f"video {pending['video_id'].iloc[0]}" if len(pending) == 1 else formatting.count(len(pending), "visit")
        st.info(
            f"**Being extracted again** with the current segments: {which}. The values shown here come from the"
            " old segments until that finishes (follow it on the Extraction page).",
            icon=":material/hourglass_top:",
        )
    stale = stale[~stale["pending"]]
    if stale.empty:
        return
    if len(stale) == 1:
        row = stale.iloc[0]
        now = f"{row['now']} now" if row["now"] else "none now (the whole video)"
        text = (
            f"**Stale results** for video {row['video_id']}: its segments were edited after extraction"
            f" ({row['analysed']} analysed, {now}). AU values shown here still come from the old segments."
        )
    else:
        text = (
            f"**Stale results** for {len(stale)} visits: their segments were edited after extraction, so their"
            " AU values still come from the old segments."
        )
    may_extract = access.allowed(user, "run_extraction")
    if not may_extract:
        text += " A clinician assigned to the patient can extract it again from the Extraction page."
    with st.container(border=True):
        st.warning(text, icon=":material/update:")
        if may_extract:
            label = "Re-extract with the current segments" if len(stale) == 1 else f"Re-extract all {len(stale)}"
            st.button(
                label,
                key=f"{key}_reextract",
                icon=":material/refresh:",
                on_click=_reextract,
                args=(store, user, stale["video_id"].tolist()),
            )
