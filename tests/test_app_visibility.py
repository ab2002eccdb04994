"""Pages show each role only what facs_core.services.visibility allows (Streamlit AppTest on a real seeded store)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from facs_core.services.visibility import DUPLICATE_ELSEWHERE, OTHER_LABEL
from store import Catalog, open_catalog
from tests.apptest_pages import open_app_store, page_as
from tests.privacy_seed import CANARIES, CLINICIAN, NOBODYS_PATIENT, OWN_PATIENT, OWN_TEXTS, RESEARCHER, seed

TIMEOUT = 180


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("seeded") / "data"
    catalog = open_catalog(folder)
    seed(catalog, feat_data, demo=True, frames=True)
    catalog.close()
    return folder


@pytest.fixture
def store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    folder = tmp_path / "data"
    shutil.copytree(template, folder)
    yield from open_app_store(folder, monkeypatch)


def run_page(name: str, username: str, role: str) -> AppTest:
    at = page_as(name, username, role, timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def everything_shown(at: AppTest) -> str:
    """Text of every element, every table cell and every picker option of the page."""
    parts = [str(getattr(element, "value", "")) for element in at.main]
    for table in at.dataframe:
        parts.append(table.value.to_csv())
    for picker in [*at.selectbox, *at.multiselect]:
        parts.extend(str(option) for option in picker.options)  # AppTest lists the labels as shown
    for element in [*at.error, *at.warning, *at.info, *at.caption, *at.markdown, *at.success]:
        parts.append(str(element.value))
    return "\n".join(parts)


def test_researcher_cohort_offers_presets_and_other_only(store: Catalog) -> None:
    at = run_page("cohort", RESEARCHER, "researcher")
    frames = at.selectbox(key="cohort_segments")
    shown = list(frames.options)  # the labels as shown
    # Labels read "segments: <preset>"; free text only ever as "other".
    offered = {text.removeprefix("segments: ").split(" (")[0] for text in shown if text.startswith("segments: ")}
    assert {OTHER_LABEL, "sleep"} <= offered
    assert not any(CANARIES["label"] in text or OWN_TEXTS["label"] in text for text in shown)
    # The default covariates need more real visits than the cohort has: the note (not an error) names
    # columns, not their levels.
    assert not at.error, [e.value for e in at.error]
    errors = " ".join(e.value for e in at.info)
    assert "covariate" in errors and "camera" in errors
    for canary in (CANARIES["camera"], CANARIES["medication"], OWN_TEXTS["camera"], OWN_TEXTS["medication"]):
        assert canary not in everything_shown(at)
    # "other" is a usable choice: only visits with a free-text segment are analysed, and the
    # page says how many it left out and why, without echoing any free text.
    at.multiselect(key="cohort_covariates").set_value(["age"])
    at.selectbox(key="cohort_segments").set_value(OTHER_LABEL).run()
    assert not at.exception
    shown_now = everything_shown(at)
    # Too few visits remain for the covariates: the refusal says what was left out and why.
    assert "left out" in " ".join(e.value for e in at.info)
    assert CANARIES["label"] not in shown_now and OWN_TEXTS["label"] not in shown_now


def test_researcher_patient_profile_has_no_free_text(store: Catalog) -> None:
    at = run_page("patient", RESEARCHER, "researcher")
    at.selectbox(key="pp_patient").set_value(NOBODYS_PATIENT).run()
    assert not at.exception
    visits = at.dataframe[0].value
    assert "Camera" not in visits.columns and "Medication" not in visits.columns
    segments = at.selectbox(key="pp_segment")
    assert any(OTHER_LABEL in option for option in segments.options)
    shown = everything_shown(at)
    for canary in (CANARIES["camera"], CANARIES["medication"], CANARIES["label"], CANARIES["original_name"]):
        assert canary not in shown


def test_clinician_home_counts_and_pickers_cover_the_assigned_patient(store: Catalog) -> None:
    at = run_page("home", CLINICIAN, "clinician")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "1" and metrics["Videos"] == "1"
    at = run_page("patient", CLINICIAN, "clinician")
    assert at.selectbox(key="pp_patient").options == [OWN_PATIENT]
    visits = at.dataframe[0].value
    assert visits["Camera"].tolist() == [OWN_TEXTS["camera"]]  # the clinician's own patient's notes
    assert NOBODYS_PATIENT not in everything_shown(at)


def test_duplicate_of_another_patients_file_names_nothing_and_keeps_the_form(store: Catalog, feat_data: Path) -> None:
    at = run_page("upload", CLINICIAN, "clinician")
    at.file_uploader[0].upload("mine.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    at.text_input(key="up_patient").input(OWN_PATIENT)
    at.date_input(key="up_visit_date").set_value(date(2024, 3, 1))
    at.text_input(key="up_camera").input("typed camera")
    at.text_input(key="up_medication").input("typed medication")
    at.button[0].click().run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert DUPLICATE_ELSEWHERE in warnings
    shown = everything_shown(at)
    assert NOBODYS_PATIENT not in shown and CANARIES["original_name"] not in shown
    assert at.text_input(key="up_camera").value == "typed camera"
    assert at.text_input(key="up_medication").value == "typed medication"
    assert "Mark symptom segments" not in shown and "Extract Action Units" not in shown
    assert store.scalar("SELECT count(*) FROM videos WHERE patient_id = ?", [OWN_PATIENT]) == 1


def test_a_link_to_someone_elses_patient_reads_as_one_to_no_patient(store: Catalog) -> None:
    notices = {}
    for wanted in (NOBODYS_PATIENT, "NOPE"):
        at = page_as("patient", CLINICIAN, "clinician", timeout=TIMEOUT)
        at.query_params["patient"] = wanted
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key="pp_patient").value == OWN_PATIENT
        notices[wanted] = [i.value.replace(wanted, "<code>") for i in at.info if "among the patients" in i.value]
    assert (
        notices[NOBODYS_PATIENT]
        == notices["NOPE"]
        == [f"No patient <code> among the patients you may see; showing {OWN_PATIENT}."]
    )


def test_a_timeline_link_to_someone_elses_video_reads_as_one_to_no_video(store: Catalog) -> None:
    others = store.query("SELECT video_id FROM videos WHERE patient_id = ?", [NOBODYS_PATIENT])["video_id"]
    notices, shown = {}, {}
    for wanted in (others.iloc[0], "0123456789abcdef"):
        at = page_as("timeline", CLINICIAN, "clinician", timeout=TIMEOUT)
        at.query_params["video"] = wanted
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        shown[wanted] = at.selectbox(key="tl_video").value
        notices[wanted] = [i.value.replace(wanted, "<id>") for i in at.info if "among the visits" in i.value]
        # The page put the shown video in the address; the player's first report reruns the page at once,
        # and the notice must still be there.
        at.query_params["video"] = shown[wanted]
        at.run()
        assert [i.value.replace(wanted, "<id>") for i in at.info if "among the visits" in i.value] == notices[wanted]
    own = store.query("SELECT video_id FROM videos WHERE patient_id = ?", [OWN_PATIENT])["video_id"].tolist()
    assert set(shown.values()) <= set(own)
    (notice,) = notices[others.iloc[0]]
    assert notices["0123456789abcdef"] == [notice]
    assert notice.startswith("No visit <id> among the visits you may see; showing ") and OWN_PATIENT in notice
    assert NOBODYS_PATIENT not in notice
