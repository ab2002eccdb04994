"""Cohort statistics and Export read like a finished clinical tool: notes once, as sentences, in a reader's words."""

from __future__ import annotations

import re

import pytest

from store import Catalog
from store.segment_rows import add_segment
from tests.apptest_pages import no_exception, page, texts

RAW_KEYS = re.compile(r"\b(bdi|repeat_visit|AU\d\d_(sd|rate))\b")


def _real_visits_with_own_camera_and_medication(store: Catalog, count: int = 3) -> list[str]:
    """Mark ``count`` demo visits real, each with a camera and a medication no other visit has.

    A level held by one visit only is a dummy column equal to that visit's
    camera dummy: medication then repeats camera (collinear), as a small real
    cohort beside the demo does.
    """
    ids = store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT ?", [count])["video_id"].tolist()
    for i, video_id in enumerate(ids):
        store.execute("UPDATE videos SET synthetic = FALSE, camera = ? WHERE video_id = ?", [f"ward cam {i}", video_id])
        store.execute("UPDATE visit_covariates SET medication = ? WHERE video_id = ?", [f"trial drug {i}", video_id])
    return ids


def test_a_collinear_covariate_is_one_sentence_in_a_readers_words(demo_store: Catalog) -> None:
    _real_visits_with_own_camera_and_medication(demo_store)
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_source").set_value("both").run()
    no_exception(at)
    notes = [str(c.value) for c in at.caption if "collinear" in str(c.value)]
    assert len(notes) == 1, notes
    note = notes[0].removeprefix(":material/info: ")
    assert note[0].isupper() and note.endswith("."), note
    assert note.startswith("Medication adds no adjustment") and "covariate medication" not in note, note
    shown_notes = texts(c for c in at.caption if str(c.value).startswith(":material/info:"))
    assert not RAW_KEYS.search(shown_notes), shown_notes


NESTED = re.compile(r"\([^()]*\(")


def test_too_few_real_visits_are_explained_in_a_readers_words(demo_store: Catalog) -> None:
    _real_visits_with_own_camera_and_medication(demo_store)
    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    assert at.selectbox(key="cohort_source").value == "real"
    assert not at.error, [e.value for e in at.error]
    note = texts(at.info)
    assert (
        "In detail: Only 3 visits have extracted features, a BDI-II score and every covariate (age, sex, camera,"
        " medication and repeat visit); with these covariates the analysis needs at least 10." in note
    ), note
    assert "57 synthetic visits left out: the data source is real visits only." in note, note
    assert not RAW_KEYS.search(note) and not NESTED.search(note), note


def test_too_few_visits_of_a_segment_are_information_not_an_error(demo_store: Catalog) -> None:
    video_id = demo_store.query("SELECT video_id FROM videos ORDER BY video_id LIMIT 1")["video_id"].iloc[0]
    demo_store.execute("DELETE FROM segments WHERE label = 'anhedonia'")
    add_segment(demo_store, video_id, 10.0, 40.0, "anhedonia", author="test")
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_segments").set_value("anhedonia").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    note = texts(at.info)
    assert "Only 1 visit has extracted features, a BDI-II score and every covariate" in note, note
    assert "59 visits left out: they have no segment labelled \u201canhedonia\u201d." in note, note
    assert not RAW_KEYS.search(note) and not NESTED.search(note), note


def test_an_emotion_feature_without_emotions_is_one_calm_sentence(demo_store: Catalog) -> None:
    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_feature").set_value("emotion_mean").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    note = texts(at.info)
    assert "No visit in this analysis has emotion values: emotions come from py-feat runs only." in note, note
    assert "AU" not in note and not NESTED.search(note), note


def test_the_mixed_model_method_offers_no_second_mixed_model_and_headers_read_alike(demo_store: Catalog) -> None:
    at = page("cohort", demo_store, "researcher").run()
    assert [c.key for c in at.checkbox if c.key == "cohort_mixed_model"]
    frames = [o for o in at.selectbox(key="cohort_segments").options if o.startswith("segments: ")]
    assert frames and not any("visits that have" in o for o in frames), frames
    at.selectbox(key="cohort_method").set_value("mixedlm").run()
    no_exception(at)
    assert not [c.key for c in at.checkbox if c.key == "cohort_mixed_model"]
    headers = list(at.dataframe[0].value.columns)
    assert "Note" in headers and all(h[:1].isupper() or h[:1] in "pnrβ9" for h in headers), headers


def _spec(chart) -> dict:
    return chart.proto.spec if hasattr(chart, "proto") else chart


