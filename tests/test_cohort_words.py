"""Cohort statistics and Export read like a finished clinical tool: notes once, as sentences, in a reader's words."""

from __future__ import annotations

import re

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
