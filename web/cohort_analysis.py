"""Glue between the cohort page and the analysis engine: option labels, the Table 3 layout, caching.

Every number comes from :func:`facs_core.services.analysis.cohort_statistics`
(which ``python -m facs_core stats partial-corr --from-store`` also runs); this
module only names the options, caches the result per store state and lays
the table out.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from facs_core.services import analysis, visibility
from facs_core.stats.cohort import ALPHA, DATA_SOURCES, EMOTIONS, FEATURE_KINDS, METHODS, PERMUTATIONS, CohortParams
from facs_core.stats.multicomp import CORRECTION_LABELS
from web import common
from web.formatting import is_missing, p_value

__all__ = [
    "ALPHA",
    "CORRECTIONS",
    "DATA_SOURCES",
    "FEATURE_KINDS",
    "FRAME_COUNTS",
    "METHODS",
    "PERMUTATIONS",
    "coefficient_label",
    "cohort_result",
    "frames_left_out",
    "significance_marks",
    "table3",
]

#: Correction options and their names.
CORRECTIONS: dict[str, str] = dict(CORRECTION_LABELS)


@st.cache_data(show_spinner=False, max_entries=32)
def cohort_result(
    data_dir: str, version: str, viewer: visibility.Viewer, params: CohortParams, choice: analysis.CohortChoice
) -> pd.DataFrame:
    """:func:`facs_core.services.analysis.cohort_statistics`, cached per store state and options."""
    del data_dir, version
    return analysis.cohort_statistics(common.catalog(), viewer, params, choice)


def coefficient_label(method: str) -> str:
    """What the coefficient column means for ``method``."""
    return "standardised slope" if method == "mixedlm" else "partial r"


def significance_marks(p: float) -> str:
    """``*`` < .05, ``**`` < .01, ``***`` < .001 on the adjusted p; empty otherwise."""
    if is_missing(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def table3(result: pd.DataFrame, au_names: Mapping[str, str], coefficient: str = "r") -> pd.DataFrame:
    """The result in the layout of the study's Table 3: AU, name, r with marks, CI, p, adjusted p, n."""

    def fmt(value: float, digits: int) -> str:
        return "" if is_missing(value) else f"{value:.{digits}f}"

    rows = []
    for row in result.itertuples(index=False):
        au = str(row.feature).split("_")[0]
        rows.append(
            {
                "AU": row.feature,
                "Action Unit": au_names.get(au, "emotion (py-feat)" if au in EMOTIONS else ""),
                coefficient: (fmt(row.r, 2) + significance_marks(row.p_fdr)) if not is_missing(row.r) else "n/a",
                "95% CI": f"[{fmt(row.ci_low, 2)}, {fmt(row.ci_high, 2)}]" if not is_missing(row.ci_low) else "",
                "p": p_value(row.p),
                "p (adjusted)": p_value(row.p_fdr),
                "n": int(row.n),
                **_second_analyses(row),
                "note": getattr(row, "reason", "") or "",
            }
        )
    return pd.DataFrame(rows)


def _second_analyses(row) -> dict[str, str]:
    # The optional mixed model and permutation p beside the chosen method (their columns, when asked for).
    cells = {}
    if hasattr(row, "mixed_beta"):
        cells["β (mixed model)"] = "n/a" if is_missing(row.mixed_beta) else f"{row.mixed_beta:.2f}"
        cells["p (mixed model)"] = p_value(row.mixed_p)
    if hasattr(row, "perm_p"):
        cells["p (permutations)"] = p_value(row.perm_p)
    return cells


#: The per-visit frame counts of the features, as the table of frames left out shows them.
FRAME_COUNTS: tuple[str, ...] = (
    "n_frames",
    "n_face_frames",
    "n_no_face_frames",
    "n_uncertain_frames",
    "n_other_face_frames",
)


def frames_left_out(result: pd.DataFrame) -> pd.DataFrame:
    """Per analysed visit: frames in the analysed window, frames used, and those left out and why.

    ``patient_id, video_id, visit_date`` and :data:`FRAME_COUNTS` of the
    features behind ``result`` (:func:`facs_core.features.per_video_features`:
    only confident patient frames enter the statistics; ``n_no_face_frames``
    are the rest, among them ``n_uncertain_frames``, the patient's face with
    its identity uncertain, and ``n_other_face_frames``, only another
    person's face). Visits with the most frames left out first.
    """
    features, clinical = result.attrs["features"], result.attrs["clinical"]
    analysed = set(result.attrs.get("video_ids", []))
    counts = features.loc[features["video_id"].isin(analysed), ["video_id", *FRAME_COUNTS]]
    visits = clinical[["patient_id", "video_id", "visit_date"]].merge(counts, on="video_id")
    for column in FRAME_COUNTS:
        visits[column] = visits[column].astype("int64")
    visits = visits.sort_values(["n_no_face_frames", "patient_id", "video_id"], ascending=[False, True, True])
    return visits.reset_index(drop=True)
