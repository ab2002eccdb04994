"""A visit's AU (or emotion) means against a reference cohort: z-scores, percentiles, change between visits.

The reference is the cohort the caller passes (the service chooses it by the
same data-source filter as every other statistic), never a clinical norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facs_core.errors import InputError
from facs_core.stats.cohort import EMOTIONS

__all__ = [
    "MEASURES",
    "MIN_REFERENCE",
    "PROFILE_MODES",
    "cohort_profile",
    "measured_visits",
    "profile_means",
    "visit_change",
]

#: How a visit is compared with the cohort.
PROFILE_MODES: tuple[str, ...] = ("z-score", "percentile")
#: What is compared: the AU means or py-feat's emotion means.
MEASURES: tuple[str, ...] = ("aus", "emotions")
#: Fewest reference visits a profile is worth reading against: with fewer, a z-score rests on an SD of a
#: handful of values (none at all with one visit) and a percentile takes only a few coarse steps (0 or 100
#: against one visit), so the caller says the reference is too small.
MIN_REFERENCE: int = 5


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
        The reference cohort's visits (default every row of ``features``).

    Returns
    -------
    DataFrame
        ``video_id, AU, mean, value`` for the visits of ``video_ids`` that have
        features; ``attrs["n_reference"]`` is the size of the reference (its
        visits with a value of at least one of the measures).

    Examples
    --------
    >>> import pandas as pd
    >>> features = pd.DataFrame({"video_id": ["a", "b", "c"], "AU12": [0.1, 0.2, 0.3]})
    >>> cohort_profile(features, ["c"], "z-score")[["video_id", "AU", "value"]]
      video_id    AU  value
    0        c  AU12    1.0
    """
    if mode not in PROFILE_MODES:
        raise InputError(f"unknown profile mode {mode!r}; use one of {', '.join(PROFILE_MODES)}")
    if features.empty or "video_id" not in features:
        return pd.DataFrame(columns=["video_id", "AU", "mean", "value"])
    means = _means(features, measures)
    cohort_rows = means if reference is None else means.loc[means.index.isin(list(reference))]
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
