"""The pyfeat backend's real code path, end to end, on a generated weight set.

py-feat's ``Detectorv1`` runs on weights generated at test time
(``pyfeat_fake_weights``): random numbers in py-feat's own formats, with a face
detector set to report two faces at fixed boxes in every picture (the patient,
large and central, and a small face near a corner). The numbers are
meaningless; what is checked is everything around them: the command line and
a Ray job, the per-frame contract, the patient-face choice, pose and emotions,
the hub never contacted, and the fake set refused where it must be.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from facs_core.importers import PYFEAT_EMOTIONS, PYFEAT_POSE
from facs_core.reference import action_units
from tests.conftest import feat_files
from tests.pyfeat_fake_weights import FAKE_FACES

REPO = Path(__file__).resolve().parent.parent
EVERY = 12  # single_face.mp4 has 72 frames: 6 analysed


class _CountingHub:
    """A TCP port on 127.0.0.1 that counts connections (the hub, as far as the backend knows)."""

    def __init__(self) -> None:
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


def _cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "facs_core", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def _check_contract(table: pd.DataFrame, frames: list[int]) -> None:
    """One row per analysed frame; the study's AUs in [0, 1]; emotions; pose; the patient's face."""
    assert table["frame"].tolist() == frames
    aus = [c for c in table.columns if c.startswith("AU")]
    assert aus == list(action_units())  # all 20, named and ordered as the contract says
    values = table[aus].to_numpy(float)
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    emotions = table[list(PYFEAT_EMOTIONS)].to_numpy(float)
    assert np.isfinite(emotions).all()
    np.testing.assert_allclose(emotions.sum(axis=1), 1.0, atol=1e-4)  # a probability over 7 emotions
    assert np.isfinite(table[list(PYFEAT_POSE)].to_numpy(float)).all()
    assert table["face"].all() and (table["face_count"] == len(FAKE_FACES)).all()
    assert (table["face_confidence"] > 0.5).all()
    # The patient is the large central face, whatever order py-feat lists them in.
    x, y, w, h = FAKE_FACES[0]
    centre_x = table["FaceRectX"] + table["FaceRectWidth"] / 2
    centre_y = table["FaceRectY"] + table["FaceRectHeight"] / 2
    np.testing.assert_allclose(centre_x, x + w / 2, atol=2)
    np.testing.assert_allclose(centre_y, y + h / 2, atol=2)


@pytest.fixture(scope="module")
def cli_extraction(pyfeat_fake_weights: Path, feat_data: Path, tmp_path_factory) -> dict:
    """``extract single_face.mp4 --backend pyfeat --every 12`` run once, with a counting "hub"."""
    folder = tmp_path_factory.mktemp("cli-extraction")
    token = json.loads((pyfeat_fake_weights / "manifest.json").read_text())["fake_token"]
    hub = _CountingHub()
    # The hub "reachable" at a local port and HF_HUB_OFFLINE unset: the backend
    # must go offline by itself, so not one connection reaches that port.
    env = {
        "FACS_PYFEAT_DIR": str(pyfeat_fake_weights),
        "FACS_PYFEAT_FAKE_TOKEN": token,
        "HF_HOME": str(folder / "hf-home"),
        "HF_ENDPOINT": f"http://127.0.0.1:{hub.port}",
    }
    before = feat_files()
    out = folder / "frames.parquet"
    try:
        video = str(feat_data / "single_face.mp4")
        done = _cli("extract", video, "--backend", "pyfeat", "--every", str(EVERY), "--out", str(out), env=env)
    finally:
        hub.close()
    return {"done": done, "out": out, "connections": hub.connections, "added": feat_files() - before}


@pytest.mark.slow
def test_cli_extract_runs_pyfeat_detector_offline(cli_extraction: dict) -> None:
    done, out = cli_extraction["done"], cli_extraction["out"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Retrying" not in done.stderr
    # The summary says whose face the frames hold.
    assert "6 frames: 6 patient face (0 identity uncertain), 0 other face only, 0 no face" in done.stderr
    assert cli_extraction["connections"] == 0
    assert not cli_extraction["added"], "the extraction wrote into py-feat's package folder"
    table = pd.read_parquet(out)
    _check_contract(table, list(range(0, 72, EVERY)))
    metadata = pq.read_schema(out).metadata
    assert metadata[b"facs.au_source"] == b"pyfeat" and metadata[b"facs.backend"] == b"pyfeat"
    assert b"GENERATED TEST weights" in metadata[b"facs.backend_version"]


@pytest.mark.slow
def test_ray_job_runs_pyfeat_detector(pyfeat_env, cli_extraction: dict, feat_data: Path, tmp_path: Path) -> None:
    from facs_core.probe import probe_video
    from store import open_catalog
    from store.videos import add_video

    source = feat_data / "single_face.mp4"
    catalog = open_catalog(tmp_path / "data")
    try:
        record, _ = add_video(catalog, source, probe_video(source), patient_id="P001", original_name=source.name)
    finally:
        catalog.close()
    video = record["video_id"]
    args = ("--data-dir", str(tmp_path / "data"), "jobs", "run", video, "--backend", "pyfeat")
    # Ray start-up and a detector build in the worker: minutes on a busy 2-core machine.
    done = _cli(*args, "--every", str(EVERY), "--chunk-frames", "36", "--workers", "1", env=pyfeat_env, timeout=1500)
    assert done.returncode == 0, done.stderr[-2000:]
    catalog = open_catalog(tmp_path / "data")
    try:
        run = catalog.query("SELECT * FROM runs WHERE video_id = ?", [video]).iloc[0]
        assert run["status"] == "done" and run["backend"] == "pyfeat"
        assert run["n_frames"] == 72 // EVERY and run["n_face_frames"] == 72 // EVERY
        shard = pd.read_parquet(catalog.paths.root / run["shard_path"])
    finally:
        catalog.close()
    _check_contract(shard, list(range(0, 72, EVERY)))
    # Two chunks of 36 frames on Ray, or one pass from the command line: the same rows.
    pd.testing.assert_frame_equal(
        shard.drop(columns=["run_id", "video_id"]),
        pd.read_parquet(cli_extraction["out"]),
        check_exact=False,
        atol=1e-5,
    )


@pytest.mark.slow
def test_backend_on_the_sample_image(pyfeat_env, feat_data: Path) -> None:
    import cv2

    from facs_core.backends.base import get_backend
    from facs_core.decode import DecodedFrame

    image = cv2.cvtColor(cv2.imread(str(feat_data / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    with get_backend("pyfeat", batch_size=2) as backend:
        table = backend.process([DecodedFrame(0, 0.0, image), DecodedFrame(1, 0.04, image[:, ::-1].copy())])
    _check_contract(table, [0, 1])
    from huggingface_hub import constants

    assert not constants.HF_HUB_OFFLINE  # closing the backend gave the setting back


def _partial_copy(source: Path, target: Path, *, drop: str | None = None, manifest: dict | None = None) -> Path:
    """A copy of a weight folder made of symbolic links, without ``drop``'s repository, with another manifest."""
    shutil.copytree(source, target, copy_function=os.symlink)
    if drop:
        shutil.rmtree(target / f"models--{drop.replace('/', '--')}")
    if manifest is not None:
        (target / "manifest.json").unlink()
        (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def _extract_error(feat_data: Path, tmp_path: Path, env: dict[str, str]) -> str:
    out = tmp_path / "frames.parquet"
    done = _cli(
        "extract", str(feat_data / "single_face.mp4"), "--backend", "pyfeat", "--out", str(out), env=env, timeout=120
    )
    assert done.returncode == 2 and not out.exists(), done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), done.stderr
    return errors[0]


