"""Cohort statistics (researcher view): AU-score associations across the cohort.

Choose the score, covariates, method and correction; the table follows the
layout of the study's Table 3, the chart shows each coefficient with its
confidence interval, and picking an AU shows its partial-residual scatter.
All numbers come from :mod:`facs_core.stats`.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core.labels import feature_measure, score_label
from facs_core.methods_text import AnalysisSettings
from facs_core.reference import action_unit_names, instruments
from facs_core.services import analysis as engine
from facs_core.stats.cohort import CohortParams, partial_residuals
from web import analysis_form as form
from web import cohort_analysis as analysis
from web import common, formatting, run_notices
from web.auth import require

store = common.catalog()
user = require(store, "view_cohort")
viewer = common.viewer(store)

st.title("Cohort statistics")
st.caption("How each Action Unit relates to a depression score across visits, controlling for covariates.")

inputs = form.inputs_or_stop(store)
version, clinical, scores, runs = inputs.version, inputs.clinical, inputs.scores, inputs.runs
run_notices.stale_notice(store, user, runs["video_id"].tolist(), key="cohort")

labels = {i.key: i.label for i in instruments()}
with st.container(border=True):
    score, covariates, method = form.score_row("cohort", scores, list(analysis.METHODS))
    left, middle, right = st.columns(3)
    correction = form.correction_select(left, "cohort")
    feature_kind = middle.selectbox(
        "Feature", list(analysis.FEATURE_KINDS), format_func=analysis.FEATURE_KINDS.get, key="cohort_feature"
    )
    segment_label = form.segments_select(right, store, viewer, "cohort")
    source = form.source_select(st, clinical, "cohort", "every number on this page")
    with st.expander("More options", icon=":material/tune:"):
        left, middle, right = st.columns(3)
        alpha = form.alpha_input(left, "cohort")
        permutations = middle.number_input(
            "Permutations",
            99,
            100_000,
            analysis.PERMUTATIONS,
            step=100,
            key="cohort_permutations",
            help="Whole-patient permutations behind each permutation p: of the permutation method, and of the"
            " extra permutation p-values below.",
        )
        seed = right.number_input("Permutation seed", 0, 2**31 - 1, 0, step=1, key="cohort_seed")
        left, right = st.columns(2)
        # The mixed model as the method needs no second mixed model beside it.
        mixed_model = method != "mixedlm" and left.checkbox(
            "Also a linear mixed model per AU",
            key="cohort_mixed_model",
            help="A random intercept per patient, beside the chosen method: the table gains its β and p"
            " (the command's --mixed-model, columns mixed_*).",
        )
        permutation_columns = right.checkbox(
            "Also permutation p-values",
            key="cohort_permutation_columns",
            disabled=method == "permutation",
            help="The partial correlation's p from shuffling scores between whole patients, beside the chosen"
            " method (the command's --permutations N, columns perm_*).",
        )
        form.command_line_note(
            "The command line also analyses tables from files (--features, --clinical) and writes its result"
            " where --out says; this page always analyses the store (--from-store), and the command under the"
            " results writes the same table."
        )

params = CohortParams(
    score=score,
    covariates=covariates,
    method=method,
    correction=correction,
    feature=feature_kind,
    alpha=alpha,
    permutations=int(permutations),
    seed=int(seed),
    mixed_model=bool(mixed_model),
    permutation_columns=bool(permutation_columns) and method != "permutation",
)
choice = engine.CohortChoice(source=source, segment_label=segment_label)

with common.friendly_errors(common.real_visits(clinical, source)):
    with st.spinner(f"{analysis.METHODS[method]}"):
        result = analysis.cohort_result(str(store.paths.root), version, viewer, params, choice)
    features, cohort_clinical = result.attrs["features"], result.attrs["clinical"]

    analysed = result.attrs.get("video_ids", [])
    common.synthetic_banner(*common.synthetic_count(store, analysed), where="in this analysis")
    common.au_source_note(store, analysed)
    n_videos = int(result.attrs.get("n_videos", 0))
    n_patients = int(cohort_clinical.loc[cohort_clinical["video_id"].isin(analysed), "patient_id"].nunique())
    backends = runs.loc[runs["video_id"].isin(analysed), ["backend", "backend_version"]].drop_duplicates()
    st.session_state["methods_settings"] = AnalysisSettings(
        instrument=labels.get(score, score),
        covariates=tuple(covariates),
        method=method,
        correction=analysis.CORRECTIONS[correction],
        alpha=float(alpha),
        n_videos=n_videos,
        n_patients=n_patients,
        feature=feature_kind,
        backends=tuple(backends.itertuples(index=False, name=None)),
        segment_label=segment_label,
        permutations=int(permutations),
        n_aus=len(result),
        dropped_covariates=tuple(result.attrs.get("dropped_covariates", ())),
    )
    st.session_state["cohort_result"] = engine.without_inputs(result)

    st.subheader(f"AU × {score_label(score)} associations")
    st.caption(
        f"{formatting.count(n_videos, 'visit')} of {formatting.count(n_patients, 'patient')}"
        f" · {analysis.DATA_SOURCES[source]} · {analysis.METHODS[method]}"
        f" · covariates: {', '.join(map(formatting.column_label, covariates)) or 'none'}"
        f" · {analysis.CORRECTIONS[correction]} · feature: {analysis.FEATURE_KINDS[feature_kind]}"
    )
    form.result_notes(store, result)
    form.command_panel(
        store,
        viewer,
        result,
        lambda data_dir: engine.cohort_command(params, choice, source, f"cohort-{score}.csv", data_dir),
        key="cohort_command",
    )

    table = analysis.table3(result, action_unit_names(), "β (standardised)" if method == "mixedlm" else "r")
    common.show_table(store, table, hide_index=True, width="stretch", key="table3")
    st.caption("Marks on the adjusted p: * < .05, ** < .01, *** < .001. CI: 95 % confidence interval.")

    left_out = analysis.frames_left_out(result)
    with st.expander("Frames left out per visit", icon=":material/filter_alt:"):
        st.caption(
            f"Only frames with a confident patient face enter the statistics. Of {left_out['frames_analysed'].sum():,}"
            f" frames of the {formatting.count(len(left_out), 'analysed visit')},"
            f" {left_out['frames_left_out'].sum():,} were left out:"
            f" {left_out['left_out_no_patient_face'].sum():,} with no patient face (no face found),"
            f" {left_out['left_out_uncertain'].sum():,} with an uncertain patient face (a face, but not surely the"
            f" patient's), {left_out['left_out_other_face'].sum():,} with only another person's face."
        )
        common.show_table(store, left_out, human=True, hide_index=True, width="stretch", key="frames_left_out")

    chart_data = result.assign(
        au=result["feature"].map(feature_measure),
        adjusted_p=result["p_fdr"].map(formatting.p_value),
        significance=np.where(result["significant"].fillna(False).astype(bool), "significant", "not significant"),
    )
    chart_data.attrs = {}
    pick = alt.selection_point(fields=["feature"], name="au_pick", on="click")
    base = alt.Chart(chart_data).encode(
        y=alt.Y("au:N", sort=None, title=analysis.FEATURE_KINDS[feature_kind]),
        tooltip=[
            alt.Tooltip("au:N", title="AU"),
            alt.Tooltip("r:Q", format=".3f"),
            alt.Tooltip("adjusted_p:N", title="p (adjusted)"),
            "n",
        ],
    )
    bars = base.mark_rule().encode(
        x=alt.X("ci_low:Q", title=f"{analysis.coefficient_label(method)} (95% CI)"), x2="ci_high:Q"
    )
    points = (
        base.mark_point(filled=True, size=70)
        .encode(
            x="r:Q",
            color=alt.Color(
                "significance:N",
                scale=alt.Scale(domain=["significant", "not significant"], range=["#c0392b", "#7f8c8d"]),
            ),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)),
        )
        .add_params(pick)
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    chart = (bars + points + zero).properties(height=alt.Step(22), title="Coefficients with 95% confidence intervals")
    event = st.altair_chart(chart, on_select="rerun", key="coef_chart", width="stretch")
    common.chart_downloads(chart, f"coefficients-{score}", key="coef")

    picked = common.selection_point(event, "au_pick")
    features_listed = chart_data["feature"].tolist()
    if picked and picked.get("feature") in features_listed and picked != st.session_state.get("cohort_last_pick"):
        # A click on the chart chooses the AU, as if picked in the box.
        st.session_state["cohort_last_pick"] = picked
        st.session_state["cohort_scatter_au"] = picked["feature"]
    if st.session_state.get("cohort_scatter_au") not in features_listed:
        st.session_state["cohort_scatter_au"] = features_listed[0]
    chosen = st.selectbox(
        "Partial-residual scatter for", features_listed, format_func=feature_measure, key="cohort_scatter_au"
    )
    chosen_label = feature_measure(chosen) + (
        "" if feature_kind == "mean" else f" ({analysis.FEATURE_KINDS[feature_kind]})"
    )
    scatter = partial_residuals(features, cohort_clinical, score, covariates, chosen)
    row = result.set_index("feature").loc[chosen]
    scatter_chart = (
        alt.Chart(scatter)
        .mark_circle(size=55, opacity=0.75)
        .encode(
            x=alt.X("score_residual:Q", title=f"{score_label(score)} | covariates (residual)"),
            y=alt.Y("feature_residual:Q", title=f"{chosen_label} | covariates (residual)"),
            tooltip=[
                "patient_id",
                "video_id",
                alt.Tooltip("score_residual:Q", format=".2f"),
                alt.Tooltip("feature_residual:Q", format=".4f"),
            ],
        )
        .properties(
            title=f"{chosen_label}: r = {row['r']:.3f}, {formatting.p_phrase(row['p_fdr'], 'adjusted p')}"
            f" (n = {int(row['n'])})",
            height=320,
        )
    )
    st.altair_chart(
        scatter_chart
        + scatter_chart.transform_regression("score_residual", "feature_residual").mark_line(color="#c0392b"),
        width="stretch",
        height=360,
        key="scatter_chart",
    )
