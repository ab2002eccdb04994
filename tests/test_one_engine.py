"""One engine: each results panel's command line, run as a process on the same store, gives the page's table.

The Cohort statistics and Significance map pages show under their results the
``python -m facs_core ... --from-store`` command that reproduces them; these
tests take that command from the page, run it (a real process on the real
store) and compare its output with the table the page drew, to 1e-12.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from facs_core.services import analysis
from facs_core.stats.cohort import CohortParams
from facs_core.stats.provenance import PROVENANCE_COLUMNS
from store import Catalog
from tests.apptest_pages import REPO, no_exception, page, texts

NUMBERS = ("n", "r", "ci_low", "ci_high", "p", "p_fdr", "df")
#: Numbers of the optional second analyses (--mixed-model, --permutations N) and of the frames-at-one-rate map.
OPTIONAL_NUMBERS = (
    "mixed_n",
    "mixed_n_patients",
    "mixed_beta",
    "mixed_ci_low",
    "mixed_ci_high",
    "mixed_p",
    "perm_n",
    "perm_r",
    "perm_p",
    "perm_n_permutations",
    "scale",
    "period_s",
    "n_short",
    "n_unresolved",
)


def run_shown_command(command: str, store: Catalog, folder: Path) -> pd.DataFrame:
    """Run the page's command as a user would paste it, in ``folder``, on the page's store."""
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "facs_core"], command
    assert "--from-store" in argv
    return run_command(argv, store, folder)


def run_command(argv: list[str], store: Catalog, folder: Path) -> pd.DataFrame:
    """Run ``python -m facs_core ...`` (``argv``) with ``$FACS_DATA_DIR`` the store's; read the table it writes."""
    env = {**os.environ, "FACS_DATA_DIR": str(store.paths.root), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(folder / argv[argv.index("--out") + 1], keep_default_na=True)


def assert_same_table(shown: pd.DataFrame, written: pd.DataFrame, key: str) -> None:
    assert len(shown) == len(written)
    assert shown[key].astype(str).tolist() == written[key].astype(str).tolist()
    for column in NUMBERS:
        np.testing.assert_allclose(
            written[column].to_numpy(dtype=float), shown[column].to_numpy(dtype=float), rtol=0, atol=1e-12
        )
    for column in OPTIONAL_NUMBERS:
        assert (column in shown) == (column in written), column
        if column in shown:
            np.testing.assert_allclose(
                written[column].to_numpy(dtype=float), shown[column].to_numpy(dtype=float), rtol=0, atol=1e-12
            )
    assert shown["significant"].fillna(False).tolist() == written["significant"].fillna(False).astype(bool).tolist()
    for column in ("method", "correction", "segments", *PROVENANCE_COLUMNS[1:]):
        assert shown[column].astype(str).tolist() == written[column].astype(str).tolist(), column


def test_cohort_page_and_its_command_give_the_same_table(demo_store: Catalog, tmp_path: Path) -> None:
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_method").set_value("spearman").run()
    at.selectbox(key="cohort_correction").set_value("by").run()
    at.selectbox(key="cohort_feature").set_value("sd")
    at.number_input(key="cohort_alpha").set_value(0.1).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    command = at.session_state["cohort_command"]
    assert command in [c.value for c in at.code]
    # A researcher does not see the server's data folder: the command reads $FACS_DATA_DIR.
    assert "--data-dir" not in command and str(demo_store.paths.root) not in command
    shown = at.session_state["cohort_result"]
    assert shown["feature"].str.endswith("_sd").all() and (shown["method"] == "partial spearman").all()
    assert "--alpha 0.1" in command and (shown["correction"] == "Benjamini-Yekutieli FDR at 0.1").all()
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written.rename(columns={"au": "feature"}), "feature")
    assert_page_shows_the_commands_hash(at, written)


def assert_page_shows_the_commands_hash(at, written: pd.DataFrame) -> None:
    """The provenance line the reader sees names the hash the command writes."""
    digest = written["inputs_sha256"].astype(str).unique().tolist()
    assert len(digest) == 1, digest
    assert any(f"inputs sha256: {digest[0]}" in c.value for c in at.caption), [c.value for c in at.caption]


