"""Patient-profile helpers: scalogram chart, cached profile against the cohort, frames left out, emotion command."""

from __future__ import annotations

from typing import NamedTuple

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core.errors import NoDataError, TooFewVisitsError
from facs_core.services import analysis
from facs_core.stats.cohort import EMOTIONS
from facs_core.wavelets import Scalogram
from facs_core.wording import sentence
from store import Catalog
from web import common, formatting

__all__ = [
    "BLANK_CELLS",
    "EMOTIONS",
    "LEFT_OUT_REASONS",
    "MAX_SCALOGRAM_COLUMNS",
    "ChangeScope",
    "backend_reference_text",
    "band_count",
    "beyond_scale_note",
    "blank_cell_reasons",
    "change_backend_text",
    "change_scope_text",
    "emotion_command",
    "emotion_means",
    "few_bands_text",
    "frames_left_out",
    "gaps_text",
    "no_change_text",
    "no_emotion_text",
    "profile_against_cohort",
    "scalogram_chart",
    "span_frames",
    "synthetic_reference_text",
    "visit_backends",
    "visit_features",
]

#: A z-score beyond this many SDs is drawn in the colour scale's end colour.
Z_DRAWN = 3

#: Most time columns drawn in a scalogram; longer ones are averaged into bins.
MAX_SCALOGRAM_COLUMNS = 240

#: Why a frame is left out of the AU statistics (column of :func:`frames_left_out` -> what a reader is told).
LEFT_OUT_REASONS: dict[str, str] = {
    "left_out_no_patient_face": "no patient face",
    "left_out_uncertain": "uncertain patient face",
    "left_out_other_face": "other face",
}


#: Why a heatmap cell has no colour -> (its grey, what the legend note says), in the legend's order.
BLANK_CELLS: dict[str, tuple[str, str]] = {
    "no face found": (
        "#737373",
        "no frame of the visit showed the patient's face, so it has no AU values (see *Frames left out per visit*)",
    ),
    "not measured": ("#bdbdbd", "the backend does not estimate this AU"),
    "no cohort spread": (
        "#ececec",
        "the reference visits all have the same value, so there is nothing to compare with",
    ),
}


def blank_cell_reasons(profile: pd.DataFrame, measured: list[str]) -> np.ndarray:
    """Per row of a profile table (``video_id, mean, value``): why its cell is blank (:data:`BLANK_CELLS`), or ``""``.

    The first reason that applies wins: the visit has no AU value at all (not in
    ``measured``: no face found), the AU has no mean (not measured), the
    reference has no spread.
    """
    return np.select(
        [~profile["video_id"].isin(measured), profile["mean"].isna(), profile["value"].isna()],
        list(BLANK_CELLS),
        default="",
    )


def beyond_scale_note(profile: pd.DataFrame) -> str:
    """How many z-score cells of ``profile`` (its ``value`` column) lie beyond ±3 SD and are drawn at the scale's end.

    ``""`` when none does.

    Examples
    --------
    >>> import pandas as pd
    >>> beyond_scale_note(pd.DataFrame({"value": [0.5, -3.2]}))
    "1 cell lies beyond ±3 standard deviations and is drawn in the scale's end colour (hover for the exact value)."
    >>> beyond_scale_note(pd.DataFrame({"value": [4.0, -3.2]}))[:60]
    '2 cells lie beyond ±3 standard deviations and are drawn in t'
    >>> beyond_scale_note(pd.DataFrame({"value": [0.5]}))
    ''
    """
    beyond = int((profile["value"].abs() > Z_DRAWN).sum())
    if not beyond:
        return ""
    lies, drawn = ("lies", "is") if beyond == 1 else ("lie", "are")
    return (
        f"{formatting.count(beyond, 'cell')} {lies} beyond ±{Z_DRAWN} standard deviations and {drawn} drawn in"
        " the scale's end colour (hover for the exact value)."
    )


