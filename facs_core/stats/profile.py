"""A visit's AU (or emotion) means against a reference cohort: z-scores, percentiles, change between visits.

The reference is the other patients' visits of the chosen data source
(:func:`reference_visits`, the same filter as every other statistic), never a
clinical norm and never the profiled patient's own visits: a z-score against a
reference holding the visit itself is pulled towards 0, and its SD is not the
cohort's. A reference of fewer than :data:`MIN_REFERENCE_PATIENTS` other
patients is refused (:func:`require_reference`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from facs_core.errors import InputError, TooFewVisitsError
from facs_core.stats.cohort import DATA_SOURCES, EMOTIONS, select_source
from facs_core.wording import count

__all__ = [
    "MEASURES",
    "MIN_REFERENCE_PATIENTS",
    "PROFILE_MODES",
    "cohort_profile",
    "measured_visits",
    "profile_means",
    "reference_visits",
    "require_reference",
    "visit_change",
]

#: How a visit is compared with the cohort.
PROFILE_MODES: tuple[str, ...] = ("z-score", "percentile")
#: What is compared: the AU means or py-feat's emotion means.
MEASURES: tuple[str, ...] = ("aus", "emotions")
#: Fewest other patients a profile's reference must hold (and fewest real ones, unless it holds none).
#: Small-cell disclosure control: the reader knows the profiled visits' own means, so from their z-scores
#: or percentiles against a reference of k patients they learn those patients' mean and SD per AU; with
#: k = 1 that is the one patient's values, whoever may see them. 5 is the usual minimum cell size of
#: health-statistics disclosure rules. It is also where a z-score starts to mean something: below it the
#: SD rests on a handful of values (none at all with one visit) and a percentile takes a few coarse steps.
MIN_REFERENCE_PATIENTS: int = 5


def profile_means(features: pd.DataFrame, measures: str = "aus") -> pd.DataFrame:
    """The per-video means a profile compares (AU or emotion columns), indexed by ``video_id``."""
    return _means(features, measures)


def _means(features: pd.DataFrame, measures: str = "aus") -> pd.DataFrame:
    if measures == "emotions":
        columns = [c for c in EMOTIONS if c in features.columns and features[c].notna().any()]
    else:
        columns = [c for c in features.columns if c.startswith("AU") and "_" not in c]
    return features.set_index("video_id")[columns]


def cohort_profile(
    features: pd.DataFrame,
    video_ids: Sequence[str],
    mode: str,
    measures: str = "aus",
    reference: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each visit's AU means (or emotion means) against the reference visits.

    ``mode="z-score"``: ``(x - mean) / sd`` over the reference visits (sample
    SD, ddof = 1). ``mode="percentile"``: the share of reference visits at or
    below ``x`` (as :func:`scipy.stats.percentileofscore` with ``kind="weak"``).

    Parameters
    ----------
    features : DataFrame
        ``video_id`` and per-video feature columns, every visit the caller may use.
    video_ids : sequence of str
        The visits to place.
    mode : {"z-score", "percentile"}
    measures : {"aus", "emotions"}
    reference : sequence of str, optional
        The reference cohort's visits (default every row of ``features``);
        the visits of ``video_ids`` are never part of it.

    Returns
    -------
    DataFrame
        ``video_id, AU, mean, value`` for the visits of ``video_ids`` that have
        features; ``attrs["n_reference"]`` is the size of the reference (its
        visits with a value of at least one of the measures).

    Examples
    --------
    >>> import pandas as pd
    >>> features = pd.DataFrame({"video_id": ["a", "b", "c"], "AU12": [0.1, 0.2, 0.4]})
    >>> cohort_profile(features, ["c"], "z-score")[["video_id", "AU", "value"]]  # against a and b
      video_id    AU     value
    0        c  AU12  3.535534
    """
    if mode not in PROFILE_MODES:
        raise InputError(f"unknown profile mode {mode!r}; use one of {', '.join(PROFILE_MODES)}")
    if features.empty or "video_id" not in features:
        return pd.DataFrame(columns=["video_id", "AU", "mean", "value"])
    means = _means(features, measures)
    cohort_rows = means if reference is None else means.loc[means.index.isin(list(reference))]
    # A visit is never its own reference: it would pull its z-score towards 0.
    cohort_rows = cohort_rows.loc[~cohort_rows.index.isin(list(video_ids))]
    mine = means.loc[[v for v in video_ids if v in means.index]]
    rows = []
    for au in means.columns:
        cohort = cohort_rows[au].dropna().to_numpy()
        for video_id, value in mine[au].items():
            if mode == "z-score":
                sd = cohort.std(ddof=1) if cohort.size > 1 else np.nan
                score = (value - cohort.mean()) / sd if sd and np.isfinite(sd) and sd > 0 else np.nan
            else:
                known = cohort.size and np.isfinite(value)
                score = 100.0 * np.count_nonzero(cohort <= value) / cohort.size if known else np.nan
            rows.append({"video_id": video_id, "AU": au, "mean": value, "value": score})
    table = pd.DataFrame(rows, columns=["video_id", "AU", "mean", "value"])
    # Visits with none of the measures (emotions of a backend that has none) are no reference.
    table.attrs["n_reference"] = int(cohort_rows.notna().any(axis=1).sum())
    return table


