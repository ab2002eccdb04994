"""Glue between the cohort page and :mod:`facs_core.stats`: options, the Table 3 layout, residuals.

No statistics are computed here beyond projecting covariates out for the
partial-residual plot, which uses the engine's own :func:`prepare`,
:func:`covariate_basis` and :func:`residualise`, so the plot shows exactly
what the coefficient was computed from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from facs_core import stats
from facs_core.errors import InputError
from facs_core.stats.design import covariate_basis, residualise
from facs_core.stats.mixed import mixed_model_associations
from facs_core.stats.multicomp import adjust_pvalues
from facs_core.stats.permutation import permutation_pvalues

ALPHA = 0.05
#: Random whole-patient permutations behind each permutation p (smallest p 1/1001).
PERMUTATIONS = 1000

METHODS: dict[str, str] = {
    "pearson": "partial correlation (Pearson)",
    "spearman": "partial correlation (Spearman)",
    "mixedlm": "linear mixed model (random intercept per patient)",
    "permutation": "partial correlation, patient-block permutation p",
}

CORRECTIONS: dict[str, str] = {
    "bh": "Benjamini-Hochberg FDR",
    "by": "Benjamini-Yekutieli FDR",
    "bonferroni": "Bonferroni",
    "none": "no correction",
}

FEATURE_KINDS: dict[str, str] = {
    "mean": "mean AU value",
    "rate": "occurrence rate (value >= 0.5)",
    "sd": "standard deviation",
    "emotion_mean": "mean emotion probability (py-feat)",
    "emotion_sd": "emotion standard deviation (py-feat)",
}
#: py-feat's seven emotions, as the per-video features name them.
EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def coefficient_label(method: str) -> str:
    """What the coefficient column means for ``method``."""
    return "standardised slope" if method == "mixedlm" else "partial r"


def feature_table(features: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``video_id`` plus the columns of one feature kind (``AU12``, ``AU12_rate``, ``anger`` ...).

    Emotion kinds keep the emotions some visit has a value of (py-feat runs).
    """
    if kind.startswith("emotion_"):
        measures = [e for e in EMOTIONS if e in features and features[e].notna().any()]
        kind = kind.removeprefix("emotion_")
    else:
        measures = [c for c in features.columns if c.startswith("AU") and "_" not in c]
    columns = measures if kind == "mean" else [f"{m}_{kind}" for m in measures if f"{m}_{kind}" in features]
    if not columns:
        raise InputError(
            f"the per-video features have no {FEATURE_KINDS.get(kind, kind)} columns"
            " (emotions come from py-feat runs only)"
        )
    return features[["video_id", *columns]]


def run(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    method: str,
    correction: str,
    kind: str = "mean",
) -> pd.DataFrame:
    """Run the chosen analysis; one row per AU with ``feature, n, r, ci_low, ci_high, p, p_fdr, significant``.

    ``attrs``: ``notes`` (videos left out and why), ``n_videos`` and
    ``video_ids`` (the visits analysed).
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    table = feature_table(features, kind)
    clinical = clinical.drop(columns=["visit_date", "synthetic"], errors="ignore")
    prepared = stats.prepare(table, clinical, score, list(covariates))
    if method in ("pearson", "spearman"):
        result = stats.associate(table, clinical, score, covariates, method=method, fdr=correction, alpha=ALPHA)
    elif method == "mixedlm":
        result = mixed_model_associations(table, clinical, score, list(covariates)).rename(columns={"beta": "r"})
        result = _corrected(result, correction)
    else:
        permuted = permutation_pvalues(table, clinical, score, list(covariates), n_permutations=PERMUTATIONS)
        # The coefficient and its Fisher-z interval are the partial correlation's; only p comes from permutations.
        intervals = stats.associate(table, clinical, score, covariates, fdr="none")[["feature", "ci_low", "ci_high"]]
        result = _corrected(permuted.merge(intervals, on="feature", how="left"), correction)
    result.attrs["video_ids"] = list(prepared.features.index)
    result.attrs.setdefault("n_videos", len(prepared.score))
    return result


def _corrected(result: pd.DataFrame, correction: str) -> pd.DataFrame:
    p_adjusted, significant = adjust_pvalues(result["p"].to_numpy(dtype=float), correction, ALPHA)
    computable = result["p"].notna().to_numpy()
    return result.assign(
        p_fdr=p_adjusted,
        significant=pd.array(np.where(computable, significant, None), dtype="boolean"),
    )


def significance_marks(p: float) -> str:
    """``*`` < .05, ``**`` < .01, ``***`` < .001 on the adjusted p; empty otherwise."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def table3(result: pd.DataFrame, au_names: Mapping[str, str], coefficient: str = "r") -> pd.DataFrame:
    """The result in the layout of the study's Table 3: AU, name, r with marks, CI, p, adjusted p, n."""

    def fmt(value: float, digits: int) -> str:
        return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"

    def fmt_p(value: float) -> str:
        # Four decimals hide how small a p is; below 1e-4 say so instead of printing 0.0000.
        return "<0.0001" if value is not None and np.isfinite(value) and value < 1e-4 else fmt(value, 4)

    rows = []
    for row in result.itertuples(index=False):
        au = str(row.feature).split("_")[0]
        rows.append(
            {
                "AU": row.feature,
                "Action Unit": au_names.get(au, "emotion (py-feat)" if au in EMOTIONS else ""),
                coefficient: (fmt(row.r, 2) + significance_marks(row.p_fdr)) if np.isfinite(row.r) else "n/a",
                "95% CI": f"[{fmt(row.ci_low, 2)}, {fmt(row.ci_high, 2)}]" if np.isfinite(row.ci_low) else "",
                "p": fmt_p(row.p),
                "p (adjusted)": fmt_p(row.p_fdr),
                "n": int(row.n),
                "note": getattr(row, "reason", "") or "",
            }
        )
    return pd.DataFrame(rows)


def partial_residuals(
    features: pd.DataFrame, clinical: pd.DataFrame, score: str, covariates: Sequence[str], feature: str
) -> pd.DataFrame:
    """The feature and the score with the covariates projected out, per visit.

    The residuals of both on ``[1, covariates]`` (the engine's
    :func:`covariate_basis` and :func:`residualise`); their Pearson
    correlation is the partial r of the table.
    """
    clinical = clinical.drop(columns=["visit_date", "synthetic"], errors="ignore")
    prepared = stats.prepare(features[["video_id", feature]], clinical, score, list(covariates))
    values = prepared.features[feature].to_numpy(dtype=float)
    keep = np.isfinite(values)
    basis, _ = covariate_basis(prepared.design[keep])
    both = np.column_stack([values[keep], prepared.score[keep]])
    residuals = residualise(both, basis)
    return pd.DataFrame(
        {
            "video_id": prepared.features.index[keep],
            "patient_id": prepared.patients[keep],
            "feature_residual": residuals[:, 0],
            "score_residual": residuals[:, 1],
        }
    )