def test_significance_page_and_its_command_give_the_same_map(demo_store: Catalog, tmp_path: Path) -> None:
    at = page("significance", demo_store, "researcher").run()
    at.selectbox(key="map_scope").set_value("au")
    at.number_input(key="map_period_count").set_value(12)
    at.number_input(key="map_period_low").set_value(0.3)
    at.number_input(key="map_max_gap").set_value(1.0)
    at.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    command = at.session_state["map_command"]
    assert command in [c.value for c in at.code]
    assert "--periods 0.3-10 --period-count 12" in command and "--fdr-scope au" in command
    assert "--max-gap 1 " in command
    shown = at.session_state["map_result"]
    assert shown["period_s"].nunique() == 12
    assert (shown["fdr_scope"] == "per AU").all()
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written, "au")
    assert_page_shows_the_commands_hash(at, written)
    np.testing.assert_allclose(written["period_s"], shown["period_s"], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("spacing", "entries", "expected"),
    [
        ("step", {"map_period_low": 0.5, "map_period_high": 2.0, "map_period_step": 0.25}, "--periods 0.5-2:0.25 "),
        ("list", {"map_period_list": "0.4, 1.5,3"}, "--periods '0.4, 1.5,3' "),
    ],
)
def test_significance_page_takes_every_periods_form_of_the_command(
    demo_store: Catalog, tmp_path: Path, spacing: str, entries: dict, expected: str
) -> None:
    at = page("significance", demo_store, "researcher").run()
    at.radio(key="map_period_spacing").set_value(spacing).run()
    for key, value in entries.items():
        widget = at.text_input(key=key) if isinstance(value, str) else at.number_input(key=key)
        widget.set_value(value)
    at.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    command = at.session_state["map_command"]
    assert expected in command and "--period-count" not in command, command
    shown = at.session_state["map_result"]
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written, "au")
    np.testing.assert_allclose(written["period_s"], shown["period_s"], rtol=0, atol=1e-12)
    wanted = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0] if spacing == "step" else [0.4, 1.5, 3.0]
    np.testing.assert_allclose(np.sort(shown["period_s"].unique()), wanted, rtol=0, atol=1e-12)


def test_significance_page_refuses_more_periods_than_it_maps_in_one_line(demo_store: Catalog) -> None:
    at = page("significance", demo_store, "researcher").run()
    at.radio(key="map_period_spacing").set_value("step").run()
    at.number_input(key="map_period_step").set_value(0.01).run()
    no_exception(at)
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "0.2-10:0.01" in errors[0] and "at most 200" in errors[0], errors
    assert "\n" not in errors[0]
    assert "inputs sha256" not in texts(at.caption), "a map was drawn"


def test_within_au_correction_is_the_engines_not_a_page_split(demo_store: Catalog) -> None:
    # The map's per-AU family is the engine's fdr_scope="au": each AU's periods corrected together.
    from facs_core.stats.multicomp import adjust_pvalues
    from facs_core.wavelets import AssociationParams

    params = analysis.MapParams.from_range(0.5, 8, 6)
    association = AssociationParams("bdi", ("age", "sex"), fdr="bh", fdr_scope="au")
    table = analysis.significance_map(demo_store, analysis.operator_viewer(), association, params)
    for _, cells in table.groupby("au"):
        expected, _ = adjust_pvalues(cells["p"].to_numpy(), "bh")
        np.testing.assert_allclose(cells["p_fdr"], expected, rtol=0, atol=1e-15)


def _make_real(store: Catalog, count: int) -> list[str]:
    """Mark the first ``count`` demo visits as real (not synthetic), as an upload would be."""
    ids = store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT ?", [count])["video_id"].tolist()
    marks = ", ".join("?" for _ in ids)
    store.execute(f"UPDATE videos SET synthetic = FALSE WHERE video_id IN ({marks})", ids)
    return ids


