"""Impossible numbers and hostile paths are refused at the door: one exact line, nothing stored.

Every case runs the real command line in this process (:func:`facs_core.cli.main`
with captured output) or the real upload service, against a real store, and
checks three things: the exit code, the exact one-line message, and that a
fingerprint of the store (every catalog table's rows and every file's sha256)
is the same afterwards. Commands that need no store run in an empty working
folder without ``FACS_DATA_DIR``, and must not leave a ``./data`` there.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from facs_core import datasets
from facs_core.cli import main
from facs_core.errors import FacsError
from facs_core.services import uploads
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from store import open_catalog
from store.videos import add_video

# -- the store's fingerprint -------------------------------------------------------


def fingerprint(data_dir: Path) -> str:
    """sha256 over every catalog table's rows (in a stable order) and every other file's bytes."""
    digest = hashlib.sha256()
    if not data_dir.exists():
        return "absent"
    catalog = data_dir / "catalog.duckdb"
    if catalog.exists():
        con = duckdb.connect(str(catalog), read_only=True)
        try:
            tables = [
                r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()
            ]
            for table in tables:
                rows = con.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
                digest.update(f"{table}:{rows!r}".encode())
        finally:
            con.close()
    for path in sorted(data_dir.rglob("*")):
        relative = path.relative_to(data_dir).as_posix()
        if relative.startswith("catalog.duckdb"):
            continue
        digest.update(relative.encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# -- inputs ------------------------------------------------------------------------


def _openface(feat_data: Path, rows: int = 4) -> pd.DataFrame:
    table = pd.read_csv(feat_data / "OpenFace_Test.csv", nrows=rows)
    table.columns = [c.strip() for c in table.columns]
    return table


def _pyfeat(feat_data: Path, rows: int = 3) -> pd.DataFrame:
    one = pd.read_csv(feat_data / "Feat_Test.csv")
    table = pd.concat([one] * rows, ignore_index=True)
    table["frame"] = np.arange(rows)
    return table


def _set(table: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    table = table.astype({column: object})
    table.loc[row, column] = value
    return table


@dataclass(frozen=True)
class ImportCase:
    """``import FILE --format FMT`` of a py-feat/OpenFace table changed one way."""

    fmt: str
    change: Callable[[pd.DataFrame], pd.DataFrame]
    message: str
    extra: tuple[str, ...] = ()


def _header_only(table: pd.DataFrame) -> pd.DataFrame:
    return table.iloc[:0]


IMPORT_CASES = {
    # OpenFace: rows counted as in a spreadsheet (header = row 1); frames count from 1.
    "of-timestamp-inf": ImportCase(
        "openface",
        lambda t: _set(t, "timestamp", 1, "inf"),
        "t.csv: column 'timestamp', row 3: inf is not a finite number",
    ),
    "of-timestamp-1e308": ImportCase(
        "openface",
        lambda t: _set(t, "timestamp", 1, 1e308),
        "t.csv: column 'timestamp', row 3: 1e+308 is outside 0-172800",
    ),
    "of-timestamp-negative": ImportCase(
        "openface",
        lambda t: _set(t, "timestamp", 2, -3.5),
        "t.csv: column 'timestamp', row 4: -3.5 is outside 0-172800",
    ),
    "of-frame-1e20": ImportCase(
        "openface", lambda t: _set(t, "frame", 1, 1e20), "t.csv: column 'frame', row 3: 1e+20 is outside 1-10000001"
    ),
    "of-frame-zero": ImportCase(
        "openface", lambda t: _set(t, "frame", 0, 0), "t.csv: column 'frame', row 2: 0 is outside 1-10000001"
    ),
    "of-frame-fraction": ImportCase(
        "openface", lambda t: _set(t, "frame", 1, 2.5), "t.csv: column 'frame', row 3: 2.5 is not a whole frame number"
    ),
    "of-frame-inf": ImportCase(
        "openface", lambda t: _set(t, "frame", 1, "inf"), "t.csv: column 'frame', row 3: inf is not a finite number"
    ),
    "of-frame-empty": ImportCase(
        "openface", lambda t: _set(t, "frame", 2, ""), "t.csv: column 'frame', row 4 is empty"
    ),
    "of-au-above-5": ImportCase(
        "openface", lambda t: _set(t, "AU12_r", 0, 7), "t.csv: column 'AU12_r', row 2: 7 is outside 0-5"
    ),
    "of-au-inf": ImportCase(
        "openface", lambda t: _set(t, "AU12_r", 0, "inf"), "t.csv: column 'AU12_r', row 2: inf is outside 0-5"
    ),
    "of-au-negative": ImportCase(
        "openface", lambda t: _set(t, "AU04_r", 3, -0.5), "t.csv: column 'AU04_r', row 5: -0.5 is outside 0-5"
    ),
    "of-presence-2": ImportCase(
        "openface", lambda t: _set(t, "AU12_c", 0, 2), "t.csv: column 'AU12_c', row 2: 2 is outside 0-1"
    ),
    "of-confidence-1.5": ImportCase(
        "openface", lambda t: _set(t, "confidence", 0, 1.5), "t.csv: column 'confidence', row 2: 1.5 is outside 0-1"
    ),
    "of-success-3": ImportCase(
        "openface", lambda t: _set(t, "success", 0, 3), "t.csv: column 'success', row 2: 3 is outside 0-1"
    ),
    "of-pose-inf": ImportCase(
        "openface",
        lambda t: _set(t, "pose_Rx", 0, "-inf"),
        "t.csv: column 'pose_Rx', row 2: -inf is not a finite number",
    ),
    "of-au-text": ImportCase(
        "openface", lambda t: _set(t, "AU12_r", 0, "high"), "t.csv: column 'AU12_r', row 2: 'high' is not a number"
    ),
    "of-header-only": ImportCase("openface", _header_only, "t.csv: no data rows, only a header"),
    "of-fps-inf": ImportCase(
        "openface", lambda t: t, "fps inf must be above 0 and at most 1000 frames per second", ("--fps", "inf")
    ),
    "of-fps-nan": ImportCase(
        "openface", lambda t: t, "fps nan must be above 0 and at most 1000 frames per second", ("--fps", "nan")
    ),
    "of-fps-zero": ImportCase(
        "openface", lambda t: t, "fps 0.0 must be above 0 and at most 1000 frames per second", ("--fps", "0")
    ),
    "of-fps-negative": ImportCase(
        "openface", lambda t: t, "fps -30.0 must be above 0 and at most 1000 frames per second", ("--fps", "-30")
    ),
    "of-fps-1e9": ImportCase(
        "openface", lambda t: t, "fps 1000000000.0 must be above 0 and at most 1000 frames per second", ("--fps", "1e9")
    ),
    "of-fps-tiny": ImportCase(
        "openface", lambda t: t, "t.csv: frame 1: timestamp 1e+300 s is outside 0-172800 s", ("--fps", "1e-300")
    ),
    # py-feat: one row per face, frames count from 0.
    "pf-frame-1e20": ImportCase(
        "pyfeat", lambda t: _set(t, "frame", 1, 1e20), "t.csv: column 'frame', row 3: 1e+20 is outside 0-10000000"
    ),
    "pf-frame-negative": ImportCase(
        "pyfeat", lambda t: _set(t, "frame", 0, -1), "t.csv: column 'frame', row 2: -1 is outside 0-10000000"
    ),
    "pf-frame-fraction": ImportCase(
        "pyfeat", lambda t: _set(t, "frame", 2, 1.25), "t.csv: column 'frame', row 4: 1.25 is not a whole frame number"
    ),
    "pf-au-inf": ImportCase(
        "pyfeat", lambda t: _set(t, "AU01", 0, "inf"), "t.csv: column 'AU01', row 2: inf is not a finite number"
    ),
    "pf-au-2e306": ImportCase(
        "pyfeat", lambda t: _set(t, "AU01", 1, 2e306), "t.csv: column 'AU01', row 3: 2e+306 is outside 0-1"
    ),
    "pf-au-negative": ImportCase(
        "pyfeat", lambda t: _set(t, "AU12", 2, -0.2), "t.csv: column 'AU12', row 4: -0.2 is outside 0-1"
    ),
    "pf-emotion-1.5": ImportCase(
        "pyfeat", lambda t: _set(t, "anger", 0, 1.5), "t.csv: column 'anger', row 2: 1.5 is outside 0-1"
    ),
    "pf-facescore-2": ImportCase(
        "pyfeat", lambda t: _set(t, "FaceScore", 0, 2), "t.csv: column 'FaceScore', row 2: 2 is outside 0-1"
    ),
    "pf-pitch-400": ImportCase(
        "pyfeat", lambda t: _set(t, "Pitch", 1, 400), "t.csv: column 'Pitch', row 3: 400 is outside -180-180"
    ),
    "pf-box-inf": ImportCase(
        "pyfeat",
        lambda t: _set(t, "FaceRectX", 0, "inf"),
        "t.csv: column 'FaceRectX', row 2: inf is not a finite number",
    ),
    "pf-header-only": ImportCase("pyfeat", _header_only, "t.csv: no data rows, only a header"),
    "pf-no-frame": ImportCase(
        "pyfeat", lambda t: t.drop(columns=["frame"]), "t.csv: column 'frame' is missing (is this py-feat output?)"
    ),
    "pf-fps-inf": ImportCase(
        "pyfeat", lambda t: t, "fps inf must be above 0 and at most 1000 frames per second", ("--fps", "inf")
    ),
}


@pytest.fixture
def bare_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder without FACS_DATA_DIR: the default store would be ./data."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("FACS_DATA_DIR", raising=False)
    return work


def _refused(argv: list[str], capsys, message: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"error: {message}\n")


@pytest.mark.parametrize("case", IMPORT_CASES.values(), ids=IMPORT_CASES.keys())
def test_import_refuses_impossible_numbers(bare_folder, feat_data, capsys, case):
    source = _openface(feat_data) if case.fmt == "openface" else _pyfeat(feat_data)
    case.change(source).to_csv(bare_folder / "t.csv", index=False)
    before = sorted(p.name for p in bare_folder.iterdir())
    _refused(["import", "t.csv", "--format", case.fmt, "--out", "t.parquet", *case.extra], capsys, case.message)
    assert sorted(p.name for p in bare_folder.iterdir()) == before  # no ./data, no t.parquet


def test_import_accepts_the_unchanged_tables(bare_folder, feat_data, capsys):
    """The cases above differ from a table that imports by the one change each makes."""
    _openface(feat_data).to_csv("of.csv", index=False)
    _pyfeat(feat_data).to_csv("pf.csv", index=False)
    assert main(["import", "of.csv", "--format", "openface", "--out", "of.parquet"]) == 0
    assert main(["import", "pf.csv", "--format", "pyfeat", "--out", "pf.parquet", "--fps", "30"]) == 0
    assert not (bare_folder / "data").exists()


# -- --out outside a writable existing folder --------------------------------------

OUT_CASES = {
    "import-missing-folder": (
        ["import", "in.csv", "--format", "openface", "--out", "{missing}/x.parquet"],
        "{missing}",
    ),
    "import-file-as-folder": (["import", "in.csv", "--format", "openface", "--out", "in.csv/x.parquet"], "file"),
    "import-folder-as-file": (["import", "in.csv", "--format", "openface", "--out", "sub.parquet"], "folder"),
    "import-wrong-suffix": (["import", "in.csv", "--format", "openface", "--out", "x.csv"], "suffix"),
    "features-missing-folder": (["features", "--frames", "in.csv", "--out", "{missing}/f.csv"], "{missing}"),
    "partial-corr-missing-folder": (
        [
            "stats",
            "partial-corr",
            "--features",
            "in.csv",
            "--clinical",
            "in.csv",
            "--score",
            "bdi",
            "--out",
            "{missing}/r.csv",
        ],
        "{missing}",
    ),
    "scalogram-missing-folder": (
        [
            "stats",
            "scalogram",
            "--frames",
            "in.csv",
            "--clinical",
            "in.csv",
            "--score",
            "bdi",
            "--fps",
            "30",
            "--out",
            "{missing}/r.csv",
        ],
        "{missing}",
    ),
    "extract-missing-folder": (
        ["extract", "in.csv", "--backend", "mediapipe", "--out", "{missing}/x.parquet"],
        "{missing}",
    ),
}


@pytest.mark.parametrize(("argv", "kind"), OUT_CASES.values(), ids=OUT_CASES.keys())
def test_out_must_name_a_file_in_an_existing_folder(bare_folder, feat_data, capsys, argv, kind):
    _openface(feat_data).to_csv("in.csv", index=False)
    (bare_folder / "sub.parquet").mkdir()
    missing = bare_folder / "no-such-dir" / "deeper"
    argv = [a.replace("{missing}", str(missing)) for a in argv]
    out = argv[argv.index("--out") + 1]
    expected = {
        "{missing}": f"--out {out}: folder {Path(out).absolute().parent} does not exist (it is not created)",
        "file": f"--out {out}: {bare_folder / 'in.csv'} is not a folder",
        "folder": f"--out {out}: is a folder, not a file",
        "suffix": f"--out {out} must be a .parquet file",
    }[kind]
    before = sorted(p.name for p in bare_folder.iterdir())
    _refused(argv, capsys, expected)
    assert sorted(p.name for p in bare_folder.iterdir()) == before
    assert not (bare_folder / "no-such-dir").exists()


def test_backup_out_in_a_missing_folder_is_refused(data_dir, capsys, tmp_path):
    open_catalog(data_dir).close()
    before = fingerprint(data_dir)
    target = tmp_path / "nowhere" / "b.tar"
    _refused(
        ["--data-dir", str(data_dir), "backup", "--out", str(target)],
        capsys,
        f"--out {target}: folder {target.parent} does not exist (it is not created)",
    )
    assert fingerprint(data_dir) == before and not target.parent.exists()


# -- per-frame tables into `features` -------------------------------------------------


def _frames(rows: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": "v1",
            "frame": np.arange(rows),
            "timestamp": np.arange(rows) / 10.0,
            "face": True,
            "face_confidence": 0.9,
            "AU01": np.linspace(0.1, 0.5, rows),
            "AU12": np.linspace(0.2, 0.6, rows),
        }
    )


FRAME_CASES = {
    "au-inf": (lambda t: _set(t, "AU12", 1, np.inf), "column 'AU12', row 3: inf is outside 0-1"),
    "au-2e306": (lambda t: _set(t, "AU01", 2, 2e306), "column 'AU01', row 4: 2e+306 is outside 0-1"),
    "au-negative": (lambda t: _set(t, "AU01", 0, -0.1), "column 'AU01', row 2: -0.1 is outside 0-1"),
    "frame-1e20": (lambda t: _set(t, "frame", 1, 1e20), "column 'frame', row 3: 1e+20 is outside 0-10000000"),
    "frame-fraction": (lambda t: _set(t, "frame", 1, 0.5), "column 'frame', row 3: 0.5 is not a whole frame number"),
    "timestamp-negative": (
        lambda t: _set(t, "timestamp", 3, -5.0),
        "column 'timestamp', row 5: -5 is outside 0-172800",
    ),
    "timestamp-inf": (lambda t: _set(t, "timestamp", 3, np.inf), "column 'timestamp', row 5: inf is outside 0-172800"),
    "confidence-3": (lambda t: _set(t, "face_confidence", 0, 3.0), "column 'face_confidence', row 2: 3 is outside 0-1"),
    "header-only": (_header_only, "no data rows, only a header"),
}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize(("change", "message"), FRAME_CASES.values(), ids=FRAME_CASES.keys())
def test_features_refuses_impossible_frame_values(bare_folder, capsys, change, message, suffix):
    table = change(_frames())
    path = bare_folder / f"frames{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.astype({c: float for c in ("frame", "timestamp", "AU01", "AU12", "face_confidence")}).to_parquet(path)
    _refused(["features", "--frames", path.name, "--out", "f.csv"], capsys, f"frames table {path.name}: {message}")
    assert sorted(p.name for p in bare_folder.iterdir()) == [path.name]


# -- clinical and feature tables into `stats partial-corr` ------------------------------


def _features_and_clinical(n: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small cohort (datasets.cohort) whose videos are named v0, v1, ... as the refusals below name them."""
    features, clinical = datasets.cohort(n_videos=n, seed=5, features=["AU01", "AU12"])
    ids = [f"v{i}" for i in range(n)]
    features["video_id"] = clinical["video_id"] = ids
    return features, clinical[["video_id", "patient_id", "bdi", "age", "sex"]]


