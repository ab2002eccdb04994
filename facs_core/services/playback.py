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

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from facs_core.errors import InputError
from store.catalog import Catalog
from store.videos import get_video, sha256_file, video_file

#: Codecs (as OpenCV's FOURCC, lower case) browsers decode natively.
BROWSER_CODECS: frozenset[str] = frozenset({"h264", "avc1", "avc3", "vp8", "vp80", "vp9", "vp90", "vp09"})
#: Containers browsers open natively.
BROWSER_CONTAINERS: frozenset[str] = frozenset({"mp4", "mov", "webm"})
#: The longest side of a playback copy; larger videos are scaled down to keep encoding fast.
MAX_PLAYBACK_SIDE = 960

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
