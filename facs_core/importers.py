"""The ``import`` backend: per-frame AU tables made elsewhere, into ours.

Two sources are read:

py-feat (2.x ``Fex`` CSV, or an in-memory ``Fex``/DataFrame)
    One row per detected face: ``frame``, face box ``FaceRectX FaceRectY
    FaceRectWidth FaceRectHeight``, ``FaceScore``, landmarks, head pose
    ``Pitch Roll Yaw``, AU probabilities ``AU01``..``AU43`` in [0, 1] and the
    seven emotions. Column names follow py-feat's own result files
    (``feat/tests/data/001.csv``, ``002.csv``, ``Feat_Test.csv``). A frame
    without a face is a row with an empty box. Several faces in a frame: the
    patient's is kept (:func:`facs_core.faces.choose_patient_face`) and the
    count recorded in ``face_count``.
OpenFace 2.x (``FeatureExtraction`` CSV)
    Column names carry a leading space (``" AU01_r"``). ``AUxx_r`` are
    intensities on FACS's 0-5 scale and are divided by 5 into [0, 1]
    (Baltrusaitis et al., 2018, OpenFace 2.0, FG); ``AUxx_c`` presence (0/1)
    is kept as it is in ``AUxx_c`` columns. ``success`` -> ``face``,
    ``confidence`` -> ``face_confidence``. OpenFace counts frames from 1; the
    table counts decoded frames from 0, so ``frame`` is OpenFace's minus one.

The table these produce (the per-frame contract every analysis reads):
``frame``, ``timestamp``, ``face``, ``face_confidence``, the study's AUs the
source really has (in ``action_units.csv`` order; an AU the source lacks is
absent, never invented; NaN where there is no face), then backend-specific
columns. Bad input raises a one-line :class:`~facs_core.errors.InputError`
naming the file, the column and the row (rows counted as in a spreadsheet,
the header being row 1).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core.errors import InputError
from facs_core.faces import BOX_COLUMNS, choose_patient_face, face_counts
from facs_core.reference import action_units

#: py-feat's seven emotion columns, in py-feat's order.
PYFEAT_EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
#: py-feat's head pose columns (degrees).
PYFEAT_POSE: tuple[str, ...] = ("Pitch", "Roll", "Yaw")
#: OpenFace head rotation (radians) and gaze angle columns kept as backend-specific.
OPENFACE_EXTRA: tuple[str, ...] = ("pose_Rx", "pose_Ry", "pose_Rz", "gaze_angle_x", "gaze_angle_y")
#: OpenFace's intensity scale maximum (FACS A-E coded 1-5; 0 = absent).
OPENFACE_INTENSITY_MAX = 5.0
#: How far outside [0, 1] a probability may stray from float rounding before it is refused.
_TOLERANCE = 1e-6

FORMATS: tuple[str, ...] = ("openface", "pyfeat")

#: Largest frame number accepted: 46 hours at 60 frames per second, far beyond any interview.
MAX_FRAME = 10_000_000
#: Largest timestamp accepted, in seconds (48 hours).
MAX_TIMESTAMP_S = 172_800.0
#: Highest frame rate accepted (high-speed cameras stay below it).
MAX_FPS = 1000.0
#: Head pose angles (py-feat degrees) lie within a half turn either way.
_POSE_LIMIT_DEG = 180.0

_MIN_SEC = re.compile(r"^\s*(\d+):(\d+(?:\.\d*)?)\s*$")


def _row_number(position: int) -> int:
    # Spreadsheet row: header is row 1, first data row is row 2.
    return int(position) + 2


def _numeric(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    """A column as floats; a value that is not a number is refused naming its row."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: column {column.strip()!r}, row {_row_number(position)}: {raw.iloc[position]!r} is not a number"
        )
    return values.astype(float)