def test_data_source_filter_applies_to_statistics_and_defaults_to_real(demo_store: Catalog) -> None:
    real = _make_real(demo_store, 20)
    viewer = analysis.operator_viewer()
    params = CohortParams("bdi", ("age", "sex"))
    default = analysis.cohort_statistics(demo_store, viewer, params)
    assert sorted(default.attrs["video_ids"]) == sorted(real)
    assert (default["data_source"] == "real").all() and (default["n"] == 20).all()
    assert any("40 synthetic visits left out" in note for note in default.attrs["notes"])
    synthetic = analysis.cohort_statistics(demo_store, viewer, params, analysis.CohortChoice(source="synthetic"))
    assert not set(synthetic.attrs["video_ids"]) & set(real) and (synthetic["n"] == 40).all()
    both = analysis.cohort_statistics(demo_store, viewer, params, analysis.CohortChoice(source="both"))
    assert (both["n"] == 60).all()
    hashes = {table["inputs_sha256"].iloc[0] for table in (default, synthetic, both)}
    assert len(hashes) == 3


@pytest.mark.parametrize(("name", "key"), [("cohort", "cohort_source"), ("significance", "map_source")])
def test_too_few_real_visits_land_on_an_explanation_not_an_error(demo_store: Catalog, name: str, key: str) -> None:
    _make_real(demo_store, 1)
    at = page(name, demo_store, "researcher").run()
    no_exception(at)
    assert at.selectbox(key=key).value == "real"
    assert not at.error, [e.value for e in at.error]
    note = texts(at.info)
    assert "There is 1 real visit so far, 1 with extracted features" in note, note
    assert "\u201csynthetic demo visits only\u201d or \u201creal and synthetic visits\u201d under Data source" in note


def test_too_few_visits_names_the_covariates_dropped_as_constant() -> None:
    from facs_core.errors import TooFewVisitsError
    from facs_core.stats.partial_corr import prepare

    clinical = pd.DataFrame(
        {"video_id": ["v1"], "patient_id": ["p1"], "bdi": [12.0], "age": [40.0], "sex": ["f"], "camera": ["c1"]}
    )
    features = pd.DataFrame({"video_id": ["v1"], "AU12": [0.5]})
    with pytest.raises(TooFewVisitsError) as raised:
        prepare(features, clinical, "bdi", ["age", "sex", "camera"])
    assert str(raised.value) == (
        "only 1 video has features, bdi and every covariate; a partial correlation adjusting for age"
        " (1 covariate column; sex, camera constant among them, dropped) needs at least 4"
    )
    assert (raised.value.n, raised.value.needed) == (1, 4)


def test_cohort_page_banner_follows_the_data_source(demo_store: Catalog) -> None:
    from facs_core.services.demo import SYNTHETIC_LABEL

    _make_real(demo_store, 20)
    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    assert at.selectbox(key="cohort_source").value == "real"
    assert SYNTHETIC_LABEL not in texts(at.info)
    assert "synthetic visits left out" in texts(at.caption)
    at.selectbox(key="cohort_source").set_value("both").run()
    assert "40 visits of the 60 in this analysis are generated data" in texts(at.info)
    assert "the other 20 are real" in texts(at.info)
    at.selectbox(key="cohort_source").set_value("synthetic").run()
    assert "the visits in this analysis are generated data" in texts(at.info)


@pytest.mark.parametrize("role", ["researcher", "admin"])
def test_home_banner_counts_the_synthetic_visits_beside_real_ones(demo_store: Catalog, role: str) -> None:
    at = page("home", demo_store, role).run()
    assert "the visits in the store are generated data" in texts(at.info)
    _make_real(demo_store, 1)
    at = page("home", demo_store, role).run()
    no_exception(at)
    assert "59 visits of the 60 in the store are generated data" in texts(at.info)
    assert "the other one is real" in texts(at.info)


def test_z_score_reference_is_the_chosen_data_source(demo_store: Catalog) -> None:
    real = _make_real(demo_store, 20)
    features = analysis.video_features(demo_store)
    column = features.set_index("video_id")["AU12"]
    mine = [real[0], column.index[-1]]
    table = analysis.patient_profile(demo_store, mine, "z-score").set_index(["video_id", "AU"])
    # The reference: the source's visits of every patient but the profiled visits' own.
    patients = analysis.clinical_table(demo_store).set_index("video_id")["patient_id"]
    others = [v for v in real if patients[v] not in set(patients[mine])]
    assert 0 < len(others) < len(real)
    reference = column.loc[others]
    expected = (column.loc[mine] - reference.mean()) / reference.std(ddof=1)
    np.testing.assert_allclose(table.xs("AU12", level="AU")["value"].to_numpy(), expected.to_numpy(), atol=1e-12)
    assert table.attrs["n_reference"] == len(others) and table.attrs["source"] == "real"
    pooled = analysis.patient_profile(demo_store, mine, "z-score", source="both")
    assert pooled.attrs["n_reference"] == 60 - int(patients.isin(set(patients[mine])).sum())


