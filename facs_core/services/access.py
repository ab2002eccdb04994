"""Roles and what each may do, enforced on the server for every action.

The permission table is data (``resources/permissions.csv``: one row per
allowed ``(role, action)``, with the scope over patients and the rationale), so
a reviewer reads who may do what in one place. Anything not listed is denied.

Scopes
------
``all``
    The action is allowed, for any patient.
``assigned``
    The action is allowed only for patients assigned to the user (table
    ``assignments``); for ``upload``, a patient code not yet in the catalog
    is allowed too (the uploader creates it and should then be assigned it).

:func:`check` re-reads the account from the catalog every time, so disabling
an account or changing its role takes effect at the user's next click, not at
their next sign-in. Role-based access control after NIST SP 800-162 / the
least-privilege principle (NIST SP 800-53 AC-6).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from facs_core.errors import FacsError
from facs_core.records import ROLES, User

__all__ = [
    "ACTIONS",
    "OPERATOR_ROLE",
    "ROLES",
    "LocalOperator",
    "PermissionDenied",
    "User",
    "allowed",
    "authorise",
    "check",
    "is_assigned",
    "permissions",
    "visible_patients",
]

#: The actions pages and commands ask about (exact names, used by every page).
ACTIONS: tuple[str, ...] = (
    "view_home",
    "upload",
    "play_video",
    "edit_segments",
    "run_extraction",
    "view_patient",
    "view_cohort",
    "export",
    "admin",
    "view_notes",
)

#: The role of a :class:`LocalOperator`; never stored in ``users`` (its CHECK allows :data:`ROLES` only).
OPERATOR_ROLE = "operator"

_SCOPES = ("all", "assigned")


class PermissionDenied(FacsError):  # noqa: N818 - the name the task and pages use
    """The signed-in user's role (or patient assignment) does not allow the action."""


@dataclass(frozen=True)
class LocalOperator(User):
    """Whoever runs a command on the server: ``python -m facs_core ...`` or the demo loader.

    A command-line invocation is authorised by the operating system, not by an
    account: the store's folders are owner-only (0700) and belong to the
    service account, so whoever can run the command can already read and
    change every file of the store. Checking a role there would only pretend
    to protect. The operator may therefore do every action; what it does is
    audited under its name (``cli:<OS account>``).

    No page ever builds one: a browser session's user comes from the
    ``users`` table, whose roles are :data:`ROLES` only, and :func:`check`
    recognises the operator by its type, not by a name or a role string.
    """

    role: str = OPERATOR_ROLE


@cache
def permissions() -> dict[tuple[str, str], str]:
    """``{(role, action): scope}`` from ``resources/permissions.csv``.

    Raises
    ------
    RuntimeError
        The shipped table names an unknown role, action or scope (a packaging
        error, not a user error).
    """
    text = resources.files("facs_core.resources").joinpath("permissions.csv").read_text("utf-8")
    table: dict[tuple[str, str], str] = {}
    for row in csv.DictReader(text.splitlines()):
        role, action, scope = row["role"], row["action"], row["scope"]
        if role not in ROLES or action not in ACTIONS or scope not in _SCOPES:
            raise RuntimeError(f"permissions.csv: unknown role/action/scope {role!r} {action!r} {scope!r}")
        table[(role, action)] = scope
    return table


def _checked_action(action: str) -> str:
    if action not in ACTIONS:
        # A typo in a page must fail closed and loudly, not silently allow.
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    return action


def allowed(user: User | None, action: str) -> bool:
    """Whether ``user``'s role allows ``action`` for at least some patients.

    This reads only the role; :func:`check` also verifies the account in the
    catalog and the patient assignment. Use this to decide what to show, and
    :func:`check` before doing anything.
    """
    _checked_action(action)
    return user is not None and (user.role, action) in permissions()


def _current_account(catalog, user: User) -> User:
    row = catalog.fetchrow("SELECT role, active FROM users WHERE username = ?", [user.username])
    if row is None or not row["active"]:
        raise PermissionDenied(f"account {user.username!r} is unknown or disabled; sign in again")
    return User(user.username, row["role"])


def is_assigned(catalog, username: str, patient_id: str) -> bool:
    """Whether ``patient_id`` is assigned to ``username``."""
    return bool(
        catalog.scalar("SELECT count(*) FROM assignments WHERE username = ? AND patient_id = ?", [username, patient_id])
    )


def check(catalog, user: User | None, action: str, patient_id: str | None = None) -> User:
    """Raise :class:`PermissionDenied` unless ``user`` may do ``action`` (on ``patient_id``).

    Parameters
    ----------
    catalog : store.catalog.Catalog
        The open store; the account and its assignments are read from it.
    user : User or None
        The signed-in user; None (nobody signed in) is always denied.
    action : str
        One of :data:`ACTIONS`.
    patient_id : str, optional
        The patient the action touches. With scope ``assigned`` it must be
        assigned to the user. Without it, only the role is checked (for
        listing pages that then filter with :func:`visible_patients`).

    Returns
    -------
    User
        The account as the catalog holds it now (its current role).
    """
    _checked_action(action)
    if user is None:
        raise PermissionDenied(f"sign in to {action.replace('_', ' ')}")
    if type(user) is LocalOperator:
        return user
    current = _current_account(catalog, user)
    scope = permissions().get((current.role, action))
    if scope is None:
        raise PermissionDenied(
            f"the {current.role} role may not {action.replace('_', ' ')} (user {current.username!r})"
        )
    if scope == "assigned" and patient_id is not None and not is_assigned(catalog, current.username, patient_id):
        exists = catalog.scalar("SELECT count(*) FROM patients WHERE patient_id = ?", [patient_id])
        if not (action == "upload" and not exists):
            raise PermissionDenied(
                f"patient {patient_id!r} is not assigned to {current.username!r}; ask an administrator"
            )
    return current


def authorise(
    catalog, user: User | None, action: str, patient_id: str | None = None, *, target: str | None = None
) -> User:
    """:func:`check`, and an audit entry when it refuses.

    Every library call that changes the store calls this first with the
    acting user, so a page or command that forgets its own check is still
    refused, and the refusal is on the audit trail.

    Parameters
    ----------
    target : str, optional
        What the refused action was aimed at (a job id, a segment id), for the
        audit entry; defaults to ``patient_id``.

    Raises
    ------
    PermissionDenied
        As :func:`check`; the refusal has been audited.
    """
    try:
        return check(catalog, user, action, patient_id)
    except PermissionDenied:
        from store import audit

        audit.record(
            catalog,
            user.username if user is not None else "anonymous",
            audit.ACCESS_DENIED,
            target if target is not None else patient_id,
            f"action={action}",
        )
        raise


def visible_patients(catalog, user: User | None) -> list[str]:
    """Patient codes ``user`` may open (``view_patient``), sorted.

    Clinicians get their assigned patients, researchers every patient (by
    pseudonymous code), administrators none.
    """
    if user is None:
        return []
    try:
        current = _current_account(catalog, user)
    except PermissionDenied:
        return []
    scope = permissions().get((current.role, "view_patient"))
    if scope == "all":
        frame = catalog.query("SELECT patient_id FROM patients ORDER BY patient_id")
    elif scope == "assigned":
        frame = catalog.query(
            "SELECT a.patient_id FROM assignments a JOIN patients p USING (patient_id)"
            " WHERE a.username = ? ORDER BY a.patient_id",
            [current.username],
        )
    else:
        return []
    return frame["patient_id"].tolist()
