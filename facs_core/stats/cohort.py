"""The cohort statistics table: every AU (or emotion) feature against a score, by one of four methods.

One function, :func:`cohort_associations`, is what ``python -m facs_core stats
partial-corr`` and the Cohort statistics page both run: choose the feature
kind, the method (partial correlation, Pearson or Spearman; linear mixed
model; patient-block permutation p), the correction, and get one row per
feature with its provenance (:mod:`facs_core.stats.provenance`). The cohort's
visits are chosen before, by :func:`select_source` (real / synthetic / both)
and by the segments filter of the service that reads the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facs_core import wording
from facs_core.errors import InputError, NoDataError
from facs_core.stats.design import covariate_basis, dropped_covariates, residualise
from facs_core.stats.multicomp import CORRECTION_LABELS, adjust_pvalues, check_correction
from facs_core.stats.partial_corr import associate, prepare
from facs_core.stats.provenance import attach_provenance, inputs_hash, software_versions

__all__ = [
    "ALPHA",
    "DATA_SOURCES",
    "EMOTIONS",
    "FEATURE_KINDS",
    "METHODS",
    "PERMUTATIONS",
    "CohortParams",
    "cohort_associations",
    "default_source",
    "extra_columns",
    "feature_table",
    "partial_residuals",
    "select_source",
    "too_few_text",
]

ALPHA = 0.05
#: Random whole-patient permutations behind each permutation p (smallest p 1/1001).
PERMUTATIONS = 1000

#: The methods and how results and pages name them.
METHODS: dict[str, str] = {
    "pearson": "partial correlation (Pearson)",
    "spearman": "partial correlation (Spearman)",
    "mixedlm": "linear mixed model (random intercept per patient)",
    "permutation": "partial correlation, patient-block permutation p",
}

#: Which per-video feature columns are analysed.
FEATURE_KINDS: dict[str, str] = {
    "mean": "mean AU value",
    "rate": "occurrence rate (value >= 0.5)",
    "sd": "standard deviation",
    "emotion_mean": "mean emotion probability (py-feat)",
    "emotion_sd": "emotion standard deviation (py-feat)",
}
#: py-feat's seven emotions, as the per-video features name them.
EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

#: Which visits enter a statistic: real patients, synthetic demo data, or both.
DATA_SOURCES: dict[str, str] = {
    "real": "real visits only",
    "synthetic": "synthetic demo visits only",
    "both": "real and synthetic visits",
}


@dataclass(frozen=True)
class CohortParams:
    """The options of the cohort table (defaults are the CLI's and the page's).

    Attributes
    ----------
    score : str
    covariates : tuple of str
    method : {"pearson", "spearman", "mixedlm", "permutation"}
    correction : {"bh", "by", "bonferroni", "none"}
    feature : str
        A key of :data:`FEATURE_KINDS`; None analyses every column of the table given.
    alpha : float
    permutations : int
        Permutations of the ``permutation`` method, and of the ``perm_*`` columns.
    seed : int
        Seed of the permutations.
    mixed_model : bool
        Also fit a random-intercept mixed model per feature: ``mixed_*`` columns
        (``stats partial-corr --mixed-model``).
    permutation_columns : bool
        Also compute patient-block permutation p-values of the partial
        correlation: ``perm_*`` columns (``stats partial-corr --permutations N``
        with another method than ``permutation``).
    """

    score: str
    covariates: tuple[str, ...] = ()
    method: str = "pearson"
    correction: str = "bh"
    feature: str | None = "mean"
    alpha: float = ALPHA
    permutations: int = PERMUTATIONS
    seed: int = 0
    mixed_model: bool = False
    permutation_columns: bool = False

    def __post_init__(self) -> None:
        covariates = (self.covariates,) if isinstance(self.covariates, str) else self.covariates
        object.__setattr__(self, "covariates", tuple(str(c) for c in covariates))


def default_source(clinical: pd.DataFrame) -> str:
    """``"real"`` when any visit of ``clinical`` is real, else ``"synthetic"`` (a demo-only store)."""
    if "synthetic" not in clinical or not clinical["synthetic"].fillna(False).astype(bool).all():
        return "real"
    return "synthetic"


def select_source(clinical: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """The visits of ``clinical`` from ``source``, and a note on those left out.

    A table without a ``synthetic`` column holds real visits only.

    Examples
    --------
    >>> import pandas as pd
    >>> clinical = pd.DataFrame({"video_id": ["a", "b", "c"], "synthetic": [True, False, True]})
    >>> kept, notes = select_source(clinical, "real")
    >>> kept["video_id"].tolist(), notes
    (['b'], ['2 synthetic visits left out (data source: real visits only)'])
    """
    if source not in DATA_SOURCES:
        raise InputError(f"unknown data source {source!r}; use one of {', '.join(DATA_SOURCES)}")
    synthetic = (
        clinical["synthetic"].fillna(False).astype(bool)
        if "synthetic" in clinical
        else pd.Series(False, index=clinical.index)
    )
    if source == "both":
        return clinical, []
    keep = synthetic if source == "synthetic" else ~synthetic
    if not keep.any():
        wanted = "synthetic" if source == "synthetic" else "real"
        # An ordinary state (a store of demo data only, or real data only): explained, not a failure.
        raise NoDataError(
            f"no {wanted} visit to analyse (data source: {source})",
            reader=f"There is no {wanted} visit in this store yet, so \u201c{DATA_SOURCES[source]}\u201d has"
            " nothing to analyse: choose another data source.",
        )
    dropped = int((~keep).sum())
    kind = "real" if source == "synthetic" else "synthetic"
    left_out = wording.count(dropped, kind + " visit")
    notes = (
        [
            wording.Note(
                f"{left_out} left out (data source: {DATA_SOURCES[source]})",
                f"{left_out} left out: the data source is {DATA_SOURCES[source]}.",
            )
        ]
        if dropped
        else []
    )
    return clinical[keep.to_numpy()], notes


def feature_table(features: pd.DataFrame, kind: str | None) -> pd.DataFrame:
    """``video_id`` plus the columns of one feature kind (``AU12``, ``AU12_rate``, ``anger`` ...).

    Emotion kinds keep the emotions some visit has a value of (py-feat
    runs); ``kind=None`` keeps every column.
    """
    if kind is None:
        return features
    if kind not in FEATURE_KINDS:
        raise InputError(f"unknown feature {kind!r}; use one of {', '.join(FEATURE_KINDS)}")
    emotions = kind.startswith("emotion_")
    if emotions:
        measures = [e for e in EMOTIONS if e in features and features[e].notna().any()]
    else:
        measures = [c for c in features.columns if c.startswith("AU") and "_" not in c]
    statistic = kind.removeprefix("emotion_")
    columns = measures if statistic == "mean" else [f"{m}_{statistic}" for m in measures]
    columns = [c for c in columns if c in features]
    if not columns:
        if emotions:
            raise NoDataError("no visit in this analysis has emotion values: emotions come from py-feat runs only")
        raise NoDataError(f"no visit in this analysis has {FEATURE_KINDS[kind]} values")
    return features[["video_id", *columns]]


def too_few_text(n: int, needed: int, score: str, covariates: Sequence[str]) -> str:
    """Too few complete visits, in a reader's words (:class:`~facs_core.errors.TooFewVisitsError`'s ``reader``).

    Examples
    --------
    >>> too_few_text(3, 10, "bdi", ["age", "repeat_visit"])  # doctest: +NORMALIZE_WHITESPACE
    'Only 3 visits have extracted features, a BDI-II score and every covariate (age and repeat visit);
     with these covariates the analysis needs at least 10.'
    >>> too_few_text(1, 3, "phq9", [])
    'Only 1 visit has extracted features and a PHQ-9 score; the analysis needs at least 3.'
    """
    from facs_core.labels import covariates_phrase, score_label

    has = "has" if n == 1 else "have"
    if not covariates:
        return (
            f"Only {wording.count(n, 'visit')} {has} extracted features and {wording.article(score_label(score))}"
            f" score; the analysis needs at least {needed}."
        )
    return (
        f"Only {wording.count(n, 'visit')} {has} extracted features, {wording.article(score_label(score))} score"
        f" and every covariate ({covariates_phrase(covariates)}); with these covariates the analysis needs at"
        f" least {needed}."
    )


def cohort_associations(
    features: pd.DataFrame, clinical: pd.DataFrame, params: CohortParams, data_source: str = "both"
) -> pd.DataFrame:
    """Each feature against the score: one row per feature, with provenance.

    ``pearson``/``spearman``: :func:`facs_core.stats.associate`.
    ``mixedlm``: :func:`facs_core.stats.mixed.mixed_model_associations`, its
    standardised beta in ``r``. ``permutation``: the partial correlation's r
    and Fisher-z interval with the patient-block permutation p of
    :func:`facs_core.stats.permutation.permutation_pvalues`. The correction
    runs over the features with a p.

    Parameters
    ----------
    features : DataFrame
        ``video_id`` and per-video feature columns.
    clinical : DataFrame
        ``video_id, patient_id``, the score and the covariates (already
        restricted to the data source and segments chosen).
    params : CohortParams
    data_source : str
        The data-source filter that chose ``clinical``'s visits (provenance only).

    Returns
    -------
    DataFrame
        ``feature, n, r, ci_low, ci_high, p, p_fdr, significant, method,
        reason, k, correction`` and the :data:`~facs_core.stats.provenance.PROVENANCE_COLUMNS`.
        ``attrs``: ``notes`` (visits left out and why), ``n_videos``,
        ``video_ids`` (visits analysed), ``dropped_covariates`` (chosen
        covariates that adjust for nothing among them: constant or collinear)
        and ``provenance``. With
        ``params.mixed_model`` the mixed model's columns follow, prefixed
        ``mixed_``; with ``params.permutation_columns`` the permutation
        p-values' columns, prefixed ``perm_`` (:func:`extra_columns`).

    Examples
    --------
    >>> import pandas as pd
    >>> clinical = pd.DataFrame({"video_id": [f"v{i}" for i in range(8)],
    ...                          "patient_id": [f"p{i}" for i in range(8)],
    ...                          "bdi": [2, 5, 9, 14, 20, 26, 31, 40]})
    >>> features = pd.DataFrame({"video_id": clinical["video_id"], "AU12": 0.8 - 0.01 * clinical["bdi"],
    ...                          "AU12_rate": [0.3, 0.1, 0.4, 0.1, 0.5, 0.9, 0.2, 0.6]})
    >>> table = cohort_associations(features, clinical, CohortParams("bdi"))
    >>> table[["feature", "n", "r", "df", "n_videos"]].round(3)
      feature  n    r   df  n_videos
    0    AU12  8 -1.0  6.0         8
    """
    method = params.method
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    correction = check_correction(params.correction)
    table = feature_table(features, params.feature)
    clinical = clinical.drop(columns=["visit_date", "synthetic"], errors="ignore")
    covariates = list(params.covariates)
    prepared = prepare(table, clinical, params.score, covariates)
    if method in ("pearson", "spearman"):
        result = associate(table, clinical, params.score, covariates, method=method, fdr=correction, alpha=params.alpha)
        df = (result["n"] - 2 - result["k"]).to_numpy(dtype=float)
    elif method == "mixedlm":
        from facs_core.stats.mixed import mixed_model_associations

        result = mixed_model_associations(table, clinical, params.score, covariates).rename(columns={"beta": "r"})
        result = _corrected(result, correction, params.alpha)
        df = np.full(len(result), np.nan)
    else:
        from facs_core.stats.permutation import permutation_pvalues

        permuted = permutation_pvalues(
            table, clinical, params.score, covariates, n_permutations=params.permutations, seed=params.seed
        )
        # The coefficient and its Fisher-z interval are the partial correlation's; only p comes from permutations.
        intervals = associate(table, clinical, params.score, covariates, fdr="none")[
            ["feature", "ci_low", "ci_high", "k"]
        ]
        result = _corrected(permuted.merge(intervals, on="feature", how="left"), correction, params.alpha)
        df = np.full(len(result), np.nan)
    info = {
        "analysis": "cohort statistics",
        "score": params.score,
        "feature": params.feature or "as given",
        "method": METHODS[method],
        "covariates": list(params.covariates),
        "correction": CORRECTION_LABELS[correction] + ("" if correction == "none" else f" at {params.alpha:g}"),
        "fdr_scope": "all features",
        "n_videos": len(prepared.score),
        "data_source": data_source,
        "software": software_versions(),
        "inputs_sha256": inputs_hash(
            list(prepared.features.index), prepared.features.to_numpy(), prepared.score, prepared.design
        ),
    }
    if method in ("mixedlm", "permutation"):
        info["permutations"] = params.permutations if method == "permutation" else None
        info["seed"] = params.seed if method == "permutation" else None
    out = attach_provenance(result, info, df)
    extras = extra_columns(table, clinical, params)
    if extras:
        attrs = out.attrs
        out = pd.concat([out.reset_index(drop=True), *extras], axis=1)
        out.attrs = attrs
    out.attrs["notes"] = list(result.attrs.get("notes", prepared.notes))
    out.attrs["n_videos"] = len(prepared.score)
    out.attrs["video_ids"] = list(prepared.features.index)
    out.attrs["dropped_covariates"] = dropped_covariates(prepared.design, prepared.design_names, params.covariates)
    return out


def extra_columns(features: pd.DataFrame, clinical: pd.DataFrame, params: CohortParams) -> list[pd.DataFrame]:
    """The optional second analyses of the cohort table, one row per feature in the table's order.

    ``mixed_*``: :func:`facs_core.stats.mixed.mixed_model_associations`
    (random intercept per patient); ``perm_*``:
    :func:`facs_core.stats.permutation.permutation_pvalues` of the partial
    correlation (Pearson unless the method is Spearman) with
    ``params.permutations`` and ``params.seed``. Their ``feature`` column is
    left out (it repeats the table's).
    """
    covariates = list(params.covariates)
    parts = []
    if params.mixed_model:
        from facs_core.stats.mixed import mixed_model_associations

        parts.append(mixed_model_associations(features, clinical, params.score, covariates).add_prefix("mixed_"))
    if params.permutation_columns and params.method != "permutation":
        from facs_core.stats.permutation import permutation_pvalues

        perm = permutation_pvalues(
            features,
            clinical,
            params.score,
            covariates,
            method=params.method if params.method in ("pearson", "spearman") else "pearson",
            n_permutations=params.permutations,
            seed=params.seed,
        )
        parts.append(perm.add_prefix("perm_"))
    return [part.drop(columns=[c for c in part.columns if c.endswith("_feature")]) for part in parts]


def _corrected(result: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    p_adjusted, significant = adjust_pvalues(result["p"].to_numpy(dtype=float), correction, alpha)
    computable = result["p"].notna().to_numpy()
    label = CORRECTION_LABELS[correction] + ("" if correction == "none" else f" at {alpha:g}")
    return result.assign(
        p_fdr=p_adjusted,
        significant=pd.array(np.where(computable, significant, None), dtype="boolean"),
        correction=label,
    )


def partial_residuals(
    features: pd.DataFrame, clinical: pd.DataFrame, score: str, covariates: Sequence[str], feature: str
) -> pd.DataFrame:
    """The feature and the score with the covariates projected out, per visit.

    The residuals of both on ``[1, covariates]`` (the engine's
    :func:`~facs_core.stats.design.covariate_basis` and
    :func:`~facs_core.stats.design.residualise`); their Pearson correlation
    is the partial r of the table.
    """
    clinical = clinical.drop(columns=["visit_date", "synthetic"], errors="ignore")
    prepared = prepare(features[["video_id", feature]], clinical, score, list(covariates))
    values = prepared.features[feature].to_numpy(dtype=float)
    keep = np.isfinite(values)
    basis, _ = covariate_basis(prepared.design[keep])
    both = np.column_stack([values[keep], prepared.score[keep]])
    residuals = residualise(both, basis)
    return pd.DataFrame(
        {
            "video_id": prepared.features.index[keep],
            "patient_id": prepared.patients[keep],
            "feature_residual": residuals[:, 0],
            "score_residual": residuals[:, 1],
        }
    )
