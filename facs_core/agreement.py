"""Backend agreement for a stored visit or two per-frame files (service behind the CLI and the page).

Finds the two runs to compare (the newest finished run of each of two
backends of a video, or two per-frame Parquet files such as an ``import``ed
OpenFace table beside an extraction) and hands their frames to
:func:`facs_core.stats.agreement.agreement_table`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from facs_core.errors import InputError
from facs_core.stats.agreement import agreement_table, paired_frames

__all__ = ["Comparison", "compare_files", "compare_visit", "visit_backends"]


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


def _read_frames(path: Path, label: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{label}: file not found")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{label}: not a per-frame Parquet table ({type(exc).__name__})") from None


def _backend_label(path: Path) -> str:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    backend = metadata.get(b"facs.backend", b"").decode() or metadata.get(b"facs.au_source", b"").decode()
    return backend or path.stem


def compare_files(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> Comparison:
    """Agreement of two per-frame Parquet files of the same video (labelled by their backend)."""
    first, second = Path(first), Path(second)
    frames = [_read_frames(p, p.name) for p in (first, second)]
    labels = [_backend_label(p) for p in (first, second)]
    if labels[0] == labels[1]:
        labels = [f"{labels[0]} ({first.name})", f"{labels[1]} ({second.name})"]
    return Comparison(labels[0], labels[1], frames[0], frames[1], agreement_table(frames[0], frames[1]))


def visit_backends(catalog, video_id: str) -> pd.DataFrame:
    """The newest finished run of each backend of ``video_id``: ``backend, run_id, shard_path, backend_version``."""
    return catalog.query(
        "SELECT backend, run_id, shard_path, backend_version FROM runs"
        " WHERE video_id = ? AND status = 'done' AND shard_path IS NOT NULL"
        " QUALIFY row_number() OVER (PARTITION BY backend ORDER BY finished_at DESC, run_id) = 1"
        " ORDER BY backend",
        [video_id],
    )


def compare_visit(catalog, video_id: str, backends: tuple[str, str] | None = None) -> Comparison:
    """Agreement between two backends' newest runs of a stored video.

    Parameters
    ----------
    catalog : Catalog
    video_id : str
    backends : (str, str), optional
        Which two backends; default the only two the video has runs of.

    Raises
    ------
    InputError
        Fewer than two backends have a finished run of the video, or a named
        backend has none.
    """
    runs = visit_backends(catalog, video_id).set_index("backend")
    if backends is None:
        if len(runs) < 2:
            have = ", ".join(runs.index) or "none"
            raise InputError(
                f"video {video_id} has finished runs of {len(runs)} backend(s) ({have}); agreement needs two:"
                " extract it with another backend (jobs run VIDEO_ID --backend mediapipe|pyfeat)"
            )
        if len(runs) > 2:
            raise InputError(f"video {video_id} has runs of {', '.join(runs.index)}; name two with --backends A B")
        backends = (runs.index[0], runs.index[1])
    for backend in backends:
        if backend not in runs.index:
            raise InputError(f"video {video_id} has no finished {backend} run; extract it with --backend {backend}")
    frames = [_read_frames(catalog.paths.root / runs.loc[b, "shard_path"], f"{b} run") for b in backends]
    return Comparison(backends[0], backends[1], frames[0], frames[1], agreement_table(frames[0], frames[1]))
