"""Decode video frames with OpenCV: a time or frame range, a stride, flat memory.

Frame numbers are the ordinal positions of the frames the decoder actually
produces (0, 1, 2, ...), never the container header's claim and never
``timestamp * fps``: phone recordings are often variable-frame-rate, where
``round(t * fps)`` numbers two frames alike. :func:`frame_timestamps` numbers
them with one decode-only pass (``grab`` without colour conversion), and
:func:`decode_frames` uses that index to seek straight to a chunk's first frame.

Seeking by time in OpenCV's FFmpeg backend may land on a frame before or after
the requested one in variable-frame-rate files, so :func:`decode_frames` seeks
to a point ahead of the target, checks where it landed by the decoder's
timestamp, and backs off further when it overshot; then it reads forward to
the exact frame. Frames are yielded one at a time, so memory does not grow
with the length of the video.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facs_core.decoder_log import decoder_messages
from facs_core.errors import InputError

# OpenCV's own warnings (e.g. on a file that is not a video) duplicate the one
# line InputError gives; keep them off the user's terminal.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

#: How far ahead of a chunk's first frame the first seek aims, in seconds; it
#: doubles each time the decoder lands past the target.
SEEK_MARGIN_S = 2.0
#: Two decoder timestamps closer than this (milliseconds) are the same frame.
_SAME_FRAME_MS = 1e-3


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame.

    Attributes
    ----------
    index : int
        Ordinal position of the frame among all decoded frames of the video.
    timestamp : float
        Presentation time in seconds, from the decoder (``CAP_PROP_POS_MSEC``).
    image : numpy.ndarray
        The picture, RGB, ``uint8``, shape ``(height, width, 3)``.
    """

    index: int
    timestamp: float
    image: np.ndarray


def _open(path: str | os.PathLike[str]) -> cv2.VideoCapture:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video file {path} does not exist")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise InputError(f"cannot decode {path}: not a video file, or corrupt")
    return capture


def frame_timestamps(path: str | os.PathLike[str]) -> np.ndarray:
    """Decoder timestamps (seconds) of every frame that decodes, in order.

    One pass with ``grab()`` (decoding without conversion). Its length is the
    decoded frame count; a truncated file gives the frames before the damage.

    Raises
    ------
    InputError
        The file is missing, is not a video, or holds no decodable frame.
    """
    stamps: list[float] = []
    # A damaged file's decoder errors are counted by probing; here they are only kept off the terminal.
    with decoder_messages():
        capture = _open(path)
        try:
            while capture.grab():
                stamps.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
        finally:
            capture.release()
    if not stamps:
        raise InputError(f"cannot decode {Path(path)}: no frame could be decoded")
    return np.asarray(stamps, dtype=np.float64)


def container_frame_count(path: str | os.PathLike[str]) -> int | None:
    """The frame count the container claims (no decoding), or None when it claims none."""
    with decoder_messages():
        capture = _open(path)
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
    return count if count > 0 else None


def frame_range_for_times(timestamps: np.ndarray, start_s: float | None, end_s: float | None) -> tuple[int, int]:
    """Frames ``[first, stop)`` whose timestamps lie in ``[start_s, end_s)``.

    ``None`` means the start (or the end) of the video.
    """
    first = 0 if start_s is None else int(np.searchsorted(timestamps, start_s - _SAME_FRAME_MS / 1000, "left"))
    stop = len(timestamps) if end_s is None else int(np.searchsorted(timestamps, end_s - _SAME_FRAME_MS / 1000, "left"))
    return first, max(first, stop)


def _seek_before(capture: cv2.VideoCapture, target_ms: float) -> float | None:
    """Seek so that the next ``grab`` gives a frame at or before ``target_ms``.

    Returns the timestamp (ms) of the frame grabbed after the seek, or None
    when the capture had to be rewound to the first frame (nothing grabbed).
    """
    margin_ms = SEEK_MARGIN_S * 1000.0
    while target_ms - margin_ms > 0:
        capture.set(cv2.CAP_PROP_POS_MSEC, target_ms - margin_ms)
        if capture.grab():
            landed = capture.get(cv2.CAP_PROP_POS_MSEC)
            if landed <= target_ms + _SAME_FRAME_MS:
                return landed
        margin_ms *= 2
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return None


def decode_frames(
    path: str | os.PathLike[str],
    start_frame: int = 0,
    end_frame: int | None = None,
    every: int = 1,
    timestamps: np.ndarray | None = None,
) -> Iterator[DecodedFrame]:
    """Yield the frames ``start_frame <= index < end_frame`` with ``index % every == 0``.

    Parameters
    ----------
    path : path-like
        The video file.
    start_frame, end_frame : int
        Ordinal frame range; ``end_frame=None`` reads to the end.
    every : int
        Stride: keep frames whose ordinal index is a multiple of ``every``, so
        cutting a video into chunks never shifts which frames are kept.
    timestamps : numpy.ndarray, optional
        The video's :func:`frame_timestamps`; needed to seek (computed when
        ``start_frame > 0`` and not given).

    Yields
    ------
    DecodedFrame
        One at a time: memory stays flat whatever the length of the video.
    """
    if every < 1:
        raise InputError(f"--every must be a positive whole number of frames, got {every}")
    if start_frame > 0 and timestamps is None:
        timestamps = frame_timestamps(path)
    capture = _open(path)
    try:
        index = 0
        pending = False  # a frame was grabbed by the seek and awaits retrieval
        if start_frame > 0 and timestamps is not None:
            if start_frame >= len(timestamps):
                return
            target_ms = float(timestamps[start_frame]) * 1000.0
            landed = _seek_before(capture, target_ms)
            if landed is not None:
                # Where the seek landed, by the index of its timestamp.
                index = int(np.searchsorted(timestamps * 1000.0, landed - _SAME_FRAME_MS, "left"))
                pending = True
        while end_frame is None or index < end_frame:
            if not pending and not capture.grab():
                break
            pending = False
            if index >= start_frame and index % every == 0:
                ok, bgr = capture.retrieve()
                if not ok:
                    break
                stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                yield DecodedFrame(index, stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
