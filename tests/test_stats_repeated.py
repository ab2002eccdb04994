"""Repeated visits: mixed model equals a direct statsmodels formula fit; permutations keep patients whole."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from facs_core import datasets
from facs_core.stats import associate
from facs_core.stats.mixed import MIXED_METHOD, mixed_model_associations
from facs_core.stats.permutation import block_permutations, distinct_permutations, permutation_pvalues

COVARIATES = list(datasets.COVARIATES)


def test_mixed_model_equals_formula_fit() -> None:
    # Each patient's own level gives the random intercept something to estimate.
    features, clinical = datasets.cohort(n_videos=80, seed=21, patient_sd=0.08)
    result = mixed_model_associations(features[["video_id", "AU01", "AU12"]], clinical, "bdi", COVARIATES)
    data = clinical.merge(features, on="video_id")
    for row in result.itertuples():
        data["y"] = (data[row.feature] - data[row.feature].mean()) / data[row.feature].std()
        data["s"] = (data["bdi"] - data["bdi"].mean()) / data["bdi"].std()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm(
                "y ~ s + age + C(sex) + C(camera) + medication + repeat_visit", data, groups=data["patient_id"]
            ).fit(reml=True)
        assert row.beta == pytest.approx(fit.params["s"], abs=1e-5)
        assert row.p == pytest.approx(fit.pvalues["s"], abs=1e-5)
        low, high = fit.conf_int().loc["s"]
        assert row.ci_low == pytest.approx(low, abs=1e-5) and row.ci_high == pytest.approx(high, abs=1e-5)
        assert row.n == 80 and row.n_patients == 40 and row.method == MIXED_METHOD


def test_mixed_model_recovers_a_known_effect() -> None:
    rng = np.random.default_rng(23)
    patients = np.repeat(np.arange(150), 2)
    score = np.clip(np.repeat(rng.normal(25, 10, 150), 2) + rng.normal(0, 3, 300), 0, 63)
    au = 0.01 * score + np.repeat(rng.normal(0, 0.1, 150), 2) + rng.normal(0, 0.05, 300)
    clinical = pd.DataFrame(
        {"video_id": [f"v{i}" for i in range(300)], "patient_id": patients.astype(str), "bdi": score}
    )
    features = pd.DataFrame({"video_id": clinical["video_id"], "AU12": au})
    row = mixed_model_associations(features, clinical, "bdi", []).iloc[0]
    # Back on the raw scale the coefficient is the simulated slope 0.01, within
    # 4 standard errors (the CI is beta +/- 1.96 SE on the standardised scale).
    to_raw = au.std(ddof=1) / score.std(ddof=1)
    se = (row.ci_high - row.ci_low) / (2 * 1.959964) * to_raw
    assert abs(row.beta * to_raw - 0.01) < 4 * se
    assert se < 0.002 and row.p < 1e-6


def test_mixed_model_says_why_it_cannot_fit_single_visits() -> None:
    features, clinical = datasets.cohort(seed=24)
    clinical["patient_id"] = clinical["video_id"]
    result = mixed_model_associations(features, clinical, "bdi", COVARIATES)
    assert result["beta"].isna().all() and result["reason"].str.contains("one visit").all()


@given(
    visits=st.lists(st.integers(1, 4), min_size=2, max_size=25),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=50, deadline=None)
def test_block_permutations_move_whole_patients(visits: list[int], seed: int) -> None:
    patients = np.array([f"P{i}" for i, count in enumerate(visits) for _ in range(count)])
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(patients))  # visits of a patient need not be adjacent
    patients = patients[shuffled]
    order = block_permutations(patients, 20, seed)
    for permutation in order:
        assert sorted(permutation) == list(range(len(patients)))
        for patient in np.unique(patients):
            rows = np.flatnonzero(patients == patient)
            sources = patients[permutation[rows]]
            assert len(set(sources)) == 1  # all visits take one patient's scores...
            donor_rows = np.flatnonzero(patients == sources[0])
            np.testing.assert_array_equal(permutation[rows], donor_rows)  # ...in visit order
    np.testing.assert_array_equal(order, block_permutations(patients, 20, seed))


def test_distinct_permutations_counts_classes() -> None:
    assert distinct_permutations(["a", "a", "b", "b", "c", "d", "e"]) == 2 * 6


def test_permutation_p_matches_scipy_without_covariates() -> None:
    features, clinical = datasets.cohort(n_videos=40, seed=25)
    clinical["patient_id"] = clinical["video_id"]  # one visit each: plain permutation
    result = permutation_pvalues(features[["video_id", "AU01", "AU04"]], clinical, "bdi", [], n_permutations=4000)
    data = clinical.merge(features, on="video_id")
    for row in result.itertuples():
        reference = stats.permutation_test(
            (data[row.feature].to_numpy(), data["bdi"].to_numpy()),
            lambda x, y: stats.pearsonr(x, y).statistic,
            permutation_type="pairings",
            n_resamples=4000,
            rng=np.random.default_rng(1),
        )
        # Two Monte Carlo estimates of one p: within 4 binomial standard errors.
        se = np.sqrt(reference.pvalue * (1 - reference.pvalue) / 4000) + 1 / 4000
        assert abs(row.p - reference.pvalue) < 4 * np.sqrt(2) * se
        assert row.r == pytest.approx(stats.pearsonr(data[row.feature], data["bdi"]).statistic, abs=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_permutation_p_agrees_with_parametric_p_on_independent_visits(method: str) -> None:
    features, clinical = datasets.cohort(n_videos=120, seed=26)
    clinical["patient_id"] = clinical["video_id"]
    parametric = associate(features, clinical, "bdi", COVARIATES, method=method, fdr="none")
    permuted = permutation_pvalues(features, clinical, "bdi", COVARIATES, method=method, n_permutations=3000, seed=3)
    np.testing.assert_allclose(permuted["r"], parametric["r"], atol=1e-12)
    # Freedman-Lane is exact only asymptotically; the two p agree within Monte Carlo and small-sample error.
    np.testing.assert_allclose(permuted["p"], parametric["p"], atol=0.04)
    assert permuted["method"].str.startswith("permutation of whole patients").all()


def test_permutation_is_reproducible_and_seed_dependent() -> None:
    features, clinical = datasets.cohort(seed=27)
    first = permutation_pvalues(features, clinical, "bdi", COVARIATES, n_permutations=500, seed=1)
    again = permutation_pvalues(features, clinical, "bdi", COVARIATES, n_permutations=500, seed=1)
    other = permutation_pvalues(features, clinical, "bdi", COVARIATES, n_permutations=500, seed=2)
    pd.testing.assert_frame_equal(first, again)
    assert not np.array_equal(first["p"], other["p"])
    assert (first["p"] >= 1 / 501).all()
