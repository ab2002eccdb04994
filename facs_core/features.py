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

Only *confident patient frames* enter the AU statistics: ``face`` true and,
where the table has the column, ``identity_uncertain`` false (the offline
backend's patient track, :mod:`facs_core.tracking`). The rest are left out and
counted: ``n_frames`` (frames in the analysed window), ``n_face_frames`` (the
frames used), ``n_no_face_frames`` (the frames left out), and among those
``n_uncertain_frames`` (the patient's face, identity uncertain) and
``n_other_face_frames`` (only another person's face). A frame belongs to a
segment when ``start_s <= timestamp < end_s``; overlapping segments count a
frame once.

What frames a video's features cover is limited twice: by the segments given
here, and by the extraction run itself, which may have analysed only the
frames inside the video's segments (its shard holds no other frame).
:func:`with_extraction_scope` folds the run's scope in: ``segmented`` is then
true for both, and ``frames_analysed`` says it in words ("whole video",
"frames inside 2 segments, 288 of 472").

Scales and thresholds: AU values mean different things per backend (a py-feat
probability, a blendshape coefficient, a geometric ratio;
``resources/occurrence_thresholds.csv``), so the occurrence threshold defaults
to the one of the table's ``au_source`` (:func:`occurrence_threshold`), and
:func:`per_video_features` can normalise each visit by its own robust
baseline (``normalise="visit"``: ``(x - median) / (1.4826 * MAD)`` over the
visit's confident frames) so that statistics do not mix scales silently.

Two implementations give the same numbers (``tests/test_features.py``):
:func:`per_video_features` on a DataFrame (the dashboard), and
:func:`features_from_shards`, which lets DuckDB aggregate the store's Parquet
shards in place without loading every frame into pandas.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from facs_core.errors import InputError
from facs_core.importers import PYFEAT_EMOTIONS
from facs_core.run_scope import scope_text

__all__ = [
    "DEFAULT_THRESHOLD",
    "NORMALISED_THRESHOLD",
    "SEGMENT_COLUMNS",
    "au_columns",
    "check_segments",
    "feature_columns",
    "features_from_shards",
    "in_segments",
    "occurrence_threshold",
    "occurrence_thresholds",
    "per_video_features",
    "read_segments",
    "with_extraction_scope",
]

#: Occurrence threshold: an AU "occurs" in a frame when its value is at least this (py-feat's scale;
#: other scales: :func:`occurrence_threshold`).
DEFAULT_THRESHOLD = 0.5
#: Occurrence threshold on visit-normalised values: two robust standard deviations above the visit's median.
NORMALISED_THRESHOLD = 2.0
#: 1 / Phi^-1(3/4): makes the median absolute deviation estimate a normal standard deviation.
MAD_TO_SD = 1.482602218505602

_AU_COLUMN = re.compile(r"^AU\d+$")
_INT_COUNTS = ("n_frames", "n_face_frames", "n_no_face_frames", "n_uncertain_frames", "n_other_face_frames")
_COUNT_COLUMNS = (*_INT_COUNTS, "segmented")
SEGMENT_COLUMNS = ("video_id", "start_s", "end_s")


@cache
def occurrence_thresholds() -> dict[str, tuple[float, str]]:
    """AU source -> (default occurrence threshold, its justification) (``resources/occurrence_thresholds.csv``)."""
    text = resources.files("facs_core.resources").joinpath("occurrence_thresholds.csv").read_text("utf-8")
    return {row["au_source"]: (float(row["threshold"]), row["basis"]) for row in csv.DictReader(text.splitlines())}


def occurrence_threshold(au_source: str | None) -> float:
    """The default occurrence threshold for AU values from ``au_source`` (py-feat's 0.5 when unknown)."""
    return occurrence_thresholds().get(str(au_source), (DEFAULT_THRESHOLD, ""))[0]


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


def _frame_thresholds(frames: pd.DataFrame, threshold: float | None) -> np.ndarray:
    if threshold is not None:
        return np.full(len(frames), float(threshold))
    if "au_source" not in frames.columns:
        return np.full(len(frames), DEFAULT_THRESHOLD)
    source = frames["au_source"].astype(str)
    return source.map({k: v[0] for k, v in occurrence_thresholds().items()}).fillna(DEFAULT_THRESHOLD).to_numpy(float)


def confident_face(frames: pd.DataFrame) -> np.ndarray:
    """Frames whose AU values are used: the patient's face, its identity not uncertain."""
    face = frames["face"].fillna(False).astype(bool).to_numpy()
    if "identity_uncertain" in frames.columns:
        face = face & ~frames["identity_uncertain"].fillna(False).astype(bool).to_numpy()
    return face


def per_video_features(
    frames: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    threshold: float | None = None,
    normalise: str | None = None,
) -> pd.DataFrame:
    """Per-video AU mean, occurrence rate and standard deviation.

    Parameters
    ----------
    frames : DataFrame
        Per-frame table (``video_id``, ``timestamp``, ``face``, ``AUxx`` ...).
    segments : DataFrame, optional
        ``video_id, start_s, end_s``: the parts of each video to analyse.
    threshold : float, optional
        Occurrence threshold for ``AUxx_rate``; by default the one of each
        frame's ``au_source`` (:func:`occurrence_threshold`), or
        :data:`NORMALISED_THRESHOLD` with ``normalise="visit"``.
    normalise : {None, "visit"}
        ``"visit"``: each AU of each video is first expressed relative to that
        video's own baseline, ``(x - median) / (1.4826 * MAD)`` over its
        confident frames in the window (NaN when the MAD is 0).

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
    if normalise not in (None, "visit"):
        raise InputError(f"normalise must be 'visit' or none, got {normalise!r}")
    aus = _check_frames(frames, "frames table")
    emotions = emotion_columns(frames.columns)
    measures = [*aus, *emotions]
    segments = check_segments(segments)
    video = frames["video_id"].astype(str)
    selected = in_segments(frames, segments)
    face = confident_face(frames) & selected
    values = frames[measures].astype(float).where(np.broadcast_to(face[:, None], (len(frames), len(measures))))
    if normalise == "visit":
        centre = values.groupby(video).transform("median")
        spread = (values - centre).abs().groupby(video).transform("median") * MAD_TO_SD
        values = (values - centre) / spread.where(spread > 0)
        cut = np.full(len(frames), NORMALISED_THRESHOLD if threshold is None else float(threshold))
    else:
        cut = _frame_thresholds(frames, threshold)
    grouped = values.groupby(video, sort=True)
    occurs = (values.to_numpy() >= cut[:, None]).astype(float)
    occurs = pd.DataFrame(occurs, index=values.index, columns=measures).where(values.notna())
    rates = occurs.groupby(video, sort=True).mean().add_suffix("_rate")
    status = frames["face_status"].astype(str).to_numpy() if "face_status" in frames.columns else None
    raw_face = frames["face"].fillna(False).astype(bool).to_numpy()

    def per_video(mask: np.ndarray) -> pd.Series:
        return pd.Series(mask, index=frames.index).groupby(video, sort=True).sum()

    counts = pd.DataFrame({"n_frames": per_video(selected), "n_face_frames": per_video(face)})
    counts["n_no_face_frames"] = counts["n_frames"] - counts["n_face_frames"]
    counts["n_uncertain_frames"] = per_video(selected & raw_face & ~face)
    other = status == "other_face" if status is not None else np.zeros(len(frames), bool)
    counts["n_other_face_frames"] = per_video(selected & other)
    counts["segmented"] = counts.index.isin(segments["video_id"])
    table = pd.concat([counts, grouped.mean(), rates, grouped.std(ddof=1).add_suffix("_sd")], axis=1)
    table.index.name = "video_id"
    table = table.reset_index()
    for column in _INT_COUNTS:
        table[column] = table[column].astype("int64")
    return table[feature_columns(aus, emotions)]


def features_from_shards(
    files: Sequence[str | os.PathLike[str]],
    segments: pd.DataFrame | None = None,
    threshold: float | None = None,
    normalise: str | None = None,
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
    threshold : float, optional
        Occurrence threshold for ``AUxx_rate``; by default per ``au_source``
        (:func:`occurrence_threshold`), or :data:`NORMALISED_THRESHOLD` with
        ``normalise="visit"``.
    normalise : {None, "visit"}
        As :func:`per_video_features`: each AU of each video relative to its
        own median and MAD over its confident frames in the window.

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
    if normalise not in (None, "visit"):
        raise InputError(f"normalise must be 'visit' or none, got {normalise!r}")
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
        result = connection.execute(_shard_sql(source, measures, columns, threshold, normalise)).df()
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


def _threshold_sql(columns: Sequence[str], threshold: float | None) -> str:
    if threshold is not None:
        return repr(float(threshold))
    if "au_source" not in columns:
        return repr(DEFAULT_THRESHOLD)
    cases = " ".join(
        f"WHEN '{name.replace(chr(39), '')}' THEN {value!r}" for name, (value, _) in occurrence_thresholds().items()
    )
    return f"(CASE CAST(f.au_source AS VARCHAR) {cases} ELSE {DEFAULT_THRESHOLD!r} END)"


def _shard_sql(
    source: str, aus: Sequence[str], columns: Sequence[str], threshold: float | None, normalise: str | None = None
) -> str:
    # NaN (no face, or a backend's missing value) must not enter an average:
    # DuckDB treats NaN as a number, so it becomes NULL here.
    if normalise == "visit":
        cut = repr(NORMALISED_THRESHOLD if threshold is None else float(threshold))
    else:
        cut = _threshold_sql(columns, threshold)
    q = _quoted
    picked = ", ".join(
        f"CASE WHEN f.face AND f.selected AND NOT isnan({q(au)}) THEN {q(au)} END AS {q(au)}" for au in aus
    )
    # The threshold may depend on the frame's au_source: carried along as a column.
    keep = "video_id, selected, face_in, uncertain, other_face, cut"
    if normalise == "visit":
        # Same arithmetic as per_video_features: (x - median) / (MAD * 1.4826), NULL where the MAD is 0.
        centres = ", ".join(f"median({q(au)}) AS {q(au)}" for au in aus)
        spreads = ", ".join(f"median(abs(p.{q(au)} - c.{q(au)})) AS {q(au)}" for au in aus)
        scaled = ", ".join(
            f"CASE WHEN s.{q(au)} > 0 THEN (p.{q(au)} - c.{q(au)}) / (s.{q(au)} * {MAD_TO_SD!r}) END AS {q(au)}"
            for au in aus
        )
        prefixed = ", ".join(f"p.{part.strip()}" for part in keep.split(","))
        values = f"""
        centre AS (SELECT video_id, {centres} FROM picked GROUP BY video_id),
        spread AS (SELECT p.video_id, {spreads} FROM picked p JOIN centre c USING (video_id) GROUP BY p.video_id),
        valued AS (SELECT {prefixed}, {scaled}
                   FROM picked p JOIN centre c USING (video_id) JOIN spread s USING (video_id)),"""
    else:
        values = "valued AS (SELECT * FROM picked),"
    occurs = ", ".join(
        f"CASE WHEN {q(au)} IS NOT NULL THEN CASE WHEN {q(au)} >= cut THEN 1.0 ELSE 0.0 END END AS {q(au + '_occurs')}"
        for au in aus
    )
    means = ", ".join(f"avg({q(au)}) AS {q(au)}" for au in aus)
    rates = ", ".join(f"avg({q(au + '_occurs')}) AS {q(au + '_rate')}" for au in aus)
    uncertain = "coalesce(r.identity_uncertain, false)" if "identity_uncertain" in columns else "false"
    other = "coalesce(CAST(r.face_status AS VARCHAR) = 'other_face', false)" if "face_status" in columns else "false"
    sds = ", ".join(f"stddev_samp({q(au)}) AS {q(au + '_sd')}" for au in aus)
    return f"""
        WITH marked AS (SELECT DISTINCT video_id FROM segments),
        frames AS (
            SELECT CAST(r.video_id AS VARCHAR) AS video_id,
                   coalesce(r.face, false) AND NOT {uncertain} AS face,
                   coalesce(r.face, false) AND {uncertain} AS uncertain, {other} AS other_face,
                   r.* EXCLUDE (video_id, face),
                   CASE WHEN r.video_id NOT IN (SELECT video_id FROM marked) THEN true
                        ELSE EXISTS (SELECT 1 FROM segments s WHERE s.video_id = r.video_id
                                     AND r.timestamp >= s.start_s AND r.timestamp < s.end_s)
                   END AS selected
            FROM {source} r
        ),
        picked AS (SELECT video_id, selected, face AND selected AS face_in, uncertain, other_face,
                          {cut} AS cut, {picked} FROM frames f),{values}
        occurred AS (SELECT *, {occurs} FROM valued)
        SELECT video_id,
               count(*) FILTER (WHERE selected) AS n_frames,
               count(*) FILTER (WHERE face_in) AS n_face_frames,
               count(*) FILTER (WHERE selected AND NOT face_in) AS n_no_face_frames,
               count(*) FILTER (WHERE selected AND uncertain) AS n_uncertain_frames,
               count(*) FILTER (WHERE selected AND other_face) AS n_other_face_frames,
               video_id IN (SELECT video_id FROM marked) AS segmented,
               {means}, {rates}, {sds}
        FROM occurred GROUP BY video_id ORDER BY video_id
    """


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    for column in _INT_COUNTS:
        table[column] = table[column].astype("int64")
    table["segmented"] = table["segmented"].astype(bool)
    return table.reset_index(drop=True)


def with_extraction_scope(
    table: pd.DataFrame, scope: pd.DataFrame, segments: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per-video features with the extraction run's frame scope folded in.

    Parameters
    ----------
    table : DataFrame
        Per-video features (:func:`features_from_shards`, :func:`per_video_features`).
    scope : DataFrame
        One row per video: ``video_id``, ``run_segments`` (segments the
        extraction run was restricted to; 0 for the whole video),
        ``video_frames`` (frames in the video, NaN when unknown) and
        ``every`` (the run's stride).
    segments : DataFrame, optional
        The segments the features were computed inside (as given to
        :func:`features_from_shards`).

    Returns
    -------
    DataFrame
        ``table`` with ``segmented`` true where the analysed frames were
        limited to segments by either, and ``frames_analysed``
        (:func:`facs_core.run_scope.scope_text`) right after it.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"video_id": ["a", "b"], "n_frames": [472, 288], "segmented": [False, False]})
    >>> scope = pd.DataFrame({"video_id": ["a", "b"], "run_segments": [0, 2], "video_frames": [472, 472],
    ...                       "every": [1, 1]})
    >>> with_extraction_scope(table, scope)[["video_id", "segmented", "frames_analysed"]]
      video_id  segmented                       frames_analysed
    0        a      False                           whole video
    1        b       True  frames inside 2 segments, 288 of 472
    """
    out = table.copy()
    if out.empty:
        out["frames_analysed"] = pd.Series(dtype=object)
        return out
    ids = out["video_id"].astype(str)
    runs = scope.assign(video_id=scope["video_id"].astype(str)).set_index("video_id")
    run_segments = ids.map(runs["run_segments"]).fillna(0).astype(int)
    given = check_segments(segments)
    chosen = ids.map(given.groupby("video_id").size()).fillna(0).astype(int)
    total = ids.map(runs["video_frames"])
    every = ids.map(runs["every"]).fillna(1).astype(int)
    # Frames inside the chosen segments are counted by those segments; otherwise by the run's own.
    count = chosen.where(chosen > 0, run_segments)
    out["segmented"] = out["segmented"].astype(bool).to_numpy() | (count > 0).to_numpy()
    texts = [
        scope_text(int(k), int(n), None if pd.isna(t) else int(t), int(e))
        for k, n, t, e in zip(count, out["n_frames"], total, every, strict=True)
    ]
    out.insert(out.columns.get_loc("segmented") + 1, "frames_analysed", texts)
    return out