def test_a_feature_kind_is_named_once_and_rows_by_their_au(demo_store: Catalog) -> None:
    import json

    at = page("cohort", demo_store, "researcher").run()
    at.selectbox(key="cohort_feature").set_value("sd").run()
    no_exception(at)
    shown = at.dataframe[0].value
    assert shown["AU"].str.fullmatch(r"AU\d\d").all(), shown["AU"].tolist()
    assert "feature: standard deviation" in texts(at.caption)
    coefficients = next(json.loads(c.proto.spec) for c in at.get("vega_lite_chart") if "coef" in str(c.proto.id))
    layer = coefficients["layer"][0]["encoding"]
    assert layer["y"]["field"] == "au" and layer["y"]["title"] == "standard deviation"
    tooltips = {t["field"]: t for t in layer["tooltip"]}
    assert "adjusted_p" in tooltips and "p_fdr" not in tooltips
    assert [o for o in at.selectbox(key="cohort_scatter_au").options][:1] == ["AU01"]


def test_significance_map_names_the_score_as_the_page_does() -> None:
    import json

    import pandas as pd

    from web import wavelet_analysis

    table = pd.DataFrame(
        {
            "au": ["AU01", "AU01", "AU12", "AU12"],
            "period_s": [0.5, 1.0, 0.5, 1.0],
            "r": [0.1, -0.2, 0.5, 0.05],
            "p_fdr": [0.5, 0.00999, 0.0002, 0.9],
            "significant": [False, True, True, False],
            "n": [40] * 4,
            "reason": [""] * 4,
        }
    )
    spec = wavelet_analysis.heatmap(table, "bdi").to_dict()
    assert spec["title"] == "AU × period partial correlations with BDI-II"
    assert "partial r with BDI-II" in json.dumps(spec["encoding"]["color"])
    data = next(iter(spec["datasets"].values()))
    assert [row["adjusted_p"] for row in data] == ["0.500", "0.00999", "< 0.001", "0.900"]


def test_a_covariate_that_repeats_another_is_dropped_from_the_methods_paragraph(demo_store: Catalog) -> None:
    from facs_core.methods_text import methods_paragraph

    # Medication follows the camera exactly: its one column repeats camera's, so it adjusts for nothing.
    demo_store.execute(
        "UPDATE visit_covariates SET medication = CASE WHEN video_id IN"
        " (SELECT video_id FROM videos WHERE camera = 'camera B') THEN 'SSRI' ELSE 'none' END"
    )
    at = page("cohort", demo_store, "researcher").run()
    no_exception(at)
    settings = at.session_state["methods_settings"]
    assert tuple(settings.dropped_covariates) == ("medication",)
    text = methods_paragraph(settings)
    assert "controlling for age, sex, camera and whether the visit was a repeat visit," in text, text
    assert "Medication was chosen as a covariate but dropped" in text, text


@pytest.mark.parametrize(
    ("method", "said"),
    [
        ("pearson", "Method: Partial Pearson"),
        ("permutation", "Method: Permutation of whole patients (Freedman-Lane, B=99, seed=0), partial Pearson"),
    ],
)
def test_export_previews_the_statistics_table_as_a_reader_scans_it(demo_store: Catalog, method: str, said: str) -> None:
    from facs_core.services import analysis as engine
    from facs_core.stats.cohort import CohortParams

    params = CohortParams("bdi", ("age", "sex"), method=method, feature="sd", permutations=99)
    result = engine.cohort_statistics(demo_store, engine.operator_viewer(), params)
    at = page("export", demo_store, "researcher")
    at.session_state["cohort_result"] = engine.without_inputs(result)
    at.run()
    no_exception(at)
    preview = next(d.value for d in at.dataframe if "AU" in d.value.columns)
    assert preview["AU"].str.fullmatch(r"AU\d\d").all(), preview["AU"].tolist()
    assert "Method" not in preview.columns and "Feature" not in preview.columns
    assert preview["r"].str.fullmatch(r"-?\d\.\d{3}").all(), preview["r"].tolist()
    assert all(p == "< 0.001" or re.fullmatch(r"\d\.\d+", p) for p in preview["p (adjusted)"])
    shared = texts(at.caption)
    assert said in shared, shared
    # What every row shares reads in words: covariates and score by name, no column keys.
    assert "Covariates: age and sex" in shared and "Data source: synthetic demo visits only" in shared, shared
    assert "Fdr" not in shared and "Df:" not in shared and "56.0" not in shared


def test_export_says_the_visits_left_out_as_a_sentence(demo_store: Catalog) -> None:
    _real_visits_with_own_camera_and_medication(demo_store)
    at = page("export", demo_store, "researcher").run()
    no_exception(at)
    assert "57 synthetic visits left out: the data source is real visits only." in texts(at.caption)
    assert not NESTED.search(texts(at.caption)) and "(data source:" not in texts(at.caption)