def test_segments_choice_analyses_only_visits_that_have_one(demo_store: Catalog) -> None:
    from store.segment_rows import segments_for

    ids = demo_store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT 12")["video_id"].tolist()
    for video_id in ids:
        segment = segments_for(demo_store, video_id).iloc[0]
        demo_store.execute("UPDATE segments SET label = 'sleep' WHERE segment_id = ?", [int(segment["segment_id"])])
    viewer = analysis.operator_viewer()
    params = CohortParams("bdi", ("age", "sex"))
    chosen = analysis.cohort_statistics(demo_store, viewer, params, analysis.CohortChoice(segment_label="sleep"))
    assert sorted(chosen.attrs["video_ids"]) == sorted(ids) and (chosen["n"] == 12).all()
    assert "48 visits left out: no segment labelled 'sleep'" in chosen.attrs["notes"]
    assert (chosen["segments"] == "sleep").all()
    whole = analysis.cohort_statistics(demo_store, viewer, params)
    assert (whole["n"] == 60).all()
    with pytest.raises(Exception, match="no visit has a segment labelled 'nothing'"):
        analysis.cohort_statistics(demo_store, viewer, params, analysis.CohortChoice(segment_label="nothing"))


@pytest.mark.parametrize(("name", "prefix"), [("cohort", "cohort"), ("significance", "map")])
def test_a_label_only_the_other_data_source_has_is_explained_not_an_error(
    demo_store: Catalog, name: str, prefix: str
) -> None:
    from store.segment_rows import segments_for

    _make_real(demo_store, 20)
    synthetic = demo_store.query("SELECT video_id FROM videos WHERE synthetic ORDER BY video_id LIMIT 1")
    segment = segments_for(demo_store, synthetic["video_id"].iloc[0]).iloc[0]
    demo_store.execute("UPDATE segments SET label = 'sleep' WHERE segment_id = ?", [int(segment["segment_id"])])
    at = page(name, demo_store, "researcher").run()
    at.selectbox(key=f"{prefix}_segments").set_value("sleep").run()
    no_exception(at)
    assert at.selectbox(key=f"{prefix}_source").value == "real"
    assert not at.error, [e.value for e in at.error]
    note = texts(at.info)
    assert "No visit (real visits only) has a segment labelled \u201csleep\u201d" in note, note
    assert "or another data source" in note


@pytest.mark.parametrize(("name", "key"), [("cohort", "cohort_source"), ("significance", "map_source")])
def test_real_visits_only_on_a_demo_store_is_explained_not_an_error(demo_store: Catalog, name: str, key: str) -> None:
    at = page(name, demo_store, "researcher").run()
    at.selectbox(key=key).set_value("real").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert "There is no real visit in this store yet" in texts(at.info), texts(at.info)


def test_patient_profile_without_a_reference_of_that_source_keeps_the_patients_own_sections(
    demo_store: Catalog,
) -> None:
    patient = demo_store.query("SELECT patient_id FROM videos ORDER BY patient_id LIMIT 1")["patient_id"].iloc[0]
    at = page("patient", demo_store, "clinician", (patient,)).run()
    at.selectbox(key="pp_source").set_value("real").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert "There is no real visit in this store yet" in texts(at.info), texts(at.info)
    headers = texts(at.subheader)
    assert "Change between visits" in headers and "One visit over time" in headers, headers


