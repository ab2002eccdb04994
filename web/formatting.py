"""How numbers, p-values, dates and column names read on every page and export view.

One place for the dashboard's typography of values, so a p-value or a visit
date looks the same on the Patient, Cohort, Significance and Export pages:

- p-values as in a journal table: ``"< 0.001"`` below 0.001, otherwise three
  significant digits (``0.0457``, ``0.500``, ``1.00``);
- other numbers with sensible precision: whole numbers without decimals
  (an age of 41, a BDI of 23), others to three significant digits, never in
  scientific notation;
- dates as ``2026-03-02``, times to the minute;
- column names as a reader says them ("Visit date", not ``visit_date``);
- a missing value as :data:`MISSING` (an en dash), never ``None`` or ``nan``;
  pages that show one say what it means (:data:`MISSING_LEGEND`);
- counts as words in the right number (:func:`count`: "1 field", "2 fields",
  never "field(s)") and a one-line message shown as a sentence
  (:func:`sentence`), both from :mod:`facs_core.wording`, which the command
  line and the services use too.

Nothing here reads the store or Streamlit; everything takes plain values.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import pandas as pd

from facs_core.wording import count, sentence

__all__ = [
    "MISSING",
    "MISSING_LEGEND",
    "P_COLUMNS",
    "column_label",
    "count",
    "date",
    "duration",
    "human_table",
    "integer",
    "is_missing",
    "number",
    "p_phrase",
    "p_value",
    "percent",
    "seconds_span",
    "sentence",
    "timestamp",
    "yes_no",
]

#: What a cell without a value shows.
MISSING = "–"
#: The sentence a page shows under a table that has :data:`MISSING` cells.
MISSING_LEGEND = f"{MISSING} = not recorded or not computable."
#: Column names that hold p-values (formatted with :func:`p_value`).
P_COLUMNS: frozenset[str] = frozenset({"p", "p_fdr", "p_adj", "p_adjusted", "p_value", "pvalue", "p_perm", "p_raw"})

_LABELS: dict[str, str] = {
    "video_id": "Video",
    "patient_id": "Patient",
    "visit_date": "Visit date",
    "visit": "Visit",
    "repeat_visit": "Repeat visit",
    "age": "Age (years)",
    "sex": "Sex",
    "camera": "Camera",
    "medication": "Medication",
    "backend": "Backend",
    "backend_version": "Backend version",
    "feature": "Feature",
    "n": "n",
    "r": "r",
    "beta": "β",
    "ci_low": "95 % CI, lower",
    "ci_high": "95 % CI, upper",
    "p": "p",
    "p_fdr": "p (adjusted)",
    "p_adj": "p (adjusted)",
    "p_adjusted": "p (adjusted)",
    "p_value": "p",
    "p_perm": "p (permutations)",
    "significant": "Significant",
    "reason": "Note",
    "note": "Note",
    "username": "User name",
    "role": "Role",
    "active": "Active",
    "created_at": "Created",
    "updated_at": "Updated",
    "finished_at": "Finished",
    "started_at": "Started",
    "occurred_at": "When",
    "actor": "By",
    "action": "Action",
    "target": "Target",
    "detail": "Detail",
    "clinician": "Clinician",
    "assigned_by": "Assigned by",
    "assigned_at": "Assigned",
    "n_frames": "Frames",
    "icc_ci_low": "ICC 95% CI low",
    "icc_ci_high": "ICC 95% CI high",
    "mean_difference": "Mean difference",
    "loa_low": "Lower limit of agreement",
    "loa_high": "Upper limit of agreement",
    "n_face_frames": "Frames with a face",
    "n_no_face_frames": "Frames left out (no patient face)",
    "n_uncertain_frames": "Frames, identity uncertain",
    "n_other_face_frames": "Frames, other face only",
    "frames_analysed": "Frames analysed",
    "frames_used": "Frames used",
    "frames_left_out": "Frames left out",
    "left_out_no_patient_face": "No patient face",
    "left_out_uncertain": "Uncertain patient face",
    "left_out_other_face": "Other face",
    "duration_s": "Duration (s)",
    "fps": "Frame rate (fps)",
    "original_name": "Original file name",
    "synthetic": "Synthetic demo data",
    "start_s": "Start (s)",
    "end_s": "End (s)",
    "label": "Label",
    "timestamp": "Time (s)",
    "frame": "Frame",
    "face": "Face found",
    "au": "AU",
    "AU": "AU",
    "name": "Name",
    "mean": "Mean",
    "sd": "SD",
    "rate": "Rate",
    "icc_3_1": "ICC(3,1)",
    "last_seen": "Last seen",
    "disabled_at": "Disabled",
    "sso": "Single sign-on",
    "last_login_at": "Last sign-in",
    "event_id": "Event",
    "job_id": "Job",
    "run_id": "Run",
    "status": "Status",
    "progress": "Progress",
    "message": "Message",
    "error": "Error",
    "created_by": "Created by",
    "instrument": "Instrument",
    "score": "Score",
}

_SUFFIXES: dict[str, str] = {"rate": "rate", "sd": "SD", "mean": "mean", "emotion": "emotion"}
_AU = re.compile(r"^AU\d+$")


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas' NA."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def p_value(p: Any) -> str:
    """A p-value as a journal table prints it.

    Examples
    --------
    >>> p_value(0.0000007), p_value(0.0457321), p_value(0.5), p_value(1.0), p_value(None)
    ('< 0.001', '0.0457', '0.500', '1.00', '–')
    """
    if is_missing(p):
        return MISSING
    value = float(p)
    if not math.isfinite(value) or value < 0 or value > 1:
        raise ValueError(f"a p-value must lie in [0, 1], got {p!r}")
    if value < 0.001:
        return "< 0.001"
    return f"{value:#.3g}"


def p_phrase(p: Any, name: str = "p") -> str:
    """``name = 0.181`` or ``name < 0.001``: a p-value inside a sentence or a chart title (:func:`p_value`).

    Examples
    --------
    >>> p_phrase(4.3e-39), p_phrase(0.18063, "adjusted p"), p_phrase(None)
    ('p < 0.001', 'adjusted p = 0.181', 'p = –')
    """
    text = p_value(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def number(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` significant digits, whole numbers without decimals, never in e-notation.

    Examples
    --------
    >>> number(41.0), number(0.123456), number(-0.5), number(1234.567), number(0.000123456), number(float("nan"))
    ('41', '0.123', '-0.500', '1235', '0.000123', '–')
    """
    if is_missing(value):
        return MISSING
    x = float(value)
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def integer(value: Any) -> str:
    """A count or a whole score: ``23`` for ``23.0``; :data:`MISSING` when absent."""
    if is_missing(value):
        return MISSING
    return str(round(float(value)))


