"""Scalogram significance map: AU x wavelet scale partial correlations with the score.

Each cell is the partial correlation between a per-video wavelet feature
(mean modulus of the AU's continuous wavelet transform at that scale,
:func:`facs_core.wavelets.wavelet_features`) and the score, from
:func:`facs_core.stats.associate` with the FDR correction applied within each
AU over its scales. Cells that do not survive the correction are faded.
"""

from __future__ import annotations

import altair as alt
import streamlit as st

from facs_core.reference import instruments
from facs_core.views import cohort_analysis as analysis
from facs_core.views import common, page_data
from facs_core.views import wavelet_analysis as wavelet_analysis
from facs_core.views.auth import require

store = common.catalog()
user = require(store, "view_cohort")

st.title("Scalogram significance map")
st.caption(
    "Which rhythms of facial movement relate to the score: each cell is an AU at one wavelet scale"
    " (a period in seconds), coloured by its partial correlation with the score."
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
rates = runs["fps"].round(3).value_counts()
with st.container(border=True):
    left, middle, right = st.columns(3)
    score = left.selectbox("Score", scores, format_func=lambda k: labels.get(k, k), key="map_score")
    covariates = middle.multiselect(
        "Covariates", list(page_data.COVARIATES), default=list(page_data.COVARIATES), key="map_covariates"
    )
    correction = right.selectbox(
        "Correction (within each AU)",
        list(analysis.CORRECTIONS),
        format_func=analysis.CORRECTIONS.get,
        key="map_correction",
    )
    fps = st.selectbox(
        "Frame rate",
        list(rates.index),
        key="map_fps",
        format_func=lambda r: f"{r:g} fps ({rates[r]} videos)",
        help="Wavelet scales are counted in frames, so videos of one frame rate are analysed together.",
    )

with common.friendly_errors():
    bar = st.progress(0.1, text="wavelet features of every visit (cached after the first time)")
    table = wavelet_analysis.significance_table(
        str(store.paths.root), version, float(fps), score, tuple(covariates), correction
    )
    bar.empty()
    common.synthetic_banner(common.has_synthetic(store, table.attrs.get("video_ids", [])))
    common.au_source_note(store, table.attrs.get("video_ids", []))
    n_sig = int(table["significant"].fillna(False).astype(bool).sum())
    st.caption(
        f"{table.attrs.get('n_videos', 0)} visits at {fps:g} fps · {len(table['au'].unique())} AUs ×"
        f" {len(table['scale'].unique())} scales · {analysis.CORRECTIONS[correction]} within each AU ·"
        f" {n_sig} cells significant"
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

    chart = wavelet_analysis.heatmap(table, score)
    event = st.altair_chart(chart, on_select="rerun", key="sig_map", width="stretch")
    common.chart_downloads(chart, f"significance-map-{score}", key="sigmap")
    st.caption("Faded cells do not survive the correction. Scale axis below in frames, above as period in seconds.")

    picked = common.selection_point(event, "cell")
    if picked and "au" in picked and "scale" in picked:
        au, scale = str(picked["au"]), float(picked["scale"])
    else:
        best = table.loc[table["p"].idxmin()]
        au, scale = str(best["au"]), float(best["scale"])
    st.subheader(f"{au} at scale {scale:g}")
    scatter = wavelet_analysis.cell_scatter(str(store.paths.root), version, float(fps), score, au, scale)
    row = table[(table["au"] == au) & (table["scale"] == scale)].iloc[0]
    st.caption(
        f"period {row['period_s']:.2f} s · r = {row['r']:.3f} · p = {row['p']:.2g} · adjusted p = {row['p_fdr']:.2g}"
        f" · n = {int(row['n'])}"
    )
    st.altair_chart(
        alt.Chart(scatter)
        .mark_circle(size=55, opacity=0.75)
        .encode(
            x=alt.X(f"{score}:Q", title=labels.get(score, score)),
            y=alt.Y("value:Q", title=f"{au} mean wavelet modulus at {row['period_s']:.2f} s"),
            tooltip=["patient_id", "video_id", score, alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=300),
        width="stretch",
        height=340,
        key="cell_scatter",
    )
