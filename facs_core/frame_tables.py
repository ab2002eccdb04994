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
from pathlib import Path

import pandas as pd

from facs_core.errors import InputError

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
            return pd.read_parquet(path, page_checksum_verification=True)
        # pyarrow's CSV reader is several times faster on million-row tables.
        return pd.read_csv(path, engine="pyarrow", dtype={"video_id": "string"})
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"frames table {path} cannot be read: {first_line}") from exc
