"""One formula neutralisation for every CSV the project writes: dashboard exports and CLI results."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from facs_core import exports
from facs_core.cli import main
from facs_core.cli._shared import write_csv_atomically
from facs_core.datasets import frames as synthetic_frames

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_safe_csv_neutralises_every_trigger_and_keeps_numbers() -> None:
    frame = pd.DataFrame({"text": HOSTILE, "number": [-1.5, 2, -3, 4, 5, 6], "=col": ["ok"] * 6})
    rows = cells(exports.safe_csv(frame))
    assert rows[0] == ["text", "number", "'=col"]
    assert [r[0] for r in rows[1:]] == ["'" + h for h in HOSTILE]
    assert [r[1] for r in rows[1:]] == ["-1.5", "2.0", "-3.0", "4.0", "5.0", "6.0"]


def test_export_csv_is_safe_csv_after_pseudonymisation() -> None:
    frame = pd.DataFrame({"video_id": ["v1"], "medication": ["=cmd"], "note": ["=cmd"]})
    assert exports.export_csv(frame, "researcher") == exports.safe_csv(frame.drop(columns="medication"))
    assert exports.export_csv(frame, "clinician") == exports.safe_csv(frame)


def test_features_command_neutralises_a_hostile_video_id(tmp_path: Path) -> None:
    frames = synthetic_frames(n_videos=1, seed=3).drop(columns="video_id")
    frames.to_parquet(tmp_path / "frames.parquet")
    out = tmp_path / "features.csv"
    hostile = HOSTILE[0]
    assert (
        main(["features", "--frames", str(tmp_path / "frames.parquet"), "--video-id", hostile, "--out", str(out)]) == 0
    )
    rows = cells(out.read_bytes())
    assert rows[1][rows[0].index("video_id")] == "'" + hostile


def test_the_cli_result_writer_neutralises_formulas(tmp_path: Path) -> None:
    """``stats partial-corr``, ``stats scalogram`` and ``features`` all write through this writer."""
    table = pd.DataFrame({"au": HOSTILE, "r": [-0.1, 0.2, -0.3, 0.4, 0.5, 0.6]})
    written = write_csv_atomically(table, tmp_path / "result.csv")
    assert written.read_bytes() == exports.safe_csv(table)
    assert [r[0] for r in cells(written.read_bytes())[1:]] == ["'" + h for h in HOSTILE]
