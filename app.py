"""The FACS interview dashboard: ``streamlit run app.py``.

Opens the store once per process, signs the user in, and shows the pages the
user's role allows. Pages enforce their own permission again on the server
(``require``), so hiding a page is convenience, not security.
"""

from __future__ import annotations

import streamlit as st

from facs_core.errors import FacsError
from pages import _common

st.set_page_config(page_title="FACS interview dashboard", page_icon=":material/face:", layout="wide")

try:
    store = _common.catalog()
except FacsError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

from facs_core.access import allowed  # noqa: E402
from pages._auth import current_user, sign_out_button  # noqa: E402

user = current_user(store)
_common.start_background_work(store)

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

navigation: dict[str, list] = {}
for section, entries in SECTIONS.items():
    visible = [
        st.Page(path, title=title, icon=_common.ICONS[icon], default=path == "pages/home.py")
        for path, title, icon, action in entries
        if allowed(user, action)
    ]
    if visible:
        navigation[section] = visible

with st.sidebar:
    st.caption(f"Signed in as **{user.username}** ({user.role})")
    st.caption(f"Data folder: `{store.paths.root}`")
    sign_out_button(store)

st.navigation(navigation).run()
