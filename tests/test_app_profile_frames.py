"""The Patient profile says, per visit, how many frames the statistics left out and why (AppTest, real store).

Two demo visits of one patient get a newer extraction run whose shard carries
the patient track's columns (``facs_core.datasets.with_patient_track``): some
frames with the patient's face of uncertain identity, some with only another
person's face, some with no face. The page must show, for each visit, the
counts the store's features give, under a reader's labels.
"""

from __future__ import annotations

import pandas as pd
import pytest

from facs_core import datasets
from facs_core.services import analysis
from store import Catalog, listings
from store.runs import add_finished_run
from tests.apptest_pages import no_exception, page

REASONS = {"No patient face": "no_face", "Uncertain patient face": "uncertain", "Other face": "other"}


def _tracked_run(store: Catalog, video_id: str, seed: int) -> None:
    """A newer run of ``video_id`` whose frames carry the patient track's outcome."""
    run = listings.latest_runs(store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(store.paths.root / run["shard_path"])
    frames = datasets.with_patient_track(frames, seed)
    run_id = f"{run['run_id']}-tracked"
    add_finished_run(
        store,
        run_id,
        frames,
        video_id=video_id,
        backend=run["backend"],
        backend_version=run["backend_version"],
        params={"patient_track": True},
        hash_hex=run_id,
    )


def _left_out_table(at) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if "Uncertain patient face" in d.value.columns]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


@pytest.mark.slow
def test_profile_shows_the_frames_left_out_of_each_visit_and_why(demo_store: Catalog) -> None:
    patient = demo_store.scalar("SELECT patient_id FROM videos ORDER BY patient_id LIMIT 1")
    visits = demo_store.query("SELECT video_id FROM videos WHERE patient_id = ? ORDER BY visit_date", [patient])
    video_ids = visits["video_id"].tolist()
    assert len(video_ids) >= 2
    for seed, video_id in enumerate(video_ids):
        _tracked_run(demo_store, video_id, seed)

    # What the store says, computed apart from the page.
    features = analysis.video_features(demo_store).set_index("video_id").loc[video_ids]
    expected = pd.DataFrame(
        {
            "Frames analysed": features["n_frames"],
            "Frames used": features["n_face_frames"],
            "Frames left out": features["n_no_face_frames"],
            "uncertain": features["n_uncertain_frames"],
            "other": features["n_other_face_frames"],
        }
    )
    expected["no_face"] = expected["Frames left out"] - expected["uncertain"] - expected["other"]
    # Every reason occurs, so a swapped or dropped column cannot pass.
    assert (expected[["no_face", "uncertain", "other"]] > 0).all().all(), expected

    at = page("patient", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert "Frames left out per visit" in [h.value for h in at.subheader]
    shown = _left_out_table(at)
    assert list(shown["Video"]) == video_ids
    text = shown.to_csv()
    assert "None" not in text and "nan" not in text and "_" not in "".join(shown.columns)
    for row in shown.itertuples(index=False):
        cells = dict(zip(shown.columns, row, strict=True))
        want = expected.loc[cells["Video"]]
        for column in ("Frames analysed", "Frames used", "Frames left out"):
            assert cells[column] == str(int(want[column])), (column, cells)
        for label, key in REASONS.items():
            assert cells[label] == str(int(want[key])), (label, cells)
        assert int(cells["Frames used"]) + int(cells["Frames left out"]) == int(cells["Frames analysed"])
    captions = " ".join(c.value for c in at.caption)
    assert "no patient face" in captions and "uncertain patient face" in captions and "other face" in captions
