"""The timeline strip: face presence, chosen AU traces, and where the patient's face is missing, with a brush."""

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


#: Labels of the spans without the patient's face, and their colours.
MISSING_LABELS = {"other_face": "other face", "no_face": "no patient face"}
_MISSING_COLOURS = ["#e67e22", "#7f8c8d"]


def missing_spans(frames: pd.DataFrame, max_spans: int = MAX_POINTS) -> pd.DataFrame:
    """Runs of frames without the patient's face: ``start_s``, ``end_s``, ``status``.

    ``status`` is ``other face`` (only another person's face was seen) or
    ``no patient face`` (no face at all). A run ends where the next frame
    starts. With more runs than ``max_spans`` the frames are first put into
    ``max_spans`` equal time bins, each taking its most common state.
    """
    empty = pd.DataFrame({"start_s": [], "end_s": [], "status": []})
    if frames.empty:
        return empty
    data = frames.sort_values("timestamp")
    face = data["face"].fillna(False).astype(bool).to_numpy()
    other = (
        (data["face_status"].astype(str) == "other_face").to_numpy()
        if "face_status" in data.columns
        else np.zeros(len(data), bool)
    )
    state = np.where(face, "", np.where(other, MISSING_LABELS["other_face"], MISSING_LABELS["no_face"]))
    time = data["timestamp"].to_numpy(float)
    step = float(np.median(np.diff(time))) if len(time) > 1 else 0.0
    ends = np.append(time[1:], time[-1] + step)
    change = np.flatnonzero(state[1:] != state[:-1]) + 1
    if len(change) > 2 * max_spans:
        edges = np.linspace(time[0], ends[-1], max_spans + 1)
        bins = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, max_spans - 1)
        binned = pd.Series(state).groupby(bins).agg(lambda s: s.value_counts().idxmax())
        state, time, ends = binned.to_numpy(), edges[binned.index], edges[binned.index + 1]
        change = np.flatnonzero(state[1:] != state[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(state)]])
    spans = pd.DataFrame({"start_s": time[starts], "end_s": ends[stops - 1], "status": state[starts]})
    return spans[spans["status"] != ""].reset_index(drop=True) if len(spans) else empty


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
        spans = missing_spans(frames)
        if not spans.empty:
            layers.append(
                alt.Chart(spans)
                .mark_rect(opacity=0.8)
                .encode(
                    x=alt.X("start_s:Q", scale=alt.Scale(domain=[0, duration], nice=False)),
                    x2="end_s:Q",
                    y=alt.value(206),
                    y2=alt.value(220),
                    color=alt.Color(
                        "status:N",
                        title="patient's face",
                        scale=alt.Scale(domain=list(MISSING_LABELS.values()), range=_MISSING_COLOURS),
                    ),
                    tooltip=["status", alt.Tooltip("start_s:Q", format=".2f"), alt.Tooltip("end_s:Q", format=".2f")],
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
    return alt.layer(*layers).properties(
        height=220,
        title="Patient's face present (green), AU traces, segments shaded; bottom band: other face / no patient face",
    )