def test_patient_profile_page_and_its_command_give_the_same_table(demo_store: Catalog, tmp_path: Path) -> None:
    patient = demo_store.query("SELECT patient_id FROM videos ORDER BY patient_id LIMIT 1")["patient_id"].iloc[0]
    at = page("patient", demo_store, "clinician", (patient,)).run()
    at.radio(key="pp_mode").set_value("percentile").run()
    no_exception(at)
    command = at.session_state["pp_command"]
    assert command in [c.value for c in at.code] and f"--patient {patient}" in command
    shown = at.session_state["pp_profile_table"]
    written = run_shown_command(command, demo_store, tmp_path)
    assert shown["video_id"].tolist() == written["video_id"].tolist() and shown["AU"].tolist() == written["AU"].tolist()
    for column in ("mean", "value"):
        np.testing.assert_allclose(written[column], shown[column], rtol=0, atol=1e-12)
    for column in ("mode", "data_source", "n_reference", "inputs_sha256"):
        assert shown[column].astype(str).tolist() == written[column].astype(str).tolist(), column


def test_exported_statistics_carry_their_provenance(demo_store: Catalog) -> None:
    import io

    import pyarrow.parquet as pq

    from facs_core.services.access import User
    from facs_core.services.downloads import export_for
    from store import users

    users.add_user(demo_store, "researcher9", "researcher", "correct-horse-battery", actor="test")
    result = analysis.without_inputs(
        analysis.cohort_statistics(demo_store, analysis.operator_viewer(), CohortParams("bdi", ("age", "sex")))
    )
    user = User("researcher9", "researcher")
    parquet = pd.read_parquet(io.BytesIO(export_for(demo_store, user, result, what="stats", fmt="parquet")))
    provenance = parquet.attrs["provenance"]
    assert provenance["covariates"] == ["age", "sex"] and provenance["n_videos"] == 60
    assert provenance["data_source"] == "synthetic" and provenance["inputs_sha256"] == result["inputs_sha256"].iloc[0]
    assert "PyWavelets" in provenance["software"] and provenance["correction"].startswith("Benjamini-Hochberg")
    assert pq.read_schema(io.BytesIO(export_for(demo_store, user, result, what="stats", fmt="parquet"))).metadata
    csv = pd.read_csv(io.BytesIO(export_for(demo_store, user, result, what="stats", fmt="csv")))
    assert {"df", "covariates", "fdr_scope", "n_videos", "data_source", "software", "inputs_sha256"} <= set(csv)
    assert (csv["df"] == 60 - 2 - result["k"].iloc[0]).all()


def _refilm(store: Catalog, video_id: str, fps: float) -> None:
    """Re-record a demo visit at ``fps``: its AU traces interpolated onto that rate's frames, the catalog's rate set."""
    from store.shards import write_shard

    run = analysis.latest_runs(store).set_index("video_id").loc[video_id]
    frames = pd.read_parquet(store.paths.root / run["shard_path"]).sort_values("frame")
    duration = float(frames["timestamp"].iloc[-1])
    t = np.arange(int(duration * fps) + 1) / fps
    table = pd.DataFrame({"frame": np.arange(t.size), "timestamp": t, "face": True, "face_confidence": 0.99})
    for column in [c for c in frames.columns if c.startswith("AU")]:
        table[column] = np.interp(t, frames["timestamp"], frames[column])
    write_shard(store.paths, str(run["run_id"]), video_id, table)
    store.execute("UPDATE videos SET fps = ? WHERE video_id = ?", [fps, video_id])


def test_mixed_frame_rates_analyse_as_one_cohort(demo_store: Catalog) -> None:
    ids = demo_store.query("SELECT video_id FROM videos ORDER BY video_id")["video_id"].tolist()
    rates = {video_id: (10.0, 23.976, 25.0, 30.0)[i % 4] for i, video_id in enumerate(ids[:24])}
    for video_id, fps in rates.items():
        if fps != 10.0:
            _refilm(demo_store, video_id, fps)
    at = page("significance", demo_store, "researcher")
    at.session_state["map_period_count"] = 10
    at.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    caption = texts(at.caption)
    # One map of every visit: no per-frame-rate cohort to choose, nobody "left out" for their rate.
    assert "60 visits (42 at 10 fps, 6 at 23.976 fps, 6 at 25 fps, 6 at 30 fps)" in caption
    assert "left out" not in caption and not [s for s in at.selectbox if s.label == "Frame rate"]
    shown = at.session_state["map_result"]
    resolved = shown[shown["period_s"] >= 0.2]
    assert (resolved["n_unresolved"] == 0).all()
    # Every visit is in every cell, except where its face-free stretches are shorter than the wavelet support.
    assert (resolved["n"] + resolved["n_short"] == 60).all() and (resolved["n"] == 60).mean() >= 0.8


