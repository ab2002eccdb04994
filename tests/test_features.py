"""Per-video features: definitions, segments, no-face frames; pandas and DuckDB-over-shards agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core.cli import main
from facs_core.datasets import frame_segments, with_patient_track
from facs_core.datasets import frames as synthetic_frames
from facs_core.errors import InputError
from facs_core.features import check_segments, features_from_shards, per_video_features
from facs_core.reference import action_units
from facs_core.stats.provenance import FEATURE_PROVENANCE_COLUMNS
from store.paths import StorePaths
from store.shards import write_shard

REPO_ROOT = Path(__file__).resolve().parent.parent


SEGMENTS = frame_segments()  # vid001's two segments overlap


def test_definitions_match_a_direct_computation() -> None:
    frames = synthetic_frames(seed=1)
    result = per_video_features(frames, SEGMENTS, threshold=0.4).set_index("video_id")
    for video_id, table in frames.groupby("video_id"):
        spans = SEGMENTS[SEGMENTS["video_id"] == video_id]
        if spans.empty:
            inside = np.ones(len(table), dtype=bool)
        else:
            inside = np.zeros(len(table), dtype=bool)
            for span in spans.itertuples():
                inside |= (table["timestamp"] >= span.start_s).to_numpy() & (table["timestamp"] < span.end_s).to_numpy()
        window = table[inside]
        faces = window[window["face"]]
        row = result.loc[video_id]
        assert row["n_frames"] == len(window)
        assert row["n_face_frames"] == len(faces)
        assert row["n_no_face_frames"] == (~window["face"]).sum()
        assert row["segmented"] == (not spans.empty)
        for au in ("AU01", "AU12", "AU43"):
            values = faces[au].to_numpy()
            assert row[au] == pytest.approx(np.mean(values), rel=1e-12)
            assert row[f"{au}_rate"] == pytest.approx(np.mean(values >= 0.4), rel=1e-12)
            assert row[f"{au}_sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)


def test_pandas_and_duckdb_over_shards_agree(tmp_path: Path) -> None:
    frames = synthetic_frames(seed=2)
    frames.loc[frames.index[::50], "AU04"] = np.nan  # a backend's missing value inside a face frame
    paths = StorePaths(tmp_path / "data")
    files = [
        write_shard(paths, "run01", video_id, table.drop(columns="video_id"))
        for video_id, table in frames.groupby("video_id")
    ]
    for segments in (None, SEGMENTS):
        in_memory = per_video_features(frames, segments)
        from_shards = features_from_shards(files, segments)
        pd.testing.assert_frame_equal(in_memory, from_shards, check_exact=False, rtol=1e-12, atol=1e-15)


def test_video_without_faces_is_counted_with_empty_means(tmp_path: Path) -> None:
    frames = synthetic_frames(n_videos=2, seed=3)
    no_face = frames["video_id"] == "vid001"
    frames.loc[no_face, "face"] = False
    frames.loc[no_face, list(action_units())] = np.nan
    result = per_video_features(frames).set_index("video_id")
    assert result.at["vid001", "n_face_frames"] == 0
    assert result.at["vid001", "n_no_face_frames"] == no_face.sum()
    assert np.isnan(result.at["vid001", "AU12"]) and np.isnan(result.at["vid001", "AU12_rate"])
    files = [write_shard(StorePaths(tmp_path), "r", v, t) for v, t in frames.groupby("video_id")]
    pd.testing.assert_frame_equal(per_video_features(frames), features_from_shards(files), rtol=1e-12)


def test_a_video_from_two_runs_is_refused(tmp_path: Path) -> None:
    frames = synthetic_frames(n_videos=1, seed=4)
    paths = StorePaths(tmp_path)
    files = [write_shard(paths, run, "vid000", frames) for run in ("runA", "runB")]
    with pytest.raises(InputError, match="vid000 appears in shards of more than one extraction run"):
        features_from_shards(files)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(2.0, 1.0, "ends at 1 s, not after its start at 2 s"), ("abc", 1.0, "start_s of video v1 is 'abc'")],
)
def test_bad_segments_are_one_line_errors(start: object, end: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_segments(pd.DataFrame({"video_id": ["v1"], "start_s": [start], "end_s": [end]}))


def test_features_command(tmp_path: Path) -> None:
    frames = synthetic_frames(seed=5)
    frames.to_parquet(tmp_path / "frames.parquet")
    SEGMENTS.to_csv(tmp_path / "segments.csv", index=False)
    out = tmp_path / "features.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "facs_core",
            "features",
            "--frames",
            str(tmp_path / "frames.parquet"),
            "--segments",
            str(tmp_path / "segments.csv"),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out, dtype={"video_id": str}).drop(columns=list(FEATURE_PROVENANCE_COLUMNS))
    pd.testing.assert_frame_equal(written, per_video_features(frames, SEGMENTS), check_exact=False, rtol=1e-12)


def test_features_command_without_video_id_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthetic_frames(n_videos=1).drop(columns="video_id").to_csv(tmp_path / "frames.csv", index=False)
    code = main(["features", "--frames", str(tmp_path / "frames.csv"), "--out", str(tmp_path / "f.csv")])
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith(f"error: frames table {tmp_path / 'frames.csv'} has no 'video_id' column")
    assert "--video-id" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "f.csv").exists()


def test_features_command_names_a_one_video_table_with_video_id(tmp_path: Path) -> None:
    """``extract`` writes one video's frames without video_id; ``--video-id`` names it."""
    frames = synthetic_frames(n_videos=1, seed=3)
    frames.drop(columns="video_id").to_parquet(tmp_path / "frames.parquet")
    out = tmp_path / "features.csv"
    code = main(["features", "--frames", str(tmp_path / "frames.parquet"), "--video-id", "V42", "--out", str(out)])
    assert code == 0
    expected = per_video_features(frames.assign(video_id="V42"))
    written = pd.read_csv(out, dtype={"video_id": str}).drop(columns=list(FEATURE_PROVENANCE_COLUMNS))
    pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-12)
    # A table that already names its videos refuses a second name.
    frames.to_parquet(tmp_path / "named.parquet")
    assert (
        main(
            [
                "features",
                "--frames",
                str(tmp_path / "named.parquet"),
                "--video-id",
                "V42",
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )


def test_features_command_counts_the_frames_it_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = with_patient_track(synthetic_frames(n_videos=2, seed=4), seed=4)
    frames.to_parquet(tmp_path / "frames.parquet")
    assert main(["features", "--frames", str(tmp_path / "frames.parquet"), "--out", str(tmp_path / "f.csv")]) == 0
    uncertain = int(frames["identity_uncertain"].sum())
    other = int((frames["face_status"] == "other_face").sum())
    assert uncertain and other
    assert (
        f"note: left out of the AU statistics: {uncertain} frames whose face identity is uncertain, {other} with"
        " only another person's face" in capsys.readouterr().err
    )


def test_visit_normalisation_pandas_and_duckdb_agree(tmp_path: Path) -> None:
    # The patient track's columns: uncertain and other-face frames are left out before the median.
    frames = with_patient_track(synthetic_frames(seed=6), seed=6)
    frames.loc[frames["video_id"] == "vid002", "AU09"] = 0.25  # MAD 0: no normalised value
    frames.loc[frames["video_id"] == "vid002", "AU09"] = frames["AU09"].where(frames["face"])
    paths = StorePaths(tmp_path / "data")
    files = [write_shard(paths, "run01", v, t.drop(columns="video_id")) for v, t in frames.groupby("video_id")]
    for segments in (None, SEGMENTS):
        for threshold in (None, 1.0):
            in_memory = per_video_features(frames, segments, threshold=threshold, normalise="visit")
            from_shards = features_from_shards(files, segments, threshold=threshold, normalise="visit")
            pd.testing.assert_frame_equal(in_memory, from_shards, check_exact=False, rtol=1e-12, atol=1e-12)
    # Against a direct computation for one video and AU (no segments, default cut 2.0).
    table = features_from_shards(files, normalise="visit").set_index("video_id")
    video = frames[frames["video_id"] == "vid003"]
    used = video["face"] & ~video["identity_uncertain"]
    x = video.loc[used, "AU12"].to_numpy()
    z = (x - np.median(x)) / (1.482602218505602 * np.median(np.abs(x - np.median(x))))
    assert table.at["vid003", "AU12"] == pytest.approx(z.mean(), rel=1e-12, abs=1e-12)
    assert table.at["vid003", "AU12_rate"] == pytest.approx(np.mean(z >= 2.0), rel=1e-12)
    assert table.at["vid003", "AU12_sd"] == pytest.approx(np.std(z, ddof=1), rel=1e-12)
    assert np.isnan(table.at["vid002", "AU09"]) and np.isnan(table.at["vid002", "AU09_rate"])
    with pytest.raises(InputError, match="normalise must be"):
        features_from_shards(files, normalise="patient")
