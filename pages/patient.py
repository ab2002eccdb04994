"""Patient profile (clinician view): one patient's AU profile against the cohort.

Per-visit AU means as z-scores or percentiles of the cohort's visits, the AU
time series of a segment, emotions where the backend measures them, change
between visits, and a scalogram (wavelet modulus, scale x time) of one AU.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from facs_core.errors import FacsError
from facs_core.reference import action_unit_names
from facs_core.services import access, visibility
from facs_core.services import analysis as engine
from facs_core.stats.cohort import DATA_SOURCES, default_source
from facs_core.stats.profile import measured_visits, visit_change
from web import agreement_section, common, formatting, page_data, run_notices
from web import profile as profile_views
from web.auth import require

store = common.catalog()
user = require(store, "view_patient")

st.title("Patient profile")

patients = access.visible_patients(store, user)
if not patients:
    st.info(
        "No patients you may open yet: patients are assigned to clinicians by an administrator, and uploads"
        " are assigned to their uploader.",
        icon=":material/info:",
    )
    st.stop()
wanted = st.query_params.get("patient")
patient = st.selectbox("Patient", patients, index=patients.index(wanted) if wanted in patients else 0, key="pp_patient")
common.unknown_patient_notice(wanted, patients, patient)
st.query_params["patient"] = patient
require(store, "view_patient", patient)

version = page_data.store_version(store)
clinical = page_data.clinical_table(store)
visits = clinical[clinical["patient_id"] == patient].sort_values("visit_date")
sources = list(DATA_SOURCES)
source = st.selectbox(
    "Compare with",
    sources,
    index=sources.index(default_source(clinical)),
    format_func=lambda s: f"the cohort's {DATA_SOURCES[s]}",
    key="pp_source",
    help="The reference visits of the z-scores and percentiles; real visits whenever the store has any.",
)
common.synthetic_banner(int(visits["synthetic"].sum()), len(visits), where="of this patient")
if source != "real" and not visits["synthetic"].any():
    common.synthetic_reference_note()
for visit_row in common.visits_table(store, [patient]).to_dict("records"):
    common.damage_badge(visit_row, label=f"visit {visit_row['video_id']}")
common.au_source_note(store, visits["video_id"])
run_notices.stale_notice(store, user, visits["video_id"].tolist(), key="pp")

with st.expander("How to read this page", expanded=False, icon=":material/help:"):
    st.markdown(
        "- **Against the cohort**: each cell compares this visit's average AU intensity with the reference"
        f" chosen under *Compare with*: the extracted visits among the cohort's {DATA_SOURCES[source]}, of"
        " every other patient (never this patient's own). A z-score of +1 means one standard deviation above"
        " the reference's average; a percentile of 90 means higher than 90 % of the reference visits. The"
        " reference is whoever is in this store, not a clinical norm; with fewer than 5 other patients no"
        " comparison is shown.\n"
        "- **AU time series**: how strongly each Action Unit was detected, frame by frame (0 = absent, 1 ="
        " certainly present); gaps are moments without a detected face.\n"
        "- **Scalogram**: how much the AU rose and fell in rhythms of different lengths (periods, in seconds)"
        " over time; bright bands are recurring movements at that rhythm."
    )
st.caption(common.RESEARCH_CAVEAT)

scores = page_data.available_scores(clinical)
st.subheader("Visits")
common.show_table(
    store,
    visits[["video_id", "visit_date", *scores, "age", "sex", "camera", "medication", "repeat_visit"]],
    human=True,
    hide_index=True,
    width="stretch",
)

with common.friendly_errors():
    names = action_unit_names()
    mode = st.radio("Compare with the cohort as", ["z-score", "percentile"], horizontal=True, key="pp_mode")
    mine = tuple(visits["video_id"].tolist())
    features = profile_views.visit_features(str(store.paths.root), version, mine)
    extracted = [v for v in mine if v in set(features.get("video_id", []))]
    if not extracted:
        st.info("No extracted visit for this patient yet.", icon=":material/info:")
        st.stop()
    visit_labels = {row.video_id: f"{formatting.date(row.visit_date)} · {row.video_id}" for row in visits.itertuples()}
    measured = measured_visits(features, mine)
    visit_backends = profile_views.visit_backends(features, measured, visit_labels)
    domain = [-3, 3] if mode == "z-score" else [0, 100]
    # A percentile reads as a whole number ("percentile 64"), a z-score to two decimals.
    value_tooltip = alt.Tooltip("value:Q", title=mode, format=".2f" if mode == "z-score" else ".0f")
    profile = profile_views.profile_against_cohort(
        str(store.paths.root), version, mine, mode, "aus", source, tuple(patients)
    )
    refused = profile.attrs.get("refused", "")
    if refused:
        # Too few other patients: no scores at all, only why (their values would be given away).
        st.info(refused, icon=":material/group:")
    else:
        n_reference = profile.attrs.get("n_reference", 0)
        provenance = profile.copy()
        provenance.attrs = {"provenance": profile.attrs.get("provenance", {})}
        st.session_state["pp_profile_table"] = provenance
        synthetic_share = profile.attrs.get("synthetic_share", 0.0)
        reference_backends = profile.attrs.get("reference_backends", {})
        n_patients = profile.attrs.get("n_reference_patients", 0)
        profile.attrs = {}  # the reference data stays out of the charts
        profile["visit"] = profile["video_id"].map(visit_labels)
        profile["name"] = profile["AU"].map(names)
        reasons = profile_views.blank_cell_reasons(profile, measured)
        profile["cell"] = reasons
        blank = reasons != ""
        cells = alt.Chart(profile).encode(
            x=alt.X("AU:N", sort=list(names), title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=False)),
            y=alt.Y("visit:N", title=None, axis=alt.Axis(labelLimit=0)),
            tooltip=[
                "visit",
                "AU",
                "name",
                alt.Tooltip("mean:Q", format=".3f"),
                value_tooltip,
            ],
        )
        # Blank cells are drawn grey and named in the legend (only the reasons that occur), so an empty square
        # never reads as "average".
        shown_reasons = [r for r in profile_views.BLANK_CELLS if (reasons == r).any()]
        colours = cells.mark_rect().encode(
            color=alt.Color(
                "value:Q", title=mode, scale=alt.Scale(scheme="redblue", reverse=True, domain=domain, clamp=True)
            )
        )
        greys = (
            cells.transform_filter("datum.cell != ''")
            .mark_rect()
            .encode(
                color=alt.Color(
                    "cell:N",
                    title="grey cells",
                    scale=alt.Scale(
                        domain=shown_reasons, range=[profile_views.BLANK_CELLS[r][0] for r in shown_reasons]
                    ),
                )
            )
        )
        heat = (
            (alt.layer(colours, greys).resolve_scale(color="independent") if shown_reasons else alt.layer(colours))
            .properties(title=f"AU means per visit against the cohort ({mode})", height=alt.Step(36))
            # Below the chart: beside a two-visit heatmap the second legend was cut off.
            .configure_legend(orient="bottom", direction="horizontal")
        )
        st.altair_chart(heat, width="stretch", key="pp_profile")
        common.chart_downloads(heat, f"profile-{patient}", key="pp_profile")
        notes = []
        if blank.any():
            notes.append(
                "Grey cells: " + "; ".join(f"*{r}*: {profile_views.BLANK_CELLS[r][1]}" for r in shown_reasons) + "."
            )
        if mode == "z-score":
            notes.append(profile_views.beyond_scale_note(profile))
        if any(notes):
            st.caption(" ".join(n for n in notes if n))
        reference_name = f"the cohort's {DATA_SOURCES[source]}"

        mostly_synthetic = profile_views.synthetic_reference_text(
            synthetic_share, n_reference, bool(visits["synthetic"].all())
        )
        if mostly_synthetic:
            st.warning(mostly_synthetic, icon=":material/science:")
        other_backend = profile_views.backend_reference_text(visit_backends, reference_backends)
        if other_backend:
            st.warning(other_backend, icon=":material/compare_arrows:")

        st.caption(
            f"Reference: {formatting.count(n_reference, 'extracted visit')} of"
            f" {formatting.count(n_patients, 'other patient')} with AU values, {reference_name}."
        )
        common.reproduce(
            store,
            engine.profile_command(
                patient,
                mode,
                "aus",
                source,
                f"profile-{patient}.csv",
                store.paths.root if common.viewer(store).sees_paths else None,
            ),
            provenance,
            key="pp_command",
            table="the AU table",
        )
    emotion_table = profile_views.profile_against_cohort(
        str(store.paths.root), version, mine, mode, "emotions", source, tuple(patients)
    )
    emotion_profile = emotion_table.copy()
    emotion_profile.attrs = {}
    if emotion_table.attrs.get("refused") and not refused and profile_views.EMOTIONS[0] in features:
        st.caption(f"No emotion scores against the cohort: {emotion_table.attrs['refused']}")
    if not emotion_profile.empty:
        emotion_profile["visit"] = emotion_profile["video_id"].map(visit_labels)
        emotion_heat = (
            alt.Chart(emotion_profile)
            .mark_rect()
            .encode(
                x=alt.X("AU:N", sort=list(profile_views.EMOTIONS), title=None),
                y=alt.Y("visit:N", title=None, axis=alt.Axis(labelLimit=0)),
                color=alt.Color(
                    "value:Q", title=mode, scale=alt.Scale(scheme="redblue", reverse=True, domain=domain, clamp=True)
                ),
                tooltip=[
                    "visit",
                    alt.Tooltip("AU:N", title="emotion"),
                    alt.Tooltip("mean:Q", format=".3f"),
                    value_tooltip,
                ],
            )
            .properties(title=f"Emotion means per visit against the cohort ({mode}; py-feat)", height=alt.Step(36))
            .configure_legend(orient="bottom", direction="horizontal")
        )
        st.altair_chart(emotion_heat, width="stretch", key="pp_emotion_profile")
        common.chart_downloads(emotion_heat, f"profile-emotions-{patient}", key="pp_emotion_profile")
        drawn = set(emotion_profile.loc[emotion_profile["mean"].notna(), "visit"])
        without = profile_views.no_emotion_text(visit_backends, drawn)
        if without:
            st.caption(f":material/info: {without}")
        profile_views.emotion_command(store, patient, mode, source, emotion_table)

    st.subheader("Frames left out per visit")
    left_out = profile_views.frames_left_out(features, visits)
    common.show_table(store, left_out, human=True, hide_index=True, width="stretch")
    st.caption(
        "Only frames with a confident patient face enter the profile and the statistics; the others are left"
        " out, counted over the whole visit by reason: *no patient face* (no face found), *uncertain patient"
        " face* (a face, but not surely the patient's), *other face* (only another person's face)."
    )

    # Only visits with AU values can be compared; one where no face was found has none.
    compared = [v for v in extracted if v in measured]
    faceless = [v for v in extracted if v not in measured]
    visit_dates = visits.set_index("video_id")["visit_date"]

    def visit_name(video_id: str) -> str:
        when = visit_dates.get(video_id)
        return f"{formatting.date(when)}, video {video_id}" if pd.notna(when) else f"undated, video {video_id}"

    st.subheader("Change between visits")
    if len(compared) < 2:
        st.info(
            profile_views.no_change_text([visit_name(v) for v in compared], [visit_name(v) for v in faceless]),
            icon=":material/info:",
        )
    else:
        first, last = compared[0], compared[-1]
        change = visit_change(features, first, last)
        score_rows = visits.set_index("video_id")
        deltas = ", ".join(
            f"{formatting.column_label(s)} {formatting.number(score_rows.loc[first, s])}"
            f" → {formatting.number(score_rows.loc[last, s])}"
            for s in scores
            if pd.notna(score_rows.loc[first, s]) and pd.notna(score_rows.loc[last, s])
        )
        dates = score_rows["visit_date"]
        st.caption(
            f"First extracted visit ({formatting.date(dates.get(first))}, video {first}) → last"
            f" ({formatting.date(dates.get(last))}, video {last}). {deltas}"
        )
        other_backends = profile_views.change_backend_text(features, first, last)
        if other_backends:
            st.warning(other_backends, icon=":material/compare_arrows:")
        scope = profile_views.change_scope_text(features, first, last)
        if scope and scope.mixed:
            st.warning(scope.text, icon=":material/compare_arrows:")
        elif scope:
            st.caption(f":material/info: {scope.text}")
        st.altair_chart(
            alt.Chart(change)
            .mark_bar()
            .encode(
                x=alt.X("AU:N", sort=list(names), title=None),
                y=alt.Y("change:Q", title="change in mean AU value"),
                color=alt.condition("datum.change > 0", alt.value("#c0392b"), alt.value("#2980b9")),
                tooltip=["AU", alt.Tooltip("change:Q", format=".3f")],
            )
            .properties(height=220),
            width="stretch",
            height=260,
            key="pp_change",
        )

    st.subheader("One visit over time")
    visit_id = st.selectbox(
        "Visit",
        extracted,
        key="pp_visit",
        format_func=lambda v: f"{formatting.date(visit_dates.get(v))} · video {v}",
    )
    frames = page_data.frames_of_video(str(store.paths.root), version, visit_id)
    segments = visibility.segments_of_video(store, common.viewer(store), visit_id)
    spans = {"whole visit": None} | {
        # Seconds, as the charts' time axes read (not minutes:seconds).
        f"{row.label} ({formatting.seconds_span(row.start_s, row.end_s)})": (float(row.start_s), float(row.end_s))
        for row in segments.itertuples()
    }
    span_name = st.selectbox("Segment", list(spans), index=min(1, len(spans) - 1), key="pp_segment")
    span = spans[span_name]
    aus = [a for a in page_data.au_choices() if a in frames.columns]
    chosen = st.multiselect("AUs", aus, default=[a for a in ("AU12", "AU04", "AU15") if a in aus], key="pp_aus")
    window = profile_views.span_frames(frames, span)
    place = "this visit" if span is None else "this segment"
    # Why a chart of this visit or segment would be empty, said instead of drawing it.
    no_face = (
        f"no face was found in {place}"
        if visit_id not in measured or ("face" in window and not window["face"].any())
        else ""
    )
    time_axis = alt.Scale(domain=list(span), nice=False, zero=False) if span else alt.Scale(nice=False, zero=False)
    if not chosen:
        st.caption("No AU time series: no AU chosen; choose at least one AU above to draw its trace.")
    elif no_face or not window[chosen].notna().any().any():
        st.caption(f"No AU time series: {no_face or f'the chosen AUs have no value in {place}'}.")
    elif chosen:
        series = window[["timestamp", *chosen]].melt("timestamp", var_name="AU", value_name="value")
        st.altair_chart(
            alt.Chart(series)
            .mark_line(strokeWidth=1)
            .encode(
                x=alt.X("timestamp:Q", title="time (s)", scale=time_axis),
                y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])),
                color="AU:N",
            )
            .properties(height=220, title=f"AU time series · {span_name}"),
            width="stretch",
            height=260,
            key="pp_series",
        )
        gaps = profile_views.gaps_text(window, chosen, place)
        if gaps:
            st.caption(f":material/info: {gaps}")

    emotions = [c for c in profile_views.EMOTIONS if c in frames.columns]
    if emotions and (no_face or not window[emotions].notna().any().any()):
        st.caption(f"Emotions: {no_face or f'no emotion value in {place}'}.")
    elif emotions:
        means = profile_views.emotion_means(window, emotions)
        st.altair_chart(
            alt.Chart(means)
            .mark_bar()
            .encode(x="emotion:N", y=alt.Y("mean:Q", title="mean probability"))
            .properties(height=200, title="Emotions (backend estimate)"),
            width="stretch",
            height=240,
            key="pp_emotions",
        )
    else:
        backend = page_data.latest_runs(store).set_index("video_id").get("backend", pd.Series()).get(visit_id, "this")
        st.caption(f"Emotions: the {backend} backend does not estimate emotions for this visit.")

    agreement_section.agreement_section(store, visit_id)

    st.subheader("Scalogram")
    au = st.selectbox("AU", aus, index=aus.index("AU12") if "AU12" in aus else 0, key="pp_scalogram_au")
    missing = no_face or ("" if au in window and window[au].notna().any() else f"{au} has no value in {place}")
    if missing:
        st.caption(f"No scalogram: {missing}.")
    else:
        try:
            image = engine.visit_scalogram(store, frames, visit_id, au, span)
        except FacsError as exc:
            st.caption(f"No scalogram: {common.visible_text(store, str(exc))}")
        else:
            few_bands = profile_views.few_bands_text(image, place)
            if profile_views.band_count(image):
                chart = profile_views.scalogram_chart(image, span)
                st.altair_chart(chart, width="stretch", height=340, key="pp_scalogram")
                common.chart_downloads(chart, f"scalogram-{visit_id}-{au}", key="pp_scalogram")
            if few_bands:
                st.caption(few_bands)
