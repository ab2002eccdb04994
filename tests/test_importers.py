"""The import backend on py-feat's and OpenFace's own shipped result files, and on broken copies."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from facs_core.cli import main
from facs_core.errors import InputError
from facs_core.faces import choose_patient_face
from facs_core.importers import (
    PYFEAT_EMOTIONS,
    import_file,
    pyfeat_frame_table,
    read_openface_csv,
    read_pyfeat_csv,
)
from facs_core.reference import action_units

PYFEAT_FILES = ["001.csv", "002.csv", "Feat_Test.csv"]


def _raw_rows(path: Path) -> list[dict[str, str]]:
    # The csv module, not pandas: an independent reading of the same file.
    with open(path, newline="") as handle:
        return [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(handle)]


def _contract_prefix(table: pd.DataFrame, aus: list[str]) -> None:
    assert list(table.columns[:4]) == ["frame", "timestamp", "face", "face_confidence"]
    assert list(table.columns[4 : 4 + len(aus)]) == aus
    assert table["frame"].dtype == np.int64 and table["face"].dtype == bool
    values = table[aus].to_numpy(dtype=float)
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1


@pytest.mark.parametrize("name", PYFEAT_FILES)
def test_pyfeat_result_files_convert_value_for_value(feat_data: Path, name: str) -> None:
    rows = _raw_rows(feat_data / name)
    table = read_pyfeat_csv(feat_data / name, fps=25.0)
    aus = [au for au in action_units() if au in rows[0]]
    assert len(aus) == 20
    _contract_prefix(table, aus)
    assert len(table) == len(rows)
    by_frame = {int(r["frame"]): r for r in rows}
    for _, out in table.iterrows():
        raw = by_frame[int(out["frame"])]
        assert out["timestamp"] == pytest.approx(int(raw["frame"]) / 25.0)
        assert out["face"]
        assert out["face_confidence"] == pytest.approx(float(raw["FaceScore"]))
        for column in (*aus, *PYFEAT_EMOTIONS, "FaceRectWidth", "Pitch", "Yaw"):
            assert out[column] == pytest.approx(float(raw[column]), rel=1e-9)
    assert (table["face_count"] == 1).all()


def test_pyfeat_table_without_timing_leaves_timestamps_empty(feat_data: Path) -> None:
    table = read_pyfeat_csv(feat_data / "001.csv")
    assert table["timestamp"].isna().all()


def test_pyfeat_approx_time_and_decoder_timestamps(feat_data: Path) -> None:
    data = pd.read_csv(feat_data / "002.csv").copy()
    data["approx_time"] = [f"{int(f // 600)}:{(f % 600) / 10:05.2f}" for f in data["frame"]]
    table = pyfeat_frame_table(data)
    assert table["timestamp"].to_numpy() == pytest.approx(data["frame"].to_numpy() / 10.0)
    stamps = {int(f): 0.5 + 0.04 * int(f) for f in data["frame"]}
    table = pyfeat_frame_table(data, timestamps=stamps)
    assert table["timestamp"].tolist() == pytest.approx([stamps[f] for f in table["frame"]])
    with pytest.raises(InputError, match="no decoder timestamp"):
        pyfeat_frame_table(data, timestamps={0: 0.0})


def test_frames_without_a_face_are_rows_with_empty_aus(feat_data: Path) -> None:
    data = pd.read_csv(feat_data / "001.csv")
    empty = data.iloc[[0]].copy()
    keep = ["frame", "input"]
    empty.loc[:, [c for c in empty.columns if c not in keep]] = np.nan
    empty["frame"] = data["frame"].max() + 1
    table = pyfeat_frame_table(pd.concat([data, empty], ignore_index=True), fps=30)
    last = table.iloc[-1]
    assert not last["face"] and last["face_count"] == 0 and last["face_confidence"] == 0
    assert last[list(action_units())].isna().all()
    assert table["face"].sum() == len(data)


def _with_bystander(data: pd.DataFrame, scale: float, dx: float) -> pd.DataFrame:
    other = data.copy()
    other["FaceRectWidth"] *= scale
    other["FaceRectHeight"] *= scale
    other["FaceRectX"] += dx
    other[list(action_units())] = 0.999  # recognisable if wrongly chosen
    return pd.concat([other, data], ignore_index=True)


def test_several_faces_keep_the_patient_and_count_faces(feat_data: Path) -> None:
    data = pd.read_csv(feat_data / "001.csv")
    both = _with_bystander(data, scale=0.5, dx=600.0)
    table = pyfeat_frame_table(both, fps=30, frame_size=(1280, 720))
    expected = pyfeat_frame_table(data, fps=30, frame_size=(1280, 720))
    assert (table["face_count"] == 2).all()
    pd.testing.assert_frame_equal(table.drop(columns="face_count"), expected.drop(columns="face_count"))


def test_equal_sized_faces_follow_the_patients_track() -> None:
    # The patient sits left of centre for 30 frames; a same-sized visitor sits equally far right,
    # except in a few frames where the visitor is slightly larger. The track keeps the patient.
    rows = []
    for frame in range(30):
        visitor_size = 101.0 if frame % 10 == 5 else 100.0
        rows.append({"frame": frame, "x": 380.0, "y": 300.0, "w": 100.0, "h": 100.0, "who": "patient"})
        rows.append({"frame": frame, "x": 800.0, "y": 300.0, "w": visitor_size, "h": visitor_size, "who": "visitor"})
    boxes = pd.DataFrame(rows)
    # The patient is nearer the centre (640) than the visitor: 430 vs 850.5 -> dist 210 vs 210.5.
    chosen = choose_patient_face(boxes, box_columns=("x", "y", "w", "h"), frame_size=(1280, 720))
    assert chosen.groupby(boxes["frame"]).sum().eq(1).all()
    assert set(boxes.loc[chosen, "who"]) == {"patient"}


def test_openface_file_scales_intensities_and_keeps_presence(feat_data: Path) -> None:
    path = feat_data / "OpenFace_Test.csv"
    rows = _raw_rows(path)
    table = read_openface_csv(path)
    aus = [au for au in action_units() if f"{au}_r" in rows[0]]
    _contract_prefix(table, aus)
    assert "AU45" not in table.columns and "AU28" not in table.columns  # no intensity, not invented
    assert "AU28_c" in table.columns and "AU45_c" in table.columns
    for out, raw in zip(table.to_dict("records"), sorted(rows, key=lambda r: int(r["frame"])), strict=True):
        assert out["frame"] == int(raw["frame"]) - 1
        assert out["timestamp"] == pytest.approx(float(raw["timestamp"]))
        assert out["face"] == (float(raw["success"]) == 1)
        assert out["face_confidence"] == pytest.approx(float(raw["confidence"]))
        for au in aus:
            assert out[au] == pytest.approx(float(raw[f"{au}_r"]) / 5.0)
            assert out[f"{au}_c"] == pytest.approx(float(raw[f"{au}_c"]))


def test_openface_failed_frames_have_empty_aus(tmp_path: Path, feat_data: Path) -> None:
    data = pd.read_csv(feat_data / "OpenFace_Test.csv")
    data.loc[3, " success"] = 0
    path = tmp_path / "of.csv"
    data.to_csv(path, index=False)
    table = read_openface_csv(path)
    assert not table.loc[3, "face"] and math.isnan(table.loc[3, "AU01"])
    assert table["face"].sum() == len(data) - 1


def _broken(tmp_path: Path, source: Path, edit) -> Path:
    data = pd.read_csv(source)
    data = edit(data)
    path = tmp_path / f"broken_{source.name}"
    data.to_csv(path, index=False)
    return path


def _message(path: Path, fmt: str) -> str:
    with pytest.raises(InputError) as caught:
        import_file(path, fmt)
    message = str(caught.value)
    assert "\n" not in message and path.name in message
    return message


def test_wrong_delimiter_is_named(tmp_path: Path, feat_data: Path) -> None:
    path = tmp_path / "semicolons.csv"
    pd.read_csv(feat_data / "001.csv").to_csv(path, sep=";", index=False)
    assert "';'" in _message(path, "pyfeat")


def test_missing_columns_are_named(tmp_path: Path, feat_data: Path) -> None:
    path = _broken(tmp_path, feat_data / "OpenFace_Test.csv", lambda d: d.drop(columns=[" success"]))
    assert "'success'" in _message(path, "openface")
    path = _broken(tmp_path, feat_data / "001.csv", lambda d: d.drop(columns=["frame"]))
    assert "'frame'" in _message(path, "pyfeat")


def test_non_numeric_value_names_column_and_row(tmp_path: Path, feat_data: Path) -> None:
    def spoil(d: pd.DataFrame) -> pd.DataFrame:
        d["AU12"] = d["AU12"].astype(object)
        d.loc[6, "AU12"] = "n/a?"
        return d

    message = _message(_broken(tmp_path, feat_data / "001.csv", spoil), "pyfeat")
    assert "'AU12'" in message and "row 8" in message


@pytest.mark.parametrize(
    ("fmt", "source", "column", "value"),
    [
        ("pyfeat", "001.csv", "AU04", 1.7),
        ("openface", "OpenFace_Test.csv", " AU04_r", 6.2),
    ],
)
def test_out_of_range_value_names_column_and_row(
    tmp_path: Path, feat_data: Path, fmt: str, source: str, column: str, value: float
) -> None:
    def spoil(d: pd.DataFrame) -> pd.DataFrame:
        d.loc[2, column] = value
        return d

    message = _message(_broken(tmp_path, feat_data / source, spoil), fmt)
    assert column.strip() in message and "row 4" in message


def test_import_cli_writes_a_parquet_table(tmp_path: Path, feat_data: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "frames.parquet"
    code = main(["import", str(feat_data / "OpenFace_Test.csv"), "--format", "openface", "--out", str(out)])
    assert code == 0
    count, au01 = duckdb.connect().execute(f"SELECT count(*), avg(AU01) FROM read_parquet('{out}')").fetchone()
    expected = read_openface_csv(feat_data / "OpenFace_Test.csv")
    assert count == len(expected) and au01 == pytest.approx(expected["AU01"].mean())

    code = main(["import", str(feat_data / "OpenFace_Test.csv"), "--format", "pyfeat", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: OpenFace_Test.csv")


def test_import_cli_takes_timestamps_from_the_video(tmp_path: Path, feat_data: Path) -> None:
    out = tmp_path / "frames.parquet"
    code = main(
        [
            "import",
            str(feat_data / "001.csv"),
            "--format",
            "pyfeat",
            "--out",
            str(out),
            "--video",
            str(feat_data / "single_face.mp4"),
        ]
    )
    assert code == 0
    stamps = pd.read_parquet(out)["timestamp"].to_numpy()
    assert stamps == pytest.approx(np.arange(len(stamps)) / 30.0, abs=1e-3)  # single_face.mp4 is 30 fps


def test_in_memory_fex_converts_like_its_csv(feat_data: Path) -> None:
    from feat.utils.io import read_feat  # py-feat's own reader gives a Fex, as Detector.detect does

    fex = read_feat(str(feat_data / "002.csv"))
    pd.testing.assert_frame_equal(pyfeat_frame_table(fex, fps=24.0), read_pyfeat_csv(feat_data / "002.csv", fps=24.0))
