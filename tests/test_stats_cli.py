"""``stats partial-corr`` end to end: the CSV contract, and bad input that changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from facs_core import datasets
from facs_core.cli import main
from tests.pingouin_reference import pingouin_frame

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ["au", "n", "r", "ci_low", "ci_high", "p", "p_fdr", "significant"]

COVARIATES = list(datasets.COVARIATES)


@dataclass
class Finished:
    returncode: int
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Finished]:
    """Run ``stats partial-corr`` in this process through the CLI's own ``main``."""

    def run(*args: str) -> Finished:
        code = main(["stats", "partial-corr", *args])
        return Finished(code, capsys.readouterr().err)

    return run


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facs_core", "stats", "partial-corr", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def write_inputs(folder: Path, features: pd.DataFrame, clinical: pd.DataFrame) -> list[str]:
    features.to_csv(folder / "features.csv", index=False)
    clinical.to_csv(folder / "clinical.csv", index=False)
    return ["--features", str(folder / "features.csv"), "--clinical", str(folder / "clinical.csv")]


def test_result_csv_contract(tmp_path: Path, run_cli: Callable[..., Finished]) -> None:
    features, clinical = datasets.cohort(seed=31)
    features = features[["video_id", "AU12", "AU01", "AU04"]]  # output follows input order
    out = tmp_path / "result.csv"
    done = run_cli(
        *write_inputs(tmp_path, features, clinical),
        "--score",
        "bdi",
        "--covariates",
        ",".join(COVARIATES),
        "--method",
        "spearman",
        "--fdr",
        "by",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    result = pd.read_csv(out)
    assert list(result.columns[: len(CONTRACT)]) == CONTRACT
    assert list(result["au"]) == ["AU12", "AU01", "AU04"]
    data, dummies = pingouin_frame(features, clinical)
    for row in result.itertuples():
        expected = pg.partial_corr(data, x=row.au, y="bdi", covar=dummies, method="spearman")
        assert row.r == pytest.approx(expected["r"].iloc[0], abs=1e-9)
        assert row.p == pytest.approx(expected["p_val"].iloc[0], abs=1e-9)
    assert (result["method"] == "partial spearman").all()


def test_score_out_of_range_writes_nothing(tmp_path: Path) -> None:
    features, clinical = datasets.cohort(seed=32)
    clinical["phq9"] = np.clip(clinical["bdi"] // 2, 0, 27)
    clinical.loc[7, "phq9"] = 31
    out = tmp_path / "result.csv"
    out.write_text("previous result\n")
    # A real process: the user sees one line and no traceback.
    done = run_process(
        *write_inputs(tmp_path, features, clinical), "--score", "phq9", "--covariates", "age,sex", "--out", str(out)
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "phq9 of video vid0007 is 31" in done.stderr and "0-27" in done.stderr
    assert out.read_text() == "previous result\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_values_constant_au_and_unmatched_ids(tmp_path: Path, run_cli: Callable[..., Finished]) -> None:
    features, clinical = datasets.cohort(seed=33)
    features["AU09"] = 0.0
    clinical.loc[3, "bdi"] = np.nan
    clinical.loc[5, "medication"] = np.nan
    features = features.drop(index=[0])
    out = tmp_path / "result.csv"
    done = run_cli(
        *write_inputs(tmp_path, features, clinical),
        "--score",
        "bdi",
        "--covariates",
        ",".join(COVARIATES),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "vid0000" in done.stderr and "bdi is missing for vid0003" in done.stderr
    assert "medication is missing for vid0005" in done.stderr
    result = pd.read_csv(out, keep_default_na=True).set_index("au")
    assert (result["n"] == len(clinical) - 3).all()
    assert np.isnan(result.at["AU09", "r"]) and result.at["AU09", "reason"] == "constant feature"
    assert result.drop(index="AU09")["p_fdr"].notna().all()


def test_too_few_videos_and_unknown_columns_fail_cleanly(tmp_path: Path, run_cli: Callable[..., Finished]) -> None:
    features, clinical = datasets.cohort(n_videos=6, seed=34)
    args = write_inputs(tmp_path, features, clinical)
    done = run_cli(*args, "--score", "bdi", "--covariates", ",".join(COVARIATES), "--out", str(tmp_path / "r.csv"))
    assert done.returncode == 2 and "needs at least" in done.stderr and "Traceback" not in done.stderr
    done = run_cli(*args, "--score", "bdi", "--covariates", "age,weight", "--out", str(tmp_path / "r.csv"))
    assert done.returncode == 2 and "has no column 'weight'" in done.stderr
    assert not (tmp_path / "r.csv").exists()


def test_repeated_visit_methods_are_labelled(tmp_path: Path, run_cli: Callable[..., Finished]) -> None:
    features, clinical = datasets.cohort(seed=35)
    out = tmp_path / "result.csv"
    done = run_cli(
        *write_inputs(tmp_path, features[["video_id", "AU01", "AU12"]], clinical),
        "--score",
        "bdi",
        "--covariates",
        ",".join(COVARIATES),
        "--mixed-model",
        "--permutations",
        "200",
        "--seed",
        "4",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    result = pd.read_csv(out)
    assert result["mixed_method"].str.startswith("linear mixed model").all()
    assert result["perm_method"].str.contains("B=200, seed=4").all()
    assert result[["mixed_beta", "mixed_p", "perm_p"]].notna().all().all()
