"""Glue between the significance-map page and the analysis engine: caching and the heatmap.

Every number comes from :func:`facs_core.services.analysis.significance_map`
(which ``python -m facs_core stats scalogram --from-store`` also runs): the AU x
period map, each video at its own frame rate, with the correction over all
cells or within each AU as chosen. This module caches it per store state
and draws it.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core.reference import action_units
from facs_core.services import analysis, visibility
from facs_core.wavelets import AssociationParams
from web import common

__all__ = ["cell_values", "frame_rates", "heatmap", "map_result", "rate_params", "warm"]


@st.cache_data(show_spinner=False, max_entries=16)
def map_result(
    data_dir: str,
    version: str,
    viewer: visibility.Viewer,
    association: AssociationParams,
    params: analysis.MapParams,
    choice: analysis.CohortChoice,
) -> pd.DataFrame:
    """:func:`facs_core.services.analysis.significance_map`, cached per store state and options."""
    del data_dir, version
    return analysis.significance_map(common.catalog(), viewer, association, params, choice)


def warm(data_dir: str) -> None:
    """Compute (into the disk cache) the default map's features of every extracted video.

    Run by the app's background thread, so the significance map does not
    pay for new videos when a researcher opens it.
    """
    del data_dir
    analysis.warm_features(common.catalog())


def frame_rates(runs: pd.DataFrame) -> dict[float, int]:
    """The frame rates of the extracted visits (as the frames-at-one-rate map groups them) and how many each."""
    counts = runs["fps"].dropna().astype(float).map(analysis.rate_of).value_counts()
    return {float(rate): int(n) for rate, n in counts.sort_values(ascending=False, kind="stable").items()}


def rate_params(fps: float, scales_text: str, options: dict[str, object]) -> analysis.MapParams:
    """The frames-at-one-rate map's parameters, ``--fps FPS --scales SCALES`` read as the command line reads them."""
    from facs_core.cli.options import parse_scales

    spec = scales_text.strip()
    return analysis.MapParams.at_rate(fps, tuple(parse_scales(spec)), spec, **options)


def cell_values(result: pd.DataFrame, score: str, au: str, period: float, scale: float | None = None) -> pd.DataFrame:
    """One cell's per-visit feature against the score: ``video_id, patient_id, score, value``.

    The cell is named by its period, or by its scale in the frames-at-one-rate map.
    """
    features = result.attrs["features"]
    column = features.column(au, period if scale is None or pd.isna(scale) else scale)
    wide = features.wide()[[column]].rename(columns={column: "value"}).reset_index()
    clinical = result.attrs["clinical"]
    table = wide.merge(clinical[["video_id", "patient_id", score]], on="video_id").dropna(subset=["value", score])
    table.attrs = {}
    return table


def heatmap(table: pd.DataFrame, score: str) -> alt.Chart:
    """AU x period heatmap of r (period axis in seconds, log), faded where not significant."""
    periods = np.sort(table["period_s"].unique())
    # Each cell spans half way (in log) to its neighbours.
    logs = np.log(periods)
    step = np.diff(logs) if logs.size > 1 else np.array([0.1])
    edges = np.exp(np.concatenate(([logs[0] - step[0] / 2], logs[:-1] + step / 2, [logs[-1] + step[-1] / 2])))
    bounds = pd.DataFrame({"period_s": periods, "p0": edges[:-1], "p1": edges[1:]})
    data = table.merge(bounds, on="period_s")
    data.attrs = {}  # the engine's provenance and inputs stay out of the chart's data
    data["survives"] = data["significant"].fillna(False).astype(bool)
    limit = float(np.nanmax(np.abs(data["r"]))) if data["r"].notna().any() else 1.0
    cell = alt.selection_point(fields=["au", "period_s"], name="cell", on="click")
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "p0:Q",
                title="period (seconds)",
                scale=alt.Scale(type="log", domain=[float(edges[0]), float(edges[-1])], nice=False),
            ),
            x2="p1:Q",
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
                alt.Tooltip("period_s:Q", format=".2f"),
                alt.Tooltip("r:Q", format=".3f"),
                alt.Tooltip("p_fdr:Q", format=".4f"),
                "n",
                "survives",
            ],
        )
        .add_params(cell)
        .properties(height=alt.Step(22), title=f"AU × period partial correlations with {score}")
    )
