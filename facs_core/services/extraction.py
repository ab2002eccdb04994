"""The work of extraction, free of the catalog: plan chunks, run one, merge them.

An extraction covers a set of frame ranges of one video (the marked symptom
segments, or the whole video). It is cut into chunks of at most
``chunk_frames`` frames; each chunk is decoded and analysed on its own
(:func:`run_chunk`: the backend's first pass, :meth:`Backend.detect`, every
face it saw) and written atomically to ``chunks/<run_id>/<chunk>.parquet``. A
chunk file that exists is finished, so an interrupted run resumes by running
only the chunks without a file. When all exist, :func:`merge_chunks` joins
them in frame order and runs the second pass (:meth:`Backend.assemble`) once
over the whole video: which face is the patient's is decided per video, never
per chunk.

Nothing here opens the catalog: these functions run in Ray workers, possibly
on other machines sharing the data folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from facs_core.backends.base import BACKEND_KEY, Backend, backend_class, get_backend, with_frame_metadata
from facs_core.damage import damage_status
from facs_core.decode import container_frame_count, decode_frames, frame_timestamps
from facs_core.decoder_log import decoder_messages
from facs_core.errors import InputError
from facs_core.probe import sniff_container
from facs_core.segments import frame_ranges as segment_frame_ranges
from store.shards import write_atomically

#: Default chunk length in frames: about 20 s at 30 fps, a few seconds of work.
DEFAULT_CHUNK_FRAMES = 600
INDEX_FILE = "frame_index.parquet"
#: Schema metadata key marking a chunk file as first-pass detections.
STAGE_KEY = b"facs.stage"
_DETECTIONS = b"detections"


@dataclass(frozen=True)
class Chunk:
    """Frames ``start_frame <= i < end_frame`` of one video, chunk number ``index``."""

    index: int
    start_frame: int
    end_frame: int

    @property
    def file_name(self) -> str:
        return f"{self.index:05d}.parquet"


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to compute one chunk (picklable, no catalog)."""

    video_path: str
    chunk: Chunk
    backend: str
    backend_params: dict[str, Any] = field(default_factory=dict)
    every: int = 1
    index_path: str = ""
    target: str = ""


def ranges_to_extract(
    timestamps: np.ndarray, time_ranges: Sequence[tuple[float, float]] | None
) -> list[tuple[int, int]]:
    """Frame ranges ``[first, stop)`` covering ``time_ranges`` (the whole video when empty).

    Exact for variable frame rates: see :func:`facs_core.segments.frame_ranges`.
    """
    ranges = segment_frame_ranges(time_ranges or [], frame_count=len(timestamps), timestamps=timestamps)
    return [(a, b) for a, b in ranges if b > a]


