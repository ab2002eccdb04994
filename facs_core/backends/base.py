"""The extraction backend interface: decoded frames in, per-frame table out.

Every backend turns a stream of :class:`facs_core.decode.DecodedFrame` into the
per-frame table every analysis reads::

    frame (int) | timestamp (s) | face (bool) | face_confidence | AU01 ... | backend columns

AU values lie in [0, 1] and are NaN in frames without a face. A backend lists
only the AUs it really measures: an AU it has no estimate of is absent, never
filled in. ``au_source`` says what the AU columns are (``"pyfeat"`` for
py-feat's AU models, ``"blendshape"`` for estimates derived from MediaPipe
blendshapes) and travels with the table as Parquet metadata
(``facs.au_source``), so a view can label them.

Extraction is two passes: :meth:`Backend.detect` runs on each chunk of
frames (in parallel, possibly on other machines) and records what it saw;
:meth:`Backend.assemble` runs once over the whole video's detections and
makes the per-frame table. A backend that sees several faces per frame
decides *there*, over the whole video, which face is the patient's
(:mod:`facs_core.tracking`); :meth:`Backend.process` is both passes on one
stream of frames.

Backends are looked up by name with :func:`get_backend`; the modules are
imported only then, so choosing ``mediapipe`` never loads torch.
"""

from __future__ import annotations

import abc
import importlib
import json
from collections.abc import Iterable
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa

from facs_core.decode import DecodedFrame
from facs_core.errors import InputError

#: Parquet schema metadata keys written with every per-frame table.
AU_SOURCE_KEY = b"facs.au_source"
BACKEND_KEY = b"facs.backend"
#: Per-AU-column key: how this backend derives the AU (e.g. "blendshape coefficient").
AU_DERIVATION_KEY = b"facs.au_derivation"
#: Schema key: JSON object of the study AUs the backend does not measure -> why.
ABSENT_AUS_KEY = b"facs.absent_aus"

#: Backend name -> "module:class"; imported lazily.
BACKENDS: dict[str, str] = {
    "mediapipe": "facs_core.backends.mediapipe_backend:MediaPipeBackend",
    "pyfeat": "facs_core.backends.pyfeat_backend:PyFeatBackend",
}


class Backend(abc.ABC):
    """A face-analysis model behind one interface.

    Subclasses set :attr:`name` and :attr:`au_source`, accept their
    parameters as keyword arguments, and implement :meth:`process`.

    Parameters
    ----------
    **params
        Backend parameters; they are part of a run's identity
        (``runs.params_hash``), so only parameters that change the output
        belong here.
    """

    name: ClassVar[str]
    au_source: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)

    @classmethod
    @abc.abstractmethod
    def library_version(cls) -> str:
        """Version of the model and library, recorded with each run (loads no model)."""

    @classmethod
    def au_scales(cls) -> dict[str, str]:
        """AU column -> what its value is (its scale); empty when one scale serves all (:attr:`au_source`)."""
        return {}

    @classmethod
    def absent_aus(cls) -> dict[str, str]:
        """Study AUs this backend does not measure -> why (written into every table's metadata)."""
        return {}

    @property
    def version(self) -> str:
        """Same as :meth:`library_version`."""
        return self.library_version()

    @abc.abstractmethod
    def detect(self, frames: Iterable[DecodedFrame]) -> pd.DataFrame:
        """First pass: what the model saw in ``frames``.

        Has at least ``frame`` and ``face`` (this row holds a face); a backend
        that keeps every face has several rows per frame. Chunks' detections
        are concatenated before :meth:`assemble`.
        """

    @classmethod
    def assemble(cls, detections: pd.DataFrame) -> pd.DataFrame:
        """Second pass over a whole video's detections: the per-frame table.

        The default keeps the detections as they are (a backend whose
        :meth:`detect` already gives one row per frame).
        """
        return detections.sort_values("frame", kind="stable").reset_index(drop=True)

    def process(self, frames: Iterable[DecodedFrame]) -> pd.DataFrame:
        """The per-frame table of ``frames`` (both passes; one row per frame, in order)."""
        return self.assemble(self.detect(frames))

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release the model; the backend is unusable afterwards."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_arrow(self, table: pd.DataFrame) -> pa.Table:
        """``table`` as Arrow, with the AU source and backend in its metadata."""
        return with_frame_metadata(
            pa.Table.from_pandas(table, preserve_index=False),
            self.name,
            self.au_source,
            self.version,
            self.params,
            au_scales=self.au_scales(),
            absent=self.absent_aus(),
        )


def with_frame_metadata(
    table: pa.Table,
    backend: str,
    au_source: str,
    version: str,
    params: dict[str, Any],
    *,
    au_scales: dict[str, str] | None = None,
    absent: dict[str, str] | None = None,
) -> pa.Table:
    """Attach backend, version and AU source to the schema and each AU column.

    The per-column keys (``facs.au_source`` and, where known,
    ``facs.au_derivation`` on every ``AUxx`` field) survive selecting columns;
    the schema-level keys describe the whole table, including the study AUs
    the backend does not measure (``facs.absent_aus``).
    """
    fields = []
    for field in table.schema:
        if field.name.startswith("AU"):
            extra = {AU_SOURCE_KEY: au_source.encode()}
            if au_scales and field.name in au_scales:
                extra[AU_DERIVATION_KEY] = au_scales[field.name].encode()
            field = field.with_metadata({**(field.metadata or {}), **extra})
        fields.append(field)
    metadata = {
        **{k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"},
        AU_SOURCE_KEY: au_source.encode(),
        BACKEND_KEY: backend.encode(),
        b"facs.backend_version": version.encode(),
        b"facs.params": json.dumps(params, sort_keys=True, default=str).encode(),
    }
    if absent:
        metadata[ABSENT_AUS_KEY] = json.dumps(absent, sort_keys=True).encode()
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=metadata))


def au_source_of(schema: pa.Schema) -> str | None:
    """The AU source recorded in a per-frame table's schema, or None."""
    value = (schema.metadata or {}).get(AU_SOURCE_KEY)
    return value.decode() if value else None


def backend_names() -> tuple[str, ...]:
    """Names :func:`get_backend` accepts."""
    return tuple(BACKENDS)


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (imports its module)."""
    try:
        module_name, class_name = BACKENDS[name].split(":")
    except KeyError:
        raise InputError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def get_backend(name: str, **params: Any) -> Backend:
    """A ready backend ``name`` with ``params`` (model loaded, checked).

    Raises
    ------
    InputError
        Unknown name, bad parameter, or the model is not available (the
        message says how to get it).
    """
    return backend_class(name)(**params)
