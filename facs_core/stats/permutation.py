"""Repeated visits, design-based: permutation p-values with whole-patient blocks.

Under the null hypothesis the score carries no information about the AU
beyond the covariates, so scores may be exchanged between patients; but the
visits of one patient are not exchangeable with one another independently
(they share the patient), so a patient's visits move together. Patients are
exchanged only with patients who have the same number of visits (whole-block
exchangeability, Winkler et al. 2015, NeuroImage 123:1-15), and a patient
receives the other patient's scores in visit order.

Covariates are handled by Freedman & Lane (1983): the score's residuals
after the covariates are permuted, so the permuted statistic is the partial
correlation of each feature with the permuted residual score. As the partial
correlation residualises the score again, this is
``corr(e_x, R (P e_y))`` with R the covariate projection. One matrix product
gives all features x all permutations.

p = (1 + #{|r*| >= |r|}) / (1 + B), which is never 0 (Phipson & Smyth 2010).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facs_core.docstrings import fill_doc
from facs_core.errors import InputError
from facs_core.stats.design import covariate_basis, rank_columns, residualise
from facs_core.stats.partial_corr import METHODS, method_label, partial_correlations, prepare

# Permuted statistics within this of the observed one count as "as extreme":
# ties must not depend on the last bit of a floating-point sum.
_TIE_TOLERANCE = 1e-12


def block_permutations(patients: Sequence[str] | np.ndarray, n_permutations: int, seed: int) -> np.ndarray:
    """Row permutations that move each patient's visits together.

    Parameters
    ----------
    patients : sequence of str
        Patient of each row; a patient's visits are in row order.
    n_permutations : int
    seed : int
        Seed of numpy's default generator (PCG64); the same seed gives the
        same permutations.

    Returns
    -------
    ndarray of int, shape (n_permutations, n_rows)
        Row ``b`` maps each row to the row whose score it takes: visit j of
        patient A takes the score of visit j of the patient A was matched
        with, among patients with as many visits as A.
    """
    patients = np.asarray(patients).astype(str)
    rng = np.random.default_rng(seed)
    codes = pd.factorize(pd.Series(patients))[0]
    visits: dict[int, np.ndarray] = {}
    for code in np.unique(codes):
        visits[int(code)] = np.flatnonzero(codes == code)
    by_size: dict[int, list[int]] = {}
    for code, rows in visits.items():
        by_size.setdefault(len(rows), []).append(code)
    permutations = np.empty((n_permutations, len(patients)), dtype=np.int64)
    for _, members in sorted(by_size.items()):
        # (patients, visits) table of rows: shuffling its rows exchanges patients.
        table = np.stack([visits[code] for code in members])
        for b in range(n_permutations):
            permutations[b, table] = table[rng.permutation(len(members))]
    return permutations


@fill_doc
def permutation_pvalues(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    method: str = "pearson",
    n_permutations: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Permutation p-values of the partial correlations, patients' visits kept together.

    Parameters
    ----------
    %(features)s
    %(clinical)s
    %(score)s
    %(covariates)s
    %(method)s
    n_permutations : int
        Number of random permutations B (the smallest possible p is 1/(B+1)).
    seed : int
        Seed; results are reproducible for a given seed.

    Returns
    -------
    DataFrame
        One row per feature column: ``feature, n, r, p, n_permutations,
        method, reason``.

    Examples
    --------
    With eight single-visit patients and a feature that falls exactly with the
    score, no permutation does as well: p is the smallest possible, 1/(B+1):

    >>> import pandas as pd
    >>> clinical = pd.DataFrame({
    ...     "video_id": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"],
    ...     "patient_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
    ...     "bdi": [2, 5, 9, 14, 20, 26, 31, 40],
    ... })
    >>> features = pd.DataFrame({"video_id": clinical["video_id"], "AU12": 0.8 - 0.01 * clinical["bdi"]})
    >>> permutation_pvalues(features, clinical, "bdi", [], n_permutations=99)[["feature", "r", "p"]]
      feature    r     p
    0    AU12 -1.0  0.01
    """
    if method not in METHODS:
        raise InputError(f"unknown correlation method {method!r}; use pearson or spearman")
    if n_permutations < 1:
        raise InputError(f"--permutations must be a positive count, got {n_permutations}")
    prepared = prepare(features, clinical, score, covariates)
    values = prepared.features.to_numpy()
    observed = partial_correlations(values, prepared.score, prepared.design, method)
    p = np.full(values.shape[1], np.nan)
    missing = np.isnan(values)
    patterns, inverse = np.unique(missing.T, axis=0, return_inverse=True)
    for g, pattern in enumerate(patterns):
        columns = np.flatnonzero(inverse.ravel() == g)
        columns = columns[~np.isnan(observed.r[columns])]
        if columns.size == 0:
            continue
        rows = ~pattern
        p[columns] = _group_pvalues(
            values[np.ix_(rows, columns)],
            prepared.score[rows],
            prepared.design[rows],
            prepared.patients[rows],
            observed.r[columns],
            method,
            n_permutations,
            seed,
        )
    reason = np.where(np.isnan(observed.r), observed.reason, "")
    distinct = distinct_permutations(prepared.patients)
    if distinct < n_permutations:
        reason = np.where(reason == "", f"only {distinct} distinct permutations exist: p is coarse", reason)
    return pd.DataFrame(
        {
            "feature": list(prepared.features.columns),
            "n": observed.n,
            "r": observed.r,
            "p": p,
            "n_permutations": n_permutations,
            "method": f"permutation of whole patients (Freedman-Lane, B={n_permutations}, seed={seed}), "
            + method_label(method, covariates),
            "reason": reason,
        }
    )


def distinct_permutations(patients: Sequence[str] | np.ndarray, cap: int = 10**9) -> int:
    """How many distinct whole-patient permutations exist (capped at ``cap``).

    The product over visit-count classes of (patients in the class)!.
    """
    total = 1
    for patients_in_class in pd.Series(np.asarray(patients)).value_counts().value_counts():
        for factor in range(2, int(patients_in_class) + 1):
            total *= factor
            if total >= cap:
                return cap
    return total


def _group_pvalues(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    patients: np.ndarray,
    r_observed: np.ndarray,
    method: str,
    n_permutations: int,
    seed: int,
) -> np.ndarray:
    if method == "spearman":
        x, y, z = rank_columns(x), rank_columns(y[:, None])[:, 0], rank_columns(z)
    basis, _ = covariate_basis(z)
    ex = residualise(x, basis)
    ex /= np.sqrt((ex**2).sum(axis=0))
    ey = residualise(y[:, None], basis)[:, 0]
    order = block_permutations(patients, n_permutations, seed)
    permuted = residualise(ey[order].T, basis)  # (n, B): R (P e_y)
    permuted /= np.sqrt((permuted**2).sum(axis=0))
    r_null = ex.T @ permuted  # (m, B)
    exceed = np.abs(r_null) >= np.abs(r_observed)[:, None] - _TIE_TOLERANCE
    return (1 + exceed.sum(axis=1)) / (1 + n_permutations)
