"""The offline backend's Action Units: how each of the study's 20 is derived, or why it is absent.

Read from ``resources/offline_au_derivation.csv``, one row per study AU:

``blendshape``
    The mean of the listed MediaPipe blendshape coefficients (left and right
    sides). Scale: a *blendshape coefficient* in [0, 1], MediaPipe's own
    estimate of how far that ARKit shape is expressed.
``geometry``
    A ratio of :mod:`facs_core.face_geometry` (a landmark distance divided by
    a face-size distance), mapped linearly to [0, 1]:
    ``clip((ratio - lo) / (hi - lo), 0, 1)`` (``hi < lo`` when the AU grows as
    the ratio shrinks). Scale: a *geometric ratio*, with ``lo`` and ``hi``
    justified in the table's ``basis`` column.
``absent``
    No honest estimate; the column is not written, and the reason travels in
    every table's metadata (``facs.absent_aus``) and on the pages.

None of these is a FACS-coded intensity.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from facs_core.reference import action_units

__all__ = ["AuDerivation", "absent_aus", "derivations", "derive_aus", "measured_aus"]


@dataclass(frozen=True)
class AuDerivation:
    """One row of ``offline_au_derivation.csv``."""

    au: str
    derivation: str
    inputs: tuple[str, ...]
    lo: float
    hi: float
    scale: str
    basis: str


@cache
def derivations() -> tuple[AuDerivation, ...]:
    """The 20 study AUs' derivations, in the study's order."""
    text = resources.files("facs_core.resources").joinpath("offline_au_derivation.csv").read_text("utf-8")
    rows = {row["au"]: row for row in csv.DictReader(text.splitlines())}
    out = []
    for au in action_units():
        row = rows[au]
        out.append(
            AuDerivation(
                au=au,
                derivation=row["derivation"],
                inputs=tuple(s for s in row["inputs"].split(";") if s),
                lo=float(row["lo"]) if row["lo"] else np.nan,
                hi=float(row["hi"]) if row["hi"] else np.nan,
                scale=row["scale"],
                basis=row["basis"],
            )
        )
    return tuple(out)


def measured_aus() -> tuple[str, ...]:
    """Study AUs the offline backend writes, in order."""
    return tuple(d.au for d in derivations() if d.derivation != "absent")


def absent_aus() -> dict[str, str]:
    """Study AUs the offline backend does not write -> why."""
    return {d.au: d.basis for d in derivations() if d.derivation == "absent"}


def derive_aus(faces: pd.DataFrame) -> pd.DataFrame:
    """The measured AUs of each row of ``faces`` (needs its ``bs_*`` and ``geo_*`` columns).

    Rows with missing inputs (no face) give NaN.
    """
    out = {}
    for d in derivations():
        if d.derivation == "blendshape":
            values = faces[[f"bs_{s}" for s in d.inputs]].to_numpy(dtype=float).mean(axis=1)
            out[d.au] = np.clip(values, 0.0, 1.0)
        elif d.derivation == "geometry":
            ratio = faces[d.inputs[0]].to_numpy(dtype=float)
            out[d.au] = np.clip((ratio - d.lo) / (d.hi - d.lo), 0.0, 1.0)
    return pd.DataFrame(out, index=faces.index)
