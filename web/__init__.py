"""The dashboard's web layer: page helpers (sign-in, widgets, cached reads, charts) and HTTP routes.

Page files stay in ``pages/`` (Streamlit's navigation loads them by path) and hold
no SQL and no statistics; what several pages share lives here, outside the
``facs_core`` library, which stays free of Streamlit. This package is in the views
layer: it may call services, the core and the store; only pages, ``app.py`` and
``dashboard.py`` call it.
"""
