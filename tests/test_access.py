"""Roles and patient assignments, enforced at the function level.

Each role signs in (a real account, a real argon2 hash, a real DuckDB store)
and tries what the issue says it must not do. The expectations are written
from the issue's policy, not read from permissions.csv, so a wrong row in the
table fails here.
"""

from __future__ import annotations

import pytest

from facs_core.services import access
from facs_core.services.access import ACTIONS, PermissionDenied, User
from store import users
from store.videos import ensure_patient

PASSWORD = "a long enough passphrase"

# The policy: what each role must never be able to do, for any patient.
FORBIDDEN = {
    "clinician": {"admin", "view_cohort"},
    "researcher": {"play_video", "view_notes", "edit_segments", "upload", "run_extraction", "admin"},
    "admin": {"play_video", "view_patient", "view_notes", "edit_segments", "upload", "run_extraction", "export"},
}
REQUIRED = {
    "clinician": {"view_home", "upload", "play_video", "edit_segments", "run_extraction", "view_patient", "export"},
    "researcher": {"view_home", "view_cohort", "view_patient", "export"},
    "admin": {"view_home", "admin"},
}


@pytest.fixture
def people(catalog):
    """One signed-in user per role, plus two patients, P001 assigned to the clinician."""
    signed_in = {}
    for role in access.ROLES:
        users.add_user(catalog, f"{role}1", role, PASSWORD, actor="test")
        signed_in[role] = users.authenticate(catalog, f"{role}1", PASSWORD)
        assert signed_in[role] == User(f"{role}1", role)
    for code in ("P001", "P002"):
        ensure_patient(catalog, code)
    users.assign_patient(catalog, "clinician1", "P001", actor="test")
    return signed_in


@pytest.mark.parametrize("role", access.ROLES)
def test_each_role_is_refused_what_the_policy_forbids(catalog, people, role):
    user = people[role]
    for action in FORBIDDEN[role]:
        assert not access.allowed(user, action)
        with pytest.raises(PermissionDenied, match=role):
            access.check(catalog, user, action)
        with pytest.raises(PermissionDenied):
            access.check(catalog, user, action, patient_id="P001")
    for action in REQUIRED[role]:
        assert access.allowed(user, action)
        assert access.check(catalog, user, action) == user


def test_clinician_sees_only_assigned_patients(catalog, people):
    clinician = people["clinician"]
    for action in ("play_video", "edit_segments", "run_extraction", "view_patient", "view_notes", "export"):
        access.check(catalog, clinician, action, patient_id="P001")
        with pytest.raises(PermissionDenied, match="P002"):
            access.check(catalog, clinician, action, patient_id="P002")
    assert access.visible_patients(catalog, clinician) == ["P001"]
    users.unassign_patient(catalog, "clinician1", "P001", actor="test")
    with pytest.raises(PermissionDenied):
        access.check(catalog, clinician, "play_video", patient_id="P001")
    assert access.visible_patients(catalog, clinician) == []


def test_upload_for_a_new_patient_is_allowed_but_not_for_someone_elses(catalog, people):
    clinician = people["clinician"]
    access.check(catalog, clinician, "upload", patient_id="P999")  # not in the catalog yet
    with pytest.raises(PermissionDenied):
        access.check(catalog, clinician, "upload", patient_id="P002")  # exists, not assigned


def test_researcher_sees_every_code_admin_none(catalog, people):
    assert access.visible_patients(catalog, people["researcher"]) == ["P001", "P002"]
    assert access.visible_patients(catalog, people["admin"]) == []
    assert access.visible_patients(catalog, None) == []


def test_nobody_signed_in_is_refused_everything(catalog, people):
    for action in ACTIONS:
        assert not access.allowed(None, action)
        with pytest.raises(PermissionDenied, match="sign in"):
            access.check(catalog, None, action)


def test_a_forged_session_user_gets_nothing(catalog, people):
    # A session claiming a role the account does not have, or an unknown account.
    assert access.check(catalog, User("researcher1", "admin"), "view_cohort").role == "researcher"
    with pytest.raises(PermissionDenied):
        access.check(catalog, User("researcher1", "admin"), "admin")
    with pytest.raises(PermissionDenied, match="unknown or disabled"):
        access.check(catalog, User("mallory", "admin"), "view_home")


def test_disabling_and_role_changes_take_effect_at_the_next_check(catalog, people):
    clinician = people["clinician"]
    users.set_role(catalog, "clinician1", "researcher", actor="admin1")
    with pytest.raises(PermissionDenied):
        access.check(catalog, clinician, "play_video", patient_id="P001")
    users.disable_user(catalog, "clinician1", actor="admin1")
    with pytest.raises(PermissionDenied, match="disabled"):
        access.check(catalog, clinician, "view_home")
    actions = catalog.query("SELECT action FROM audit_log WHERE target = 'clinician1'")["action"].tolist()
    assert "role changed" in actions and "user disabled" in actions


def test_unknown_action_fails_closed(catalog, people):
    with pytest.raises(ValueError, match="unknown action"):
        access.check(catalog, people["admin"], "delete_everything")
    with pytest.raises(ValueError):
        access.allowed(people["admin"], "play-video")


def test_permission_table_has_a_rationale_for_every_row():
    import csv
    from importlib import resources

    text = resources.files("facs_core.resources").joinpath("permissions.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and all(len(row["rationale"].strip()) > 20 for row in rows)
    assert len({(r["role"], r["action"]) for r in rows}) == len(rows)