STATS_CASES = {
    "age-inf": ("clinical", "age", 3, np.inf, "clinical.csv: age of video v3 is inf, not a finite number"),
    "age-1e308": ("clinical", "age", 3, 1e308, "clinical.csv: age of video v3 is 1e+308, outside 0-120"),
    "age-negative": ("clinical", "age", 2, -40.0, "clinical.csv: age of video v2 is -40, outside 0-120"),
    "age-150": ("clinical", "age", 0, 150.0, "clinical.csv: age of video v0 is 150, outside 0-120"),
    "score-inf": ("clinical", "bdi", 1, np.inf, "clinical.csv: bdi of video v1 is inf, not a finite number"),
    "score-out-of-range": (
        "clinical",
        "bdi",
        1,
        99.0,
        "clinical.csv: bdi of video v1 is 99, outside the Beck Depression Inventory (BDI-II) range 0-63",
    ),
    "feature-inf": (
        "features",
        "AU12",
        4,
        np.inf,
        "feature column 'AU12' of video v4 is inf, not a finite number",
    ),
    "feature-minus-inf": (
        "features",
        "AU01",
        0,
        -np.inf,
        "feature column 'AU01' of video v0 is -inf, not a finite number",
    ),
    "clinical-header-only": (
        "clinical",
        None,
        None,
        None,
        "clinical table clinical.csv has no data rows, only a header",
    ),
    "features-header-only": (
        "features",
        None,
        None,
        None,
        "features table features.csv has no data rows, only a header",
    ),
}