def limit_text(value: float) -> str:
    """A range limit as people write it: ``10000000``, ``0.5``, ``-180``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _first_bad(mask: pd.Series | np.ndarray) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _check_finite(values: pd.Series, column: str, source: str) -> None:
    """Refuse inf and -inf (NaN means "no value" and stays)."""
    infinite = np.isinf(values.to_numpy(dtype=float))
    if infinite.any():
        position = _first_bad(infinite)
        raise InputError(
            f"{source}: column {column!r}, row {_row_number(position)}: {values.iloc[position]:g}"
            " is not a finite number"
        )


def _check_frames(values: pd.Series, source: str, first: int = 0) -> None:
    """Frame numbers: present, finite, whole, within ``first``-``first + MAX_FRAME``."""
    if values.isna().any():
        raise InputError(f"{source}: column 'frame', row {_row_number(_first_bad(values.isna()))} is empty")
    _check_finite(values, "frame", source)
    fractional = values != np.floor(values)
    if fractional.any():
        position = _first_bad(fractional)
        raise InputError(
            f"{source}: column 'frame', row {_row_number(position)}: {values.iloc[position]:g} is not a whole frame"
            " number"
        )
    _check_range(values, "frame", first, first + MAX_FRAME, source)


def check_fps(fps: float | None) -> float | None:
    """A frame rate given by the user: a finite number above 0 and at most :data:`MAX_FPS`, or None."""
    if fps is None:
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"fps {fps!r} is not a number") from None
    if not np.isfinite(value) or not 0 < value <= MAX_FPS:
        raise InputError(f"fps {fps!r} must be above 0 and at most {MAX_FPS:g} frames per second")
    return value


def _check_timestamps(stamps: pd.Series, frames: pd.Series, source: str) -> None:
    """Timestamps: finite and within 0-:data:`MAX_TIMESTAMP_S` (NaN = unknown, allowed)."""
    values = stamps.to_numpy(dtype=float)
    bad = np.isinf(values) | (values < 0) | (values > MAX_TIMESTAMP_S)
    if bad.any():
        position = _first_bad(bad)
        raise InputError(
            f"{source}: frame {int(frames.iloc[position])}: timestamp {values[position]:g} s is outside"
            f" 0-{MAX_TIMESTAMP_S:g} s"
        )


def _check_range(values: pd.Series, column: str, low: float, high: float, source: str) -> None:
    outside = (values < low - _TOLERANCE) | (values > high + _TOLERANCE)
    if outside.any():
        position = int(np.flatnonzero(outside.to_numpy())[0])
        raise InputError(
            f"{source}: column {column!r}, row {_row_number(position)}: {values.iloc[position]:g}"
            f" is outside {limit_text(low)}-{limit_text(high)}"
        )


def _parse_time(value: object) -> float:
    """Seconds from a number or py-feat's ``approx_time`` text (``"m:ss.ss"``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, int | float | np.number):
        return float(value)
    match = _MIN_SEC.match(str(value))
    if match:
        return int(match[1]) * 60.0 + float(match[2])
    try:
        return float(str(value))
    except ValueError:
        return np.nan


def _timestamps(
    frames: pd.Series,
    approx_time: pd.Series | None,
    *,
    timestamps: Mapping[int, float] | Sequence[float] | np.ndarray | pd.Series | None,
    fps: float | None,
) -> pd.Series:
    """Seconds of each frame: decoder timestamps, else frame / fps, else py-feat's approx_time, else NaN."""
    if timestamps is not None:
        lookup = timestamps if isinstance(timestamps, Mapping | pd.Series) else pd.Series(np.asarray(timestamps))
        mapped = frames.map(lookup).astype(float)
        missing = mapped.isna()
        if missing.any():
            frame = int(frames[missing].iloc[0])
            raise InputError(f"frame {frame} has no decoder timestamp: the results do not belong to this video")
        return mapped
    if fps is not None:
        return frames.astype(float) / check_fps(fps)
    if approx_time is not None:
        return approx_time.map(_parse_time).astype(float)
    return pd.Series(np.nan, index=frames.index, dtype=float)


