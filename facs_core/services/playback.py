"""Browser-playable copies of videos whose codec browsers cannot play.

Browsers play H.264 (in MP4/MOV) and VP8/VP9 (in WebM), but not MPEG-4 Part 2
(``mp4v``), HEVC from phones, or anything in AVI. For such videos a WebM/VP8
copy is written with OpenCV's bundled FFmpeg (``cv2.VideoWriter_fourcc(*"VP80")``,
checked to work offline in ``tests/test_ingest.py``; OpenCV prints a harmless
"tag VP80 is not supported" notice and falls back to WebM's own codec tag) into
the store's ``playback/`` folder. The original file is kept untouched and is
what extraction reads; the copy is for viewing only.
"""

from __future__ import annotations

import functools
import os
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np
import pandas as pd

from facs_core.decode import frame_timestamps
from facs_core.errors import InputError
from facs_core.matroska import matroska_frame_times
from facs_core.probe import sniff_container
from store.catalog import Catalog
from store.videos import get_video, sha256_file, video_file

__all__ = [
    "BROWSER_CODECS",
    "BROWSER_CONTAINERS",
    "DECODE_LIMIT_FRAMES",
    "MAX_PLAYBACK_SIDE",
    "browser_playable",
    "ensure_playback_copy",
    "frame_times",
    "listed_frame_times",
    "mp4_frame_times",
    "needs_playback_copy",
    "playback_frame_times",
    "playback_time",
    "write_webm_copy",
]

#: Codecs (as OpenCV's FOURCC, lower case) browsers decode natively.
BROWSER_CODECS: frozenset[str] = frozenset({"h264", "avc1", "avc3", "vp8", "vp80", "vp9", "vp90", "vp09"})
#: Containers browsers open natively.
BROWSER_CONTAINERS: frozenset[str] = frozenset({"mp4", "mov", "webm"})
#: The longest side of a playback copy; larger videos are scaled down to keep encoding fast.
MAX_PLAYBACK_SIDE = 960

#: Most frames :func:`frame_times` lists by decoding a file whose container lists no frame times
#: (AVI; under 3 minutes at 30 frames/s, a few seconds of decoding); longer ones are taken as evenly
#: spaced, as AVI's header has them.
DECODE_LIMIT_FRAMES = 5_000

Progress = Callable[[float, str], None]


def browser_playable(container: str | None, codec: str | None) -> bool:
    """Whether a browser can play this container and codec as stored."""
    return (container or "").lower() in BROWSER_CONTAINERS and (codec or "").lower() in BROWSER_CODECS


def needs_playback_copy(record: dict[str, Any]) -> bool:
    """Whether a catalogued video needs a WebM copy for the browser."""
    return bool(record.get("stored_path")) and not browser_playable(record.get("container"), record.get("codec"))


def _playback_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_PLAYBACK_SIDE / max(width, height))
    # VP8 wants even dimensions.
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def write_webm_copy(source: Path, target: Path, *, progress: Progress | None = None) -> Path:
    """Transcode ``source`` to WebM/VP8 at ``target``, atomically.

    The copy is written under a temporary name beside ``target`` (it must end
    in ``.webm`` for FFmpeg to choose the muxer) and renamed when complete, so
    ``target`` is either absent or a whole file.
    """
    capture = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise InputError(f"{source.name}: cannot be decoded to make a playback copy")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    total = max(1, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    size = _playback_size(width, height)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.partial.webm")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"VP80"), fps, size)
    try:
        if not writer.isOpened():
            raise InputError(f"{target.name}: OpenCV here cannot write WebM/VP8 playback copies")
        written = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            writer.write(frame)
            written += 1
            if progress is not None and written % 50 == 0:
                progress(min(written / total, 1.0), "making a browser playback copy")
        writer.release()
        if written == 0:
            raise InputError(f"{source.name}: no frame could be decoded for the playback copy")
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException:
        writer.release()
        partial.unlink(missing_ok=True)
        raise
    finally:
        capture.release()
    return target


def ensure_playback_copy(catalog: Catalog, video_id: str, *, progress: Progress | None = None) -> str | None:
    """Make (once) and record a browser-playable copy of a video.

    Returns
    -------
    str or None
        ``videos.playback_path`` relative to the data folder, or None when the
        stored file is already browser-playable (or the visit has no file).
    """
    record = get_video(catalog, video_id)
    if record is None:
        raise InputError(f"video {video_id} is not in the store")
    if not needs_playback_copy(record):
        return None
    relative = Path("playback") / f"{record['sha256']}.webm"
    target = catalog.paths.root / relative
    if not target.exists():
        write_webm_copy(video_file(catalog, record), target, progress=progress)
    # Hashed right after it is written (FFmpeg writes the file, so not while writing).
    catalog.execute(
        "UPDATE videos SET playback_path = ?, playback_sha256 = ? WHERE video_id = ?",
        [relative.as_posix(), sha256_file(target), video_id],
    )
    return relative.as_posix()


def _children(data: bytes, start: int, end: int) -> dict[bytes, list[bytes]]:
    """Payloads of the boxes in ``data[start:end]``, by type (in order)."""
    found: dict[bytes, list[bytes]] = {}
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[start + 8 : start + 16])
            header = 16
        elif size == 0:
            size = end - start
        if size < header:
            break
        found.setdefault(kind, []).append(data[start + header : start + size])
        start += size
    return found


