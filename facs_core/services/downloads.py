"""Downloads from the dashboard: authorised when the file is made, filtered, audited.

The one way a page hands a table to the browser as a file. The filtering and
formula neutralising are :mod:`facs_core.exports`; this adds the acting
user's permission, checked at the moment the file is made, and the audit entry.

A download button's file is made after its page was drawn, outside any page
run, so nothing else notices then that the session behind it has ended:
:func:`check_session` re-reads the sign-in session (signed out, inactivity
timeout, maximum length, account disabled) when the file is made.
"""

from __future__ import annotations

import pandas as pd

from facs_core import exports
from facs_core.errors import InputError
from facs_core.services import access, session_cookie
from facs_core.services.access import PermissionDenied, User
from store import audit, sessions

__all__ = ["EXPORT_FORMATS", "check_session", "export_for"]

#: File formats of :func:`export_for`.
EXPORT_FORMATS = ("csv", "parquet")


def check_session(catalog, user: User | None, session_token: str | None) -> User:
    """``user`` as the catalog holds it now, if the browser session a file is made for is still open.

    Call it when a deferred download's file is made. The request counts as
    the user's activity (a click). Without a session token (a page run by
    AppTest, a command) only the account is checked.

    Parameters
    ----------
    catalog : store.catalog.Catalog
    user : facs_core.services.access.User or None
        The user the page was drawn for.
    session_token : str or None
        That tab's session token, captured when the page was drawn.

    Raises
    ------
    PermissionDenied
        The session has ended (signed out, timed out, expired, account
        disabled) or belongs to someone else; audited.
    """
    if session_token is None or user is None:
        return access.authorise(catalog, user, "view_home", target="download")
    timeout_s = session_cookie.idle_timeout_minutes() * 60
    resolved = sessions.resolve(catalog, session_token, idle_timeout_s=timeout_s)
    if resolved.user is None or resolved.user.username != user.username:
        audit.record(catalog, user.username, audit.ACCESS_DENIED, None, f"download; session ended ({resolved.reason})")
        raise PermissionDenied(f"your session has ended ({resolved.reason}); sign in again")
    return resolved.user


def export_for(
    catalog,
    user: User,
    frame: pd.DataFrame,
    *,
    what: str,
    fmt: str = "csv",
    action: str = "export",
    session_token: str | None = None,
) -> bytes:
    """The file ``user`` downloads: authorised now, filtered for their current role, audited.

    Called when the file is made (a download button's deferred data), not
    when the page was drawn, so an account disabled or demoted meanwhile gets
    nothing. A frame with a ``patient_id`` column needs ``action`` on every
    patient in it.

    Parameters
    ----------
    catalog : store.catalog.Catalog
    user : facs_core.services.access.User
        The acting user.
    frame : DataFrame
        What the page shows; restricted columns are dropped for the role.
    what : str
        Non-identifying description for the audit trail (``"AU summary"``).
    fmt : {"csv", "parquet"}
    action : str
        The permission needed: ``"export"``, or ``"admin"`` for the audit log.
    session_token : str, optional
        The browser session the download was offered in (captured when the
        page was drawn); checked now with :func:`check_session`. Pages always
        pass it.

    Raises
    ------
    PermissionDenied
        The user may not export this, or the session has ended (audited).
    InputError
        An unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    if session_token is not None:
        check_session(catalog, user, session_token)
    current = access.authorise(catalog, user, action, target=what)
    if "patient_id" in frame.columns and access.permissions().get((current.role, action)) == "assigned":
        for patient in frame["patient_id"].dropna().unique():
            access.authorise(catalog, current, action, str(patient), target=what)
    data = exports.export_csv(frame, current.role) if fmt == "csv" else exports.export_parquet(frame, current.role)
    audit.record(catalog, current.username, audit.EXPORT, None, f"{what} {fmt}")
    return data
