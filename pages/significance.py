"""Scalogram significance map: AU x period partial correlations with the score.

Each cell is the partial correlation between a per-video wavelet feature
(mean modulus of the AU's continuous wavelet transform at that period, each
video transformed at its own frame rate) and the score, from the same engine
as ``python -m facs_core stats scalogram --from-store``
(:func:`facs_core.services.analysis.significance_map`). Cells that do not
survive the correction are faded.
"""

from __future__ import annotations

import altair as alt
import streamlit as st

from facs_core import wavelets
from facs_core.reference import instruments
from facs_core.services import analysis as engine
from facs_core.services import visibility
from facs_core.stats.cohort import default_source
from facs_core.wavelets import FDR_SCOPES, AssociationParams
from web import cohort_analysis as analysis
from web import common, formatting, page_data
from web import wavelet_analysis as wavelet_analysis
from web.auth import require

store = common.catalog()
user = require(store, "view_cohort")
viewer = common.viewer(store)

st.title("Scalogram significance map")
st.caption(
    "Which rhythms of facial movement relate to the score: each cell is an AU at one period (seconds),"
    " coloured by its partial correlation with the score. Videos of every frame rate are analysed together,"
    " each at its own sampling period."
)

version = page_data.store_version(store)
clinical = page_data.clinical_table(store)
scores = page_data.available_scores(clinical)
runs = page_data.latest_runs(store)
if runs.empty or not scores:
    st.info(
        "No analysable visits yet: load the demo data on the Home page, or upload and extract interviews.",
        icon=":material/info:",
    )
    st.stop()

labels = {i.key: i.label for i in instruments()}
sources = list(analysis.DATA_SOURCES)
SCOPES = {"all": "over all AU × period cells", "au": "within each AU"}
MEASURES = {False: "mean wavelet modulus |W|", True: "mean wavelet power |W|²"}
with st.container(border=True):
    left, middle, right = st.columns(3)
    score = left.selectbox("Score", scores, format_func=lambda k: labels.get(k, k), key="map_score")
    covariates = middle.multiselect(
        "Covariates",
        list(page_data.COVARIATES),
        default=list(page_data.COVARIATES),
        format_func=formatting.column_label,
        key="map_covariates",
    )
    method = right.selectbox("Method", ["pearson", "spearman"], format_func=analysis.METHODS.get, key="map_method")
    left, middle, right = st.columns(3)
    correction = left.selectbox(
        "Correction", list(analysis.CORRECTIONS), format_func=analysis.CORRECTIONS.get, key="map_correction"
    )
    scope = middle.selectbox("Correct", list(FDR_SCOPES), format_func=SCOPES.get, key="map_scope")
    power = right.selectbox("Feature", list(MEASURES), format_func=MEASURES.get, key="map_feature")
    left, middle, right = st.columns(3)
    shortest = left.number_input("Shortest period (s)", 0.05, 60.0, 0.2, step=0.05, key="map_period_low")
    longest = middle.number_input("Longest period (s)", 0.05, 120.0, 10.0, step=0.5, key="map_period_high")
    count = right.number_input("Periods (log-spaced)", 2, 200, 100, step=1, key="map_period_count")
    left, right = st.columns(2)
    segment_labels = visibility.segment_choices(store, viewer)
    segment_label = left.selectbox(
        "Frames analysed",
        [None, *segment_labels],
        format_func=lambda v: "whole video, every visit" if v is None else f"segments: {v} (visits that have one)",
        key="map_segments",
    )
    source = right.selectbox(
        "Data source",
        sources,
        index=sources.index(default_source(clinical)),
        format_func=analysis.DATA_SOURCES.get,
        key="map_source",
        help="Which visits the map uses; real visits are the default whenever there are any.",
    )
    with st.expander("More options", icon=":material/tune:"):
        left, middle, right = st.columns(3)
        alpha = left.number_input("Significance level (α)", 0.001, 0.5, analysis.ALPHA, step=0.01, key="map_alpha")
        wavelet = middle.text_input("Wavelet (PyWavelets name)", wavelets.DEFAULT_WAVELET, key="map_wavelet")
        max_gap = right.number_input(
            "Longest face gap filled (s)", 0.0, 10.0, wavelets.DEFAULT_MAX_GAP_S, step=0.1, key="map_max_gap"
        )

