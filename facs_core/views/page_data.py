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
from facs_core.services import visibility
from store import Catalog
from store.shards import parquet_list_sql

#: Covariates the catalog holds per visit, as the statistics engine names them.
COVARIATES: tuple[str, ...] = ("age", "sex", "camera", "medication", "repeat_visit")


def store_version(store: Catalog) -> str:
    """Changes whenever runs, scores, covariates or segments change."""
    row = store.fetchone(
        "SELECT (SELECT count(*) || '/' || coalesce(max(finished_at)::VARCHAR, '') FROM runs WHERE status = 'done'),"
        " (SELECT count(*) || '/' || coalesce(max(created_at)::VARCHAR, '') FROM assessments),"
        " (SELECT count(*) FROM visit_covariates),"
        " (SELECT count(*) || '/' || coalesce(max(updated_at)::VARCHAR, '') FROM segments)"
    )
    return "|".join(str(v) for v in row)


def latest_runs(store: Catalog) -> pd.DataFrame:
    """The newest finished run of each video, with the video's frame rate.

    Columns ``video_id, run_id, backend, backend_version, shard_path, n_frames,
    fps, synthetic, patient_id``.
    """
    return store.query(
        "SELECT r.video_id, r.run_id, r.backend, r.backend_version, r.shard_path, r.n_frames,"
        " v.fps, v.synthetic, v.patient_id"
        " FROM runs r JOIN videos v USING (video_id) WHERE r.status = 'done' AND r.shard_path IS NOT NULL"
        " QUALIFY row_number() OVER (PARTITION BY r.video_id ORDER BY r.finished_at DESC, r.run_id) = 1"
        " ORDER BY r.video_id"
    )


def shard_files(store: Catalog, runs: pd.DataFrame) -> list:
    """Absolute paths of the shards of ``runs`` that exist on disk."""
    files = [store.paths.root / p for p in runs["shard_path"]]
    return [f for f in files if f.exists()]


def clinical_table(store: Catalog) -> pd.DataFrame:
    """One row per video: ``video_id, patient_id``, one column per instrument, and the covariates.

    The layout :func:`facs_core.clinical.validate_clinical` expects.
    """
    scores = ", ".join(f"max(a.score) FILTER (WHERE a.instrument = '{i.key}') AS {i.key}" for i in instruments())
    table = store.query(
        f"SELECT v.video_id, v.patient_id, v.visit_date, v.synthetic, {scores},"
        " c.age, c.sex, v.camera, c.medication, c.repeat_visit"
        " FROM videos v LEFT JOIN assessments a USING (video_id) LEFT JOIN visit_covariates c USING (video_id)"
        " WHERE v.patient_id IS NOT NULL"
        " GROUP BY ALL ORDER BY v.patient_id, v.visit_date"
    )
    table["repeat_visit"] = table["repeat_visit"].astype("boolean")
    return table


def available_scores(clinical: pd.DataFrame) -> list[str]:
    """Instruments with at least one score in ``clinical``, in the reference table's order."""
    return [i.key for i in instruments() if i.key in clinical and clinical[i.key].notna().any()]


@st.cache_data(show_spinner=False, max_entries=8)
def video_features(
    data_dir: str, version: str, segment_label: str | None = None, viewer: visibility.Viewer | None = None
) -> pd.DataFrame:
    """Per-video AU (and emotion) features of each video's newest run, with its ``backend``.

    Computed by ``facs_core.features.features_from_shards``.

    With ``segment_label`` (a choice of :func:`facs_core.services.visibility.segment_choices`
    for ``viewer``), only frames inside the segments ``viewer`` sees under
    that label count (videos without such a segment use every frame, as the
    features module defines).
    """
    from facs_core import features

    del version
    store = _store(data_dir)
    runs = latest_runs(store)
    files = shard_files(store, runs)
    if not files:
        return pd.DataFrame(columns=["video_id"])
    segments = None
    if segment_label:
        if viewer is None:
            raise ValueError("choosing segments needs the viewer whose labels they are")
        segments = visibility.segment_spans(store, viewer, segment_label)
    table = features.features_from_shards(files, segments)
    # Which backend measured each video travels with its features (exports, labels).
    table.insert(1, "backend", table["video_id"].map(runs.set_index("video_id")["backend"]))
    return table


def _store(data_dir: str) -> Catalog:
    from facs_core.views import common

    del data_dir
    return common.catalog()


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
    return store.query(f"SELECT * FROM {parquet_list_sql(files)} ORDER BY frame")


def au_choices() -> list[str]:
    """The study's AUs, for pickers."""
    return list(action_units())
