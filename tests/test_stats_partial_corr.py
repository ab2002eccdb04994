"""Partial correlations: equal to pingouin.partial_corr, exact on constructed cohorts, honest on bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_core import datasets
from facs_core.errors import InputError
from facs_core.stats import associate, partial_correlations
from facs_core.stats.design import covariate_matrix
from tests.pingouin_reference import pingouin_frame

COVARIATES = list(datasets.COVARIATES)


@pytest.fixture
def unrounded_pingouin(monkeypatch: pytest.MonkeyPatch) -> None:
    # pingouin rounds CI95 to 2 decimals for display by default; turn that off
    # so the comparison is with its computed interval. compute_esci still rounds
    # to 6 decimals (decimals=6 in partial_corr), hence the CI tolerance below.
    monkeypatch.setitem(pg.options, "round.column.CI95", None)


CI_TOLERANCE = 5e-7 + 1e-12  # half a unit in pingouin's 6th decimal


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_equals_pingouin_partial_corr(method: str, unrounded_pingouin: None) -> None:
    features, clinical = datasets.cohort(seed=1)
    result = associate(features, clinical, "bdi", COVARIATES, method=method)
    data, dummies = pingouin_frame(features, clinical)
    for row in result.itertuples():
        expected = pg.partial_corr(data, x=row.feature, y="bdi", covar=dummies, method=method)
        assert row.n == expected["n"].iloc[0]
        assert row.r == pytest.approx(expected["r"].iloc[0], abs=1e-9)
        assert row.p == pytest.approx(expected["p_val"].iloc[0], abs=1e-9)
        low, high = expected["CI95"].iloc[0]
        assert abs(row.ci_low - low) <= CI_TOLERANCE
        assert abs(row.ci_high - high) <= CI_TOLERANCE
        assert row.k == len(dummies)
        assert row.method == f"partial {method}"


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_missing_values_use_complete_cases_per_column(method: str, unrounded_pingouin: None) -> None:
    features, clinical = datasets.cohort(seed=2)
    rng = np.random.default_rng(7)
    # Different columns miss different videos; two columns share a pattern.
    for column, count in [("AU01", 3), ("AU02", 5), ("AU12", 1)]:
        features.loc[rng.choice(len(features), count, replace=False), column] = np.nan
    features["AU04"] = features["AU04"].where(features["AU02"].notna())
    clinical.loc[4, "age"] = np.nan  # excluded everywhere
    result = associate(features, clinical, "bdi", COVARIATES, method=method).set_index("feature")
    data, dummies = pingouin_frame(features, clinical)
    for column in ["AU01", "AU02", "AU04", "AU12", "AU25"]:
        expected = pg.partial_corr(data, x=column, y="bdi", covar=dummies, method=method)
        assert result.at[column, "n"] == expected["n"].iloc[0]
        assert result.at[column, "r"] == pytest.approx(expected["r"].iloc[0], abs=1e-9)
        assert result.at[column, "p"] == pytest.approx(expected["p_val"].iloc[0], abs=1e-9)
    assert result.at["AU25", "n"] == len(clinical) - 1
    assert any("age is missing for vid0004" in note for note in result.attrs["notes"])


def constructed_cohort(targets: np.ndarray, n_videos: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cohort whose sample partial correlations with bdi are exactly ``targets``.

    Residualise the score on [1, covariates], take a direction orthogonal to
    that space and to the residual score, and mix: x = cov part + rho * e_y +
    sqrt(1 - rho^2) * u, with e_y and u of unit length.
    """
    _, clinical = datasets.cohort(n_videos=n_videos, seed=seed, features=1)
    rng = np.random.default_rng(seed + 100)
    design, _ = covariate_matrix(clinical, COVARIATES)
    # An orthonormal basis of the design's column space: a small cohort can draw a constant or collinear
    # covariate, which the analysis drops; QR of a rank-deficient design would not span that space.
    left, singular, _ = np.linalg.svd(np.column_stack([np.ones(n_videos), design]), full_matrices=False)
    basis = left[:, singular > 1e-10 * singular[0]]
    y = clinical["bdi"].to_numpy()
    e_y = y - basis @ (basis.T @ y)
    e_y /= np.linalg.norm(e_y)
    columns = {}
    for j, rho in enumerate(targets):
        w = rng.normal(size=n_videos)
        full = np.column_stack([basis, e_y])
        u = w - full @ np.linalg.lstsq(full, w, rcond=None)[0]
        u /= np.linalg.norm(u)
        covariate_part = basis @ rng.normal(size=basis.shape[1])
        columns[f"AU{j:02d}"] = 0.5 + 0.1 * (covariate_part + rho * e_y + np.sqrt(1 - rho**2) * u)
    features = pd.DataFrame(columns)
    features.insert(0, "video_id", clinical["video_id"])
    return features, clinical


@given(
    targets=st.lists(st.floats(-0.95, 0.95), min_size=1, max_size=6),
    n_videos=st.integers(12, 80),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=40, deadline=None)
def test_constructed_cohort_returns_the_chosen_partial_correlations(
    targets: list[float], n_videos: int, seed: int
) -> None:
    features, clinical = constructed_cohort(np.array(targets), n_videos, seed)
    result = associate(features, clinical, "bdi", COVARIATES)
    np.testing.assert_allclose(result["r"], targets, atol=1e-9)
    assert (result["n"] == n_videos).all()


