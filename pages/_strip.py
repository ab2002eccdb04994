"""The timeline strip: face presence and chosen AU traces on the video's time axis, with a brush."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

#: Most points drawn per AU trace; longer series are averaged into this many time bins.
MAX_POINTS = 1500


def downsample(frames: pd.DataFrame, columns: Sequence[str], max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Mean of ``columns`` (and face share) in at most ``max_points`` equal time bins.

    Drawing 50,000 points per trace makes the browser slow and shows nothing
    more at strip width; bin means keep the shape of the trace.
    """
    keep = ["timestamp", "face", *columns]
    data = frames[keep].copy()
    data["face"] = data["face"].astype(float)
    if len(data) <= max_points:
        return data
    edges = np.linspace(data["timestamp"].min(), data["timestamp"].max(), max_points + 1)
    bins = np.clip(np.searchsorted(edges, data["timestamp"], side="right") - 1, 0, max_points - 1)
    return data.groupby(bins).mean()


def strip_chart(frames: pd.DataFrame, aus: Sequence[str], segments: pd.DataFrame, duration: float) -> alt.LayerChart:
    """Face presence band, AU lines and segment shading on one x axis (seconds), with brush ``seg``."""
    brush = alt.selection_interval(encodings=["x"], name="seg")
    x = alt.X("timestamp:Q", title="time (s)", scale=alt.Scale(domain=[0, duration], nice=False))
    layers = []
    if not segments.empty:
        layers.append(
            alt.Chart(segments[["start_s", "end_s", "label"]])
            .mark_rect(opacity=0.15, color="#8e44ad")
            .encode(
                x=alt.X("start_s:Q", scale=alt.Scale(domain=[0, duration], nice=False)),
                x2="end_s:Q",
                tooltip=["label", "start_s", "end_s"],
            )
        )
    if frames.empty:
        base = pd.DataFrame({"timestamp": [0.0, duration], "value": [np.nan, np.nan], "AU": ["", ""]})
        layers.append(
            alt.Chart(base)
            .mark_line()
            .encode(x=x, y=alt.Y("value:Q", title="AU value", scale=alt.Scale(domain=[0, 1])))
        )
    else:
        binned = downsample(frames, list(aus))
        long = binned.melt(id_vars=["timestamp"], value_vars=list(aus), var_name="AU", value_name="value")
        layers.append(
            alt.Chart(binned)
            .mark_area(opacity=0.25, color="#27ae60", interpolate="step-after")
            .encode(
                x=x,
                y=alt.Y("face:Q", title="AU value / face present", scale=alt.Scale(domain=[0, 1])),
                tooltip=[alt.Tooltip("timestamp:Q", format=".1f"), alt.Tooltip("face:Q", format=".2f")],
            )
        )
        if list(aus):
            layers.append(
                alt.Chart(long)
                .mark_line(strokeWidth=1.2)
                .encode(
                    x=x,
                    y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])),
                    color=alt.Color("AU:N"),
                    tooltip=["AU", alt.Tooltip("timestamp:Q", format=".1f"), alt.Tooltip("value:Q", format=".3f")],
                )
            )
    layers[-1] = layers[-1].add_params(brush)
    return alt.layer(*layers).properties(height=220, title="Face present (green) and AU traces; segments shaded")
