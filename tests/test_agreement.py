"""Backend agreement: ICC(3,1) against pingouin, known answers, frame pairing, the CLI on a store and on files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats as sps

from facs_core import datasets
from facs_core.backends.base import with_frame_metadata
from facs_core.stats.agreement import agreement_table, bland_altman, icc_3_1

REPO = Path(__file__).resolve().parent.parent


def _pingouin_icc3(a: np.ndarray, b: np.ndarray) -> tuple[float, list[float]]:
    n = len(a)
    long = pd.DataFrame({"target": np.r_[np.arange(n), np.arange(n)], "rater": ["a"] * n + ["b"] * n, "y": np.r_[a, b]})
    table = pg.intraclass_corr(long, targets="target", raters="rater", ratings="y").set_index("Type")
    # pingouin names ICC(3,1) "ICC3" (<= 0.5) or "ICC(C,1)" (0.6+).
    row = table.loc["ICC3"] if "ICC3" in table.index else table.loc["ICC(C,1)"]
    return float(row["ICC"]), list(row["CI95%"] if "CI95%" in row else row["CI95"])


@pytest.mark.parametrize("seed", range(6))
def test_icc_matches_pingouin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    truth = rng.normal(size=n)
    a = truth + rng.normal(scale=rng.uniform(0.1, 2), size=n)
    b = rng.uniform(-1, 1) + rng.uniform(0.5, 2) * truth + rng.normal(scale=rng.uniform(0.1, 2), size=n)
    icc, low, high = icc_3_1(a, b)
    expected, (ci_low, ci_high) = _pingouin_icc3(a, b)
    assert icc == pytest.approx(expected, abs=1e-9)
    # pingouin rounds its interval to two decimals.
    assert low == pytest.approx(ci_low, abs=0.005 + 1e-9) and high == pytest.approx(ci_high, abs=0.005 + 1e-9)


def test_known_answers() -> None:
    a = np.linspace(0, 1, 40) ** 2
    assert icc_3_1(a, a)[0] == pytest.approx(1.0)
    assert icc_3_1(a, a + 0.2)[0] == pytest.approx(1.0)  # consistency: an offset does not count
    assert icc_3_1(a, 1 - a)[0] == pytest.approx(-1.0)
    mean, low, high = bland_altman(a, a + 0.2)
    assert (mean, low, high) == pytest.approx((0.2, 0.2, 0.2))
    noise = np.tile([0.1, -0.1], 20)  # differences with mean 0.05 and a known SD
    mean, low, high = bland_altman(a, a + 0.05 + noise)
    sd = np.sqrt(np.sum(noise**2) / (len(noise) - 1))
    assert (mean, low, high) == pytest.approx((0.05, 0.05 - 1.96 * sd, 0.05 + 1.96 * sd))
    assert np.isnan(icc_3_1(a[:2], a[:2])[0]) and np.isnan(bland_altman(a[:2], a[:2])[0])


def _frames(frames: np.ndarray, face: np.ndarray, **aus: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"frame": frames, "timestamp": frames / 30.0, "face": face, "face_confidence": 1.0, **aus})


def test_table_pairs_only_frames_both_analysed_with_a_face() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(size=60)
    first = _frames(np.arange(60), np.arange(60) % 10 != 0, AU12=x, AU06=rng.uniform(size=60))
    second_frames = np.arange(0, 60, 2)  # every second frame
    y = 0.5 * x[second_frames] + rng.normal(scale=0.05, size=30)
    second = _frames(second_frames, np.ones(30, bool), AU12=y, AU04=rng.uniform(size=30))
    second.loc[3, "AU12"] = np.nan
    table = agreement_table(first, second).set_index("au")
    assert list(table.index) == ["AU12"]  # the only AU both have
    keep = (second_frames % 10 != 0) & ~np.isin(second_frames, [6])  # no face in first / no value in second
    assert table.loc["AU12", "n_frames"] == keep.sum()
    assert table.loc["AU12", "pearson_r"] == pytest.approx(sps.pearsonr(x[second_frames][keep], y[keep])[0])


def _cli(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    prefix = ["--data-dir", str(data_dir)] if data_dir else []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "facs_core", *prefix, "agreement", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _two_backends(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One visit's 90 frames as two backends score them: the second a noisy linear rescoring of the first."""
    first = datasets.video_frames(90, np.random.default_rng(seed), fps=30.0, no_face=0.0)
    return first, datasets.rescored(first, seed)


def test_cli_on_a_visit_with_two_backends(tmp_path: Path, feat_data: Path) -> None:
    from facs_core.probe import probe_video
    from store import open_catalog
    from store.videos import add_video
    from tests.store_helpers import add_backend_run

    first, second = _two_backends()
    catalog = open_catalog(tmp_path / "data")
    try:
        source = feat_data / "single_face.mp4"
        record, _ = add_video(catalog, source, probe_video(source), patient_id="P001")
        video = record["video_id"]
        assert _cli(video, data_dir=tmp_path / "data").returncode == 2  # no run yet
        for backend, frames in (("pyfeat", first), ("mediapipe", second)):
            add_backend_run(catalog, video, frames, backend)
    finally:
        catalog.close()
    out = tmp_path / "agreement.csv"
    done = _cli(video, "--backends", "pyfeat", "mediapipe", "--out", str(out), data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert "pyfeat (first) and mediapipe (second)" in done.stdout
    written = pd.read_csv(out).set_index("au")
    expected = agreement_table(first, second).set_index("au")
    pd.testing.assert_frame_equal(written[expected.columns], expected, check_dtype=False)
    assert (written["first"] == "pyfeat").all() and (written["second"] == "mediapipe").all()
    wrong = _cli(video, "--backends", "pyfeat", "openface", data_dir=tmp_path / "data")
    assert wrong.returncode == 2 and "no finished openface run" in wrong.stderr


def test_cli_on_two_files(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    first, second = _two_backends(seed=8)
    paths = []
    for name, frames, au_source in (("pyfeat", first, "pyfeat"), ("openface", second, "openface")):
        table = with_frame_metadata(pa.Table.from_pandas(frames, preserve_index=False), name, au_source, "1", {})
        pq.write_table(table, tmp_path / f"{name}.parquet")
        paths.append(str(tmp_path / f"{name}.parquet"))
    done = _cli(*paths)
    assert done.returncode == 0, done.stderr
    assert "pyfeat (first) and openface (second)" in done.stdout
    icc = agreement_table(first, second).set_index("au").loc["AU12", "icc_3_1"]
    assert next(line for line in done.stdout.splitlines() if line.startswith("AU12")).split()[3] == f"{icc:.3f}"
    bad = _cli(paths[0], str(tmp_path / "missing.parquet"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "file not found" in bad.stderr
