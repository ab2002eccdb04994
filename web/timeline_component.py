"""The synced timeline: video, playhead, AU traces, face rows and labelled segments on one time axis.

A Streamlit ``st.components.v2`` component (no build step). Its HTML, CSS and
JavaScript are the files in ``timeline_component/`` next to this module; the
JavaScript and CSS are served by Streamlit from this origin
(``/_stcore/bidi-components/facs.timeline/...``), never inlined: an inline
module would be loaded from a ``blob:`` URL, which the deployment's
Content-Security-Policy (``script-src 'self'``) refuses.

In the browser: click or drag on the traces to seek; keys I and O (or the
buttons) set in and out at the playhead, snapped to the frame on screen (by
the real frame times of the stored video,
:func:`facs_core.services.playback.frame_times`, so a variable-frame-rate
video snaps to its own frames; without them every ``1 / fps``). Where the
browser plays a constant-rate playback copy, the player's time is turned into
the stored video's frame by frame (``media_runs``), so the axis, the marks and
a played segment's ends keep the stored video's clock;
Enter saves. Saving sends one request back to Python (:func:`synced_timeline`
returns it), which the page stores through
:mod:`facs_core.services.segment_edits`. A segment's Play button (or a play
request from the page) seeks to its first frame, plays, and pauses on its last
frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from facs_core.errors import FacsError, InputError
from facs_core.services import segment_edits
from facs_core.services.access import User
from store.catalog import Catalog
from web import strip

__all__ = [
    "ASSET_DIR",
    "LOAD_TIMEOUT_S",
    "NAME",
    "READY",
    "SaveOutcome",
    "SaveRequest",
    "TimelineEvents",
    "component_data",
    "fallback_reason",
    "frame_runs",
    "reported_status",
    "reported_window",
    "store_request",
    "synced_timeline",
]

#: The component's files (HTML, CSS, JavaScript), shipped as package data.
ASSET_DIR = Path(__file__).with_name("timeline_component")
#: Registered name: ``<project>.<component>``, as Streamlit names installed components.
NAME = "facs.timeline"
#: Most points per AU trace sent to the browser.
MAX_POINTS = 6000
#: Seconds the page waits for the timeline to report that it works (its script ran and the
#: video's metadata loaded) before it shows the static strip instead.
LOAD_TIMEOUT_S = 20.0
#: How far (s) a frame time sent to the browser may be from the true one (:func:`frame_runs`).
FRAME_TOLERANCE_S = 1e-3
#: The status the browser reports when the timeline works.
READY = "ready"
_FAILURES = {
    "video-error": "the player could not reach the video stream",
    "video-refused": "the server refused the video stream (sign in again or reload the page)",
    "video-unsupported": "this browser cannot play the video's format",
}


@dataclass(frozen=True)
class SaveRequest:
    """A segment the user asked to save from the timeline (Enter or the Save button).

    ``segment_id`` and ``revision`` are set when an existing segment was
    selected and changed; ``nonce`` identifies the request so the browser can
    tell when it has been stored.
    """

    start_s: float
    end_s: float
    label: str
    segment_id: int | None
    revision: int | None
    nonce: str


@dataclass(frozen=True)
class SaveOutcome:
    """What became of a :class:`SaveRequest`: ``message`` is the line to show either way."""

    saved: bool
    message: str
    segment: dict[str, Any] | None = None


def store_request(catalog: Catalog, user: User, video_id: str, request: SaveRequest) -> SaveOutcome:
    """Store a segment marked on the timeline as ``user``, through :mod:`facs_core.services.segment_edits`.

    A new segment is added; a selected one is updated only if it is still at
    the revision the timeline showed. A refusal (no permission, bad times or
    label, an overlap, a stale revision) changes nothing and comes back as
    its one-line reason.
    """
    try:
        if request.segment_id is None:
            segment = segment_edits.add_segment(catalog, user, video_id, request.start_s, request.end_s, request.label)
            verb = "added"
        else:
            if request.revision is None:
                raise InputError(f"segment {request.segment_id}: the timeline did not say which revision it showed")
            segment = segment_edits.update_segment(
                catalog,
                user,
                request.segment_id,
                expected_revision=request.revision,
                start_s=request.start_s,
                end_s=request.end_s,
                label=request.label,
            )
            verb = "saved"
    except FacsError as exc:
        return SaveOutcome(False, str(exc))
    span = strip.span_label(segment["start_s"], segment["end_s"])
    # Named as the clinician knows it (its label and times), never by the catalog's row number.
    return SaveOutcome(True, f"Segment \u201c{segment['label']}\u201d {verb} ({span}).", segment)


@dataclass(frozen=True)
class TimelineEvents:
    """What the timeline sent back in this run.

    ``request`` is a save request (once per Enter or Save); ``status`` is
    :data:`READY` once the script runs and the video's metadata loaded, a
    failure name when the video could not be loaded, None until it says
    anything (its script may be blocked: :data:`LOAD_TIMEOUT_S`).
    """

    request: SaveRequest | None
    status: str | None


def fallback_reason(status: str | None) -> str | None:
    """Why the page must show the static strip for this reported status; None when the timeline works or is silent."""
    if status is None or status == READY:
        return None
    return _FAILURES.get(status, "the interactive timeline reported a problem")


def _state(key: str, name: str) -> Any:
    state = st.session_state.get(key)
    return state.get(name) if isinstance(state, Mapping) else None


def reported_status(key: str) -> str | None:
    """The status the timeline drawn with ``key`` reported in an earlier run (read before drawing it again)."""
    status = _state(key, "status")
    return status if isinstance(status, str) else None


def reported_window(key: str) -> tuple[float, float] | None:
    """The window ``(from, to)`` in seconds the timeline drawn with ``key`` is zoomed to; None for the whole video."""
    view = _state(key, "view")
    try:
        start, end = (float(v) for v in view)
    except (TypeError, ValueError):
        return None
    return (start, end) if np.isfinite(start) and np.isfinite(end) and end > start else None


def _register() -> Any:
    """The mount function, with the asset folder registered on this server's component manager.

    Streamlit finds the asset folders of components in installed packages
    through their ``pyproject.toml``; this project is an application, so the
    folder is registered here, once per server (and per AppTest runtime).
    """
    from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager
    from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

    manager = get_bidi_component_manager()
    if manager.get_component_asset_root(NAME) is None:
        project, name = NAME.split(".")
        manifest = ComponentManifest(
            name=project, version="1", components=[ComponentConfig(name=name, asset_dir=ASSET_DIR.name)]
        )
        manager.register_from_manifest(manifest, ASSET_DIR.parent)
    html = (ASSET_DIR / "timeline.html").read_text(encoding="utf-8")
    # isolate_styles=False: the <video> sits in the page's own DOM, where tests and
    # assistive technology find it; the CSS is scoped under .facs-tl instead.
    return st.components.v2.component(NAME, html=html, css="timeline.css", js="timeline.js", isolate_styles=False)


def _finite(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]


def component_data(
    *,
    src: str | None,
    duration: float,
    fps: float | None,
    frames: pd.DataFrame,
    aus: Sequence[str],
    segments: pd.DataFrame,
    labels: Sequence[str],
    may_edit: bool,
    play: dict[str, Any] | None = None,
    saved: str | None = None,
    error: dict[str, str] | None = None,
    reported: str | None = None,
    window: tuple[float, float] | None = None,
    frame_times: np.ndarray | None = None,
    media_times: np.ndarray | None = None,
) -> dict[str, Any]:
    """The JSON the component draws: traces binned to :data:`MAX_POINTS`, face rows, segments.

    Where no frame was analysed (between the segments of a segment-only run,
    missing frames) the traces hold a null, so their lines break, and
    ``rows["unanalysed"]`` holds that time, drawn as "not analysed".

    Zoomed in (``window``), the frames of that window go too as ``detail``:
    every frame while there are at most :data:`MAX_POINTS` of them, so a
    short window shows each frame however long the video is.

    Parameters
    ----------
    src : str or None
        The video's session-checked URL (:func:`web.auth.video_url`); None draws no player.
    duration, fps : float
        The video's length (seconds) and frame rate (None when unknown: no snapping to frames).
    frames : DataFrame
        The per-frame table (may be empty: not extracted yet).
    aus : sequence of str
        AU columns drawn as traces.
    segments : DataFrame
        ``segment_id, start_s, end_s, label, revision``.
    labels : sequence of str
        Label suggestions for a new segment.
    may_edit : bool
        Whether in/out and saving are offered.
    play : dict, optional
        ``{"start": s, "end": s, "nonce": str}``: play this passage (once per nonce).
    saved : str, optional
        Nonce of the last save request that was stored (the browser then clears its in/out).
    error : dict, optional
        ``{"nonce": str, "message": str}``: why that save request was refused.
    reported : str, optional
        The status the page has received (:attr:`TimelineEvents.status`): the
        browser repeats its status until the page has seen it.
    window : tuple of float, optional
        ``(from, to)`` seconds the timeline is zoomed to (:func:`reported_window`).
    frame_times : ndarray, optional
        When each frame of the played file is shown
        (:func:`facs_core.services.playback.frame_times`): in and out points
        and frame steps snap to these, sent as runs of even spacing
        (:func:`frame_runs`). None: frames every ``1 / fps``.
    media_times : ndarray, optional
        When the same frames show in the file the browser plays, where that
        is a playback copy (:func:`facs_core.services.playback.playback_frame_times`):
        sent as ``media_runs``, by which the browser turns the player's time
        into the stored video's and back, so in and out points and a played
        segment's ends are the stored video's frame times. Paired frame by
        frame with ``frame_times`` (a copy cut short pairs its frames only).
    """
    traces: dict[str, Any] = {"t": [], "aus": {}}
    detail: dict[str, Any] | None = None
    rows: dict[str, list[list[float]]] = {"face": [], "other": [], "none": [], "unanalysed": []}
    if not frames.empty:
        columns = [a for a in aus if a in frames.columns]
        traces = _traces(frames, columns)
        if window is not None:
            inside = _traces(_frames_around(frames, window), columns)
            detail = {"from": float(window[0]), "to": float(window[1]), **inside}
        kinds = {
            strip.PRESENT_LABEL: "face",
            strip.MISSING_LABELS["other_face"]: "other",
            strip.MISSING_LABELS["no_face"]: "none",
        }
        for span in strip.face_spans(frames).itertuples(index=False):
            rows[kinds[span.status]].append([round(float(span.start_s), 4), round(float(span.end_s), 4)])
        # Time no frame was analysed in: drawn as "not analysed", never as a face state.
        for span in strip.unanalysed_spans(frames, float(duration)).itertuples(index=False):
            rows["unanalysed"].append([round(float(span.start_s), 4), round(float(span.end_s), 4)])
    return {
        "src": src,
        "duration": float(duration),
        "fps": float(fps) if fps and np.isfinite(fps) and fps > 0 else None,
        "traces": traces,
        "rows": rows,
        "segments": [
            {
                "id": int(s.segment_id),
                "start": float(s.start_s),
                "end": float(s.end_s),
                "label": str(s.label),
                "revision": int(s.revision),
                "span": strip.span_label(s.start_s, s.end_s),
            }
            for s in segments.itertuples(index=False)
        ],
        "labels": list(labels),
        "may_edit": bool(may_edit),
        "play": play,
        "saved": saved,
        "error": error,
        "reported": reported,
        "window": [float(window[0]), float(window[1])] if window is not None else None,
        "frame_runs": frame_runs(frame_times) if frame_times is not None and len(frame_times) else None,
        "media_runs": _media_runs(frame_times, media_times),
        "detail": detail,
    }


def frame_runs(times: np.ndarray, tolerance_s: float = FRAME_TOLERANCE_S) -> list[list[float]]:
    """Frame times as runs ``[first, step, count]``: frame ``i`` of a run is shown at ``first + i * step``.

    Each run is the longest stretch whose frames all lie within
    ``tolerance_s`` of the line through its first and last frame, so a
    constant-rate video is one run however long (even with decoder times
    rounded to the millisecond), and a variable-rate one as many runs as its
    spacing changes.
    """
    times = np.asarray(times, dtype=float)
    runs: list[list[float]] = []

    def fits(first: int, last: int) -> bool:
        span = times[first : last + 1]
        line = times[first] + (times[last] - times[first]) * np.arange(len(span)) / max(1, last - first)
        return bool(np.max(np.abs(span - line)) <= tolerance_s)

    i = 0
    while i < len(times):
        # Gallop to a stretch that no longer fits, then bisect for the last frame that does.
        good, size = min(i + 1, len(times) - 1), 2
        while good + 1 < len(times) and fits(i, min(len(times) - 1, i + size)):
            good = min(len(times) - 1, i + size)
            size *= 2
        bad = min(len(times) - 1, i + size)
        if bad > good and not fits(i, bad):
            while bad - good > 1:
                mid = (good + bad) // 2
                if fits(i, mid):
                    good = mid
                else:
                    bad = mid
        else:
            good = max(good, bad)
        count = good - i + 1
        step = (times[good] - times[i]) / (count - 1) if count > 1 else 0.0
        runs.append([round(float(times[i]), 6), round(float(step), 9), count])
        i = good + 1
    return runs


def _media_runs(frame_times: np.ndarray | None, media_times: np.ndarray | None) -> list[list[float]] | None:
    """The played copy's frame times as runs, one per frame of ``frame_times`` as far as both go; None if no copy."""
    if frame_times is None or media_times is None or not len(frame_times) or not len(media_times):
        return None
    return frame_runs(np.asarray(media_times, dtype=float)[: len(frame_times)])


