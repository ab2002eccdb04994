"""Downloads from the dashboard: authorised when the file is made, filtered, audited.

The one way a page hands a table to the browser as a file. The filtering and
formula neutralising are :mod:`facs_core.exports`; this adds the acting
user's permission, checked at the moment the file is made, and the audit entry.
"""

from __future__ import annotations

import pandas as pd

from facs_core import exports
from facs_core.errors import InputError
from facs_core.services import access
from facs_core.services.access import User
from store import audit

__all__ = ["EXPORT_FORMATS", "export_for"]

#: File formats of :func:`export_for`.
EXPORT_FORMATS = ("csv", "parquet")


def export_for(
    catalog, user: User, frame: pd.DataFrame, *, what: str, fmt: str = "csv", action: str = "export"
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

    Raises
    ------
    PermissionDenied
        The user may not export this (audited).
    InputError
        An unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    current = access.authorise(catalog, user, action, target=what)
    if "patient_id" in frame.columns and access.permissions().get((current.role, action)) == "assigned":
        for patient in frame["patient_id"].dropna().unique():
            access.authorise(catalog, current, action, str(patient), target=what)
    data = exports.export_csv(frame, current.role) if fmt == "csv" else exports.export_parquet(frame, current.role)
    audit.record(catalog, current.username, audit.EXPORT, None, f"{what} {fmt}")
    return data