with common.friendly_errors(common.real_visits(clinical, source)):
    params = engine.MapParams.from_range(
        shortest, longest, int(count), power=bool(power), wavelet=wavelet.strip(), max_gap_s=float(max_gap)
    )
    association = AssociationParams(
        score=score, covariates=tuple(covariates), method=method, fdr=correction, fdr_scope=scope, alpha=float(alpha)
    )
    choice = engine.CohortChoice(source=source, segment_label=segment_label)
    with st.spinner("wavelet features of every visit (cached after the first time)"):
        table = wavelet_analysis.map_result(str(store.paths.root), version, viewer, association, params, choice)
    st.session_state["map_result"] = engine.without_inputs(table)
    analysed = table.attrs.get("video_ids", [])
    common.synthetic_banner(common.has_synthetic(store, analysed))
    common.au_source_note(store, analysed)
    n_sig = int(table["significant"].fillna(False).astype(bool).sum())
    rates = table.attrs.get("rates")
    mix = ", ".join(f"{n} at {r:g} fps" for r, n in rates.items()) if rates is not None else ""
    st.caption(
        f"{table.attrs.get('n_videos', 0)} visits ({mix}) · {analysis.DATA_SOURCES[source]} ·"
        f" {table['au'].nunique()} AUs × {table['period_s'].nunique()} periods ·"
        f" {analysis.CORRECTIONS[correction]} {SCOPES[scope]} · {n_sig} cells significant"
    )
    for note in table.attrs.get("notes", []):
        st.caption(f":material/info: {common.visible_text(store, note)}")
    empty = table["r"].isna()
    if empty.any():
        reason = table.loc[empty, "reason"].mode()
        st.caption(
            f":material/info: {int(empty.sum())} cells are empty"
            + (
                f", mostly because {common.visible_text(store, str(reason.iloc[0]))}"
                if len(reason) and reason.iloc[0]
                else ""
            )
            + "."
        )
    unresolved = table[table["n_unresolved"] > 0]
    if len(unresolved):
        st.caption(
            f":material/info: periods up to {unresolved['period_s'].max():.2g} s are shorter than two frames of"
            f" some videos: those videos are left out of those cells (n_unresolved), never computed on aliased data."
        )
    common.reproduce(
        store,
        engine.map_command(
            association,
            params,
            choice,
            source,
            f"significance-{score}.csv",
            store.paths.root if viewer.sees_paths else None,
        ),
        table,
        key="map_command",
    )

    common.result_downloads(store, user, engine.without_inputs(table), f"significance-{score}", "significance map")

    chart = wavelet_analysis.heatmap(table, score)
    event = st.altair_chart(chart, on_select="rerun", key="sig_map", width="stretch")
    common.chart_downloads(chart, f"significance-map-{score}", key="sigmap")
    st.caption("Faded cells do not survive the correction. Period axis in seconds (log).")

    picked = common.selection_point(event, "cell")
    if picked and "au" in picked and "period_s" in picked:
        au, period = str(picked["au"]), float(picked["period_s"])
    else:
        best = table.loc[table["p"].idxmin()]
        au, period = str(best["au"]), float(best["period_s"])
    match = table[(table["au"] == au) & ((table["period_s"] - period).abs() < 1e-9 * period)]
    row = match.iloc[0] if len(match) else table.loc[table["p"].idxmin()]
    au, period = str(row["au"]), float(row["period_s"])
    st.subheader(f"{au} at period {period:.2f} s")
    scatter = wavelet_analysis.cell_values(table, score, au, period)
    st.caption(
        f"period {period:.2f} s · r = {row['r']:.3f} · {formatting.p_phrase(row['p'])}"
        f" · {formatting.p_phrase(row['p_fdr'], 'adjusted p')}"
        f" · n = {int(row['n'])}"
    )
    st.altair_chart(
        alt.Chart(scatter)
        .mark_circle(size=55, opacity=0.75)
        .encode(
            x=alt.X(f"{score}:Q", title=labels.get(score, score)),
            y=alt.Y("value:Q", title=f"{au} {MEASURES[bool(power)]} at {period:.2f} s"),
            tooltip=["patient_id", "video_id", score, alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=300),
        width="stretch",
        height=340,
        key="cell_scatter",
    )