def seconds_span(start_s: Any, end_s: Any) -> str:
    """A passage in seconds, as chart axes read it: ``"56.5-87.4 s"``, ``"10-11 s"``, never minutes:seconds.

    The fewest decimals (0, 1 or 2) that show both ends exactly, otherwise 2
    (a frame-aligned 2.5025 s reads 2.50).

    Examples
    --------
    >>> seconds_span(56.5, 87.4), seconds_span(10, 11), seconds_span(0.5, 2.5025)
    ('56.5-87.4 s', '10-11 s', '0.50-2.50 s')
    """
    start, end = float(start_s), float(end_s)
    decimals = next((d for d in (0, 1, 2) if all(abs(round(v, d) - v) < 1e-9 for v in (start, end))), 2)
    return f"{start:.{decimals}f}-{end:.{decimals}f} s"


def duration(seconds: Any) -> str:
    """A length of video in the largest unit that keeps it above 1: ``"6 s"``, ``"4.5 min"``, ``"2.25 h"``.

    Seconds whole, minutes to one decimal, hours to two; :data:`MISSING` when absent.

    Examples
    --------
    >>> duration(6.2), duration(270), duration(8100), duration(0)
    ('6 s', '4.5 min', '2.25 h', '0 s')
    """
    if is_missing(seconds):
        return MISSING
    value = float(seconds)
    # Thresholds on the rounded value: 59.7 s reads "1.0 min", not "60 s".
    if round(value) < 60:
        return f"{value:.0f} s"
    if round(value / 60, 1) < 60:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def percent(fraction: Any, decimals: int = 0) -> str:
    """A share as a percentage with a space before the sign: ``percent(0.123) == "12 %"``."""
    if is_missing(fraction):
        return MISSING
    return f"{100 * float(fraction):.{decimals}f} %"


