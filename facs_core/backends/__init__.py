"""Extraction backends behind one interface (see :mod:`facs_core.backends.base`)."""
