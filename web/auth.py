"""Sign-in, server-side sessions and permission checks for every page.

``app.py`` calls :func:`signed_in_user` (and :func:`current_user` to show the
sign-in form) once per run; every page calls :func:`require` before showing
or doing anything, with the patient it touches. Hiding a page in the
navigation is convenience; :func:`require` is the control.

Sessions live on the server (``store/sessions.py``): a successful sign-in
opens a session row and sends the browser through ``/api/session/start``
(``web/routes.py``), which sets a signed, expiring, HttpOnly, SameSite=Strict
cookie holding only the session's random token, and returns it to the page
it asked for. A reload, a new tab or a deep link reads the cookie and finds
the row. Sign-out, the inactivity timeout (``FACS_SESSION_TIMEOUT_MIN``) and
an administrator disabling the account end the row, and every run,
fragment and video request re-reads it, so the session ends everywhere at
the next interaction.

The signed-in :class:`~facs_core.services.access.User` lives in
``st.session_state["user"]`` with its session token; AppTest tests that run a
page on its own inject only the user (the account must exist and be active,
since :func:`facs_core.services.access.check` re-reads it).

Single sign-on uses Streamlit's OIDC support (``st.login``, needs Authlib) when
``.streamlit/secrets.toml`` has an ``[auth]`` section (see
``.streamlit/secrets.toml.example``). The identity's e-mail must equal a local
account's user name, which gives the role; unknown identities get no access.
A mapped identity gets a server-side session like a password sign-in.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import streamlit as st

from facs_core.errors import FacsError, InputError
from facs_core.services import access, accounts, media_grants, session_cookie
from facs_core.services.access import PermissionDenied, User
from store import audit, sessions, users
from store.catalog import Catalog
from web.deferred import TOKEN_KEY, USER_KEY

TIMEOUT_ENV = session_cookie.TIMEOUT_ENV
DEFAULT_TIMEOUT_MIN = session_cookie.DEFAULT_TIMEOUT_MIN
#: Actions whose access to a patient is audited (once per session and patient). Playing a video is
#: audited by the video route when it first serves the video's bytes to the session (web/routes.py).
AUDITED_VIEWS = {"view_patient": audit.PATIENT_VIEWED}
#: The one message for every refused sign-in, so the form reveals nothing about accounts.
REFUSED = "Sign-in refused: wrong user name or password, or the account is disabled or locked."

_USER = USER_KEY
_TOKEN = TOKEN_KEY
_SESSION_ID = "_auth_session_id"
_DEAD_TOKEN = "_auth_dead_token"
_NOTICE = "_auth_notice"
_SSO_REFUSED = "_auth_sso_refused"
_AUDITED = "_auth_audited"

_NOTICES = {
    "inactivity timeout": "Signed out after a period of inactivity; sign in again.",
    "signed out": "You signed out (in this tab or another one); sign in again.",
    "expired": "Your session reached its maximum length; sign in again.",
}


def session_timeout_minutes() -> float:
    """Inactivity timeout from ``$FACS_SESSION_TIMEOUT_MIN`` (default 30 minutes).

    Raises
    ------
    InputError
        The variable is set but is not a positive number.
    """
    return session_cookie.idle_timeout_minutes()


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


def _send_browser_to(url: str) -> None:
    """Navigate the browser to ``url`` (a path on this site).

    The same message ``st.login`` uses to send the browser to its identity
    provider: the page replaces itself with ``url``.
    """
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    message = ForwardMsg()
    message.auth_redirect.url = url
    ctx.enqueue(message)


def _base_path() -> str:
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def _routes_mounted() -> bool:
    from web import routes

    return routes.mounted()


def _client() -> str | None:
    try:
        peer = st.context.ip_address
        real_ip = st.context.headers.get("x-real-ip")
    except Exception:
        return None
    # None means a loopback peer (Streamlit hides those), as in tests.
    peer = peer if isinstance(peer, str) else "127.0.0.1"
    headers = {"x-real-ip": real_ip} if isinstance(real_ip, str) else {}
    return session_cookie.client_address(peer, headers)


def _cookie_token(catalog: Catalog) -> str | None:
    try:
        value = st.context.cookies.get(session_cookie.COOKIE_NAME)
    except Exception:
        return None
    return session_cookie.unsign(catalog, value if isinstance(value, str) else None)


def _forget_session(reason: str | None) -> None:
    """Drop this browser tab's sign-in state; the row is ended by whoever ended the session."""
    token = st.session_state.pop(_TOKEN, None)
    session_id = st.session_state.pop(_SESSION_ID, None)
    st.session_state.pop(_USER, None)
    st.session_state.pop(_AUDITED, None)
    if token:
        # The websocket keeps presenting the cookie it was opened with; ignore it from now on.
        st.session_state[_DEAD_TOKEN] = token
    if session_id:
        media_grants.revoke_session(session_id)
    if reason:
        st.session_state[_NOTICE] = _NOTICES.get(reason, "Your session has ended; sign in again.")


