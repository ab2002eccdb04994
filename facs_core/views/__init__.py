"""Shared helpers of the dashboard's pages: sign-in, widgets, cached store reads, charts.

Page files stay in ``pages/`` (Streamlit's navigation loads them by path) and hold
no SQL and no statistics; what several pages share lives here. This package is in
the views layer: it may call services, the core and the store, nothing calls it
but pages, ``app.py`` and ``dashboard.py``.
"""