@pytest.mark.parametrize(("table", "column", "row", "value", "message"), STATS_CASES.values(), ids=STATS_CASES.keys())
def test_partial_corr_refuses_impossible_values_and_creates_no_data_folder(
    bare_folder, capsys, table, column, row, value, message
):
    features, clinical = _features_and_clinical()
    tables = {"features": features, "clinical": clinical}
    if column is None:
        tables[table] = tables[table].iloc[:0]
    else:
        tables[table] = _set(tables[table], column, row, value)
    for name, frame in tables.items():
        frame.to_csv(f"{name}.csv", index=False)
    argv = ["stats", "partial-corr", "--features", "features.csv", "--clinical", "clinical.csv", "--score", "bdi"]
    _refused([*argv, "--covariates", "age,sex", "--out", "r.csv"], capsys, message)
    assert sorted(p.name for p in bare_folder.iterdir()) == ["clinical.csv", "features.csv"]


def test_constant_and_collinear_covariates_are_named_not_unexpected(bare_folder, capsys):
    features, clinical = _features_and_clinical()
    clinical["site"] = 1.0
    clinical["age_months"] = clinical["age"] * 12
    features.to_csv("features.csv", index=False)
    clinical.to_csv("clinical.csv", index=False)
    argv = ["stats", "partial-corr", "--features", "features.csv", "--clinical", "clinical.csv", "--score", "bdi"]
    assert main([*argv, "--covariates", "age,site,age_months", "--out", "r.csv"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "note: covariate site is constant among the 8 analysed videos; it adjusts for nothing" in err
    assert "note: covariate age_months is collinear with age; it adds no adjustment" in err
    assert not any("unexpected" in line for line in err)


# -- videos add, segments add and uploads -------------------------------------------------

_FUTURE = date(date.today().year + 1, 1, 1).isoformat()

VIDEO_CASES = {
    "visit-date-future": (["--visit-date", _FUTURE], f"visit date {_FUTURE} is in the future"),
    "visit-date-2999": (["--visit-date", "2999-01-01"], "visit date 2999-01-01 is in the future"),
    "recording-date-1850": (["--recording-date", "1850-06-01"], "recording date 1850-06-01 is before 1900"),
    "visit-date-1850": (["--visit-date", "1850-06-01"], "visit date 1850-06-01 is before 1900"),
    "visit-date-year-1": (["--visit-date", "0001-01-01"], "visit date 0001-01-01 is before 1900"),
    "recording-date-future": (["--recording-date", _FUTURE], f"recording date {_FUTURE} is in the future"),
    "age-inf": (["--age", "inf"], "age inf is outside 0-120 years"),
    "age-nan": (["--age", "nan"], "age nan is outside 0-120 years"),
    "age-negative": (["--age", "-40"], "age -40.0 is outside 0-120 years"),
    "age-1e308": (["--age", "1e308"], "age 1e+308 is outside 0-120 years"),
    "score-inf": (
        ["--score", "bdi=inf"],
        "score bdi: 'inf' is outside the Beck Depression Inventory (BDI-II) range 0-63",
    ),
    "score-nan": (
        ["--score", "bdi=nan"],
        "score bdi: 'nan' is outside the Beck Depression Inventory (BDI-II) range 0-63",
    ),
    "score-99": (["--score", "bdi=99"], "score bdi: '99' is outside the Beck Depression Inventory (BDI-II) range 0-63"),
    "score-negative": (
        ["--score", "phq9=-1"],
        "score phq9: '-1' is outside the Patient Health Questionnaire (PHQ-9) range 0-27",
    ),
}


@pytest.fixture
def seeded_store(data_dir: Path, feat_data: Path) -> Path:
    """A store holding one video (so refusals are checked against something stored)."""
    with open_catalog(data_dir) as catalog:
        video = feat_data / "single_face.mp4"
        from facs_core.probe import probe_video

        add_video(catalog, video, probe_video(video), patient_id="P001")
    return data_dir


@pytest.mark.parametrize(("extra", "message"), VIDEO_CASES.values(), ids=VIDEO_CASES.keys())
def test_videos_add_refuses_impossible_values(seeded_store, feat_data, capsys, extra, message):
    before = fingerprint(seeded_store)
    video = str(feat_data / "no_face.mp4")
    _refused(
        [
            "--data-dir",
            str(seeded_store),
            "videos",
            "add",
            video,
            "--patient",
            "P002",
            "--visit-date",
            "2024-03-01",
            *extra,
        ],
        capsys,
        message,
    )
    assert fingerprint(seeded_store) == before


SEGMENT_CASES = {
    "start-inf": (["--start", "inf", "--end", "1"], "segment times inf-1.0 are not finite"),
    "end-nan": (["--start", "0", "--end", "nan"], "segment times 0.0-nan are not finite"),
    "start-negative": (["--start", "-1", "--end", "1"], "segment start -1 s is before the video starts (0 s)"),
    "end-past-the-video": (["--start", "0", "--end", "1e308"], "segment end 1e+308 s is past the video's end"),
}


@pytest.mark.parametrize(("extra", "message"), SEGMENT_CASES.values(), ids=SEGMENT_CASES.keys())
def test_segments_add_refuses_impossible_times(seeded_store, capsys, extra, message):
    with open_catalog(seeded_store) as catalog:
        video_id, duration = catalog.fetchone("SELECT video_id, duration_s FROM videos")
    before = fingerprint(seeded_store)
    code = main(["--data-dir", str(seeded_store), "segments", "add", video_id, *extra, "--label", "x"])
    out, err = capsys.readouterr()
    if message.endswith("past the video's end"):
        message += f" ({duration:.3f} s)"
    assert (code, out, err) == (2, "", f"error: video {video_id}: {message}\n")
    assert fingerprint(seeded_store) == before


UPLOAD_CASES = {
    "future-visit": ({"visit_date": date(2999, 1, 1)}, "visit date 2999-01-01 is in the future"),
    "tomorrow-visit": (
        {"visit_date": date.today() + timedelta(days=1)},
        f"visit date {(date.today() + timedelta(days=1)).isoformat()} is in the future",
    ),
    "ancient-visit": ({"visit_date": date(1850, 6, 1)}, "visit date 1850-06-01 is before 1900"),
    "visit-not-a-date": ({"visit_date": "2024-01-01"}, "visit date '2024-01-01' is not a date (use YYYY-MM-DD)"),
    "ancient-recording": ({"recording_date": date(1800, 1, 1)}, "recording date 1800-01-01 is before 1900"),
    "age-inf": ({"age": float("inf")}, "age inf is outside 0-120 years"),
    "score-inf": (
        {"scores": {"bdi": float("inf")}},
        "score bdi: inf is outside the Beck Depression Inventory (BDI-II) range 0-63",
    ),
    "score-unknown": ({"scores": {"xyz": 3}}, "score 'xyz': unknown instrument (known: bdi, phq9, hamd17, madrs)"),
    "patient-name": ({"patient_id": "Jane Doe"}, None),
}


@pytest.mark.parametrize(("fields", "message"), UPLOAD_CASES.values(), ids=UPLOAD_CASES.keys())
def test_uploads_refuse_impossible_values(seeded_store, feat_data, fields, message):
    before = fingerprint(seeded_store)
    with open_catalog(seeded_store) as catalog:
        video = io.BytesIO((feat_data / "no_face.mp4").read_bytes())
        received = uploads.receive(catalog, LocalOperator("test"), video, "visit.mp4")
        values = {"patient_id": "P002", **fields}
        with pytest.raises(FacsError) as caught:
            ingest_video(
                catalog, received.path, user=LocalOperator("test"), original_name=received.display_name, **values
            )
        received.path.unlink()
    text = str(caught.value)
    assert "\n" not in text
    if message is None:
        message = (
            "patient code 'Jane Doe' is not a pseudonymous code: use 1-32 letters, digits, '.', '_' or '-'"
            " (for example P017), never a name"
        )
    assert text == message
    assert fingerprint(seeded_store) == before


def test_an_unexpected_failure_leaves_no_data_folder_behind(bare_folder, capsys, monkeypatch):
    """Even the last-resort path (a bug) logs to the temporary folder rather than create ./data."""
    import tempfile

    from facs_core.stats import cohort

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    # The command looks the engine up when it runs, so the patched one is what it calls.
    monkeypatch.setattr(cohort, "cohort_associations", broken)
    features, clinical = _features_and_clinical()
    features.to_csv("features.csv", index=False)
    clinical.to_csv("clinical.csv", index=False)
    argv = ["stats", "partial-corr", "--features", "features.csv", "--clinical", "clinical.csv", "--score", "bdi"]
    assert main([*argv, "--out", "r.csv"]) == 1
    log = Path(tempfile.gettempdir()) / "errors.log"
    assert capsys.readouterr().err == f"error: unexpected ZeroDivisionError; details in {log}\n"
    assert sorted(p.name for p in bare_folder.iterdir()) == ["clinical.csv", "features.csv"]


NO_STORE_CASES = {
    "segments-list": (["segments", "list", "abcdef0123456789"], "video abcdef0123456789 is not in the store"),
    "segments-delete": (["segments", "delete", "5"], "segment 5 does not exist (deleted meanwhile?)"),
    "segments-edit": (
        ["segments", "edit", "5", "--revision", "1", "--label", "x"],
        "segment 5 does not exist (deleted meanwhile?)",
    ),
    "jobs-cancel": (["jobs", "cancel", "xyz"], "no job xyz in the store"),
    "jobs-retry": (["jobs", "retry", "xyz"], "no job xyz in the store"),
}


@pytest.mark.parametrize(("argv", "message"), NO_STORE_CASES.values(), ids=NO_STORE_CASES.keys())
def test_a_failed_command_leaves_no_new_data_folder(bare_folder, capsys, argv, message):
    _refused(argv, capsys, message)
    assert list(bare_folder.iterdir()) == []


def test_a_store_with_content_is_never_taken_for_an_empty_one(data_dir, feat_data, tmp_path):
    from store.pristine import is_pristine

    with open_catalog(data_dir):
        pass
    assert is_pristine(data_dir)
    with open_catalog(data_dir) as catalog:
        catalog.execute("INSERT INTO patients (patient_id) VALUES ('P001')")
    assert not is_pristine(data_dir)
    other = tmp_path / "other"
    open_catalog(other).close()
    (other / "videos" / "x.mp4").write_bytes(b"\0")
    assert not is_pristine(other)
