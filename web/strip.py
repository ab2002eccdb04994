"""The timeline strip: face presence, chosen AU traces, and where the patient's face is missing, with a brush."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from web.formatting import seconds_span

#: Most points drawn per AU trace; longer series are averaged into this many time bins.
MAX_POINTS = 1500
#: Two analysed frames further apart than this many usual frame steps have unanalysed time between them.
GAP_STEPS = 1.5
#: Label of the time no frame was analysed in (outside the segments of a segment-only run, dropped frames).
NOT_ANALYSED_LABEL = "not analysed"


def frame_step(times: np.ndarray) -> float:
    """The usual time (s) between analysed frames: the median spacing; 0 for fewer than two frames."""
    times = np.sort(np.asarray(times, dtype=float))
    return float(np.median(np.diff(times))) if len(times) > 1 else 0.0


def gap_after(frames: pd.DataFrame) -> np.ndarray:
    """For ``frames`` sorted by time: whether no frame was analysed between each frame and the next (length n - 1).

    A gap is a spacing over :data:`GAP_STEPS` usual spacings: the time
    between the segments of a segment-only run, or frames that are missing.
    Counted in frame numbers where the table has them (``frame``), so a
    variable-frame-rate video's uneven frame times are no gaps; otherwise in
    seconds (:func:`frame_step`).
    """
    if len(frames) < 2:
        return np.zeros(0, bool)
    if "frame" in frames.columns and frames["frame"].notna().all():
        spacing = np.diff(frames["frame"].to_numpy(float))
    else:
        spacing = np.diff(frames["timestamp"].to_numpy(float))
    usual = float(np.median(spacing))
    return spacing > GAP_STEPS * usual if usual > 0 else np.zeros(len(spacing), bool)


def analysed_gaps(frames: pd.DataFrame) -> np.ndarray:
    """Where no frame was analysed between two that were: rows ``[last analysed, next analysed]`` (s).

    The gaps of :func:`gap_after`. Lines must not be drawn across them, nor
    face states stretched over them.
    """
    ordered = frames.sort_values("timestamp", kind="stable")
    times = ordered["timestamp"].to_numpy(float)
    wide = np.flatnonzero(gap_after(ordered))
    return np.column_stack([times[wide], times[wide + 1]]) if len(wide) else np.empty((0, 2))


def break_at_gaps(binned: pd.DataFrame, gaps: np.ndarray) -> pd.DataFrame:
    """``binned`` (sorted by time) with a row of missing values in the middle of each gap, so lines break there."""
    if not len(gaps):
        return binned
    holes = pd.DataFrame({"timestamp": (gaps[:, 0] + gaps[:, 1]) / 2})
    for column in binned.columns:
        if column != "timestamp":
            holes[column] = np.nan
    joined = pd.concat([binned.reset_index(drop=True), holes], ignore_index=True)
    return joined.sort_values("timestamp", kind="stable").reset_index(drop=True)


def downsample(frames: pd.DataFrame, columns: Sequence[str], max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Mean of ``columns`` (and face share) in at most ``max_points`` equal time bins, sorted by time.

    Drawing 50,000 points per trace makes the browser slow and shows nothing
    more at strip width; bin means keep the shape of the trace. Where no
    frame was analysed (:func:`analysed_gaps`) a row of missing values is
    put in, so a line drawn from the table breaks there instead of inventing
    a straight line across time nobody measured.
    """
    gaps = analysed_gaps(frames)
    keep = ["timestamp", "face", *columns]
    data = frames[keep].copy().sort_values("timestamp", kind="stable")
    data["face"] = data["face"].astype(float)
    if len(data) > max_points:
        edges = np.linspace(data["timestamp"].min(), data["timestamp"].max(), max_points + 1)
        bins = np.clip(np.searchsorted(edges, data["timestamp"], side="right") - 1, 0, max_points - 1)
        data = data.groupby(bins).mean()
    return break_at_gaps(data, gaps)


#: Colours of the AU traces, in the order chosen (the synced timeline uses the same).
AU_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
#: Label of the spans where the patient's face was measured.
PRESENT_LABEL = "patient face"
#: Labels of the spans without the patient's face, and their colours.
MISSING_LABELS = {"other_face": "other face", "no_face": "no patient face"}
_MISSING_COLOURS = ["#e67e22", "#7f8c8d"]


