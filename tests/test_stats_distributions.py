"""The t tail and normal quantile agree with SciPy, and with closed forms where SciPy itself is off."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from facs_core.stats.distributions import SCIPY_ABOVE_DOF, normal_quantile, t_two_sided


def test_the_t_tail_equals_scipy_over_the_degrees_of_freedom_it_computes() -> None:
    rng = np.random.default_rng(0)
    n = 60_000
    # From 2: at one degree of freedom SciPy's stdtr is off near t = 0 (closed form below).
    dof = np.exp(rng.uniform(np.log(2), np.log(SCIPY_ABOVE_DOF), n)).round()
    # From barely nonzero to far in the tail (p down to about 1e-250), both signs.
    t = rng.standard_normal(n) * rng.choice([1e-3, 0.3, 1.0, 2.0, 3.0, 8.0, 30.0], n)
    ours = t_two_sided(t, dof)
    theirs = 2 * special.stdtr(dof, -np.abs(t))
    shown = theirs > 1e-300
    assert shown.mean() > 0.9
    np.testing.assert_allclose(ours[shown], theirs[shown], rtol=1e-12, atol=0)
    # The usual range of a cohort's tests, p from 1e-30 to 1.
    usual = theirs > 1e-30
    np.testing.assert_allclose(ours[usual], theirs[usual], rtol=2e-13, atol=0)


def test_the_t_tail_at_the_branch_between_the_two_fractions() -> None:
    # x = (a + 1) / (a + b + 2) switches between I_x(a, 1/2) and 1 - I_y(1/2, a): |t| near sqrt(3).
    dof = np.repeat([2.0, 9.0, 40.0, 333.0, 1000.0], 41)
    t = np.tile(np.linspace(1.6, 1.9, 41), 5)
    np.testing.assert_allclose(t_two_sided(t, dof), 2 * special.stdtr(dof, -t), rtol=1e-13, atol=0)


def test_the_t_tail_matches_closed_forms() -> None:
    t = np.array([1e-9, 1e-4, 0.5, 1.0, 3.0, 40.0, 1e6])
    # One degree of freedom is Cauchy: 1 - 2 atan(t) / pi (SciPy's stdtr is off by 4e-9 at t = 1e-8).
    cauchy = np.array([2 * math.atan2(1.0, v) / math.pi for v in t])
    np.testing.assert_allclose(t_two_sided(t, np.ones(t.size)), cauchy, rtol=1e-14)
    # Two: 1 - t / sqrt(2 + t^2), written without cancellation.
    two = np.array([2 / (math.sqrt(2 + v * v) * (math.sqrt(2 + v * v) + v)) for v in t])
    np.testing.assert_allclose(t_two_sided(t, np.full(t.size, 2.0)), two, rtol=1e-14)


def test_the_t_tail_edges() -> None:
    assert t_two_sided(np.array([0.0, np.inf, -np.inf]), np.array([5.0, 5.0, 5.0])).tolist() == [1.0, 0.0, 0.0]


def test_many_degrees_of_freedom_are_scipys_own() -> None:
    dof = np.array([SCIPY_ABOVE_DOF + 1, 5e4, 2e5])
    t = np.array([1.8, 2.5, 4.0])
    assert np.array_equal(t_two_sided(t, dof), 2 * special.stdtr(dof, -t))


@pytest.mark.parametrize("p", [1e-12, 0.005, 0.025, 0.05, 0.5, 0.975])
def test_the_normal_quantile_equals_scipy(p: float) -> None:
    assert normal_quantile(p) == pytest.approx(float(special.ndtri(p)), rel=1e-15, abs=1e-15)