def _resolve(catalog: Catalog, *, touch: bool = True) -> User | None:
    """The user of this tab's session token (its own, or the cookie's), or None.

    ``touch`` counts this run as activity; a fragment's timer tick must not,
    or a page that refreshes itself would never time out.
    """
    token = st.session_state.get(_TOKEN)
    if token is None:
        cookie = _cookie_token(catalog)
        if cookie and cookie != st.session_state.get(_DEAD_TOKEN):
            token = cookie
    if token is None:
        return None
    resolved = sessions.resolve(catalog, token, idle_timeout_s=session_timeout_minutes() * 60, touch=touch)
    if resolved.user is None:
        st.session_state[_TOKEN] = token
        _forget_session(None if resolved.reason == "unknown" else resolved.reason)
        return None
    if st.session_state.get(_SESSION_ID) != resolved.session_id:
        st.session_state[_AUDITED] = set()
    st.session_state[_TOKEN] = token
    st.session_state[_SESSION_ID] = resolved.session_id
    st.session_state[_USER] = resolved.user
    return resolved.user


def _start_session(catalog: Catalog, user: User, next_path: str) -> None:
    """Open a server-side session for ``user`` and have the browser store its cookie.

    This tab is signed in at once; the browser then passes through the cookie
    route and comes back to ``next_path``, so reloads and new tabs are too.
    """
    token = sessions.start(catalog, user.username, lifetime_s=session_cookie.MAX_AGE_S)
    st.session_state.pop(_DEAD_TOKEN, None)
    st.session_state[_TOKEN] = token
    _resolve(catalog)
    if _routes_mounted():
        ticket = session_cookie.issue_handover(token, _base_path() + next_path)
        _send_browser_to(f"{_base_path()}/api/session/start?{urlencode({'ticket': ticket})}")
        st.caption("Signing in…")
        st.stop()
    st.rerun()


def _first_admin_form(catalog: Catalog, next_path: str) -> None:
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
            accounts.create_first_admin(catalog, username, password)
        except FacsError as exc:
            st.error(str(exc))
            return
        user = users.authenticate(catalog, username, password, client=_client())
        if user is not None:
            _start_session(catalog, user, next_path)


def _sign_in_form(catalog: Catalog, next_path: str) -> None:
    st.title("Sign in")
    notice = st.session_state.pop(_NOTICE, None)
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
        user = users.authenticate(catalog, username, password, client=_client())
        if user is None:
            # One message for every reason, so the form does not reveal which accounts exist.
            st.error(REFUSED)
            return
        _start_session(catalog, user, next_path)


def signed_in_user(catalog: Catalog) -> User | None:
    """The signed-in user, or None; renders nothing.

    This tab's session, or the session named by the browser's cookie (a
    reload, a new tab, a deep link), if the server still holds it open;
    otherwise none (the reason is kept for the sign-in form). Raises
    :class:`InputError` for a malformed ``FACS_SESSION_TIMEOUT_MIN``.
    """
    user = _resolve(catalog)
    if user is not None:
        return user
    if (
        sso_configured()
        and _sso_logged_in()
        and not st.session_state.get(_SSO_REFUSED)
        and not st.session_state.get(_NOTICE)
    ):
        user = users.sign_in_sso(catalog, st.user.get("email"))
        if user is not None:
            token = sessions.start(catalog, user.username, lifetime_s=session_cookie.MAX_AGE_S)
            st.session_state[_TOKEN] = token
            return _resolve(catalog)
        st.session_state[_SSO_REFUSED] = True
    return None


