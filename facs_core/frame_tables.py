"""Reading per-frame tables for the analyses: one file, or a folder of them.

``extract`` and ``import`` write one video's frames per file, without a
``video_id`` column; the cohort analyses (``features``, ``stats scalogram``)
need many videos in one table. :func:`read_frames` accepts either a single
table or a folder holding one table per video, so that::

    python -m facs_core extract a.mp4 --backend mediapipe --out frames/a.parquet
    python -m facs_core extract b.mp4 --backend mediapipe --out frames/b.parquet
    python -m facs_core stats scalogram --frames frames/ ...

works without hand-editing: a file without ``video_id`` is named by its file
name (``a``, ``b``), which is what the clinical table must then use.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core.errors import InputError
from facs_core.importers import MAX_FRAME, MAX_TIMESTAMP_S, limit_text

_AU_COLUMN = re.compile(r"^AU\d{2}(_c)?$")

#: File endings read as frame tables.
TABLE_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".csv")


def read_frames(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A per-frame table from a ``.csv``/``.parquet`` file or a folder of them.

    Parameters
    ----------
    path : path-like
        One table, or a folder whose ``.csv``/``.parquet`` files each hold one
        or more videos. In a folder, a file without a ``video_id`` column is
        one video named by the file's stem; the same video id in two files is
        refused.

    Returns
    -------
    DataFrame
        The rows of every table; columns a file lacks are empty for its rows.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        raise InputError(f"frames table {path} does not exist")
    return _read_file(path)


def _read_folder(folder: Path) -> pd.DataFrame:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
    if not files:
        raise InputError(f"frames folder {folder} holds no .csv or .parquet file")
    tables, source_of = [], {}
    for file in files:
        table = _read_file(file)
        if "video_id" not in table.columns:
            table.insert(0, "video_id", file.stem)
        for video_id in table["video_id"].dropna().astype(str).unique():
            if video_id in source_of:
                raise InputError(
                    f"frames folder {folder}: video {video_id} is in both {source_of[video_id]} and {file.name}"
                )
            source_of[video_id] = file.name
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _read_file(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            table = pd.read_parquet(path, page_checksum_verification=True)
        else:
            # pyarrow's CSV reader is several times faster on million-row tables.
            table = pd.read_csv(path, engine="pyarrow", dtype={"video_id": "string"})
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"frames table {path} cannot be read: {first_line}") from exc
    check_frame_values(table, f"frames table {path}")
    return table


def check_frame_values(table: pd.DataFrame, source: str) -> None:
    """Refuse impossible numbers in a per-frame table, naming the column and the row.

    The per-frame contract (:mod:`facs_core.importers`): ``frame`` whole and
    within 0-``MAX_FRAME``; ``timestamp`` within 0-``MAX_TIMESTAMP_S`` seconds
    or empty; every AU (``AU01``, presence ``AU01_c``) and ``face_confidence``
    within [0, 1] or empty, whatever the backend (OpenFace's 0-5 intensities
    are divided by 5 on import). Rows count as in a spreadsheet, the header
    being row 1.
    """
    if table.empty:
        raise InputError(f"{source}: no data rows, only a header")
    limits: dict[str, tuple[float, float]] = {
        "frame": (0.0, float(MAX_FRAME)),
        "timestamp": (0.0, MAX_TIMESTAMP_S),
        "face_confidence": (0.0, 1.0),
    }
    limits.update({c: (0.0, 1.0) for c in table.columns if _AU_COLUMN.match(str(c))})
    for column, (low, high) in limits.items():
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        if column == "frame":
            whole = ~np.isfinite(values) | (values != np.floor(values))
            if whole.any():
                position = int(np.flatnonzero(whole)[0])
                raise InputError(
                    f"{source}: column 'frame', row {position + 2}: {values[position]:g} is not a whole frame number"
                )
        bad = np.isinf(values) | (values < low) | (values > high)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{source}: column {column!r}, row {position + 2}: {values[position]:g} is outside"
                f" {limit_text(low)}-{limit_text(high)}"
            )
