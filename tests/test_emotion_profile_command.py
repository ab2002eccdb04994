"""The Patient profile's emotion heatmap and its command line give the same table.

The emotion panel shows, as the AU panel does, the ``python -m facs_core stats
profile --from-store --measures emotions`` command that reproduces it; the
test takes the command from the page, runs it as a process on the same store
and compares the written table with the page's to 1e-12.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core.importers import PYFEAT_EMOTIONS
from facs_core.services import analysis
from store import Catalog
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
    assert argv[:5] == ["python", "-m", "facs_core", "stats", "profile"], command
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
    # The reference is the visits with emotions (every second visit's py-feat run), and the reader sees the hash.
    assert written["n_reference"].iloc[0] == 30 and written["measures"].iloc[0] == "emotions"
    assert f"inputs sha256: {written['inputs_sha256'].iloc[0]}" in texts(at.caption)


def test_no_emotion_panel_and_no_command_without_emotions(demo_store: Catalog) -> None:
    patient = demo_store.query("SELECT patient_id FROM videos ORDER BY patient_id LIMIT 1")["patient_id"].iloc[0]
    at = page("patient", demo_store, "clinician", (patient,)).run()
    no_exception(at)
    assert "pp_command" in at.session_state and "pp_emotion_command" not in at.session_state