def synthetic_reference_text(share: float, n_reference: int, patient_synthetic: bool) -> str:
    """The warning over a real patient's profile against a mostly synthetic reference, else ``""``.

    ``share`` is the synthetic share of the extracted reference visits
    (``attrs["synthetic_share"]`` of :func:`profile_against_cohort`).
    """
    if share <= 0.5 or patient_synthetic:
        return ""
    return (
        f"The reference is mostly synthetic demo data ({formatting.percent(share)} of"
        f" {formatting.count(n_reference, 'visit')}): this patient's z-scores and percentiles compare real"
        " measurements with generated ones, so extreme values (saturated colours) say little. Compare with"
        " real visits only."
    )


def backend_reference_text(visit_backends: dict[str, str], reference_backends: dict[str, float]) -> str:
    """The warning when a visit was measured by a backend that measured few of the reference visits, else ``""``.

    ``visit_backends`` maps each visit's name (as the reader sees it) to the
    backend of its run; ``reference_backends`` is the share of the reference
    visits each backend measured (``attrs["reference_backends"]`` of
    :func:`profile_against_cohort`). Backends put AUs on different scales
    (MediaPipe's are blendshape estimates), so such a visit's z-scores
    measure the backends' difference as well as the patient's.

    Examples
    --------
    >>> backend_reference_text({"2024-03-01 · v2": "mediapipe"}, {"pyfeat": 0.9, "mediapipe": 0.1})[:107]
    'Visit 2024-03-01 · v2 was measured by the mediapipe backend, but 90 % of the reference visits by the pyfeat'
    >>> backend_reference_text({"v1": "pyfeat"}, {"pyfeat": 0.9, "mediapipe": 0.1})
    ''
    """
    if not reference_backends:
        return ""
    usual = max(reference_backends, key=reference_backends.get)
    apart = {visit: backend for visit, backend in visit_backends.items() if reference_backends.get(backend, 0.0) < 0.5}
    if not apart:
        return ""
    visits = "; ".join(apart)
    measured_by = " and ".join(sorted(set(apart.values())))
    one = len(apart) == 1
    return (
        f"{'Visit' if one else 'Visits'} {visits} {'was' if one else 'were'} measured by the {measured_by} backend,"
        f" but {formatting.percent(reference_backends[usual])} of the reference visits by the {usual} backend:"
        f" backends put AUs on different scales, so {'its' if one else 'their'} z-scores and percentiles mix a"
        " difference between backends with one between patients. Choose a visit extracted by both under"
        " \u201cOne visit over time\u201d to see how far the two agree (Backend agreement)."
    )


def visit_backends(features: pd.DataFrame, video_ids: list[str], labels: dict[str, str]) -> dict[str, str]:
    """The backend that measured each of ``video_ids``, keyed by the visit's name (``labels``).

    Examples
    --------
    >>> table = pd.DataFrame({"video_id": ["a", "b"], "backend": ["pyfeat", "mediapipe"]})
    >>> visit_backends(table, ["b"], {"a": "2024-01-02 · a", "b": "2024-03-04 · b"})
    {'2024-03-04 · b': 'mediapipe'}
    """
    backend = _backend_by_visit(features)
    return {labels[v]: str(backend[v]) for v in video_ids if v in backend.index and v in labels}


def _backend_by_visit(features: pd.DataFrame) -> pd.Series:
    """The backend that measured each visit of ``features``, by video id (empty without a backend column)."""
    if "backend" not in features:
        return pd.Series(dtype=object)
    return features.drop_duplicates("video_id").set_index("video_id")["backend"]


