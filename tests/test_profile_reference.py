"""The Patient profile's reference: never the patient's own visits, never fewer than 5 other patients.

QA's case on the demo store: a clinician's patient has two real visits, and
one visit of a patient assigned to nobody is real too. Against "real visits
only" the reference used to be those three visits; with the two known
visits' means and z-scores on screen, the third patient's AU means could be
solved for. The page, the service and ``stats profile`` now leave the
patient's own visits out of the reference and refuse one of fewer than
:data:`~facs_core.stats.profile.MIN_REFERENCE_PATIENTS` other patients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core.errors import TooFewVisitsError
from facs_core.services import analysis
from facs_core.stats.profile import MIN_REFERENCE_PATIENTS, reference_visits, require_reference
from store import Catalog
from tests.apptest_pages import REPO, no_exception, page, texts

REFUSAL = (
    "The reference has 1 extracted visit of 1 other patient with AU values (the cohort's real visits only);"
    " z-scores and percentiles need at least 5 other patients"
)


def _qa_store(store: Catalog) -> tuple[str, list[str], str]:
    """The clinician's patient (two visits) and one other patient's visit, all three made real."""
    visits = store.query("SELECT patient_id, video_id FROM videos ORDER BY patient_id, visit_date, video_id")
    patient = visits["patient_id"].iloc[0]
    mine = visits.loc[visits["patient_id"] == patient, "video_id"].tolist()
    other = visits.loc[visits["patient_id"] != patient, "video_id"].iloc[0]
    store.execute("UPDATE videos SET synthetic = TRUE")
    store.execute("UPDATE videos SET synthetic = FALSE WHERE video_id IN (?, ?, ?)", [*mine, other])
    return patient, mine, other


def _chart_titles(at) -> list[str]:
    return [str(json.loads(chart.proto.spec).get("title")) for chart in at.get("vega_lite_chart")]


@pytest.mark.slow
def test_page_gives_no_scores_against_one_other_patient(demo_store: Catalog) -> None:
    patient, mine, _ = _qa_store(demo_store)
    assert len(mine) == 2
    at = page("patient", demo_store, "clinician", (patient,))
    at.query_params["patient"] = patient
    no_exception(at.run())
    assert at.selectbox(key="pp_source").value == "real"
    # No heatmap, no command and no reference caption: one sentence saying why and how many.
    assert not [t for t in _chart_titles(at) if t.startswith("AU means per visit")], _chart_titles(at)
    assert REFUSAL in texts(at.info), texts(at.info)
    assert "pp_profile_table" not in at.session_state and "pp_command" not in at.session_state
    assert "Reference:" not in texts(at.caption)
    # The rest of the page still reads the patient's own visits.
    assert "change in mean AU value" in json.dumps([json.loads(c.proto.spec) for c in at.get("vega_lite_chart")])

    # Percentiles are refused the same way.
    at.radio(key="pp_mode").set_value("percentile")
    no_exception(at.run())
    assert REFUSAL in texts(at.info)
    assert not [t for t in _chart_titles(at) if t.startswith("AU means per visit")]


def test_command_refuses_in_one_line_and_writes_nothing(demo_store: Catalog, tmp_path: Path) -> None:
    patient, _, _ = _qa_store(demo_store)
    out = tmp_path / "profile.csv"
    env = {**os.environ, "FACS_DATA_DIR": str(demo_store.paths.root), "PYTHONPATH": str(REPO)}
    argv = ["-m", "facs_core", "stats", "profile", "--from-store", "--patient", patient, "--out", str(out)]
    done = subprocess.run(
        [sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"error: t{REFUSAL[1:]}"), done.stderr
    assert not out.exists()


def test_reference_leaves_the_patient_out(demo_store: Catalog) -> None:
    """Against every demo visit: z-scores of the patient's visits against the 29 other patients, by hand."""
    visits = demo_store.query("SELECT patient_id, video_id FROM videos ORDER BY patient_id, visit_date, video_id")
    patient = visits["patient_id"].iloc[0]
    mine = visits.loc[visits["patient_id"] == patient, "video_id"].tolist()
    features = analysis.video_features(demo_store).set_index("video_id")
    clinical = analysis.clinical_table(demo_store).set_index("video_id")
    others = clinical.index[clinical["patient_id"] != patient]
    table = analysis.patient_profile(demo_store, mine, "z-score", source="both")
    assert table.attrs["n_reference"] == len(others) == 58
    assert table.attrs["n_reference_patients"] == 29
    for au in ("AU04", "AU12"):
        reference = features.loc[others, au]
        expected = (features.loc[mine, au] - reference.mean()) / reference.std(ddof=1)
        got = table[table["AU"] == au].set_index("video_id").loc[mine, "value"]
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    # One real visit among 58: comparing "both" with "synthetic" would single it out, so "both" is refused
    # as long as the real patients are 1 to 4.
    _qa_store(demo_store)
    with pytest.raises(TooFewVisitsError, match="of them 1 real patient"):
        analysis.patient_profile(demo_store, mine, "z-score", source="both", measures="aus")


