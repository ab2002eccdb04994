"""Messages read as a person writes them: counts in the right number, "an admin", sentences, dates, no NaN.

AppTest on real stores for the Upload, Extraction, Admin and Home pages;
the command line in-process (``main``) and, for a closed pipe, as a real
subprocess whose reader stops early.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from facs_core.cli import main
from facs_core.models import install_model
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from facs_core.services.jobs import JobRunner, submit_extraction
from store import Catalog, job_rows, users
from tests.apptest_pages import PASSWORD, REPO, no_exception, page, texts

OPERATOR = LocalOperator("test")


def _ingest(store: Catalog, video: Path, patient: str = "P001") -> str:
    record, _ = ingest_video(
        store, video, user=OPERATOR, original_name=video.name, patient_id=patient, visit_date=date(2024, 3, 1)
    )
    return record["video_id"]


def _shown(at) -> str:
    """Every text a user reads on the page: messages, captions, markdown, toasts."""
    kinds = ("error", "warning", "info", "success", "caption", "markdown", "toast", "subheader")
    return " ".join(texts(getattr(at, kind)) for kind in kinds)


# -- counts -----------------------------------------------------------------------


def test_counts_on_the_pages_read_in_the_right_number(empty_store: Catalog, feat_data: Path) -> None:
    video = _ingest(empty_store, feat_data / "single_face.mp4")
    seen = []

    upload = no_exception(page("upload", empty_store, "clinician").run())
    upload.file_uploader[0].upload("single_face.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    upload.text_input(key="up_patient").input("P017")
    upload.date_input(key="up_visit_date").set_value(date(2024, 3, 1))
    upload.number_input(key="up_age").set_value(200)
    upload.button(key="up_submit").click().run()
    no_exception(upload)
    assert "1 field needs attention; see the message under it." in texts(upload.error)
    seen.append(_shown(upload))

    extraction = page("extraction", empty_store, "clinician", ("P001",))
    extraction.query_params["video"] = video
    extraction.run()
    extraction.button(key="FormSubmitter:extract_form-Start extraction").click().run()
    no_exception(extraction)
    assert "1 extraction job queued." in texts(extraction.success)
    seen.append(_shown(extraction))

    users.add_user(empty_store, "newdoc", "clinician", PASSWORD, actor="test")
    admin = no_exception(page("admin", empty_store, "admin").run())
    admin.selectbox(key="ad_clinician").set_value("newdoc")
    admin.multiselect(key="ad_patients").set_value(["P001"])
    admin.button(key="FormSubmitter:assign-Assign").click().run()
    no_exception(admin)
    assert "1 assignment changed for newdoc." in texts(admin.toast)
    seen.append(_shown(admin))
    assert "(s)" not in " ".join(seen)


# -- admin ------------------------------------------------------------------------


def test_admin_messages_read_as_sentences_and_only_applicable_changes_are_offered(empty_store: Catalog) -> None:
    # Signed in as admin1, the only administrator.
    at = no_exception(page("admin", empty_store, "admin").run())
    at.selectbox(key="ad_target").set_value("admin1").run()
    assert "admin1 is an admin account, active." in texts(at.caption)
    # An active account can be disabled, not enabled.
    assert at.selectbox(key="ad_action").options == ["Change the role", "Set a new password", "Disable the account"]

    at.selectbox(key="ad_action").set_value("reset password").run()
    at.button(key="ad_apply").click().run()
    no_exception(at)
    assert texts(at.error) == "Enter a new password"
    at.text_input(key="ad_new_password").input("short")
    at.button(key="ad_apply").click().run()
    assert texts(at.error).startswith("Password too short: ")

    at.selectbox(key="ad_action").set_value("set role").run()
    at.selectbox(key="ad_new_role").set_value("clinician").run()
    at.button(key="ad_apply").click().run()
    no_exception(at)
    # Messages are written in the command line's lowercase style; a page shows them as sentences.
    assert texts(at.error).startswith("User 'admin1' is the last active administrator")

    users.add_user(empty_store, "gone", "researcher", PASSWORD, actor="test")
    users.disable_user(empty_store, "gone", actor="test")
    at = no_exception(page("admin", empty_store, "admin").run())
    at.selectbox(key="ad_target").set_value("gone").run()
    assert "gone is a researcher account, disabled." in texts(at.caption)
    assert at.selectbox(key="ad_action").options == ["Change the role", "Set a new password", "Enable the account"]


def test_admin_patients_picker_empties_after_an_assignment(empty_store: Catalog, feat_data: Path) -> None:
    _ingest(empty_store, feat_data / "single_face.mp4")
    users.add_user(empty_store, "newdoc", "clinician", PASSWORD, actor="test")
    at = no_exception(page("admin", empty_store, "admin").run())
    at.selectbox(key="ad_clinician").set_value("newdoc")
    at.multiselect(key="ad_patients").set_value(["P001"])
    at.button(key="FormSubmitter:assign-Assign").click().run()
    no_exception(at)
    assert users.assignments(empty_store, "newdoc")["patient_id"].tolist() == ["P001"]
    assert at.multiselect(key="ad_patients").value == []
    assert "enter a" not in texts(at.error).lower()


def test_admin_add_account_with_empty_fields_says_what_to_enter(empty_store: Catalog) -> None:
    at = no_exception(page("admin", empty_store, "admin").run())
    at.text_input(key="ad_username").input("dora")
    at.button(key="FormSubmitter:add_user-Add account").click().run()
    no_exception(at)
    assert texts(at.error) == "Enter an initial password"
    assert users.get_user(empty_store, "dora") is None


# -- visit date ---------------------------------------------------------------------


def test_upload_requires_a_visit_date(empty_store: Catalog, feat_data: Path) -> None:
    at = no_exception(page("upload", empty_store, "clinician").run())
    at.file_uploader[0].upload("single_face.mp4", (feat_data / "single_face.mp4").read_bytes(), "video/mp4")
    at.text_input(key="up_patient").input("P017")
    at.button(key="up_submit").click().run()
    no_exception(at)
    assert "Visit date is required: the date of the visit (YYYY-MM-DD)" in texts(at.error)
    assert empty_store.scalar("SELECT count(*) FROM videos") == 0


def test_videos_add_without_a_visit_date_warns_in_one_line(
    data_dir: Path, feat_data: Path, capsys: pytest.CaptureFixture
) -> None:
    # The command's contract keeps the date optional (the page requires it): stored undated, said in one line.
    video = str(feat_data / "single_face.mp4")
    assert main(["--data-dir", str(data_dir), "videos", "add", video, "--patient", "P001"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: no --visit-date: the visit is stored undated") and err.count("\n") == 1
    assert main(["--data-dir", str(data_dir), "videos", "list"]) == 0
    assert "P001" in capsys.readouterr().out


# -- command-line listings ---------------------------------------------------------------


def test_cli_lists_read_never_dates_and_no_nan(demo_template: Path, tmp_path: Path, feat_data: Path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_template, data)
    base = ["--data-dir", str(data)]
    from store import open_catalog

    with open_catalog(data) as catalog:
        users.add_user(catalog, "wadmin", "admin", PASSWORD, actor="test")
        # A queued extraction (its scope known, no warning yet) beside a job with no run (neither):
        # the missing values must not print as "nan".
        submit_extraction(catalog, [_ingest(catalog, feat_data / "single_face.mp4")], "mediapipe", {}, OPERATOR)
        job_rows.create_job(catalog, "extract", None, "test")
    assert main([*base, "users", "list"]) == 0
    assert capsys.readouterr().out.split()[-3:] == ["last", "sign-in", "never"]
    assert main([*base, "videos", "list"]) == 0
    listing = capsys.readouterr().out
    assert " 2023-" in listing and "00:00:00" not in listing
    assert main([*base, "jobs", "list"]) == 0
    assert "nan" not in capsys.readouterr().out.lower()


def test_a_closed_pipe_ends_the_listing_quietly(demo_template: Path, tmp_path: Path) -> None:
    import fcntl

    shutil.copytree(demo_template, tmp_path / "data")
    command = [sys.executable, "-m", "facs_core", "--data-dir", str(tmp_path / "data"), "videos", "list"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # As `videos list | head -1`. The pipe holds one page (4 KiB) while the listing is longer, so the
    # command is still writing when the reader closes its end, however fast or slow either side runs.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    with subprocess.Popen(command, stdout=write_end, stderr=subprocess.PIPE, env=env, cwd=REPO) as proc:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            assert reader.readline().split()[0] == b"video_id"
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert err == "" and code == 141, (code, err)


# -- jobs on Home and Extraction --------------------------------------------------------------


@pytest.mark.slow
def test_home_and_extraction_show_a_faceless_run_as_done_with_a_warning(
    empty_store: Catalog, feat_data: Path, capsys
) -> None:
    install_model()
    faceless = _ingest(empty_store, feat_data / "no_face.mp4")
    face = _ingest(empty_store, feat_data / "single_face.mp4")
    jobs = submit_extraction(empty_store, [faceless, face], "mediapipe", {}, OPERATOR)
    assert JobRunner(empty_store, num_cpus=1).run_until_idle() == dict.fromkeys(jobs, "done")

    home = no_exception(page("home", empty_store, "clinician", ("P001",)).run())
    table = home.table[0].value
    # A job is named by its visit: "P001 · 2024-03-01 · <video id>" (and a damage note where one applies).
    status = {video: table.loc[table["Visit"].str.contains(video), "Status"].item() for video in (faceless, face)}
    assert len(table) == 2
    assert status == {faceless: "done with a warning · no face found", face: "done"}
    assert set(table["Analysed"]) == {"whole video"}

    # The command line's list: a job without a warning prints none (never "warning: nan").
    assert main(["--data-dir", str(empty_store.paths.root), "jobs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if face in line and "warning" not in line and "nan" not in line]
    assert [line for line in lines if faceless in line and line.endswith("warning: no face found")]


def test_extraction_header_counts_the_jobs_it_lists(empty_store: Catalog, feat_data: Path) -> None:
    first = _ingest(empty_store, feat_data / "single_face.mp4")
    second = _ingest(empty_store, feat_data / "no_face.mp4")
    jobs = submit_extraction(empty_store, [first, second], "mediapipe", {}, OPERATOR)
    # One job has a progress line, the other none yet: the latter's row must not read "nan".
    job_rows.set_progress(empty_store, jobs[0], 0.0, "numbering frames")
    at = no_exception(page("extraction", empty_store, "clinician", ("P001",)).run())
    rows = [str(p.proto.text) for p in at.get("progress")]
    active = sum(text.startswith(("queued", "running")) for text in rows)
    assert active == 2
    assert f"{active} queued or running" in texts(at.caption)
    assert any(text.endswith("· numbering frames") for text in rows)
    assert not [text for text in rows if "nan" in text.split(" · ")], rows
