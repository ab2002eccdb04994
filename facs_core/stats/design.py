"""Design matrices: covariates as numbers, and projections that remove them.

Text covariates (``sex``, ``camera``, ``medication`` as words) are dummy-coded
with k - 1 columns for k levels, the first level in sorted order being the
reference. Numeric and boolean covariates are one column each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facs_core.wording import Note, join_words, sentence


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
    """One note per covariate that adjusts for nothing (or for less than its levels), naming it once.

    A covariate constant among the analysed videos, or a linear combination of
    the intercept and the covariates before it (collinear), is absorbed by
    :func:`covariate_basis` instead of breaking the fit; this says which one.
    A text covariate's levels are one column each: the columns of one
    covariate make one note, whichever of them are collinear. Dummy columns
    are named by their covariate, never their level (a level is a stored value
    a reader may not see). Each note is a :class:`~facs_core.wording.Note`:
    the command line's words, and the sentence a page shows with the
    covariates named as a reader does.

    Examples
    --------
    >>> design = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 1.0], [3.0, 6.0, 1.0], [5.0, 10.0, 1.0]])
    >>> notes = design_notes(design, ["age", "age_months", "site"])
    >>> [str(n) for n in notes]  # doctest: +NORMALIZE_WHITESPACE
    ['covariate age_months is collinear with age; it adds no adjustment',
     'covariate site is constant among the 4 analysed videos; it adjusts for nothing']
    >>> [n.reader for n in notes]  # doctest: +NORMALIZE_WHITESPACE
    ['Covariate age months adds no adjustment: it is collinear with age.',
     'Covariate site adjusts for nothing: it is the same in all 4 analysed visits.']
    """
    n = design.shape[0]
    constant, kept_columns, collinear = _absorbed(design, names)
    notes: list[str] = []
    for covariate in constant:
        if constant[covariate] and covariate not in collinear and not kept_columns.get(covariate):
            notes.append(
                Note(
                    f"covariate {covariate} is constant among the {n} analysed videos; it adjusts for nothing",
                    f"{sentence(_covariate(covariate))} adjusts for nothing: it is the same in all {n} analysed"
                    " visits.",
                )
            )
        if covariate in collinear:
            notes.append(_collinear_note(covariate, collinear[covariate], bool(kept_columns.get(covariate))))
    return notes


def _absorbed(
    design: np.ndarray, names: Sequence[str]
) -> tuple[dict[str, bool], dict[str, int], dict[str, list[tuple[list[str], bool]]]]:
    """Per covariate: constant?, its columns kept, and per collinear column what it repeats (own levels too?)."""
    n = design.shape[0]
    kept = np.ones((n, 1)) / np.sqrt(max(n, 1))
    earlier: list[str] = []
    constant: dict[str, bool] = {}
    kept_columns: dict[str, int] = {}
    collinear: dict[str, list[tuple[list[str], bool]]] = {}
    for j, name in enumerate(names):
        covariate = str(name).split("[", 1)[0]
        constant.setdefault(covariate, False)
        column = design[:, j]
        if n and np.ptp(column) == 0:
            constant[covariate] = True
            continue
        centred = column - column.mean()
        residual = column - kept @ (kept.T @ column)
        if np.linalg.norm(residual) <= 1e-8 * np.linalg.norm(centred):
            others = [c for c in dict.fromkeys(earlier) if c != covariate]
            collinear.setdefault(covariate, []).append((others, covariate in earlier))
            continue
        kept = np.column_stack([kept, residual / np.linalg.norm(residual)])
        kept_columns[covariate] = kept_columns.get(covariate, 0) + 1
        earlier.append(covariate)
    return constant, kept_columns, collinear


def dropped_covariates(design: np.ndarray, names: Sequence[str], covariates: Sequence[str]) -> list[str]:
    """The covariates of ``covariates`` that adjust for nothing: no column of theirs is kept in the fit.

    Constant among the analysed videos (a text covariate with one level has
    no column at all) or collinear with the covariates before them, in every
    column (:func:`design_notes` says which and why).

    Examples
    --------
    >>> design = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 1.0], [3.0, 6.0, 1.0], [5.0, 10.0, 1.0]])
    >>> dropped_covariates(design, ["age", "age_months", "site"], ["age", "age_months", "site", "sex"])
    ['age_months', 'site', 'sex']
    """
    _, kept_columns, _ = _absorbed(design, names)
    return [c for c in covariates if not kept_columns.get(c)]


def _covariate(covariate: str) -> str:
    from facs_core.labels import covariate_label

    known = covariate_label(covariate)
    return known if covariate in ("age", "sex", "camera", "medication", "repeat_visit") else f"covariate {known}"


def _collinear_note(covariate: str, columns: list[tuple[list[str], bool]], some_kept: bool) -> Note:
    """One note for the collinear columns of one covariate (``columns``: what each repeats, own levels too?)."""
    from facs_core.labels import covariate_label

    others = list(dict.fromkeys(c for repeated, _ in columns for c in repeated))
    own = any(itself for _, itself in columns)
    words = others + ([f"the other levels of {covariate}"] if own else [])
    readers = [covariate_label(c) for c in others] + (["its other levels"] if own else [])
    repeats = ", ".join(words) or "the intercept"
    repeats_reader = join_words(readers) or "the intercept"
    name = _covariate(covariate)
    if not some_kept:
        return Note(
            f"covariate {covariate} is collinear with {repeats}; it adds no adjustment",
            f"{sentence(name)} adds no adjustment: it is collinear with {repeats_reader}.",
        )
    levels = len(columns)
    if levels == 1:
        text = f"one level of covariate {covariate} is collinear with {repeats}; it adds no adjustment"
        reader = f"{sentence(name)} adds no adjustment for one of its levels: it is collinear with {repeats_reader}."
    else:
        text = f"{levels} levels of covariate {covariate} are collinear with {repeats}; they add no adjustment"
        reader = (
            f"{sentence(name)} adds no adjustment for {levels} of its levels: they are collinear with {repeats_reader}."
        )
    return Note(text, reader)


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