def no_emotion_text(visit_backends: dict[str, str], with_emotions: set[str]) -> str:
    """Which visits have no row in the emotion heatmap, because their backend measures no emotions; else ``""``.

    ``visit_backends`` maps each visit with AU values (its name as the reader
    sees it) to its backend; ``with_emotions`` are the names of the visits
    with an emotion mean (the heatmap draws no cell for a missing one).

    Examples
    --------
    >>> no_emotion_text({"v1": "pyfeat", "v2": "mediapipe"}, {"v1"})
    'No emotion row for v2: the mediapipe backend measures no emotions (py-feat does).'
    >>> no_emotion_text({"v1": "pyfeat"}, {"v1"})
    ''
    """
    missing = {visit: backend for visit, backend in visit_backends.items() if visit not in with_emotions}
    if not missing:
        return ""
    backends = " and ".join(sorted(set(missing.values())))
    plural = len(set(missing.values())) > 1
    return (
        f"No emotion row for {'; '.join(missing)}: the {backends} backend{'s' if plural else ''}"
        f" measure{'' if plural else 's'} no emotions (py-feat does)."
    )


def change_backend_text(features: pd.DataFrame, first: str, last: str) -> str | None:
    """The warning when the two compared visits were measured by different backends, else None.

    Examples
    --------
    >>> table = pd.DataFrame({"video_id": ["a", "b"], "backend": ["pyfeat", "mediapipe"]})
    >>> change_backend_text(table, "a", "b").split("):")[0]
    'The two visits were measured by different backends (first: pyfeat; last: mediapipe'
    >>> change_backend_text(table, "a", "a") is None
    True
    """
    backend = _backend_by_visit(features)
    if first not in backend.index or last not in backend.index or backend[first] == backend[last]:
        return None
    return (
        f"The two visits were measured by different backends (first: {backend[first]}; last: {backend[last]}):"
        " backends put AUs on different scales, so the change mixes a change in the face with a difference"
        " between backends."
    )


class ChangeScope(NamedTuple):
    """:func:`change_scope_text`'s sentence, and whether the two visits differ in what was measured."""

    text: str
    mixed: bool


def change_scope_text(features: pd.DataFrame, first: str, last: str) -> ChangeScope | None:
    """What frames the two compared visits were extracted over, when that is not the whole video for both.

    A visit extracted inside its segments only has means of those frames; a
    change from a whole-video visit to it compares different stretches of the
    interviews, so the reader is told, with a warning when the two differ in
    kind (:attr:`ChangeScope.mixed`).

    Examples
    --------
    >>> table = pd.DataFrame({"video_id": ["a", "b"], "segmented": [False, True],
    ...                       "frames_analysed": ["whole video", "frames inside 2 segments, 46 of 72"]})
    >>> scope = change_scope_text(table, "a", "b")
    >>> scope.mixed
    True
    >>> scope.text.split(": the change")[0]
    'The two visits were extracted over different frames (first: whole video; last: frames inside 2 segments, 46 of 72)'
    >>> change_scope_text(table, "a", "a") is None
    True
    """
    if "segmented" not in features or "frames_analysed" not in features:
        return None
    rows = features.drop_duplicates("video_id").set_index("video_id")
    segmented = [bool(rows.at[v, "segmented"]) if v in rows.index else False for v in (first, last)]
    if not any(segmented):
        return None
    scopes = [str(rows.at[v, "frames_analysed"]) for v in (first, last)]
    if segmented[0] != segmented[1]:
        return ChangeScope(
            f"The two visits were extracted over different frames (first: {scopes[0]}; last: {scopes[1]}):"
            " the change mixes a change in the face with a change in what was measured.",
            mixed=True,
        )
    return ChangeScope(
        f"Both visits were extracted inside their segments only (first: {scopes[0]}; last: {scopes[1]}).",
        mixed=False,
    )


def no_change_text(compared: list[str], faceless: list[str]) -> str:
    """Why there is no change between visits: the visits with AU values (fewer than two) and the faceless ones.

    Both lists hold the visits' names as the reader sees them.

    Examples
    --------
    >>> no_change_text(["a"], ["b", "c"]).split(". ")[1]
    'No face was found in 2 other visits (b; c), so they have no AU values to compare.'
    """
    have = f"{len(compared)} ({'; '.join(compared)})" if compared else "none"
    why = (
        f" No face was found in {formatting.count(len(faceless), 'other visit' if compared else 'visit')}"
        f" ({'; '.join(faceless)}), so {'it has' if len(faceless) == 1 else 'they have'} no AU values to compare."
        if faceless
        else ""
    )
    return f"Change between visits needs two extracted visits with AU values; this patient has {have}.{why}"


