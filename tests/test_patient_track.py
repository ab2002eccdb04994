"""The patient's face over a whole video: constructed two-face videos, and the track rule on known data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from facs_core.backends.mediapipe_backend import MediaPipeBackend
from facs_core.models import install_model
from facs_core.services.extraction import assemble_detections, extract_video, face_summary
from facs_core.tracking import patient_track
from tests.two_face_videos import MISSES, make_video

#: Frames per chunk in these tests: every video spans several chunks, so a per-chunk choice would show.
CHUNK = 40


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory, feat_data: Path):
    install_model()
    folder = tmp_path_factory.mktemp("two-face")
    cache: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}

    def run(scenario: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        if scenario not in cache:
            video = make_video(scenario, folder, feat_data)
            table = extract_video(video.path, "mediapipe", chunk_frames=CHUNK).to_pandas()
            cache[scenario] = (table.merge(video.truth, on="frame", validate="1:1"), video.truth)
        return cache[scenario]

    return run


def _who(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per frame: the kept face is the patient's / is the other person's (nearest known centre)."""
    cx = table["face_x"] + table["face_w"] / 2
    cy = table["face_y"] + table["face_h"] / 2
    to_patient = np.hypot(cx - table["patient_x"], cy - table["patient_y"]).fillna(np.inf)
    to_other = np.hypot(cx - table["other_x"], cy - table["other_y"]).fillna(np.inf)
    return table["face"] & (to_patient < to_other), table["face"] & (to_other <= to_patient)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["side_by_side", "swapped", "similar_size", "covering", "brief_misses"])
def test_patient_kept_and_other_never_written_as_patient(extracted, scenario: str) -> None:
    table, _ = extracted(scenario)
    patient, other = _who(table)
    visible = table["patient_visible"]
    assert int(other.sum()) == 0, f"{scenario}: the other face was written out as the patient"
    assert patient[visible].mean() >= 0.99, f"{scenario}: patient kept in {patient[visible].mean():.1%} of frames"
    # Every kept frame says so; every other frame says why not.
    assert (table.loc[table["face"], "face_status"] == "patient").all()
    assert (table.loc[table["face"], "track_id"] >= 0).all()
    assert table.loc[table["face"], "face_confidence"].between(0, 1).all()
    assert (table.loc[~table["face"], "face_confidence"] == 0).all()
    assert table.loc[~table["face"], [c for c in table.columns if c.startswith("AU")]].isna().all().all()


@pytest.mark.slow
def test_brief_misses_are_no_patient_face_not_the_other(extracted) -> None:
    table, _ = extracted("brief_misses")
    missed = table[table["frame"].isin(MISSES)]
    assert not missed["face"].any()
    assert (missed["face_status"] == "other_face").all() and (missed["face_count"] == 1).all()
    assert face_summary(table).other_face == len(MISSES)


@pytest.mark.slow
def test_swapped_sides_keep_one_identity_across_the_swap(extracted) -> None:
    table, _ = extracted("swapped")
    half = len(table) // 2
    before = table.iloc[:half]
    after = table.iloc[half:]
    assert before["face"].all() and after["face"].all()
    # The kept face is on the left before the swap and on the right after it.
    centre = table["face_x"] + table["face_w"] / 2
    assert (centre.iloc[:half] < 320).all() and (centre.iloc[half:] > 320).all()


@pytest.mark.slow
def test_a_face_covering_a_third_of_the_patient_is_never_taken_for_the_patient(extracted) -> None:
    table, _ = extracted("covering_more")
    patient, other = _who(table)
    assert int(other.sum()) == 0
    # Where MediaPipe lost the covered patient, the frame says other face, not patient.
    lost = table["patient_visible"] & ~table["face"]
    assert (table.loc[lost, "face_status"] == "other_face").all()
    # Faces blended from both people are kept only when flagged or clearly the patient's.
    assert patient.sum() >= 0.85 * len(table)


