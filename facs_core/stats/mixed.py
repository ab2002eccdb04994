"""Repeated visits, model-based: a linear mixed model per feature.

A repeat-visit dummy does not make two visits of one patient independent: they
share the patient. The mixed model ``feature ~ score + covariates + (1 |
patient)`` gives each patient a random intercept, so within-patient
correlation no longer inflates the evidence. Fitted with statsmodels'
``MixedLM`` (REML); the feature and the score are standardised (z-scores over
the analysed videos) so the score's coefficient is a standardised beta,
comparable across AUs.

Validated in ``tests/test_stats_mixed.py`` against a direct
``statsmodels.formula.api.mixedlm`` fit with the formula interface's own
categorical coding, and on cohorts with a known effect.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from facs_core.docstrings import fill_doc
from facs_core.stats.partial_corr import prepare

MIXED_COLUMNS = ("feature", "n", "n_patients", "beta", "ci_low", "ci_high", "p", "method", "reason")
MIXED_METHOD = "linear mixed model, random intercept per patient (REML), standardised beta"

# Reported with the result when statsmodels warns: the numbers are shown, with
# the caveat, rather than silently trusted or silently dropped.
_WARNING_REASONS = {
    ConvergenceWarning: "fit did not fully converge",
}


def _z(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std(ddof=1)


def _independent_columns(design: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    # MixedLM needs a full-rank fixed-effects matrix; drop covariate columns that
    # are constant or repeat others among the analysed videos (pivoted QR keeps
    # the earliest independent ones).
    from scipy.linalg import qr

    if design.shape[1] == 0:
        return design
    _, r, pivots = qr(design, mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int((diagonal > rtol * diagonal[0]).sum()) if diagonal.size and diagonal[0] > 0 else 0
    return design[:, np.sort(pivots[:rank])]


@fill_doc
def mixed_model_associations(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Standardised score effect on each feature from a random-intercept mixed model.

    For each feature column: ``z(feature) = b0 + beta * z(score) + covariates
    + u_patient + e`` with ``u_patient ~ N(0, tau^2)``, fitted by REML; beta,
    its Wald confidence interval and two-sided Wald p (statsmodels ``MixedLM``).

    Parameters
    ----------
    %(features)s
    %(clinical)s
    %(score)s
    %(covariates)s
    confidence : float
        Level of the confidence interval.

    Returns
    -------
    DataFrame
        One row per feature column: ``feature, n, n_patients, beta, ci_low,
        ci_high, p, method, reason``.

    Examples
    --------
    Four patients seen twice; the visits of one patient share an intercept:

    >>> import pandas as pd
    >>> clinical = pd.DataFrame({
    ...     "video_id": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"],
    ...     "patient_id": ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4"],
    ...     "bdi": [2, 5, 9, 14, 20, 26, 31, 40],
    ... })
    >>> features = pd.DataFrame({"video_id": clinical["video_id"],
    ...                          "AU04": [0.1, 0.2, 0.2, 0.35, 0.4, 0.5, 0.6, 0.8]})
    >>> result = mixed_model_associations(features, clinical, "bdi", [])
    >>> result[["feature", "n", "n_patients"]]
      feature  n  n_patients
    0    AU04  8           4
    >>> bool(result["beta"].iloc[0] > 0.9)
    True
    """
    prepared = prepare(features, clinical, score, covariates)
    rows = []
    for name in prepared.features.columns:
        values = prepared.features[name].to_numpy()
        keep = ~np.isnan(values)
        rows.append(
            _fit_one(
                name,
                values[keep],
                prepared.score[keep],
                prepared.design[keep],
                prepared.patients[keep],
                confidence,
            )
        )
    return pd.DataFrame(rows, columns=list(MIXED_COLUMNS))


def _fit_one(
    name: str, values: np.ndarray, score: np.ndarray, design: np.ndarray, patients: np.ndarray, confidence: float
) -> dict[str, object]:
    n = len(values)
    n_patients = len(np.unique(patients))
    row: dict[str, object] = {
        "feature": name,
        "n": n,
        "n_patients": n_patients,
        "beta": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p": np.nan,
        "method": MIXED_METHOD,
        "reason": "",
    }
    if np.ptp(values) == 0:
        row["reason"] = "constant feature"
        return row
    if np.ptp(score) == 0:
        row["reason"] = "constant score"
        return row
    if n_patients == n:
        row["reason"] = "every patient has one visit: the random intercept is not identifiable; use the partial r"
        return row
    exog = np.column_stack([np.ones(n), _z(score), _independent_columns(design - design.mean(axis=0))])
    if n - exog.shape[1] < 2:
        row["reason"] = f"too few videos ({n}) for {exog.shape[1]} fixed effects"
        return row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = MixedLM(_z(values), exog, groups=patients).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            row["reason"] = f"fit failed: {str(exc).splitlines()[0]}"
            return row
    ci = fit.conf_int(alpha=1 - confidence)
    row.update(beta=float(fit.params[1]), ci_low=float(ci[1, 0]), ci_high=float(ci[1, 1]), p=float(fit.pvalues[1]))
    reasons = {text for w in caught for kind, text in _WARNING_REASONS.items() if issubclass(w.category, kind)}
    if float(np.asarray(fit.cov_re)[0, 0]) <= 1e-8:
        reasons.add("patient variance estimated at zero (boundary fit)")
    row["reason"] = "; ".join(sorted(reasons))
    return row
