"""The audit trail: an append-only record of who did what and when.

This module only appends and reads; nothing in the code base updates or deletes
audit rows. Entries name users, actions and targets (patient codes, video ids,
file kinds), never video content, clinical scores or original file names.

The action names are the constants below: every writer passes one, and SQL
that matches actions (the sign-in lockout, reviews of the trail) takes them as
parameters, so a name is spelled once.
"""

from __future__ import annotations

import pandas as pd

from store.catalog import Catalog

ACCESS_DENIED = "access denied"
BACKUP = "backup"
EXPORT = "export"
EXTRACTION_QUEUED = "extraction queued"
JOB_CANCEL_REQUESTED = "job cancel requested"
JOB_RETRIED = "job retried"
LOAD_DEMO = "load demo"
PASSWORD_RESET = "password reset"
PATIENT_ASSIGNED = "patient assigned"
PATIENT_UNASSIGNED = "patient unassigned"
PATIENT_VIEWED = "patient viewed"
RESTORE = "restore"
ROLE_CHANGED = "role changed"
SEGMENT_ADD = "segment add"
SEGMENT_DELETE = "segment delete"
SEGMENT_EDIT = "segment edit"
SEGMENT_MERGE = "segment merge"
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in failed"
SIGN_OUT = "sign-out"
UPLOAD = "upload"
USER_ADDED = "user added"
USER_DISABLED = "user disabled"
USER_ENABLED = "user enabled"
VIDEO_PLAYED = "video played"

#: Every action name the code writes.
ACTIONS: frozenset[str] = frozenset(
    {
        ACCESS_DENIED,
        BACKUP,
        EXPORT,
        EXTRACTION_QUEUED,
        JOB_CANCEL_REQUESTED,
        JOB_RETRIED,
        LOAD_DEMO,
        PASSWORD_RESET,
        PATIENT_ASSIGNED,
        PATIENT_UNASSIGNED,
        PATIENT_VIEWED,
        RESTORE,
        ROLE_CHANGED,
        SEGMENT_ADD,
        SEGMENT_DELETE,
        SEGMENT_EDIT,
        SEGMENT_MERGE,
        SIGN_IN,
        SIGN_IN_FAILED,
        SIGN_OUT,
        UPLOAD,
        USER_ADDED,
        USER_DISABLED,
        USER_ENABLED,
        VIDEO_PLAYED,
    }
)


def record(catalog: Catalog, actor: str, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Append one event to the audit trail (inside the thread's open transaction, if any).

    Parameters
    ----------
    actor : str
        Username, or ``"cli"`` / ``"system"`` for headless work.
    action : str
        What happened: one of the action constants of this module, such as
        :data:`UPLOAD` or :data:`SIGN_IN_FAILED`.
    target : str, optional
        What it happened to: a patient code, a video id, a username.
    detail : str, optional
        Non-identifying context, such as an export's format.
    """
    catalog.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (?, ?, ?, ?)",
        [actor, action, target, detail],
    )


def events(catalog: Catalog, limit: int = 1000) -> pd.DataFrame:
    """The latest ``limit`` audit events, newest first."""
    return catalog.query(
        "SELECT event_id, occurred_at, actor, action, target, detail FROM audit_log ORDER BY event_id DESC LIMIT ?",
        [limit],
    )
