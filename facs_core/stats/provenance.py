"""Where a result came from: method, covariates, correction, n, df, data source, versions, input hash.

Every result table of the analysis engine carries the same provenance twice:
as a dict in ``attrs["provenance"]`` (for a Parquet file's metadata, see
:func:`provenance_metadata`) and as constant metadata columns
(:data:`PROVENANCE_COLUMNS`), so a figure in a paper can be traced to the
store state and the software that made it, whichever way the table left the
program (CSV, Parquet, a screenshot of the page).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import metadata

import numpy as np
import pandas as pd

__all__ = [
    "PROVENANCE_COLUMNS",
    "PROVENANCE_KEY",
    "attach_provenance",
    "inputs_hash",
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

#: Key of the provenance block in a Parquet file's key-value metadata.
PROVENANCE_KEY = b"facs_provenance"

_PACKAGES = ("numpy", "scipy", "pandas", "PyWavelets", "statsmodels")


def software_versions() -> str:
    """``facs_core 0.1.0; numpy 2.1.3; ...``: the versions whose code computed a result."""
    from facs_core import __version__

    parts = [f"facs_core {__version__}"]
    for name in _PACKAGES:
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
