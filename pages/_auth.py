"""Sign-in, session timeout and server-side permission checks for every page.

``app.py`` calls :func:`current_user` once per run; every page calls
:func:`require` before showing or doing anything, with the patient it touches.
Hiding a page in the navigation is convenience; :func:`require` is the control.

The signed-in :class:`~facs_core.access.User` lives in
``st.session_state["user"]`` (AppTest tests inject it there; the account must
exist and be active in the catalog, since every check re-reads it).

Single sign-on uses Streamlit's OIDC support (``st.login``, needs Authlib) when
``.streamlit/secrets.toml`` has an ``[auth]`` section (see
``.streamlit/secrets.toml.example``). The identity's e-mail must equal a local
account's user name, which gives the role; unknown identities get no access.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from facs_core import access
from facs_core.access import PermissionDenied, User
from facs_core.errors import FacsError, InputError
from store import audit, users
from store.catalog import Catalog

TIMEOUT_ENV = "FACS_SESSION_TIMEOUT_MIN"
DEFAULT_TIMEOUT_MIN = 30.0
#: Actions whose access to a patient is audited (once per session and patient).
AUDITED_VIEWS = {"view_patient": "patient viewed", "play_video": "video played"}

_USER = "user"
_LAST_ACTIVITY = "_auth_last_activity"
_SSO_REFUSED = "_auth_sso_refused"
_AUDITED = "_auth_audited"


def session_timeout_minutes() -> float:
    """Inactivity timeout from ``$FACS_SESSION_TIMEOUT_MIN`` (default 30 minutes).

    Raises
    ------
    InputError
        The variable is set but is not a positive number.
    """
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_MIN
    try:
        minutes = float(raw)
    except ValueError:
        minutes = float("nan")
    if not minutes > 0 or minutes == float("inf"):
        raise InputError(f"{TIMEOUT_ENV}={raw!r} is not a positive number of minutes")
    return minutes


def sso_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section for ``st.login``."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):
        return False
    except Exception:
        # st.secrets raises its own error type for a malformed secrets file.
        return False


def _sso_provider() -> str | None:
    # One named provider ([auth.NAME]) is used by name; otherwise the [auth] section itself.
    try:
        named = [key for key, value in st.secrets["auth"].items() if hasattr(value, "items")]
    except Exception:
        return None
    return named[0] if len(named) == 1 else None


def _sso_logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:
        return False


def _end_session(catalog: Catalog, reason: str) -> None:
    user = st.session_state.pop(_USER, None)
    st.session_state.pop(_LAST_ACTIVITY, None)
    st.session_state.pop(_AUDITED, None)
    if user is not None:
        audit.record(catalog, user.username, "sign-out", user.username, reason)


def _fresh_session_user(catalog: Catalog, *, touch: bool = True) -> User | None:
    """The session's user if still signed in (not timed out, account active).

    ``touch`` counts this run as activity; a fragment's timer tick must not,
    or a page that refreshes itself would never time out.
    """
    user = st.session_state.get(_USER)
    if user is None:
        return None
    now = time.time()
    last = st.session_state.get(_LAST_ACTIVITY, now)
    if now - last > session_timeout_minutes() * 60:
        _end_session(catalog, "inactivity timeout")
        st.session_state["_auth_notice"] = "Signed out after a period of inactivity; sign in again."
        return None
    current = users.get_user(catalog, user.username)
    if current is None:
        _end_session(catalog, "account disabled or removed")
        return None
    if touch:
        st.session_state[_LAST_ACTIVITY] = now
    st.session_state[_USER] = current
    return current


def _start_session(user: User) -> None:
    st.session_state[_USER] = user
    st.session_state[_LAST_ACTIVITY] = time.time()
    st.session_state[_AUDITED] = set()


def _first_admin_form(catalog: Catalog) -> None:
    st.title("Create the first administrator")
    st.write(
        "This store has no administrator yet. The account you create here manages users, patient"
        " assignments, backups and the audit log."
    )
    with st.form("first-admin"):
        username = st.text_input("User name")
        password = st.text_input("Password", type="password", help=f"At least {users.MIN_PASSWORD_LENGTH} characters")
        repeat = st.text_input("Repeat the password", type="password")
        submitted = st.form_submit_button("Create administrator")
    if submitted:
        if password != repeat:
            st.error("The two passwords differ.")
            return
        try:
            user = users.add_user(catalog, username, "admin", password, actor=username or "anonymous", first_admin=True)
        except FacsError as exc:
            st.error(str(exc))
            return
        users.authenticate(catalog, username, password)
        _start_session(user)
        st.rerun()


def _sign_in_form(catalog: Catalog) -> None:
    st.title("Sign in")
    notice = st.session_state.pop("_auth_notice", None)
    if notice:
        st.info(notice)
    if sso_configured():
        if st.button("Sign in with single sign-on", type="primary"):
            st.login(_sso_provider())  # None means the [auth] section itself
        st.caption("or with a local account:")
    with st.form("sign-in"):
        username = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        user = users.authenticate(catalog, username, password)
        if user is None:
            # One message for every reason, so the form does not reveal which accounts exist.
            st.error("Sign-in refused: wrong user name or password, or the account is disabled or locked.")
            return
        _start_session(user)
        st.rerun()


def signed_in_user(catalog: Catalog) -> User | None:
    """The signed-in user, or None; renders nothing.

    A live session (within the inactivity timeout, account still active)
    first, then a single-sign-on identity mapped to an active account.
    """
    user = _fresh_session_user(catalog)
    if user is not None:
        return user
    if sso_configured() and _sso_logged_in() and not st.session_state.get(_SSO_REFUSED):
        user = users.sign_in_sso(catalog, st.user.get("email"))
        if user is not None:
            _start_session(user)
            return user
        st.session_state[_SSO_REFUSED] = True
    return None


def current_user(catalog: Catalog) -> User:
    """The signed-in user; otherwise render the sign-in page and stop the run.

    Order: a live session (within the inactivity timeout, account still
    active), then a single-sign-on identity mapped to an account, then the
    "create the first administrator" form when the store has none, else the
    sign-in form.
    """
    try:
        user = signed_in_user(catalog)
    except InputError as exc:
        st.error(str(exc))
        st.stop()
    if user is not None:
        return user
    if st.session_state.get(_SSO_REFUSED):
        st.error("Your single sign-on identity has no active account here; ask an administrator.")
        if st.button("Sign out"):
            st.session_state.pop(_SSO_REFUSED, None)
            st.logout()
        st.stop()
    if not users.has_admin(catalog):
        _first_admin_form(catalog)
    else:
        _sign_in_form(catalog)
    st.stop()


def require(catalog: Catalog, action: str, patient_id: str | None = None) -> User:
    """Allow the rest of the page only if the signed-in user may do ``action``.

    Denials are audited and shown as one line, then the run stops. Viewing a
    patient and playing a video are audited once per session and patient
    (pages audit uploads, edits, deletions and exports where they happen).
    """
    user = st.session_state.get(_USER)
    try:
        current = access.check(catalog, user, action, patient_id)
    except PermissionDenied as exc:
        audit.record(catalog, user.username if user else "anonymous", "access denied", patient_id, f"action={action}")
        st.error(str(exc), icon=":material/block:")
        st.stop()
    if patient_id is not None and action in AUDITED_VIEWS:
        seen: set = st.session_state.setdefault(_AUDITED, set())
        if (action, patient_id) not in seen:
            audit.record(catalog, current.username, AUDITED_VIEWS[action], patient_id)
            seen.add((action, patient_id))
    return current


def recheck(catalog: Catalog, action: str, patient_id: str | None = None) -> User:
    """:func:`require` for fragments and widget callbacks: the session is re-read first.

    A fragment's rerun (its ``run_every`` timer or a click inside it) does not
    run ``app.py``, so without this it would act for the session as it was
    when the page was drawn. If the session has ended (inactivity timeout,
    account disabled or removed) the action is refused and audited, the
    session is ended and the whole app reruns to the sign-in form: the click
    does nothing but sign the user out. A timer tick does not count as
    activity; call :func:`touch` when the user really clicked.
    """
    before = st.session_state.get(_USER)
    if _fresh_session_user(catalog, touch=False) is None:
        if before is not None:
            audit.record(catalog, before.username, "access denied", patient_id, f"action={action}; session ended")
        st.rerun(scope="app")
    return require(catalog, action, patient_id)


def touch() -> None:
    """Count this moment as the user's activity (a click inside a self-refreshing fragment)."""
    if st.session_state.get(_USER) is not None:
        st.session_state[_LAST_ACTIVITY] = time.time()


def sign_out_button(catalog: Catalog, *, key: str = "sign-out") -> None:
    """A "Sign out" button (put it in the sidebar); ends the session when pressed."""
    if st.button("Sign out", key=key, icon=":material/logout:"):
        _end_session(catalog, "signed out")
        if sso_configured() and _sso_logged_in():
            st.logout()
        st.rerun()
