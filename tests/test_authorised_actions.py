"""Every library call that changes the store checks the acting user itself.

Real store, real accounts: a clinician assigned to P001 only, a researcher,
an administrator. Each state-changing call (job retry/cancel/submit, segment
add/edit/delete, ingest, export) is tried by someone who may not, and by an
account disabled after it signed in; each must be refused, change nothing,
and leave an "access denied" entry on the audit trail. Account and assignment
changes, backups, restores and upload reception too.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from facs_core.errors import InputError
from facs_core.probe import probe_video
from facs_core.services import accounts, downloads, jobs, segment_edits, uploads
from facs_core.services import backup as backups
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
    """Pages, dashboard helpers and commands reach the store-level writers only through services that check the user."""
    unchecked = {"export_csv", "pseudonymise", "create_job", "set_job_status", "request_cancel"}
    account_writers = {
        f"users.{name}"
        for name in ("add_user", "disable_user", "enable_user", "reset_password", "set_role", "assign_patient")
    } | {"users.unassign_patient"}
    views = [
        *sorted((REPO / "pages").glob("*.py")),
        *sorted((REPO / "web").glob("*.py")),
        *sorted((REPO / "facs_core" / "cli").glob("*.py")),
    ]
    for path in views:
        written = {name for name in account_writers if f"{name}(" in path.read_text("utf-8")}
        assert not written, f"{path.relative_to(REPO)} calls {sorted(written)}; use facs_core.services.accounts"
    for path in sorted((REPO / "pages").glob("*.py")):
        source = path.read_text("utf-8")
        assert "store.segment_rows import add_segment" not in source, path.name
        assert "segment_store.add_segment" not in source and "segment_store.update_segment" not in source
        assert "segment_store.delete_segment" not in source, path.name
        assert not (_calls(path) & unchecked), f"{path.name} calls {_calls(path) & unchecked}"


def test_account_changes_check_the_acting_user(catalog, setting) -> None:
    clara, rita, ada = (User("clara", "clinician"), User("rita", "researcher"), User("ada", "admin"))
    changes = [
        lambda who: accounts.add_user(catalog, who, "eve", "clinician", PASSWORD),
        lambda who: accounts.disable_user(catalog, who, "rita"),
        lambda who: accounts.enable_user(catalog, who, "rita"),
        lambda who: accounts.reset_password(catalog, who, "rita", "another long passphrase"),
        lambda who: accounts.set_role(catalog, who, "rita", "admin"),
        lambda who: accounts.assign_patient(catalog, who, "clara", "P002"),
        lambda who: accounts.unassign_patient(catalog, who, "clara", "P001"),
    ]
    before = catalog.query("SELECT * FROM users ORDER BY ALL").to_csv(), users.assignments(catalog).to_csv()
    for who in (clara, rita, User("clara", "admin")):  # a forged role counts for nothing
        for change in changes:
            with pytest.raises(PermissionDenied):
                change(who)
    assert (catalog.query("SELECT * FROM users ORDER BY ALL").to_csv(), users.assignments(catalog).to_csv()) == before
    assert _denials(catalog) == 3 * len(changes)
    # The administrator may, each change audited under her name.
    accounts.assign_patient(catalog, ada, "clara", "P002")
    accounts.set_role(catalog, ada, "rita", "clinician")
    assert set(users.assignments(catalog, "clara")["patient_id"]) == {"P001", "P002"}
    assert audit.events(catalog, 1).iloc[0]["actor"] == "ada"
    # Disabled after her page was drawn: her next change is refused.
    accounts.add_user(catalog, ada, "ben", "admin", PASSWORD)
    accounts.disable_user(catalog, User("ben", "admin"), "ada")
    with pytest.raises(PermissionDenied, match="disabled"):
        accounts.unassign_patient(catalog, ada, "clara", "P002")
    assert set(users.assignments(catalog, "clara")["patient_id"]) == {"P001", "P002"}
    # The command line acts as the local operator.
    accounts.unassign_patient(catalog, OPERATOR, "clara", "P002")
    assert audit.events(catalog, 1).iloc[0]["actor"] == "cli:test"


def test_backup_and_restore_check_the_acting_user(catalog, setting, tmp_path: Path) -> None:
    for who in (User("clara", "clinician"), User("rita", "researcher")):
        with pytest.raises(PermissionDenied):
            backups.backup(catalog, tmp_path / f"{who.username}.tar", user=who)
    assert not list(tmp_path.glob("*.tar"))
    assert _denials(catalog) == 2
    archive = backups.backup(catalog, tmp_path / "ada.tar", user=User("ada", "admin")).archive
    assert audit.events(catalog, 1).iloc[0][["actor", "action"]].tolist() == ["ada", "backup"]
    # Restoring replaces every account: only the command line may.
    with pytest.raises(PermissionDenied, match="on the server"):
        backups.restore(archive, tmp_path / "restored", user=User("ada", "admin"))
    assert not (tmp_path / "restored").exists()
    backups.restore(archive, tmp_path / "restored", user=OPERATOR)


def test_upload_reception_checks_the_uploader_before_receiving(catalog, setting, feat_data: Path) -> None:
    video = (feat_data / "single_face.mp4").read_bytes()
    for who, patient in ((User("rita", "researcher"), None), (User("clara", "clinician"), "P002")):
        with pytest.raises(PermissionDenied):
            uploads.receive(catalog, who, io.BytesIO(video), "v.mp4", patient_id=patient)
    assert not list(catalog.paths.tmp.glob("upload-*"))
    assert _denials(catalog) == 2
    mine = uploads.receive(catalog, User("clara", "clinician"), io.BytesIO(video), "v.mp4", patient_id="P001")
    mine.path.unlink()


def test_a_clinician_who_uploads_a_new_patient_is_assigned_it_with_the_visit(catalog, setting, feat_data) -> None:
    clara = User("clara", "clinician")
    _, created = ingest_video(
        catalog, feat_data / "WolfgangLanger_Pexels.mp4", original_name="v.mp4", patient_id="P300", user=clara
    )
    assert created and "P300" in set(users.assignments(catalog, "clara")["patient_id"])
    assert catalog.scalar("SELECT count(*) FROM audit_log WHERE action = 'patient assigned' AND target = 'P300'") == 1


def test_demo_patients_are_claimed_by_a_clinician_only(catalog, setting) -> None:
    from facs_core.services.demo import load_demo

    load_demo(catalog, with_videos=False, n_patients=2)
    assert accounts.claim_demo_patients(catalog, User("ada", "admin")) == []
    with pytest.raises(PermissionDenied):
        accounts.claim_demo_patients(catalog, User("rita", "researcher"))
    claimed = accounts.claim_demo_patients(catalog, User("clara", "clinician"))
    assert claimed and set(claimed) <= set(users.assignments(catalog, "clara")["patient_id"])
    assert "P002" not in set(users.assignments(catalog, "clara")["patient_id"])  # real patients are never claimed
    with pytest.raises(InputError):
        accounts.assign_patient(catalog, OPERATOR, "ada", "P001")  # administrators are not assigned patients


def test_a_deferred_download_checks_the_session_when_the_file_is_made(catalog, setting, monkeypatch) -> None:
    """Signed out, timed out or disabled between drawing the page and clicking: no file, audited."""
    import time

    import pandas as pd

    from store import sessions

    frame = pd.DataFrame({"patient_id": ["P001"], "AU12": [0.1]})
    clara = User("clara", "clinician")
    token = sessions.start(catalog, "clara", lifetime_s=3600)
    assert b"P001" in downloads.export_for(catalog, clara, frame, what="AU summary", session_token=token)
    # Another user's session token does not make clara's file.
    rita_token = sessions.start(catalog, "rita", lifetime_s=3600)
    with pytest.raises(PermissionDenied, match="session has ended"):
        downloads.export_for(catalog, clara, frame, what="AU summary", session_token=rita_token)
    # Inactivity: the file is made after the timeout ran out.
    monkeypatch.setenv("FACS_SESSION_TIMEOUT_MIN", "0.0005")  # 30 ms
    time.sleep(0.1)
    with pytest.raises(PermissionDenied, match="inactivity"):
        downloads.export_for(catalog, clara, frame, what="AU summary", session_token=token)
    monkeypatch.delenv("FACS_SESSION_TIMEOUT_MIN")
    # Signed out in another tab.
    fresh = sessions.start(catalog, "clara", lifetime_s=3600)
    sessions.end(catalog, fresh, "signed out")
    with pytest.raises(PermissionDenied, match="signed out"):
        downloads.export_for(catalog, clara, frame, what="AU summary", session_token=fresh, fmt="parquet")
    # Disabled by an administrator; the chart buttons' check is the same one.
    third = sessions.start(catalog, "clara", lifetime_s=3600)
    assert downloads.check_session(catalog, clara, third) == clara
    accounts.disable_user(catalog, User("ada", "admin"), "clara")
    with pytest.raises(PermissionDenied, match="disabled"):
        downloads.check_session(catalog, clara, third)
    assert _denials(catalog) == 4
    exports = audit.events(catalog, 10_000)
    assert list(exports.loc[exports["action"] == "export", "actor"]) == ["clara"]


def test_pages_pass_their_session_to_every_deferred_download() -> None:
    """Every ``export_for`` in a page gets the tab's session token; chart images go through ``while_signed_in``."""

    def called(node: ast.AST) -> str:
        return getattr(node.func, "attr", getattr(node.func, "id", "")) if isinstance(node, ast.Call) else ""

    views = [*sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "web").glob("*.py"))]
    images = 0
    for path in views:
        tree = ast.parse(path.read_text("utf-8"))
        wrappers = [node for node in ast.walk(tree) if called(node) == "while_signed_in"]
        guarded = {id(inner) for wrapper in wrappers for inner in ast.walk(wrapper)}
        for node in ast.walk(tree):
            if called(node) == "export_for":
                assert "session_token" in {k.arg for k in node.keywords}, f"{path.name}:{node.lineno}"
            if called(node) == "chart_image":
                images += 1
                assert id(node) in guarded, f"{path.name}:{node.lineno}: chart image made outside while_signed_in"
    assert images  # the chart downloads (web/common.py) make images