def reference_visits(clinical: pd.DataFrame, video_ids: Sequence[str], source: str) -> pd.DataFrame:
    """The reference of a profile of ``video_ids``: the visits of ``source`` of every other patient.

    Every visit of a patient owning one of ``video_ids`` is left out, not only
    the profiled visits, so a patient is never compared with themselves.

    Examples
    --------
    >>> import pandas as pd
    >>> clinical = pd.DataFrame(
    ...     {"video_id": ["a1", "a2", "b1", "c1"], "patient_id": ["A", "A", "B", "C"], "synthetic": [0, 0, 0, 1]}
    ... )
    >>> reference_visits(clinical, ["a1"], "real")["video_id"].tolist()
    ['b1']
    """
    chosen, _ = select_source(clinical, source)
    own = set(clinical.loc[clinical["video_id"].isin(list(video_ids)), "patient_id"].dropna())
    keep = ~chosen["patient_id"].isin(own) & ~chosen["video_id"].isin(list(video_ids))
    return chosen[keep.to_numpy()]


def require_reference(
    features: pd.DataFrame,
    reference: pd.DataFrame,
    measures: str,
    source: str,
    known_patients: Collection[str] | None = None,
) -> None:
    """Refuse a reference of fewer than :data:`MIN_REFERENCE_PATIENTS` patients with values.

    Only visits with a value of at least one of the measures count. Real
    patients are counted on their own too: a reference of real and synthetic
    visits needs none or at least :data:`MIN_REFERENCE_PATIENTS` real
    patients, else comparing it with the synthetic visits alone would single
    out the few real ones. So are, when ``known_patients`` is given, the real
    patients the reader may not open: a clinician knows her own patients'
    means, so the reference less them must hold none or at least
    :data:`MIN_REFERENCE_PATIENTS` others.

    Parameters
    ----------
    features : DataFrame
        ``video_id`` and per-video feature columns.
    reference : DataFrame
        ``video_id, patient_id`` (and ``synthetic``) of the reference visits (:func:`reference_visits`).
    measures : {"aus", "emotions"}
    source : str
        The data source the reference was chosen from (a key of ``DATA_SOURCES``), named in the message.
    known_patients : collection of str, optional
        The patients the reader may open one by one (default: no such check).

    Raises
    ------
    TooFewVisitsError
        One line naming the reference's visits and patients and the minimum; ``n`` is the patients counted.

    Examples
    --------
    >>> import pandas as pd
    >>> features = pd.DataFrame({"video_id": ["b1", "b2"], "AU12": [0.1, 0.2]})
    >>> reference = pd.DataFrame({"video_id": ["b1", "b2"], "patient_id": ["B", "B"], "synthetic": [False, False]})
    >>> try:
    ...     require_reference(features, reference, "aus", "real")
    ... except TooFewVisitsError as exc:
    ...     print(exc.n, exc.needed, str(exc)[:70])
    1 5 the reference has 2 extracted visits of 1 other patient with AU values
    """
    measured = set(measured_visits(features, list(reference["video_id"]), measures))
    rows = reference[reference["video_id"].isin(measured).to_numpy()]
    patients = int(rows["patient_id"].nunique())
    synthetic = rows["synthetic"].fillna(False).astype(bool) if "synthetic" in rows else pd.Series(False, rows.index)
    real = int(rows.loc[~synthetic.to_numpy(), "patient_id"].nunique())
    what = "AU values" if measures == "aus" else "emotion values"
    held = (
        f"the reference has {count(len(rows), 'extracted visit')} of {count(patients, 'other patient')} with"
        f" {what} (the cohort's {DATA_SOURCES.get(source, source)})"
    )
    if patients < MIN_REFERENCE_PATIENTS:
        raise TooFewVisitsError(
            f"{held}; z-scores and percentiles need at least {MIN_REFERENCE_PATIENTS} other patients: fewer would"
            " give away those patients' values and mean little",
            n=patients,
            needed=MIN_REFERENCE_PATIENTS,
        )
    if 0 < real < MIN_REFERENCE_PATIENTS:
        raise TooFewVisitsError(
            f"{held}, of them {count(real, 'real patient')}; against real and synthetic visits z-scores and"
            f" percentiles need no real patient or at least {MIN_REFERENCE_PATIENTS}: fewer would give away those"
            " patients' values",
            n=real,
            needed=MIN_REFERENCE_PATIENTS,
        )
    if known_patients is not None:
        hidden = len(set(rows.loc[~synthetic.to_numpy(), "patient_id"]) - set(known_patients))
        if 0 < hidden < MIN_REFERENCE_PATIENTS:
            raise TooFewVisitsError(
                f"{held}, of them {count(hidden, 'real patient')} you may not open; z-scores and percentiles need"
                f" none such or at least {MIN_REFERENCE_PATIENTS}: fewer would give away those patients' values",
                n=hidden,
                needed=MIN_REFERENCE_PATIENTS,
            )


def measured_visits(features: pd.DataFrame, video_ids: Sequence[str], measures: str = "aus") -> list[str]:
    """The visits of ``video_ids``, in their order, that have a value of at least one of the measures.

    A visit whose extraction found no (patient) face in any frame has features
    but no AU mean: it is no reference visit (:func:`cohort_profile`) and has
    nothing to compare between visits (:func:`visit_change`).

    Examples
    --------
    >>> import pandas as pd
    >>> features = pd.DataFrame({"video_id": ["a", "b", "c"], "AU12": [0.1, None, 0.3]})
    >>> measured_visits(features, ["c", "b", "a", "x"])
    ['c', 'a']
    """
    if features.empty or "video_id" not in features:
        return []
    means = _means(features, measures)
    measured = set(means.index[means.notna().any(axis=1)])
    return [v for v in video_ids if v in measured]


def visit_change(features: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    """``AU, change``: last visit's AU mean minus the first's."""
    means = _means(features)
    change = (means.loc[last] - means.loc[first]).rename("change")
    return change.rename_axis("AU").reset_index()
