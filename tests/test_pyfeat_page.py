"""The Extraction page says which backends are ready and how to make one ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from facs_core.errors import InputError
from facs_core.services import jobs
from facs_core.services.access import LocalOperator, User
from facs_core.services.ingest import ingest_video
from store import Catalog
from tests.apptest_pages import no_exception, page, texts

#: What a clinician is told when py-feat's weights are missing: what to do, no folder, no variable, no flag.
NOT_INSTALLED = (
    "py-feat's model weights are not installed; an administrator installs them with"
    " `python -m facs_core models import BUNDLE.tar`"
)


def _backends_text(at) -> str:
    return texts(at.markdown) + " " + texts(at.caption)


def _without_pyfeat_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACS_PYFEAT_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("FACS_PYFEAT_FAKE_TOKEN", raising=False)


def _stored_video(store: Catalog, feat_data: Path) -> str:
    record, _ = ingest_video(
        store,
        feat_data / "single_face.mp4",
        user=LocalOperator("test"),
        original_name="single_face.mp4",
        patient_id="P001",
        scores={"bdi": 12},
    )
    return record["video_id"]


def test_a_job_with_a_backend_that_is_not_ready_is_refused(
    empty_store: Catalog, feat_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_pyfeat_weights(tmp_path, monkeypatch)
    video = _stored_video(empty_store, feat_data)
    before = empty_store.scalar("SELECT count(*) FROM audit_log")
    with pytest.raises(InputError) as refused:
        jobs.submit_extraction(empty_store, [video], "pyfeat", {}, User("admin1", "admin"))
    assert str(refused.value) == NOT_INSTALLED
    assert jobs.backend_refusal("pyfeat") == NOT_INSTALLED
    # Nothing queued, nothing recorded: no driver will ever try to fetch the weights.
    assert empty_store.scalar("SELECT count(*) FROM jobs") == 0
    assert empty_store.scalar("SELECT count(*) FROM runs") == 0
    assert empty_store.scalar("SELECT count(*) FROM audit_log") == before


def test_a_ready_backend_is_queued(empty_store: Catalog, feat_data: Path, pyfeat_env: dict[str, str]) -> None:
    video = _stored_video(empty_store, feat_data)
    assert jobs.backend_refusal("pyfeat") is None
    (job,) = jobs.submit_extraction(empty_store, [video], "pyfeat", {}, LocalOperator("test"))
    assert empty_store.scalar("SELECT status FROM jobs WHERE job_id = ?", [job]) == "queued"


def test_a_failed_job_of_a_backend_no_longer_ready_is_not_retried(
    empty_store: Catalog, feat_data: Path, pyfeat_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store import job_rows

    video = _stored_video(empty_store, feat_data)
    (job,) = jobs.submit_extraction(empty_store, [video], "pyfeat", {}, LocalOperator("test"))
    job_rows.set_job_status(empty_store, job, "failed", error="weights missing")
    _without_pyfeat_weights(tmp_path, monkeypatch)
    with pytest.raises(InputError) as refused:
        jobs.retry_job(empty_store, job, LocalOperator("test"))
    assert str(refused.value) == NOT_INSTALLED
    assert empty_store.scalar("SELECT status FROM jobs WHERE job_id = ?", [job]) == "failed"


def test_extraction_page_does_not_offer_a_backend_that_is_not_ready(
    empty_store: Catalog, feat_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_pyfeat_weights(tmp_path, monkeypatch)
    _stored_video(empty_store, feat_data)
    at = page("extraction", empty_store, "clinician", ("P001",)).run()
    no_exception(at)
    assert at.selectbox(key="ex_backend").options == ["mediapipe"]
    assert f"pyfeat is not offered: {NOT_INSTALLED}." in texts(at.caption)


def test_extraction_page_shows_pyfeat_not_ready_and_how(empty_store, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FACS_PYFEAT_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    at = page("extraction", empty_store, "clinician").run()
    no_exception(at)
    shown = _backends_text(at)
    assert "**pyfeat** · not ready" in shown
    assert "models import BUNDLE.tar" in shown and "models export pyfeat" in shown


@pytest.mark.parametrize("with_token", [False, True], ids=["fake-refused", "fake-with-token"])
def test_extraction_page_on_a_generated_set(
    empty_store,
    pyfeat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    with_token: bool,
) -> None:
    if not with_token:
        monkeypatch.delenv("FACS_PYFEAT_FAKE_TOKEN")
    at = page("extraction", empty_store, "clinician").run()
    no_exception(at)
    shown = _backends_text(at)
    if with_token:
        assert "**pyfeat** · ready" in shown and "GENERATED TEST SET" in shown
    else:
        assert "**pyfeat** · not ready" in shown and "generated test weights (marked fake)" in shown


def test_patient_page_shows_backend_agreement(demo_store) -> None:
    import pandas as pd

    from facs_core import datasets
    from facs_core.stats.agreement import agreement_table
    from store import runs as run_rows
    from web import page_data

    runs = page_data.latest_runs(demo_store)
    video, patient = runs.iloc[0]["video_id"], runs.iloc[0]["patient_id"]
    first = pd.read_parquet(demo_store.paths.root / runs.iloc[0]["shard_path"])
    second = datasets.rescored(first.drop(columns=["run_id", "video_id"]), 0, scale=0.9, offset=0.0, noise=0.02)
    run_id = run_rows.run_id_for(run_rows.params_hash({"agreement-test": video}))
    run_rows.add_finished_run(
        demo_store,
        run_id,
        second,
        video_id=video,
        backend="pyfeat",
        backend_version="test",
        params={},
        hash_hex=run_id,
    )
    at = page("patient", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    at.selectbox(key="pp_visit").set_value(video).run()
    no_exception(at)
    shown = next(d.value for d in at.dataframe if "ICC(3,1)" in d.value.columns).set_index("AU")
    # Read as a reader reads it: labelled columns, no raw names, no "None".
    assert not [c for c in shown.columns if "_" in c] and "None" not in shown.to_csv()
    # pyfeat is the first backend by default, the demo's run the second.
    expected = agreement_table(second, first.drop(columns=["run_id", "video_id"])).set_index("au")
    assert shown.index.tolist() == expected.index.tolist()
    # Shown to three significant digits.
    values = pd.to_numeric(shown["ICC(3,1)"])
    assert (abs(values - expected["icc_3_1"]) <= 5e-3 * abs(expected["icc_3_1"]) + 5e-4).all()


def test_backend_choice_belongs_to_its_visit(demo_store) -> None:
    """A backend chosen for one visit's agreement does not carry over to another visit with other backends."""
    import pandas as pd

    from tests.store_helpers import add_backend_run
    from web import page_data

    runs = page_data.latest_runs(demo_store)
    patient = runs.iloc[0]["patient_id"]
    earlier, later = demo_store.query(
        "SELECT video_id FROM videos WHERE patient_id = ? ORDER BY visit_date", [patient]
    )["video_id"].tolist()
    # The earlier visit has py-feat and the demo's runs; the later one MediaPipe as well.
    for video, backend in ((earlier, "pyfeat"), (later, "pyfeat"), (later, "mediapipe")):
        shard = runs.set_index("video_id").loc[video, "shard_path"]
        frames = pd.read_parquet(demo_store.paths.root / shard).drop(columns=["run_id", "video_id"])
        add_backend_run(demo_store, video, frames, backend)
    at = page("patient", demo_store, "clinician", (patient,)).run()
    at.selectbox(key="pp_visit").set_value(earlier).run()
    no_exception(at)
    assert at.selectbox(key=f"ag_second_{earlier}").value == "synthetic"
    at.selectbox(key="pp_visit").set_value(later).run()
    no_exception(at)
    # The later visit offers its own backends, the first of them chosen: not the earlier visit's "synthetic".
    assert at.selectbox(key=f"ag_second_{later}").options == ["mediapipe", "synthetic"]
    assert at.selectbox(key=f"ag_second_{later}").value == "mediapipe"
