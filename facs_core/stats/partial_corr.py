"""Partial correlations of many features with one score, vectorised.

The study's central table: the partial correlation between each AU's per-video
mean and the BDI score, controlling for covariates, with a multiple-comparison
correction. The wavelet analysis reuses the same engine for thousands of
columns (20 AUs x 100 scales), so everything here works on whole matrices:
the covariates are projected out of all feature columns with one matrix
product and the correlations are one column-wise dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facs_core import wording
from facs_core.clinical import align, complete_rows, missing_value_notes, validate_clinical
from facs_core.docstrings import fill_doc
from facs_core.errors import InputError, TooFewVisitsError
from facs_core.stats.design import covariate_basis, covariate_matrix, design_notes, rank_columns, residualise
from facs_core.stats.distributions import normal_quantile, t_two_sided
from facs_core.stats.multicomp import CORRECTION_LABELS, adjust_pvalues, check_correction

METHODS: tuple[str, ...] = ("pearson", "spearman")

#: The first columns of every result table, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "feature",
    "n",
    "r",
    "ci_low",
    "ci_high",
    "p",
    "p_fdr",
    "significant",
    "method",
    "reason",
    "k",
    "correction",
)

# A feature whose residual variance is below this share of its total variance
# is, to machine precision, a linear function of the covariates.
_EXPLAINED_RTOL = 1e-12


@dataclass(frozen=True)
class PartialCorrelations:
    """Partial correlations of m feature columns with one score.

    Attributes
    ----------
    r, n, k : ndarray, shape (m,)
        Coefficient (NaN where not computable), complete cases used and
        number of independent covariate columns.
    reason : ndarray of object, shape (m,)
        Empty, or why ``r`` is NaN.
    """

    r: np.ndarray
    n: np.ndarray
    k: np.ndarray
    reason: np.ndarray

    @property
    def dof(self) -> np.ndarray:
        """Degrees of freedom of the t-test, n - 2 - k."""
        return self.n - 2 - self.k

    def pvalues(self) -> np.ndarray:
        """Two-sided p-values, as ``pingouin.partial_corr``.

        ``t = r * sqrt(dof / (1 - r**2))`` on ``dof = n - 2 - k`` degrees of
        freedom, ``p = 2 * P(T > |t|)``; p is 0 when r**2 is numerically 1.
        """
        r, dof = self.r, self.dof.astype(float)
        p = np.full(r.shape, np.nan)
        ok = ~np.isnan(r) & (dof > 0)
        one = ok & np.isclose(r**2, 1)
        regular = ok & ~one
        t = r[regular] * np.sqrt(dof[regular] / (1 - r[regular] ** 2))
        p[regular] = t_two_sided(t, dof[regular])
        p[one] = 0.0
        return p

    def confidence_interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Fisher-z confidence interval, as ``pingouin.partial_corr``.

        ``tanh(atanh(r) -/+ z_{(1+c)/2} / sqrt(n - k - 3))`` (pingouin passes
        ``n - k`` as the sample size to ``compute_esci``; it then rounds to 6
        decimals, which we do not).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.arctanh(self.r)
            se = 1.0 / np.sqrt((self.n - self.k - 3).astype(float))
        crit = abs(normal_quantile((1 - confidence) / 2))
        return np.tanh(z - crit * se), np.tanh(z + crit * se)


def partial_correlations(
    values: np.ndarray,
    score: np.ndarray,
    covariates: np.ndarray,
    method: str = "pearson",
) -> PartialCorrelations:
    """Partial correlation of every column of ``values`` with ``score``.

    The residual method: project ``[1, covariates]`` out of each feature and
    out of the score (one least-squares fit for all columns, through an
    orthonormal basis), then ``r = <e_x, e_y> / (|e_x| |e_y|)``. This equals
    the inverse-covariance formula of ``pingouin.partial_corr``
    (Kim 2015, PMC4681537) and is validated against it to 1e-9 in
    ``tests/test_stats_partial_corr.py``.

    Each column is analysed on its complete cases. Columns are grouped by
    their pattern of missing values, so the common case (no missing values)
    is a single matrix computation with no per-column loop.

    Parameters
    ----------
    values : ndarray, shape (n, m)
        Feature columns; NaN for missing.
    score : ndarray, shape (n,)
        Must have no missing values (drop those rows before).
    covariates : ndarray, shape (n, q)
        Numeric covariates (already dummy-coded), no missing values.
    method : {"pearson", "spearman"}
        Spearman ranks the feature, the score and each covariate among the
        complete cases of the column, like pingouin.

    Examples
    --------
    Controlling for ``z``, ``x = z + score`` relates perfectly to the score
    even though ``z`` dominates it:

    >>> import numpy as np
    >>> score = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> z = np.array([9.0, -3.0, 4.0, 0.0, 7.0, -5.0])
    >>> values = np.column_stack([z + score, z])
    >>> partial_correlations(values, score, z[:, None]).r.round(6)
    array([ 1., nan])

    Returns
    -------
    PartialCorrelations
    """
    if method not in METHODS:
        raise InputError(f"unknown correlation method {method!r}; use pearson or spearman")
    values = np.asarray(values, dtype=float)
    score = np.asarray(score, dtype=float)
    covariates = np.asarray(covariates, dtype=float).reshape(len(score), -1)
    m = values.shape[1]
    r = np.full(m, np.nan)
    n = np.zeros(m, dtype=int)
    k = np.zeros(m, dtype=int)
    reason = np.full(m, "", dtype=object)
    missing = np.isnan(values)
    if not missing.any():
        groups = [(np.ones(len(score), dtype=bool), np.arange(m))]
    else:
        patterns, inverse = np.unique(missing.T, axis=0, return_inverse=True)
        groups = [(~pattern, np.flatnonzero(inverse.ravel() == g)) for g, pattern in enumerate(patterns)]
    for rows, columns in groups:
        _fill_group(values[np.ix_(rows, columns)], score[rows], covariates[rows], method, columns, r, n, k, reason)
    return PartialCorrelations(r=r, n=n, k=k, reason=reason)


def _fill_group(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    method: str,
    columns: np.ndarray,
    r: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    reason: np.ndarray,
) -> None:
    rows = len(y)
    n[columns] = rows
    if rows < 3:
        have = "no video has values" if rows == 0 else f"only {wording.count(rows, 'video')} with values"
        reason[columns] = f"{have} (a correlation needs at least 3)"
        return
    if method == "spearman":
        x, y, z = rank_columns(x), rank_columns(y[:, None])[:, 0], rank_columns(z)
    basis, k_group = covariate_basis(z)
    k[columns] = k_group
    if rows - 2 - k_group < 1:
        reason[columns] = f"too few videos ({rows}) for {k_group} covariate columns"
        return
    constant = np.ptp(x, axis=0) == 0
    if np.ptp(y) == 0:
        reason[columns] = "constant score"
        return
    ex = residualise(x, basis)
    ey = residualise(y[:, None], basis)[:, 0]
    ss_x = (ex**2).sum(axis=0)
    total_x = ((x - x.mean(axis=0)) ** 2).sum(axis=0)
    explained = ~constant & (ss_x <= _EXPLAINED_RTOL * total_x)
    ss_y = ey @ ey
    if ss_y <= _EXPLAINED_RTOL * ((y - y.mean()) ** 2).sum():
        reason[columns] = "score is a linear function of the covariates"
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        coefficient = (ex.T @ ey) / np.sqrt(ss_x * ss_y)
    coefficient = np.clip(coefficient, -1.0, 1.0)
    coefficient[constant | explained] = np.nan
    r[columns] = coefficient
    reason[columns[constant]] = "constant feature"
    reason[columns[explained]] = "feature is a linear function of the covariates"


def method_label(method: str, covariates: Sequence[str]) -> str:
    """How results name the method that made them, e.g. ``partial pearson``."""
    return f"partial {method}" if len(covariates) else method


@fill_doc
def associate(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    method: str = "pearson",
    fdr: str = "bh",
    alpha: float = 0.05,
    fdr_groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Partial correlation of each feature with a score, with FDR correction.

    For each feature column: the partial correlation with ``score``
    controlling for ``covariates`` (Pearson or Spearman), its 95% Fisher-z
    confidence interval and two-sided t-test p on n - 2 - k degrees of
    freedom, all with the definitions of ``pingouin.partial_corr``
    (validated to 1e-9); then a multiple-comparison correction over the
    computable features.

    Parameters
    ----------
    %(features)s
    %(clinical)s
    %(score)s
    %(covariates)s
    %(method)s
    fdr : {"bh", "by", "bonferroni", "none"}
        Multiple-comparison correction (see
        :func:`facs_core.stats.multicomp.adjust_pvalues`).
    alpha : float
        Level at which ``significant`` is set (on the adjusted p).
    fdr_groups : sequence of str, optional
        One label per feature column; the correction runs within each label
        (per-AU families over wavelet scales). None: one family.

    Returns
    -------
    DataFrame
        One row per feature column, in input order, with the columns of
        :data:`RESULT_COLUMNS` (plus ``fdr_group`` when groups were given).
        ``reason`` says why a row's r and p are empty. ``attrs["notes"]``
        lists the videos left out and why; ``attrs["n_videos"]`` is the
        number of videos analysed.

    Examples
    --------
    A feature that falls exactly with the score has a partial correlation of
    -1 whatever the covariates; one unrelated to it is not significant:

    >>> import pandas as pd
    >>> clinical = pd.DataFrame({
    ...     "video_id": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"],
    ...     "patient_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
    ...     "bdi": [2, 5, 9, 14, 20, 26, 31, 40],
    ...     "age": [30, 42, 25, 51, 38, 47, 29, 60],
    ... })
    >>> features = pd.DataFrame({
    ...     "video_id": clinical["video_id"],
    ...     "AU12": 0.8 - 0.01 * clinical["bdi"],
    ...     "AU04": [0.3, 0.1, 0.4, 0.1, 0.5, 0.9, 0.2, 0.6],
    ... })
    >>> table = associate(features, clinical, "bdi", ["age"])
    >>> table[["feature", "n", "r", "significant", "method"]].round(3)
      feature  n      r  significant           method
    0    AU12  8 -1.000         True  partial pearson
    1    AU04  8  0.427        False  partial pearson

    Raises
    ------
    InputError
        Invalid clinical values (score out of its instrument's range ...),
        a non-numeric feature column, or fewer analysable videos than
        covariate columns + 3.
    """
    method = (method or "").strip().lower()
    if method not in METHODS:
        raise InputError(f"unknown correlation method {method!r}; use pearson or spearman")
    fdr = check_correction(fdr)
    if not 0 < alpha < 1:
        raise InputError(f"alpha must lie between 0 and 1, got {alpha}")
    covariates = list(covariates)
    prepared = prepare(features, clinical, score, covariates)
    names = list(prepared.features.columns)
    if fdr_groups is not None and len(fdr_groups) != len(names):
        raise InputError(f"fdr_groups has {len(fdr_groups)} labels for {len(names)} feature columns")

    result = partial_correlations(prepared.features.to_numpy(), prepared.score, prepared.design, method)
    p = result.pvalues()
    ci_low, ci_high = result.confidence_interval()
    p_adjusted, significant = adjust_pvalues(p, fdr, alpha, fdr_groups)
    computable = ~np.isnan(p)
    table = pd.DataFrame(
        {
            "feature": names,
            "n": result.n,
            "r": result.r,
            "ci_low": np.where(computable, ci_low, np.nan),
            "ci_high": np.where(computable, ci_high, np.nan),
            "p": p,
            "p_fdr": p_adjusted,
            "significant": pd.array(np.where(computable, significant, None), dtype="boolean"),
            "method": method_label(method, covariates),
            "reason": result.reason,
            "k": result.k,
            "correction": CORRECTION_LABELS[fdr] + ("" if fdr == "none" else f" at {alpha:g}"),
        }
    )
    if fdr_groups is not None:
        table["fdr_group"] = list(fdr_groups)
    table.attrs["notes"] = prepared.notes
    table.attrs["n_videos"] = len(prepared.score)
    return table


