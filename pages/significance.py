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
import pandas as pd
import streamlit as st

from facs_core import wavelets
from facs_core.reference import instruments
from facs_core.services import analysis as engine
from facs_core.wavelets import FDR_SCOPES, AssociationParams
from web import analysis_form as form
from web import cohort_analysis as analysis
from web import common, formatting
from web import wavelet_analysis as wavelet_analysis
from web.auth import require

store = common.catalog()
user = require(store, "view_cohort")
viewer = common.viewer(store)

st.title("Scalogram significance map")
st.caption(
    "Which rhythms of facial movement relate to the score: each cell is an AU at one period (seconds),"
    " coloured by its partial correlation with the score. Videos of every frame rate are analysed together,"
    " each at its own sampling period (or, with scales in frames, the visits of one frame rate)."
)

inputs = form.inputs_or_stop(store)
version, clinical, scores, runs = inputs.version, inputs.clinical, inputs.scores, inputs.runs

labels = {i.key: i.label for i in instruments()}
MEASURES = {False: "mean wavelet modulus |W|", True: "mean wavelet power |W|²"}
AXES = {
    "periods": "periods in seconds (every frame rate together)",
    "fps": "scales in frames at one frame rate",
}
with st.container(border=True):
    score, covariates, method = form.score_row("map", scores, ["pearson", "spearman"])
    left, middle, right = st.columns(3)
    correction = form.correction_select(left, "map")
    scope = middle.selectbox("Correct", list(FDR_SCOPES), format_func=wavelet_analysis.scope_words, key="map_scope")
    power = right.selectbox("Feature", list(MEASURES), format_func=MEASURES.get, key="map_feature")
    axis = st.radio(
        "Period axis",
        list(AXES),
        format_func=AXES.get,
        horizontal=True,
        key="map_axis",
        help="Periods in seconds transform each video at its own frame rate (--periods). Scales in frames are"
        " the command line's --fps/--scales: the visits recorded at that rate only, scale s being"
        " s frames' worth of the wavelet.",
    )
    if axis == "periods":
        spacing = st.radio(
            "Periods",
            list(wavelet_analysis.PERIOD_SPACINGS),
            format_func=wavelet_analysis.PERIOD_SPACINGS.get,
            horizontal=True,
            key="map_period_spacing",
            help="As --periods takes them: a range with --period-count (log-spaced), a range with a step"
            " (0.2-10:0.1) or a list (0.5,1,2).",
        )
        if spacing == "list":
            period_list = st.text_input(
                "Periods (s)", "0.5,1,2,4,8", key="map_period_list", help="Seconds, separated by commas."
            )
        else:
            left, middle, right = st.columns(3)
            shortest = left.number_input("Shortest period (s)", 0.05, 60.0, 0.2, step=0.05, key="map_period_low")
            longest = middle.number_input("Longest period (s)", 0.05, 120.0, 10.0, step=0.5, key="map_period_high")
            if spacing == "log":
                count = right.number_input("Periods (log-spaced)", 2, 200, 100, step=1, key="map_period_count")
            else:
                step = right.number_input("Step (s)", 0.01, 60.0, 0.1, step=0.05, key="map_period_step")
    else:
        left, middle, right = st.columns(3)
        rates = wavelet_analysis.frame_rates(runs)
        fps = left.selectbox(
            "Frame rate",
            list(rates),
            format_func=lambda r: f"{r:g} fps ({formatting.count(rates[r], 'visit')})",
            key="map_fps",
        )
        scales_text = middle.text_input(
            "Scales (frames)", "1-100", key="map_scales", help="A range 1-100, a step 1-100:0.5 or a list 1,2,4,8."
        )
    left, right = st.columns(2)
    segment_label = form.segments_select(left, store, viewer, "map")
    source = form.source_select(right, clinical, "map", "the map")
    with st.expander("More options", icon=":material/tune:"):
        left, middle, right = st.columns(3)
        alpha = form.alpha_input(left, "map")
        wavelet = middle.text_input("Wavelet (PyWavelets name)", wavelets.DEFAULT_WAVELET, key="map_wavelet")
        max_gap = right.number_input(
            "Longest face gap filled (s)", 0.0, 10.0, wavelets.DEFAULT_MAX_GAP_S, step=0.1, key="map_max_gap"
        )
        form.command_line_note(
            "The command line also reads per-frame and clinical tables and a segments table from files"
            " (--frames, --clinical, --segments FILE); this page analyses the store (--from-store), its"
            " segments chosen by label under Frames analysed (--segment-label). --workers only sets how"
            " many threads compute the transform (the numbers do not change): the page uses every core of the"
            " server. --out names the file the command writes; the download buttons give the same table."
        )

