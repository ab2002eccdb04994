"""The Timeline strip marks where the patient's face is missing: other face vs no face at all."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from facs_core.views.strip import missing_spans, strip_chart


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
    assert {(r["start_s"], r["status"]) for r in rows} == {(2.5, "other face"), (5.0, "no patient face")}
    assert "no patient face" in json.dumps(spec["layer"])  # the colour scale names both kinds
