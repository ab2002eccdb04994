"""Multiple-comparison correction: equal to statsmodels' multipletests, NaN-aware, per group."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from facs_core.errors import InputError
from facs_core.stats.multicomp import CORRECTIONS, adjust_pvalues

P_VALUES = st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=60)


@pytest.mark.parametrize("method", ["bh", "by", "bonferroni"])
@given(p=P_VALUES, alpha=st.sampled_from([0.01, 0.05, 0.1]))
@settings(max_examples=60, deadline=None)
def test_equals_multipletests(method: str, p: list[float], alpha: float) -> None:
    adjusted, significant = adjust_pvalues(p, method, alpha)
    reject, expected, _, _ = multipletests(p, alpha=alpha, method=CORRECTIONS[method])
    np.testing.assert_array_equal(adjusted, expected)  # same operations, same bits
    np.testing.assert_array_equal(significant, reject)


@pytest.mark.parametrize("method", ["bh", "by", "bonferroni"])
def test_equals_multipletests_on_a_scalogram_sized_family_with_ties(method: str) -> None:
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0, 1, 1900), rng.uniform(0, 1e-4, 80), np.full(20, 0.003)])
    rng.shuffle(p)
    adjusted, significant = adjust_pvalues(p, method, 0.05)
    reject, expected, _, _ = multipletests(p, alpha=0.05, method=CORRECTIONS[method])
    np.testing.assert_array_equal(adjusted, expected)
    np.testing.assert_array_equal(significant, reject)
    assert significant.any() and not significant.all()


def test_nan_p_values_are_not_part_of_the_family() -> None:
    p = np.array([0.001, np.nan, 0.02, 0.04, np.nan, 0.3])
    adjusted, significant = adjust_pvalues(p, "bh", 0.05)
    expected = multipletests(p[~np.isnan(p)], method="fdr_bh")[1]
    np.testing.assert_allclose(adjusted[~np.isnan(p)], expected, rtol=1e-12)
    assert np.isnan(adjusted[[1, 4]]).all() and not significant[[1, 4]].any()


def test_groups_are_separate_families() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 40)
    groups = [f"AU{j % 4:02d}" for j in range(40)]
    adjusted, _ = adjust_pvalues(p, "by", 0.05, groups)
    for label in set(groups):
        members = np.array([g == label for g in groups])
        np.testing.assert_allclose(adjusted[members], multipletests(p[members], method="fdr_by")[1], rtol=1e-12)


def test_none_keeps_p_and_compares_with_alpha() -> None:
    p = np.array([0.01, 0.05, 0.2])
    adjusted, significant = adjust_pvalues(p, "none", 0.05)
    np.testing.assert_array_equal(adjusted, p)
    np.testing.assert_array_equal(significant, [True, True, False])


def test_unknown_correction_is_a_one_line_error() -> None:
    with pytest.raises(InputError, match="unknown multiple-comparison correction 'holm'"):
        adjust_pvalues([0.1], "holm")
