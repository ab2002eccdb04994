"""Application services: the only layer that joins the analysis core and the store.

Ingest, extraction jobs, access control, visibility filtering, backups, the demo
loader, caches and downloads live here (see ``docs/architecture.md``). Views (the
command line and the dashboard) call these; the core and the store never do.
"""
