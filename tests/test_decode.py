"""Decoding: exact frame numbering, seeking by chunks, stride, bad and truncated files."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facs_core.decode import decode_frames, frame_range_for_times, frame_timestamps
from facs_core.errors import InputError


def _sequential(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """Every frame and its decoder timestamp, read front to back with plain OpenCV."""
    capture = cv2.VideoCapture(str(path))
    stamps, images = [], []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        stamps.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return stamps, images


@pytest.mark.parametrize("name", ["WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov"])
def test_chunks_decode_exactly_the_frames_of_a_sequential_read(feat_data: Path, name: str) -> None:
    # The .mov samples are variable-frame-rate: OpenCV's own time seek lands on
    # the wrong frame there, which decode_frames must correct.
    path = feat_data / name
    stamps, images = _sequential(path)
    index = frame_timestamps(path)
    np.testing.assert_allclose(index, stamps)
    chunk = 37
    got = []
    for start in range(0, len(index), chunk):
        got.extend(decode_frames(path, start, start + chunk, timestamps=index))
    assert [f.index for f in got] == list(range(len(stamps)))
    np.testing.assert_allclose([f.timestamp for f in got], stamps)
    for frame in got:
        assert np.array_equal(frame.image, images[frame.index])


def test_stride_keeps_multiples_of_every_whatever_the_start(feat_data: Path) -> None:
    path = feat_data / "WolfgangLanger_Pexels.mp4"
    index = frame_timestamps(path)
    frames = list(decode_frames(path, 101, 200, every=4, timestamps=index))
    assert [f.index for f in frames] == [i for i in range(101, 200) if i % 4 == 0]
    assert frames[0].image.shape[2] == 3 and frames[0].image.dtype == np.uint8


def test_decoded_count_not_the_header_claim(feat_data: Path) -> None:
    path = feat_data / "no_face.mp4"
    stamps, _ = _sequential(path)
    capture = cv2.VideoCapture(str(path))
    claimed = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    index = frame_timestamps(path)
    assert len(index) == len(stamps)
    assert len(index) != claimed  # this sample's header claims frames it does not hold


def test_time_range_maps_to_frames_by_decoder_timestamps(feat_data: Path) -> None:
    index = frame_timestamps(feat_data / "face_noface.mov")
    first, stop = frame_range_for_times(index, 1.0, 2.5)
    inside = np.flatnonzero((index >= 1.0) & (index < 2.5))
    assert (first, stop) == (inside[0], inside[-1] + 1)


def test_truncated_video_decodes_the_frames_before_the_damage(feat_data: Path, tmp_path: Path) -> None:
    source = feat_data / "WolfgangLanger_Pexels.mp4"
    truncated = tmp_path / "truncated.mp4"
    data = source.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    try:
        index = frame_timestamps(truncated)
    except InputError as exc:  # a cut that removes the index makes it undecodable: one line
        assert "truncated.mp4" in str(exc) and "\n" not in str(exc)
        return
    full = frame_timestamps(source)
    assert 0 < len(index) < len(full)
    assert np.all(np.diff(index) > 0)
    # Every frame decoded from the damaged copy is a frame of the original,
    # at the original's time (frames held back for reordering may be lost).
    nearest = np.abs(index[:, None] - full[None, :]).min(axis=1)
    assert nearest.max() < 1e-6
    frames = list(decode_frames(truncated, timestamps=index))
    assert [f.index for f in frames] == list(range(len(frames)))


def test_text_file_named_mp4_is_refused_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match=r"notes\.mp4") as caught:
        frame_timestamps(fake)
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError):
        list(decode_frames(fake))


def test_missing_file_and_bad_stride(tmp_path: Path, feat_data: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        frame_timestamps(tmp_path / "absent.mp4")
    with pytest.raises(InputError, match="every"):
        list(decode_frames(feat_data / "single_face.mp4", every=0))


def test_copy_keeps_numbering(feat_data: Path, tmp_path: Path) -> None:
    # Same content under another name: numbering depends on content only.
    copy = tmp_path / "copy.mov"
    shutil.copyfile(feat_data / "face_noface.mov", copy)
    np.testing.assert_array_equal(frame_timestamps(copy), frame_timestamps(feat_data / "face_noface.mov"))
