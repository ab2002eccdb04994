"""Timeline: the video, AU traces, face rows and symptom segments on one time axis.

The synced timeline (:mod:`web.timeline_component`) plays the
video through the session-checked stream with a playhead over the traces;
I and O mark in and out while watching and Enter saves the segment. Where it
cannot load the Altair strip takes its place, with a one-line note saying why:
no video stream, the user turned it off, the timeline reported that the video
failed to load, or it reported nothing within
:data:`web.timeline_component.LOAD_TIMEOUT_S` (its script was blocked or
failed). On the strip, drag across it to select an interval (a brush that
Streamlit hands back to Python). Times can also be typed. Segments are stored through
:mod:`facs_core.services.segment_edits` (the acting user's permission, bounds,
overlaps, and a revision so two editors never overwrite each other).
"""

from __future__ import annotations

import math
import time

import pandas as pd
import streamlit as st

from facs_core.segments import segment_labels
from facs_core.services import access, playback, segment_edits, visibility
from facs_core.services.demo import SYNTHETIC_LABEL
from web import common, page_data, run_notices, strip, timeline_component
from web.auth import require, video_url

store = common.catalog()
user = require(store, "play_video")

st.title("Timeline")

patients = access.visible_patients(store, user)
visits = common.visits_table(store, patients)
if visits.empty:
    st.info(
        "No videos you may open yet. Upload an interview first (or load the demo data on the Home page).",
        icon=":material/info:",
    )
    st.stop()

ids = visits["video_id"].tolist()
wanted = st.query_params.get("video")
video_id = st.selectbox(
    "Visit",
    ids,
    index=ids.index(wanted) if wanted in ids else 0,
    key="tl_video",
    format_func=lambda v: common.visit_label(visits.set_index("video_id").loc[v].to_dict() | {"video_id": v}),
)
# The page is drawn into fixed slots, every run in this order, so that what one slot shows (the
# synced timeline with its load watcher, or the static strip; a notice or a banner) never moves
# what a later one draws. Streamlit places an element by its position: a segment editor that
# moved would be drawn anew next to its old copy, which the browser keeps until a run ends cleanly
# (a fragment's timer can keep it there for good), and the two would show different values.
notes_slot, player_slot, segments_slot = st.container(), st.container(), st.container()
with notes_slot:
    # A link to a video this user may not see reads as one to no video at all.
    common.unknown_visit_notice(
        wanted,
        ids,
        video_id,
        common.visit_label(visits.set_index("video_id").loc[video_id].to_dict() | {"video_id": video_id}),
        key="tl_unknown_link",
    )
st.query_params["video"] = video_id
visit = visits.set_index("video_id").loc[video_id]
source = visit["playback_path"] if pd.notna(visit["playback_path"]) else visit["stored_path"]
#: Whether this visit has a stored video file at all (a synthetic demo visit has AU series only).
has_video = bool(pd.notna(source) and source)
# Opening a visit views the patient's data (audited once per session and patient); "video played"
# is audited by the video route when it first serves this video's bytes to this session.
require(store, "view_patient", visit["patient_id"])
if has_video:
    require(store, "play_video", visit["patient_id"])
with notes_slot:
    common.synthetic_banner(int(bool(visit["synthetic"])), 1, where="on this page")
    common.damage_badge(visit)
    common.au_source_note(store, [video_id])
    run_notices.stale_notice(store, user, [video_id], key="tl")

version = page_data.store_version(store)
frames = page_data.frames_of_video(str(store.paths.root), version, video_id)
segments = visibility.segments_of_video(store, common.viewer(store), video_id)
duration = (
    float(visit["duration_s"])
    if pd.notna(visit["duration_s"])
    else (float(frames["timestamp"].max()) if not frames.empty else 0.0)
)

may_edit = access.allowed(user, "edit_segments")
presets = [label.label for label in segment_labels()]
fps = float(visit["fps"]) if pd.notna(visit["fps"]) and float(visit["fps"]) > 0 else None
# Streamed by the video route in byte ranges, for this session only
# (never st.video(path), which reads the whole file into memory).
url = video_url(store, video_id) if has_video else None