def test_two_pass_is_the_same_whatever_the_chunking(feat_data: Path, tmp_path: Path) -> None:
    install_model()
    video = make_video("swapped", tmp_path, feat_data, n_frames=60)
    whole = extract_video(video.path, "mediapipe", chunk_frames=60).to_pandas()
    pieces = extract_video(video.path, "mediapipe", chunk_frames=7).to_pandas()
    keep = ["frame", "face", "face_status", "track_id", "face_confidence", "face_x"]
    pd.testing.assert_frame_equal(whole[keep], pieces[keep], check_exact=False, atol=1e-6)
    assert whole["face"].all()


# ---- the rule on data with a known answer (no model) ----


def _synthetic(n: int = 60, swap_at: int | None = 30, miss: tuple[int, ...] = ()) -> tuple[pd.DataFrame, np.ndarray]:
    """Patient (large, appearance A) and visitor (smaller, appearance B) side by side; optional swap and misses."""
    rng = np.random.default_rng(3)
    look_a, look_b = np.zeros(20), np.zeros(20)
    look_a[0], look_b[1] = 1.0, 1.0
    rows, who = [], []
    for f in range(n):
        swapped = swap_at is not None and f >= swap_at
        for person, look, size in (("patient", look_a, 120.0), ("visitor", look_b, 110.0)):
            if person == "patient" and f in miss:
                continue
            left = (person == "patient") != swapped
            x = (150.0 if left else 450.0) + rng.normal(0, 2)
            desc = look + rng.normal(0, 0.03, 20)
            rows.append(
                {"frame": f, "t": f / 30, "x": x, "y": 120.0, "w": size, "h": size, "d": desc / np.linalg.norm(desc)}
            )
            who.append(person)
    return pd.DataFrame(rows), np.array(who)


def _track(rows: pd.DataFrame):
    return patient_track(
        rows["frame"].to_numpy(),
        rows["t"].to_numpy(),
        rows[["x", "y", "w", "h"]].to_numpy(),
        np.stack(rows["d"]),
        (720, 360),
    )


def test_rule_follows_appearance_through_a_swap_and_misses() -> None:
    rows, who = _synthetic(swap_at=30, miss=(10, 11, 40))
    result = _track(rows)
    assert set(who[result.is_patient]) == {"patient"}
    kept_frames = set(rows.loc[result.is_patient, "frame"])
    assert kept_frames == set(range(60)) - {10, 11, 40}
    assert result.confidence[result.is_patient].min() > 0.6


def test_rule_two_faces_in_one_frame_are_two_identities() -> None:
    rows, who = _synthetic(swap_at=None)
    # Same appearance for both people: only "seen together" keeps them apart.
    rows["d"] = [rows["d"].iloc[0]] * len(rows)
    result = _track(rows)
    assert len(set(result.identity)) == 2
    assert result.is_patient.sum() == 60 and set(who[result.is_patient]) == {"patient"}
    # Nothing in the appearance tells them apart: every kept face is flagged uncertain.
    np.testing.assert_allclose(result.confidence[result.is_patient], 0.5)


def test_rule_patient_is_decided_over_the_whole_video_not_by_the_first_frames() -> None:
    # The visitor is larger for the first 10 frames, then leaves; the patient stays for all 60.
    rows, who = _synthetic(swap_at=None)
    rows.loc[(who == "visitor") & (rows["frame"] < 10), ["w", "h"]] = 200.0
    drop = (who == "visitor") & (rows["frame"] >= 10)
    rows, who = rows[~drop].reset_index(drop=True), who[~drop]
    result = _track(rows)
    assert set(who[result.is_patient]) == {"patient"} and result.is_patient.sum() == 60


def test_assemble_from_chunks_matches_one_call(feat_data: Path) -> None:
    install_model()
    from facs_core.decode import decode_frames

    backend = MediaPipeBackend()
    try:
        frames = list(decode_frames(feat_data / "single_face.mp4", 0, 30))
        whole = backend.process(frames)
        parts = [pa.Table.from_pandas(backend.detect(frames[a : a + 10]), preserve_index=False) for a in (0, 10, 20)]
        for i, part in enumerate(parts):
            meta = {b"facs.backend": b"mediapipe", b"facs.params": b"{}", b"facs.backend_version": b"x"}
            parts[i] = part.replace_schema_metadata(meta)
        merged = assemble_detections(parts).to_pandas()
    finally:
        backend.close()
    pd.testing.assert_frame_equal(merged, whole, check_dtype=False)
