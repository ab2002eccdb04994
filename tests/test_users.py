"""Local accounts: argon2id hashes, password policy, audited sign-ins, the CLI and the sign-in page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from facs_core.errors import InputError
from facs_core.services.access import User
from store import open_catalog, sessions, users
from tests.conftest import REPO_ROOT

PASSWORD = "correct horse battery staple"


def _events(catalog, action):
    return catalog.query("SELECT * FROM audit_log WHERE action = ? ORDER BY event_id", [action])


def test_password_is_stored_as_argon2id_and_never_in_clear(catalog):
    users.add_user(catalog, "alice", "clinician", PASSWORD, actor="test")
    stored = catalog.scalar("SELECT password_hash FROM users WHERE username = 'alice'")
    assert stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, PASSWORD)
    everything = catalog.query("SELECT * FROM audit_log").to_csv() + users.list_users(catalog).to_csv()
    assert PASSWORD not in everything and "argon2" not in everything


@pytest.mark.parametrize("password", ["s3cr", "", "aaaaaaaaaaaaaaaa", "alice.example", "x" * 2000 + "y"])
def test_password_policy_refuses_weak_passwords_in_one_line(catalog, password):
    with pytest.raises(InputError) as caught:
        users.add_user(catalog, "alice.example", "clinician", password, actor="test")
    assert "\n" not in str(caught.value) and (not password or password not in str(caught.value))
    assert users.list_users(catalog).empty


def test_sign_in_outcomes_are_audited(catalog):
    users.add_user(catalog, "alice", "clinician", PASSWORD, actor="test")
    assert users.authenticate(catalog, "alice", PASSWORD) == User("alice", "clinician")
    assert users.authenticate(catalog, "alice", PASSWORD + "x") is None
    assert users.authenticate(catalog, "nobody", PASSWORD) is None
    assert users.authenticate(catalog, "' OR 1=1 --", PASSWORD) is None
    failed = _events(catalog, "sign-in failed")
    assert failed["detail"].tolist() == ["wrong password", "unknown account", "unknown account"]
    # Typed names that are not accounts are not recorded (they may be passwords typed in the wrong field).
    assert failed["target"].iloc[1:].isna().all()
    assert _events(catalog, "sign-in")["actor"].tolist() == ["alice"]
    assert catalog.scalar("SELECT last_login_at FROM users WHERE username = 'alice'") is not None


def test_disabled_account_is_refused_even_with_the_right_password(catalog):
    users.add_user(catalog, "admin1", "admin", PASSWORD, actor="test")
    users.add_user(catalog, "bob", "researcher", PASSWORD, actor="test")
    users.disable_user(catalog, "bob", actor="admin1")
    assert users.authenticate(catalog, "bob", PASSWORD) is None
    assert _events(catalog, "sign-in failed")["detail"].tolist() == ["account disabled"]
    users.enable_user(catalog, "bob", actor="admin1")
    assert users.authenticate(catalog, "bob", PASSWORD) == User("bob", "researcher")


def test_repeated_failures_lock_the_account_until_reset(catalog):
    users.add_user(catalog, "carol", "clinician", PASSWORD, actor="test")
    for _ in range(users.LOCKOUT_FAILURES):
        assert users.authenticate(catalog, "carol", "wrong password!!") is None
    assert users.authenticate(catalog, "carol", PASSWORD) is None  # locked, right password or not
    assert _events(catalog, "sign-in failed")["detail"].iloc[-1] == "account locked after repeated failures"
    users.reset_password(catalog, "carol", "a brand new passphrase", actor="admin1")
    assert users.authenticate(catalog, "carol", PASSWORD) is None
    assert users.authenticate(catalog, "carol", "a brand new passphrase") == User("carol", "clinician")


def test_the_last_administrator_cannot_be_removed(catalog):
    users.add_user(catalog, "root", "admin", PASSWORD, actor="test", first_admin=True)
    with pytest.raises(InputError, match="last active administrator"):
        users.disable_user(catalog, "root", actor="root")
    with pytest.raises(InputError, match="last active administrator"):
        users.set_role(catalog, "root", "clinician", actor="root")
    with pytest.raises(InputError, match="already exists"):
        users.add_user(catalog, "second", "admin", PASSWORD, actor="anonymous", first_admin=True)
    assert users.has_admin(catalog)


@pytest.mark.parametrize(
    "name",
    ["'; DROP TABLE users; --", "Zoë", "ユーザー", "../../etc/passwd", "a b", "", "x" * 200, "=cmd|' /C calc'!A0"],
)
def test_hostile_user_names_are_refused_in_one_line(catalog, name):
    with pytest.raises(InputError) as caught:
        users.add_user(catalog, name, "clinician", PASSWORD, actor="test")
    assert "\n" not in str(caught.value)
    assert catalog.scalar("SELECT count(*) FROM users") == 0


def test_single_sign_on_maps_email_to_an_account(catalog):
    users.add_user(catalog, "dr.who@hospital.example", "clinician", None, actor="test")
    assert users.sign_in_sso(catalog, "Dr.Who@Hospital.example") == User("dr.who@hospital.example", "clinician")
    assert users.sign_in_sso(catalog, "stranger@elsewhere.example") is None
    assert users.sign_in_sso(catalog, None) is None
    # An SSO account has no local password to guess.
    assert users.authenticate(catalog, "dr.who@hospital.example", "") is None


def _cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facs_core", "--data-dir", str(data_dir), "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_cli_manages_accounts_without_echoing_passwords(data_dir):
    done = _cli(data_dir, "add", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    added = _cli(data_dir, "add", "dana", "--role", "clinician", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert _cli(data_dir, "assign", "dana", "P042").returncode == 0
    weak = _cli(data_dir, "add", "eve", "--role", "clinician", "--password-stdin", stdin="weak\n")
    assert weak.returncode == 2 and weak.stderr.startswith("error: password too short") and "weak" not in weak.stderr
    no_tty = _cli(data_dir, "reset", "dana", stdin="")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    assert _cli(data_dir, "reset", "dana", "--password-stdin", stdin="another fine passphrase\n").returncode == 0
    assert _cli(data_dir, "disable", "dana").returncode == 0
    listing = _cli(data_dir, "list")
    assert "dana" in listing.stdout and "disabled" in listing.stdout and "argon2" not in listing.stdout
    gone = _cli(data_dir, "disable", "nobody")
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "Traceback" not in gone.stderr
    catalog = open_catalog(data_dir)
    try:
        trail = catalog.query("SELECT * FROM audit_log").to_csv()
        assert catalog.scalar("SELECT patient_id FROM assignments WHERE username = 'dana'") == "P042"
    finally:
        catalog.close()
    for secret in (PASSWORD, "another fine passphrase"):
        assert secret not in trail
        for log in (data_dir / "logs").glob("*"):
            assert secret not in log.read_text("utf-8", errors="replace")
    assert "password reset" in trail and "user disabled" in trail and "cli:" in trail


def _sign_in_page():
    import os

    import streamlit as st

    from store import open_catalog
    from web.auth import current_user, require, sign_out_button

    store = open_catalog(os.environ["FACS_DATA_DIR"])
    user = current_user(store)
    st.write(f"hello {user.username}")
    sign_out_button(store)
    require(store, "admin")
    st.write("admin area")


def _app(data_dir: Path) -> AppTest:
    os.environ["FACS_DATA_DIR"] = str(data_dir)
    return AppTest.from_function(_sign_in_page, default_timeout=60)


def test_first_start_creates_the_administrator_then_signs_in(data_dir):
    at = _app(data_dir).run()
    assert "first administrator" in at.title[0].value
    at.text_input[0].input("root")
    at.text_input[1].input(PASSWORD)
    at.text_input[2].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert any("admin area" in m.value for m in at.markdown)
    assert at.session_state["user"] == User("root", "admin")


def test_sign_in_form_refuses_wrong_password_and_role_is_enforced(data_dir):
    catalog = open_catalog(data_dir)
    users.add_user(catalog, "root", "admin", PASSWORD, actor="test")
    users.add_user(catalog, "rita", "researcher", PASSWORD, actor="test")
    at = _app(data_dir).run()
    assert at.title[0].value == "Sign in"
    at.text_input[0].input("rita")
    at.text_input[1].input("not the password")
    at.button[0].click().run()
    assert at.error and "refused" in at.error[0].value
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert any("hello rita" in m.value for m in at.markdown)
    assert not any("admin area" in m.value for m in at.markdown)
    assert "researcher role may not admin" in at.error[0].value
    denied = catalog.query("SELECT actor, detail FROM audit_log WHERE action = 'access denied'")
    assert denied.values.tolist() == [["rita", "action=admin"]]
    catalog.close()


def test_inactive_session_times_out(data_dir, monkeypatch):
    catalog = open_catalog(data_dir)
    users.add_user(catalog, "root", "admin", PASSWORD, actor="test")
    token = sessions.start(catalog, "root", lifetime_s=3600, now=time.time() - 31 * 60)  # idle for 31 minutes
    at = _app(data_dir)
    at.session_state["_auth_token"] = token
    at.run()
    assert at.title[0].value == "Sign in" and "inactivity" in at.info[0].value
    assert catalog.scalar("SELECT detail FROM audit_log WHERE action = 'sign-out'") == "inactivity timeout"
    assert catalog.scalar("SELECT end_reason FROM sessions") == "inactivity timeout"
    monkeypatch.setenv("FACS_SESSION_TIMEOUT_MIN", "soon")
    at = _app(data_dir)
    at.session_state["_auth_token"] = sessions.start(catalog, "root", lifetime_s=3600)
    at.run()
    assert "FACS_SESSION_TIMEOUT_MIN" in at.error[0].value
    catalog.close()