aus_available = [a for a in page_data.au_choices() if a in frames.columns]
pick, mode = player_slot.columns([3, 2], vertical_alignment="bottom")
chosen = pick.multiselect(
    "AUs on the timeline",
    aus_available,
    default=[a for a in ("AU12", "AU04") if a in aus_available] or aus_available[:2],
    key="tl_aus",
)
# Why the interactive timeline is not shown for this video (it failed or stayed silent), if so,
# and whether the video itself failed (then no other player is offered either).
fallbacks: dict[str, tuple[str, bool]] = st.session_state.setdefault("tl_fallback", {})
fallback = fallbacks.get(video_id) if url is not None else None
# Without a video stream there is nothing to play: the strip is the timeline.
static = (
    url is None
    or fallback is not None
    or mode.toggle(
        "Static strip instead of the player timeline",
        key="tl_static",
        help="For a browser where the interactive timeline does not load: Streamlit's own player, and a strip"
        " on which you drag to select an interval.",
    )
)
with player_slot:
    if frames.empty:
        st.caption("Not extracted yet: the timeline shows AU traces once extraction has run.")
        run_notices.extract_link(video_id)


def _show_stored(key: str, revision: int, start_s: float, end_s: float, label: str) -> None:
    """Put a segment's stored values into its editor's widgets; a save from there is based on ``revision``.

    Called before the widgets are drawn in a run, or as a button's callback
    (which runs before the page): the values are then what the browser shows,
    whatever it held before.
    """
    st.session_state[f"{key}_seen"] = int(revision)
    st.session_state[f"{key}_start"] = float(start_s)
    st.session_state[f"{key}_end"] = float(end_s)
    st.session_state[f"{key}_label"] = str(label)


def _saved(key: str, revision: int) -> None:
    """Note that this session stored ``revision`` of a segment: its editor shows the stored values next run."""
    st.session_state[f"{key}_seen"] = int(revision)
    st.session_state[f"{key}_saved"] = int(revision)


def _save_from_timeline(request: timeline_component.SaveRequest) -> None:
    """Store a segment marked on the timeline; the outcome goes back to the timeline and the page."""
    outcome = timeline_component.store_request(store, user, video_id, request)
    if outcome.saved:
        if request.segment_id is not None:
            # The editor below shows the revision this session just wrote, not a conflict.
            _saved(f"seg{request.segment_id}", int(outcome.segment["revision"]))
        st.session_state["tl_saved"] = request.nonce
        st.session_state["tl_notice"] = outcome.message
    else:
        message = common.visible_text(store, outcome.message)
        st.session_state["tl_error"] = {"nonce": request.nonce, "message": message}
        st.session_state["tl_problem"] = message
    st.rerun()


@st.fragment(run_every=2)
def _watch_loading(video_id: str, since: float) -> None:
    """Switch to the static strip when the timeline has said nothing for :data:`LOAD_TIMEOUT_S` seconds.

    Drawn only while the timeline has not reported: its report reruns the page,
    which then no longer draws this. A blocked or failing script reports
    nothing, so only the server's clock can tell.
    """
    if time.monotonic() - since >= timeline_component.LOAD_TIMEOUT_S:
        fallbacks[video_id] = (
            f"the interactive timeline did not load within {timeline_component.LOAD_TIMEOUT_S:.0f} s"
            " (its script was blocked or failed in this browser)",
            False,
        )
        st.rerun(scope="app")


