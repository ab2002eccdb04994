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

from facs_core.labels import covariates_phrase, feature_measure, score_label
from facs_core.services import analysis, visibility
from facs_core.stats.cohort import ALPHA, DATA_SOURCES, EMOTIONS, FEATURE_KINDS, METHODS, PERMUTATIONS, CohortParams
from facs_core.stats.multicomp import CORRECTION_LABELS
from web import common
from web import profile as profile_views
from web.formatting import column_label, is_missing, p_value, sentence

__all__ = [
    "ALPHA",
    "CORRECTIONS",
    "DATA_SOURCES",
    "FEATURE_KINDS",
    "METHODS",
    "PERMUTATIONS",
    "coefficient_label",
    "cohort_result",
    "frames_left_out",
    "significance_marks",
    "statistics_preview",
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
    """The result in the layout of the study's Table 3: AU, name, r with marks, CI, p, adjusted p, n.

    Rows are named by the AU (or emotion) alone (``AU01``, not ``AU01_sd``):
    the page names the feature kind once, in the caption above the table.
    """

    def fmt(value: float, digits: int) -> str:
        return "" if is_missing(value) else f"{value:.{digits}f}"

    rows = []
    for row in result.itertuples(index=False):
        au = feature_measure(row.feature)
        rows.append(
            {
                "AU": au,
                "Action Unit": au_names.get(au, "emotion (py-feat)" if au in EMOTIONS else ""),
                coefficient: (fmt(row.r, 2) + significance_marks(row.p_fdr)) if not is_missing(row.r) else "n/a",
                "95% CI": f"[{fmt(row.ci_low, 2)}, {fmt(row.ci_high, 2)}]" if not is_missing(row.ci_low) else "",
                "p": p_value(row.p),
                "p (adjusted)": p_value(row.p_fdr),
                "n": int(row.n),
                **_second_analyses(row),
                "Note": getattr(row, "reason", "") or "",
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


def frames_left_out(result: pd.DataFrame) -> pd.DataFrame:
    """Per analysed visit: frames analysed, frames used, and the frames left out with the reason.

    The Patient profile's table (:func:`web.profile.frames_left_out`: only
    confident patient frames enter the statistics; the others are counted as
    no patient face, uncertain patient face or other face) over the visits
    behind ``result``, with their patient; visits with the most frames left
    out first.
    """
    clinical = result.attrs["clinical"]
    visits = clinical[clinical["video_id"].isin(set(result.attrs.get("video_ids", [])))]
    table = profile_views.frames_left_out(result.attrs["features"], visits[["video_id", "visit_date"]])
    table.insert(0, "patient_id", table["video_id"].map(visits.set_index("video_id")["patient_id"]))
    table = table.sort_values(["frames_left_out", "patient_id", "video_id"], ascending=[False, True, True])
    return table.reset_index(drop=True)


#: Columns of the statistics table shown per row in the preview (in this order; those present).
_PREVIEW_ROWS = ("feature", "n", "r", "ci_low", "ci_high", "p", "p_fdr", "significant", "reason")
_COEFFICIENTS = ("r", "ci_low", "ci_high", "mixed_beta", "mixed_ci_low", "mixed_ci_high", "perm_r")
_NAMES = {"pearson": "Pearson", "spearman": "Spearman", "freedman-lane": "Freedman-Lane"}


def _method_words(text: str) -> str:
    """A result's method as a caption says it: "partial pearson" -> "Partial Pearson"."""
    words = " ".join(_NAMES.get(w.lower(), w) for w in str(text).split(" "))
    return sentence(words)


#: Labels of values every row of a statistics table shares, where :func:`column_label` would be wrong.
_SHARED_LABELS = {
    "fdr_scope": "FDR scope",
    "data_source": "Data source",
    "covariates": "Covariates",
    "df": "Degrees of freedom",
    "n_videos": "Videos",
    "n_permutations": "Permutations",
}


def _shared_words(column: str, value: str) -> str:
    """A value every row shares, as a reader reads it (covariates and score by name, not column keys)."""
    if column == "method":
        return _method_words(value)
    if column == "covariates":
        return covariates_phrase([name.strip() for name in value.split(",") if name.strip()]) or "none"
    if column == "score":
        return score_label(value)
    if column == "data_source":
        return DATA_SOURCES.get(value, value)
    if column in ("df", "n_videos", "n_permutations") and value.removesuffix(".0").isdigit():
        return value.removesuffix(".0")
    if column == "fdr_scope":
        return {"all": "all cells together", "within_au": "within each AU", "within-au": "within each AU"}.get(
            value, value
        )
    return value


def statistics_preview(result: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The statistics table as a reader scans it, and what every row shares said once.

    Rows are named by their AU (``AU01``, not ``AU01_sd``); coefficients and
    their interval read to three decimals, p-values as a journal prints them.
    Columns with one value over all rows (the method, covariates,
    provenance) leave the table and come back as ``"Label: value"`` lines.
    The exported file keeps every column on every row, for provenance.
    """
    per_row = [c for c in _PREVIEW_ROWS if c in result] + [
        c for c in result.columns if c.startswith(("mixed_", "perm_")) and c != "perm_n_permutations"
    ]
    table = pd.DataFrame(index=result.index)
    for column in per_row:
        values = result[column]
        if column == "feature":
            table["AU"] = values.map(feature_measure)
        elif column in _COEFFICIENTS:
            table[column_label(column)] = values.map(lambda v: "–" if is_missing(v) else f"{float(v):.3f}")
        elif column == "p" or column.endswith(("_p", "p_fdr")):
            table[column_label(column)] = values.map(p_value)
        elif column == "significant":
            table["Significant"] = values.map(lambda v: "–" if is_missing(v) else ("yes" if bool(v) else "no"))
        elif column == "n" or column.endswith("_n"):
            table[column_label(column)] = values.map(lambda v: "–" if is_missing(v) else str(int(v)))
        else:
            table[column_label(column)] = values.map(lambda v: "" if is_missing(v) else str(v))
    shared = []
    for column in result.columns:
        if column in per_row or column in ("k",):
            continue
        values = result[column].map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
        distinct = values.dropna().astype(str).unique()
        if len(distinct) == 1:
            shared.append(f"{_SHARED_LABELS.get(column, column_label(column))}: {_shared_words(column, distinct[0])}")
    return table.reset_index(drop=True), shared
