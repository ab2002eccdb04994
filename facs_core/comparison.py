"""Backend agreement of two per-frame tables: the comparison behind the CLI and the page.

Two per-frame tables of one video (two backends' runs, or an ``import``ed
OpenFace table beside an extraction) go to
:func:`facs_core.stats.agreement.agreement_table`; a :class:`Comparison`
keeps them with their labels for the Bland-Altman plot. Finding a stored
visit's runs is :mod:`facs_core.services.agreement_runs` (a service: it reads the catalog).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from facs_core.errors import InputError
from facs_core.stats.agreement import agreement_table, paired_frames

__all__ = ["Comparison", "compare_files", "compare_tables", "read_frames"]


@dataclass(frozen=True)
class Comparison:
    """Two per-frame tables of one video, their labels and the per-AU agreement."""

    first_label: str
    second_label: str
    first: pd.DataFrame
    second: pd.DataFrame
    table: pd.DataFrame

    def pairs(self, au: str) -> pd.DataFrame:
        """``frame, first, second`` values of ``au`` on the frames both runs analysed (Bland-Altman input)."""
        return paired_frames(self.first, self.second, au)


def read_frames(path: Path, label: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{label}: file not found")
    try:
        return pq.read_table(path, page_checksum_verification=True).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        if "checksum" in str(exc).lower():
            raise InputError(f"{label}: damaged (a page fails its checksum); run 'facs_core verify'") from None
        raise InputError(f"{label}: not a per-frame Parquet table ({type(exc).__name__})") from None


def _backend_label(path: Path) -> str:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    backend = metadata.get(b"facs.backend", b"").decode() or metadata.get(b"facs.au_source", b"").decode()
    return backend or path.stem


def compare_files(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> Comparison:
    """Agreement of two per-frame Parquet files of the same video (labelled by their backend)."""
    first, second = Path(first), Path(second)
    frames = [read_frames(p, p.name) for p in (first, second)]
    labels = [_backend_label(p) for p in (first, second)]
    if labels[0] == labels[1]:
        labels = [f"{labels[0]} ({first.name})", f"{labels[1]} ({second.name})"]
    return Comparison(labels[0], labels[1], frames[0], frames[1], agreement_table(frames[0], frames[1]))


def compare_tables(first_label: str, second_label: str, first: pd.DataFrame, second: pd.DataFrame) -> Comparison:
    """Agreement of two per-frame tables already in memory."""
    return Comparison(first_label, second_label, first, second, agreement_table(first, second))