def test_vectorised_equals_one_column_at_a_time() -> None:
    features, clinical = datasets.cohort(seed=3, features=300)
    features.iloc[::7, 5] = np.nan
    features.iloc[::5, 40] = np.nan
    whole = associate(features, clinical, "bdi", COVARIATES, fdr="none")
    for column in ["F0000", "F0005", "F0040", "F0299"]:
        single = associate(features[["video_id", column]], clinical, "bdi", COVARIATES, fdr="none")
        row = whole.set_index("feature").loc[column]
        assert single["r"].iloc[0] == pytest.approx(row["r"], abs=1e-12)
        assert single["p"].iloc[0] == pytest.approx(row["p"], abs=1e-12)
        assert single["n"].iloc[0] == row["n"]


def test_constant_feature_is_reported_and_left_out_of_fdr() -> None:
    features, clinical = datasets.cohort(seed=4)
    features["AU09"] = 0.2
    result = associate(features, clinical, "bdi", COVARIATES).set_index("feature")
    assert np.isnan(result.at["AU09", "r"]) and np.isnan(result.at["AU09", "p"])
    assert np.isnan(result.at["AU09", "p_fdr"])
    assert pd.isna(result.at["AU09", "significant"])
    assert result.at["AU09", "reason"] == "constant feature"
    computable = result.drop(index="AU09")
    assert computable["r"].notna().all() and (computable["reason"] == "").all()
    from statsmodels.stats.multitest import multipletests

    expected = multipletests(computable["p"], method="fdr_bh")[1]
    np.testing.assert_allclose(computable["p_fdr"], expected, rtol=1e-12)


def test_feature_equal_to_a_covariate_is_not_computable() -> None:
    features, clinical = datasets.cohort(seed=5)
    features["AU10"] = clinical["age"] / 100
    result = associate(features, clinical, "bdi", COVARIATES).set_index("feature")
    assert np.isnan(result.at["AU10", "r"])
    assert "linear function of the covariates" in result.at["AU10", "reason"]


def test_text_covariate_is_dummy_coded_with_k_minus_one_columns() -> None:
    _, clinical = datasets.cohort(seed=6)
    matrix, names = covariate_matrix(clinical, ["camera", "sex", "age"])
    assert names == ["camera[cam_b]", "camera[cam_c]", "sex[male]", "age"]
    assert matrix.shape == (len(clinical), 4)
    np.testing.assert_array_equal(matrix[:, 0], (clinical["camera"] == "cam_b").to_numpy(float))


def test_too_few_videos_for_the_covariates_is_an_error() -> None:
    features, clinical = datasets.cohort(seed=7)
    q = covariate_matrix(clinical, COVARIATES)[0].shape[1]
    few = clinical.head(q + 2)
    with pytest.raises(InputError, match=rf"only {q + 2} videos have.*{q} covariate columns.*at least {q + 3}"):
        associate(features, few, "bdi", COVARIATES)
    assert associate(features, clinical.head(q + 3), "bdi", COVARIATES)["n"].eq(q + 3).all()


def test_score_out_of_range_names_video_and_value() -> None:
    features, clinical = datasets.cohort(seed=8)
    clinical.loc[11, "bdi"] = 64
    with pytest.raises(InputError, match=r"bdi of video vid0011 is 64, outside .*0-63"):
        associate(features, clinical, "bdi", COVARIATES)


def test_ids_on_one_side_are_reported() -> None:
    features, clinical = datasets.cohort(seed=9)
    features = features.drop(index=[0, 1])
    clinical = clinical.drop(index=[10])
    result = associate(features, clinical, "bdi", COVARIATES)
    notes = " ".join(result.attrs["notes"])
    assert "in the clinical table but not in the features" in notes and "vid0000, vid0001" in notes
    assert "in the features but not in the clinical table" in notes and "vid0010" in notes
    assert (result["n"] == len(clinical) - 2).all()


def test_no_covariates_is_plain_correlation() -> None:
    features, clinical = datasets.cohort(seed=10)
    result = associate(features, clinical, "bdi", [], method="spearman")
    data = clinical.merge(features, on="video_id")
    for row in result.itertuples():
        expected = pg.corr(data[row.feature], data["bdi"], method="spearman")
        assert row.r == pytest.approx(expected["r"].iloc[0], abs=1e-9)
        assert row.p == pytest.approx(expected["p_val"].iloc[0], abs=1e-9)
        assert row.method == "spearman"


def test_partial_correlations_core_without_pandas() -> None:
    rng = np.random.default_rng(11)
    score = rng.normal(size=40)
    covariates = rng.normal(size=(40, 2))
    values = np.column_stack([score + rng.normal(size=40), rng.normal(size=40)])
    result = partial_correlations(values, score, covariates)
    data = pd.DataFrame(
        {"a": values[:, 0], "b": values[:, 1], "y": score, "c1": covariates[:, 0], "c2": covariates[:, 1]}
    )
    for j, column in enumerate(["a", "b"]):
        expected = pg.partial_corr(data, x=column, y="y", covar=["c1", "c2"])
        assert result.r[j] == pytest.approx(expected["r"].iloc[0], abs=1e-12)
        assert result.pvalues()[j] == pytest.approx(expected["p_val"].iloc[0], abs=1e-12)
    assert list(result.dof) == [36, 36]


def test_a_collinear_level_is_named_by_its_covariate_not_said_collinear_with_itself() -> None:
    # Twelve visits of this draw make one camera level a combination of age, sex and camera's other level.
    features, clinical = constructed_cohort(np.array([0.3]), 12, 959)
    result = associate(features, clinical, "bdi", COVARIATES)
    collinear = [note for note in result.attrs["notes"] if "collinear" in note]
    assert collinear == [
        "one level of covariate camera is collinear with age, sex, the other levels of camera; it adds no adjustment"
    ]
    np.testing.assert_allclose(result["r"], [0.3], atol=1e-9)
