"""Per-video features from per-frame AU tables.

For each video and Action Unit, over the frames inside the video's marked
segments (all frames when it has none) that show a detected face:

* ``AUxx``: the mean AU value, the study's "average probability";
* ``AUxx_rate``: the occurrence rate, the share of those frames with a value
  at or above a threshold (default 0.5);
* ``AUxx_sd``: the sample standard deviation (ddof = 1; empty with one frame).

The same three statistics are computed for the seven emotion probabilities
py-feat reports (``anger`` ... ``neutral``, with ``anger_rate``, ``anger_sd``
...), for videos whose backend estimates them (NaN for the others).

Frames without a face (``face`` false) are left out of the AU statistics and
counted: ``n_frames`` (frames in the analysed window), ``n_face_frames`` and
``n_no_face_frames``. A frame belongs to a segment when
``start_s <= timestamp < end_s``; overlapping segments count a frame once.

Two implementations give the same numbers (``tests/test_features.py``):
:func:`per_video_features` on a DataFrame (the dashboard), and
:func:`features_from_shards`, which lets DuckDB aggregate the store's Parquet
shards in place without loading every frame into pandas.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from facs_core.errors import InputError
from facs_core.importers import PYFEAT_EMOTIONS

__all__ = [
    "DEFAULT_THRESHOLD",
    "SEGMENT_COLUMNS",
    "au_columns",
    "check_segments",
    "feature_columns",
    "features_from_shards",
    "in_segments",
    "per_video_features",
    "read_segments",
]

#: Occurrence threshold: an AU "occurs" in a frame when its value is at least this.
DEFAULT_THRESHOLD = 0.5

_AU_COLUMN = re.compile(r"^AU\d+$")
_COUNT_COLUMNS = ("n_frames", "n_face_frames", "n_no_face_frames", "segmented")
SEGMENT_COLUMNS = ("video_id", "start_s", "end_s")


def au_columns(columns: Iterable[str]) -> list[str]:
    """The Action Unit columns (``AU01``, ``AU12`` ...) among ``columns``, in order."""
    return [str(c) for c in columns if _AU_COLUMN.match(str(c))]


def emotion_columns(columns: Iterable[str]) -> list[str]:
    """py-feat's emotion columns (``anger`` ... ``neutral``) among ``columns``, in py-feat's order."""
    present = {str(c) for c in columns}
    return [e for e in PYFEAT_EMOTIONS if e in present]


def feature_columns(aus: Sequence[str], emotions: Sequence[str] = ()) -> list[str]:
    """Output column order: counts, then means, rates and standard deviations (AUs, then emotions)."""
    measures = [*aus, *emotions]
    return [
        "video_id",
        *_COUNT_COLUMNS,
        *measures,
        *(f"{m}_rate" for m in measures),
        *(f"{m}_sd" for m in measures),
    ]


def check_segments(segments: pd.DataFrame | None, source: str = "segments table") -> pd.DataFrame:
    """Validate a segments table (``video_id, start_s, end_s`` [, ``label``]).

    Returns a copy with ids as text and times as float.

    Raises
    ------
    InputError
        A column is missing, a time is not a number, negative, or a segment
        does not end after it starts.
    """
    if segments is None:
        return pd.DataFrame({"video_id": pd.Series(dtype=object), "start_s": [], "end_s": []})
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise InputError(f"{source} has no column {', '.join(repr(c) for c in missing)}")
    table = segments[list(SEGMENT_COLUMNS)].copy()
    table["video_id"] = table["video_id"].astype(str).str.strip()
    for column in ("start_s", "end_s"):
        numeric = pd.to_numeric(table[column], errors="coerce")
        bad = numeric.isna() | (numeric < 0)
        if bad.any():
            row = bad.idxmax()
            raise InputError(
                f"{source}: {column} of video {table.at[row, 'video_id']} is {segments.at[row, column]!r},"
                " not a time in seconds"
            )
        table[column] = numeric.astype(float)
    backwards = table["end_s"] <= table["start_s"]
    if backwards.any():
        row = backwards.idxmax()
        raise InputError(
            f"{source}: segment of video {table.at[row, 'video_id']} ends at {table.at[row, 'end_s']:g} s,"
            f" not after its start at {table.at[row, 'start_s']:g} s"
        )
    return table.reset_index(drop=True)


def read_segments(path: str | os.PathLike[str] | None) -> pd.DataFrame:
    """Read and validate SEGMENTS.csv; an empty table when ``path`` is None."""
    if path is None:
        return check_segments(None)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"segments table {path} does not exist")
    try:
        table = pd.read_csv(path, dtype={"video_id": str})
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"segments table {path} cannot be read: {str(exc).strip().splitlines()[0]}") from exc
    return check_segments(table, source=str(path))


def _check_frames(frames: pd.DataFrame, source: str) -> list[str]:
    missing = [c for c in ("video_id", "timestamp", "face") if c not in frames.columns]
    if missing:
        raise InputError(f"{source} has no column {', '.join(repr(c) for c in missing)} (per-frame table contract)")
    aus = au_columns(frames.columns)
    if not aus:
        raise InputError(f"{source} has no Action Unit column (named like AU01)")
    return aus


def in_segments(frames: pd.DataFrame, segments: pd.DataFrame) -> np.ndarray:
    """Boolean mask: is each frame analysed (inside a segment, or its video has none)?"""
    selected = np.ones(len(frames), dtype=bool)
    if segments.empty:
        return selected
    video = frames["video_id"].astype(str).to_numpy()
    time = frames["timestamp"].to_numpy(dtype=float)
    marked = np.isin(video, segments["video_id"].unique())
    selected[marked] = False
    for video_id, spans in segments.groupby("video_id", sort=False):
        rows = np.flatnonzero(video == video_id)
        if rows.size == 0:
            continue
        t = time[rows][:, None]
        inside = ((t >= spans["start_s"].to_numpy()) & (t < spans["end_s"].to_numpy())).any(axis=1)
        selected[rows] = inside
    return selected


def per_video_features(
    frames: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Per-video AU mean, occurrence rate and standard deviation.

    Parameters
    ----------
    frames : DataFrame
        Per-frame table (``video_id``, ``timestamp``, ``face``, ``AUxx`` ...).
    segments : DataFrame, optional
        ``video_id, start_s, end_s``: the parts of each video to analyse.
    threshold : float
        Occurrence threshold for ``AUxx_rate``.

    Returns
    -------
    DataFrame
        One row per video (sorted by ``video_id``), columns as
        :func:`feature_columns`.

    Examples
    --------
    Four frames of one video, one without a face; the segment keeps the first
    three (``start_s <= timestamp < end_s``):

    >>> import numpy as np, pandas as pd
    >>> frames = pd.DataFrame({"video_id": "v1", "timestamp": [0.0, 0.5, 1.0, 1.5],
    ...                        "face": [True, True, False, True], "AU12": [0.2, 0.8, np.nan, 0.9]})
    >>> segments = pd.DataFrame({"video_id": ["v1"], "start_s": [0.0], "end_s": [1.2]})
    >>> table = per_video_features(frames, segments)
    >>> table[["video_id", "n_frames", "n_face_frames", "AU12", "AU12_rate"]]
      video_id  n_frames  n_face_frames  AU12  AU12_rate
    0       v1         3              2   0.5        0.5
    """
    aus = _check_frames(frames, "frames table")
    emotions = emotion_columns(frames.columns)
    measures = [*aus, *emotions]
    segments = check_segments(segments)
    video = frames["video_id"].astype(str)
    selected = in_segments(frames, segments)
    face = frames["face"].fillna(False).astype(bool).to_numpy() & selected
    values = frames[measures].astype(float).where(np.broadcast_to(face[:, None], (len(frames), len(measures))))
    grouped = values.groupby(video, sort=True)
    occurs = (values >= threshold).astype(float).where(values.notna())
    rates = occurs.groupby(video, sort=True).mean().add_suffix("_rate")
    counts = pd.DataFrame(
        {
            "n_frames": pd.Series(selected, index=frames.index).groupby(video, sort=True).sum(),
            "n_face_frames": pd.Series(face, index=frames.index).groupby(video, sort=True).sum(),
        }
    )
    counts["n_no_face_frames"] = counts["n_frames"] - counts["n_face_frames"]
    counts["segmented"] = counts.index.isin(segments["video_id"])
    table = pd.concat([counts, grouped.mean(), rates, grouped.std(ddof=1).add_suffix("_sd")], axis=1)
    table.index.name = "video_id"
    table = table.reset_index()
    for column in ("n_frames", "n_face_frames", "n_no_face_frames"):
        table[column] = table[column].astype("int64")
    return table[feature_columns(aus, emotions)]