def pyfeat_frame_table(
    df: pd.DataFrame,
    *,
    timestamps: Mapping[int, float] | Sequence[float] | np.ndarray | pd.Series | None = None,
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    source: str = "py-feat result",
) -> pd.DataFrame:
    """Convert a py-feat result (``Fex`` or DataFrame) into the per-frame table.

    Parameters
    ----------
    df : DataFrame
        py-feat's per-face output (``Detector.detect`` in py-feat 2.x), one row
        per detected face, frames without a face as rows with an empty box.
    timestamps : mapping or array, optional
        Decoder timestamps in seconds, indexed by frame number. Preferred.
    fps : float, optional
        Used as ``frame / fps`` when no decoder timestamps are given.
    frame_size : (width, height), optional
        The picture's size, which helps choose the patient's face.
    source : str
        How messages name the input (a file name).

    Returns
    -------
    DataFrame
        ``frame, timestamp, face, face_confidence, AU01.., anger.. neutral,
        FaceRectX FaceRectY FaceRectWidth FaceRectHeight, Pitch Roll Yaw,
        face_count``: one row per frame. Without ``timestamps``, ``fps`` or
        py-feat's ``approx_time``, ``timestamp`` is NaN (not guessed).

    Raises
    ------
    InputError
        ``frame`` or every AU column is missing, a value is not a number, or
        an AU/emotion probability lies outside [0, 1].
    """
    data = pd.DataFrame(df).reset_index(drop=True)
    if data.empty:
        raise InputError(f"{source}: no data rows, only a header")
    if "frame" not in data.columns:
        raise InputError(f"{source}: column 'frame' is missing (is this py-feat output?)")
    aus = [au for au in action_units() if au in data.columns]
    if not aus:
        raise InputError(f"{source}: no AU column (AU01 ... AU43) found (is this py-feat output?)")

    frames = _numeric(data, "frame", source)
    _check_frames(frames, source)
    numeric: dict[str, pd.Series] = {"frame": frames.astype("int64")}
    present = [c for c in (*aus, *PYFEAT_EMOTIONS, *BOX_COLUMNS, *PYFEAT_POSE, "FaceScore") if c in data.columns]
    for column in present:
        numeric[column] = _numeric(data, column, source)
        _check_finite(numeric[column], column, source)
    # py-feat's documented ranges: probabilities in [0, 1], pose in degrees.
    for column in (*aus, *[e for e in PYFEAT_EMOTIONS if e in data.columns], "FaceScore"):
        if column in numeric:
            _check_range(numeric[column], column, 0.0, 1.0, source)
    for column in (c for c in PYFEAT_POSE if c in numeric):
        _check_range(numeric[column], column, -_POSE_LIMIT_DEG, _POSE_LIMIT_DEG, source)
    if "approx_time" in data.columns and timestamps is None and fps is None:
        _check_timestamps(data["approx_time"].map(_parse_time).astype(float), frames, source)
    table = pd.DataFrame(numeric)

    has_box = all(c in table.columns for c in BOX_COLUMNS)
    if has_box:
        detected = table[list(BOX_COLUMNS)].notna().all(axis=1)
        counts = face_counts(table)
        chosen = choose_patient_face(table, frame_size=frame_size)
    else:
        detected = table[aus].notna().any(axis=1)
        counts = detected.groupby(table["frame"]).transform("sum").astype("int64")
        # Without boxes there is nothing to tell faces apart by: keep the first per frame.
        chosen = detected & ~table.loc[detected, "frame"].duplicated().reindex(table.index, fill_value=True)
    table["face_count"] = counts
    # One row per frame: the patient's face where there is one, else the frame's (empty) row.
    keep = chosen | (~table["frame"].isin(table.loc[chosen, "frame"]) & ~table["frame"].duplicated())
    table = table[keep].sort_values("frame", kind="stable").reset_index(drop=True)
    face = table[aus].notna().any(axis=1)
    if has_box:
        face &= table[list(BOX_COLUMNS)].notna().all(axis=1)

    approx = None
    if "approx_time" in data.columns:
        approx = data.loc[keep[keep].index, "approx_time"].reset_index(drop=True)
    stamps = _timestamps(table["frame"], approx, timestamps=timestamps, fps=fps)
    _check_timestamps(stamps, table["frame"], source)
    out = pd.DataFrame(
        {
            "frame": table["frame"],
            "timestamp": stamps.to_numpy(),
            "face": face.to_numpy(dtype=bool),
            "face_confidence": table["FaceScore"] if "FaceScore" in table.columns else face.astype(float),
        }
    )
    specific = [c for c in (*PYFEAT_EMOTIONS, *BOX_COLUMNS, *PYFEAT_POSE) if c in table.columns]
    for column in (*aus, *specific):
        out[column] = table[column].where(face)
    out["face_confidence"] = out["face_confidence"].where(face, 0.0).astype(float)
    out["face_count"] = table["face_count"].astype("int64")
    return out