def test_generated_set_is_refused_without_its_token(pyfeat_env, feat_data: Path, tmp_path: Path) -> None:
    for token in ("", "0" * 32):
        env = {**pyfeat_env, "FACS_PYFEAT_FAKE_TOKEN": token}
        assert "generated test weights (marked fake)" in _extract_error(feat_data, tmp_path, env)


def test_model_folder_without_pose_model_is_refused(pyfeat_env, feat_data: Path, tmp_path: Path) -> None:
    # Without the pose model py-feat would quietly report NaN pose; the backend says so at once.
    folder = _partial_copy(Path(pyfeat_env["FACS_PYFEAT_DIR"]), tmp_path / "weights", drop="py-feat/pose_mlp_v2")
    error = _extract_error(feat_data, tmp_path, {**pyfeat_env, "FACS_PYFEAT_DIR": str(folder)})
    assert "incomplete" in error and "pose_mlp_v2" in error


def test_model_folder_for_another_pyfeat_version_is_refused(pyfeat_env, feat_data: Path, tmp_path: Path) -> None:
    source = Path(pyfeat_env["FACS_PYFEAT_DIR"])
    manifest = {**json.loads((source / "manifest.json").read_text()), "py_feat_version": "0.0.1"}
    folder = _partial_copy(source, tmp_path / "weights", manifest=manifest)
    error = _extract_error(feat_data, tmp_path, {**pyfeat_env, "FACS_PYFEAT_DIR": str(folder)})
    assert "py-feat 0.0.1" in error