def test_significance_page_writes_p_values_and_covariates_for_a_reader(demo_store: Catalog) -> None:
    import re

    at = page("significance", demo_store, "researcher").run()
    no_exception(at)
    captions = [str(c.value) for c in at.caption]
    cell = next(c for c in captions if c.startswith("period "))
    assert re.search(r" · p (< 0\.001|= 0\.\d{3}|= 1\.00) · adjusted p (< 0\.001|= 0\.\d{3}|= 1\.00) · n = ", cell), (
        cell
    )
    assert "e-" not in cell, cell
    provenance = next(c for c in captions if "inputs sha256" in c)
    assert "covariates: Age (years), Sex, Camera, Medication, Repeat visit" in provenance, provenance
    assert "AU × period cells" in provenance and "AU x " not in provenance, provenance
    labels = [str(o) for o in at.multiselect(key="map_covariates").options]
    assert labels == [
        str(o) for o in page("cohort", demo_store, "researcher").run().multiselect(key="cohort_covariates").options
    ]


def test_cohort_scatter_title_writes_the_adjusted_p_for_a_reader(demo_store: Catalog) -> None:
    import re

    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    specs = " ".join(str(chart.proto.spec) for chart in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart"))
    titles = re.findall(r"r = -?\d\.\d{3}, adjusted p [^(\"]*\(n = \d+\)", specs)
    assert titles, specs[:2000]
    assert all(re.search(r"adjusted p (< 0\.001|= 0\.\d{3}|= 1\.00) \(", t) for t in titles), titles


def _relabel(store: Catalog, count: int, label: str) -> list[str]:
    """Give the segments of the first ``count`` demo visits the preset label ``label``."""
    ids = store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT ?", [count])["video_id"].tolist()
    marks = ", ".join("?" for _ in ids)
    store.execute(f"UPDATE segments SET label = ? WHERE video_id IN ({marks})", [label, *ids])
    return ids


def _page_table_columns(at) -> list[str]:
    return [str(c) for frame in at.dataframe for c in frame.value.columns]


def test_cohort_page_mixed_model_and_permutation_columns_match_the_command(demo_store: Catalog, tmp_path: Path) -> None:
    at = page("cohort", demo_store, "researcher").run()
    at.checkbox(key="cohort_mixed_model").check()
    at.checkbox(key="cohort_permutation_columns").check()
    at.number_input(key="cohort_permutations").set_value(199)
    at.number_input(key="cohort_seed").set_value(7).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    command = at.session_state["cohort_command"]
    assert command in [c.value for c in at.code]
    assert "--method pearson" in command and "--mixed-model --permutations 199 --seed 7" in command
    shown = at.session_state["cohort_result"]
    assert shown["mixed_beta"].notna().all() and shown["perm_p"].notna().all()
    assert shown["perm_method"].str.contains("B=199, seed=7").all()
    assert {"β (mixed model)", "p (mixed model)", "p (permutations)"} <= set(_page_table_columns(at))
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written.rename(columns={"au": "feature"}), "feature")
    for column in ("mixed_method", "perm_method"):
        assert shown[column].tolist() == written[column].tolist()


def test_cohort_page_permutation_method_matches_the_command(demo_store: Catalog, tmp_path: Path) -> None:
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_method").set_value("permutation")
    at.number_input(key="cohort_permutations").set_value(199)
    at.number_input(key="cohort_seed").set_value(3).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert at.checkbox(key="cohort_permutation_columns").disabled
    command = at.session_state["cohort_command"]
    assert "--method permutation" in command and "--permutations 199 --seed 3" in command
    shown = at.session_state["cohort_result"]
    assert shown["method"].str.contains("B=199, seed=3").all() and "perm_p" not in shown
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written.rename(columns={"au": "feature"}), "feature")


