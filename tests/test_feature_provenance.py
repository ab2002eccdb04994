"""Exported per-video features carry their provenance, as the statistics tables do.

The Export page's features download, ``python -m facs_core features --from-store``
and ``features --frames`` end with the provenance columns (method, backends, data
source, segments, n, software, input hash) and, as Parquet, carry the provenance
block in the file's metadata; the input hash follows the store's features.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from facs_core.cli import main
from facs_core.datasets import frames as synthetic_frames
from facs_core.services import analysis
from facs_core.services.access import User
from facs_core.services.downloads import export_for, features_export
from facs_core.stats.provenance import FEATURE_PROVENANCE_COLUMNS, PROVENANCE_KEY
from facs_core.wording import count
from store import Catalog, users
from tests.apptest_pages import REPO, no_exception, page, texts


def _export(store: Catalog, choice: analysis.CohortChoice | None = None) -> pd.DataFrame:
    return features_export(store, analysis.operator_viewer(), choice)


def _reextract(store: Catalog, video_id: str) -> None:
    """A new extraction run of one visit whose AU12 came out higher: the visit's features change."""
    from store.runs import add_finished_run

    run = analysis.latest_runs(store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(store.paths.root / run["shard_path"]).drop(columns=["run_id", "video_id"])
    frames["AU12"] = (frames["AU12"] + 0.1).clip(0, 1)
    add_finished_run(
        store,
        "rerun-" + video_id,
        frames,
        video_id=video_id,
        backend="synthetic",
        backend_version="0.1.0",
        params={"rerun": True},
        hash_hex="0" * 64,
    )


def test_exported_features_carry_provenance_and_the_hash_follows_the_store(demo_store: Catalog) -> None:
    table = _export(demo_store)
    assert list(table.columns[-len(FEATURE_PROVENANCE_COLUMNS) :]) == list(FEATURE_PROVENANCE_COLUMNS)
    assert (table["backend"] == "synthetic").all() and (table["backend_version"] == "0.1.0").all()
    info = table.attrs["provenance"]
    assert info["backends"] == "synthetic 0.1.0" and info["data_source"] == "synthetic"
    assert info["segments"] == "whole videos" and info["n_videos"] == 60 == len(table)
    assert "duckdb" in info["software"] and "facs_core" in info["software"]
    assert info["method"].startswith("per-video mean, occurrence rate")

    users.add_user(demo_store, "researcher9", "researcher", "correct-horse-battery", actor="test")
    user = User("researcher9", "researcher")
    csv = pd.read_csv(io.BytesIO(export_for(demo_store, user, table, what="per-video features", fmt="csv")))
    for column in FEATURE_PROVENANCE_COLUMNS:
        assert csv[column].astype(str).nunique() == 1, column
    assert csv["inputs_sha256"].iloc[0] == info["inputs_sha256"] and csv["n_videos"].iloc[0] == 60
    parquet = export_for(demo_store, user, table, what="per-video features", fmt="parquet")
    assert pd.read_parquet(io.BytesIO(parquet)).attrs["provenance"]["inputs_sha256"] == info["inputs_sha256"]

    # The same store state gives the same hash; changed features, another data source or segment scope do not.
    assert _export(demo_store)["inputs_sha256"].iloc[0] == info["inputs_sha256"]
    _reextract(demo_store, str(table["video_id"].iloc[3]))
    changed = _export(demo_store)
    assert changed["AU12"].iloc[3] != table["AU12"].iloc[3]
    assert changed["inputs_sha256"].iloc[0] != info["inputs_sha256"]
    both = _export(demo_store, analysis.CohortChoice(source="both"))
    assert both.attrs["provenance"]["data_source"] == "both"


def _run_shown(command: str, store: Catalog, folder: Path) -> Path:
    argv = shlex.split(command)
    assert argv[:5] == ["python", "-m", "facs_core", "features", "--from-store"], command
    env = {**os.environ, "FACS_DATA_DIR": str(store.paths.root), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return folder / argv[argv.index("--out") + 1]


def test_export_page_shows_the_command_that_writes_the_same_table(demo_store: Catalog, tmp_path: Path) -> None:
    at = page("export", demo_store, "researcher").run()
    no_exception(at)
    command = at.session_state["ex_features_command"]
    assert command in [c.value for c in at.code]
    assert "--source synthetic" in command and "--data-dir" not in command
    written = pd.read_csv(_run_shown(command, demo_store, tmp_path), dtype={"video_id": str})
    expected = _export(demo_store, analysis.CohortChoice(source="synthetic"))
    assert written["video_id"].tolist() == expected["video_id"].tolist()
    numbers = [c for c in expected.columns if c.startswith("AU")]
    np.testing.assert_allclose(written[numbers], expected[numbers], rtol=0, atol=1e-12)
    digest = written["inputs_sha256"].iloc[0]
    assert digest == expected["inputs_sha256"].iloc[0]
    assert f"inputs sha256: {digest}" in texts(at.caption)
    # As Parquet the file carries the provenance block in its metadata, as statistics results do.
    out = _run_shown(command.replace("per-video-features.csv", "features.parquet"), demo_store, tmp_path)
    assert PROVENANCE_KEY in pq.read_schema(out).metadata
    assert pd.read_parquet(out).attrs["provenance"]["inputs_sha256"] == digest


def test_clinician_export_shows_no_store_wide_command(demo_store: Catalog) -> None:
    patient = demo_store.scalar("SELECT min(patient_id) FROM videos")
    at = page("export", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert "ex_features_command" not in at.session_state
    # The table holds that patient's visits only, counted in words.
    visits = demo_store.scalar("SELECT count(*) FROM videos WHERE patient_id = ?", [patient])
    assert f"{count(visits, 'visit')}; first 20 shown" in texts(at.caption)


def test_features_command_on_files_carries_provenance(tmp_path: Path) -> None:
    frames = synthetic_frames(n_videos=3, seed=4)
    frames.to_parquet(tmp_path / "frames.parquet")
    out = tmp_path / "features.csv"
    assert (
        main(["features", "--frames", str(tmp_path / "frames.parquet"), "--out", str(out), "--threshold", "0.3"]) == 0
    )
    first = pd.read_csv(out)
    assert list(first.columns[-len(FEATURE_PROVENANCE_COLUMNS) :]) == list(FEATURE_PROVENANCE_COLUMNS)
    assert first["n_videos"].iloc[0] == 3 and first["segments"].iloc[0] == "whole videos"
    assert "threshold 0.3" in first["method"].iloc[0]
    assert first["backends"].iloc[0] == "not recorded in the frames table"
    frames.loc[5, "AU12"] = 0.123
    frames.to_parquet(tmp_path / "frames.parquet")
    assert (
        main(["features", "--frames", str(tmp_path / "frames.parquet"), "--out", str(out), "--threshold", "0.3"]) == 0
    )
    assert pd.read_csv(out)["inputs_sha256"].iloc[0] != first["inputs_sha256"].iloc[0]


def test_exported_frames_carry_provenance_naming_their_run(demo_store: Catalog) -> None:
    from facs_core.services.downloads import frames_export

    video_id = str(analysis.latest_runs(demo_store)["video_id"].iloc[0])
    at = page("export", demo_store, "researcher").run()
    no_exception(at)
    assert "ending with the provenance" in texts(at.caption)

    users.add_user(demo_store, "researcher9", "researcher", "correct-horse-battery", actor="test")
    user = User("researcher9", "researcher")

    def exported() -> pd.DataFrame:
        run = analysis.latest_runs(demo_store).set_index("video_id").loc[video_id]
        frames = pd.read_parquet(demo_store.paths.root / run["shard_path"])
        table = frames_export(demo_store, video_id, frames)
        return pd.read_csv(io.BytesIO(export_for(demo_store, user, table, what="frames", fmt="csv")))

    before = exported()
    assert list(before.columns[-len(FEATURE_PROVENANCE_COLUMNS) :]) == list(FEATURE_PROVENANCE_COLUMNS)
    assert before["backends"].iloc[0] == "synthetic 0.1.0" and before["n_videos"].iloc[0] == 1
    assert before["data_source"].iloc[0] == "synthetic" and f"run synthetic-{video_id}" in before["method"].iloc[0]
    _reextract(demo_store, video_id)
    assert exported()["inputs_sha256"].iloc[0] != before["inputs_sha256"].iloc[0]