def _reference(patients: list[str], synthetic: list[bool]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"v{i}" for i in range(len(patients))]
    features = pd.DataFrame({"video_id": ids, "AU12": np.linspace(0.1, 0.9, len(ids))})
    return features, pd.DataFrame({"video_id": ids, "patient_id": patients, "synthetic": synthetic})


def test_reference_size_rule() -> None:
    assert MIN_REFERENCE_PATIENTS == 5
    # Five visits of four patients: refused; of five patients: kept.
    features, reference = _reference(["a", "a", "b", "c", "d"], [False] * 5)
    with pytest.raises(TooFewVisitsError, match="5 extracted visits of 4 other patients") as refused:
        require_reference(features, reference, "aus", "real")
    assert (refused.value.n, refused.value.needed) == (4, 5)
    features, reference = _reference(["a", "b", "c", "d", "e"], [False] * 5)
    require_reference(features, reference, "aus", "real")
    # A visit without AU values (no face found) is not counted.
    features.loc[0, "AU12"] = np.nan
    with pytest.raises(TooFewVisitsError, match="4 extracted visits of 4 other patients"):
        require_reference(features, reference, "aus", "real")
    # Real and synthetic: no real patient, or at least five.
    features, reference = _reference(list("abcdefgh"), [True] * 8)
    require_reference(features, reference, "aus", "both")
    features, reference = _reference(list("abcdefgh"), [False, False] + [True] * 6)
    with pytest.raises(TooFewVisitsError, match="of them 2 real patients"):
        require_reference(features, reference, "aus", "both")
    features, reference = _reference(list("abcdefgh"), [False] * 5 + [True] * 3)
    require_reference(features, reference, "aus", "both")


def test_reference_visits_leave_out_every_visit_of_the_profiled_patient() -> None:
    clinical = pd.DataFrame(
        {
            "video_id": ["a1", "a2", "b1", "b2", "c1"],
            "patient_id": ["A", "A", "B", "B", "C"],
            "synthetic": [False, False, False, True, False],
        }
    )
    # Profiling one visit of A leaves out A's other visit too.
    assert reference_visits(clinical, ["a1"], "real")["video_id"].tolist() == ["b1", "c1"]
    assert reference_visits(clinical, ["a1", "b2"], "both")["video_id"].tolist() == ["c1"]


def _five_known_and_one_not(store: Catalog) -> tuple[list[str], list[str]]:
    """Six demo patients made real (every other visit synthetic): the first five assigned, the sixth not."""
    patients = store.query("SELECT DISTINCT patient_id FROM videos ORDER BY 1")["patient_id"].tolist()[:6]
    store.execute("UPDATE videos SET synthetic = TRUE")
    marks = ", ".join("?" for _ in patients)
    store.execute(f"UPDATE videos SET synthetic = FALSE WHERE patient_id IN ({marks})", patients)
    mine = store.query("SELECT video_id FROM videos WHERE patient_id = ? ORDER BY visit_date", [patients[0]])
    return patients, mine["video_id"].tolist()


def test_a_clinician_with_several_patients_cannot_single_out_an_unassigned_one(demo_store: Catalog) -> None:
    """Her four other patients' means are known to her: the one unassigned patient would be what is left."""
    patients, mine = _five_known_and_one_not(demo_store)
    known = patients[:5]
    # Five other real patients: enough for whoever may open all of them (the command line, a researcher).
    assert analysis.patient_profile(demo_store, mine, "z-score", source="real").attrs["n_reference_patients"] == 5
    analysis.patient_profile(demo_store, mine, "z-score", source="real", known_patients=patients)
    with pytest.raises(TooFewVisitsError, match="of them 1 real patient you may not open") as refused:
        analysis.patient_profile(demo_store, mine, "z-score", source="real", known_patients=known)
    assert (refused.value.n, refused.value.needed) == (1, MIN_REFERENCE_PATIENTS)

    at = page("patient", demo_store, "clinician", tuple(known))
    at.query_params["patient"] = patients[0]
    no_exception(at.run())
    assert at.selectbox(key="pp_patient").value == patients[0]
    assert not [t for t in _chart_titles(at) if t.startswith("AU means per visit")], _chart_titles(at)
    assert (
        "The reference has 10 extracted visits of 5 other patients with AU values (the cohort's real visits only),"
        " of them 1 real patient you may not open" in texts(at.info)
    ), texts(at.info)