def test_cohort_page_segment_label_matches_the_command(demo_store: Catalog, tmp_path: Path) -> None:
    ids = _relabel(demo_store, 12, "sleep")
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_segments").set_value("sleep").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    command = at.session_state["cohort_command"]
    assert "--segment-label sleep" in command
    shown = at.session_state["cohort_result"]
    assert sorted(shown.attrs["video_ids"]) == sorted(ids) and (shown["n"] == 12).all()
    assert (shown["segments"] == "sleep").all()
    assert "48 visits left out: they have no segment labelled \u201csleep\u201d." in texts(at.caption)
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written.rename(columns={"au": "feature"}), "feature")


@pytest.mark.slow
def test_significance_page_scales_at_one_frame_rate_match_the_command(demo_store: Catalog, tmp_path: Path) -> None:
    ids = demo_store.query("SELECT video_id FROM videos ORDER BY video_id")["video_id"].tolist()
    for video_id in ids[:2]:
        _refilm(demo_store, video_id, 30.0)
    at = page("significance", demo_store, "researcher").run()
    at.radio(key="map_axis").set_value("fps").run()
    assert at.selectbox(key="map_fps").options == ["10 fps (58 visits)", "30 fps (2 visits)"]
    at.selectbox(key="map_fps").set_value(10.0)
    at.text_input(key="map_scales").input("4-40:4")
    at.selectbox(key="map_scope").set_value("au")
    at.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    command = at.session_state["map_command"]
    assert command in [c.value for c in at.code]
    assert "--fps 10 --scales 4-40:4" in command and "--periods" not in command
    shown = at.session_state["map_result"]
    assert shown["scale"].unique().tolist() == [4.0 * k for k in range(1, 11)]
    assert sorted(shown.attrs["video_ids"]) == sorted(ids[2:])
    assert "2 visits left out: recorded at another frame rate (2 at 30 fps)" in texts(at.caption)
    written = run_shown_command(command, demo_store, tmp_path)
    assert_same_table(shown, written, "au")
    # The store's frames-at-one-rate map is the contract's --frames map of the same visits' frames.
    frames = tmp_path / "frames"
    frames.mkdir()
    runs = analysis.latest_runs(demo_store).set_index("video_id")
    for video_id in ids[2:]:
        table = pd.read_parquet(demo_store.paths.root / runs.at[video_id, "shard_path"])
        table.drop(columns=["video_id", "run_id"], errors="ignore").to_parquet(frames / f"{video_id}.parquet")
    clinical = analysis.clinical_table(demo_store).drop(columns=["visit_date"])
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    argv = shlex.split(command)
    at_store = argv.index("--from-store")
    argv[at_store : at_store + 1] = ["--frames", str(frames), "--clinical", str(tmp_path / "clinical.csv")]
    argv[argv.index("--out") + 1] = "from-files.csv"
    from_files = run_command(argv, demo_store, tmp_path)
    for column in ("n", "r", "p", "p_fdr", "scale", "period_s"):
        np.testing.assert_allclose(
            from_files[column].to_numpy(dtype=float), shown[column].to_numpy(dtype=float), rtol=0, atol=1e-12
        )


def test_frames_at_one_rate_refuse_a_rate_no_visit_has(demo_store: Catalog, tmp_path: Path) -> None:
    env = {**os.environ, "FACS_DATA_DIR": str(demo_store.paths.root), "PYTHONPATH": str(REPO)}
    argv = ["stats", "scalogram", "--from-store", "--score", "bdi", "--fps", "25", "--scales", "2-8:2"]
    argv += ["--out", "m.csv"]
    done = subprocess.run(
        [sys.executable, "-m", "facs_core", *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: no chosen visit is recorded at 25 fps (they are: 60 at 10 fps); give one of those rates, or --periods"
        " to analyse every frame rate together"
    ]
    assert not (tmp_path / "m.csv").exists()


def test_significance_page_says_in_one_line_when_scales_do_not_read(demo_store: Catalog) -> None:
    at = page("significance", demo_store, "researcher").run()
    at.radio(key="map_axis").set_value("fps").run()
    at.text_input(key="map_scales").input("1-x").run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "Scales '1-x' are not a range like 1-100, 1-100:0.5 or a list like 1,2,4,8"
    ], [e.value for e in at.error]


def _page_text(at) -> str:
    return " ".join(texts(getattr(at, kind)) for kind in ("caption", "markdown", "info", "warning", "subheader"))


