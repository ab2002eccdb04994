"""Timeline and Patient profile never leave AU traces empty without a sentence: no AU chosen, no value, no face."""

from __future__ import annotations

import numpy as np
import pandas as pd

from facs_core.services import analysis
from store import Catalog
from store.shards import write_shard
from tests.apptest_pages import no_exception, page, texts
from web.strip import strip_notes


def _first_visit(store: Catalog) -> tuple[str, str]:
    row = store.fetchone("SELECT patient_id, video_id FROM videos ORDER BY patient_id, visit_date LIMIT 1")
    return row[0], row[1]


def _without_face(store: Catalog, video_id: str, until_s: float) -> None:
    """The visit's shard with no face (and so no AU value) in its frames before ``until_s``."""
    run = analysis.latest_runs(store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(store.paths.root / run["shard_path"])
    gone = frames["timestamp"] < until_s
    frames.loc[gone, "face"] = False
    frames.loc[gone, [c for c in frames.columns if c.startswith("AU")]] = np.nan
    write_shard(store.paths, str(run["run_id"]), video_id, frames.drop(columns=["video_id", "run_id"], errors="ignore"))


def test_timeline_says_where_there_is_no_face_and_when_no_au_is_chosen(demo_store: Catalog) -> None:
    patient, video_id = _first_visit(demo_store)
    _without_face(demo_store, video_id, 4.0)
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    captions = texts(at.caption)
    assert "No face in these frames: 0-4 s" in captions, captions
    assert "No AU chosen" not in captions
    at.multiselect(key="tl_aus").set_value([]).run()
    no_exception(at)
    captions = texts(at.caption)
    assert "No AU chosen: the timeline shows face presence and segments only" in captions, captions
    assert at.get("vega_lite_chart"), "the strip is still drawn, with its face and segment rows"


def test_strip_notes_name_the_empty_traces() -> None:
    status = ["patient"] * 4 + ["other_face"] * 2 + ["no_face"] * 2 + ["patient"] * 2 + ["no_face"] * 2
    frames = pd.DataFrame(
        {
            "timestamp": np.arange(len(status)) * 0.5,
            "face": [s == "patient" for s in status],
            "face_status": status,
            "AU12": np.where(np.array(status) == "patient", 0.3, np.nan),
            "AU06": np.nan,
        }
    )
    notes = strip_notes(frames, ["AU12", "AU06"])
    assert notes == [
        "AU06 has no value in any frame of this video (not measured by its backend, or no face): its trace is empty.",
        "No face in these frames: 3-4 s and 5-6 s (row \u201cno patient face\u201d); the AU traces are empty"
        " there, since AUs are measured on the patient's face only.",
        "Only another person's face in these frames: 2-3 s (row \u201cother face\u201d); the AU traces are empty there,"
        " since AUs are measured on the patient's face only.",
    ]
    assert strip_notes(frames.iloc[:0], ["AU12"]) == []
    assert strip_notes(frames[frames["face"]], ["AU12"]) == []


def test_patient_profile_says_so_when_no_au_is_chosen(demo_store: Catalog) -> None:
    patient, _ = _first_visit(demo_store)
    at = page("patient", demo_store, "clinician", (patient,))
    at.query_params["patient"] = patient
    no_exception(at.run())
    assert "no AU chosen" not in texts(at.caption)
    at.multiselect(key="pp_aus").set_value([]).run()
    no_exception(at)
    assert "No AU time series: no AU chosen; choose at least one AU above to draw its trace." in texts(at.caption)


def test_strip_notes_read_passages_in_seconds_as_the_time_axis_does() -> None:
    # Passages before and after the first minute read alike: seconds, as the strip's "time (s)" axis.
    t = np.arange(0, 100, 0.5)
    face = ~(((t >= 17) & (t < 18)) | ((t >= 96) & (t < 97)))
    frames = pd.DataFrame({"timestamp": t, "face": face, "face_status": np.where(face, "patient", "no_face")})
    frames["AU12"] = np.where(face, 0.3, np.nan)
    (note,) = strip_notes(frames, ["AU12"])
    assert note.startswith("No face in these frames: 17-18 s and 96-97 s (row"), note
