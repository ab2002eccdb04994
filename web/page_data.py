"""What the pages read from the store, cached per store state.

Every reader takes the data folder and a ``version`` string
(:func:`store_version`) so Streamlit's cache is invalidated the moment a run
finishes or a score changes, and is shared by every session otherwise. The
statistics themselves come from :mod:`facs_core`; this module only gathers
their inputs.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facs_core.reference import action_units, instruments
from store import Catalog, listings, open_catalog, resolve_data_dir

__all__ = [
    "COVARIATES",
    "au_choices",
    "available_scores",
    "clinical_table",
    "frames_of_video",
    "latest_runs",
    "open_store",
    "shard_files",
    "store_version",
]

#: Covariates the catalog holds per visit, as the statistics engine names them.
COVARIATES: tuple[str, ...] = ("age", "sex", "camera", "medication", "repeat_visit")


def store_version(store: Catalog) -> str:
    """Changes whenever runs, scores, covariates or segments change."""
    return listings.state_stamp(store)


def latest_runs(store: Catalog) -> pd.DataFrame:
    """The newest finished run of each video, with the video's frame rate.

    Columns ``video_id, run_id, backend, backend_version, shard_path, n_frames,
    fps, synthetic, patient_id``.
    """
    return listings.latest_runs(store)


def shard_files(store: Catalog, runs: pd.DataFrame) -> list:
    """Absolute paths of the shards of ``runs`` that exist on disk."""
    files = [store.paths.root / p for p in runs["shard_path"]]
    return [f for f in files if f.exists()]


def clinical_table(store: Catalog) -> pd.DataFrame:
    """One row per video: ``video_id, patient_id``, one column per instrument, and the covariates.

    The layout :func:`facs_core.clinical.validate_clinical` expects.
    """
    table = listings.clinical_table(store, [i.key for i in instruments()])
    table["repeat_visit"] = table["repeat_visit"].astype("boolean")
    return table


def available_scores(clinical: pd.DataFrame) -> list[str]:
    """Instruments with at least one score in ``clinical``, in the reference table's order."""
    return [i.key for i in instruments() if i.key in clinical and clinical[i.key].notna().any()]


@st.cache_resource(show_spinner=False)
def open_store(data_dir: str) -> Catalog:
    """The process's one catalog of the data folder ``data_dir`` (an absolute path), opened once."""
    return open_catalog(data_dir)


def _store(data_dir: str) -> Catalog:
    # This module's caches are keyed by ``data_dir``: read that folder's catalog (the
    # one web.common.catalog hands the pages when it is FACS_DATA_DIR).
    return open_store(str(resolve_data_dir(data_dir)))


@st.cache_data(show_spinner=False, max_entries=32)
def frames_of_video(data_dir: str, version: str, video_id: str) -> pd.DataFrame:
    """The per-frame table of a video's newest run (empty when not extracted)."""
    del version
    store = _store(data_dir)
    runs = latest_runs(store)
    runs = runs[runs["video_id"] == video_id]
    files = shard_files(store, runs)
    if not files:
        return pd.DataFrame()
    return listings.read_frames(store, files)


def au_choices() -> list[str]:
    """The study's AUs, for pickers."""
    return list(action_units())
