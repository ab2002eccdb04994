"""Deferred downloads of the dashboard: made only while the tab's sign-in session is open.

A download button's file is made when it is clicked, outside any page run,
so the page cannot check then who clicks. The session token and the user are
captured while the page is drawn and re-checked when the file is made
(:func:`facs_core.services.downloads.check_session`). The session-state keys
are :mod:`web.auth`'s (``auth`` imports them from here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from facs_core.services import downloads
from store.catalog import Catalog

__all__ = ["TOKEN_KEY", "USER_KEY", "session_token", "while_signed_in"]

#: Session-state key of the signed-in :class:`~facs_core.services.access.User`.
USER_KEY = "user"
#: Session-state key of this tab's session token.
TOKEN_KEY = "_auth_token"

_Made = TypeVar("_Made")


def session_token() -> str | None:
    """This tab's session token, for a download made later (``downloads.export_for(..., session_token=...)``).

    Read it while the page is drawn, never inside a deferred download's
    callable: that runs outside any page run.
    """
    return st.session_state.get(TOKEN_KEY)


def while_signed_in(catalog: Catalog, make: Callable[[], _Made]) -> Callable[[], _Made]:
    """``make`` as a download button's deferred data, run only while this tab's session is open.

    The session and the account are captured now and checked when the file
    is made: after sign-out, the inactivity timeout or disabling, the click
    makes nothing.
    """
    user, token = st.session_state.get(USER_KEY), st.session_state.get(TOKEN_KEY)

    def guarded() -> _Made:
        downloads.check_session(catalog, user, token)
        return make()

    return guarded