def gaps_text(window: pd.DataFrame, columns: list[str], place: str) -> str | None:
    """Why the traces break: how many frames of ``place`` have no value of any chosen AU, or None when none.

    Examples
    --------
    >>> window = pd.DataFrame({"AU12": [0.1, None, None, 0.3], "AU04": [0.2, None, 0.5, 0.1]})
    >>> gaps_text(window, ["AU12", "AU04"], "this segment")
    'Gaps in the lines are frames without a confident patient face: 1 of 4 frames of this segment (25 %).'
    """
    if window.empty or not columns:
        return None
    gaps = int(window[columns].isna().all(axis=1).sum())
    if not gaps:
        return None
    return (
        f"Gaps in the lines are frames without a confident patient face: {gaps} of"
        f" {formatting.count(len(window), 'frame')} of {place} ({formatting.percent(gaps / len(window))})."
    )


def span_frames(frames: pd.DataFrame, span: tuple[float, float] | None) -> pd.DataFrame:
    """The frames of ``span`` (start inclusive, end exclusive, in s), or all of them when ``span`` is None."""
    if span is None:
        return frames
    return frames[(frames["timestamp"] >= span[0]) & (frames["timestamp"] < span[1])]


def emotion_means(frames: pd.DataFrame, emotions: list[str]) -> pd.DataFrame:
    """``emotion, mean``: each emotion's mean probability over ``frames`` (missing values left out)."""
    return frames[emotions].mean().rename("mean").reset_index().rename(columns={"index": "emotion"})


def band_count(image: Scalogram) -> int:
    """How many periods of the scalogram have a value anywhere (rows not all NaN)."""
    return int(np.isfinite(image.modulus).any(axis=1).sum())


def few_bands_text(image: Scalogram, place: str) -> str:
    """Why a scalogram of two bands or fewer is so thin (``place``: "this visit" or "this segment"), else ``""``."""
    bands = band_count(image)
    if bands > 2:
        return ""
    # The span the frames cover: the last frame lasts one frame period too.
    steps = np.diff(image.times)
    length = float(image.times[-1] - image.times[0] + np.median(steps)) if steps.size else 0.0
    if bands == 0:
        return (
            f"No scalogram: {place} is {formatting.number(length)} s long, shorter than the wavelet of even the"
            " shortest period this frame rate resolves (two frames), so no period has a value. Choose a longer"
            " segment or the whole visit."
        )
    return (
        f"Only {formatting.count(bands, 'band')}: {place} is"
        f" {formatting.number(length)} s long, and a rhythm is measured only where the wavelet fits"
        " inside the recording, so only the shortest periods have values. Choose a longer segment or"
        " the whole visit to see slower rhythms."
    )