def face_spans(frames: pd.DataFrame, max_spans: int = MAX_POINTS) -> pd.DataFrame:
    """Runs of one face state: ``start_s``, ``end_s``, ``status``.

    ``status`` is ``patient face`` (the patient's face was measured), ``other
    face`` (only another person's face was seen) or ``no patient face`` (no
    face at all). A run ends where the next frame starts, or one usual frame
    step after its last frame where no frame was analysed next
    (:func:`analysed_gaps`): that time belongs to no state (:func:`unanalysed_spans`).
    With more runs than ``max_spans`` the frames are first put into
    ``max_spans`` equal time bins, each taking its most common state (bins
    without a frame stay empty).
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
    state = np.where(
        face, PRESENT_LABEL, np.where(other, MISSING_LABELS["other_face"], MISSING_LABELS["no_face"])
    ).astype(object)
    time = data["timestamp"].to_numpy(float)
    step = frame_step(time)
    ends = np.append(time[1:], time[-1] + step)
    # Before a gap a frame lasts one usual step, not until the next analysed frame.
    gap = gap_after(data)
    ends[:-1][gap] = time[:-1][gap] + step
    broken = np.append(gap, False)
    change = np.flatnonzero((state[1:] != state[:-1]) | broken[:-1]) + 1
    if len(change) > 2 * max_spans:
        edges = np.linspace(time[0], ends[-1], max_spans + 1)
        bins = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, max_spans - 1)
        binned = pd.Series(state).groupby(bins).agg(lambda s: s.value_counts().idxmax())
        state, time, ends = binned.to_numpy(), edges[binned.index], edges[binned.index + 1]
        # A bin without frames breaks the run like a gap.
        broken = np.append(np.diff(binned.index.to_numpy()) > 1, False)
        change = np.flatnonzero((state[1:] != state[:-1]) | broken[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(state)]])
    return pd.DataFrame({"start_s": time[starts], "end_s": ends[stops - 1], "status": state[starts]})


def unanalysed_spans(frames: pd.DataFrame, duration: float) -> pd.DataFrame:
    """Stretches of ``0..duration`` s no face state covers (:func:`face_spans`): ``start_s``, ``end_s``.

    Before the first analysed frame, after the last one, and in every gap
    between them: the time the run did not analyse. The whole video when
    there are no frames.
    """
    covered = face_spans(frames)[["start_s", "end_s"]].to_numpy(float) if not frames.empty else np.empty((0, 2))
    starts, ends, cursor = [], [], 0.0
    for start, end in covered:
        if start > cursor + 1e-9:
            starts.append(cursor)
            ends.append(min(start, duration))
        cursor = max(cursor, end)
    if duration > cursor + 1e-9:
        starts.append(cursor)
        ends.append(duration)
    spans = pd.DataFrame({"start_s": starts, "end_s": ends}, dtype=float)
    return spans[spans["end_s"] > spans["start_s"]].reset_index(drop=True)


def missing_spans(frames: pd.DataFrame, max_spans: int = MAX_POINTS) -> pd.DataFrame:
    """Runs of frames without the patient's face: ``start_s``, ``end_s``, ``status``.

    The :func:`face_spans` whose ``status`` is ``other face`` or ``no patient face``.
    """
    spans = face_spans(frames, max_spans)
    return spans[spans["status"] != PRESENT_LABEL].reset_index(drop=True)


def _spans_text(spans: pd.DataFrame, most: int = 3) -> str:
    """``"0-3.9 s, 10-12 s and 2 more"``: the first ``most`` passages of ``spans``, then how many more.

    In seconds throughout, as the strip's time axis reads (not minutes:seconds past the first minute).
    """
    shown = [seconds_span(a, b) for a, b in zip(spans["start_s"], spans["end_s"], strict=True)][:most]
    more = len(spans) - len(shown)
    if more:
        return ", ".join(shown) + f" and {more} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def strip_notes(frames: pd.DataFrame, aus: Sequence[str]) -> list[str]:
    """Sentences saying why the strip (or the timeline) is empty or broken where it is.

    A chart is never empty without a sentence saying why: no AU chosen, a
    chosen AU without a value in this video, and the passages with no face
    (or only another person's), where the rows show it and the AU traces
    break. Nothing when the video has no analysed frames (the page says it
    is not extracted yet).
    """
    if frames.empty:
        return []
    notes = []
    chosen = list(aus)
    if not chosen:
        notes.append(
            "No AU chosen: the timeline shows face presence and segments only; choose AUs above to draw their traces."
        )
    blank = [au for au in chosen if au not in frames.columns or frames[au].isna().all()]
    if blank:
        names = ", ".join(blank)
        notes.append(
            f"{names} {'has' if len(blank) == 1 else 'have'} no value in any frame of this video (not measured by"
            f" its backend, or no face): {'its trace is' if len(blank) == 1 else 'their traces are'} empty."
        )
    spans = missing_spans(frames)
    for status, what in (
        (MISSING_LABELS["no_face"], "No face in these frames"),
        (MISSING_LABELS["other_face"], "Only another person's face in these frames"),
    ):
        these = spans[spans["status"] == status]
        if len(these):
            notes.append(
                f"{what}: {_spans_text(these)} (row “{status}”); the AU traces are empty there, since AUs"
                " are measured on the patient's face only."
            )
    return notes


def span_label(start_s: float, end_s: float) -> str:
    """``"0.5-1.5 s"``, ``"12-14 s"``, ``"0.50-1.25 s"``, ``"1:01.5-1:05.0"``: a passage as people read it.

    The fewest decimals (0, 1 or 2) that show both ends exactly, otherwise 2
    (a frame-aligned time such as 2.5025 s reads 2.50). From a minute on,
    times read as minutes:seconds.
    """
    start, end = float(start_s), float(end_s)
    decimals = next((d for d in (0, 1, 2) if all(abs(round(v, d) - v) < 1e-9 for v in (start, end))), 2)
    if max(start, end) < 60:
        return f"{start:.{decimals}f}-{end:.{decimals}f} s"

    def clock(value: float) -> str:
        minutes, seconds = divmod(round(value, decimals), 60)
        width = 3 + decimals if decimals else 2
        return f"{int(minutes)}:{seconds:0{width}.{decimals}f}"

    return f"{clock(start)}-{clock(end)}"


#: Rows under the AU traces (y in AU units, traces use 0..1): face, other face, no face, segments.
_ROWS = {
    PRESENT_LABEL: (-0.1, -0.03),
    MISSING_LABELS["other_face"]: (-0.2, -0.13),
    MISSING_LABELS["no_face"]: (-0.3, -0.23),
    "segments": (-0.48, -0.34),
}
_ROW_COLOURS = {PRESENT_LABEL: "#27ae60", MISSING_LABELS["other_face"]: "#e67e22", MISSING_LABELS["no_face"]: "#7f8c8d"}


#: Width (px) of the strip's plot area on a usual page, for fitting segment labels into their bands.
PLOT_WIDTH_PX = 600
#: Average width (px) of a character of a segment label (10 px font).
_CHAR_PX = 6.0


def fit_label(label: str, width_px: float) -> str:
    """``label`` cut to fit ``width_px`` (with an ellipsis); empty when not even two characters fit."""
    room = int((width_px - 4) // _CHAR_PX)
    if len(label) <= room:
        return label
    return f"{label[: room - 1]}…" if room >= 3 else ""


def trace_pieces(binned: pd.DataFrame, aus: Sequence[str]) -> pd.DataFrame:
    """``binned`` (:func:`downsample`) in long form, ``timestamp, AU, value, piece``, without missing values.

    ``piece`` numbers the unbroken stretches of each AU: a missing value (a
    gap without analysed frames, a frame without the face) ends one, so a
    line drawn per piece never bridges time without data, whatever the
    renderer does with missing values.
    """
    long = binned.melt(id_vars=["timestamp"], value_vars=list(aus), var_name="AU", value_name="value")
    missing = long["value"].isna()
    long["piece"] = long["AU"] + "-" + missing.groupby(long["AU"]).cumsum().astype(str)
    return long[~missing].reset_index(drop=True)


def strip_chart(frames: pd.DataFrame, aus: Sequence[str], segments: pd.DataFrame, duration: float) -> alt.LayerChart:
    """AU lines over one row each for face presence, other face, no face and labelled segments, with brush ``seg``.

    One x axis (seconds). The rows sit under the traces, each in its own band
    with its name at the left, so segments, face bands and the brush never
    blend into one shaded area. The AU lines have their own colour scale:
    sharing one with the face rows (whose domain is fixed) would leave them
    without a colour, that is invisible.
    """
    brush = alt.selection_interval(encodings=["x"], name="seg")
    domain = alt.Scale(domain=[0, duration], nice=False)
    x = alt.X("timestamp:Q", title="time (s)", scale=domain)
    y_scale = alt.Scale(domain=[_ROWS["segments"][0] - 0.02, 1.0], nice=False)
    # The rows are named by the y axis, beside the plot: a name drawn inside it would lie under
    # whatever band or label starts at the strip's left edge.
    # Each row's name for the values inside its band (compared by band, not by float equality).
    names = " : ".join(
        f"datum.value >= {low!r} && datum.value <= {high!r} ? {name!r}" for name, (low, high) in _ROWS.items()
    )
    values = [*(sum(band) / 2 for band in _ROWS.values()), 0, 0.25, 0.5, 0.75, 1.0]
    y_axis = alt.Axis(
        values=values,
        # Every value labelled: a layered chart otherwise thins them to one per 40 px.
        tickCount=len(values),
        labelExpr=f"{names} : format(datum.value, '.2~f')",
        labelOverlap=False,
        # Grid lines and ticks for the AU values only; the row names stand alone.
        gridOpacity=alt.expr("datum.value < 0 ? 0 : 1"),
        tickOpacity=alt.expr("datum.value < 0 ? 0 : 1"),
        title="AU value",
        titleAnchor="end",
    )
    layers: list[alt.Chart] = []
    binned = downsample(frames, list(aus)) if not frames.empty else pd.DataFrame({"timestamp": [0.0, duration]})
    if frames.empty or not list(aus):
        layers.append(
            alt.Chart(binned[["timestamp"]].assign(value=np.nan))
            .mark_line()
            .encode(x=x, y=alt.Y("value:Q", scale=y_scale, axis=y_axis))
        )
    else:
        layers.append(
            alt.Chart(trace_pieces(binned, aus))
            .mark_line(strokeWidth=1.2)
            .encode(
                x=x,
                y=alt.Y("value:Q", scale=y_scale, axis=y_axis),
                color=alt.Color("AU:N", title="AU", scale=alt.Scale(domain=list(aus), range=AU_COLOURS)),
                # One line per piece: never a straight line across a gap or a frame without a value.
                detail="piece:N",
                tooltip=["AU", alt.Tooltip("timestamp:Q", format=".1f"), alt.Tooltip("value:Q", format=".3f")],
            )
        )
    rows = face_spans(frames).assign(row=lambda d: d["status"])
    if not segments.empty:
        rows = pd.concat(
            [
                rows,
                pd.DataFrame(
                    {
                        "start_s": segments["start_s"].astype(float),
                        "end_s": segments["end_s"].astype(float),
                        "status": segments["label"].astype(str),
                        "row": "segments",
                    }
                ),
            ],
            ignore_index=True,
        )
    if not rows.empty:
        rows["y"] = rows["row"].map(lambda r: _ROWS[r][0])
        rows["y2"] = rows["row"].map(lambda r: _ROWS[r][1])
        rows["colour"] = rows["row"].map(lambda r: _ROW_COLOURS.get(r, "#c39bd3"))
        rows["middle"] = (rows["start_s"] + rows["end_s"]) / 2
        layers.append(
            alt.Chart(rows)
            .mark_rect(opacity=0.85)
            .encode(
                x=alt.X("start_s:Q", scale=domain),
                x2="end_s:Q",
                y=alt.Y("y:Q", scale=y_scale, axis=y_axis),
                y2="y2:Q",
                color=alt.Color("colour:N", scale=None),
                tooltip=[
                    alt.Tooltip("status:N", title="what"),
                    alt.Tooltip("start_s:Q", format=".2f", title="from (s)"),
                    alt.Tooltip("end_s:Q", format=".2f", title="to (s)"),
                ],
            )
        )
        labelled = rows[rows["row"] == "segments"].copy()
        # Each label shortened to its band (at the usual plot width), so neighbours never overprint.
        labelled["shown"] = [
            fit_label(label, (end - start) / max(duration, 1e-9) * PLOT_WIDTH_PX)
            for label, start, end in zip(labelled["status"], labelled["start_s"], labelled["end_s"], strict=True)
        ]
        labelled = labelled[labelled["shown"] != ""]
        if not labelled.empty:
            layers.append(
                alt.Chart(labelled)
                .mark_text(fontSize=10, color="#222", baseline="middle")
                .encode(
                    x=alt.X("middle:Q", scale=domain),
                    y=alt.datum(sum(_ROWS["segments"]) / 2),
                    text="shown:N",
                )
            )
    layers[0] = layers[0].add_params(brush)
    return (
        alt.layer(*layers)
        .resolve_scale(color="independent")
        .properties(
            height=320,
            title="AU traces; rows below: patient face, other face, no patient face (blank: not analysed), segments"
            " (drag to select)",
        )
    )
