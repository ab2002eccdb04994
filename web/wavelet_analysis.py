"""Glue between the significance-map page and the analysis engine: caching and the heatmap.

Every number comes from :func:`facs_core.services.analysis.significance_map`
(which ``python -m facs_core stats scalogram --from-store`` also runs): the AU x
period map, each video at its own frame rate, with the correction over all
cells or within each AU as chosen. This module caches it per store state
and draws it.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core.labels import score_label
from facs_core.reference import action_units
from facs_core.services import analysis, visibility
from facs_core.wavelets import AssociationParams
from web import common
from web.formatting import count, p_value

__all__ = [
    "EMPTY_COLOUR",
    "MAX_PAGE_PERIODS",
    "PERIOD_SPACINGS",
    "cell_values",
    "chart_caption",
    "empty_cells_note",
    "frame_rates",
    "heatmap",
    "log_ticks",
    "map_result",
    "period_params",
    "rate_params",
    "scope_words",
    "step_spec",
    "unresolved_note",
    "warm",
]

#: The forms ``--periods`` takes, as the page offers them.
PERIOD_SPACINGS = {
    "log": "log-spaced from shortest to longest",
    "step": "a fixed step from shortest to longest",
    "list": "listed periods",
}

#: Most periods one map on the page computes (the log-spaced count's maximum); the command line has no limit.
MAX_PAGE_PERIODS = 200

#: Fill of a cell without r (no video could be analysed there): grey, apart from the red-blue scale of r.
EMPTY_COLOUR = "#d0d0d0"


@st.cache_data(show_spinner=False, max_entries=16)
def map_result(
    data_dir: str,
    version: str,
    viewer: visibility.Viewer,
    association: AssociationParams,
    params: analysis.MapParams,
    choice: analysis.CohortChoice,
) -> pd.DataFrame:
    """:func:`facs_core.services.analysis.significance_map`, cached per store state and options."""
    del data_dir, version
    return analysis.significance_map(common.catalog(), viewer, association, params, choice)


def warm(data_dir: str) -> None:
    """Compute (into the disk cache) the default map's features of every extracted video.

    Run by the app's background thread, so the significance map does not
    pay for new videos when a researcher opens it.
    """
    del data_dir
    analysis.warm_features(common.catalog())


def frame_rates(runs: pd.DataFrame) -> dict[float, int]:
    """The frame rates of the extracted visits (as the frames-at-one-rate map groups them) and how many each."""
    counts = runs["fps"].dropna().astype(float).map(analysis.rate_of).value_counts()
    return {float(rate): int(n) for rate, n in counts.sort_values(ascending=False, kind="stable").items()}


def rate_params(fps: float, scales_text: str, options: dict[str, object]) -> analysis.MapParams:
    """The frames-at-one-rate map's parameters, ``--fps FPS --scales SCALES`` read as the command line reads them."""
    from facs_core.cli.options import parse_scales

    spec = scales_text.strip()
    return analysis.MapParams.at_rate(fps, tuple(parse_scales(spec)), spec, **options)


