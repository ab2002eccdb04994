"""What each role may see (facs_core.services.visibility), on a real DuckDB store seeded with canaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from facs_core.errors import InputError
from facs_core.exports import safe_csv
from facs_core.services import visibility
from facs_core.services.access import LocalOperator, PermissionDenied, User
from facs_core.stats import associate
from store import Catalog, open_catalog, users
from tests.privacy_seed import (
    ADMIN,
    CANARIES,
    CLINICIAN,
    NOBODYS_PATIENT,
    OWN_PATIENT,
    OWN_TEXTS,
    RESEARCHER,
    seed,
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> Iterator[tuple[Catalog, dict[str, str]]]:
    catalog = open_catalog(tmp_path_factory.mktemp("visibility") / "data")
    videos = seed(catalog, feat_data, demo=False)
    yield catalog, videos
    catalog.close()


def viewer(catalog: Catalog, name: str) -> visibility.Viewer:
    role = users.get_user(catalog, name).role
    return visibility.viewer_for(catalog, User(name, role))


def videos_table(catalog: Catalog) -> pd.DataFrame:
    return catalog.query(
        "SELECT v.video_id, v.patient_id, v.original_name, v.sha256, v.stored_path, v.camera, c.medication"
        " FROM videos v JOIN visit_covariates c USING (video_id) ORDER BY v.patient_id"
    )


def test_researcher_tables_lose_free_text_names_hashes_and_paths(seeded) -> None:
    catalog, _ = seeded
    table = visibility.visible_table(viewer(catalog, RESEARCHER), videos_table(catalog))
    assert list(table.columns) == ["video_id", "patient_id"]
    assert set(table["patient_id"]) == {OWN_PATIENT, NOBODYS_PATIENT}


def test_clinician_tables_keep_own_patients_rows_only(seeded) -> None:
    catalog, _ = seeded
    table = visibility.visible_table(viewer(catalog, CLINICIAN), videos_table(catalog))
    assert table["patient_id"].tolist() == [OWN_PATIENT]
    assert table["camera"].tolist() == [OWN_TEXTS["camera"]]
    assert table["medication"].tolist() == [OWN_TEXTS["medication"]]
    assert "stored_path" not in table.columns  # server paths: nobody


def test_admin_sees_codes_but_no_patient_content(seeded) -> None:
    catalog, _ = seeded
    table = visibility.visible_table(viewer(catalog, ADMIN), videos_table(catalog))
    assert list(table.columns) == ["video_id", "patient_id"]


def test_a_value_shared_with_another_patient_still_shows_in_own_rows(seeded) -> None:
    """The clinician's own camera is not '[hidden]' because an unassigned patient has the same camera."""
    catalog, _ = seeded
    own = catalog.query("SELECT video_id, camera FROM videos WHERE patient_id = ?", [OWN_PATIENT])
    catalog.execute("UPDATE videos SET camera = ? WHERE patient_id = ?", [CANARIES["camera"], OWN_PATIENT])
    try:
        seen = viewer(catalog, CLINICIAN)
        table = visibility.visible_table(seen, videos_table(catalog), visibility.scrubber(catalog, seen))
        assert table["camera"].tolist() == [CANARIES["camera"]]
    finally:
        for row in own.itertuples():
            catalog.execute("UPDATE videos SET camera = ? WHERE video_id = ?", [row.camera, row.video_id])


def test_tables_on_screen_show_values_as_they_are_files_are_neutralised(seeded) -> None:
    """The formula guard is for downloaded files: on screen ``-0.61***`` stays ``-0.61***``."""
    catalog, _ = seeded
    texts = ["-0.61***", '=HYPERLINK("http://x","y")', "<b>bold</b> **md**"]
    frame = pd.DataFrame({"patient_id": [OWN_PATIENT] * 3, "note": texts, "r": [-0.5, 0.1, 2.0]})
    table = visibility.visible_table(viewer(catalog, CLINICIAN), frame)
    assert table["note"].tolist() == texts
    assert table["r"].tolist() == [-0.5, 0.1, 2.0]
    downloaded = safe_csv(table).decode("utf-8")
    assert "'-0.61***" in downloaded
    assert "'=HYPERLINK" in downloaded


def test_researcher_sees_presets_and_other_never_free_labels(seeded) -> None:
    catalog, videos = seeded
    seen = viewer(catalog, RESEARCHER)
    assert visibility.segment_choices(catalog, seen) == ["anhedonia", "sleep", visibility.OTHER_LABEL]
    labels = visibility.segments_of_video(catalog, seen, videos["nobody"])
    assert labels["label"].tolist() == [visibility.OTHER_LABEL, "sleep"]
    assert "author" not in labels.columns
    # "other" selects exactly the free-text segments, of every patient.
    spans = visibility.segment_spans(catalog, seen, visibility.OTHER_LABEL)
    assert sorted(zip(spans["video_id"], spans["start_s"], strict=True)) == sorted(
        [(videos["nobody"], 0.0), (videos["own"], 0.0)]
    )


