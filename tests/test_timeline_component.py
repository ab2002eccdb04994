"""The synced timeline's server side: its files are served from this origin, what it draws, how a save is stored.

The browser side (marking while watching, playing a segment to its last
frame) is in ``tests/test_timeline_browser.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from facs_core.services.access import LocalOperator, User
from facs_core.services.ingest import ingest_video
from store import users
from store.catalog import Catalog
from store.segment_rows import segments_for
from web import timeline_component
from web.strip import span_label
from web.timeline_component import SaveRequest, component_data, store_request

PASSWORD = "correct-horse-battery"


def _mounted() -> None:
    import pandas as pd
    import streamlit as st
    from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager

    from web import timeline_component as tc

    data = tc.component_data(
        src=None,
        duration=2.0,
        fps=10.0,
        frames=pd.DataFrame(),
        aus=[],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=["anhedonia"],
        may_edit=True,
    )
    st.session_state["events"] = tc.synced_timeline(data, key="timeline")
    manager = get_bidi_component_manager()
    definition = manager.get(tc.NAME)
    st.session_state["served"] = (definition.js_url, definition.css_url, manager.get_component_path(tc.NAME))
    st.session_state["html"] = definition.html


def test_the_script_and_style_are_files_served_from_this_origin_not_inline() -> None:
    # An inline module would load from a blob: URL, which the deployment's CSP refuses.
    at = AppTest.from_function(_mounted).run()
    assert not at.exception
    js, css, root = at.session_state["served"]
    assert (js, css) == ("timeline.js", "timeline.css")
    assert Path(root) == timeline_component.ASSET_DIR
    assert (Path(root) / js).is_file() and (Path(root) / css).is_file()
    assert "<video" in at.session_state["html"] and "<script" not in at.session_state["html"]
    # Nothing was saved, and nothing ran in a browser to say the timeline works.
    assert at.session_state["events"] == timeline_component.TimelineEvents(None, None)


def test_a_reported_failure_is_a_reason_for_the_static_strip_and_ready_is_not() -> None:
    assert timeline_component.fallback_reason(None) is None  # silent: the page's clock decides
    assert timeline_component.fallback_reason(timeline_component.READY) is None
    assert "could not reach the video" in timeline_component.fallback_reason("video-error")
    assert "refused" in timeline_component.fallback_reason("video-refused")
    assert "cannot play" in timeline_component.fallback_reason("video-unsupported")
    assert timeline_component.fallback_reason("something new")


def _frames() -> pd.DataFrame:
    fps = 10.0
    n = 50
    status = np.array(["patient"] * 20 + ["other_face"] * 10 + ["no_face"] * 5 + ["patient"] * 15, dtype=object)
    return pd.DataFrame(
        {
            "frame": np.arange(n),
            "timestamp": np.arange(n) / fps,
            "face": status == "patient",
            "face_status": status,
            "AU12": np.where(status == "patient", 0.4, np.nan),
            "AU04": np.where(status == "patient", 0.2, np.nan),
        }
    )


def test_component_data_has_traces_face_rows_and_labelled_segments() -> None:
    segments = pd.DataFrame(
        {"segment_id": [3], "start_s": [0.5], "end_s": [1.5], "label": ["sleep"], "revision": [2]},
    )
    data = component_data(
        src="/api/video/token",
        duration=5.0,
        fps=10.0,
        frames=_frames(),
        aus=["AU12", "AU99"],
        segments=segments,
        labels=["sleep", "anhedonia"],
        may_edit=False,
    )
    assert data["src"] == "/api/video/token" and data["fps"] == 10.0 and data["may_edit"] is False
    # Only AUs the table has; frames without the patient's face are gaps (null), not zeros.
    assert list(data["traces"]["aus"]) == ["AU12"]
    trace = data["traces"]["aus"]["AU12"]
    assert trace[0] == 0.4 and trace[25] is None and len(trace) == len(data["traces"]["t"]) == 50
    # One row per face state, as [start, end) runs in seconds.
    assert data["rows"] == {
        "face": [[0.0, 2.0], [3.5, 5.0]],
        "other": [[2.0, 3.0]],
        "none": [[3.0, 3.5]],
        "unanalysed": [],
    }
    assert data["segments"] == [
        {"id": 3, "start": 0.5, "end": 1.5, "label": "sleep", "revision": 2, "span": "0.5-1.5 s"}
    ]


def _segment_only_frames() -> pd.DataFrame:
    """A 20 s video at 10 fps analysed only inside 2.5-9 s and 11-16.5 s (a segment-only run)."""
    times = np.concatenate([np.arange(25, 90), np.arange(110, 165)]) / 10.0
    return pd.DataFrame(
        {"frame": np.round(times * 10).astype(int), "timestamp": times, "face": True, "AU12": 0.5, "AU04": 0.1}
    )


@pytest.mark.parametrize("window", [None, (8.0, 12.0)])
def test_time_without_analysed_frames_breaks_the_traces_and_is_no_face_state(
    window: tuple[float, float] | None,
) -> None:
    data = component_data(
        src=None,
        duration=20.0,
        fps=10.0,
        frames=_segment_only_frames(),
        aus=["AU12"],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=[],
        may_edit=False,
        window=window,
    )
    traces = data["detail"] if window else data["traces"]
    t, trace = np.array(traces["t"]), traces["aus"]["AU12"]
    # Between the last analysed frame before the gap (8.9 s) and the first after it (11 s):
    # a null, so the line breaks, and no value is drawn inside the gap.
    inside = np.flatnonzero((t > 8.9) & (t < 11.0))
    assert len(inside) == 1 and trace[inside[0]] is None
    assert data["rows"]["face"] == [[2.5, 9.0], [11.0, 16.5]]
    assert data["rows"]["unanalysed"] == [[0.0, 2.5], [9.0, 11.0], [16.5, 20.0]]


def test_uneven_frame_times_of_a_variable_frame_rate_video_are_no_gaps() -> None:
    # A phone's recording: frames mostly 1/60 s apart, every third 1/15 s; every frame analysed.
    times = np.cumsum(np.tile([1 / 60, 1 / 60, 1 / 15], 40))
    frames = pd.DataFrame({"frame": np.arange(len(times)), "timestamp": times, "face": True, "AU12": 0.5})
    data = component_data(
        src=None,
        duration=float(times[-1]) + 1 / 15,
        fps=None,
        frames=frames,
        aus=["AU12"],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=[],
        may_edit=False,
    )
    assert None not in data["traces"]["aus"]["AU12"] and len(data["rows"]["face"]) == 1
    # A skipped frame number is a gap, however short in seconds.
    data = component_data(
        src=None,
        duration=float(times[-1]) + 1 / 15,
        fps=None,
        frames=frames.drop(index=[40]),
        aus=["AU12"],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=[],
        may_edit=False,
    )
    assert data["traces"]["aus"]["AU12"].count(None) == 1 and len(data["rows"]["face"]) == 2


def test_a_missing_frame_breaks_the_trace_of_a_long_binned_video() -> None:
    frames = _long_frames(20)
    frames = frames[(frames["timestamp"] < 300) | (frames["timestamp"] > 330)]
    data = component_data(
        src=None,
        duration=1200.0,
        fps=30.0,
        frames=frames,
        aus=["AU12"],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=[],
        may_edit=False,
    )
    t, trace = np.array(data["traces"]["t"]), data["traces"]["aus"]["AU12"]
    inside = np.flatnonzero((t > 300) & (t < 330))
    assert len(inside) == 1 and trace[inside[0]] is None
    [(start, end)] = data["rows"]["unanalysed"]
    assert start == pytest.approx(300.0, abs=0.05) and end == pytest.approx(330.0, abs=0.05)


def _long_frames(minutes: float, fps: float = 30.0) -> pd.DataFrame:
    n = int(minutes * 60 * fps)
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "frame": np.arange(n),
            "timestamp": np.arange(n) / fps,
            "face": np.ones(n, bool),
            "face_status": "patient",
            "AU12": rng.uniform(0, 1, n),
        }
    )


def _data(frames: pd.DataFrame, window: tuple[float, float] | None) -> dict:
    return component_data(
        src=None,
        duration=float(frames["timestamp"].iloc[-1]) + 1 / 30,
        fps=30.0,
        frames=frames,
        aus=["AU12"],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=[],
        may_edit=False,
        window=window,
    )


def test_zoomed_into_two_seconds_every_frame_of_the_window_is_sent() -> None:
    frames = _long_frames(20)  # 36,000 frames: the overview is binned
    whole = _data(frames, None)
    assert whole["detail"] is None and whole["window"] is None
    assert len(whole["traces"]["t"]) == timeline_component.MAX_POINTS
    zoomed = _data(frames, (600.0, 602.0))
    assert zoomed["window"] == [600.0, 602.0]
    detail = zoomed["detail"]
    assert (detail["from"], detail["to"]) == (600.0, 602.0)
    # Every frame from 600 s to 602 s, one either side, with its own value (not a bin mean).
    expected = frames[(frames["timestamp"] >= 600.0 - 1 / 30) & (frames["timestamp"] <= 602.0 + 1 / 30 + 1e-9)]
    assert len(expected) == 63
    np.testing.assert_allclose(detail["t"], expected["timestamp"], atol=1e-4)
    np.testing.assert_allclose(detail["aus"]["AU12"], expected["AU12"], atol=1e-4)
    # The overview still goes along: zooming out draws at once.
    assert zoomed["traces"] == whole["traces"]


def test_a_wide_window_is_binned_to_the_bound() -> None:
    frames = _long_frames(20)
    detail = _data(frames, (0.0, 600.0))["detail"]  # 18,000 frames
    assert len(detail["t"]) == timeline_component.MAX_POINTS
    assert detail["t"][0] <= 0.1 and detail["t"][-1] >= 599.9


def test_component_data_without_frames_or_frame_rate() -> None:
    data = component_data(
        src=None,
        duration=12.0,
        fps=float("nan"),
        frames=pd.DataFrame(),
        aus=["AU12"],
        segments=pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"]),
        labels=[],
        may_edit=True,
    )
    assert data["fps"] is None and data["traces"] == {"t": [], "aus": {}}
    assert data["rows"] == {"face": [], "other": [], "none": [], "unanalysed": []} and data["segments"] == []


def test_a_playback_copy_sends_where_each_frame_shows_in_it_paired_with_the_stored_videos_frames() -> None:
    # Frames 1/60 to 1/15 s apart, as a phone records.
    stored = np.concatenate([[0.0], np.cumsum(np.tile([1 / 60, 1 / 60, 1 / 30, 1 / 15], 6))[:-1]])
    copy = np.arange(24) / 30  # the same frames at a constant rate
    empty = pd.DataFrame(columns=["segment_id", "start_s", "end_s", "label", "revision"])
    common = {"src": "/v", "duration": 1.0, "fps": 30.0, "frames": pd.DataFrame(), "aus": [], "segments": empty}
    data = component_data(**common, labels=[], may_edit=True, frame_times=stored, media_times=copy)

    def expand(runs: list[list[float]]) -> np.ndarray:
        return np.concatenate([first + step * np.arange(count) for first, step, count in runs])

    np.testing.assert_allclose(expand(data["frame_runs"]), stored, atol=1e-3)
    np.testing.assert_allclose(expand(data["media_runs"]), copy, atol=1e-3)
    # A copy cut short pairs the frames it has; without the stored video's frames, or without a copy, none.
    short = component_data(**common, labels=[], may_edit=True, frame_times=stored[:10], media_times=copy)
    np.testing.assert_allclose(expand(short["media_runs"]), copy[:10], atol=1e-3)
    assert component_data(**common, labels=[], may_edit=True, media_times=copy)["media_runs"] is None
    assert component_data(**common, labels=[], may_edit=True, frame_times=stored)["media_runs"] is None


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (0.5, 1.5, "0.5-1.5 s"),
        (2.0, 2.4, "2.0-2.4 s"),
        (2.0, 2.04, "2.00-2.04 s"),
        (0, 2, "0-2 s"),
        (0.5, 1.25, "0.50-1.25 s"),
        (60 / 23.976, 108 / 23.976, "2.50-4.50 s"),
        (119.999, 125, "2:00.00-2:05.00"),
        (61.5, 65.0, "1:01.5-1:05.0"),
    ],
)
def test_span_labels_have_the_precision_that_tells_the_ends_apart(start: float, end: float, label: str) -> None:
    assert span_label(start, end) == label


@pytest.fixture
def clinic(catalog: Catalog, feat_data: Path) -> dict:
    """A stored video of P017; clara may edit its segments, rita (researcher) may not."""
    users.add_user(catalog, "ada", "admin", PASSWORD, actor="test")
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    users.add_user(catalog, "rita", "researcher", PASSWORD, actor="test")
    record, _ = ingest_video(
        catalog, feat_data / "single_face.mp4", original_name="v.mp4", patient_id="P017", user=LocalOperator("test")
    )
    users.assign_patient(catalog, "clara", "P017", actor="test")
    return {"video_id": record["video_id"], "clara": User("clara", "clinician"), "rita": User("rita", "researcher")}


def _request(start: float, end: float, label: str, segment_id: int | None = None, revision: int | None = None):
    return SaveRequest(start, end, label, segment_id, revision, nonce="n1")


def test_a_marked_segment_is_stored_as_the_acting_user(catalog: Catalog, clinic: dict) -> None:
    outcome = store_request(catalog, clinic["clara"], clinic["video_id"], _request(0.5, 1.25, "anhedonia"))
    assert outcome.saved and outcome.message == "Segment \u201canhedonia\u201d added (0.50-1.25 s)."
    stored = segments_for(catalog, clinic["video_id"])
    assert stored[["start_s", "end_s", "label", "author"]].values.tolist() == [[0.5, 1.25, "anhedonia", "clara"]]


def test_refusals_change_nothing_and_say_why(catalog: Catalog, clinic: dict) -> None:
    video_id = clinic["video_id"]
    first = store_request(catalog, clinic["clara"], video_id, _request(0.5, 1.5, "anhedonia")).segment
    before = segments_for(catalog, video_id)
    refused = [
        store_request(catalog, clinic["clara"], video_id, _request(1.0, 2.0, "sleep")),  # overlaps
        store_request(catalog, clinic["clara"], video_id, _request(1.6, 1.6, "sleep")),  # empty
        store_request(catalog, clinic["rita"], video_id, _request(1.6, 2.0, "sleep")),  # role may not edit
        # An edit based on an older revision than the stored one.
        store_request(
            catalog, clinic["clara"], video_id, _request(0.5, 1.0, "sleep", first["segment_id"], first["revision"] - 1)
        ),
        store_request(catalog, clinic["clara"], video_id, _request(0.5, 1.0, "sleep", first["segment_id"], None)),
    ]
    assert [r.saved for r in refused] == [False] * len(refused)
    assert all(r.message and "\n" not in r.message and "Traceback" not in r.message for r in refused)
    assert "overlap" in refused[0].message.lower()
    pd.testing.assert_frame_equal(segments_for(catalog, video_id), before)


def test_a_selected_segment_is_updated_at_the_revision_the_timeline_showed(catalog: Catalog, clinic: dict) -> None:
    video_id = clinic["video_id"]
    first = store_request(catalog, clinic["clara"], video_id, _request(0.5, 1.5, "anhedonia")).segment
    outcome = store_request(
        catalog, clinic["clara"], video_id, _request(0.75, 1.5, "sleep", first["segment_id"], first["revision"])
    )
    assert outcome.saved and outcome.message.endswith("saved (0.75-1.50 s).")
    stored = segments_for(catalog, video_id).iloc[0]
    assert (stored["start_s"], stored["label"], stored["revision"]) == (0.75, "sleep", first["revision"] + 1)
