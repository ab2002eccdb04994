"""The two distribution functions the correlation tests need, without importing SciPy.

``scipy.special`` costs about a tenth of a second of every command that
computes a p-value (it loads SciPy's array-API layer, which imports every
NumPy submodule), more than the statistics themselves take. The Student t
tail is the regularised incomplete beta function, evaluated here as in
Numerical Recipes (Press et al., 3rd ed., sec. 6.4: the continued fraction by
the modified Lentz method, on the side of ``x`` where it converges quickly);
the normal quantile is the standard library's (Wichura's AS241). Both agree
with SciPy's ``stdtr`` and ``ndtri`` to 1e-13 relative or better
(``tests/test_stats_distributions.py``). Beyond :data:`SCIPY_ABOVE_DOF` degrees
of freedom the fraction loses digits to cancellation (about ``1e-16 * dof /
4``) and SciPy computes the tail instead: a cohort that large spends far longer
on its features than on the import.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["SCIPY_ABOVE_DOF", "normal_quantile", "t_two_sided"]

#: Degrees of freedom above which :func:`t_two_sided` asks SciPy.
SCIPY_ABOVE_DOF = 1000.0

#: Relative step at which the continued fraction has converged (two units in the last place).
_EPSILON = 4.5e-16
#: Guards the Lentz recurrences against a zero denominator.
_TINY = 1e-300
#: The fraction converges in O(sqrt(max(a, b))) steps; this covers dof up to about 10^8.
_MAX_STEPS = 100_000


def normal_quantile(p: float) -> float:
    """The standard normal quantile (``scipy.stats.norm.ppf``), for ``0 < p < 1``.

    Examples
    --------
    >>> round(normal_quantile(0.975), 12)
    1.95996398454
    """
    return NormalDist().inv_cdf(p)


def t_two_sided(t: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Two-sided p-value of Student's t: ``P(|T| >= |t|)`` on ``dof`` degrees of freedom.

    What ``2 * scipy.special.stdtr(dof, -abs(t))`` gives, computed as the
    regularised incomplete beta function ``I_x(dof / 2, 1 / 2)`` at
    ``x = dof / (dof + t**2)``.

    Parameters
    ----------
    t : ndarray of float
        Statistics (any sign; infinite gives 0).
    dof : ndarray of float
        Positive degrees of freedom, broadcast against ``t``.

    Returns
    -------
    ndarray of float

    Examples
    --------
    >>> t_two_sided(np.array([0.0, 2.0, -2.0, np.inf]), np.array([10.0, 10.0, 10.0, 10.0])).round(6)
    array([1.      , 0.073388, 0.073388, 0.      ])
    """
    t, dof = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(dof, dtype=float))
    squared = np.square(t)
    a, b = dof / 2.0, 0.5
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # x and its complement computed apart, so neither loses digits near 0 or 1.
        x = np.where(np.isinf(squared), 0.0, dof / (dof + squared))
        y = np.where(np.isinf(squared), 1.0, squared / (dof + squared))
    result = np.empty(t.shape)
    large = dof > SCIPY_ABOVE_DOF
    if large.any():
        from scipy import special

        result[large] = 2 * special.stdtr(dof[large], -np.abs(t[large]))
    # The fraction for I_x(a, b) converges fast for x < (a + 1) / (a + b + 2); beyond, 1 - I_y(b, a).
    direct = (x * (a + b + 2.0) < a + 1.0) & ~large
    if direct.any():
        aa, xx, yy = a[direct], x[direct], y[direct]
        result[direct] = _power_terms(aa, xx, yy) * _fraction(aa, np.full(aa.shape, b), xx) / aa
    flipped = ~direct & ~large
    if flipped.any():
        aa, xx, yy = a[flipped], x[flipped], y[flipped]
        result[flipped] = 1.0 - _power_terms(aa, xx, yy) * _fraction(np.full(aa.shape, b), aa, yy) / b
    return result


def _power_terms(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x**a * y**(1/2) / B(a, 1/2)``, the incomplete beta function's prefactor."""
    # log(x) from y where x is near 1: 1 - y is exact there, log(1 - y) = log1p(-y) keeps y's digits.
    with np.errstate(divide="ignore"):
        log_x = np.where(y < 0.5, np.log1p(-y), np.log(x))
        log_y = np.log(y)
    # 1 / B(a, 1/2) = Gamma(a + 1/2) / (Gamma(a) sqrt(pi)), one value per distinct dof.
    distinct, where = np.unique(a, return_inverse=True)
    ratio = np.array([_gamma_ratio(float(value)) for value in distinct])[where.reshape(a.shape)]
    with np.errstate(under="ignore"):
        return np.exp(a * log_x + 0.5 * log_y) * ratio / math.sqrt(math.pi)


def _gamma_ratio(a: float) -> float:
    """``Gamma(a + 1/2) / Gamma(a)``, accurate to a few units in the last place for every ``a > 0``."""
    if a <= 100.0:
        return math.gamma(a + 0.5) / math.gamma(a)
    # Its asymptotic series (DLMF 5.11.8 with h = 1/2); the next term is below 1e-21 at a = 100.
    log_ratio = 0.5 * math.log(a) - 1 / (8 * a) + 1 / (192 * a**3) - 1 / (640 * a**5) + 17 / (14336 * a**7)
    return math.exp(log_ratio)


def _fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The continued fraction of ``I_x(a, b)`` (Numerical Recipes' ``betacf``), elementwise, modified Lentz."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones(x.shape)
    d = _guard(1.0 - qab * x / qap)
    d = 1.0 / d
    h = d.copy()
    active = np.ones(x.shape, dtype=bool)
    for m in range(1, _MAX_STEPS + 1):
        m2 = 2 * m
        # Only the entries still converging are advanced; each step is two of the fraction's terms.
        i = np.flatnonzero(active)
        ai, bi, xi = a[i], b[i], x[i]
        even = m * (bi - m) * xi / ((qam[i] + m2) * (ai + m2))
        di = 1.0 / _guard(1.0 + even * d[i])
        ci = _guard(1.0 + even / c[i])
        h[i] *= di * ci
        odd = -(ai + m) * (qab[i] + m) * xi / ((ai + m2) * (qap[i] + m2))
        di = 1.0 / _guard(1.0 + odd * di)
        ci = _guard(1.0 + odd / ci)
        step = di * ci
        h[i] *= step
        d[i], c[i] = di, ci
        done = np.abs(step - 1.0) <= _EPSILON
        active[i[done]] = False
        if not active.any():
            break
    return h


def _guard(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) < _TINY, _TINY, values)