with player_slot:
    if url is not None and not static:
        # Taken only once the timeline has been drawn with it: a run stopped early (a newer event
        # from the browser) leaves it for the next.
        play = st.session_state.get("tl_play_request")
        player_key = f"tl_player_{video_id}"
        data = timeline_component.component_data(
            src=url,
            duration=duration,
            fps=fps,
            frames=frames,
            aus=chosen,
            segments=segments,
            labels=presets,
            may_edit=may_edit,
            play=play if play and play.get("video") == video_id else None,
            saved=st.session_state.get("tl_saved"),
            error=st.session_state.get("tl_error"),
            reported=timeline_component.reported_status(player_key),
            window=timeline_component.reported_window(player_key),
            # In and out snap to the stored video's own frames (variable-frame-rate included); where the
            # browser plays a constant-rate copy, its frames are mapped onto those one for one.
            frame_times=playback.frame_times(store, video_id, frames),
            media_times=playback.playback_frame_times(store, video_id),
        )
        events = timeline_component.synced_timeline(data, key=player_key)
        if play is not None:
            st.session_state.pop("tl_play_request", None)
        reason = timeline_component.fallback_reason(events.status)
        if reason is not None:
            fallbacks[video_id] = (reason, True)
            st.rerun()
        if events.status is None:
            # Every full run restarts the clock: the timeline is drawn anew and has that long to answer.
            _watch_loading(video_id, time.monotonic())
        if events.request is not None and may_edit:
            _save_from_timeline(events.request)
    else:
        if fallback is not None:
            st.warning(
                f"Showing the static strip: {fallback[0]}. Drag across the strip or type the times below to mark"
                " a segment.",
                icon=":material/warning:",
            )
            if st.button("Try the interactive timeline again", key="tl_retry", icon=":material/refresh:"):
                fallbacks.pop(video_id, None)
                st.rerun()
        video_failed = fallback is not None and fallback[1]
        if video_failed:
            pass  # the warning above says why there is no player
        elif url is not None:
            play_from = st.session_state.get("tl_play_from", {}).get(video_id)
            # Streamlit's player counts whole seconds of the file it plays (a playback copy has its own
            # clock): from the second the segment starts in to the one after it ends.
            st.video(
                url,
                start_time=math.floor(playback.playback_time(store, video_id, play_from[0], frames))
                if play_from
                else 0,
                end_time=math.ceil(playback.playback_time(store, video_id, play_from[1], frames))
                if play_from
                else None,
                width=640,
            )
        elif has_video:
            st.info("The player needs a signed-in browser session.", icon=":material/videocam_off:")
        else:
            st.info(
                f"This visit has no video ({SYNTHETIC_LABEL} data): it has AU series only, so nothing can be played."
                + (" Mark segments by typing their times below, or drag across the strip." if may_edit else ""),
                icon=":material/videocam_off:",
            )
        if duration > 0:
            chart = strip.strip_chart(frames, chosen, segments, duration)
            event = st.altair_chart(chart, on_select="rerun", key="timeline", width="stretch", height=380)
            brushed = common.selection_interval(event, "seg", "timestamp")
            if brushed and brushed != st.session_state.get("tl_last_brush"):
                # A new drag on the strip fills the "new segment" fields.
                st.session_state["tl_last_brush"] = brushed
                st.session_state["tl_start"] = round(max(0.0, brushed[0]), 2)
                st.session_state["tl_end"] = round(min(duration, brushed[1]), 2)
            st.caption("Drag across the strip to select an interval; it fills the start and end of a new segment.")
    # The traces' empty stretches (no AU chosen, no face) said in words, under the timeline or the strip.
    for note in strip.strip_notes(frames, chosen):
        st.caption(f":material/info: {note}")


