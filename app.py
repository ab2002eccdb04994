"""The FACS interview dashboard: ``streamlit run app.py``.

Opens the store once per process, signs the user in, and shows the pages the
user's role allows. Pages enforce their own permission again on the server
(``require``), so hiding a page is convenience, not security.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlencode

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from facs_core.errors import FacsError
from store.paths import private_umask
from web import background, common

# Whatever the dashboard writes (store, uploads in flight, backups) is owner-only,
# however it was started (make run, scripts/serve, streamlit run).
private_umask()

# The tab icon is a file served by the app itself: a ":material/...:" page icon makes every
# browser fetch an SVG from a public font host, an outside request on a hospital intranet.
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="FACS interview dashboard", page_icon=str(FAVICON), layout="wide")


def show_alone(render: Callable[[], None], title: str, icon: str) -> NoReturn:
    """Render one page with no navigation, then stop.

    A run that never reaches ``st.navigation`` makes Streamlit list every file
    in ``pages/`` in the sidebar, helpers and all, so even the sign-in form and
    start-up errors go through a hidden one-page navigation.
    """
    st.navigation([st.Page(render, title=title, icon=icon)], position="hidden").run()
    st.stop()


try:
    store = common.catalog()
except FacsError as exc:
    message = str(exc)
    show_alone(lambda: st.error(message, icon=":material/error:"), "Store unavailable", ":material/error:")

from facs_core.services.access import allowed  # noqa: E402
from web.auth import current_user, sign_out_button, signed_in_user  # noqa: E402

SECTIONS: dict[str, list[tuple[str, str, str, str]]] = {
    # section: (file, title, icon key, action needed to see it)
    "": [("pages/home.py", "Home", "home", "view_home")],
    "Clinic": [
        ("pages/upload.py", "Upload", "upload", "upload"),
        ("pages/timeline.py", "Timeline", "timeline", "play_video"),
        ("pages/extraction.py", "Extraction", "extraction", "run_extraction"),
        ("pages/patient.py", "Patient profile", "patient", "view_patient"),
    ],
    "Research": [
        ("pages/cohort.py", "Cohort statistics", "cohort", "view_cohort"),
        ("pages/significance.py", "Significance map", "significance", "view_cohort"),
        ("pages/export.py", "Export", "export", "export"),
    ],
    "Administration": [("pages/admin.py", "Admin", "admin", "admin")],
}
#: The addresses of the pages ("" is Home's): any other names no page.
KNOWN_PATHS = {""} | {Path(path).stem for entries in SECTIONS.values() for path, *_ in entries} - {"home"}
NOTICE_KEY = "nav_not_available"
#: The notices for an address that names no page (not echoed: it came from the address bar).
UNKNOWN_PAGE = "That address is not a page of this dashboard; here is Home instead."
UNKNOWN_PAGE_SIGNED_OUT = "That address is not a page of this dashboard; signing in leads to Home."


def _forget_unknown_page() -> bool:
    """Turn a request for an address that names no page into a request for Home.

    Streamlit answers such a request (``/nonsense``, a typo, an old bookmark)
    with its "Page not found" dialog, which blocks the page until closed.
    Clearing the requested name before ``st.navigation`` resolves it makes the
    navigation run the default page (Home) quietly; the caller shows a notice.
    Returns whether the address named no page.
    """
    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    manager = ctx.pages_manager
    name = (manager.intended_page_name or "").strip("/")
    # A click in the navigation names its page by hash (an unknown hash already falls back to Home quietly).
    if manager.intended_page_script_hash or name in KNOWN_PATHS:
        return False
    manager.set_script_intent("", "")
    # /home is Home's name, though its address is /: no notice.
    return name != "home"


def _requested_path(page: st.Page) -> str:
    """The path (and query) the browser asked for, to return to after signing in."""
    query = urlencode(st.query_params.to_dict())
    return f"/{page.url_path}" + (f"?{query}" if query else "")


try:
    user = signed_in_user(store)
except FacsError as exc:
    message = str(exc)
    show_alone(lambda: st.error(message, icon=":material/error:"), "Sign in", ":material/login:")
unknown_page = _forget_unknown_page()
if user is None:
    if unknown_page:
        st.info(UNKNOWN_PAGE_SIGNED_OUT, icon=":material/search_off:")
    # Every page is known (hidden, not run), so a deep link such as /upload
    # resolves instead of "Page not found", and the sign-in returns to it.
    requested = st.navigation(
        [
            st.Page(path, title=title, icon=common.ICONS[icon], default=path == "pages/home.py")
            for entries in SECTIONS.values()
            for path, title, icon, _ in entries
        ],
        position="hidden",
    )
    # current_user renders the sign-in (or first-administrator) form and stops the run.
    current_user(store, next_path=_requested_path(requested))
background.start_background_work(store)
if unknown_page:
    st.session_state[NOTICE_KEY] = UNKNOWN_PAGE


def _not_available(title: str, home: st.Page) -> Callable[[], None]:
    """A stand-in for a page the user's role may not open: back to Home with a notice.

    It replaces the page's file, so nothing of that page runs or shows; the
    notice names only the page's title and the user's role.
    """

    def render() -> None:
        st.session_state[NOTICE_KEY] = f"The page '{title}' is not available to your role ({user.role})."
        st.switch_page(home)

    return render


# Every page is registered for every signed-in role, so a link to another role's
# page resolves (not Streamlit's "Page not found" dialog, which also blocks the
# sidebar): the pages the role may not open are hidden and only lead back Home.
home_page = st.Page("pages/home.py", title="Home", icon=common.ICONS["home"], default=True)
navigation: dict[str, list] = {}
not_available: list = []
for section, entries in SECTIONS.items():
    visible = [
        home_page if path == "pages/home.py" else st.Page(path, title=title, icon=common.ICONS[icon])
        for path, title, icon, action in entries
        if allowed(user, action)
    ]
    if visible:
        navigation[section] = visible
    not_available += [
        st.Page(
            _not_available(title, home_page),
            title=title,
            icon=common.ICONS[icon],
            url_path=Path(path).stem,
            visibility="hidden",
        )
        for path, title, icon, action in entries
        if not allowed(user, action)
    ]
# In Home's section, which every role has: a section of hidden pages alone would still show its header.
navigation[""] = navigation.get("", []) + not_available

with st.sidebar:
    st.caption(f"Signed in as **{user.username}** ({user.role})")
    sign_out_button(store)

page = st.navigation(navigation)
notice = st.session_state.pop(NOTICE_KEY, None)
if notice is not None:
    st.info(notice, icon=":material/block:")
page.run()
