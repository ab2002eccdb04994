"""Patient-profile helpers: scalogram chart, cached profile against the cohort, frames left out, emotion command."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from facs_core.errors import TooFewVisitsError
from facs_core.services import analysis
from facs_core.stats.cohort import EMOTIONS
from facs_core.wavelets import Scalogram
from facs_core.wording import sentence
from store import Catalog
from web import common

__all__ = [
    "BLANK_CELLS",
    "EMOTIONS",
    "LEFT_OUT_REASONS",
    "MAX_SCALOGRAM_COLUMNS",
    "blank_cell_reasons",
    "emotion_command",
    "frames_left_out",
    "profile_against_cohort",
    "scalogram_chart",
    "visit_features",
]

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
    data_dir: str, version: str, video_ids: tuple[str, ...], mode: str, measures: str, source: str
) -> pd.DataFrame:
    """:func:`facs_core.services.analysis.patient_profile`, cached per store state.

    A reference too small to compare with gives an empty table whose
    ``attrs["refused"]`` is the sentence saying why (cached like a result, so
    that every rerun does not recompute the refusal).
    """
    del data_dir, version
    try:
        return analysis.patient_profile(common.catalog(), list(video_ids), mode, measures, source)
    except TooFewVisitsError as exc:
        refused = pd.DataFrame(columns=["video_id", "AU", "mean", "value"])
        refused.attrs = {"refused": sentence(str(exc)) + "."}
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
    common.reproduce(store, command, shown, key="pp_emotion_command")


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
