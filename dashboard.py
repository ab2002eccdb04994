"""Start the dashboard: ``streamlit run dashboard.py`` (``make run`` and ``scripts/serve`` do).

Streamlit's ``st.App`` serves ``app.py`` as usual and adds the dashboard's own
HTTP routes (``web/routes.py``): the one that sets the HttpOnly session cookie
after a sign-in, sign-out, and the session-checked video stream; its middleware
keeps every answer out of shared caches (``web.routes.PrivateCaching``). ``streamlit
run`` recognises the ``app`` object and serves it with its configuration
flags (port, address, XSRF, upload size) as for a plain script.
"""

import streamlit as st
from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager

from web import common
from web.routes import FrontendBase, PrivateCaching, mount

# app.py declares its pages with st.navigation. Until some session has run it,
# Streamlit would treat the pages/ folder as an old-style multipage app and
# run a deep-linked file (say pages/admin.py) on its own, helpers listed in
# the sidebar; a fresh server's first visitor must get the sign-in page.
PagesManager.uses_pages_directory = False

# No answer may be kept by a shared cache: Streamlit marks component scripts "public".
# Streamlit's page learns where its server is (no 404 probes on a deep link).
app = st.App(
    "app.py",
    routes=mount(common.catalog),
    middleware=[Middleware(PrivateCaching), Middleware(FrontendBase)],
)
