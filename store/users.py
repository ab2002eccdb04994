"""Local accounts: argon2id password hashes, roles and patient assignments.

Passwords are hashed with argon2id (RFC 9106) through argon2-cffi's
:class:`~argon2.PasswordHasher` with its default (RFC 9106 "low memory")
parameters and are never stored, logged or audited in clear. Sign-in takes the
same time whether the account exists or not (a dummy hash is verified for
unknown names), so response times do not reveal account names. Repeated failed
sign-ins lock an account for a while (OWASP Authentication Cheat Sheet,
"account lockout"; the counter is the audit trail itself), and repeated
failures from one client address refuse that client for a while, whichever
accounts it tries (table ``sign_in_attempts``). Every refusal is audited with
its reason; the person signing in always sees the same message.

Password policy after NIST SP 800-63B section 5.1.1.2: a minimum length (12),
a maximum (so hashing cannot be used for denial of service), not the user name,
not one repeated character; no composition rules.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from facs_core.errors import InputError
from facs_core.records import ROLES, User
from facs_core.wording import article
from store import audit
from store.catalog import Catalog, named_row
from store.sessions import end_for_user
from store.videos import check_patient_code

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
#: Failed sign-ins within :data:`LOCKOUT_WINDOW` after which an account is refused.
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
#: Failed sign-ins from one client address within :data:`LOCKOUT_WINDOW` after
#: which every sign-in from that address is refused (password spraying over
#: many accounts, which the per-account lockout alone does not stop).
CLIENT_FAILURES = 20

# Letters, digits and . _ @ + - : local names and e-mail addresses (for single
# sign-on mapping); nothing that needs quoting in a log line or a shell.
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")

_hasher = PasswordHasher()
# Verified when the account does not exist, so that case costs the same time.
_DUMMY_HASH = _hasher.hash("not a password of any account")


def check_username(username: str) -> str:
    """A valid account name: 1-128 letters, digits, '.', '_', '@', '+' or '-'."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InputError(f"user name {username!r} is not allowed: use 1-128 letters, digits, '.', '_', '@', '+' or '-'")
    return username


def check_role(role: str) -> str:
    """One of ``clinician``, ``researcher``, ``admin``."""
    if role not in ROLES:
        raise InputError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    return role


