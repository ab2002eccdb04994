"""Upload, Patient profile, Admin and Export read like a finished clinical tool (AppTest on real stores)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from facs_core.services.access import User
from store import Catalog, users
from tests.apptest_pages import PASSWORD, no_exception, page, texts

# -- upload -------------------------------------------------------------------


def test_upload_error_names_the_field_and_goes_when_the_field_is_fixed(empty_store: Catalog, feat_data: Path) -> None:
    at = no_exception(page("upload", empty_store, "clinician").run())
    at.file_uploader[0].upload("single_face.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    at.text_input(key="up_patient").input("P017")
    at.date_input(key="up_visit_date").set_value(date(2024, 3, 1))
    at.number_input(key="up_age").set_value(200)
    at.button(key="up_submit").click().run()
    no_exception(at)
    assert "Age 200 is outside 0-120 years." in texts(at.error)
    assert empty_store.scalar("SELECT count(*) FROM videos") == 0
    # Fixing the field removes its message at once, before the next submit.
    at.number_input(key="up_age").set_value(41).run()
    no_exception(at)
    assert "Age" not in texts(at.error)
    assert not at.error


def test_upload_success_empties_the_picker_and_the_form_and_keeps_whole_numbers(
    empty_store: Catalog, feat_data: Path
) -> None:
    at = no_exception(page("upload", empty_store, "clinician").run())
    assert at.button(key="up_submit").label == "Save visit"  # not "Upload", the file picker's own button
    for key in ("up_age", "up_score_bdi"):
        widget = at.number_input(key=key).proto
        assert widget.data_type == widget.INT and widget.format == "%d"  # "41", not "41.00"
    at.file_uploader[0].upload("single_face.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    at.text_input(key="up_patient").input("P017")
    at.date_input(key="up_visit_date").set_value(date(2024, 3, 1))
    at.number_input(key="up_age").set_value(41)
    at.number_input(key="up_score_bdi").set_value(23)
    at.button(key="up_submit").click().run()
    no_exception(at)
    assert "stored as video" in texts(at.success)
    assert empty_store.scalar("SELECT age FROM visit_covariates") == 41
    assert not at.file_uploader[0].value
    assert at.text_input(key="up_patient").value == ""
    assert at.number_input(key="up_age").value is None
    # Submitting again sends nothing twice: the picker is empty, so the form asks for a file.
    at.button(key="up_submit").click().run()
    no_exception(at)
    assert "choose at least one video file" in texts(at.error)
    assert empty_store.scalar("SELECT count(*) FROM videos") == 1


# -- admin --------------------------------------------------------------------


def test_admin_forms_empty_after_use_and_role_and_password_are_separate_controls(empty_store: Catalog) -> None:
    at = no_exception(page("admin", empty_store, "admin").run())
    # "Change an account" opens with nothing chosen, never on the first account + "disable".
    assert at.selectbox(key="ad_target").value is None and at.selectbox(key="ad_action").value is None
    assert at.button(key="ad_apply").disabled
    at.text_input(key="ad_username").input("dora")
    at.selectbox(key="ad_role").set_value("clinician")
    at.text_input(key="ad_password").input(PASSWORD)
    at.button(key="FormSubmitter:add_user-Add account").click().run()
    no_exception(at)
    assert users.get_user(empty_store, "dora") == User("dora", "clinician")
    assert at.text_input(key="ad_username").value == "" and at.text_input(key="ad_password").value == ""
    assert "Single sign-on" in at.dataframe[0].value.columns and "sso" not in at.dataframe[0].value.columns

    at.selectbox(key="ad_target").set_value("dora").run()
    at.selectbox(key="ad_action").set_value("set role").run()
    no_exception(at)
    assert at.selectbox(key="ad_new_role").options == ["clinician", "researcher", "admin"]
    assert not [w for w in at.text_input if w.key == "ad_new_password"]
    at.selectbox(key="ad_new_role").set_value("researcher").run()
    at.button(key="ad_apply").click().run()
    no_exception(at)
    assert users.get_user(empty_store, "dora") == User("dora", "researcher")
    assert at.selectbox(key="ad_target").value is None and at.selectbox(key="ad_action").value is None

    at.selectbox(key="ad_target").set_value("dora").run()
    at.selectbox(key="ad_action").set_value("reset password").run()
    assert not [w for w in at.selectbox if w.key == "ad_new_role"]
    at.text_input(key="ad_new_password").input("another-long-password")
    at.button(key="ad_apply").click().run()
    no_exception(at)
    assert users.authenticate(empty_store, "dora", "another-long-password") == User("dora", "researcher")


# -- patient profile ------------------------------------------------------------


def _patient_with_visits(store: Catalog) -> tuple[str, list[str]]:
    row = store.query("SELECT patient_id, list(video_id ORDER BY visit_date) AS ids FROM videos GROUP BY 1 ORDER BY 1")
    first = row.iloc[0]
    return first["patient_id"], list(first["ids"])


def test_patient_profile_reads_like_a_clinical_summary(demo_store: Catalog) -> None:
    patient, videos = _patient_with_visits(demo_store)
    assert len(videos) >= 2
    # A real patient among a synthetic cohort, with one usable visit and a 1 s segment.
    demo_store.execute("UPDATE videos SET synthetic = FALSE WHERE patient_id = ?", [patient])
    demo_store.execute("UPDATE runs SET status = 'failed' WHERE video_id IN (SELECT unnest(?))", [videos[1:]])
    demo_store.execute("DELETE FROM segments WHERE video_id = ?", [videos[0]])
    demo_store.execute(
        "INSERT INTO segments (video_id, start_s, end_s, label, author) VALUES (?, 10, 11, 'sleep', 'test')",
        [videos[0]],
    )
    at = no_exception(page("patient", demo_store, "clinician", (patient,)).run())
    visits = at.dataframe[0].value
    assert {"Video", "Visit date", "BDI-II", "Age (years)", "Repeat visit"} <= set(visits.columns)
    assert all(len(d) == 10 for d in visits["Visit date"])  # 2026-03-02, no time of day
    table = visits.to_csv()
    assert "None" not in table and "nan" not in table and "video_id" not in table
    # Against real visits only (the default when the store has any) there is no synthetic reference to warn of.
    assert "mostly synthetic demo data" not in texts(at.warning)
    at.selectbox(key="pp_source").set_value("both").run()
    no_exception(at)
    assert "mostly synthetic demo data" in texts(at.warning)
    assert "needs two extracted visits with AU values; this patient has 1" in texts(at.info)
    # No "change in mean AU value" chart (AppTest charts carry no key; the axis title tells them apart).
    assert not [c for c in at.get("vega_lite_chart") if "change in mean AU value" in str(c.proto.spec)]
    at.selectbox(key="pp_segment").set_value("sleep (10-11 s)").run()
    no_exception(at)
    captions = texts(at.caption)
    assert "No scalogram: this segment is 1 s long" in captions, captions[-400:]
    assert not [c for c in at.get("vega_lite_chart") if "period (s)" in str(c.proto.spec)]


# -- export -------------------------------------------------------------------


def test_export_tables_read_as_in_a_paper_and_the_clinician_meets_no_dead_end(demo_store: Catalog) -> None:
    import pandas as pd

    result = pd.DataFrame(
        {
            "feature": ["AU12", "AU04"],
            "n": [60, 60],
            "r": [0.41234, -0.0512],
            "ci_low": [0.18, -0.3],
            "ci_high": [0.6, 0.2],
            "p": [0.0000007, 0.6969],
            "p_fdr": [0.000014, 0.81234],
            "significant": [True, False],
        }
    )
    at = page("export", demo_store, "researcher")
    at.session_state["cohort_result"] = result
    no_exception(at.run())
    features, stats = at.dataframe[0].value, at.dataframe[1].value
    assert {"Visit date", "BDI-II", "Repeat visit"} <= set(features.columns)
    assert "None" not in features.to_csv() and "00:00:00" not in features.to_csv()
    assert list(stats.columns) == [
        "AU",
        "n",
        "r",
        "95 % CI, lower",
        "95 % CI, upper",
        "p",
        "p (adjusted)",
        "Significant",
    ]
    assert stats["p"].tolist() == ["< 0.001", "0.697"] and stats["p (adjusted)"].tolist() == ["< 0.001", "0.812"]
    assert stats["r"].tolist() == ["0.412", "-0.051"]  # coefficients to three decimals, alike

    patient = demo_store.scalar("SELECT min(patient_id) FROM videos")
    clinician = no_exception(page("export", demo_store, "clinician", (patient,)).run())
    shown = texts(clinician.caption) + texts(clinician.markdown)
    assert "Run an analysis on the Cohort statistics page" not in shown
    assert "prepared by researchers" in shown
    assert not [e for e in clinician.get("page_link")]
