"""The options the two cohort analyses share: one widget per command-line option, with its default.

The Cohort statistics page (``python -m facs_core stats partial-corr
--from-store``) and the Significance map page (``stats scalogram
--from-store``) ask for the same things first: the score, the covariates,
the method, the correction and its level, the frames analysed (a stored
segment label) and the data source. Each function here draws one of those
widgets under the key ``<prefix>_<option>`` (``cohort_score``,
``map_source`` ...) and returns the value in the engine's terms, so both
pages offer them alike and the command each page shows (see
:func:`facs_core.services.analysis.cohort_command`) names the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from facs_core.reference import instruments
from facs_core.services import visibility
from facs_core.stats.cohort import ALPHA, DATA_SOURCES, METHODS, default_source
from facs_core.stats.multicomp import CORRECTION_LABELS
from facs_core.wording import reader_notes
from store import Catalog
from web import common, formatting, page_data

__all__ = [
    "CohortInputs",
    "alpha_input",
    "command_line_note",
    "command_panel",
    "correction_select",
    "inputs_or_stop",
    "result_notes",
    "score_row",
    "segments_select",
    "source_select",
]


@dataclass(frozen=True)
class CohortInputs:
    """What both analyses read before drawing their form: the store's state, clinical table, scores and runs."""

    version: str
    clinical: pd.DataFrame
    scores: list[str]
    runs: pd.DataFrame


def inputs_or_stop(store: Catalog) -> CohortInputs:
    """The store's analysable inputs; with no extracted visit or no score, a pointer to the demo data, then stop."""
    clinical = page_data.clinical_table(store)
    inputs = CohortInputs(
        page_data.store_version(store), clinical, page_data.available_scores(clinical), page_data.latest_runs(store)
    )
    if inputs.runs.empty or not inputs.scores:
        st.info(
            "No analysable visits yet: the cohort needs extracted videos with scores. Load the demo data on the"
            " Home page, or upload and extract interviews.",
            icon=":material/info:",
        )
        st.stop()
    return inputs


def score_row(prefix: str, scores: Sequence[str], methods: Sequence[str]) -> tuple[str, tuple[str, ...], str]:
    """Score, covariates (every stored one by default) and method, side by side: ``--score --covariates --method``."""
    labels = {i.key: i.label for i in instruments()}
    left, middle, right = st.columns(3)
    score = left.selectbox("Score", list(scores), format_func=lambda k: labels.get(k, k), key=f"{prefix}_score")
    covariates = middle.multiselect(
        "Covariates",
        list(page_data.COVARIATES),
        default=list(page_data.COVARIATES),
        format_func=formatting.column_label,
        key=f"{prefix}_covariates",
    )
    method = right.selectbox("Method", list(methods), format_func=METHODS.get, key=f"{prefix}_method")
    return score, tuple(covariates), method


def correction_select(box, prefix: str) -> str:
    """The multiple-comparison correction (``--fdr``), Benjamini-Hochberg by default."""
    return box.selectbox(
        "Correction", list(CORRECTION_LABELS), format_func=CORRECTION_LABELS.get, key=f"{prefix}_correction"
    )


def alpha_input(box, prefix: str) -> float:
    """The significance level on the adjusted p (``--alpha``)."""
    return float(box.number_input("Significance level (α)", 0.001, 0.5, ALPHA, step=0.01, key=f"{prefix}_alpha"))


def segments_select(box, store: Catalog, viewer: visibility.Viewer, prefix: str) -> str | None:
    """Whole videos, or only the visits with a stored segment of a label, inside it (``--segment-label``).

    The labels are those the viewer may read (a researcher sees the presets
    and "other").
    """
    return box.selectbox(
        "Frames analysed",
        [None, *visibility.segment_choices(store, viewer)],
        format_func=lambda v: "whole video, every visit" if v is None else f"segments: {v}",
        key=f"{prefix}_segments",
        help="A label chooses only the visits that have a segment of it, and analyses only the frames inside"
        " those segments; the other visits are left out, and the results say how many.",
    )


def source_select(box, clinical: pd.DataFrame, prefix: str, what: str) -> str:
    """Real, synthetic (demo) or both (``--source``); real whenever the store holds a real visit."""
    sources = list(DATA_SOURCES)
    return box.selectbox(
        "Data source",
        sources,
        index=sources.index(default_source(clinical)),
        format_func=DATA_SOURCES.get,
        key=f"{prefix}_source",
        help=f"Which visits {what} uses; real visits are the default whenever there are any.",
    )


def command_line_note(text: str) -> None:
    """Say what the page uses for the command's options that have no widget (files, threads, output)."""
    st.caption(f":material/terminal: {text}")


def result_notes(store: Catalog, result: pd.DataFrame) -> None:
    """The engine's notes on a result (visits left out, why): sentences, each fact once, as the viewer may see."""
    for note in reader_notes(result.attrs.get("notes", [])):
        st.caption(f":material/info: {common.visible_text(store, note)}")


def command_panel(
    store: Catalog, viewer: visibility.Viewer, result: pd.DataFrame, command: Callable[[Path | None], str], key: str
) -> None:
    """The provenance and the command that reproduces ``result``; ``command(data_dir)`` writes it.

    The data folder is named (``--data-dir``) for an administrator only;
    anyone else's command reads the server's ``$FACS_DATA_DIR``.
    """
    common.reproduce(store, command(store.paths.root if viewer.sees_paths else None), result, key=key)
