"""Reference tables shipped with the library (see ``resources/README.md``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("facs_core.resources").joinpath(name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def action_units() -> tuple[str, ...]:
    """The study's 20 Action Units in order, named like ``AU01``."""
    return tuple(row["au"] for row in _rows("action_units.csv"))


@cache
def action_unit_names() -> dict[str, str]:
    """FACS name of each Action Unit, e.g. ``{"AU12": "Lip corner puller"}``."""
    return {row["au"]: row["name"] for row in _rows("action_units.csv")}


@dataclass(frozen=True)
class Instrument:
    """A rating instrument and the range its total score can take."""

    key: str
    aliases: tuple[str, ...]
    min: float
    max: float
    label: str


@cache
def instruments() -> tuple[Instrument, ...]:
    """The rating instruments the statistics engine knows."""
    return tuple(
        Instrument(
            key=row["instrument"],
            aliases=tuple(a.strip().lower() for a in row["aliases"].split(",")),
            min=float(row["min"]),
            max=float(row["max"]),
            label=row["label"],
        )
        for row in _rows("instruments.csv")
    )


def instrument_for_column(column: str) -> Instrument | None:
    """The instrument a score column is named after, or None.

    ``"bdi"``, ``"BDI_II"`` and ``"bdi-ii"`` all resolve to the BDI.
    """
    key = column.strip().lower()
    for instrument in instruments():
        if key in instrument.aliases:
            return instrument
    return None
