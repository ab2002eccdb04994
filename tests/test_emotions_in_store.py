"""py-feat's seven emotions through a store: Patient profile, Cohort statistics and exports, labelled by backend.

The Patient profile's emotion panel shows, as the AU panel does, the
``python -m facs_core stats profile --from-store --measures emotions`` command
that reproduces it; the tests take each command from its page, run it as a
process on the same store and compare the written table with the page's to
1e-12. Half the demo visits are re-extracted by "py-feat" with emotions, so
each statistic and export must say which backend measured what.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core.importers import PYFEAT_EMOTIONS
from facs_core.services import analysis
from facs_core.services.access import User
from facs_core.services.downloads import export_for, features_export
from facs_core.stats.cohort import CohortParams
from store import Catalog, users
from store.runs import add_finished_run
from tests.apptest_pages import REPO, no_exception, page, texts


def _reextract_with_emotions(store: Catalog, every: int = 1) -> None:
    """A py-feat run of every ``every``-th demo visit: its AUs as stored, plus softmax emotion probabilities."""
    rng = np.random.default_rng(7)
    runs = analysis.latest_runs(store)
    for row in runs.iloc[::every].itertuples():
        frames = pd.read_parquet(store.paths.root / row.shard_path).drop(columns=["run_id", "video_id"])
        logits = rng.normal(size=(len(frames), len(PYFEAT_EMOTIONS))) + rng.normal(size=len(PYFEAT_EMOTIONS))
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        for i, emotion in enumerate(PYFEAT_EMOTIONS):
            frames[emotion] = np.where(frames["face"], probabilities[:, i], np.nan)
        add_finished_run(
            store,
            f"pyfeat-{row.video_id}",
            frames,
            video_id=row.video_id,
            backend="pyfeat",
            backend_version="2.1.5",
            params={"test": "emotions"},
            hash_hex="0" * 64,
        )


def _run(command: str, store: Catalog, folder: Path) -> pd.DataFrame:
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "facs_core", "stats"] and "--from-store" in argv, command
    env = {**os.environ, "FACS_DATA_DIR": str(store.paths.root), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(folder / argv[argv.index("--out") + 1])


def test_emotion_panel_and_its_command_give_the_same_table(demo_store: Catalog, tmp_path: Path) -> None:
    _reextract_with_emotions(demo_store, every=2)
    patient = demo_store.query("SELECT patient_id FROM videos ORDER BY patient_id LIMIT 1")["patient_id"].iloc[0]
    at = page("patient", demo_store, "clinician", (patient,)).run()
    at.radio(key="pp_mode").set_value("percentile").run()
    no_exception(at)
    command = at.session_state["pp_emotion_command"]
    assert command in [c.value for c in at.code] and command != at.session_state["pp_command"]
    assert f"--patient {patient}" in command and "--measures emotions" in command and "--mode percentile" in command
    shown = at.session_state["pp_emotion_table"]
    assert set(shown["AU"]) == set(PYFEAT_EMOTIONS) and shown["value"].notna().any()
    written = _run(command, demo_store, tmp_path)
    assert shown["video_id"].tolist() == written["video_id"].tolist() and shown["AU"].tolist() == written["AU"].tolist()
    for column in ("mean", "value"):
        np.testing.assert_allclose(written[column], shown[column], rtol=0, atol=1e-12)
    for column in ("mode", "measures", "data_source", "n_reference", "inputs_sha256"):
        assert shown[column].astype(str).tolist() == written[column].astype(str).tolist(), column
    # The reference is the other patients' visits with emotions (every second visit's py-feat run), and the
    # reader sees the hash.
    runs = analysis.latest_runs(demo_store)
    with_emotions = runs.loc[runs["backend"] == "pyfeat", "patient_id"]
    assert len(with_emotions) == 30
    assert written["n_reference"].iloc[0] == int((with_emotions != patient).sum())
    assert written["measures"].iloc[0] == "emotions"
    assert f"inputs sha256: {written['inputs_sha256'].iloc[0]}" in texts(at.caption)
    # Two tables, two expanders that say which table they reproduce.
    titles = [e.label for e in at.expander]
    assert "Provenance and the command that reproduces the emotion table" in titles
    assert "Provenance and the command that reproduces the AU table" in titles
    # This patient's visit measured without emotions is named under the heatmap, with why.
    mine = runs.loc[runs["patient_id"] == patient].set_index("video_id")["backend"]
    assert sorted(mine) == ["pyfeat", "synthetic"], mine
    without = mine.index[mine == "synthetic"][0]
    assert re.search(
        rf"No emotion row for \d{{4}}-\d\d-\d\d · {without}: the synthetic backend measures no emotions",
        texts(at.caption),
    ), texts(at.caption)


def test_no_emotion_panel_and_no_command_without_emotions(demo_store: Catalog) -> None:
    patient = demo_store.query("SELECT patient_id FROM videos ORDER BY patient_id LIMIT 1")["patient_id"].iloc[0]
    at = page("patient", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert "pp_command" in at.session_state and "pp_emotion_command" not in at.session_state


def test_emotions_relate_to_a_score_on_the_cohort_page_and_export_labelled_by_backend(
    demo_store: Catalog, tmp_path: Path
) -> None:
    _reextract_with_emotions(demo_store, every=2)
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_feature").set_value("emotion_mean").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    result = at.session_state["cohort_result"]
    assert result["feature"].tolist() == list(PYFEAT_EMOTIONS)
    # Only the py-feat visits have emotions: n is theirs, and each row says which backend measured it.
    assert (result["n"] == 30).all() and (result["backends"] == "pyfeat 2.1.5").all()
    assert result.attrs["provenance"]["backends"] == "pyfeat 2.1.5; synthetic 0.1.0"
    assert "backends: pyfeat 2.1.5; synthetic 0.1.0" in texts(at.caption)
    written = _run(at.session_state["cohort_command"], demo_store, tmp_path)
    assert written["au"].tolist() == result["feature"].tolist()
    np.testing.assert_allclose(written["r"], result["r"], rtol=0, atol=1e-12)
    assert written["backends"].tolist() == result["backends"].tolist()

    users.add_user(demo_store, "researcher9", "researcher", "correct-horse-battery", actor="test")
    user = User("researcher9", "researcher")
    csv = pd.read_csv(io.BytesIO(export_for(demo_store, user, result, what="cohort statistics")))
    assert csv["backends"].tolist() == ["pyfeat 2.1.5"] * 7
    # An AU row is measured by every backend of the cohort.
    aus = analysis.cohort_statistics(demo_store, analysis.operator_viewer(), CohortParams("bdi", ("age",)))
    assert (aus["backends"] == "pyfeat 2.1.5; synthetic 0.1.0").all()

    features = features_export(demo_store, analysis.operator_viewer())
    pyfeat = features["backend"] == "pyfeat"
    assert pyfeat.sum() == 30 and (features.loc[pyfeat, "backend_version"] == "2.1.5").all()
    for emotion in PYFEAT_EMOTIONS:
        assert features.loc[pyfeat, emotion].notna().all() and features.loc[~pyfeat, emotion].isna().all()
        assert {f"{emotion}_rate", f"{emotion}_sd"} <= set(features.columns)
    assert features.attrs["provenance"]["backends"] == "pyfeat 2.1.5; synthetic 0.1.0"
