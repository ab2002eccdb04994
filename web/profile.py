"""Patient-profile helpers: the scalogram chart and the cached profile against the cohort."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core.services import analysis
from facs_core.stats.cohort import EMOTIONS
from web import common

__all__ = ["EMOTIONS", "MAX_SCALOGRAM_COLUMNS", "profile_against_cohort", "scalogram_chart"]

#: Most time columns drawn in a scalogram; longer ones are averaged into bins.
MAX_SCALOGRAM_COLUMNS = 240


@st.cache_data(show_spinner=False, max_entries=64)
def profile_against_cohort(
    data_dir: str, version: str, video_ids: tuple[str, ...], mode: str, measures: str, source: str
) -> pd.DataFrame:
    """:func:`facs_core.services.analysis.patient_profile`, cached per store state."""
    del data_dir, version
    return analysis.patient_profile(common.catalog(), list(video_ids), mode, measures, source)


def scalogram_chart(image) -> alt.Chart:
    """Scale x time heatmap of a :class:`facs_core.wavelets.Scalogram`, time averaged into bins."""
    binned, starts, width = image.binned(MAX_SCALOGRAM_COLUMNS)
    columns = binned.shape[1]
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
