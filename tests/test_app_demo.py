"""The demo data: idempotent, labelled synthetic, following the per-frame contract, with its planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facs_core.datasets import demo_frames, demo_visits, planted_effects
from facs_core.features import features_from_shards
from facs_core.reference import action_units
from facs_core.services.access import LocalOperator
from facs_core.services.demo import SAMPLE_VIDEOS, load_demo
from facs_core.stats import associate
from store import Catalog, open_catalog
from store.shards import parquet_list_sql

OPERATOR = LocalOperator("test")


def _counts(catalog: Catalog) -> dict[str, int]:
    tables = ("patients", "videos", "assessments", "visit_covariates", "segments", "runs")
    return {t: int(catalog.scalar(f"SELECT count(*) FROM {t}")) for t in tables}


def _clinical(catalog: Catalog) -> pd.DataFrame:
    return catalog.query(
        "SELECT v.video_id, v.patient_id, a.score AS bdi, c.age, c.sex, v.camera FROM videos v"
        " JOIN assessments a ON a.video_id = v.video_id AND a.instrument = 'bdi'"
        " JOIN visit_covariates c ON c.video_id = v.video_id"
    )


@pytest.fixture
def demo_store(catalog: Catalog) -> Catalog:
    load_demo(catalog, with_videos=False)
    return catalog


def test_demo_load_is_idempotent_and_all_synthetic(demo_store: Catalog) -> None:
    visits = demo_visits()
    before = _counts(demo_store)
    assert before["videos"] == len(visits)
    assert before["patients"] == visits["patient_id"].nunique()
    again = load_demo(demo_store, with_videos=False)
    assert (again.synthetic_visits, again.patients, again.frames) == (0, 0, 0)
    assert _counts(demo_store) == before
    assert demo_store.scalar("SELECT count(*) FROM videos WHERE NOT synthetic") == 0
    assert demo_store.scalar("SELECT count(*) FROM patients WHERE NOT synthetic") == 0
    assert demo_store.scalar("SELECT count(*) FROM videos WHERE stored_path IS NOT NULL") == 0
    assert set(demo_store.query("SELECT DISTINCT backend FROM runs")["backend"]) == {"synthetic"}


def test_demo_shards_follow_the_per_frame_contract(demo_store: Catalog) -> None:
    files = sorted(demo_store.paths.frames.rglob("*.parquet"))
    frames = demo_store.query(f"SELECT * FROM {parquet_list_sql(files)}")
    assert set(frames.columns[:2]) == {"run_id", "video_id"}
    assert list(frames.columns[2:6]) == ["frame", "timestamp", "face", "face_confidence"]
    aus = list(action_units())
    assert list(frames.columns[6:]) == aus
    values = frames[aus].to_numpy()
    face = frames["face"].to_numpy(dtype=bool)
    assert np.isnan(values[~face]).all()
    assert np.isfinite(values[face]).all()
    assert values[face].min() >= 0.0 and values[face].max() <= 1.0
    per_video = frames.groupby("video_id")["frame"].agg(["count", "max"])
    assert (per_video["count"] == per_video["max"] + 1).all()
    recorded = demo_store.query("SELECT video_id, n_frames FROM runs").set_index("video_id")["n_frames"]
    assert per_video["count"].sort_index().tolist() == recorded.sort_index().tolist()


def test_planted_mean_effects_are_recovered_and_noise_aus_are_not(demo_store: Catalog) -> None:
    files = sorted(demo_store.paths.frames.rglob("*.parquet"))
    features = features_from_shards(files)
    aus = list(action_units())
    result = associate(features[["video_id", *aus]], _clinical(demo_store), "bdi", ["age", "sex", "camera"])
    result = result.set_index("feature")
    planted = {e.au: np.sign(e.per_sd_bdi) for e in planted_effects() if e.kind == "mean"}
    for au, sign in planted.items():
        assert bool(result.loc[au, "significant"]), au
        assert np.sign(result.loc[au, "r"]) == sign, au
    unplanted = [au for au in aus if au not in {e.au for e in planted_effects()}]
    assert not result.loc[unplanted, "significant"].astype(bool).any()


def test_planted_amplitude_follows_bdi_at_its_period() -> None:
    # The oscillation's power at the planted period grows (or shrinks) with BDI,
    # measured with a plain periodogram, independent of the wavelet module.
    effect = next(e for e in planted_effects() if e.kind == "amplitude")
    level = np.zeros(len(action_units()))
    amplitudes = []
    for bdi in (5.0, 25.0, 45.0):
        frames = demo_frames(bdi, "camera A", level, seed=7)
        values = frames[effect.au].interpolate(limit_direction="both").to_numpy()
        values = values - values.mean()
        spectrum = np.abs(np.fft.rfft(values)) / len(values) * 2
        freqs = np.fft.rfftfreq(len(values), d=float(frames["timestamp"].diff().median()))
        amplitudes.append(spectrum[np.argmin(np.abs(freqs - 1 / effect.period_s))])
    order = np.argsort(amplitudes)
    assert list(order) == ([0, 1, 2] if effect.per_sd_bdi > 0 else [2, 1, 0])


def test_sample_videos_are_ingested_once_and_marked_synthetic(catalog: Catalog) -> None:
    first = load_demo(catalog, n_patients=2)
    assert first.sample_videos == len(SAMPLE_VIDEOS)
    assert catalog.scalar("SELECT count(*) FROM videos WHERE stored_path IS NOT NULL AND synthetic") == len(
        SAMPLE_VIDEOS
    )
    again = load_demo(catalog, n_patients=2)
    assert again.sample_videos == 0
    assert catalog.scalar("SELECT count(*) FROM videos WHERE NOT synthetic") == 0


def test_a_users_upload_of_a_sample_video_is_left_unchanged(catalog: Catalog, feat_data) -> None:
    from facs_core.services.ingest import ingest_video

    record, _ = ingest_video(
        catalog,
        feat_data / "single_face.mp4",
        user=OPERATOR,
        original_name="interview.mp4",
        patient_id="P017",
        scores={"bdi": 30},
    )
    before = catalog.query("SELECT * FROM videos WHERE video_id = ?", [record["video_id"]])
    result = load_demo(catalog, n_patients=2)
    after = catalog.query("SELECT * FROM videos WHERE video_id = ?", [record["video_id"]])
    assert after.equals(before)
    assert catalog.scalar("SELECT synthetic FROM patients WHERE patient_id = 'P017'") is False
    assert catalog.scalar("SELECT score FROM assessments WHERE video_id = ?", [record["video_id"]]) == 30
    assert any(record["video_id"] in message for message in result.messages)
    assert result.sample_videos == len(SAMPLE_VIDEOS) - 1


def test_demo_command_loads_and_refuses_bad_counts(data_dir, capsys) -> None:
    from facs_core.cli import main

    assert main(["--data-dir", str(data_dir), "demo", "--no-videos", "--patients", "3"]) == 0
    out = capsys.readouterr().out
    assert "synthetic demo: 3 patients, 6 synthetic visits" in out
    catalog = open_catalog(data_dir)
    try:
        assert catalog.scalar("SELECT count(*) FROM videos WHERE synthetic") == 6
    finally:
        catalog.close()
    assert main(["--data-dir", str(data_dir), "demo", "--patients", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --patients 1") and err.count("\n") == 1
