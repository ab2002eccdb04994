"""When each video frame of a Matroska or WebM file is shown, read from its block headers (nothing decoded).

A Matroska file stores every frame as a block inside a cluster: the block's
time is the cluster's time plus the block's signed 16-bit offset, in units
of the segment's ``TimecodeScale`` (nanoseconds, 1 ms unless set). Reading
those headers and skipping the frame data lists the frames of a 4 GB
interview in about a second, where decoding it takes minutes; a
variable-frame-rate recording keeps its uneven spacing, which no single
frame rate describes.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

__all__ = ["matroska_frame_times"]

_SEGMENT = 0x18538067
_INFO = 0x1549A966
_TIMECODE_SCALE = 0x2AD7B1
_TRACKS = 0x1654AE6B
_TRACK_ENTRY = 0xAE
_TRACK_NUMBER = 0xD7
_TRACK_TYPE = 0x83
_CLUSTER = 0x1F43B675
_CLUSTER_TIME = 0xE7
_SIMPLE_BLOCK = 0xA3
_BLOCK_GROUP = 0xA0
_BLOCK = 0xA1
_VIDEO = 1
#: Elements that may follow a cluster of unknown size: they end it.
_TOP_LEVEL = {_CLUSTER, _INFO, _TRACKS, 0x114D9B74, 0x1C53BB6B, 0x1941A469, 0x1043A770, 0x1254C367}


class _MalformedError(ValueError):
    """The file is not Matroska as this reader understands it."""


def _vint(data: mmap.mmap | bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length integer at ``pos``: (value, its length in bytes, whether all value bits are 1)."""
    if pos >= len(data):
        raise _MalformedError("ends inside a number")
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise _MalformedError("bad variable-length number")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def _element(data: mmap.mmap, pos: int, end: int) -> tuple[int, int, int]:
    """(id, start of the payload, end of the payload) of the element at ``pos``; unknown sizes run to ``end``."""
    ident, id_length, _ = _vint(data, pos, keep_marker=True)
    size, size_length, unknown = _vint(data, pos + id_length, keep_marker=False)
    start = pos + id_length + size_length
    return ident, start, end if unknown else min(end, start + size)


def _uint(data: mmap.mmap, start: int, stop: int) -> int:
    return int.from_bytes(data[start:stop], "big") if stop > start else 0


def _video_tracks(data: mmap.mmap, start: int, end: int) -> set[int]:
    tracks: set[int] = set()
    while start < end:
        ident, body, stop = _element(data, start, end)
        if ident == _TRACK_ENTRY:
            number, kind, pos = None, None, body
            while pos < stop:
                child, child_body, child_stop = _element(data, pos, stop)
                if child == _TRACK_NUMBER:
                    number = _uint(data, child_body, child_stop)
                elif child == _TRACK_TYPE:
                    kind = _uint(data, child_body, child_stop)
                pos = child_stop
            if number is not None and kind == _VIDEO:
                tracks.add(number)
        start = stop
    return tracks


def _block_time(data: mmap.mmap, body: int, stop: int, video: set[int], cluster_time: int) -> int | None:
    """The block's time (in timecode units) if it holds one frame of a video track; raises on laced frames."""
    track, length, _ = _vint(data, body, keep_marker=False)
    if track not in video:
        return None
    if body + length + 3 > stop:
        raise _MalformedError("block header cut short")
    offset = int.from_bytes(data[body + length : body + length + 2], "big", signed=True)
    if data[body + length + 2] & 0x06:
        # Several frames share this block's time (lacing): their own times are not in the file.
        raise _MalformedError("laced video frames")
    return cluster_time + offset


def _cluster_times(data: mmap.mmap, start: int, end: int, video: set[int]) -> tuple[list[int], int]:
    """Times of the video frames in the cluster whose payload starts at ``start``; where the cluster ends."""
    cluster_time, times, pos = 0, [], start
    while pos < end:
        ident, body, stop = _element(data, pos, end)
        if ident in _TOP_LEVEL:
            return times, pos  # a cluster of unknown size ends where the next top-level element starts
        if ident == _CLUSTER_TIME:
            cluster_time = _uint(data, body, stop)
        elif ident == _SIMPLE_BLOCK:
            time = _block_time(data, body, stop, video, cluster_time)
            if time is not None:
                times.append(time)
        elif ident == _BLOCK_GROUP:
            inner = body
            while inner < stop:
                child, child_body, child_stop = _element(data, inner, stop)
                if child == _BLOCK:
                    time = _block_time(data, child_body, child_stop, video, cluster_time)
                    if time is not None:
                        times.append(time)
                inner = child_stop
        pos = stop
    return times, pos


def _read(data: mmap.mmap) -> np.ndarray | None:
    ident, body, end = _element(data, 0, len(data))
    if ident != 0x1A45DFA3:
        return None
    pos = end
    while pos < len(data):
        ident, body, end = _element(data, pos, len(data))
        if ident == _SEGMENT:
            break
        pos = end
    else:
        return None
    scale, video, times, pos = 1_000_000, set(), [], body
    while pos < end:
        ident, child_body, child_end = _element(data, pos, end)
        if ident == _INFO:
            inner = child_body
            while inner < child_end:
                field, field_body, field_end = _element(data, inner, child_end)
                if field == _TIMECODE_SCALE:
                    scale = _uint(data, field_body, field_end) or scale
                inner = field_end
        elif ident == _TRACKS:
            video = _video_tracks(data, child_body, child_end)
        elif ident == _CLUSTER:
            if not video:
                return None  # clusters before the track list: not a layout this reader follows
            found, child_end = _cluster_times(data, child_body, child_end, video)
            times.extend(found)
        pos = child_end
    if not times:
        return None
    # Blocks are stored in decoding order; frames are shown in time order, the first at 0
    # (as FFmpeg's decoder, and so extraction, counts them).
    shown = np.sort(np.asarray(times, dtype=np.int64))
    return (shown - shown[0]) * (scale / 1e9)


def matroska_frame_times(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Presentation times (s) of the video frames of a Matroska or WebM file, read from its block headers.

    In time order, the first at 0. None when the file is not Matroska, holds
    no video track, is damaged, or stores several video frames in one block
    (lacing: their times are not in the file).

    Examples
    --------
    >>> matroska_frame_times("not-a-video.txt") is None
    True
    """
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _read(data)
    except (OSError, ValueError):
        return None
