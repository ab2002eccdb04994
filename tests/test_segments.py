"""Symptom segments: bounds, overlaps refused or merged, optimistic revisions, audit, extraction ranges."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facs_core.cli import main
from facs_core.errors import InputError
from facs_core.segments import check_bounds, frame_ranges, segment_labels
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from facs_core.services.segment_edits import add_segment, delete_segment, extraction_ranges, update_segment
from store import Catalog
from store.segment_rows import segments_for

OPERATOR = LocalOperator("test")


@pytest.fixture
def video(catalog: Catalog, feat_data: Path) -> dict:
    record, _ = ingest_video(
        catalog, feat_data / "WolfgangLanger_Pexels.mp4", user=OPERATOR, original_name="w.mp4", patient_id="P1"
    )
    return record


def _audit(catalog: Catalog) -> list[str]:
    sql = "SELECT action FROM audit_log WHERE action LIKE 'segment%' ORDER BY event_id"
    return catalog.query(sql)["action"].tolist()


def test_label_presets_come_from_the_data_file() -> None:
    labels = [preset.label for preset in segment_labels()]
    assert "depressive symptoms (SCID)" in labels
    assert all(preset.source for preset in segment_labels())


@pytest.mark.parametrize(
    ("start", "end", "fragment"),
    [
        (-1.0, 2.0, "before the video starts"),
        (3.0, 3.0, "not after its start"),
        (5.0, 2.0, "not after its start"),
        (1.0, 25.0, "past the video's end"),
        (float("nan"), 2.0, "not finite"),
    ],
)
def test_bad_bounds_are_refused(catalog: Catalog, video: dict, start: float, end: float, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        add_segment(catalog, OPERATOR, video["video_id"], start, end, "sleep", author="a")
    assert segments_for(catalog, video["video_id"]).empty


def test_unknown_video_and_empty_label_are_refused(catalog: Catalog, video: dict) -> None:
    with pytest.raises(InputError, match="video nope is not in the store"):
        add_segment(catalog, OPERATOR, "nope", 1, 2, "sleep", author="a")
    with pytest.raises(InputError, match="label is empty"):
        add_segment(catalog, OPERATOR, video["video_id"], 1, 2, "   ", author="a")


def test_overlaps_are_refused_by_default_and_merged_on_request(catalog: Catalog, video: dict) -> None:
    vid = video["video_id"]
    first = add_segment(catalog, OPERATOR, vid, 1.0, 3.0, "anhedonia", author="a")
    add_segment(catalog, OPERATOR, vid, 3.0, 4.0, "sleep", author="a")  # touching is not overlapping
    with pytest.raises(InputError, match=f"overlaps segment {first['segment_id']}"):
        add_segment(catalog, OPERATOR, vid, 2.5, 6.0, "sleep", author="b")
    assert len(segments_for(catalog, vid)) == 2
    merged = add_segment(catalog, OPERATOR, vid, 2.5, 6.0, "depressive symptoms (SCID)", author="b", on_overlap="merge")
    table = segments_for(catalog, vid)
    assert table[["start_s", "end_s"]].values.tolist() == [[1.0, 6.0]]
    assert (merged["start_s"], merged["end_s"], merged["label"]) == (1.0, 6.0, "depressive symptoms (SCID)")
    assert _audit(catalog) == ["segment add", "segment add", "segment merge", "segment merge", "segment add"]


def test_stale_revision_is_refused_and_nothing_is_overwritten(catalog: Catalog, video: dict) -> None:
    segment = add_segment(catalog, OPERATOR, video["video_id"], 2.0, 5.0, "sleep", author="a")
    edited = update_segment(catalog, OPERATOR, segment["segment_id"], expected_revision=1, end_s=7.0, author="alice")
    assert (edited["end_s"], edited["revision"], edited["author"]) == (7.0, 2, "alice")
    with pytest.raises(InputError, match="changed by alice meanwhile"):
        update_segment(catalog, OPERATOR, segment["segment_id"], expected_revision=1, label="anhedonia", author="bob")
    with pytest.raises(InputError, match="changed by alice meanwhile"):
        delete_segment(catalog, OPERATOR, segment["segment_id"], expected_revision=1, author="bob")
    current = segments_for(catalog, video["video_id"]).to_dict("records")[0]
    assert (current["label"], current["end_s"], current["revision"]) == ("sleep", 7.0, 2)
    delete_segment(catalog, OPERATOR, segment["segment_id"], expected_revision=2, author="alice")
    assert segments_for(catalog, video["video_id"]).empty
    sql = "SELECT actor, action FROM audit_log WHERE action LIKE 'segment%' ORDER BY event_id"
    actors = catalog.query(sql).values.tolist()
    # The audit names who acted (the operator), not the author name it passed.
    who = OPERATOR.username
    assert actors == [[who, "segment add"], [who, "segment edit"], [who, "segment delete"]]


def test_edit_into_an_overlap_is_refused(catalog: Catalog, video: dict) -> None:
    add_segment(catalog, OPERATOR, video["video_id"], 1.0, 2.0, "sleep", author="a")
    second = add_segment(catalog, OPERATOR, video["video_id"], 4.0, 5.0, "sleep", author="a")
    with pytest.raises(InputError, match="overlaps"):
        update_segment(catalog, OPERATOR, second["segment_id"], expected_revision=1, start_s=1.5, author="a")
    assert segments_for(catalog, video["video_id"])["start_s"].tolist() == [1.0, 4.0]


def _decoded_timestamps(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    times = []
    while capture.grab():
        times.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
    return np.array(times)


def test_extraction_covers_segments_or_the_whole_video(catalog: Catalog, video: dict, feat_data: Path) -> None:
    vid, n = video["video_id"], video["frame_count"]
    assert extraction_ranges(catalog, vid) == [(0, n)]
    add_segment(catalog, OPERATOR, vid, 2.0, 4.0, "sleep", author="a")
    add_segment(catalog, OPERATOR, vid, 10.0, 11.5, "anhedonia", author="a")
    times = _decoded_timestamps(feat_data / "WolfgangLanger_Pexels.mp4")
    ranges = extraction_ranges(catalog, vid, timestamps=times)
    # Independently: the frames whose decoder time falls in [start, end).
    expected_frames = np.flatnonzero(((times >= 2.0) & (times < 4.0)) | ((times >= 10.0) & (times < 11.5)))
    covered = np.concatenate([np.arange(a, b) for a, b in ranges])
    assert covered.tolist() == expected_frames.tolist()
    assert len(ranges) == 2


def test_frame_ranges_join_touching_segments() -> None:
    assert frame_ranges([(0.0, 1.0), (1.0, 2.0)], frame_count=100, fps=10.0) == [(0, 20)]
    assert frame_ranges([(0.05, 0.25)], frame_count=100, fps=10.0) == [(1, 3)]
    assert frame_ranges([], frame_count=7, fps=10.0) == [(0, 7)]
    assert check_bounds(1.0, 10.0004, 10.0, video_id="v") == (1.0, 10.0)


def test_segments_cli_round_trip(data_dir: Path, feat_data: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["--data-dir", str(data_dir)]
    assert (
        main(
            [
                *base,
                "videos",
                "add",
                str(feat_data / "single_face.mp4"),
                "--patient",
                "P2",
                "--visit-date",
                "2024-03-01",
            ]
        )
        == 0
    )
    video_id = capsys.readouterr().out.split()[2].rstrip(":")
    assert main([*base, "segments", "add", video_id, "--start", "0.5", "--end", "1.5", "--label", "sleep"]) == 0
    assert "revision 1" in capsys.readouterr().out
    assert main([*base, "segments", "add", video_id, "--start", "1", "--end", "2", "--label", "sleep"]) == 2
    assert "overlaps" in capsys.readouterr().err
    assert main([*base, "segments", "edit", "1", "--revision", "1", "--end", "2.0"]) == 0
    assert main([*base, "segments", "edit", "1", "--revision", "1", "--end", "2.2"]) == 2
    assert "reload" in capsys.readouterr().err
    assert main([*base, "segments", "list", video_id]) == 0
    assert "2.0" in capsys.readouterr().out
    assert main([*base, "segments", "delete", "1", "--revision", "2"]) == 0
    assert main([*base, "segments", "list", video_id]) == 0
    assert "whole video" in capsys.readouterr().out


def test_a_cli_author_is_stored_but_the_audit_names_who_ran_it(
    data_dir: Path, feat_data: Path, capsys: pytest.CaptureFixture
) -> None:
    import getpass

    from store import open_catalog

    base = ["--data-dir", str(data_dir)]
    add = [*base, "videos", "add", str(feat_data / "single_face.mp4"), "--patient", "P2", "--visit-date", "2024-03-01"]
    assert main(add) == 0
    video_id = capsys.readouterr().out.split()[2].rstrip(":")
    segment = ["--start", "0.5", "--end", "1.5", "--label", "sleep", "--author", "wclin"]
    assert main([*base, "segments", "add", video_id, *segment]) == 0
    assert main([*base, "segments", "delete", "1", "--author", "wclin"]) == 0
    with open_catalog(data_dir) as catalog:
        events = catalog.query(
            "SELECT actor, action, detail FROM audit_log WHERE action LIKE 'segment%' ORDER BY event_id"
        )
    assert set(events["actor"]) == {f"cli:{getpass.getuser()}"}
    assert events["detail"].str.endswith("author given as wclin").all() and len(events) == 2
