"""The dashboard process's background work: the extraction job driver and the cache warmer.

Both run in daemon threads of the app process, started once per process and
data folder (``st.cache_resource``), so extraction never blocks a page, jobs
survive a browser reload, and the wavelet features behind the significance map
are computed as soon as videos are extracted. A module of its own so that the
page helpers (:mod:`web.common`) and the wavelet analysis they
feed import each other in one direction only.
"""

from __future__ import annotations

import atexit
import threading

import streamlit as st

from facs_core.errors import FacsError
from facs_core.services.logs import log_exception
from store import Catalog
from web import page_data

__all__ = ["start_background_work"]


@st.cache_resource(show_spinner=False)
def _job_runner(data_dir: str):
    from facs_core.services.jobs import JobRunner, resume_interrupted

    store = page_data.open_store(data_dir)
    # Jobs whose driver died (this process before a restart, a killed command) continue here.
    resume_interrupted(store)
    runner = JobRunner(store)
    runner.start()
    # Stopped, and waited for, before the interpreter finalises (see _stop_warmers for why).
    atexit.register(runner.stop, timeout=60.0)
    return runner


#: Set at interpreter exit: the cache warmers stop polling.
_EXITING = threading.Event()
_WARMERS: list[threading.Thread] = []


def _stop_warmers(timeout_s: float = 60.0) -> None:
    """Stop the cache warmers and wait for any warming under way, at interpreter exit.

    Only setting the flag is not enough: a warmer in the middle of a warm
    (seconds of features and DuckDB) would still be inside DuckDB when the
    interpreter finalises, which ends daemon threads by unwinding them through
    DuckDB's C++ frames, and that aborts the process.
    """
    _EXITING.set()
    for thread in _WARMERS:
        thread.join(timeout_s)


atexit.register(_stop_warmers)


@st.cache_resource(show_spinner=False)
def _cache_warmer(data_dir: str) -> threading.Thread:
    thread = threading.Thread(target=_warm_caches, args=(data_dir,), name="facs-cache-warmer", daemon=True)
    _WARMERS.append(thread)
    thread.start()
    return thread


def _warm_caches(data_dir: str, period_s: float = 10.0) -> None:
    # Wavelet features of a long cohort take seconds per video; computing them
    # when the store changes, not when a researcher opens the map, keeps the
    # page under its 2 s target. Imported here: the app's first page need not wait for it.
    from web import wavelet_analysis

    seen = None
    while not _EXITING.is_set():
        try:
            version = page_data.store_version(page_data.open_store(data_dir))
            if version != seen:
                seen = version
                wavelet_analysis.warm(data_dir)
        except FacsError:
            # The page shows the same one-line message when it is opened.
            pass
        except Exception as exc:
            log_exception(exc, data_dir)
            return
        _EXITING.wait(period_s)


def start_background_work(store: Catalog):
    """Start (once per process) the runner that works off queued extraction jobs, and the cache warmer.

    Both run in background threads of the app process, so extraction never
    blocks a page, jobs survive a browser reload, and the wavelet features
    behind the significance map are computed as soon as videos are
    extracted. Returns the job runner.
    """
    _cache_warmer(str(store.paths.root))
    return _job_runner(str(store.paths.root))