@pytest.mark.slow
def test_scales_in_frames_leave_out_other_rates_once_and_mark_what_the_rate_cannot_resolve(
    demo_store: Catalog, tmp_path: Path
) -> None:
    ids = demo_store.query("SELECT video_id FROM videos ORDER BY video_id")["video_id"].tolist()
    for video_id in ids[:2]:
        _refilm(demo_store, video_id, 30.0)
    at = page("significance", demo_store, "researcher").run()
    at.radio(key="map_axis").set_value("fps").run()
    at.selectbox(key="map_fps").set_value(10.0)
    # Scale 2000 spans more frames than any video: empty for a reason other than the frame rate.
    at.text_input(key="map_scales").input("1,2,3,4,5,6,2000")
    at.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    shown_text = _page_text(at)
    # The two visits at 30 fps are left out once, for their frame rate, and no video is named by its id.
    assert shown_text.lower().count("recorded at another frame rate") == 1, shown_text
    assert "not in the features" not in shown_text
    assert not [v for v in ids if v in shown_text]
    # Scale 1 (a period of one frame, 0.1 s at 10 fps) cannot be resolved: empty cells, said in a sentence.
    shown = at.session_state["map_result"]
    at1 = shown[shown["scale"] == 1.0]
    assert at1["r"].isna().all() and (at1["n"] == 0).all() and (at1["n_unresolved"] == 58).all()
    assert (shown.loc[shown["scale"] >= 2, "n_unresolved"] == 0).all()
    assert shown.loc[shown["scale"] >= 2, "r"].notna().any()
    assert "Scale 1 is below two frames (periods under 0.2 s): 10 fps cannot resolve it" in texts(at.caption)
    # The cells of scale 1 are explained by that sentence alone; the other empty cells get their own reason.
    assert "period below two frames" not in texts(at.caption)
    support = int(shown.loc[shown["scale"] == 2000, "support_frames"].iloc[0])
    assert (
        "20 cells are empty (no r, drawn grey); in each, 58 videos left out: shorter than the wavelet support"
        f" ({support} frames, {support / 10:.1f} s); no video has values (a correlation needs at least 3)."
    ) in texts(at.caption), texts(at.caption)
    # The axis is the scale in frames at that rate, as the command line's table lists it; empty cells are grey.
    (chart,) = [c for c in at.get("vega_lite_chart") if "partial r" in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["x"]["title"] == "scale (frames at 10 fps)"
    # The axis names only scales within the map (the cells reach half a step further: no tick at 0.8).
    assert spec["encoding"]["x"]["axis"]["values"] == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    assert spec["encoding"]["color"]["condition"]["test"] == "!datum.empty"
    assert spec["encoding"]["color"]["value"] == "#d0d0d0"
    drawn = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()
    # Every cell is drawn (none dropped for a missing r); exactly the unresolved ones are grey.
    assert len(drawn) == len(shown)
    assert drawn["empty"].tolist() == drawn["scale"].isin([1.0, 2000.0]).tolist()
    assert np.isfinite(drawn["r_colour"]).all()
    assert "Scale axis in frames at 10 fps (log)" in texts(at.caption)
    assert "grey cells are empty" in texts(at.caption)
    assert "over all AU × scale cells" in texts(at.caption)
    # Still one engine: the command under the results gives the page's table, empty cells included.
    written = run_shown_command(at.session_state["map_command"], demo_store, tmp_path)
    assert_same_table(shown, written, "au")
    assert np.isnan(written.loc[written["scale"] == 1.0, "r"]).all()


def test_a_visit_not_extracted_is_left_out_as_a_count_never_by_its_id(demo_store: Catalog) -> None:
    video_id = demo_store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT 1")["video_id"].iloc[0]
    demo_store.execute("DELETE FROM runs WHERE video_id = ?", [video_id])
    cohort = page("cohort", demo_store, "researcher").run()
    at = page("significance", demo_store, "researcher")
    at.session_state["map_period_count"] = 5
    at.run()
    for shown in (cohort, at):
        no_exception(shown)
        text = _page_text(shown)
        assert "1 visit left out: not extracted yet" in text, text
        assert video_id not in text and "not in the features" not in text
    assert cohort.session_state["cohort_result"].attrs["n_videos"] == 59
    assert at.session_state["map_result"].attrs["n_videos"] == 59
