"""Export: per-frame, per-video and statistics tables, and the methods paragraph.

CSV and Parquet go through :func:`facs_core.services.downloads.export_for`: the user is
authorised when the file is made, columns their role may not receive are
removed, CSV formula cells neutralised, and the export audited. Charts are
exported as PNG or SVG next to each chart.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facs_core.methods_text import methods_paragraph, with_result_scope
from facs_core.reference import instruments
from facs_core.services import access, visibility
from facs_core.services import analysis as engine
from facs_core.services.downloads import export_for, features_command, features_export, frames_export
from facs_core.stats.provenance import FEATURE_PROVENANCE_COLUMNS
from facs_core.wording import reader_notes
from web import analysis_form as form
from web import cohort_analysis, common, formatting, page_data
from web.auth import require
from web.deferred import session_token

store = common.catalog()
user = require(store, "export")

st.title("Export")
st.caption(
    "Tables carry pseudonymous patient codes only. CSV cells that a spreadsheet would run as formulas are neutralised."
)

patients = access.visible_patients(store, user)
version = page_data.store_version(store)
clinical = page_data.clinical_table(store)
clinical = clinical[clinical["patient_id"].isin(patients)]
common.synthetic_banner(int(clinical["synthetic"].sum()), len(clinical), where="you may export")
common.au_source_note(store, clinical["video_id"])


@st.cache_data(show_spinner=False, max_entries=8)
def features_table(
    data_dir: str,
    version: str,
    source: str,
    segment_label: str | None,
    viewer: visibility.Viewer,
    patients: tuple[str, ...] | None,
) -> pd.DataFrame:
    """:func:`facs_core.services.downloads.features_export` of the chosen visits, cached per store state."""
    del data_dir, version
    choice = engine.CohortChoice(source=source, segment_label=segment_label)
    return features_export(store, viewer, choice, patients)


def downloads(frame: pd.DataFrame, name: str, what: str, key: str) -> None:
    """CSV and Parquet buttons for one table; each download is audited."""
    left, right = st.columns(2)
    token = session_token()
    left.download_button(
        "CSV",
        data=lambda: export_for(store, user, frame, what=what, fmt="csv", session_token=token),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        icon=":material/table_view:",
        on_click="ignore",
    )
    right.download_button(
        "Parquet",
        data=lambda: export_for(store, user, frame, what=what, fmt="parquet", session_token=token),
        file_name=f"{name}.parquet",
        mime="application/vnd.apache.parquet",
        key=f"{key}_parquet",
        icon=":material/dataset:",
        on_click="ignore",
    )


with common.friendly_errors():
    runs = page_data.latest_runs(store)
    runs = runs[runs["patient_id"].isin(patients)]

    st.subheader("Per-frame table")
    if runs.empty:
        st.caption("No extracted visits you may export yet.")
    else:
        dates = clinical.set_index("video_id")["visit_date"]
        labels = {
            row.video_id: f"{row.patient_id} · {formatting.date(dates.get(row.video_id))} · video {row.video_id}"
            f" · {row.backend}"
            for row in runs.itertuples()
        }
        video_id = st.selectbox("Visit", list(labels), format_func=labels.get, key="ex_frames_video")
        frames = frames_export(store, video_id, page_data.frames_of_video(str(store.paths.root), version, video_id))
        st.caption(
            f"{len(frames):,} frames × {frames.shape[1]} columns, ending with the provenance (backend and model"
            " version, data source, software, inputs sha256)."
        )
        downloads(frames, f"frames-{video_id}", f"frames of {video_id}", "frames")

    st.subheader("Per-video features with scores and covariates")
    viewer = common.viewer(store)
    left, right = st.columns(2)
    source = form.source_select(left, clinical, "ex_features", "the table")
    segment_label = form.segments_select(right, store, viewer, "ex_features")
    with common.friendly_errors():
        table = features_table(
            str(store.paths.root), version, source, segment_label, viewer, None if viewer.patients is None else patients
        )
        if table.empty:
            st.caption("No per-video features yet.")
        else:
            # The preview shows what a reader scans (scores given, covariates, AU means); the download has every
            # column.
            scores = page_data.available_scores(table)
            unscored = [i.key for i in instruments() if i.key in table and i.key not in scores]
            means = [c for c in table.columns if c.startswith("AU") and "_" not in c]
            hidden = {"synthetic", "backend_version", *FEATURE_PROVENANCE_COLUMNS}
            preview = table.drop(
                columns=[c for c in table.columns if c in unscored or c in hidden or (c.startswith("AU") and "_" in c)]
            )
            pinned = {
                label: st.column_config.TextColumn(label, pinned=True) for label in ("Video", "Patient", "Visit date")
            }
            common.show_table(
                store, preview.head(20), human=True, hide_index=True, width="stretch", column_config=pinned
            )
            for note in reader_notes(table.attrs.get("notes", [])):
                st.caption(common.visible_text(store, note))
            st.caption(
                f"{formatting.count(len(table), 'visit')}; first 20 shown, with the AU means"
                f" ({formatting.count(len(means), 'AU')}; scroll sideways). The"
                " download holds every visit and every column (AU rates and SDs too, each visit's backend and"
                " model version) with machine-readable names (video_id, visit_date, AU12_rate ...) and full"
                " precision, and ends with its provenance (method, backends, data source, segments, n, software,"
                " inputs sha256)."
            )
            if viewer.patients is None:
                command = features_command(
                    source, segment_label, data_dir=store.paths.root if viewer.sees_paths else None
                )
                common.reproduce(store, command, table, key="ex_features_command")
            downloads(table, "per-video-features", "per-video features", "features")

    if not access.allowed(user, "view_cohort"):
        # Statistics come from the Cohort statistics page, which this role does not have: no dead end.
        st.caption(
            "Cohort statistics and their methods paragraph are prepared by researchers on the Cohort statistics"
            " page; your exports are the per-frame and per-visit tables above."
        )
        st.stop()

    st.subheader("Statistics table")
    result = st.session_state.get("cohort_result")
    if result is None:
        st.caption("Run an analysis on the Cohort statistics page first; its table and settings appear here.")
        common.page_link("pages/cohort.py", label="Open Cohort statistics")
    else:
        preview, shared = cohort_analysis.statistics_preview(result)
        common.show_table(store, preview, hide_index=True, width="stretch", key="ex_stats_preview")
        st.caption(" · ".join(common.visible_text(store, line) for line in shared))
        st.caption(
            "Coefficients to three decimals; p-values as in a journal table: below 0.001 as “< 0.001”, otherwise"
            " three significant digits. The download keeps full precision and repeats the method and provenance"
            " on every row."
        )
        downloads(result, "cohort-statistics", "cohort statistics", "stats")

    st.subheader("Methods paragraph")
    settings = st.session_state.get("methods_settings")
    if settings is None:
        st.caption("Generated from the settings of the last analysis you ran on the Cohort statistics page.")
    else:
        # The result of the same analysis knows which visits were extracted inside their segments only.
        provenance = None if result is None else result.attrs.get("provenance")
        text = methods_paragraph(with_result_scope(settings, provenance))
        st.text_area("For a paper's methods section", value=text, height=200, key="ex_methods")
        st.download_button(
            "Download as text",
            data=text,
            file_name="methods.txt",
            mime="text/plain",
            key="ex_methods_txt",
            icon=":material/description:",
            on_click="ignore",
        )
    st.caption("Charts: every chart has PNG and SVG buttons under it on its own page.")
