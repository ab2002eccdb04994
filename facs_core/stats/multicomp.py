"""Multiple-comparison correction over a family of p-values.

The step-up procedures of statsmodels' ``multipletests`` (``fdr_bh``,
``fdr_by``, ``bonferroni``), restated in a few lines of numpy, that

* leaves non-computable tests (NaN p) out of the family instead of letting
  them poison it, and gives them an empty adjusted p;
* applies the correction within groups when asked (per-AU FDR over wavelet
  scales), each group being its own family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Our option names -> statsmodels' method names (the reference the tests compare against).
CORRECTIONS: dict[str, str | None] = {
    "bh": "fdr_bh",
    "by": "fdr_by",
    "bonferroni": "bonferroni",
    "none": None,
}

#: How each correction is named in results.
CORRECTION_LABELS: dict[str, str] = {
    "bh": "Benjamini-Hochberg FDR",
    "by": "Benjamini-Yekutieli FDR",
    "bonferroni": "Bonferroni",
    "none": "no correction",
}


def check_correction(name: str) -> str:
    """Normalise a correction name, refusing unknown ones with a one-line error."""
    from facs_core.errors import InputError

    key = (name or "").strip().lower()
    if key not in CORRECTIONS:
        raise InputError(f"unknown multiple-comparison correction {name!r}; use one of {', '.join(CORRECTIONS)}")
    return key


def adjust_pvalues(
    pvalues: np.ndarray | Sequence[float],
    method: str = "bh",
    alpha: float = 0.05,
    groups: Sequence[object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values and rejections, NaN-aware and optionally per group.

    Benjamini-Hochberg (1995): sort the m p-values, ``p_(i) * m / i``, then a
    running minimum from the largest down, capped at 1. Benjamini-Yekutieli
    (2001) multiplies by ``c(m) = sum_{i<=m} 1/i`` (valid under any
    dependence). Bonferroni: ``min(1, m * p)``. ``none`` returns p unchanged.
    Same operations, in the same order, as statsmodels' ``multipletests``
    (``fdrcorrection`` for bh/by), so the numbers agree to the last bit;
    validated against it in ``tests/test_stats_multicomp.py``. Restated here
    rather than called because importing ``statsmodels.stats.multitest``
    (it pulls in ``scipy.stats``) costs about 0.5 s of every command-line
    start, a fifth of ``stats scalogram``'s whole run in ``bench/wavelets.py``.

    Parameters
    ----------
    pvalues : array of float
        NaN marks a test that could not be computed; it is not part of the
        family (m counts only computable tests) and gets NaN back.
    method : {"bh", "by", "bonferroni", "none"}
    alpha : float
        Family-wise level (FDR level for bh/by); a test is significant when its
        adjusted p is at most ``alpha``.
    groups : sequence, optional
        One label per test; each label is corrected as its own family.

    Returns
    -------
    adjusted : ndarray of float
    significant : ndarray of bool
        False where the p-value is NaN.

    Examples
    --------
    Benjamini-Hochberg on four tests: sorted, 0.01 x 4/1, 0.03 x 4/2,
    0.04 x 4/3 and 0.2 x 4/4, then the running minimum from the top:

    >>> adjusted, significant = adjust_pvalues([0.01, 0.04, 0.03, 0.2], "bh")
    >>> adjusted.round(4)
    array([0.04  , 0.0533, 0.0533, 0.2   ])
    >>> significant
    array([ True, False, False, False])
    """
    method = check_correction(method)
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    significant = np.zeros(p.shape, dtype=bool)
    labels = np.zeros(p.shape, dtype=int) if groups is None else pd.factorize(pd.Series(list(groups)))[0]
    if len(labels) != len(p):
        raise ValueError(f"{len(labels)} group labels for {len(p)} p-values")
    for label in np.unique(labels):
        members = np.flatnonzero((labels == label) & ~np.isnan(p))
        if members.size == 0:
            continue
        if CORRECTIONS[method] is None:
            adjusted[members] = p[members]
            significant[members] = p[members] <= alpha
            continue
        reject, corrected = _step_up(p[members], method, alpha)
        adjusted[members] = corrected
        significant[members] = reject
    return adjusted, significant


def _step_up(p: np.ndarray, method: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Rejections and adjusted p of one family without NaN, as statsmodels computes them."""
    m = p.size
    if method == "bonferroni":
        corrected = p * float(m)
        corrected[corrected > 1] = 1
        return p <= alpha / float(m), corrected
    order = np.argsort(p)
    ranked = np.take(p, order)
    factor = np.arange(1, m + 1) / float(m)
    if method == "by":
        factor = factor / np.sum(1.0 / np.arange(1, m + 1))
    reject_sorted = ranked <= factor * alpha
    if reject_sorted.any():
        reject_sorted[: np.flatnonzero(reject_sorted).max()] = True
    corrected_sorted = np.minimum.accumulate((ranked / factor)[::-1])[::-1]
    corrected_sorted[corrected_sorted > 1] = 1
    corrected, reject = np.empty(m), np.empty(m, dtype=bool)
    corrected[order] = corrected_sorted
    reject[order] = reject_sorted
    return reject, corrected
