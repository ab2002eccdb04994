"""The audit trail: an append-only record of who did what and when.

This module only appends and reads; nothing in the code base updates or deletes
audit rows. Entries name users, actions and targets (patient codes, video ids,
file kinds), never video content, clinical scores or original file names.
"""

from __future__ import annotations

import pandas as pd

from store.catalog import Catalog


def record(catalog: Catalog, actor: str, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Append one event to the audit trail.

    Parameters
    ----------
    actor : str
        Username, or ``"cli"`` / ``"system"`` for headless work.
    action : str
        What happened, a short verb phrase such as ``"upload"`` or ``"sign-in failed"``.
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