def test_clinician_sees_own_free_labels_and_nothing_of_other_patients(seeded) -> None:
    catalog, videos = seeded
    seen = viewer(catalog, CLINICIAN)
    assert visibility.segment_choices(catalog, seen) == ["anhedonia", OWN_TEXTS["label"]]
    assert visibility.segments_of_video(catalog, seen, videos["nobody"]).empty
    assert visibility.segments_of_video(catalog, seen, videos["own"])["label"].tolist() == [
        OWN_TEXTS["label"],
        "anhedonia",
    ]
    assert visibility.segment_spans(catalog, seen, "sleep").empty


def test_messages_lose_what_the_reader_may_not_see(seeded) -> None:
    catalog, _ = seeded
    root = str(catalog.paths.root)
    text = (
        f"covariate camera[{CANARIES['camera']}] medication[{CANARIES['medication']}] of {NOBODYS_PATIENT},"
        f" file {CANARIES['original_name']} at {root}/videos/ab/x.mp4; own {OWN_PATIENT} {OWN_TEXTS['camera']}"
    )
    for_researcher = visibility.scrub(catalog, viewer(catalog, RESEARCHER), text)
    for_clinician = visibility.scrub(catalog, viewer(catalog, CLINICIAN), text)
    for_admin = visibility.scrub(catalog, viewer(catalog, ADMIN), text)
    for canary in (CANARIES["camera"], CANARIES["medication"], CANARIES["original_name"], root):
        assert canary not in for_researcher
        assert canary not in for_clinician
    assert OWN_TEXTS["camera"] not in for_researcher
    assert NOBODYS_PATIENT in for_researcher  # researchers see every pseudonymous code
    assert NOBODYS_PATIENT not in for_clinician
    assert OWN_PATIENT in for_clinician and OWN_TEXTS["camera"] in for_clinician
    assert root in for_admin and CANARIES["camera"] not in for_admin
    assert "covariate camera[" in for_researcher  # the column is still named


def test_home_counts_and_jobs_cover_the_clinicians_patients_only(seeded) -> None:
    catalog, videos = seeded
    from facs_core.services import jobs

    if catalog.scalar("SELECT count(*) FROM jobs") == 0:
        jobs.submit_extraction(catalog, [videos["nobody"]], "mediapipe", {}, LocalOperator("test"))
        jobs.submit_extraction(catalog, [videos["own"]], "mediapipe", {}, User(CLINICIAN, "clinician"))
    clinician = visibility.home_counts(catalog, viewer(catalog, CLINICIAN))
    researcher = visibility.home_counts(catalog, viewer(catalog, RESEARCHER))
    assert (clinician.patients, clinician.videos) == (1, 1)
    assert (researcher.patients, researcher.videos) == (2, 2)
    shown = visibility.recent_jobs(catalog, viewer(catalog, CLINICIAN))
    assert shown["video_id"].tolist() == [videos["own"]]
    assert len(visibility.recent_jobs(catalog, viewer(catalog, RESEARCHER))) == 2


def test_duplicate_of_another_patients_file_names_nothing(seeded) -> None:
    catalog, videos = seeded
    record = catalog.query("SELECT * FROM videos WHERE video_id = ?", [videos["nobody"]]).to_dict("records")[0]
    message = visibility.duplicate_upload_message(viewer(catalog, CLINICIAN), record, "mine.mp4")
    assert visibility.DUPLICATE_ELSEWHERE in message
    assert videos["nobody"] not in message and NOBODYS_PATIENT not in message
    own = catalog.query("SELECT * FROM videos WHERE video_id = ?", [videos["own"]]).to_dict("records")[0]
    assert OWN_PATIENT in visibility.duplicate_upload_message(viewer(catalog, CLINICIAN), own, "mine.mp4")


def test_a_disabled_account_sees_nothing(tmp_path: Path, feat_data: Path) -> None:
    catalog = open_catalog(tmp_path / "data")
    try:
        seed(catalog, feat_data, demo=False)
        users.disable_user(catalog, RESEARCHER, actor="test")
        with pytest.raises(PermissionDenied):
            visibility.viewer_for(catalog, User(RESEARCHER, "researcher"))
        with pytest.raises(PermissionDenied):
            visibility.viewer_for(catalog, None)
    finally:
        catalog.close()


def test_hidden_columns_come_from_the_resource_table() -> None:
    assert {"label", "medication", "camera", "original_name", "sha256", "stored_path"} <= visibility.hidden_columns(
        "researcher"
    )
    assert visibility.hidden_columns("clinician") == {"stored_path", "playback_path"}
    assert "label" in visibility.hidden_columns("admin")


def test_statistics_errors_name_covariates_never_their_values() -> None:
    clinical = pd.DataFrame(
        {
            "video_id": ["a", "b", "c"],
            "patient_id": ["p1", "p2", "p3"],
            "bdi": [10.0, 20.0, 30.0],
            "camera": [CANARIES["camera"], "cam-b", "cam-c"],
        }
    )
    features = pd.DataFrame({"video_id": ["a", "b", "c"], "AU12": [0.1, 0.2, 0.3]})
    with pytest.raises(InputError) as caught:
        associate(features, clinical, "bdi", ["camera"])
    assert "camera" in str(caught.value)
    assert CANARIES["camera"] not in str(caught.value) and "cam-b" not in str(caught.value)