def date(value: Any) -> str:
    """A date as ``2026-03-02`` (a timestamp loses its time of day)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, _dt.datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return pd.Timestamp(value).date().isoformat()


def timestamp(value: Any) -> str:
    """A moment as ``2026-03-02 14:05`` (to the minute)."""
    if is_missing(value):
        return MISSING
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def yes_no(value: Any) -> str:
    """``yes`` / ``no``; :data:`MISSING` when unknown."""
    if is_missing(value):
        return MISSING
    return "yes" if bool(value) else "no"


@cache
def _instrument_labels() -> dict[str, str]:
    from facs_core.reference import instruments

    labels = {}
    for instrument in instruments():
        short = re.search(r"\(([^)]+)\)\s*$", instrument.label)
        labels[instrument.key] = short[1] if short else instrument.label
    return labels


def column_label(name: str) -> str:
    """How a reader names a column: ``visit_date`` -> "Visit date", ``bdi`` -> "BDI-II", ``AU12_rate`` -> "AU12 rate".

    Examples
    --------
    >>> column_label("repeat_visit"), column_label("bdi"), column_label("AU12_sd"), column_label("some_new_thing")
    ('Repeat visit', 'BDI-II', 'AU12 SD', 'Some new thing')
    """
    text = str(name)
    if text in _LABELS:
        return _LABELS[text]
    instruments = _instrument_labels()
    if text in instruments:
        return instruments[text]
    if _AU.match(text):
        return text
    head, _, tail = text.partition("_")
    if _AU.match(head) and tail in _SUFFIXES:
        return f"{head} {_SUFFIXES[tail]}"
    if text.endswith("_s") and len(text) > 2:
        return column_label(text[:-2]) + " (s)"
    spaced = text.replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:] if spaced else text


def _kind(name: str, column: pd.Series) -> str:
    if name in P_COLUMNS:
        return "p"
    if pd.api.types.is_bool_dtype(column):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date" if name.endswith("date") else "timestamp"
    if name.endswith("_date") or name == "date":
        return "date"
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if pd.api.types.is_numeric_dtype(column):
        return "number"
    values = column.dropna()
    if len(values) and all(isinstance(v, bool) for v in values):
        return "bool"
    if len(values) and all(isinstance(v, _dt.datetime | pd.Timestamp) for v in values):
        return "timestamp"
    if len(values) and all(isinstance(v, _dt.date) for v in values):
        return "date"
    return "text"


def _text(value: Any) -> str:
    return MISSING if is_missing(value) else str(value)


_FORMATTERS = {
    "p": p_value,
    "bool": yes_no,
    "date": date,
    "timestamp": timestamp,
    "integer": integer,
    "number": number,
    "text": _text,
}


def human_table(frame: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``frame`` as a reader sees it: every cell text, formatted by its kind, columns labelled by :func:`column_label`.

    Parameters
    ----------
    frame : DataFrame
        Already filtered for the viewer (:func:`facs_core.services.visibility.visible_table`):
        this only changes how values read, never which are shown.
    kinds : mapping, optional
        Column -> one of ``p, bool, date, timestamp, integer, number, text``
        where the column's type alone would choose wrong (a float column of
        whole scores is read as numbers and loses its decimals anyway).
    """
    kinds = dict(kinds or {})
    out = pd.DataFrame(index=frame.index)
    labels: dict[str, int] = {}
    for name in frame.columns:
        column = frame[name]
        kind = kinds.get(name) or _kind(str(name), column)
        label = column_label(str(name))
        # Two columns that read the same keep apart (the second gets its raw name).
        if label in labels:
            label = f"{label} ({name})"
        labels[label] = 1
        out[label] = [_FORMATTERS[kind](value) for value in column.tolist()]
    return out.reset_index(drop=True)