def _read_csv(path: Path, label: str, expected: str) -> pd.DataFrame:
    try:
        text_head = path.open("r", encoding="utf-8", errors="replace").readline()
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot be read ({exc.strerror})") from None
    if not text_head.strip():
        raise InputError(f"{label}: the file is empty")
    if "," not in text_head:
        found = next((d for d in (";", "\t", "|") if d in text_head), None)
        hint = f" (found {found!r} instead)" if found else ""
        raise InputError(f"{label}: not a comma-separated {expected} file{hint}")
    try:
        data = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{label}: cannot be read as CSV: {first}") from None
    if data.empty:
        raise InputError(f"{label}: no data rows, only a header")
    return data


def read_pyfeat_csv(
    path: str | os.PathLike[str],
    *,
    timestamps: Mapping[int, float] | Sequence[float] | np.ndarray | pd.Series | None = None,
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Read py-feat's CSV output into the per-frame table (see :func:`pyfeat_frame_table`)."""
    path = Path(path)
    label = label or path.name
    data = _read_csv(path, label, "py-feat")
    return pyfeat_frame_table(data, timestamps=timestamps, fps=fps, frame_size=frame_size, source=label)


def read_openface_csv(
    path: str | os.PathLike[str],
    *,
    timestamps: Mapping[int, float] | Sequence[float] | np.ndarray | pd.Series | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Read OpenFace 2.x ``FeatureExtraction`` CSV into the per-frame table.

    ``AUxx_r`` (0-5) become ``AUxx`` = ``AUxx_r / 5``; ``AUxx_c`` are kept.
    ``timestamp`` is OpenFace's own unless decoder ``timestamps`` are given.
    With ``face_id`` (``FaceLandmarkVidMulti``), the patient's face is chosen
    per frame from the landmarks' bounding boxes.
    """
    path = Path(path)
    label = label or path.name
    data = _read_csv(path, label, "OpenFace")
    data.columns = [str(c).strip() for c in data.columns]
    missing = [c for c in ("frame", "timestamp", "confidence", "success") if c not in data.columns]
    if missing:
        raise InputError(f"{label}: column {missing[0]!r} is missing (is this OpenFace 2.x output?)")
    intensity = {au: f"{au}_r" for au in action_units() if f"{au}_r" in data.columns}
    presence = [c for c in data.columns if re.fullmatch(r"AU\d{2}_c", c)]
    if not intensity:
        raise InputError(f"{label}: no AU intensity column (AU01_r ...) found (is this OpenFace 2.x output?)")

    numeric = {c: _numeric(data, c, label) for c in ("frame", "timestamp", "confidence", "success")}
    # OpenFace counts frames from 1.
    _check_frames(numeric["frame"], label, first=1)
    _check_finite(numeric["timestamp"], "timestamp", label)
    _check_range(numeric["timestamp"], "timestamp", 0.0, MAX_TIMESTAMP_S, label)
    _check_range(numeric["confidence"], "confidence", 0.0, 1.0, label)
    _check_range(numeric["success"], "success", 0.0, 1.0, label)
    table = pd.DataFrame({"frame": numeric["frame"].astype("int64") - 1})
    face = numeric["success"].fillna(0).to_numpy() > 0.5
    for au, column in intensity.items():
        values = _numeric(data, column, label)
        _check_range(values, column, 0.0, OPENFACE_INTENSITY_MAX, label)
        table[au] = values / OPENFACE_INTENSITY_MAX
    for column in presence:
        values = _numeric(data, column, label)
        _check_range(values, column, 0.0, 1.0, label)
        table[column] = values
    for column in (c for c in OPENFACE_EXTRA if c in data.columns):
        table[column] = _numeric(data, column, label)
        _check_finite(table[column], column, label)
    table["face_confidence"] = numeric["confidence"]
    table["openface_timestamp"] = numeric["timestamp"]
    table["_face"] = face

    if "face_id" in data.columns:
        xs = [c for c in data.columns if re.fullmatch(r"x_\d+", c)]
        ys = [c for c in data.columns if re.fullmatch(r"y_\d+", c)]
        if xs and ys:
            lx, ly = data[xs].astype(float), data[ys].astype(float)
            boxes = pd.DataFrame(
                {
                    "frame": table["frame"],
                    "FaceRectX": lx.min(axis=1),
                    "FaceRectY": ly.min(axis=1),
                    "FaceRectWidth": lx.max(axis=1) - lx.min(axis=1),
                    "FaceRectHeight": ly.max(axis=1) - ly.min(axis=1),
                }
            )
            boxes.loc[~face, list(BOX_COLUMNS)] = np.nan
            table["face_count"] = face_counts(boxes)
            chosen = choose_patient_face(boxes)
            keep = chosen | (~table["frame"].isin(table.loc[chosen, "frame"]) & ~table["frame"].duplicated())
            table = table[keep]
        else:
            table["face_count"] = table["_face"].groupby(table["frame"]).transform("sum").astype("int64")
            table = table[~table["frame"].duplicated()]
    else:
        table["face_count"] = table["_face"].astype("int64")
    duplicated = table["frame"].duplicated()
    if duplicated.any():
        position = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InputError(
            f"{label}: column 'frame', row {_row_number(position)}: frame"
            f" {table['frame'].iloc[position] + 1} appears twice"
        )
    table = table.sort_values("frame", kind="stable").reset_index(drop=True)
    face_mask = table["_face"].to_numpy(dtype=bool)
    if timestamps is not None:
        stamp = _timestamps(table["frame"], None, timestamps=timestamps, fps=None).to_numpy()
    else:
        stamp = table["openface_timestamp"].to_numpy(dtype=float)

    out = pd.DataFrame(
        {
            "frame": table["frame"].astype("int64"),
            "timestamp": stamp,
            "face": face_mask,
            "face_confidence": table["face_confidence"].where(face_mask, 0.0).astype(float),
        }
    )
    for column in (*intensity, *presence, *(c for c in OPENFACE_EXTRA if c in table.columns)):
        out[column] = table[column].where(face_mask)
    out["face_count"] = table["face_count"].astype("int64")
    return out


def import_file(
    path: str | os.PathLike[str],
    fmt: str,
    *,
    timestamps: Mapping[int, float] | Sequence[float] | np.ndarray | pd.Series | None = None,
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Read a per-frame result file of format ``"openface"`` or ``"pyfeat"`` into the per-frame table."""
    if fmt == "pyfeat":
        return read_pyfeat_csv(path, timestamps=timestamps, fps=fps, frame_size=frame_size, label=label)
    if fmt == "openface":
        if fps is not None and timestamps is None:
            rate = check_fps(fps)
            # OpenFace writes its own timestamps; an explicit fps re-derives them from frame numbers.
            table = read_openface_csv(path, label=label)
            table["timestamp"] = table["frame"].astype(float) / rate
            _check_timestamps(table["timestamp"], table["frame"], label or Path(path).name)
            return table
        return read_openface_csv(path, timestamps=timestamps, label=label)
    raise InputError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
