"""Design matrices: covariates as numbers, and projections that remove them.

Text covariates (``sex``, ``camera``, ``medication`` as words) are dummy-coded
with k - 1 columns for k levels, the first level in sorted order being the
reference. Numeric and boolean covariates are one column each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def covariate_matrix(clinical: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Covariates as an (n, q) float matrix, text columns dummy-coded.

    Parameters
    ----------
    clinical : DataFrame
        Rows to code; must have no missing covariate values.
    covariates : sequence of str
        Columns to code, in order.

    Returns
    -------
    matrix : ndarray, shape (n, q)
        One column per numeric covariate and k - 1 per text covariate of k
        levels (reference: the first level in sorted order).
    names : list of str
        Column names, ``sex[m]`` for the dummy of level ``m``.
    """
    columns: list[np.ndarray] = []
    names: list[str] = []
    for name in covariates:
        values = clinical[name]
        if pd.api.types.is_numeric_dtype(values):
            columns.append(values.to_numpy(dtype=float))
            names.append(name)
            continue
        levels = sorted(values.astype(str).unique())
        for level in levels[1:]:
            columns.append((values.astype(str) == level).to_numpy(dtype=float))
            names.append(f"{name}[{level}]")
    n = len(clinical)
    matrix = np.column_stack(columns) if columns else np.empty((n, 0))
    return matrix, names


def design_notes(design: np.ndarray, names: Sequence[str]) -> list[str]:
    """One line per covariate that adjusts for nothing, naming it.

    A covariate constant among the analysed videos, or a linear combination of
    the intercept and the covariates before it (collinear), is absorbed by
    :func:`covariate_basis` instead of breaking the fit; this says which one.
    Dummy columns are named by their covariate, never their level (a level is
    a stored value a reader may not see).
    """
    n = design.shape[0]
    notes: list[str] = []
    kept = np.ones((n, 1)) / np.sqrt(max(n, 1))
    earlier: list[str] = []
    for j, name in enumerate(names):
        covariate = str(name).split("[", 1)[0]
        column = design[:, j]
        if n and np.ptp(column) == 0:
            notes.append(f"covariate {covariate} is constant among the {n} analysed videos; it adjusts for nothing")
            continue
        centred = column - column.mean()
        residual = column - kept @ (kept.T @ column)
        if np.linalg.norm(residual) <= 1e-8 * np.linalg.norm(centred):
            # A level's own value may be restricted (camera[ward 3]): named by its covariate only.
            others = [c for c in dict.fromkeys(earlier) if c != covariate]
            if covariate in earlier:
                others.append(f"the other levels of {covariate}")
                subject = f"one level of covariate {covariate}"
            else:
                subject = f"covariate {covariate}"
            notes.append(f"{subject} is collinear with {', '.join(others) or 'the intercept'}; it adds no adjustment")
            continue
        kept = np.column_stack([kept, residual / np.linalg.norm(residual)])
        earlier.append(covariate)
    return notes


def rank_columns(matrix: np.ndarray) -> np.ndarray:
    """Average ranks of each column (ties share their mean rank, as pandas' ``rank``)."""
    if matrix.size == 0:
        return matrix.astype(float)
    from scipy.stats import rankdata  # only Spearman needs scipy.stats, slow to import

    return rankdata(matrix, axis=0, method="average").astype(float)


def covariate_basis(design: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Orthonormal basis of the span of ``[1, design]`` and the covariates' rank.

    The basis comes from an SVD, so collinear covariates (a dummy that repeats
    another, a covariate that is constant among the analysed videos) are
    absorbed instead of breaking the fit: the count returned is the number of
    independent covariate directions beyond the intercept, which is the k in
    the n - 2 - k degrees of freedom.

    Parameters
    ----------
    design : ndarray, shape (n, q)
        Covariates, without intercept.
    rtol : float
        Singular values below ``rtol`` times the largest are treated as zero.

    Returns
    -------
    basis : ndarray, shape (n, 1 + k)
    k : int
    """
    n = design.shape[0]
    # Centre and scale first so that covariates in very different units
    # (age in years, dummies in 0/1) do not hide one another in the rank test.
    full = np.column_stack([np.ones(n), _standardised(design)])
    u, s, _ = np.linalg.svd(full, full_matrices=False)
    keep = s > rtol * s[0]
    return u[:, keep], int(keep.sum()) - 1


def _standardised(design: np.ndarray) -> np.ndarray:
    if design.shape[1] == 0:
        return design
    centred = design - design.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    scale[scale == 0] = 1.0
    return centred / scale


def residualise(values: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Residuals of every column of ``values`` after projecting out ``basis``.

    ``values - basis @ (basis.T @ values)``: one matrix product for all
    columns, which is what makes thousands of partial correlations cheap.
    """
    return values - basis @ (basis.T @ values)
