"""The Timeline strip marks where the patient's face is missing: other face vs no face at all."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from web import common
from web.strip import fit_label, missing_spans, strip_chart


def _frames() -> pd.DataFrame:
    status = ["patient"] * 5 + ["other_face"] * 3 + ["patient"] * 2 + ["no_face"] * 4 + ["patient"]
    n = len(status)
    return pd.DataFrame(
        {
            "timestamp": np.arange(n) * 0.5,
            "face": [s == "patient" for s in status],
            "face_status": status,
            "AU12": np.where(np.array(status) == "patient", 0.3, np.nan),
        }
    )


def test_runs_without_the_patient_become_labelled_spans() -> None:
    spans = missing_spans(_frames())
    assert spans.to_dict("records") == [
        {"start_s": 2.5, "end_s": 4.0, "status": "other face"},
        {"start_s": 5.0, "end_s": 7.0, "status": "no patient face"},
    ]


def test_tables_without_face_status_show_only_no_patient_face() -> None:
    frames = _frames().drop(columns="face_status")
    assert set(missing_spans(frames)["status"]) == {"no patient face"}


def test_long_flickering_tables_are_binned_not_drawn_frame_by_frame() -> None:
    n = 20_000
    frames = pd.DataFrame({"timestamp": np.arange(n) / 30.0, "face": np.arange(n) % 2 == 0})
    frames["face_status"] = np.where(frames["face"], "patient", "other_face")
    assert len(missing_spans(frames, max_spans=100)) <= 100


def test_strip_chart_draws_the_spans() -> None:
    spec = strip_chart(_frames(), ["AU12"], pd.DataFrame(), 8.0).to_dict()
    rows = [row for data in spec["datasets"].values() for row in data if "status" in row]
    assert {(r["start_s"], r["status"]) for r in rows} == {
        (0.0, "patient face"),
        (2.5, "other face"),
        (4.0, "patient face"),
        (5.0, "no patient face"),
        (7.0, "patient face"),
    }


def test_au_traces_are_drawn_with_a_colour_beside_the_face_rows() -> None:
    # The face rows' fixed colours once shared one scale with the AU lines, which then had none: invisible.
    svg = common.chart_image(strip_chart(_frames(), ["AU12"], pd.DataFrame(), 8.0), "svg").decode()
    lines = re.findall(r'aria-roledescription="line mark"[^>]*>', svg)
    assert lines and all(re.search(r'stroke="#[0-9a-f]{6}"', line) for line in lines), lines


def test_segments_are_a_labelled_row_of_their_own() -> None:
    segments = pd.DataFrame({"start_s": [1.0], "end_s": [3.0], "label": ["anhedonia"]})
    svg = common.chart_image(strip_chart(_frames(), ["AU12"], segments, 8.0), "svg").decode()
    assert ">anhedonia<" in svg


def test_labels_of_short_neighbouring_segments_are_cut_to_their_bands() -> None:
    segments = pd.DataFrame(
        {"start_s": [0.5, 1.6, 2.5], "end_s": [1.5, 2.2, 4.5], "label": ["depressive symptoms (SCID)"] * 2 + ["sad"]}
    )
    spec = strip_chart(_frames(), ["AU12"], segments, 20.0).to_dict()
    shown = [row["shown"] for data in spec["datasets"].values() for row in data if "shown" in row]
    # One second of twenty at 600 px is 30 px: four characters and an ellipsis; 0.6 s has no room; "sad" fits.
    assert shown == ["dep…", "sad"]
    assert fit_label("anhedonia", 600) == "anhedonia"


def test_time_without_analysed_frames_breaks_the_lines_and_has_no_face_state() -> None:
    # A segment-only run: frames analysed at 10 fps inside 2.5-9 s and 11-16.5 s only.
    times = np.concatenate([np.arange(25, 90), np.arange(110, 165)]) / 10.0
    frames = pd.DataFrame({"timestamp": times, "face": True, "AU12": 0.5, "AU04": 0.1})
    spec = strip_chart(frames, ["AU12", "AU04"], pd.DataFrame(), 20.0).to_dict()
    points = pd.DataFrame([row for data in spec["datasets"].values() for row in data if "piece" in row])
    assert points["value"].notna().all()
    # Each line is drawn per piece (detail); no piece has points on both sides of the gap.
    assert spec["layer"][0]["encoding"]["detail"]["field"] == "piece"
    sides = points.groupby("piece")["timestamp"].agg(["min", "max"])
    assert len(sides) == 4 and not ((sides["min"] < 10) & (sides["max"] > 10)).any()
    spans = [row for data in spec["datasets"].values() for row in data if row.get("status") == "patient face"]
    assert [(r["start_s"], r["end_s"]) for r in spans] == [(2.5, 9.0), (11.0, 16.5)]


def test_row_names_stand_beside_the_strip_so_no_band_or_label_at_its_left_edge_covers_them() -> None:
    # A segment from the first second, with a label as long as its band allows, and the face row from 0.
    segments = pd.DataFrame({"start_s": [0.0], "end_s": [3.0], "label": ["depressive symptoms (SCID)"]})
    svg = common.chart_image(strip_chart(_frames(), ["AU12"], segments, 8.0), "svg").decode()
    texts = {
        text: float(x)
        for x, text in re.findall(r'<text[^>]*transform="translate\(([-\d.]+),[-\d.]+\)"[^>]*>([^<]+)</text>', svg)
    }
    # Each row named once, by the y axis: right-aligned left of the plot (x < 0 in the plot's frame) ...
    for name in ("patient face", "other face", "no patient face", "segments"):
        assert texts[name] < 0, (name, texts)
    assert svg.count(">segments<") == 1
    # ... while the segment's label is drawn inside the plot (x > 0), and the AU values keep their labels.
    label = next(text for text in texts if text.startswith("depress"))
    assert texts[label] > 0
    assert {"0", "0.25", "0.5", "0.75", "1"} <= set(texts)
