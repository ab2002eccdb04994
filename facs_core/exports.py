"""Safe CSV exports: no formula injection, no identifying columns for researchers.

Every export in the dashboard goes through :func:`facs_core.services.downloads.export_for`, which
authorises the acting user at the moment the file is made, filters it for
their role (:func:`export_csv`) and audits it; the command line's CSV results
go through :func:`safe_csv` (the same neutralisation and quoting, no role:
whoever runs the CLI on the server holds the whole store).

Formula injection
    A spreadsheet opening a CSV runs cells that start with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return as formulas (``=cmd|' /C calc'!A0``).
    Following the OWASP "CSV Injection" guidance, such text cells get a leading
    apostrophe, which spreadsheets show as text and do not evaluate. Numeric
    columns are left as numbers (a negative number is not a formula).
Pseudonymisation
    Columns listed in ``resources/restricted_columns.csv`` are dropped for the
    roles named there (original file names, free-text notes, staff names for
    researchers; server paths for everyone). Patient codes are already
    pseudonyms, so nothing is renamed.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

import pandas as pd

__all__ = [
    "FORMULA_TRIGGERS",
    "export_csv",
    "export_parquet",
    "neutralise_cell",
    "neutralise_formulas",
    "pseudonymise",
    "restricted_columns",
    "safe_csv",
]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """``value`` with a leading apostrophe if it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _has_formula(series: pd.Series) -> bool:
    """Whether a cell of ``series`` would start a formula; distinct values are checked once each."""
    try:
        distinct = pd.unique(series)
    except TypeError:  # unhashable cells (lists): check each
        distinct = series.to_numpy(dtype=object)
    return any(neutralise_cell(value) is not value for value in distinct)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a formula."""
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)) and _has_formula(series):
            safe[column] = series.map(neutralise_cell)
    safe.columns = [neutralise_cell(str(c)) for c in safe.columns]
    return safe


@cache
def restricted_columns() -> dict[str, frozenset[str]]:
    """``{column: roles it is hidden from}``; ``all`` hides it from every role."""
    text = resources.files("facs_core.resources").joinpath("restricted_columns.csv").read_text("utf-8")
    table: dict[str, set[str]] = {}
    for row in csv.DictReader(text.splitlines()):
        table.setdefault(row["column"], set()).add(row["hidden_from"])
    return {column: frozenset(roles) for column, roles in table.items()}


def pseudonymise(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """``frame`` without the columns ``role`` may not receive."""
    hidden = [
        column
        for column in frame.columns
        if {"all", role} & restricted_columns().get(str(column).strip().lower(), frozenset())
    ]
    return frame.drop(columns=hidden)


def safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes (UTF-8) of ``frame`` with formula cells neutralised (:func:`neutralise_formulas`)."""
    safe = neutralise_formulas(frame)
    # RFC 4180 line ends: the csv writer then quotes any cell holding a bare CR
    # too, which would otherwise split a row in spreadsheets.
    return safe.to_csv(index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").encode("utf-8")


def export_csv(frame: pd.DataFrame, role: str) -> bytes:
    """CSV bytes (UTF-8) of ``frame`` safe to hand to a user of ``role``.

    Columns are pseudonymised for the role, then formula cells neutralised
    (:func:`safe_csv`). Pages download through
    :func:`facs_core.services.downloads.export_for`, which calls this.
    """
    return safe_csv(pseudonymise(frame, role))


def export_parquet(frame: pd.DataFrame, role: str) -> bytes:
    """Parquet bytes of ``frame`` without the columns ``role`` may not receive."""
    buffer = io.BytesIO()
    pseudonymise(frame, role).to_parquet(buffer, index=False)
    return buffer.getvalue()