def _read_moov(handle: BinaryIO) -> bytes | None:
    """The movie box's payload, reading only box headers until it (the media data is skipped)."""
    while True:
        head = handle.read(8)
        if len(head) < 8:
            return None
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", handle.read(8))
            header = 16
        if kind == b"moov":
            return handle.read(size - header) if size else handle.read()
        if size < header:
            return None
        handle.seek(size - header, os.SEEK_CUR)


def _full_box(payload: bytes) -> tuple[int, bytes]:
    return payload[0], payload[4:]


def _pairs(body: bytes, signed_second: bool = False) -> np.ndarray:
    (count,) = struct.unpack(">I", body[:4])
    values = np.frombuffer(body[4 : 4 + 8 * count], dtype=">u4").reshape(count, 2).astype(np.int64)
    if signed_second:
        values[:, 1] = np.where(values[:, 1] >= 2**31, values[:, 1] - 2**32, values[:, 1])
    return values


def _track_times(trak: bytes, movie_timescale: int) -> np.ndarray | None:
    boxes = _children(trak, 0, len(trak))
    mdia = _children(boxes[b"mdia"][0], 0, len(boxes[b"mdia"][0])) if b"mdia" in boxes else {}
    if b"hdlr" not in mdia or mdia[b"hdlr"][0][8:12] != b"vide":
        return None
    version, mdhd = _full_box(mdia[b"mdhd"][0])
    timescale = struct.unpack(">I", mdhd[16:20] if version == 1 else mdhd[8:12])[0]
    minf = _children(mdia[b"minf"][0], 0, len(mdia[b"minf"][0]))
    stbl = _children(minf[b"stbl"][0], 0, len(minf[b"stbl"][0]))
    if b"stts" not in stbl or timescale <= 0:
        return None
    stts = _pairs(_full_box(stbl[b"stts"][0])[1])
    if stts.size == 0:
        return None  # a fragmented file: its samples are described elsewhere
    decode = np.concatenate([[0], np.cumsum(np.repeat(stts[:, 1], stts[:, 0]))])[:-1]
    if b"ctts" in stbl:
        ctts = _pairs(_full_box(stbl[b"ctts"][0])[1], signed_second=True)
        offsets = np.repeat(ctts[:, 1], ctts[:, 0])
        if len(offsets) != len(decode):
            return None
        decode = decode + offsets
    # The edit list: empty edits delay the start; the first real edit says which media time is shown at 0.
    delay, media_time = 0.0, None
    if b"edts" in boxes:
        edts = _children(boxes[b"edts"][0], 0, len(boxes[b"edts"][0]))
        if b"elst" in edts:
            version, body = _full_box(edts[b"elst"][0])
            (count,) = struct.unpack(">I", body[:4])
            width = 20 if version == 1 else 12
            for i in range(count):
                entry = body[4 + i * width : 4 + (i + 1) * width]
                if version == 1:
                    duration, start = struct.unpack(">Qq", entry[:16])
                else:
                    duration, start = struct.unpack(">Ii", entry[:8])
                if start == -1:
                    delay += duration / movie_timescale
                    continue
                media_time = start
                break
    # Frames before the edit's start are not shown; the first shown one is at 0, as FFmpeg
    # (and so the decoder that numbers frames for extraction) counts it.
    shown = np.sort(decode)
    shown = shown[shown >= (media_time if media_time is not None else shown[0])]
    return (shown - shown[0]) / timescale + delay if len(shown) else None


@functools.lru_cache(maxsize=32)
def _mp4_times(path: str, size: int, mtime_ns: int) -> np.ndarray | None:
    with open(path, "rb") as handle:
        moov = _read_moov(handle)
    if moov is None:
        return None
    boxes = _children(moov, 0, len(moov))
    if b"mvhd" not in boxes:
        return None
    version, mvhd = _full_box(boxes[b"mvhd"][0])
    movie_timescale = struct.unpack(">I", mvhd[16:20] if version == 1 else mvhd[8:12])[0] or 1
    for trak in boxes.get(b"trak", []):
        times = _track_times(trak, movie_timescale)
        if times is not None and len(times):
            times.setflags(write=False)
            return times
    return None