def features_from_shards(
    files: Sequence[str | os.PathLike[str]],
    segments: pd.DataFrame | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Per-video features computed by DuckDB over per-frame Parquet shards.

    Same definitions and output as :func:`per_video_features`, without
    loading the frames into memory: DuckDB streams the shards.

    Parameters
    ----------
    files : sequence of path-like
        Per-frame Parquet files (the store's shards, ``store.shards``); each
        video must come from one run.
    segments : DataFrame, optional
        ``video_id, start_s, end_s``.
    threshold : float
        Occurrence threshold for ``AUxx_rate``.

    Examples
    --------
    The same numbers as :func:`per_video_features` on the same frames:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> frames = pd.DataFrame({"video_id": "v1", "timestamp": [0.0, 0.5, 1.0, 1.5],
    ...                        "face": [True, True, False, True], "AU12": [0.2, 0.8, 0.0, 0.9]})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     shard = Path(folder) / "v1.parquet"
    ...     frames.to_parquet(shard)
    ...     table = features_from_shards([shard])
    >>> table[["video_id", "n_frames", "n_face_frames", "AU12"]].round(6)
      video_id  n_frames  n_face_frames      AU12
    0       v1         4              3  0.633333
    >>> bool(table.equals(per_video_features(frames)))
    True
    """
    files = [Path(f) for f in files]
    if not files:
        raise InputError("no frame shards to read")
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise InputError(f"frame shard {absent[0]} does not exist")
    segments = check_segments(segments)
    source = _read_parquet_sql(files)
    connection = duckdb.connect()
    try:
        columns = [row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        aus = _check_frames(pd.DataFrame(columns=columns), "frame shards")
        measures = [*aus, *emotion_columns(columns)]
        if "run_id" in columns:
            mixed = connection.execute(
                f"SELECT video_id FROM {source} GROUP BY video_id HAVING count(DISTINCT run_id) > 1 LIMIT 1"
            ).fetchone()
            if mixed:
                raise InputError(f"video {mixed[0]} appears in shards of more than one extraction run; pick one run")
        connection.register("segments", segments)
        result = connection.execute(_shard_sql(source, measures), [threshold]).df()
        return result[feature_columns(aus, emotion_columns(columns))].pipe(_tidy)
    finally:
        connection.close()


def _read_parquet_sql(files: Sequence[Path]) -> str:
    # Any Parquet files, not only the store's shards: the core reads paths it is given
    # (union_by_name lets files of different backends, with different AU sets, be read together).
    quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}], union_by_name = true)"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _shard_sql(source: str, aus: Sequence[str]) -> str:
    # NaN (no face, or a backend's missing value) must not enter an average:
    # DuckDB treats NaN as a number, so it becomes NULL here.
    picked = ", ".join(
        f"CASE WHEN f.face AND f.selected AND NOT isnan({_quoted(au)}) THEN {_quoted(au)} END AS {_quoted(au)}"
        for au in aus
    )
    means = ", ".join(f"avg({_quoted(au)}) AS {_quoted(au)}" for au in aus)
    rates = ", ".join(
        f"avg(CASE WHEN {_quoted(au)} IS NULL THEN NULL WHEN {_quoted(au)} >= $1 THEN 1.0 ELSE 0.0 END)"
        f" AS {_quoted(au + '_rate')}"
        for au in aus
    )
    sds = ", ".join(f"stddev_samp({_quoted(au)}) AS {_quoted(au + '_sd')}" for au in aus)
    return f"""
        WITH marked AS (SELECT DISTINCT video_id FROM segments),
        frames AS (
            SELECT CAST(r.video_id AS VARCHAR) AS video_id, coalesce(r.face, false) AS face,
                   r.* EXCLUDE (video_id, face),
                   CASE WHEN r.video_id NOT IN (SELECT video_id FROM marked) THEN true
                        ELSE EXISTS (SELECT 1 FROM segments s WHERE s.video_id = r.video_id
                                     AND r.timestamp >= s.start_s AND r.timestamp < s.end_s)
                   END AS selected
            FROM {source} r
        ),
        picked AS (SELECT video_id, selected, face AND selected AS face_in, {picked} FROM frames f)
        SELECT video_id,
               count(*) FILTER (WHERE selected) AS n_frames,
               count(*) FILTER (WHERE face_in) AS n_face_frames,
               count(*) FILTER (WHERE selected AND NOT face_in) AS n_no_face_frames,
               video_id IN (SELECT video_id FROM marked) AS segmented,
               {means}, {rates}, {sds}
        FROM picked GROUP BY video_id ORDER BY video_id
    """


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    for column in ("n_frames", "n_face_frames", "n_no_face_frames"):
        table[column] = table[column].astype("int64")
    table["segmented"] = table["segmented"].astype(bool)
    return table.reset_index(drop=True)
