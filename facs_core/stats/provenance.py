"""Where a result came from: method, covariates, correction, n, df, data source, versions, input hash.

Every result table of the analysis engine, and the per-video features table
a user exports, carries the same provenance twice:
as a dict in ``attrs["provenance"]`` (for a Parquet file's metadata, see
:func:`provenance_metadata`) and as constant metadata columns
(:data:`PROVENANCE_COLUMNS`), so a figure in a paper can be traced to the
store state and the software that made it, whichever way the table left the
program (CSV, Parquet, a screenshot of the page). Statistics end with
:data:`PROVENANCE_COLUMNS` (:func:`attach_provenance`); per-video features
end with :data:`FEATURE_PROVENANCE_COLUMNS` (:func:`attach_feature_provenance`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import metadata

import numpy as np
import pandas as pd

__all__ = [
    "FEATURE_PROVENANCE_COLUMNS",
    "PROVENANCE_COLUMNS",
    "PROVENANCE_KEY",
    "attach_feature_provenance",
    "attach_provenance",
    "backends_text",
    "combined_hash",
    "features_method",
    "inputs_hash",
    "measured_by",
    "provenance_metadata",
    "software_versions",
]

#: Metadata columns every engine result ends with (constant within a table; ``df`` varies by row).
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "df",
    "covariates",
    "fdr_scope",
    "n_videos",
    "data_source",
    "software",
    "inputs_sha256",
)

#: Metadata columns a per-video features table ends with (constant within a table).
FEATURE_PROVENANCE_COLUMNS: tuple[str, ...] = (
    "method",
    "backends",
    "data_source",
    "segments",
    "n_videos",
    "software",
    "inputs_sha256",
)

#: Key of the provenance block in a Parquet file's key-value metadata.
PROVENANCE_KEY = b"facs_provenance"

_PACKAGES = ("numpy", "scipy", "pandas", "PyWavelets", "statsmodels")


def software_versions(extra: Sequence[str] = ()) -> str:
    """``facs_core 0.1.0; numpy 2.1.3; ...``: the versions whose code computed a result.

    ``extra`` names further packages that took part (``duckdb`` for the
    per-video features, which it aggregates).
    """
    from facs_core import __version__

    parts = [f"facs_core {__version__}"]
    for name in (*_PACKAGES, *extra):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "; ".join(parts)


def inputs_hash(video_ids: Sequence[str], *arrays: np.ndarray) -> str:
    """SHA-256 (hex, first 16) of the analysed visits and the numbers an analysis used.

    The same visits with the same feature values, scores and coded
    covariates give the same hash on any machine; a change to one number
    beyond the 12th significant digit changes it. Values are rounded to 40
    bits of mantissa first (about 12 significant digits), because a parallel
    database sum (DuckDB's ``avg``) may differ in the last bits from run to
    run; NaN is normalised.

    Examples
    --------
    >>> import numpy as np
    >>> a = inputs_hash(["v1", "v2"], np.array([1.0, 2.0]))
    >>> a == inputs_hash(["v1", "v2"], np.array([1.0, 2.0])), a == inputs_hash(["v1", "v2"], np.array([1.0, 2.5]))
    (True, False)
    """
    digest = hashlib.sha256()
    digest.update("\x1f".join(str(v) for v in video_ids).encode())
    for array in arrays:
        values = np.asarray(array, dtype=np.float64)
        mantissa, exponent = np.frexp(np.where(np.isfinite(values), values, 0.0))
        values = np.ldexp(np.round(mantissa * 2.0**40) / 2.0**40, exponent)
        values = np.ascontiguousarray(np.where(np.isnan(array), np.nan, values))  # one NaN bit pattern
        digest.update(str(values.shape).encode())
        digest.update(values.tobytes())
    return digest.hexdigest()[:16]


def attach_provenance(table: pd.DataFrame, info: Mapping[str, object], df: np.ndarray | None = None) -> pd.DataFrame:
    """``table`` with the provenance columns appended and ``attrs["provenance"] = info``.

    ``info`` holds at least ``method, covariates, correction, fdr_scope,
    n_videos, data_source, software, inputs_sha256`` (the method and
    correction are already columns of every result); ``df`` is the degrees of
    freedom of each row's test (NaN where a method has none).
    """
    out = table.copy()
    out["df"] = np.full(len(out), np.nan) if df is None else np.asarray(df, dtype=float)
    for column in PROVENANCE_COLUMNS[1:]:
        value = info.get(column, "")
        out[column] = ",".join(value) if isinstance(value, list | tuple) else value
    out.attrs = {**table.attrs, "provenance": dict(info)}
    return out


def provenance_metadata(table: pd.DataFrame) -> dict[bytes, bytes]:
    """The table's provenance as Parquet key-value metadata (``{PROVENANCE_KEY: json}``)."""
    info = table.attrs.get("provenance", {})
    return {PROVENANCE_KEY: json.dumps(info, sort_keys=True, default=str).encode()}


def combined_hash(*digests: str) -> str:
    """SHA-256 (hex, first 16) of several input hashes, in order: one hash of all they cover."""
    return hashlib.sha256("\x1f".join(digests).encode()).hexdigest()[:16]


def features_method(threshold: float | None = None, normalise: str | None = None) -> str:
    """How per-video features were computed (:func:`facs_core.features.per_video_features`), as one line.

    Examples
    --------
    >>> features_method(0.3)
    'per-video mean, occurrence rate (threshold 0.3) and SD over confident patient-face frames; values as measured'
    """
    if threshold is not None:
        cut = f"{float(threshold):g}"
    elif normalise == "visit":
        cut = "2 robust SDs above the visit's median"
    else:
        cut = "per AU source, resources/occurrence_thresholds.csv"
    scale = "each visit normalised to its own baseline, (x - median) / (1.4826 MAD)" if normalise == "visit" else ""
    # No bare "none": a page scrubs stored values (a medication "none") from what a researcher reads.
    return (
        f"per-video mean, occurrence rate (threshold {cut}) and SD over confident patient-face frames;"
        f" {scale or 'values as measured'}"
    )


def backends_text(pairs: Sequence[tuple[str, str]]) -> str:
    """``"mediapipe 0.10.14; pyfeat 2.1.5"``: the distinct backends and model versions that measured the frames.

    Examples
    --------
    >>> backends_text([("pyfeat", "2.1.5"), ("mediapipe", "0.10.14"), ("pyfeat", "2.1.5")])
    'mediapipe 0.10.14; pyfeat 2.1.5'
    """
    named = {f"{backend} {version}".strip() for backend, version in pairs if backend}
    return "; ".join(sorted(named)) or "unknown"


def measured_by(
    features: pd.DataFrame, columns: Sequence[str], video_ids: Sequence[str], backends: Mapping[str, tuple[str, str]]
) -> list[str]:
    """For each feature column, the backends (and versions) of the visits ``video_ids`` that have a value of it.

    A statistics row of an emotion is then labelled by the backend that
    measured it (py-feat), not by every backend of the cohort.

    Parameters
    ----------
    features : DataFrame
        ``video_id`` and the per-video feature columns.
    columns : sequence of str
        Feature columns, one label each (absent columns: ``"none"``).
    video_ids : sequence of str
        The visits analysed.
    backends : mapping
        ``video_id -> (backend, version)`` of each visit's run.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> features = pd.DataFrame({"video_id": ["a", "b"], "AU12": [0.1, 0.2], "anger": [np.nan, 0.3]})
    >>> measured_by(features, ["AU12", "anger"], ["a", "b"], {"a": ("mediapipe", "0.10"), "b": ("pyfeat", "2.1.5")})
    ['mediapipe 0.10; pyfeat 2.1.5', 'pyfeat 2.1.5']
    """
    chosen = features[features["video_id"].astype(str).isin({str(v) for v in video_ids})]
    labels = []
    for column in columns:
        if column not in chosen:
            labels.append("none")
            continue
        measured = chosen.loc[chosen[column].notna(), "video_id"].astype(str)
        labels.append(backends_text([backends.get(v, ("", "")) for v in measured]))
    return labels


def attach_feature_provenance(table: pd.DataFrame, info: Mapping[str, object]) -> pd.DataFrame:
    """``table`` with :data:`FEATURE_PROVENANCE_COLUMNS` appended and ``attrs["provenance"] = info``.

    ``info`` holds at least those keys: the method (:func:`features_method`),
    the backends and their versions (:func:`backends_text`), the data-source
    filter, the segment scope, the number of videos, the software versions
    and the input hash.

    Examples
    --------
    >>> import pandas as pd
    >>> info = {"method": "m", "backends": "pyfeat 2.1.5", "data_source": "real", "segments": "whole videos",
    ...         "n_videos": 1, "software": "facs_core", "inputs_sha256": "ab12"}
    >>> out = attach_feature_provenance(pd.DataFrame({"video_id": ["v1"], "AU12": [0.5]}), info)
    >>> list(out.columns)[2:], out.attrs["provenance"]["backends"]
    (['method', 'backends', 'data_source', 'segments', 'n_videos', 'software', 'inputs_sha256'], 'pyfeat 2.1.5')
    """
    missing = [column for column in FEATURE_PROVENANCE_COLUMNS if column not in info]
    if missing:
        raise ValueError(f"feature provenance lacks {', '.join(missing)}")
    out = table.copy()
    for column in FEATURE_PROVENANCE_COLUMNS:
        out[column] = info[column]
    out.attrs = {**table.attrs, "provenance": dict(info)}
    return out