def _traces(frames: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    binned = strip.downsample(frames, columns, MAX_POINTS)
    return {
        "t": _finite(binned["timestamp"].to_numpy(float)),
        "aus": {a: _finite(binned[a].to_numpy(float)) for a in columns},
    }


def _frames_around(frames: pd.DataFrame, window: tuple[float, float]) -> pd.DataFrame:
    """The frames inside ``window`` and one either side of it (so traces run to its edges)."""
    ordered = frames.sort_values("timestamp", kind="stable")
    times = ordered["timestamp"].to_numpy(float)
    first = max(0, int(np.searchsorted(times, window[0], "left")) - 1)
    stop = min(len(times), int(np.searchsorted(times, window[1], "right")) + 1)
    return ordered.iloc[first:stop]


def synced_timeline(data: dict[str, Any], *, key: str) -> TimelineEvents:
    """Draw the timeline for ``data`` (:func:`component_data`); what it sent back in this run."""
    mount = _register()
    result = mount(
        key=key,
        data=data,
        on_save_change=lambda: None,
        on_status_change=lambda: None,
        on_view_change=lambda: None,
        height="content",
    )
    status = getattr(result, "status", None)
    return TimelineEvents(_save_request(getattr(result, "save", None)), status if isinstance(status, str) else None)


def _save_request(request: Any) -> SaveRequest | None:
    if not isinstance(request, dict):
        return None
    try:
        return SaveRequest(
            start_s=float(request["start"]),
            end_s=float(request["end"]),
            label=str(request.get("label") or "").strip(),
            segment_id=int(request["segment_id"]) if request.get("segment_id") is not None else None,
            revision=int(request["revision"]) if request.get("revision") is not None else None,
            nonce=str(request.get("nonce") or ""),
        )
    except (KeyError, TypeError, ValueError):
        # A malformed message is not a segment; the page shows nothing was saved.
        return None
