"""Patient-profile helpers: a visit against the cohort, change between visits, the scalogram chart."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
from scipy import stats

#: Emotion columns some backends add to the per-frame table (py-feat's names).
EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
#: Most time columns drawn in a scalogram; longer ones are averaged into bins.
MAX_SCALOGRAM_COLUMNS = 240


def _au_means(features: pd.DataFrame, measures: str = "aus") -> pd.DataFrame:
    if measures == "emotions":
        columns = [c for c in EMOTIONS if c in features.columns and features[c].notna().any()]
    else:
        columns = [c for c in features.columns if c.startswith("AU") and "_" not in c]
    return features.set_index("video_id")[columns]


def cohort_profile(features: pd.DataFrame, video_ids: Sequence[str], mode: str, measures: str = "aus") -> pd.DataFrame:
    """Each visit's AU means (or, with ``measures="emotions"``, emotion means) against every visit in ``features``.

    ``mode="z-score"``: ``(x - mean) / sd`` over the cohort's visits (sample
    SD, ddof = 1). ``mode="percentile"``: the share of cohort visits at or
    below ``x`` (:func:`scipy.stats.percentileofscore`, ``kind="weak"``).

    Returns
    -------
    DataFrame
        ``video_id, AU, mean, value`` for the visits of ``video_ids`` that have features.
    """
    if features.empty or "video_id" not in features:
        return pd.DataFrame(columns=["video_id", "AU", "mean", "value"])
    means = _au_means(features, measures)
    mine = means.loc[[v for v in video_ids if v in means.index]]
    rows = []
    for au in means.columns:
        cohort = means[au].dropna().to_numpy()
        for video_id, value in mine[au].items():
            if mode == "z-score":
                sd = cohort.std(ddof=1) if cohort.size > 1 else np.nan
                score = (value - cohort.mean()) / sd if sd and np.isfinite(sd) and sd > 0 else np.nan
            else:
                score = stats.percentileofscore(cohort, value, kind="weak") if cohort.size else np.nan
            rows.append({"video_id": video_id, "AU": au, "mean": value, "value": score})
    return pd.DataFrame(rows)


def visit_change(features: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    """``AU, change``: last visit's AU mean minus the first's."""
    means = _au_means(features)
    change = (means.loc[last] - means.loc[first]).rename("change")
    return change.rename_axis("AU").reset_index()


def scalogram_chart(image) -> alt.Chart:
    """Scale x time heatmap of a :class:`facs_core.wavelets.Scalogram`, time averaged into bins."""
    modulus = image.modulus
    times = image.times
    n = modulus.shape[1]
    step = max(1, int(np.ceil(n / MAX_SCALOGRAM_COLUMNS)))
    columns = int(np.ceil(n / step))
    padded = np.full((modulus.shape[0], columns * step), np.nan)
    padded[:, :n] = modulus
    with warnings.catch_warnings():
        # Bins wholly inside a face gap are NaN on purpose.
        warnings.simplefilter("ignore", RuntimeWarning)
        binned = np.nanmean(padded.reshape(modulus.shape[0], columns, step), axis=2)
    starts = times[::step][:columns]
    width = float(np.nanmedian(np.diff(times))) * step if n > 1 else 1.0
    period = image.periods_s
    half = np.diff(period, prepend=period[0] - (period[1] - period[0] if period.size > 1 else 1.0)) / 2
    data = pd.DataFrame(
        {
            "t0": np.tile(starts, period.size),
            "t1": np.tile(starts + width, period.size),
            "p0": np.repeat(period - half, columns),
            "p1": np.repeat(period + half, columns),
            "period_s": np.repeat(period, columns),
            "value": binned.ravel(),
        }
    ).dropna(subset=["value"])
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("t0:Q", title="time (s)"),
            x2="t1:Q",
            y=alt.Y("p0:Q", title="period (s)"),
            y2="p1:Q",
            color=alt.Color("value:Q", title="|W|", scale=alt.Scale(scheme="viridis")),
            tooltip=[
                alt.Tooltip("t0:Q", format=".1f", title="time (s)"),
                alt.Tooltip("period_s:Q", format=".2f"),
                alt.Tooltip("value:Q", format=".4f"),
            ],
        )
        .properties(height=280, title=f"Scalogram of {image.au} (wavelet modulus, scale × time)")
    )
