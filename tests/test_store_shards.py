"""Per-frame Parquet shards: complete or absent, and queried by DuckDB in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from facs_core import datasets
from store import open_catalog
from store.paths import StorePaths
from store.shards import parquet_list_sql, shard_path, write_shard

REPO = Path(__file__).resolve().parent.parent


def frames_table(n: int, seed: int) -> pd.DataFrame:
    """``n`` frames at 30 fps, no face in about a tenth; three AUs."""
    table = datasets.video_frames(n, np.random.default_rng(seed), fps=30.0, no_face=0.1)
    return table[["frame", "timestamp", "face", "face_confidence", "AU01", "AU12", "AU43"]]


def test_shard_round_trip_adds_run_and_video_ids(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    frames = frames_table(500, seed=1)
    target = write_shard(paths, "run1", "video1", frames)
    assert target == shard_path(paths, "run1", "video1")
    back = pd.read_parquet(target)
    assert list(back.columns[:2]) == ["video_id", "run_id"]
    assert (back["video_id"] == "video1").all() and (back["run_id"] == "run1").all()
    pd.testing.assert_frame_equal(back.drop(columns=["video_id", "run_id"]), frames)
    # Nothing but the shard is left in the folder.
    assert [p.name for p in target.parent.iterdir()] == ["video1.parquet"]


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", "x" * 65, "name with space"])
def test_ids_that_could_leave_the_folder_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        shard_path(StorePaths(tmp_path), bad, "video")
    with pytest.raises(ValueError):
        shard_path(StorePaths(tmp_path), "run", bad)


def test_duckdb_per_video_means_equal_pandas(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    files = [write_shard(paths, "run1", f"v{i}", frames_table(300 + 17 * i, seed=i)) for i in range(6)]
    by_duckdb = (
        duckdb.sql(
            f"SELECT video_id, avg(AU01) AS AU01, avg(AU12) AS AU12, count(*) FILTER (WHERE face) AS n"
            f" FROM {parquet_list_sql(files)} WHERE face GROUP BY video_id ORDER BY video_id"
        )
        .df()
        .set_index("video_id")
    )
    frames = pd.concat([pd.read_parquet(f) for f in files])
    by_pandas = (
        frames[frames["face"]].groupby("video_id").agg(AU01=("AU01", "mean"), AU12=("AU12", "mean"), n=("face", "size"))
    )
    np.testing.assert_allclose(by_duckdb[["AU01", "AU12"]], by_pandas[["AU01", "AU12"]], rtol=1e-12)
    assert by_duckdb["n"].tolist() == by_pandas["n"].tolist()


def test_a_writer_killed_mid_write_leaves_no_shard(tmp_path: Path) -> None:
    """SIGKILL while a large shard is being written: the target never appears half-written."""
    data = tmp_path / "data"
    open_catalog(data).close()
    script = textwrap.dedent(
        f"""
        import os, sys, time
        import numpy as np, pandas as pd
        from store.paths import StorePaths
        from store import shards

        original = os.fsync
        def slow_fsync(fd):
            original(fd)
            print("writing", flush=True)
            time.sleep(60)   # killed here: the bytes are in the temporary file only
        os.fsync = slow_fsync
        n = 200_000
        frames = pd.DataFrame({{"frame": np.arange(n), "AU01": np.random.default_rng(0).random(n)}})
        shards.write_shard(StorePaths({str(data)!r}), "run9", "video9", frames)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    paths = StorePaths(data)
    target = shard_path(paths, "run9", "video9")
    assert not target.exists()
    leftovers = list(target.parent.glob("*.partial"))
    assert leftovers, "the temporary file should be what the crash left"
    # The next start clears what the interrupted writer left; it is never a result.
    open_catalog(data).close()
    assert list(target.parent.glob("*")) == []
    assert list(paths.frames.rglob("*.parquet")) == []
