"""Glue between the significance-map page and :mod:`facs_core.wavelets` / :mod:`facs_core.stats`.

The per-video wavelet features of every visit at one frame rate are computed
once per store state (cached), then related to the score with the same
:func:`facs_core.stats.associate` as the cohort table, correcting within
each AU over its scales (``fdr_groups``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core import wavelets
from facs_core.errors import InputError
from facs_core.reference import action_units
from facs_core.services import feature_cache
from facs_core.stats import associate
from facs_core.views import common, page_data
from facs_core.views.cohort_analysis import ALPHA


@st.cache_data(show_spinner=False, max_entries=20_000)
def _video_features(shard: str, modified: float, video_id: str, fps: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One video's wide wavelet features, cached per shard file.

    A shard never changes once written (a new extraction is a new run and a
    new file; ``modified`` guards against a restore), so a finished
    extraction recomputes only its own video, not the cohort. Below this
    in-process layer, :func:`facs_core.services.feature_cache.cached_wavelet_features`
    keeps the features on disk, so a restarted server reads them.
    """
    del modified
    result = feature_cache.cached_wavelet_features(
        common.catalog().paths,
        Path(shard),
        video_id,
        feature_cache.analysis_fps(fps),
        feature_cache.ANALYSIS_PARAMS,
    )
    return result.wide().reset_index(), result.scales


def features_at(data_dir: str, version: str, fps: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide wavelet features (``video_id`` + ``AUxx@scale`` columns) and the scale table.

    Every video of frame rate ``fps`` in its newest run, one cached video at a time.
    """
    del data_dir, version
    store = common.catalog()
    runs = page_data.latest_runs(store)
    runs = runs[runs["fps"].round(3) == round(fps, 3)]
    parts, scales = [], None
    for row in runs.itertuples(index=False):
        shard = store.paths.root / row.shard_path
        if not shard.exists():
            continue
        wide, scales = _video_features(str(shard), shard.stat().st_mtime, row.video_id, float(fps))
        parts.append(wide)
    if not parts:
        raise InputError(f"no extracted videos at {fps:g} fps")
    return pd.concat(parts, ignore_index=True), scales


def warm(data_dir: str) -> None:
    """Compute (into the cache) the wavelet features of every extracted video, for every frame rate.

    Run by the app's background thread, so the significance map does not
    pay for new videos when a researcher opens it.
    """
    store = common.catalog()
    version = page_data.store_version(store)
    for fps in page_data.latest_runs(store)["fps"].dropna().round(3).unique():
        features_at(data_dir, version, float(fps))


@st.cache_data(show_spinner=False, max_entries=16)
def significance_table(
    data_dir: str, version: str, fps: float, score: str, covariates: Sequence[str], correction: str
) -> pd.DataFrame:
    """``au, scale, period_s, frequency_hz, n, r, p, p_fdr, significant`` for every AU x scale cell."""
    wide, scales = features_at(data_dir, version, fps)
    clinical = page_data.clinical_table(common.catalog()).drop(columns=["visit_date", "synthetic"])
    groups = [column.split("@")[0] for column in wide.columns[1:]]
    result = associate(wide, clinical, score, list(covariates), fdr=correction, alpha=ALPHA, fdr_groups=groups)
    parts = result["feature"].str.split("@", expand=True)
    table = result.assign(au=parts[0], scale=parts[1].astype(float)).merge(
        scales[["scale", "period_s", "frequency_hz"]], on="scale", how="left"
    )
    table.attrs = dict(result.attrs)
    analysed = set(clinical["video_id"]) & set(wide["video_id"])
    table.attrs["video_ids"] = sorted(analysed)
    return table


def cell_scatter(data_dir: str, version: str, fps: float, score: str, au: str, scale: float) -> pd.DataFrame:
    """One wavelet feature against the score, per visit."""
    wide, _ = features_at(data_dir, version, fps)
    column = wavelets.WaveletFeatures.column(au, scale)
    clinical = page_data.clinical_table(common.catalog())
    return (
        wide[["video_id", column]]
        .rename(columns={column: "value"})
        .merge(clinical[["video_id", "patient_id", score]], on="video_id")
        .dropna(subset=["value", score])
    )


def heatmap(table: pd.DataFrame, score: str) -> alt.LayerChart:
    """AU x scale heatmap of r, faded where not significant, with a period-in-seconds axis on top."""
    data = table.assign(
        x0=table["scale"] - 0.5,
        x1=table["scale"] + 0.5,
        survives=table["significant"].fillna(False).astype(bool),
    )
    limit = float(np.nanmax(np.abs(data["r"]))) if data["r"].notna().any() else 1.0
    cell = alt.selection_point(fields=["au", "scale"], name="cell", on="click")
    scale_min, scale_max = float(data["x0"].min()), float(data["x1"].max())
    ratio = float((data["period_s"] / data["scale"]).median())
    rects = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("x0:Q", title="wavelet scale (frames)", scale=alt.Scale(domain=[scale_min, scale_max], nice=False)),
            x2="x1:Q",
            y=alt.Y("au:N", sort=list(action_units()), title=None),
            color=alt.Color(
                "r:Q",
                title=f"partial r with {score}",
                scale=alt.Scale(scheme="redblue", domain=[-limit, limit], reverse=True),
            ),
            opacity=alt.condition("datum.survives", alt.value(1.0), alt.value(0.25)),
            stroke=alt.condition(cell, alt.value("black"), alt.value(None), empty=False),
            tooltip=[
                "au",
                alt.Tooltip("scale:Q", format="g"),
                alt.Tooltip("period_s:Q", format=".2f"),
                alt.Tooltip("r:Q", format=".3f"),
                alt.Tooltip("p_fdr:Q", format=".4f"),
                "n",
                "survives",
            ],
        )
        .add_params(cell)
    )
    seconds = (
        alt.Chart(pd.DataFrame({"period": [scale_min * ratio, scale_max * ratio]}))
        .mark_point(opacity=0)
        .encode(
            x=alt.X(
                "period:Q",
                title="period (seconds)",
                axis=alt.Axis(orient="top"),
                scale=alt.Scale(domain=[scale_min * ratio, scale_max * ratio], nice=False),
            )
        )
    )
    return (
        alt.layer(rects, seconds)
        .resolve_scale(x="independent")
        .properties(height=alt.Step(22), title=f"AU × scale partial correlations with {score}")
    )