def plan_chunks(ranges: Sequence[tuple[int, int]], chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> list[Chunk]:
    """Cut frame ranges into chunks of at most ``chunk_frames`` frames, numbered in order."""
    if chunk_frames < 1:
        raise InputError(f"chunk length must be at least 1 frame, got {chunk_frames}")
    chunks: list[Chunk] = []
    for first, stop in ranges:
        for start in range(first, stop, chunk_frames):
            chunks.append(Chunk(len(chunks), start, min(start + chunk_frames, stop)))
    return chunks


def write_frame_index(video_path: str | os.PathLike[str], target: Path) -> np.ndarray:
    """Decode-only pass numbering the video's frames; saved for the chunks to seek by."""
    stamps = frame_timestamps(video_path)
    write_atomically(pa.table({"timestamp": stamps}), target)
    return stamps


def read_frame_index(path: str | os.PathLike[str]) -> np.ndarray:
    """Frame timestamps written by :func:`write_frame_index`."""
    return pq.read_table(path, columns=["timestamp"], page_checksum_verification=True).column("timestamp").to_numpy()


# Models stay loaded between the chunks a worker process runs.
_LOADED: dict[tuple[str, str], Backend] = {}


def _backend(name: str, params: dict[str, Any]) -> Backend:
    key = (name, repr(sorted(params.items())))
    if key not in _LOADED:
        _LOADED[key] = get_backend(name, **params)
    return _LOADED[key]


@dataclass(frozen=True)
class ChunkResult:
    """What a finished chunk holds."""

    index: int
    n_frames: int
    n_face_frames: int


def _counts(index: int, table: pa.Table) -> ChunkResult:
    frames = pc.unique(table.column("frame"))
    faces = pc.unique(pc.filter(table.column("frame"), table.column("face")))
    return ChunkResult(index, len(frames), len(faces))


def chunk_counts(chunk: Chunk, path: str | os.PathLike[str]) -> ChunkResult:
    """Frames and frames with any face of a finished chunk file."""
    return _counts(chunk.index, pq.read_table(path, columns=["frame", "face"], page_checksum_verification=True))


def _is_detections(path: str | os.PathLike[str]) -> bool:
    return (pq.read_schema(path).metadata or {}).get(STAGE_KEY) == _DETECTIONS


def detections_to_arrow(backend: Backend, detections: pd.DataFrame) -> pa.Table:
    """First-pass detections as Arrow, labelled as such and with the backend's metadata."""
    table = backend.to_arrow(detections)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), STAGE_KEY: _DETECTIONS})


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Decode one chunk and run the backend's first pass; write it atomically to ``task.target``.

    A chunk whose file already exists is not computed again (unless it was
    written by a version that stored per-frame tables instead of detections).
    """
    if os.path.exists(task.target) and _is_detections(task.target):
        return chunk_counts(task.chunk, task.target)
    backend = _backend(task.backend, task.backend_params)
    stamps = read_frame_index(task.index_path) if task.index_path else None
    frames = decode_frames(task.video_path, task.chunk.start_frame, task.chunk.end_frame, task.every, stamps)
    with decoder_messages():
        table = detections_to_arrow(backend, backend.detect(frames))
    write_atomically(table, Path(task.target))
    return _counts(task.chunk.index, table)


def assemble_detections(tables: Sequence[pa.Table]) -> pa.Table:
    """The per-frame table of a whole video from its chunks' detections (the second pass).

    Backend, version and parameters come from the chunks' metadata, so this
    needs no model: it runs in the process that holds the catalog.
    """
    if not tables:
        raise InputError("no chunk to merge")
    metadata = tables[0].schema.metadata or {}
    name = metadata.get(BACKEND_KEY, b"").decode()
    cls = backend_class(name)
    merged = pa.concat_tables(tables, promote_options="default").sort_by("frame")
    frame_table = cls.assemble(merged.to_pandas())
    params = json.loads(metadata.get(b"facs.params", b"{}"))
    version = metadata.get(b"facs.backend_version", b"").decode()
    return with_frame_metadata(
        pa.Table.from_pandas(frame_table, preserve_index=False),
        cls.name,
        cls.au_source,
        version,
        params,
        au_scales=cls.au_scales(),
        absent=cls.absent_aus(),
    )


def merge_chunks(files: Sequence[str | os.PathLike[str]]) -> pa.Table:
    """The per-frame table of a whole video from its chunk files (:func:`assemble_detections`)."""
    return assemble_detections([pq.read_table(f, page_checksum_verification=True) for f in files])


def decoding_gap(video_path: str | os.PathLike[str], decoded: int) -> str | None:
    """One line saying how many frames a damaged video lacks, or None when it is whole.

    ``decoded`` is the number of frames that decode (:func:`frame_timestamps`);
    the container's claim is read from its header (see :mod:`facs_core.damage`).
    """
    with open(video_path, "rb") as handle:
        container = sniff_container(handle.read(4096))
    claimed = container_frame_count(video_path)
    status = damage_status({"container": container, "frame_count": decoded, "header_frame_count": claimed})
    if status is None or claimed is None:
        return None
    return f"{status}; the table covers the decodable frames only, {claimed - decoded} are missing"


def extract_video(
    video_path: str | os.PathLike[str],
    backend: str,
    *,
    backend_params: dict[str, Any] | None = None,
    time_ranges: Sequence[tuple[float, float]] | None = None,
    every: int = 1,
    progress: Callable[[int, int], None] | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    notes: list[str] | None = None,
) -> pa.Table:
    """Extract one video in this process (no store, no Ray): the per-frame table.

    Parameters
    ----------
    video_path : path-like
        The video file.
    backend : str
        ``"mediapipe"`` or ``"pyfeat"``.
    backend_params : dict, optional
        Passed to :func:`facs_core.backends.base.get_backend`.
    time_ranges : sequence of (start_s, end_s), optional
        Parts of the video to cover; the whole video when empty.
    every : int
        Keep every N-th frame (by ordinal frame number).
    progress : callable(done, total), optional
        Called after each chunk with frames done and frames to do.
    chunk_frames : int
        Frames per chunk (the first pass); the second pass sees them all.
    notes : list, optional
        Receives one line when the video is damaged (:func:`decoding_gap`).
    """
    instance = get_backend(backend, **(backend_params or {}))
    try:
        stamps = frame_timestamps(video_path)
        gap = decoding_gap(video_path, len(stamps))
        if gap and notes is not None:
            notes.append(gap)
        ranges = ranges_to_extract(stamps, time_ranges)
        if not ranges:
            raise InputError(f"no frame of {Path(video_path).name} lies in the requested time range")
        chunks = plan_chunks(ranges, chunk_frames)
        total = sum(c.end_frame - c.start_frame for c in chunks)
        parts, done = [], 0
        for chunk in chunks:
            frames = decode_frames(video_path, chunk.start_frame, chunk.end_frame, every, stamps)
            with decoder_messages():
                parts.append(detections_to_arrow(instance, instance.detect(frames)))
            done += chunk.end_frame - chunk.start_frame
            if progress:
                progress(done, total)
        return assemble_detections(parts)
    finally:
        instance.close()


@dataclass(frozen=True)
class FaceSummary:
    """How many frames of a per-frame table show what."""

    frames: int
    patient: int
    uncertain: int
    other_face: int
    no_face: int

    def describe(self) -> str:
        """One line for a log or a summary, e.g. ``240 frames: 230 patient face (3 uncertain), ...``."""
        return (
            f"{self.frames} frames: {self.patient} patient face ({self.uncertain} identity uncertain),"
            f" {self.other_face} other face only, {self.no_face} no face"
        )


def face_summary(table: pa.Table | pd.DataFrame) -> FaceSummary:
    """Count patient, identity-uncertain, other-face-only and faceless frames of a per-frame table.

    Tables without ``face_status`` (imported files) count every frame
    without the patient's face as ``no_face``.
    """
    if isinstance(table, pa.Table):
        wanted = ("face", "face_status", "identity_uncertain")
        table = table.select([c for c in table.column_names if c in wanted]).to_pandas()
    frame = table
    face = frame["face"].fillna(False).astype(bool).to_numpy()
    uncertain = (
        frame["identity_uncertain"].fillna(False).astype(bool).to_numpy() & face
        if "identity_uncertain" in frame.columns
        else np.zeros(len(frame), bool)
    )
    other = (
        (frame["face_status"].astype(str) == "other_face").to_numpy()
        if "face_status" in frame.columns
        else np.zeros(len(frame), bool)
    )
    return FaceSummary(
        frames=len(frame),
        patient=int(face.sum()),
        uncertain=int(uncertain.sum()),
        other_face=int(other.sum()),
        no_face=int((~face & ~other).sum()),
    )
