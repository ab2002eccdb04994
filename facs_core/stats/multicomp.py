"""Multiple-comparison correction over a family of p-values.

Thin layer over :func:`statsmodels.stats.multitest.multipletests` that

* leaves non-computable tests (NaN p) out of the family instead of letting
  them poison it, and gives them an empty adjusted p;
* applies the correction within groups when asked (per-AU FDR over wavelet
  scales), each group being its own family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Our option names -> statsmodels' method names.
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
    Computed by statsmodels' ``multipletests``; validated against it in
    ``tests/test_stats_multicomp.py``.

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
    """
    # Imported on first use: statsmodels costs ~0.45 s at every CLI start otherwise.
    from statsmodels.stats.multitest import multipletests

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
        reject, corrected, _, _ = multipletests(p[members], alpha=alpha, method=CORRECTIONS[method])
        adjusted[members] = corrected
        significant[members] = reject
    return adjusted, significant