with segments_slot:
    st.subheader("Symptom segments")
    if may_edit:
        with st.form("new_segment", border=True):
            a, b, c, d = st.columns([1, 1, 2, 2])
            # No min/max on the widgets: the browser would keep the last valid value without a word; an
            # out-of-range time reaches the server and gets a message naming it, as the segment editors do.
            start = a.number_input("Start (s)", step=0.5, key="tl_start")
            end = b.number_input("End (s)", step=0.5, key="tl_end")
            preset = c.selectbox("Label", [*presets, "other (type below)"], key="tl_label")
            free = d.text_input("Free label", key="tl_free_label", placeholder="used when the label is 'other'")
            st.caption(
                "Or type the times here (on the player timeline: I and O set in and out at the playhead, Enter saves)."
                if url is not None and not static
                else "Type the start and end times here."
            )
            if st.form_submit_button("Add segment", icon=":material/add:", type="primary"):
                with common.friendly_errors():
                    label = free if preset == "other (type below)" else preset
                    added = segment_edits.add_segment(store, user, video_id, start, end, label)
                    st.session_state["tl_notice"] = (
                        f"Segment \u201c{added['label']}\u201d added"
                        f" ({strip.span_label(added['start_s'], added['end_s'])})."
                    )
                    st.rerun()

    # What became of the last action, in a slot of its own: the editors below stay where they are.
    with st.container():
        notice = st.session_state.pop("tl_notice", None)
        if notice:
            st.success(notice, icon=":material/check_circle:")
        problem = st.session_state.pop("tl_problem", None)
        if problem:
            st.error(f"Segment not saved: {problem}", icon=":material/error:")
        if segments.empty:
            st.caption("No segments yet: extraction will cover the whole video.")

    for seg in segments.itertuples(index=False):
        with st.container(border=True):
            cols = st.columns([1, 1, 2, 1, 1, 1])
            key = f"seg{seg.segment_id}"
            stored = (int(seg.revision), float(seg.start_s), float(seg.end_s), str(seg.label))
            # The revision whose values this editor shows, and on which a save is based; it lives in
            # the session, not in the widgets' keys, so the widgets stay the same elements in the
            # same places whatever the revision (a new key would be a new element, drawn while the
            # browser still shows the old one). Reload writes the stored values into the widgets.
            seen = st.session_state.get(f"{key}_seen")
            if (
                seen is None
                or f"{key}_start" not in st.session_state
                or st.session_state.pop(f"{key}_saved", None) == int(seg.revision)
            ):
                # First draw, Streamlit dropped the widgets after the page was left, or this session
                # has just stored this revision (shown as stored).
                _show_stored(key, *stored)
                seen = int(seg.revision)
            if seen != int(seg.revision):
                st.warning(
                    f"Segment {seg.segment_id} was changed by {seg.author or 'someone'} since you opened it;"
                    " saving your values is refused until you reload it.",
                    icon=":material/sync_problem:",
                )
                st.button(
                    "Reload this segment",
                    key=f"{key}_reload",
                    icon=":material/refresh:",
                    on_click=_show_stored,
                    args=(key, *stored),
                )
            new_start = cols[0].number_input(
                "Start (s)", min_value=0.0, step=0.5, key=f"{key}_start", disabled=not may_edit
            )
            new_end = cols[1].number_input("End (s)", min_value=0.0, step=0.5, key=f"{key}_end", disabled=not may_edit)
            new_label = cols[2].text_input("Label", key=f"{key}_label", disabled=not may_edit)
            # Without a video file there is nothing to play.
            if has_video and cols[3].button("Play", key=f"{key}_play", icon=":material/play_arrow:"):
                # The timeline plays exactly that passage (first to last frame); the fallback player gets the times.
                st.session_state["tl_play_request"] = {
                    "video": video_id,
                    "start": float(seg.start_s),
                    "end": float(seg.end_s),
                    "nonce": f"{seg.segment_id}-{time.monotonic_ns()}",
                }
                st.session_state.setdefault("tl_play_from", {})[video_id] = (float(seg.start_s), float(seg.end_s))
                st.rerun()
            if may_edit and cols[4].button("Save", key=f"{key}_save", icon=":material/save:"):
                with common.friendly_errors():
                    saved = segment_edits.update_segment(
                        store,
                        user,
                        int(seg.segment_id),
                        expected_revision=seen,
                        start_s=new_start,
                        end_s=new_end,
                        label=new_label,
                    )
                    _saved(key, int(saved["revision"]))
                    st.session_state["tl_notice"] = f"Segment {seg.segment_id} saved."
                    st.rerun()
            if may_edit and cols[5].button("Delete", key=f"{key}_delete", icon=":material/delete:"):
                with common.friendly_errors():
                    segment_edits.delete_segment(store, user, int(seg.segment_id), expected_revision=seen)
                    st.session_state["tl_notice"] = f"Segment {seg.segment_id} deleted."
                    st.rerun()

if not frames.empty:
    common.page_link("pages/patient.py", label="Open the patient profile", icon=":material/person:")