def current_user(catalog: Catalog, next_path: str = "/") -> User:
    """The signed-in user; otherwise render the sign-in page and stop the run.

    Order: a live session (this tab's or the cookie's), then a single-sign-on
    identity mapped to an account, then the "create the first administrator"
    form when the store has none, else the sign-in form. After signing in the
    browser goes to ``next_path`` (the page it asked for).
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
        _first_admin_form(catalog, next_path)
    else:
        _sign_in_form(catalog, next_path)
    st.stop()


def check_session(catalog: Catalog) -> User | None:
    """Re-check this tab's session on the server; sign the tab out (and rerun) if it has ended.

    Call it first in anything that runs without ``app.py`` (fragments,
    callbacks); :func:`require` does. Returns the user from session state
    (a page run on its own in a test has a user and no session).
    """
    if st.session_state.get(_TOKEN) is not None:
        try:
            user = _resolve(catalog, touch=False)
        except InputError:
            user = None
        if user is None:
            st.rerun(scope="app")
    return st.session_state.get(_USER)


def require(catalog: Catalog, action: str, patient_id: str | None = None) -> User:
    """Allow the rest of the page only if the signed-in user may do ``action``.

    The session is re-checked on the server first (:func:`check_session`).
    Denials are audited and shown as one line, then the run stops. Viewing a
    patient is audited once per session and patient; playing a video is
    audited by the video route when it serves the bytes (pages audit uploads,
    edits, deletions and exports where they happen).
    """
    user = check_session(catalog)
    try:
        current = access.check(catalog, user, action, patient_id)
    except PermissionDenied as exc:
        actor = user.username if user else "anonymous"
        audit.record(catalog, actor, audit.ACCESS_DENIED, patient_id, f"action={action}")
        st.error(str(exc), icon=":material/block:")
        st.stop()
    if patient_id is not None and action in AUDITED_VIEWS:
        seen: set = st.session_state.setdefault(_AUDITED, set())
        if (action, patient_id) not in seen:
            audit.record(catalog, current.username, AUDITED_VIEWS[action], patient_id)
            seen.add((action, patient_id))
    return current


def video_url(catalog: Catalog, video_id: str) -> str | None:
    """A URL that streams ``video_id`` to this tab's session only; None without a session.

    The URL holds an opaque grant (``facs_core.services.media_grants``), never a path or
    a file name; the video route re-checks the session and the permission at
    every request. Call it after :func:`require` allowed ``play_video`` for
    the video's patient.
    """
    session_id = st.session_state.get(_SESSION_ID)
    try:
        origin = st.context.url
    except Exception:
        origin = None
    if session_id is None or not isinstance(origin, str) or not origin or not _routes_mounted():
        return None
    token = media_grants.grant(session_id, video_id)
    # st.video takes absolute URLs only; the browser's own origin keeps the
    # request same-site, so the SameSite=Strict cookie goes with it.
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}{_base_path()}/api/video/{token}"


def recheck(catalog: Catalog, action: str, patient_id: str | None = None) -> User:
    """:func:`require` for fragments and widget callbacks: the session is re-read first.

    A fragment's rerun (its ``run_every`` timer or a click inside it) does not
    run ``app.py``. If the session has ended on the server (sign-out elsewhere,
    inactivity timeout, account disabled) the action is refused and audited and
    the whole app reruns to the sign-in form: the click does nothing but sign
    the user out. A timer tick does not count as activity; call :func:`touch`
    when the user really clicked.
    """
    before = st.session_state.get(_USER)
    if st.session_state.get(_TOKEN) is not None:
        try:
            user = _resolve(catalog, touch=False)
        except InputError:
            user = None
    else:
        # A page run on its own (tests): the account itself is the session.
        user = users.get_user(catalog, before.username) if before is not None else None
        if user is None:
            _forget_session("account disabled")
    if user is None:
        if before is not None:
            audit.record(catalog, before.username, audit.ACCESS_DENIED, patient_id, f"action={action}; session ended")
        st.rerun(scope="app")
    return require(catalog, action, patient_id)


def touch() -> None:
    """Count this moment as the user's activity (a click inside a self-refreshing fragment)."""
    token = st.session_state.get(_TOKEN)
    if token is not None:
        from web import common

        sessions.resolve(common.catalog(), token, idle_timeout_s=session_timeout_minutes() * 60)


def sign_out_button(catalog: Catalog, *, key: str = "sign-out") -> None:
    """A "Sign out" button (put it in the sidebar); ends the session on the server when pressed."""
    if st.button("Sign out", key=key, icon=":material/logout:"):
        token = st.session_state.get(_TOKEN)
        user = st.session_state.get(_USER)
        if not sessions.end(catalog, token, "signed out") and user is not None:
            audit.record(catalog, user.username, audit.SIGN_OUT, user.username, "signed out")
        _forget_session(None)
        if sso_configured() and _sso_logged_in():
            st.logout()
        elif _routes_mounted():
            # The cookie route deletes the cookie too (the row is already ended).
            _send_browser_to(f"{_base_path()}/api/session/end")
            st.stop()
        st.rerun()