def check_password(password: str, username: str | None = None) -> str:
    """Apply the minimum password policy; return the password unchanged.

    Raises
    ------
    InputError
        Too short, too long, equal to the user name or a single repeated
        character. The message never contains the password.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError(f"password too long: use at most {MAX_PASSWORD_LENGTH} characters")
    if username is not None and password.strip().lower() == username.strip().lower():
        raise InputError("password must not be the user name")
    if len(set(password)) == 1:
        raise InputError("password must not be one repeated character")
    return password


def _account(catalog: Catalog, username: str) -> dict | None:
    return catalog.fetchrow("SELECT username, password_hash, role, active FROM users WHERE username = ?", [username])


def get_user(catalog: Catalog, username: str) -> User | None:
    """The active account ``username`` as a :class:`User`, or None."""
    row = _account(catalog, username)
    if row is None or not row["active"]:
        return None
    return User(row["username"], row["role"])


def has_admin(catalog: Catalog) -> bool:
    """Whether the store has at least one active administrator."""
    return bool(catalog.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND active"))


def add_user(
    catalog: Catalog,
    username: str,
    role: str,
    password: str | None,
    *,
    actor: str,
    first_admin: bool = False,
) -> User:
    """Create an account.

    Parameters
    ----------
    username, role : str
        The new account; see :func:`check_username` and :func:`check_role`.
    password : str or None
        Checked with :func:`check_password` and stored as an argon2id hash.
        None makes a single-sign-on account (no local password; the OIDC
        e-mail must equal the user name).
    actor : str
        Who creates it, for the audit trail.
    first_admin : bool
        Only succeed if the store has no administrator yet (the first-start
        form); checked in the same transaction as the insert, so two browsers
        racing on the first start cannot both create one.
    """
    check_username(username)
    check_role(role)
    hashed = None if password is None else _hasher.hash(check_password(password, username))
    with catalog.transaction() as cur:
        if first_admin:
            if role != "admin":
                raise InputError("the first account must be an administrator")
            admins = cur.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active").fetchone()[0]
            if admins:
                raise InputError("an administrator already exists; sign in instead")
        exists = cur.execute("SELECT count(*) FROM users WHERE username = ?", [username]).fetchone()[0]
        if exists:
            raise InputError(f"user {username!r} already exists")
        cur.execute("INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)", [username, hashed, role])
        audit.record(catalog, actor, audit.USER_ADDED, username, f"role={role}" + (" sso" if hashed is None else ""))
    return User(username, role)


def _recent_failures(catalog: Catalog, username: str) -> int:
    # Failures since the last successful sign-in (or an administrator's reset
    # or re-enable, which is how a locked-out user gets back in early), within
    # the lockout window.
    return int(
        catalog.scalar(
            "SELECT count(*) FROM audit_log WHERE target = ? AND action = ?"
            " AND occurred_at > current_timestamp::TIMESTAMP - ?::INTERVAL"
            " AND event_id > coalesce((SELECT max(event_id) FROM audit_log"
            "   WHERE target = ? AND action IN (?, ?, ?)), 0)",
            [
                username,
                audit.SIGN_IN_FAILED,
                f"{int(LOCKOUT_WINDOW.total_seconds())} seconds",
                username,
                audit.SIGN_IN,
                audit.PASSWORD_RESET,
                audit.USER_ENABLED,
            ],
        )
    )


def _client_failures(catalog: Catalog, client: str, now: float) -> int:
    return int(
        catalog.scalar(
            "SELECT count(*) FROM sign_in_attempts WHERE client = ? AND NOT succeeded AND attempted_at > ?",
            [client, now - LOCKOUT_WINDOW.total_seconds()],
        )
    )


def _attempt(catalog: Catalog, username: str | None, client: str | None, succeeded: bool, now: float) -> None:
    catalog.execute(
        "INSERT INTO sign_in_attempts (attempted_at, username, client, succeeded) VALUES (?, ?, ?, ?)",
        [now, username, client, succeeded],
    )


def _refuse(catalog: Catalog, actor: str, target: str | None, reason: str, client: str | None, now: float) -> None:
    _attempt(catalog, target, client, False, now)
    detail = reason if client is None else f"{reason}; client {client}"
    audit.record(catalog, actor, audit.SIGN_IN_FAILED, target, detail)


def authenticate(catalog: Catalog, username: str, password: str, *, client: str | None = None) -> User | None:
    """Check a local sign-in; return the :class:`User`, or None when refused.

    Every outcome is audited: ``sign-in``, or ``sign-in failed`` with the
    reason (unknown account, wrong password, disabled, locked, too many
    failures from the client). The typed name is recorded only when it is an
    existing account, since people sometimes type their password into the
    name field.

    Parameters
    ----------
    client : str, optional
        The client's address as the server saw it; sign-ins from an address
        with :data:`CLIENT_FAILURES` recent failures are refused without
        checking the password.
    """
    now = time.time()
    row = _account(catalog, username) if isinstance(username, str) and _USERNAME.match(username) else None
    known = None if row is None else username
    if client is not None and _client_failures(catalog, client, now) >= CLIENT_FAILURES:
        _refuse(catalog, known or "anonymous", known, "too many failed sign-ins from this client", client, now)
        return None
    stored = row["password_hash"] if row is not None and row["password_hash"] else _DUMMY_HASH
    try:
        matches = _hasher.verify(stored, password if isinstance(password, str) else "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matches = False
    if row is None or row["password_hash"] is None:
        reason = "unknown account" if row is None else "single-sign-on account has no local password"
        _refuse(catalog, "anonymous", known, reason, client, now)
        return None
    if not row["active"]:
        _refuse(catalog, username, username, "account disabled", client, now)
        return None
    if _recent_failures(catalog, username) >= LOCKOUT_FAILURES:
        _refuse(catalog, username, username, "account locked after repeated failures", client, now)
        return None
    if not matches:
        _refuse(catalog, username, username, "wrong password", client, now)
        return None
    with catalog.transaction() as cur:
        if _hasher.check_needs_rehash(row["password_hash"]):
            cur.execute("UPDATE users SET password_hash = ? WHERE username = ?", [_hasher.hash(password), username])
        cur.execute("UPDATE users SET last_login_at = current_timestamp WHERE username = ?", [username])
        detail = "password" if client is None else f"password; client {client}"
        audit.record(catalog, username, audit.SIGN_IN, username, detail)
        cur.execute(
            "INSERT INTO sign_in_attempts (attempted_at, username, client, succeeded) VALUES (?, ?, ?, TRUE)",
            [now, username, client],
        )
    return User(row["username"], row["role"])


def sign_in_sso(catalog: Catalog, email: str | None) -> User | None:
    """The account for an identity the OIDC provider vouched for, or None.

    The e-mail is matched case-insensitively against user names; an unknown
    or disabled identity gets no access (and a ``sign-in failed`` audit event).
    """
    rows = catalog.query(
        "SELECT username, role, active FROM users WHERE lower(username) = lower(?)", [email or ""]
    ).to_dict("records")
    if len(rows) != 1 or not rows[0]["active"]:
        detail = "single sign-on identity without an active account"
        audit.record(catalog, "anonymous", audit.SIGN_IN_FAILED, None, detail)
        return None
    username = rows[0]["username"]
    with catalog.transaction() as cur:
        cur.execute("UPDATE users SET last_login_at = current_timestamp WHERE username = ?", [username])
        audit.record(catalog, username, audit.SIGN_IN, username, "single sign-on")
    return User(username, rows[0]["role"])


def list_users(catalog: Catalog) -> pd.DataFrame:
    """Accounts without their hashes: username, role, active, sso, created_at, last_login_at."""
    return catalog.query(
        "SELECT username, role, active, password_hash IS NULL AS sso, created_at, last_login_at"
        " FROM users ORDER BY username"
    )


def _require_account(cur, username: str) -> dict:
    row = named_row(cur.execute("SELECT username, role, active FROM users WHERE username = ?", [username]))
    if row is None:
        raise InputError(f"user {username!r} does not exist")
    return row


def _other_active_admins(cur, username: str) -> int:
    return cur.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND active AND username <> ?", [username]
    ).fetchone()[0]


def disable_user(catalog: Catalog, username: str, *, actor: str) -> None:
    """Disable an account (it is kept for the audit trail, never deleted) and end its sessions.

    The last active administrator cannot be disabled: nobody could manage the
    store afterwards.
    """
    with catalog.transaction() as cur:
        row = _require_account(cur, username)
        if row["role"] == "admin" and not _other_active_admins(cur, username):
            raise InputError(f"user {username!r} is the last active administrator; add another one first")
        cur.execute("UPDATE users SET active = FALSE WHERE username = ?", [username])
        # Signed-in browsers of the account are signed out now, not at their next sign-in.
        end_for_user(cur, username, "account disabled")
        audit.record(catalog, actor, audit.USER_DISABLED, username)


def enable_user(catalog: Catalog, username: str, *, actor: str) -> None:
    """Re-enable a disabled account."""
    with catalog.transaction() as cur:
        _require_account(cur, username)
        cur.execute("UPDATE users SET active = TRUE WHERE username = ?", [username])
        audit.record(catalog, actor, audit.USER_ENABLED, username)


def reset_password(catalog: Catalog, username: str, password: str, *, actor: str) -> None:
    """Set a new password (policy-checked, argon2id-hashed) and end the account's sessions."""
    hashed = _hasher.hash(check_password(password, username))
    with catalog.transaction() as cur:
        _require_account(cur, username)
        cur.execute("UPDATE users SET password_hash = ? WHERE username = ?", [hashed, username])
        # Whoever knew the old password is signed out with it.
        end_for_user(cur, username, "password reset")
        audit.record(catalog, actor, audit.PASSWORD_RESET, username)


