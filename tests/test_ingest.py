"""Ingest: probe first, sha256 de-duplication, covariates and scores, playback copies, nothing stored on bad input."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest

from facs_core.cli import main
from facs_core.errors import InputError
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from facs_core.services.playback import browser_playable, ensure_playback_copy, write_webm_copy
from store import Catalog

OPERATOR = LocalOperator("test")


TABLES = ("patients", "videos", "assessments", "visit_covariates", "audit_log")


def _snapshot(catalog: Catalog) -> dict:
    state = {}
    for table in TABLES:
        frame = catalog.query(f"SELECT * FROM {table} ORDER BY ALL").astype(object)
        state[table] = frame.where(frame.notna(), None).to_dict("records")  # NaN != NaN would spoil ==
    state["files"] = sorted(
        str(p.relative_to(catalog.paths.root))
        for p in catalog.paths.root.rglob("*")
        if p.is_file() and not p.name.startswith("catalog.duckdb")
    )
    return state


def test_ingest_stores_by_hash_with_covariates_scores_and_audit(catalog: Catalog, feat_data: Path) -> None:
    source = feat_data / "single_face.mp4"
    record, created = ingest_video(
        catalog,
        source,
        original_name="Jane Doe visit.mp4",
        patient_id="P017",
        visit_date=date(2024, 3, 1),
        age=41,
        sex="f",
        medication="sertraline",
        scores={"BDI-II": 23, "phq9": 11},
        user=LocalOperator("dr_a"),
    )
    assert created
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["sha256"] == sha and record["video_id"] == sha[:16]
    assert record["stored_path"] == f"videos/{sha}.mp4"
    stored = catalog.paths.root / record["stored_path"]
    assert stored.read_bytes() == source.read_bytes()
    assert "Jane" not in record["stored_path"] and record["original_name"] == "Jane Doe visit.mp4"
    assert (record["frame_count"], record["width"], record["height"], record["codec"]) == (72, 640, 360, "h264")

    scores = dict(catalog.query("SELECT instrument, score FROM assessments").itertuples(index=False))
    assert scores == {"bdi": 23.0, "phq9": 11.0}
    covariates = catalog.query("SELECT * FROM visit_covariates").to_dict("records")[0]
    assert (covariates["age"], covariates["sex"], covariates["medication"]) == (41.0, "female", "sertraline")
    assert not covariates["repeat_visit"]
    audit = catalog.query("SELECT actor, action, target, detail FROM audit_log").to_dict("records")
    assert audit == [{"actor": "dr_a", "action": "upload", "target": record["video_id"], "detail": "container mp4"}]


def test_duplicate_upload_returns_the_existing_record_and_changes_nothing(
    catalog: Catalog, feat_data: Path, tmp_path: Path
) -> None:
    first, created = ingest_video(
        catalog,
        feat_data / "single_face.mp4",
        user=OPERATOR,
        original_name="a.mp4",
        patient_id="P1",
        scores={"bdi": 10},
    )
    assert created
    before = _snapshot(catalog)
    copy = tmp_path / "renamed copy.mp4"
    copy.write_bytes((feat_data / "single_face.mp4").read_bytes())
    again, created = ingest_video(
        catalog, copy, user=OPERATOR, original_name="renamed copy.mp4", patient_id="P2", scores={"bdi": 50}, age=30
    )
    assert not created and again == first
    assert _snapshot(catalog) == before


@pytest.mark.parametrize("case", ["text", "truncated", "empty", "bad score", "bad patient", "bad age", "demo patient"])
def test_failed_ingest_leaves_no_file_and_no_row(catalog: Catalog, feat_data: Path, tmp_path: Path, case: str) -> None:
    good = feat_data / "WolfgangLanger_Pexels.mp4"
    path, kwargs = good, {"patient_id": "P9", "scores": {"bdi": 12}}
    if case == "text":
        path = tmp_path / "fake.mp4"
        path.write_text("not a video\n")
    elif case == "truncated":
        path = tmp_path / "cut.mp4"
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    elif case == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif case == "bad score":
        kwargs["scores"] = {"bdi": 64}
    elif case == "bad patient":
        kwargs["patient_id"] = "Jane Doe"
    elif case == "demo patient":  # a real visit under a synthetic demo patient's code
        catalog.execute("INSERT INTO patients (patient_id, synthetic) VALUES ('P9', TRUE)")
    else:
        kwargs["age"] = -3
    before = _snapshot(catalog)
    with pytest.raises(InputError) as caught:
        ingest_video(catalog, path, user=OPERATOR, original_name=path.name, **kwargs)
    assert "\n" not in str(caught.value)
    if case == "demo patient":
        assert "patient P9 holds synthetic demo visits" in str(caught.value)
    assert _snapshot(catalog) == before


def test_score_errors_name_instrument_and_value(catalog: Catalog, feat_data: Path) -> None:
    video = feat_data / "single_face.mp4"
    with pytest.raises(InputError, match=r"phq9: '30' is outside .* 0-27"):
        ingest_video(catalog, video, user=OPERATOR, original_name="v.mp4", patient_id="P1", scores={"PHQ-9": "30"})
    with pytest.raises(InputError, match="'gaf': unknown instrument"):
        ingest_video(catalog, video, user=OPERATOR, original_name="v.mp4", patient_id="P1", scores={"gaf": 50})


def test_repeat_visit_is_derived_from_earlier_visits_by_date(catalog: Catalog, feat_data: Path) -> None:
    later, _ = ingest_video(
        catalog,
        feat_data / "single_face.mp4",
        user=OPERATOR,
        original_name="b.mp4",
        patient_id="P5",
        visit_date=date(2024, 6, 1),
    )
    earlier, _ = ingest_video(
        catalog,
        feat_data / "no_face.mp4",
        user=OPERATOR,
        original_name="a.mp4",
        patient_id="P5",
        visit_date=date(2024, 1, 1),
    )
    third, _ = ingest_video(
        catalog,
        feat_data / "WolfgangLanger_Pexels.mp4",
        user=OPERATOR,
        original_name="c.mp4",
        patient_id="P5",
        visit_date=date(2024, 9, 1),
    )
    repeat = dict(catalog.query("SELECT video_id, repeat_visit FROM visit_covariates").itertuples(index=False))
    assert repeat == {later["video_id"]: False, earlier["video_id"]: False, third["video_id"]: True}


def test_browser_playability_by_codec_and_container() -> None:
    assert browser_playable("mp4", "h264") and browser_playable("webm", "vp80")
    assert not browser_playable("mov", "hevc") and not browser_playable("mp4", "fmp4")
    assert not browser_playable("avi", "h264")


def test_opencv_here_writes_vp8_webm(tmp_path: Path) -> None:
    source = tmp_path / "source.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 60))
    for i in range(12):
        writer.write(np.full((60, 80, 3), i * 20, dtype=np.uint8))
    writer.release()
    target = write_webm_copy(source, tmp_path / "copy.webm")
    capture = cv2.VideoCapture(str(target))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    frames = 0
    while capture.grab():
        frames += 1
    assert fourcc == "VP80" and frames == 12
    assert target.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"
    assert not list(tmp_path.glob("*.partial*"))


def test_hevc_video_gets_a_playback_copy_and_h264_does_not(catalog: Catalog, feat_data: Path) -> None:
    mov, _ = ingest_video(catalog, feat_data / "face_noface.mov", user=OPERATOR, original_name="m.mov", patient_id="P3")
    mp4, _ = ingest_video(catalog, feat_data / "single_face.mp4", user=OPERATOR, original_name="s.mp4", patient_id="P3")
    assert ensure_playback_copy(catalog, mp4["video_id"]) is None
    relative = ensure_playback_copy(catalog, mov["video_id"])
    assert relative == f"playback/{mov['sha256']}.webm"
    assert catalog.scalar("SELECT playback_path FROM videos WHERE video_id = ?", [mov["video_id"]]) == relative
    capture = cv2.VideoCapture(str(catalog.paths.root / relative))
    frames = 0
    while capture.grab():
        frames += 1
    assert frames == mov["frame_count"]
    assert (catalog.paths.root / mov["stored_path"]).read_bytes() == (feat_data / "face_noface.mov").read_bytes()


def test_videos_cli_add_and_list(data_dir: Path, feat_data: Path, capsys: pytest.CaptureFixture) -> None:
    video = str(feat_data / "single_face.mp4")
    args = [
        "--data-dir",
        str(data_dir),
        "videos",
        "add",
        video,
        "--patient",
        "P8",
        "--visit-date",
        "2024-02-02",
        "--age",
        "50",
        "--sex",
        "male",
        "--score",
        "bdi=31",
        "--score",
        "hamd=14",
    ]
    assert main(args) == 0
    assert "72 frames" in capsys.readouterr().out
    assert main(args) == 0
    assert "already stored" in capsys.readouterr().out
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "videos",
                "add",
                str(feat_data / "OpenFace_Test.csv"),
                "--patient",
                "P8",
                "--visit-date",
                "2024-03-01",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.startswith("error: OpenFace_Test.csv: not a video")
    with pytest.raises(SystemExit) as usage:
        main(
            [
                "--data-dir",
                str(data_dir),
                "videos",
                "add",
                video,
                "--patient",
                "P8",
                "--visit-date",
                "2024-03-01",
                "--score",
                "bdi",
            ]
        )
    assert usage.value.code == 2
    assert main(["--data-dir", str(data_dir), "videos", "list"]) == 0
    listing = capsys.readouterr().out
    assert "P8" in listing and listing.count("\n") == 2
    assert not {"NaN", "None", "<NA>", "NaT"} & set(listing.split()), listing
    assert "–" in listing
