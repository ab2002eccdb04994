"""Every library call that changes the store checks the acting user itself.

Real store, real accounts: a clinician assigned to P001 only, a researcher,
an administrator. Each state-changing call (job retry/cancel/submit, segment
add/edit/delete, ingest, export) is tried by someone who may not, and by an
account disabled after it signed in; each must be refused, change nothing,
and leave an "access denied" entry on the audit trail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from facs_core.probe import probe_video
from facs_core.services import downloads, jobs, segment_edits
from facs_core.services.access import LocalOperator, PermissionDenied, User
from facs_core.services.ingest import ingest_video
from store import audit, job_rows, users
from store.segment_rows import add_segment, get_segment
from store.videos import add_video, ensure_patient

PASSWORD = "a long enough passphrase"
OPERATOR = LocalOperator("cli:test")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def setting(catalog, feat_data: Path):
    """A video of P001 (assigned to clara) and one of P002 (assigned to nobody), each with a cancelled job."""
    for name, role in (("clara", "clinician"), ("rita", "researcher"), ("ada", "admin")):
        users.add_user(catalog, name, role, PASSWORD, actor="test")
    videos = {}
    for patient, name in (("P001", "single_face.mp4"), ("P002", "no_face.mp4")):
        source = feat_data / name
        ensure_patient(catalog, patient)
        record, _ = add_video(catalog, source, probe_video(source), patient_id=patient, original_name=name)
        videos[patient] = record["video_id"]
    users.assign_patient(catalog, "clara", "P001", actor="test")
    job_ids = {}
    for patient, video_id in videos.items():
        (job_id,) = jobs.submit_extraction(catalog, [video_id], "mediapipe", {}, OPERATOR)
        assert jobs.cancel_job(catalog, job_id, OPERATOR) == "cancelled"
        job_ids[patient] = job_id
    return videos, job_ids


def _denials(catalog) -> int:
    events = audit.events(catalog, 10_000)
    return int((events["action"] == "access denied").sum())


def _status(catalog, job_id: str) -> str:
    return job_rows.get_job(catalog, job_id)["status"]


def test_retry_by_a_disabled_account_is_refused_and_audited(catalog, setting) -> None:
    _, job_ids = setting
    clara = users.authenticate(catalog, "clara", PASSWORD)
    jobs.retry_job(catalog, job_ids["P001"], clara)
    assert _status(catalog, job_ids["P001"]) == "queued"
    jobs.cancel_job(catalog, job_ids["P001"], clara)
    # Disabled after sign-in: the page still holds her User object.
    users.disable_user(catalog, "clara", actor="ada")
    before = _denials(catalog)
    with pytest.raises(PermissionDenied, match="disabled"):
        jobs.retry_job(catalog, job_ids["P001"], clara)
    assert _status(catalog, job_ids["P001"]) == "cancelled"
    assert _denials(catalog) == before + 1
    last = audit.events(catalog, 1).iloc[0]
    assert (last["actor"], last["action"], last["target"]) == ("clara", "access denied", job_ids["P001"])


def test_job_calls_check_the_patient_and_the_role(catalog, setting) -> None:
    videos, job_ids = setting
    clara, rita, ada = (User("clara", "clinician"), User("rita", "researcher"), User("ada", "admin"))
    for user in (clara, rita, ada):
        with pytest.raises(PermissionDenied):
            jobs.retry_job(catalog, job_ids["P002"], user)
        with pytest.raises(PermissionDenied):
            jobs.submit_extraction(catalog, [videos["P002"]], "mediapipe", {"every": 3}, user)
    with pytest.raises(PermissionDenied):
        jobs.retry_job(catalog, job_ids["P001"], rita)
    assert _status(catalog, job_ids["P002"]) == "cancelled"
    assert _denials(catalog) == 7
    # A forged role on the in-memory user changes nothing: the catalog's role counts.
    with pytest.raises(PermissionDenied):
        jobs.retry_job(catalog, job_ids["P001"], User("rita", "clinician"))


def test_segment_edits_check_the_acting_user(catalog, setting) -> None:
    videos, _ = setting
    clara, rita = User("clara", "clinician"), User("rita", "researcher")
    mine = segment_edits.add_segment(catalog, clara, videos["P001"], 0.0, 1.0, "sleep")
    assert mine["author"] == "clara"
    theirs = add_segment(catalog, videos["P002"], 0.0, 1.0, "sleep", author="someone")
    with pytest.raises(PermissionDenied):
        segment_edits.add_segment(catalog, clara, videos["P002"], 1.0, 2.0, "sleep")
    with pytest.raises(PermissionDenied):
        segment_edits.update_segment(catalog, clara, theirs["segment_id"], expected_revision=1, label="anhedonia")
    with pytest.raises(PermissionDenied):
        segment_edits.delete_segment(catalog, rita, mine["segment_id"], expected_revision=1)
    with pytest.raises(PermissionDenied):
        # A researcher learns nothing about segment ids either.
        segment_edits.delete_segment(catalog, rita, 10_000, expected_revision=1)
    assert get_segment(catalog, theirs["segment_id"])["label"] == "sleep"
    assert get_segment(catalog, mine["segment_id"])["revision"] == 1
    assert _denials(catalog) == 4
    users.disable_user(catalog, "clara", actor="ada")
    with pytest.raises(PermissionDenied):
        segment_edits.update_segment(catalog, clara, mine["segment_id"], expected_revision=1, label="anhedonia")
    assert get_segment(catalog, mine["segment_id"])["label"] == "sleep"


def test_ingest_checks_the_uploader(catalog, feat_data: Path) -> None:
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    users.add_user(catalog, "rita", "researcher", PASSWORD, actor="test")
    ensure_patient(catalog, "P009")
    video = feat_data / "single_face.mp4"
    for user, patient in ((User("rita", "researcher"), "P100"), (User("clara", "clinician"), "P009")):
        with pytest.raises(PermissionDenied):
            ingest_video(catalog, video, original_name="v.mp4", patient_id=patient, user=user)
    assert catalog.scalar("SELECT count(*) FROM videos") == 0
    assert _denials(catalog) == 2
    # A new patient code is the clinician's to create.
    record, created = ingest_video(
        catalog, video, original_name="v.mp4", patient_id="P100", user=User("clara", "clinician")
    )
    assert created and record["patient_id"] == "P100"


def test_export_for_checks_every_patient_and_audits(catalog, setting) -> None:
    import pandas as pd

    frame = pd.DataFrame({"patient_id": ["P001", "P002"], "AU12": [0.1, 0.2], "original_name": ["a.mp4", "b.mp4"]})
    clara, rita, ada = (User("clara", "clinician"), User("rita", "researcher"), User("ada", "admin"))
    with pytest.raises(PermissionDenied):
        downloads.export_for(catalog, clara, frame, what="AU summary")
    with pytest.raises(PermissionDenied):
        downloads.export_for(catalog, ada, frame, what="AU summary")
    assert b"P001" in downloads.export_for(catalog, clara, frame[frame["patient_id"] == "P001"], what="AU summary")
    data = downloads.export_for(catalog, rita, frame, what="AU summary")
    assert b"P002" in data and b"a.mp4" not in data
    events = audit.events(catalog, 10_000)
    assert list(events.loc[events["action"] == "export", "actor"]) == ["rita", "clara"]
    assert _denials(catalog) == 2
    users.disable_user(catalog, "rita", actor="ada")
    with pytest.raises(PermissionDenied):
        downloads.export_for(catalog, rita, frame, what="AU summary", fmt="parquet")


def test_the_local_operator_is_recognised_by_type_only(catalog, setting) -> None:
    _, job_ids = setting
    # A browser user can only hold a role from the users table; a look-alike is an ordinary, unknown account.
    with pytest.raises(PermissionDenied):
        jobs.retry_job(catalog, job_ids["P002"], User("cli:test", "operator"))
    jobs.retry_job(catalog, job_ids["P002"], OPERATOR)
    assert _status(catalog, job_ids["P002"]) == "queued"
    assert audit.events(catalog, 1).iloc[0]["actor"] == "cli:test"


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }


def test_pages_change_nothing_except_through_authorising_calls() -> None:
    """Pages reach the store-level writers only through the services that check the user."""
    unchecked = {"export_csv", "pseudonymise", "create_job", "set_job_status", "request_cancel"}
    for path in sorted((REPO / "pages").glob("*.py")):
        source = path.read_text("utf-8")
        assert "store.segment_rows import add_segment" not in source, path.name
        assert "segment_store.add_segment" not in source and "segment_store.update_segment" not in source
        assert "segment_store.delete_segment" not in source, path.name
        assert not (_calls(path) & unchecked), f"{path.name} calls {_calls(path) & unchecked}"
