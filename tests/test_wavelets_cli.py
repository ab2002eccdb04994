"""``python -m facs_core stats scalogram``: the exact contract and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facs_core import datasets
from facs_core.cli import main
from tests.conftest import REPO_ROOT

CONTRACT = ("au", "scale", "n", "r", "p", "p_fdr", "significant", "period_s", "frequency_hz")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scalogram")
    frames, clinical = datasets.rhythm_cohort(24, 0.5, 30.0, seed=7, aus=("AU01", "AU04", "AU06", "AU12"), face_gaps=())
    clinical["camera"] = np.where(np.arange(len(clinical)) % 2 == 0, "A", "B")
    clinical["medication"] = np.arange(len(clinical)) % 3 == 0
    clinical["repeat_visit"] = 0
    paths = {
        "csv": folder / "frames.csv",
        "parquet": folder / "frames.parquet",
        "clinical": folder / "clinical.csv",
        "folder": folder,
    }
    frames.to_csv(paths["csv"], index=False)
    frames.to_parquet(paths["parquet"], index=False)
    clinical.to_csv(paths["clinical"], index=False)
    return paths


def _run(*argv: str) -> int:
    return main(["stats", "scalogram", *argv])


def test_contract_csv_and_parquet_agree(inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = []
    for kind in ("csv", "parquet"):
        out = tmp_path / f"result_{kind}.csv"
        code = _run(
            "--frames", str(inputs[kind]), "--clinical", str(inputs["clinical"]), "--score", "bdi",
            "--covariates", "age,sex,camera,medication", "--fps", "30", "--scales", "4-30:2",
            "--wavelet", "cmor1.5-1.0", "--fdr", "bh", "--out", str(out),
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        results.append(pd.read_csv(out))
    first, second = results
    assert tuple(first.columns[: len(CONTRACT)]) == CONTRACT
    assert len(first) == 4 * 14
    pd.testing.assert_frame_equal(first, second)
    assert first.loc[first["au"] == "AU12", "significant"].any()
    assert "wrote" in capsys.readouterr().out


def test_constant_covariate_is_handled_by_the_engine(inputs, tmp_path: Path, capsys) -> None:
    # repeat_visit is 0 for everyone: the engine drops the redundant column (rank-revealing basis).
    out = tmp_path / "result.csv"
    code = _run(
        "--frames", str(inputs["parquet"]), "--clinical", str(inputs["clinical"]), "--score", "bdi",
        "--covariates", "age,sex,camera,medication,repeat_visit", "--fps", "30", "--scales", "10,21",
        "--out", str(out),
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert pd.read_csv(out)["r"].notna().all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--fps": "0"}, "frame rate must be a positive number"),
        ({"--fps": "25"}, "fps is 25"),
        ({"--scales": "100-1"}, "scales '100-1'"),
        ({"--wavelet": "cmor"}, "cmorB-C"),
        ({"--wavelet": "db4"}, "not a PyWavelets continuous wavelet"),
        ({"--fdr": "holm-ish"}, "unknown multiple-comparison correction"),
        ({"--score": "phq"}, "no column 'phq'"),
        ({"--frames": "missing.csv"}, "frames table missing.csv does not exist"),
        ({"--out": "result.txt"}, "must be a .csv or .parquet file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(inputs, tmp_path: Path, capsys, change, message) -> None:
    options = {
        "--frames": str(inputs["parquet"]),
        "--clinical": str(inputs["clinical"]),
        "--score": "bdi",
        "--covariates": "age,sex",
        "--fps": "30",
        "--scales": "4-30:2",
        "--out": str(tmp_path / "result.csv"),
    }
    options.update(change)
    argv = [item for pair in options.items() for item in pair]
    assert _run(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
    assert not list(tmp_path.iterdir())


def test_missing_fps_is_a_usage_error(inputs, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        _run("--frames", str(inputs["csv"]), "--clinical", str(inputs["clinical"]), "--score", "bdi",
             "--out", str(tmp_path / "r.csv"))  # fmt: skip
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--fps" in err and err.count("\n") == 1


def test_every_series_too_short_is_one_line(inputs, tmp_path: Path, capsys) -> None:
    frames = pd.read_parquet(inputs["parquet"])
    tiny = frames[frames["frame"] < 40]
    path = tmp_path / "tiny.parquet"
    tiny.to_parquet(path)
    out = tmp_path / "result.csv"
    code = _run("--frames", str(path), "--clinical", str(inputs["clinical"]), "--score", "bdi",
                "--fps", "30", "--scales", "50-100", "--out", str(out))  # fmt: skip
    assert code == 2
    assert "shorter than the wavelet support" in capsys.readouterr().err
    assert not out.exists()


def test_blank_au_is_a_note_not_an_error(inputs, tmp_path: Path, capsys) -> None:
    frames = pd.read_parquet(inputs["parquet"]).assign(AU04=np.nan)
    path = tmp_path / "blank.csv"
    frames.to_csv(path, index=False)
    out = tmp_path / "result.csv"
    code = _run("--frames", str(path), "--clinical", str(inputs["clinical"]), "--score", "bdi",
                "--fps", "30", "--scales", "5-25:5", "--out", str(out))  # fmt: skip
    assert code == 0
    assert "note: AU04 has no valid frames" in capsys.readouterr().err
    result = pd.read_csv(out)
    assert result.loc[result["au"] == "AU04", "r"].isna().all()
    assert result.loc[result["au"] == "AU12", "r"].notna().all()


def test_existing_result_survives_a_failed_run(inputs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.csv"
    out.write_text("keep me\n")
    assert _run("--frames", str(inputs["csv"]), "--clinical", str(inputs["clinical"]), "--score", "bdi",
                "--fps", "0", "--out", str(out)) == 2  # fmt: skip
    assert out.read_text() == "keep me\n"


def test_parser_defaults_match_the_library() -> None:
    from facs_core import wavelets
    from facs_core.cli import scalogram_command

    assert scalogram_command.DEFAULT_WAVELET == wavelets.DEFAULT_WAVELET
    assert scalogram_command.DEFAULT_MAX_GAP_S == wavelets.DEFAULT_MAX_GAP_S
    assert scalogram_command.FDR_SCOPES == wavelets.FDR_SCOPES


def test_module_entry_point_runs(inputs, tmp_path: Path) -> None:
    # The real command line, in a fresh interpreter, as other tools call it.
    out = tmp_path / "result.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "facs_core", "stats", "scalogram", "--frames", str(inputs["parquet"]),
         "--clinical", str(inputs["clinical"]), "--score", "bdi", "--covariates", "age,sex", "--fps", "30",
         "--scales", "1-100", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = pd.read_csv(out)
    assert tuple(result.columns[: len(CONTRACT)]) == CONTRACT
    # 30 s videos (900 frames) are too short for scales with support > 900 frames: marked, not computed.
    long_scales = result[result["support_frames"] > 900]
    assert len(long_scales) > 0
    assert long_scales["r"].isna().all() and (long_scales["n_short"] == 24).all()
    assert "shorter than the wavelet support" in completed.stderr
    at21 = result[(result["au"] == "AU12") & (result["scale"] == 21)].iloc[0]
    assert at21["rhythm"] == "0.70 s rhythm (1.43 Hz)"
