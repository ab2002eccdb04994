"""Hostile inputs: every importer and text field either accepts input verbatim or refuses it in one line.

Property-based (hypothesis) tests feed random and adversarial CSV text to the
per-frame importers (py-feat, OpenFace) and the clinical table loader; the
only exception allowed out is :class:`FacsError` with a one-line message.
Uploads, exports and text fields are checked with the classic attacks: path
traversal, empty and 1-frame files, a header claiming billions of frames,
formula injection, SQL-looking and non-ASCII text.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_core import exports
from facs_core.clinical import load_clinical
from facs_core.errors import FacsError, InputError, StoreError
from facs_core.importers import import_file
from facs_core.probe import probe_video
from facs_core.services import uploads
from facs_core.services.access import LocalOperator
from facs_core.services.segment_edits import add_segment
from store.segment_rows import segments_for
from store.videos import add_video, check_patient_code

HOSTILE_TEXT = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "'; DROP TABLE segments; --",
    "Robert'); DELETE FROM users; --",
    "Zoë Ørsted-Łukasiewicz 日本語 עברית 😀",
    "\u202etxt.exe",
    "../../etc/passwd",
    "1e308",
    "NaN",
]

_cells = st.one_of(
    st.sampled_from([*HOSTILE_TEXT, "", " ", "-1", "0", "1", "5", "1e-300", "-1e308", "inf", "-inf", "1,5", "TRUE"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
_delimiters = st.sampled_from([",", ";", "\t", "|"])


def _header(feat_data: Path, name: str) -> list[str]:
    return [c.strip() for c in (feat_data / name).read_text().splitlines()[0].split(",")]


@st.composite
def _csv_text(draw, header: list[str]) -> str:
    """CSV text built on a real header: columns dropped, cells hostile, delimiter sometimes wrong."""
    keep = draw(st.lists(st.sampled_from(header), min_size=0, max_size=min(len(header), 40), unique=True))
    if draw(st.booleans()):
        keep = [c for c in header if c not in set(draw(st.lists(st.sampled_from(header), max_size=3)))]
    sep = draw(_delimiters)
    rows = draw(st.lists(st.lists(_cells, min_size=len(keep), max_size=len(keep)), max_size=6))
    lines = [sep.join(keep)] + [sep.join(r) for r in rows]
    return "\n".join(lines)


def _assert_one_line_or_ok(call) -> None:
    try:
        call()
    except FacsError as exc:
        assert "\n" not in str(exc) and str(exc).strip()


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(data=st.data())
def test_openface_importer_never_raises_anything_but_facs_error(tmp_path, feat_data, data):
    text = data.draw(st.one_of(_csv_text(_header(feat_data, "OpenFace_Test.csv")), st.text(max_size=300)))
    path = tmp_path / "openface.csv"
    path.write_text(text, "utf-8")
    _assert_one_line_or_ok(lambda: import_file(path, "openface"))


@_SETTINGS
@given(data=st.data())
def test_pyfeat_importer_never_raises_anything_but_facs_error(tmp_path, feat_data, data):
    text = data.draw(st.one_of(_csv_text(_header(feat_data, "Feat_Test.csv")), st.text(max_size=300)))
    path = tmp_path / "pyfeat.csv"
    path.write_text(text, "utf-8")
    _assert_one_line_or_ok(lambda: import_file(path, "pyfeat", fps=30.0))


@_SETTINGS
@given(data=st.data())
def test_clinical_loader_never_raises_anything_but_facs_error(tmp_path, data):
    header = ["video_id", "patient_id", "bdi", "age", "sex", "medication", "visit_date"]
    text = data.draw(st.one_of(_csv_text(header), st.text(max_size=300)))
    path = tmp_path / "clinical.csv"
    path.write_text(text, "utf-8")
    _assert_one_line_or_ok(lambda: load_clinical(path, "bdi", ["age", "sex"]))


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe\x00garbage", "é".encode("latin-1") * 10])
def test_importers_refuse_empty_and_binary_files_in_one_line(tmp_path, raw):
    path = tmp_path / "bad.csv"
    path.write_bytes(raw)
    for fmt in ("openface", "pyfeat"):
        _assert_one_line_or_ok(lambda fmt=fmt: import_file(path, fmt, fps=30.0))
    _assert_one_line_or_ok(lambda: load_clinical(path, "bdi", []))


# -- uploads -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/shadow", "..\\..\\boot.ini", "a\x00b.mp4", "CON", "😀" * 300, "", None]
)
def test_upload_names_never_become_paths(catalog, feat_data, name):
    received = uploads.receive(catalog, OPERATOR, io.BytesIO((feat_data / "single_face.mp4").read_bytes()), name)
    assert received.path.parent == catalog.paths.tmp
    assert received.path.name.startswith("upload-") and received.container == "mp4"
    assert "/" not in received.display_name and "\x00" not in received.display_name
    assert len(received.display_name) <= 200
    received.path.unlink()


def test_empty_oversized_and_fake_uploads_are_refused_and_cleaned_up(catalog, feat_data):
    tmp = catalog.paths.tmp
    with pytest.raises(InputError, match="empty"):
        uploads.receive_upload(catalog, OPERATOR, io.BytesIO(b""), "empty.mp4")
    with pytest.raises(InputError, match="over the upload limit"):
        uploads.receive_upload(catalog, OPERATOR, io.BytesIO(b"\0" * 5000), "big.mp4", size_limit=4096)
    # A CSV renamed .mp4, and a video renamed .csv: judged by content, not extension.
    with pytest.raises(InputError, match="not a video"):
        uploads.receive_upload(catalog, OPERATOR, io.BytesIO((feat_data / "Feat_Test.csv").read_bytes()), "x.mp4")
    with pytest.raises(InputError, match="binary"):
        video = io.BytesIO((feat_data / "single_face.mp4").read_bytes())
        uploads.receive(catalog, OPERATOR, video, "x.csv", kind="csv")
    with pytest.raises(StoreError, match="free disk space"):
        uploads.receive(catalog, OPERATOR, io.BytesIO(b"data"), "x.mp4", disk_reserve=1 << 62)
    assert list(tmp.iterdir()) == []


def _write_video(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()


def test_one_frame_video_is_stored_or_refused_in_one_line(catalog, tmp_path):
    path = tmp_path / "one.avi"
    _write_video(path, 1)
    try:
        meta = probe_video(path)
    except FacsError as exc:
        assert "\n" not in str(exc)
        return
    assert meta.frame_count == 1
    record, created = add_video(catalog, path, meta, patient_id="P001")
    assert created and record["frame_count"] == 1


def test_huge_declared_frame_count_is_not_believed(tmp_path):
    path = tmp_path / "liar.avi"
    _write_video(path, 5)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"avih") + 8 + 16  # dwTotalFrames in the AVI main header
    raw[at : at + 4] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    try:
        meta = probe_video(path)
    except FacsError as exc:
        assert "\n" not in str(exc)
        return
    assert meta.frame_count <= 5


# -- text fields and exports -----------------------------------------------------


@pytest.mark.parametrize("text", [t for t in HOSTILE_TEXT if t not in ("1e308", "NaN")])  # those two are codes
def test_patient_codes_refuse_anything_but_a_code(catalog, text):
    with pytest.raises(InputError) as caught:
        check_patient_code(text)
    assert "\n" not in str(caught.value)
    assert catalog.scalar("SELECT count(*) FROM patients") == 0


OPERATOR = LocalOperator("test")


def test_segment_labels_are_stored_and_read_back_verbatim(catalog, feat_data):
    video = feat_data / "single_face.mp4"
    record, _ = add_video(catalog, video, probe_video(video), patient_id="P001")
    labels = [t for t in HOSTILE_TEXT if t.strip() and not t.startswith(("\t", "\r"))]
    for i, label in enumerate(labels):
        try:
            add_segment(catalog, OPERATOR, record["video_id"], i * 0.1, i * 0.1 + 0.05, label, author="Zoë")
        except FacsError as exc:
            assert "\n" not in str(exc)
    stored = set(segments_for(catalog, record["video_id"])["label"])
    assert stored and stored <= set(labels)
    assert catalog.scalar("SELECT count(*) FROM users") == 0  # the DELETE in a label did nothing


#: Cells a CSV writer or reader is most likely to mangle: blank, whitespace-only, line breaks.
BLANK_AND_BROKEN = [
    "",
    " ",
    "  ",
    " \t ",
    "\n",
    "\r",
    "\r\n",
    "a\nb",
    "a\rb",
    "a\r\nb",
    " \n ",
    "\n=1",
    "\x0b",
    "\u2028",
]


@given(cell=st.one_of(st.sampled_from(HOSTILE_TEXT + BLANK_AND_BROKEN), st.text(max_size=20)))
@settings(max_examples=200, deadline=None)
def test_exported_cells_never_start_a_formula(cell):
    frame = pd.DataFrame({"patient_id": ["P001"], "label": [cell], "note": [cell], "AU01": [-0.5]})
    data = exports.export_csv(frame, "clinician")
    # Read back as a spreadsheet does (RFC 4180, no type guessing): one header, one row,
    # every cell exactly what was written, with an apostrophe only before a formula trigger.
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == 2 and len(rows[1]) == 4, rows
    expected = "'" + cell if cell.startswith(exports.FORMULA_TRIGGERS) else cell
    assert rows[1][1:3] == [expected, expected]
    assert float(rows[1][3]) == -0.5  # numbers stay numbers


def test_researcher_exports_carry_codes_only():
    frame = pd.DataFrame(
        {
            "patient_id": ["P001"],
            "video_id": ["abcd"],
            "original_name": ["Jane_Doe_2024.mp4"],
            "stored_path": ["videos/x.mp4"],
            "label": ["said she feels hopeless"],
            "medication": ["sertraline"],
            "bdi": [21.0],
        }
    )
    researcher = pd.read_csv(io.BytesIO(exports.export_csv(frame, "researcher")))
    assert list(researcher.columns) == ["patient_id", "video_id", "bdi"]
    clinician = pd.read_csv(io.BytesIO(exports.export_csv(frame, "clinician")))
    assert "original_name" in clinician.columns and "stored_path" not in clinician.columns