def set_role(catalog: Catalog, username: str, role: str, *, actor: str) -> None:
    """Change an account's role (audited as a role change)."""
    check_role(role)
    with catalog.transaction() as cur:
        row = _require_account(cur, username)
        if row["role"] == "admin" and role != "admin" and not _other_active_admins(cur, username):
            raise InputError(f"user {username!r} is the last active administrator; add another one first")
        cur.execute("UPDATE users SET role = ? WHERE username = ?", [role, username])
        audit.record(catalog, actor, audit.ROLE_CHANGED, username, f"{row['role']} -> {role}")


def assign_patient(catalog: Catalog, username: str, patient_id: str, *, actor: str) -> None:
    """Let clinician ``username`` see ``patient_id`` (the patient need not exist yet)."""
    code = check_patient_code(patient_id)
    with catalog.transaction() as cur:
        row = _require_account(cur, username)
        if row["role"] != "clinician":
            raise InputError(f"user {username!r} is {article(row['role'])}; only clinicians are assigned patients")
        cur.execute(
            "INSERT INTO assignments (username, patient_id) VALUES (?, ?) ON CONFLICT DO NOTHING", [username, code]
        )
        audit.record(catalog, actor, audit.PATIENT_ASSIGNED, code, f"to {username}")


def unassign_patient(catalog: Catalog, username: str, patient_id: str, *, actor: str) -> None:
    """Withdraw clinician ``username``'s access to ``patient_id``."""
    with catalog.transaction() as cur:
        _require_account(cur, username)
        cur.execute("DELETE FROM assignments WHERE username = ? AND patient_id = ?", [username, patient_id])
        audit.record(catalog, actor, audit.PATIENT_UNASSIGNED, patient_id, f"from {username}")


def assignments(catalog: Catalog, username: str | None = None) -> pd.DataFrame:
    """Assignments (username, patient_id, created_at), of one user or all."""
    if username is None:
        return catalog.query("SELECT username, patient_id, created_at FROM assignments ORDER BY username, patient_id")
    return catalog.query(
        "SELECT username, patient_id, created_at FROM assignments WHERE username = ? ORDER BY patient_id", [username]
    )