@dataclass
class PreparedData:
    """Features, score and coded covariates of the videos an analysis uses.

    Attributes
    ----------
    features : DataFrame
        Indexed by ``video_id``, one float column per feature.
    score : ndarray, shape (n,)
    design : ndarray, shape (n, q)
        Covariates, text ones dummy-coded.
    design_names : list of str
    patients : ndarray of str, shape (n,)
        Patient of each video (for repeated-visit methods).
    notes : list of str
        Videos left out and why.
    """

    features: pd.DataFrame
    score: np.ndarray
    design: np.ndarray
    design_names: list[str]
    patients: np.ndarray
    notes: list[str]


def prepare(features: pd.DataFrame, clinical: pd.DataFrame, score: str, covariates: Sequence[str]) -> PreparedData:
    """Validate, align and code the data every association method uses.

    Videos with a missing score or covariate and videos present on one side
    only are left out and listed in ``notes``.

    Examples
    --------
    A video without a score is left out and said so:

    >>> import pandas as pd
    >>> clinical = pd.DataFrame({"video_id": ["v1", "v2", "v3", "v4", "v5"],
    ...                          "patient_id": ["p1", "p2", "p3", "p4", "p5"],
    ...                          "bdi": [3, 12, None, 25, 30]})
    >>> features = pd.DataFrame({"video_id": ["v1", "v2", "v3", "v4", "v5"],
    ...                          "AU12": [0.5, 0.4, 0.45, 0.2, 0.1]})
    >>> prepared = prepare(features, clinical, "bdi", [])
    >>> prepared.score
    array([ 3., 12., 25., 30.])
    >>> prepared.notes
    ['1 video left out: bdi is missing for v3']

    Raises
    ------
    InputError
        See :func:`facs_core.clinical.validate_clinical`; also a non-numeric
        feature column, or fewer complete videos than covariate columns + 3.
    """
    covariates = list(covariates)
    checked = validate_clinical(clinical, score, covariates)
    alignment = align(features, checked)
    feature_table = _numeric_features(alignment.features)
    matched = alignment.clinical
    notes = alignment.notes() + missing_value_notes(matched.reset_index(drop=True), score, covariates)
    keep = complete_rows(matched, score, covariates).to_numpy()
    used = matched[keep]
    design, design_names = covariate_matrix(used, covariates)
    notes += design_notes(design, design_names)
    needed = design.shape[1] + 3
    if len(used) < needed:
        # Name the covariates, never their levels: a dummy column's name
        # carries a stored value (camera[ward 3]) a reader may not see.
        coded = [c for c in covariates if any(n == c or n.startswith(f"{c}[") for n in design_names)]
        constant = [c for c in covariates if c not in coded]
        dropped = f"; {', '.join(constant)} constant among them, dropped" if constant else ""
        adjusting = f"adjusting for {', '.join(coded)}" if coded else "with no covariate"
        raise TooFewVisitsError(
            f"only {wording.count(len(used), 'video')} {'has' if len(used) == 1 else 'have'} features, {score}"
            f" and every covariate; a partial correlation {adjusting}"
            f" ({wording.count(design.shape[1], 'covariate column')}{dropped}) needs at least {needed}",
            n=len(used),
            needed=needed,
        )
    return PreparedData(
        features=feature_table[keep],
        score=used[score].to_numpy(dtype=float),
        design=design,
        design_names=design_names,
        patients=used["patient_id"].astype(str).to_numpy(),
        notes=notes,
    )


def _numeric_features(table: pd.DataFrame) -> pd.DataFrame:
    if table.shape[1] == 0:
        raise InputError("features table has no feature columns besides video_id")
    if all(getattr(dtype, "kind", "O") in "fiu" for dtype in table.dtypes):
        return _finite(table.astype(float))
    converted = {}
    for column in table.columns:
        values = table[column]
        if values.dtype == bool:
            values = values.astype(float)
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & numeric.isna()
        if bad.any():
            video = bad.idxmax()
            raise InputError(f"feature column {column!r} of video {video} is {values[video]!r}, not a number")
        converted[column] = numeric.astype(float)
    return _finite(pd.DataFrame(converted, index=table.index))


def _finite(table: pd.DataFrame) -> pd.DataFrame:
    # NaN is a missing feature (left out per AU and counted); inf would poison every sum it enters.
    infinite = np.isinf(table.to_numpy(dtype=float))
    if infinite.any():
        row, col = (int(i[0]) for i in np.nonzero(infinite))
        raise InputError(
            f"feature column {table.columns[col]!r} of video {table.index[row]} is {float(table.iat[row, col]):g},"
            " not a finite number"
        )
    return table
