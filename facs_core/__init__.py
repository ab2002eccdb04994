"""facs_core: the library behind the FACS interview dashboard.

Video probing, extraction backends, per-video features, statistics, wavelets
and the command line (``python -m facs_core``). This package never imports
streamlit: the dashboard in ``app.py`` and ``pages/`` is a thin view over it.
"""

__version__ = "0.1.0"