def _two_people(feat_data: Path, n_frames: int, swap_at: int, misses: tuple[int, ...]) -> list:
    """Pictures with faces at the generated detector's two fixed boxes (:data:`FAKE_FACES`).

    The patient (the man of ``single_face.mp4``) fills the large central box
    and the other person (the woman of ``WolfgangLanger_Pexels.mp4``) the
    small corner box until ``swap_at``, then the two change places; in the
    frames of ``misses`` the patient's box shows only the wall. The detector
    reports both boxes in every picture whatever they show, so only the
    faces' appearance tells who is who.
    """
    import cv2

    from facs_core.decode import DecodedFrame
    from tests.two_face_videos import _OTHER_FACE, _PATIENT_FACE, _cutout, _frames

    patient_clip = _frames(feat_data / "single_face.mp4")
    other_clip = _frames(feat_data / "WolfgangLanger_Pexels.mp4")
    rng = np.random.default_rng(0)
    wall = np.clip(rng.normal(150, 12, (360, 640, 3)), 0, 255).astype(np.uint8)
    boxes = [(x + w / 2, y + h / 2, w, h) for x, y, w, h in FAKE_FACES]
    pictures = []
    for i in range(n_frames):
        canvas = wall.copy()
        people = [(patient_clip[i % len(patient_clip)], _PATIENT_FACE), (other_clip[i], _OTHER_FACE)]
        if i >= swap_at:
            people.reverse()
        for (clip_frame, face), (cx, cy, w, h) in zip(people, boxes, strict=True):
            if i in misses and face is _PATIENT_FACE:
                continue
            size = int(h)
            patch = _cutout(clip_frame, face, w, size)
            x0, y0 = round(cx - size / 2), round(cy - size / 2)
            canvas[y0 : y0 + size, x0 : x0 + size] = patch[: 360 - y0, : 640 - x0]
        pictures.append(DecodedFrame(i, i / 30.0, cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)))
    return pictures


@pytest.mark.slow
def test_patient_track_over_the_whole_video_through_pyfeat(pyfeat_env, feat_data: Path) -> None:
    """The patient is decided over the whole video, not per chunk; never the other person.

    The last chunk shows the other person large and central (what a per-chunk
    choice would keep) and the patient small in the corner; two frames of the
    first chunk show the patient's box empty.
    """
    from facs_core.backends.base import get_backend

    n_frames, swap_at, misses = 16, 11, (4, 5)
    pictures = _two_people(feat_data, n_frames, swap_at, misses)
    with get_backend("pyfeat", batch_size=4) as backend:
        # Chunks as workers run them: each its own first pass, one second pass over all.
        detections = pd.concat([backend.detect(pictures[:8]), backend.detect(pictures[8:])], ignore_index=True)
        table = backend.assemble(detections)
    assert table["frame"].tolist() == list(range(n_frames))
    assert (table["face_count"] == 2).all()
    centre_x = (table["FaceRectX"] + table["FaceRectWidth"] / 2).to_numpy()
    central, corner = (x + w / 2 for x, _, w, _ in FAKE_FACES)
    visible = np.array([i not in misses for i in range(n_frames)])
    expected = np.where(np.arange(n_frames) < swap_at, central, corner)
    # Every frame where the patient is visible keeps the patient's box; none keeps the other's.
    assert table["face"].to_numpy()[visible].all()
    np.testing.assert_allclose(centre_x[visible], expected[visible], atol=2)
    # Frames where the patient is not shown: "other face", no values, never the other person.
    missed = table[~visible]
    assert not missed["face"].any() and (missed["face_status"] == "other_face").all()
    assert missed["AU01"].isna().all() and (missed["track_id"] == -1).all()
    assert (table.loc[visible, "face_status"] == "patient").all()
    assert (table.loc[visible, "face_confidence"] > 0.5).all()
    assert table.loc[visible, "track_id"].ge(0).all() and table["face_score"].notna().sum() == visible.sum()
    # What the command line and the Extraction page's job line report for it.
    from facs_core.services.extraction import face_summary

    summary = face_summary(table).describe()
    assert (
        summary
        == f"{n_frames} frames: {visible.sum()} patient face (0 identity uncertain), 2 other face only, 0 no face"
    )


@pytest.mark.slow
def test_batch_size_does_not_change_the_rows(pyfeat_env, feat_data: Path) -> None:
    import cv2

    from facs_core.backends.base import get_backend
    from facs_core.decode import DecodedFrame

    image = cv2.cvtColor(cv2.imread(str(feat_data / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    frames = [DecodedFrame(i, i / 30.0, np.roll(image, 3 * i, axis=1)) for i in range(4)]
    tables = []
    for batch_size in (1, 4):
        with get_backend("pyfeat", batch_size=batch_size, device="cpu") as backend:
            tables.append(backend.process(frames))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=False, atol=1e-5)