def frames_left_out(features: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Per extracted visit: frames analysed, frames used, and the frames left out with the reason.

    Only confident patient frames enter the features (:mod:`facs_core.features`);
    ``n_no_face_frames`` counts every frame left out, of which
    ``n_uncertain_frames`` showed the patient's face with an uncertain identity
    and ``n_other_face_frames`` only another person's face; the rest showed no
    face at all.

    Parameters
    ----------
    features : DataFrame
        Per-video features with their frame counts (``analysis.video_features``).
    visits : DataFrame
        The patient's visits (``video_id``, ``visit_date``), in the order to show.

    Returns
    -------
    DataFrame
        ``video_id, visit_date, frames_analysed, frames_used, frames_left_out`` and one
        column per :data:`LEFT_OUT_REASONS`, one row per visit that has features.
    """
    counts = ("n_frames", "n_face_frames", "n_no_face_frames", "n_uncertain_frames", "n_other_face_frames")
    columns = ["video_id", "visit_date", "frames_analysed", "frames_used", "frames_left_out", *LEFT_OUT_REASONS]
    if features.empty or not set(counts) <= set(features.columns):
        return pd.DataFrame(columns=columns)
    table = visits[["video_id", "visit_date"]].merge(features[["video_id", *counts]], on="video_id", how="inner")
    table = table.assign(
        frames_analysed=table["n_frames"],
        frames_used=table["n_face_frames"],
        frames_left_out=table["n_no_face_frames"],
        left_out_no_patient_face=table["n_no_face_frames"] - table["n_uncertain_frames"] - table["n_other_face_frames"],
        left_out_uncertain=table["n_uncertain_frames"],
        left_out_other_face=table["n_other_face_frames"],
    )
    return table[columns].astype({c: "int64" for c in columns[2:]}).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=64)
def profile_against_cohort(
    data_dir: str,
    version: str,
    video_ids: tuple[str, ...],
    mode: str,
    measures: str,
    source: str,
    known: tuple[str, ...],
) -> pd.DataFrame:
    """:func:`facs_core.services.analysis.patient_profile`, cached per store state.

    ``known`` are the patients the reader may open (``access.visible_patients``).

    A reference too small to compare with gives an empty table whose
    ``attrs["refused"]`` is the sentence saying why (cached like a result, so
    that every rerun does not recompute the refusal).
    """
    del data_dir, version
    try:
        return analysis.patient_profile(common.catalog(), list(video_ids), mode, measures, source, known)
    except NoDataError as exc:
        # Too few other patients, or no visit of the chosen data source: only why, never their values.
        text = exc.reader if exc.reader and not isinstance(exc, TooFewVisitsError) else sentence(str(exc)) + "."
        refused = pd.DataFrame(columns=["video_id", "AU", "mean", "value"])
        refused.attrs = {"refused": text}
        return refused


@st.cache_data(show_spinner=False, max_entries=64)
def visit_features(data_dir: str, version: str, video_ids: tuple[str, ...]) -> pd.DataFrame:
    """The per-video features of the patient's own visits (:func:`facs_core.services.analysis.video_features`)."""
    del data_dir, version
    return analysis.video_features(common.catalog(), video_ids=list(video_ids))


def emotion_command(store: Catalog, patient: str, mode: str, source: str, table: pd.DataFrame) -> None:
    """Under the emotion heatmap: its provenance and the ``stats profile --measures emotions`` command giving it.

    ``table`` is :func:`profile_against_cohort` of the emotions; the table
    shown (with its provenance) is kept as ``pp_emotion_table`` and the
    command as ``pp_emotion_command`` in the session, as the AU panel does.
    """
    shown = table.copy()
    shown.attrs = {"provenance": table.attrs.get("provenance", {})}
    st.session_state["pp_emotion_table"] = shown
    data_dir = store.paths.root if common.viewer(store).sees_paths else None
    command = analysis.profile_command(patient, mode, "emotions", source, f"profile-emotions-{patient}.csv", data_dir)
    common.reproduce(store, command, shown, key="pp_emotion_command", table="the emotion table")


def scalogram_chart(image: Scalogram, span: tuple[float, float] | None = None) -> alt.Chart:
    """Scale x time heatmap of a :class:`facs_core.wavelets.Scalogram`, time averaged into bins.

    The time axis spans ``span`` (the segment drawn), else the image's own
    times: never from 0 s when the image starts later, so a segment's image
    fills the chart instead of its right-hand part.
    """
    binned, starts, width = image.binned(MAX_SCALOGRAM_COLUMNS)
    if span is not None:
        extent = [float(span[0]), float(span[1])]
    else:
        extent = [float(starts[0]), float(starts[-1] + width)] if len(starts) else None
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
            x=alt.X("t0:Q", title="time (s)", scale=alt.Scale(domain=extent, nice=False, zero=False)),
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
