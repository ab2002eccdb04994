"""Clinical tables: reading, validating and aligning them with per-video features.

A clinical table has one row per video: ``video_id``, ``patient_id``, the score
column (``bdi``, ``phq9``, ...) and the covariate columns. The checks here are
shared by every analysis (``stats partial-corr``, ``stats scalogram``, the
dashboard) so they all refuse the same things with the same one-line messages:

* a score outside its instrument's range (known by the column name through
  :func:`facs_core.reference.instrument_for_column`) is an error naming the
  video and the value: a typo in a score must never become a data point;
* a missing score or covariate leaves that video out, and the exclusion is
  reported (:func:`missing_value_notes`), never silent;
* video ids present on one side only are reported by :func:`align`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core import wording
from facs_core.errors import InputError
from facs_core.reference import instrument_for_column

#: Columns every clinical table must have besides the score and covariates.
ID_COLUMNS: tuple[str, ...] = ("video_id", "patient_id")

#: Documented ranges of numeric covariates the study records (age at the visit in years,
#: as the upload form and ``videos add`` accept it).
COVARIATE_RANGES: dict[str, tuple[float, float]] = {"age": (0.0, 120.0), "repeat_visit": (0.0, 1.0)}

#: How many ids a message lists before it says "and N more".
_IDS_SHOWN = 5


def read_table(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a one-line error when that fails.

    Parameters
    ----------
    path : path-like
        A ``.csv`` (or ``.txt``) or ``.parquet`` file.
    what : str
        What the file is, for messages ("features table", "clinical table").
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            table = pd.read_parquet(path, page_checksum_verification=True)
        else:
            table = pd.read_csv(path, dtype={"video_id": str, "patient_id": str})
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{what} {path} cannot be read: {first_line}") from exc
    if table.empty:
        raise InputError(f"{what} {path} has no data rows, only a header")
    return table


def _id_list(ids: Sequence[str]) -> str:
    shown = ", ".join(str(i) for i in ids[:_IDS_SHOWN])
    more = len(ids) - _IDS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def validate_clinical(
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    source: str = "clinical table",
) -> pd.DataFrame:
    """Check a clinical table and return a cleaned copy.

    The copy keeps only ``video_id``, ``patient_id``, the score and the
    covariates, with ids as text and the score as float. Missing scores and
    covariates stay missing (NaN/None): the analyses leave those videos out and
    count them.

    Parameters
    ----------
    clinical : DataFrame
        One row per video.
    score : str
        The score column. When its name is a known instrument (``bdi``,
        ``phq9``, ``hamd17``, ``madrs`` or an alias) every present value must
        lie in that instrument's range.
    covariates : sequence of str
        Covariate columns; numeric or text (text is dummy-coded later).
    source : str
        Where the table came from, for messages (usually the file name).

    Raises
    ------
    InputError
        A required column is missing, the score is not numeric or out of
        range, a video id is missing or repeated, or the score is also listed
        as a covariate.
    """
    covariates = list(covariates)
    if score in covariates:
        raise InputError(f"score column {score!r} is also listed as a covariate")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"covariates list a column twice: {','.join(covariates)}")
    needed = [*ID_COLUMNS, score, *covariates]
    missing = [c for c in needed if c not in clinical.columns]
    if missing:
        raise InputError(
            f"{source} has no column {', '.join(repr(c) for c in missing)}"
            f" (it has: {', '.join(map(str, clinical.columns))})"
        )
    table = clinical[needed].copy()
    table["video_id"] = _ids(table["video_id"], "video_id", source)
    table["patient_id"] = _ids(table["patient_id"], "patient_id", source)
    repeated = table["video_id"][table["video_id"].duplicated()].unique().tolist()
    if repeated:
        raise InputError(f"{source} lists video {_id_list(repeated)} more than once; give one row per video")

    numeric_score = pd.to_numeric(table[score], errors="coerce")
    not_numeric = table[score].notna() & numeric_score.isna()
    if not_numeric.any():
        row = not_numeric.idxmax()
        raise InputError(
            f"{source}: score {score!r} of video {table.at[row, 'video_id']} is {table.at[row, score]!r}, not a number"
        )
    table[score] = numeric_score.astype(float)
    _refuse_infinite(table, score, source)
    instrument = instrument_for_column(score)
    if instrument is not None:
        values = table[score]
        outside = values.notna() & ((values < instrument.min) | (values > instrument.max))
        if outside.any():
            row = outside.idxmax()
            raise InputError(
                f"{source}: {score} of video {table.at[row, 'video_id']} is {_number(values[row])}, outside the"
                f" {instrument.label} range {_number(instrument.min)}-{_number(instrument.max)}"
            )
    for column in covariates:
        table[column] = _covariate(table[column])
        if pd.api.types.is_numeric_dtype(table[column]):
            _refuse_infinite(table, column, source)
            limits = COVARIATE_RANGES.get(column.strip().lower())
            if limits is not None:
                values = table[column]
                outside = values.notna() & ((values < limits[0]) | (values > limits[1]))
                if outside.any():
                    row = outside.idxmax()
                    raise InputError(
                        f"{source}: {column} of video {table.at[row, 'video_id']} is {_number(values[row])},"
                        f" outside {_number(limits[0])}-{_number(limits[1])}"
                    )
    return table.reset_index(drop=True)


def _refuse_infinite(table: pd.DataFrame, column: str, source: str) -> None:
    # NaN is a missing value (the video is left out and counted); inf is an impossible one.
    infinite = np.isinf(table[column].to_numpy(dtype=float))
    if infinite.any():
        row = table.index[int(infinite.argmax())]
        raise InputError(
            f"{source}: {column} of video {table.at[row, 'video_id']} is {float(table.at[row, column]):g},"
            " not a finite number"
        )


def _number(value: float) -> str:
    value = float(value)
    if abs(value) >= 1e15:
        return f"{value:g}"
    return str(int(value)) if value.is_integer() else repr(value)


def _ids(values: pd.Series, column: str, source: str) -> pd.Series:
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    if empty.any():
        row = int(empty.to_numpy().argmax()) + 2
        raise InputError(f"{source}: {column} is empty in line {row} (counting the header as line 1)")
    return text.astype(object)


def _covariate(values: pd.Series) -> pd.Series:
    # A column of numbers written as text ("41") is numeric; anything else is a
    # category. Booleans become 0/1 so that they are one column, not two dummies.
    if values.dtype == bool or str(values.dtype) == "boolean":
        return values.astype("Float64").astype(float)
    numeric = pd.to_numeric(values, errors="coerce")
    if (numeric.notna() | values.isna()).all():
        return numeric.astype(float)
    text = values.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def load_clinical(path: str | os.PathLike[str], score: str, covariates: Sequence[str]) -> pd.DataFrame:
    """Read CLINICAL.csv (or .parquet) and validate it (see :func:`validate_clinical`)."""
    return validate_clinical(read_table(path, "clinical table"), score, covariates, source=str(path))


def missing_value_notes(clinical: pd.DataFrame, score: str, covariates: Sequence[str]) -> list[str]:
    """One line per column with missing values: which videos are left out and why.

    Each is a :class:`~facs_core.wording.Note` whose reader text names the
    column as a reader does.

    Examples
    --------
    >>> table = pd.DataFrame({"video_id": ["v1", "v2"], "bdi": [3.0, None], "repeat_visit": [None, True]})
    >>> notes = missing_value_notes(table, "bdi", ["repeat_visit"])
    >>> [str(n) for n in notes]
    ['1 video left out: bdi is missing for v2', '1 video left out: repeat_visit is missing for v1']
    >>> [n.reader for n in notes]
    ['1 visit left out: no BDI-II score recorded (video v2).', '1 visit left out: no repeat visit recorded (video v1).']
    """
    from facs_core.labels import covariate_label, score_label

    notes = []
    for column in [score, *covariates]:
        absent = clinical.loc[clinical[column].isna(), "video_id"].tolist()
        if absent:
            what = f"{score_label(column)} score" if column == score else covariate_label(column)
            videos = "video" if len(absent) == 1 else "videos"
            notes.append(
                wording.Note(
                    f"{wording.count(len(absent), 'video')} left out: {column} is missing for {_id_list(absent)}",
                    f"{wording.count(len(absent), 'visit')} left out: no {what} recorded"
                    f" ({videos} {_id_list(absent)}).",
                )
            )
    return notes


def complete_rows(clinical: pd.DataFrame, score: str, covariates: Sequence[str]) -> pd.Series:
    """Boolean mask of rows whose score and covariates are all present."""
    return clinical[[score, *covariates]].notna().all(axis=1)


@dataclass
class Alignment:
    """Features and clinical rows matched by ``video_id``.

    Attributes
    ----------
    features, clinical : DataFrame
        The matched rows, indexed by ``video_id``, in the same order (the
        clinical table's order).
    features_only, clinical_only : list of str
        Video ids found in one table only; they are reported, not analysed.
    """

    features: pd.DataFrame
    clinical: pd.DataFrame
    features_only: list[str] = field(default_factory=list)
    clinical_only: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line per kind of unmatched video, for the user (a :class:`~facs_core.wording.Note`).

        Examples
        --------
        >>> notes = Alignment(pd.DataFrame(), pd.DataFrame(), ["a1"], ["b1", "b2"]).notes()
        >>> [str(n) for n in notes]  # doctest: +NORMALIZE_WHITESPACE
        ['1 video in the features but not in the clinical table, left out: a1',
         '2 videos in the clinical table but not in the features, left out: b1, b2']
        >>> [n.reader for n in notes]  # doctest: +NORMALIZE_WHITESPACE
        ['1 video left out: it has features but no clinical record (a1).',
         '2 visits left out: they have no extracted features (videos b1, b2).']
        """
        notes = []
        if self.features_only:
            n = len(self.features_only)
            notes.append(
                wording.Note(
                    f"{wording.count(n, 'video')} in the features but not in the clinical table,"
                    f" left out: {_id_list(self.features_only)}",
                    f"{wording.count(n, 'video')} left out: {'it has' if n == 1 else 'they have'} features but no"
                    f" clinical record ({_id_list(self.features_only)}).",
                )
            )
        if self.clinical_only:
            n = len(self.clinical_only)
            notes.append(
                wording.Note(
                    f"{wording.count(n, 'video')} in the clinical table but not in the features,"
                    f" left out: {_id_list(self.clinical_only)}",
                    f"{wording.count(n, 'visit')} left out: {'it has' if n == 1 else 'they have'} no extracted"
                    f" features ({'video' if n == 1 else 'videos'} {_id_list(self.clinical_only)}).",
                )
            )
        return notes


def features_by_video(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` indexed by ``video_id`` (taken from a column or the index)."""
    if "video_id" in features.columns:
        table = features.set_index("video_id")
    elif features.index.name == "video_id":
        table = features
    else:
        raise InputError("features table has no 'video_id' column")
    table = table.copy()
    table.index = table.index.astype(str).str.strip()
    repeated = table.index[table.index.duplicated()].unique().tolist()
    if repeated:
        raise InputError(f"features table lists video {_id_list(repeated)} more than once; give one row per video")
    table.index.name = "video_id"
    return table


def align(features: pd.DataFrame, clinical: pd.DataFrame) -> Alignment:
    """Match features and clinical rows by ``video_id``; report the unmatched.

    Parameters
    ----------
    features : DataFrame
        ``video_id`` as column or index, one column per feature.
    clinical : DataFrame
        A validated clinical table (:func:`validate_clinical`).
    """
    by_video = features_by_video(features)
    clinical_ids = clinical["video_id"].astype(str).tolist()
    feature_ids = set(by_video.index)
    shared = [v for v in clinical_ids if v in feature_ids]
    shared_set = set(shared)
    return Alignment(
        features=by_video.loc[shared],
        clinical=clinical.set_index(clinical["video_id"].astype(str)).loc[shared],
        features_only=[v for v in by_video.index if v not in shared_set],
        clinical_only=[v for v in clinical_ids if v not in feature_ids],
    )