def mp4_frame_times(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Presentation times (s) of the video track's frames, read from an MP4/MOV file's sample tables.

    What a browser shows: decode times (``stts``) plus composition offsets
    (``ctts``), in presentation order, those the edit list (``elst``) shows,
    the first at 0 (as FFmpeg's decoder counts them).
    Nothing is decoded, so it costs the same for a 4 GB interview as for a
    clip. None when the file holds no such tables (not MP4/MOV, fragmented,
    damaged). Cached per file (path, size, modification time).
    """
    path = Path(path)
    try:
        stat = path.stat()
        return _mp4_times(str(path), stat.st_size, stat.st_mtime_ns)
    except (OSError, struct.error, KeyError, IndexError, ValueError):
        return None


@functools.lru_cache(maxsize=8)
def _decoded_times(path: str, size: int, mtime_ns: int) -> np.ndarray:
    times = frame_timestamps(path)
    times.setflags(write=False)
    return times


@functools.lru_cache(maxsize=32)
def _matroska_times(path: str, size: int, mtime_ns: int) -> np.ndarray | None:
    times = matroska_frame_times(path)
    if times is not None:
        times.setflags(write=False)
    return times


def listed_frame_times(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Presentation times (s) of a video file's frames as its container lists them, nothing decoded.

    MP4/MOV from the sample tables (:func:`mp4_frame_times`), Matroska/WebM
    from the block headers (:func:`facs_core.matroska.matroska_frame_times`);
    the container is told by the file's first bytes. None for a container
    that lists no frame times (AVI: evenly spaced by its header) or a file
    whose lists cannot be read. Cached per file (path, size, modification time).
    """
    path = Path(path)
    try:
        stat = path.stat()
        with open(path, "rb") as handle:
            container = sniff_container(handle.read(64))
    except OSError:
        return None
    if container in ("mp4", "mov"):
        return mp4_frame_times(path)
    if container in ("mkv", "webm"):
        return _matroska_times(str(path), stat.st_size, stat.st_mtime_ns)
    return None


def frame_times(catalog: Catalog, video_id: str, frames: pd.DataFrame | None = None) -> np.ndarray | None:
    """When each frame of the stored video is shown (seconds, in order): the clock of its segments and frame table.

    The original's frames, also when the browser plays a playback copy
    (:func:`playback_frame_times` says when the same frames show in the
    copy). From the container's lists (:func:`listed_frame_times`); for
    other containers (AVI) from ``frames`` (the extracted per-frame table)
    when it holds every decoded frame, else by decoding when the video has
    at most :data:`DECODE_LIMIT_FRAMES` frames. None when the frames are
    taken as evenly spaced at the catalogued fps (no file, a long AVI).
    """
    record = get_video(catalog, video_id)
    if record is None or not record.get("stored_path"):
        return None
    path = video_file(catalog, record)
    if not path.is_file():
        return None
    listed = listed_frame_times(path)
    if listed is not None:
        return listed
    count = int(record.get("frame_count") or 0)
    if frames is not None and not frames.empty and count and len(frames) == count:
        return np.sort(frames["timestamp"].to_numpy(float))
    if 0 < count <= DECODE_LIMIT_FRAMES:
        stat = path.stat()
        try:
            return _decoded_times(str(path), stat.st_size, stat.st_mtime_ns)
        except InputError:
            return None
    return None


def playback_frame_times(catalog: Catalog, video_id: str) -> np.ndarray | None:
    """When each frame shows in the playback copy the browser plays instead of the stored video; None without one.

    The copy holds the original's frames one for one, in order, at a
    constant rate (:func:`write_webm_copy`), so frame ``i`` of the copy is
    frame ``i`` of :func:`frame_times`: a variable-frame-rate original's
    frames show at other times in its copy.
    """
    record = get_video(catalog, video_id)
    if record is None or not record.get("playback_path"):
        return None
    return listed_frame_times(catalog.paths.root / record["playback_path"])


def playback_time(catalog: Catalog, video_id: str, t: float, frames: pd.DataFrame | None = None) -> float:
    """Where time ``t`` of the stored video falls in the file the browser plays (seconds).

    In a playback copy, the same frame at the same fraction of its span
    (:func:`frame_times` paired with :func:`playback_frame_times`): a
    variable-frame-rate original's copy can drift from it by seconds over an
    interview. ``t`` itself where the browser plays the stored file or
    either list is unknown.
    """
    media = playback_frame_times(catalog, video_id)
    times = frame_times(catalog, video_id, frames) if media is not None else None
    if media is None or times is None or not len(media) or not len(times):
        return float(t)
    n = min(len(times), len(media))
    times, media = times[:n], media[:n]
    i = int(np.clip(np.searchsorted(times, t + 1e-9, "right") - 1, 0, n - 1))
    span = times[i + 1] - times[i] if i + 1 < n else 0.0
    shown = media[i + 1] - media[i] if i + 1 < n else 0.0
    rate = shown / span if span > 0 and shown > 0 else 1.0
    return max(0.0, float(media[i] + (t - times[i]) * rate))
