"""The Cohort statistics page says how many frames each analysed visit left out, and why.

Only confident patient frames enter the statistics (``facs_core.features``);
the page's "Frames left out per visit" table gives, per visit, the frames of
the analysed window, those used, and those left out, among them the frames
whose face identity was uncertain and those with only another person's face.
The expected numbers are counted here from the stored shard itself.
"""

from __future__ import annotations

import re

import pandas as pd

from facs_core.services import analysis
from facs_core.tracking import STATUS_OTHER_FACE
from store import Catalog
from store.shards import write_shard
from tests.apptest_pages import no_exception, page, texts


def _mark_frames(store: Catalog, video_id: str) -> pd.DataFrame:
    """Rewrite a visit's shard with 50 frames of uncertain identity and 30 of another face only; return it."""
    run = analysis.latest_runs(store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(store.paths.root / run["shard_path"]).sort_values("frame").reset_index(drop=True)
    frames = frames.drop(columns=["video_id", "run_id"], errors="ignore")
    frames["identity_uncertain"] = False
    frames["face_status"] = "patient"
    frames.loc[100:149, "face"] = True
    frames.loc[100:149, "identity_uncertain"] = True
    frames.loc[200:229, "face"] = False
    frames.loc[200:229, "face_status"] = STATUS_OTHER_FACE
    write_shard(store.paths, str(run["run_id"]), video_id, frames)
    return frames


def _counts(frames: pd.DataFrame) -> dict[str, int]:
    """The frame counts of one whole-video shard, counted directly."""
    absent = pd.Series(False, index=frames.index)
    face = frames["face"].fillna(False).astype(bool)
    uncertain = frames.get("identity_uncertain", absent).fillna(False).astype(bool)
    other = frames.get("face_status", absent).astype(str) == STATUS_OTHER_FACE
    used = int((face & ~uncertain).sum())
    return {
        "Frames analysed": len(frames),
        "Frames used": used,
        "Frames left out": len(frames) - used,
        "No patient face": int((~face & ~other).sum()),
        "Uncertain patient face": int((face & uncertain).sum()),
        "Other face": int(other.sum()),
    }


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", str(text)))


def test_cohort_page_lists_the_frames_left_out_per_visit(demo_store: Catalog) -> None:
    marked = demo_store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT 1")["video_id"].iloc[0]
    _mark_frames(demo_store, marked)
    runs = analysis.latest_runs(demo_store)
    expected = {
        row.video_id: _counts(pd.read_parquet(demo_store.paths.root / row.shard_path)) for row in runs.itertuples()
    }
    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    [table] = [t.value for t in at.dataframe if "Uncertain patient face" in t.value.columns]
    # Human labels, and nothing a researcher may not see.
    assert list(table.columns) == ["Patient", "Video", "Visit date", *_counts(pd.DataFrame({"face": []}))]
    assert len(table) == len(expected) == 60
    for row in table.to_dict("records"):
        assert {k: _number(row[k]) for k in expected[row["Video"]]} == expected[row["Video"]], row["Video"]
    # The visit with the most frames left out comes first.
    assert table["Video"].iloc[0] == marked
    totals = {k: sum(e[k] for e in expected.values()) for k in expected[marked]}
    assert totals["Uncertain patient face"] == 50 and totals["Other face"] == 30
    caption = texts(at.caption)
    assert (
        f"Of {totals['Frames analysed']:,} frames of the 60 analysed visits, {totals['Frames left out']:,} were"
        f" left out: {totals['No patient face']:,} with no patient face (no face found), 50 with an uncertain"
        " patient face (a face, but not surely the patient's), 30 with only another person's face." in caption
    ), caption


def test_frames_left_out_follow_the_segment_filter(demo_store: Catalog) -> None:
    ids = demo_store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT 12")["video_id"].tolist()
    marks = ", ".join("?" for _ in ids)
    demo_store.execute(f"UPDATE segments SET label = 'sleep' WHERE video_id IN ({marks})", ids)
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_segments").set_value("sleep").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    [table] = [t.value for t in at.dataframe if "Uncertain patient face" in t.value.columns]
    assert sorted(table["Video"]) == sorted(ids)
    segments = demo_store.query(f"SELECT video_id, start_s, end_s FROM segments WHERE video_id IN ({marks})", ids)
    runs = analysis.latest_runs(demo_store).set_index("video_id")
    for row in table.to_dict("records"):
        frames = pd.read_parquet(demo_store.paths.root / runs.at[row["Video"], "shard_path"])
        inside = pd.Series(False, index=frames.index)
        for span in segments[segments["video_id"] == row["Video"]].itertuples():
            inside |= (frames["timestamp"] >= span.start_s) & (frames["timestamp"] < span.end_s)
        assert _number(row["Frames analysed"]) == int(inside.sum()) < len(frames)