def cell_values(result: pd.DataFrame, score: str, au: str, period: float, scale: float | None = None) -> pd.DataFrame:
    """One cell's per-visit feature against the score: ``video_id, patient_id, score, value``.

    The cell is named by its period, or by its scale in the frames-at-one-rate map.
    """
    features = result.attrs["features"]
    column = features.column(au, period if scale is None or pd.isna(scale) else scale)
    wide = features.wide()[[column]].rename(columns={column: "value"}).reset_index()
    clinical = result.attrs["clinical"]
    table = wide.merge(clinical[["video_id", "patient_id", score]], on="video_id").dropna(subset=["value", score])
    table.attrs = {}
    return table


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks 1, 2, 5 times powers of ten from ``low`` to ``high``, so a log axis names only values in the map.

    The cells reach half a step beyond the first and last value; ticks there
    (a scale of 0.8 on a map of scales 1-6) would name values nobody chose.

    Examples
    --------
    >>> log_ticks(0.2, 10)
    [0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    >>> log_ticks(1, 6)
    [1.0, 2.0, 5.0]
    >>> log_ticks(0.3, 0.45)  # no such value between: the ends
    [0.3, 0.45]
    """
    ticks = []
    for power in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            tick = float(f"{mantissa}e{power}")
            if low * (1 - 1e-9) <= tick <= high * (1 + 1e-9):
                ticks.append(tick)
    return ticks or sorted({float(low), float(high)})


def heatmap(table: pd.DataFrame, score: str, fps: float | None = None) -> alt.Chart:
    """AU x period heatmap of r, faded where not significant, grey where empty.

    The x axis is the period in seconds (log), or, for the frames-at-one-rate
    map (``fps`` given), the scale in frames at that rate (log), as the
    command line's table lists it. A cell without r (every video left out:
    the period is below two frames, or shorter series than the wavelet
    support) is drawn grey.
    """
    axis = "period_s" if fps is None else "scale"
    values = np.sort(table[axis].unique())
    # Each cell spans half way (in log) to its neighbours.
    logs = np.log(values)
    step = np.diff(logs) if logs.size > 1 else np.array([0.1])
    edges = np.exp(np.concatenate(([logs[0] - step[0] / 2], logs[:-1] + step / 2, [logs[-1] + step[-1] / 2])))
    bounds = pd.DataFrame({axis: values, "p0": edges[:-1], "p1": edges[1:]})
    data = table.merge(bounds, on=axis)
    data.attrs = {}  # the engine's provenance and inputs stay out of the chart's data
    data["survives"] = data["significant"].fillna(False).astype(bool)
    data["empty"] = data["r"].isna()
    # The colour's own column, never missing: Vega-Lite would drop a row without it, or colour it as r = 0.
    data["r_colour"] = data["r"].fillna(0.0)
    data["why_empty"] = data["reason"].where(data["empty"], "").fillna("")
    data["adjusted_p"] = data["p_fdr"].map(p_value)
    name = score_label(score)
    axis_name = "period" if fps is None else "scale"
    limit = float(np.nanmax(np.abs(data["r"]))) if data["r"].notna().any() else 1.0
    cell = alt.selection_point(fields=["au", "period_s"], name="cell", on="click")
    where = [alt.Tooltip("period_s:Q", format=".2f", title="period (s)")]
    if fps is not None:
        where.insert(0, alt.Tooltip("scale:Q", format="g", title=f"scale (frames at {fps:g} fps)"))
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "p0:Q",
                title="period (seconds)" if fps is None else f"scale (frames at {fps:g} fps)",
                scale=alt.Scale(type="log", domain=[float(edges[0]), float(edges[-1])], nice=False),
                axis=alt.Axis(values=log_ticks(float(values[0]), float(values[-1]))),
            ),
            x2="p1:Q",
            y=alt.Y("au:N", sort=list(action_units()), title=None),
            color=alt.condition(
                "!datum.empty",
                alt.Color(
                    "r_colour:Q",
                    title=f"partial r with {name}",
                    scale=alt.Scale(scheme="redblue", domain=[-limit, limit], reverse=True),
                ),
                alt.value(EMPTY_COLOUR),
            ),
            opacity=alt.condition("datum.survives || datum.empty", alt.value(1.0), alt.value(0.25)),
            stroke=alt.condition(cell, alt.value("black"), alt.value(None), empty=False),
            tooltip=[
                "au",
                *where,
                alt.Tooltip("r:Q", format=".3f"),
                alt.Tooltip("adjusted_p:N", title="p (adjusted)"),
                "n",
                "survives",
                alt.Tooltip("why_empty:N", title="empty because"),
            ],
        )
        .add_params(cell)
        .properties(height=alt.Step(22), title=f"AU × {axis_name} partial correlations with {name}")
    )


def scope_words(scope: str, by_period: bool | None = None) -> str:
    """The correction's family in words: every cell of the map (AU x period, or AU x scale in frames), or each AU's.

    ``by_period`` None names no axis (the form's choice, drawn before the axis is chosen).
    """
    if scope == "au":
        return "within each AU"
    return (
        "over all cells of the map"
        if by_period is None
        else f"over all AU × {'period' if by_period else 'scale'} cells"
    )


def chart_caption(fps: float | None = None) -> str:
    """What the heatmap's shades and axis mean, under it."""
    axis = (
        "Period axis in seconds (log)."
        if fps is None
        else f"Scale axis in frames at {fps:g} fps (log); each cell's period in seconds is in its tooltip."
    )
    return f"Faded cells do not survive the correction; grey cells are empty (no video could be analysed there). {axis}"


def empty_cells_note(table: pd.DataFrame) -> str | None:
    """A sentence on the map's empty cells (no r) and their commonest reason, or None when there are none.

    Cells emptied because a frame rate cannot resolve their period
    (``n_unresolved``) are left to :func:`unresolved_note`, which says why
    in words; ``reason`` (:func:`facs_core.wavelets.associate_scales`' column,
    e.g. "36 videos left out: shorter than the wavelet support ...") names
    the others' commonest cause.

    Examples
    --------
    >>> table = pd.DataFrame({"r": [np.nan, np.nan, 0.2, np.nan], "n_unresolved": [0, 0, 0, 5],
    ...                       "reason": ["3 videos left out: no valid frames"] * 2 + ["", "unresolved"]})
    >>> empty_cells_note(table)
    '2 cells are empty (no r, drawn grey); in each, 3 videos left out: no valid frames.'
    >>> empty_cells_note(table.iloc[2:]) is None
    True
    """
    empty = table["r"].isna() & (table["n_unresolved"] == 0)
    if not empty.any():
        return None
    n_empty = int(empty.sum())
    head = f"{count(n_empty, 'cell')} {'is' if n_empty == 1 else 'are'} empty (no r, drawn grey)"
    reasons = table.loc[empty, "reason"].astype(str)
    reasons = reasons[reasons != ""]
    if reasons.empty:
        return head + "."
    commonest = reasons.mode().iloc[0]
    with_it = int((reasons == commonest).sum())
    where = "in each" if with_it == n_empty else f"in {with_it} of them"
    return f"{head}; {where}, {commonest}."


def unresolved_note(table: pd.DataFrame, fps: float | None = None) -> str | None:
    """A sentence on the cells some videos' frame rate cannot resolve (``n_unresolved``), or None when there are none.

    With scales in frames at one rate (``fps``) every video shares the rate,
    so such a scale's cells are empty; the note names those scales and the
    shortest period the rate resolves (two frames).
    """
    unresolved = table[table["n_unresolved"] > 0]
    if unresolved.empty:
        return None
    if fps is None:
        return (
            f"Periods up to {unresolved['period_s'].max():.2g} s are shorter than two frames of some videos: those"
            " videos are left out of those cells (n_unresolved), never computed on aliased data."
        )
    scales = np.sort(unresolved["scale"].unique())
    named = ", ".join(f"{s:g}" for s in scales[:4]) + (f" and {len(scales) - 4} more" if len(scales) > 4 else "")
    return (
        f"{'Scale' if len(scales) == 1 else 'Scales'} {named} {'is' if len(scales) == 1 else 'are'} below two"
        f" frames (periods under {2 / fps:.2g} s): {fps:g} fps cannot resolve {'it' if len(scales) == 1 else 'them'},"
        " so no video is analysed there and those cells are empty (grey), never computed on aliased data."
        " Start the scales at 2 frames or more to leave them out."
    )


def step_spec(shortest: float, longest: float, step: float) -> str:
    """``--periods SHORTEST-LONGEST:STEP`` as text that reads back as the same numbers.

    Examples
    --------
    >>> step_spec(0.2, 10.0, 0.1)
    '0.2-10:0.1'
    """
    return f"{_shortest_text(shortest)}-{_shortest_text(longest)}:{_shortest_text(step)}"


def _shortest_text(value: float) -> str:
    return np.format_float_positional(float(value), trim="-")


def period_params(spec: str, options: dict[str, object]) -> analysis.MapParams:
    """The rate-free map's parameters for a step or list of periods, ``--periods SPEC`` read as the command line does.

    A one-line :class:`~facs_core.errors.InputError` when the text is not
    periods, or names more than :data:`MAX_PAGE_PERIODS` of them.
    """
    from facs_core.cli.options import parse_periods
    from facs_core.errors import InputError

    text = spec.strip()
    periods = parse_periods(text)
    if periods.size > MAX_PAGE_PERIODS:
        raise InputError(
            f"periods {text!r} are {periods.size} periods; the page maps at most {MAX_PAGE_PERIODS}"
            " (a larger step, or the command line)"
        )
    return analysis.MapParams(periods=tuple(periods), periods_spec=text, period_count=None, **options)