with common.friendly_errors(common.real_visits(clinical, source)):
    options = {"power": bool(power), "wavelet": wavelet.strip(), "max_gap_s": float(max_gap)}
    if axis == "periods" and spacing == "log":
        params = engine.MapParams.from_range(shortest, longest, int(count), **options)
    elif axis == "periods":
        spec = period_list if spacing == "list" else wavelet_analysis.step_spec(shortest, longest, step)
        params = wavelet_analysis.period_params(spec, options)
    else:
        params = wavelet_analysis.rate_params(fps, scales_text, options)
    association = AssociationParams(
        score=score, covariates=covariates, method=method, fdr=correction, fdr_scope=scope, alpha=alpha
    )
    choice = engine.CohortChoice(source=source, segment_label=segment_label)
    with st.spinner("wavelet features of every visit (cached after the first time)"):
        table = wavelet_analysis.map_result(str(store.paths.root), version, viewer, association, params, choice)
    st.session_state["map_result"] = engine.without_inputs(table)
    analysed = table.attrs.get("video_ids", [])
    common.synthetic_banner(*common.synthetic_count(store, analysed), where="in this analysis")
    common.au_source_note(store, analysed)
    n_sig = int(table["significant"].fillna(False).astype(bool).sum())
    rates = table.attrs.get("rates")
    mix = ", ".join(f"{n} at {r:g} fps" for r, n in rates.items()) if rates is not None else ""
    scope_text = wavelet_analysis.scope_words(scope, axis == "periods")
    st.caption(
        f"{formatting.count(table.attrs.get('n_videos', 0), 'visit')} ({mix}) · {analysis.DATA_SOURCES[source]} ·"
        f" {formatting.count(table['au'].nunique(), 'AU')} ×"
        f" {formatting.count(table['period_s'].nunique(), 'period' if axis == 'periods' else 'scale')}"
        f"{'' if axis == 'periods' else f' at {fps:g} fps'} ·"
        f" {analysis.CORRECTIONS[correction]} {scope_text} · {formatting.count(n_sig, 'cell')} significant"
    )
    form.result_notes(store, table)
    empty_note = wavelet_analysis.empty_cells_note(table)
    if empty_note:
        st.caption(f":material/info: {common.visible_text(store, empty_note)}")
    at_fps = None if axis == "periods" else float(fps)
    unresolved = wavelet_analysis.unresolved_note(table, at_fps)
    if unresolved:
        st.caption(f":material/info: {unresolved}")
    form.command_panel(
        store,
        viewer,
        table,
        lambda data_dir: engine.map_command(association, params, choice, source, f"significance-{score}.csv", data_dir),
        key="map_command",
    )

    common.result_downloads(store, user, engine.without_inputs(table), f"significance-{score}", "significance map")

    chart = wavelet_analysis.heatmap(table, score, at_fps)
    event = st.altair_chart(chart, on_select="rerun", key="sig_map", width="stretch")
    common.chart_downloads(chart, f"significance-map-{score}", key="sigmap")
    st.caption(wavelet_analysis.chart_caption(at_fps))

    picked = common.selection_point(event, "cell")
    if picked and "au" in picked and "period_s" in picked:
        au, period = str(picked["au"]), float(picked["period_s"])
    else:
        best = table.loc[table["p"].idxmin()]
        au, period = str(best["au"]), float(best["period_s"])
    match = table[(table["au"] == au) & ((table["period_s"] - period).abs() < 1e-9 * period)]
    row = match.iloc[0] if len(match) else table.loc[table["p"].idxmin()]
    au, period = str(row["au"]), float(row["period_s"])
    st.subheader(
        f"{au} at period {period:.2f} s"
        if at_fps is None
        else f"{au} at scale {row['scale']:g} (frames at {at_fps:g} fps, period {period:.2f} s)"
    )
    if not (pd.notna(row["r"]) and int(row["n"]) > 0):
        # An empty cell has nothing to plot: say why instead of drawing an empty chart.
        st.info(
            f"No video is analysed in this cell: {common.visible_text(store, str(row['reason']))}.",
            icon=":material/info:",
        )
        st.stop()
    scatter = wavelet_analysis.cell_values(table, score, au, period, row["scale"])
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
