"""Issue 17 journeys in Chromium: a corrected upload field loses its error, a faceless extraction warns.

Also walks every page as clinician, researcher and administrator with the
demo cohort loaded, so the screenshots under ``test-artifacts/`` show the
pages as each role reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from facs_core.services.access import LocalOperator
from facs_core.services.demo import load_demo
from facs_core.services.ingest import ingest_video
from store import open_catalog, users
from tests.browser_server import (
    ARTIFACTS,
    PASSWORD,
    chromium,
    fill_date,
    idle,
    open_page,
    shot,
    sign_in,
    streamlit_server,
    tour,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SLOW = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> Iterator[dict]:
    """clara (clinician, P017), rita (researcher), ada (admin); P017's faceless video; the demo cohort."""
    data = tmp_path_factory.mktemp("clinical") / "data"
    operator = LocalOperator("test")
    with open_catalog(data) as catalog:
        for name, role in (("clara", "clinician"), ("rita", "researcher"), ("ada", "admin")):
            users.add_user(catalog, name, role, PASSWORD, actor="test")
        record, _ = ingest_video(
            catalog, feat_data / "no_face.mp4", original_name="room.mp4", patient_id="P017", user=operator
        )
        users.assign_patient(catalog, "clara", "P017", actor="test")
        load_demo(catalog, with_videos=False)
        demo_patient = catalog.scalar("SELECT min(patient_id) FROM patients WHERE synthetic")
        users.assign_patient(catalog, "clara", demo_patient, actor="test")
    with streamlit_server(data, tmp_path_factory.mktemp("clinical-log") / "streamlit.log") as url:
        yield {"url": url, "faceless": record["video_id"]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(SLOW)
    yield opened
    context.close()


def test_upload_error_disappears_once_the_field_is_corrected(server: dict, page: Page, feat_data: Path) -> None:
    sign_in(page, server["url"], "clara")
    open_page(page, "Upload")
    page.locator("input[type=file]").set_input_files(str(feat_data / "single_face.mp4"))
    idle(page)
    page.get_by_label("Patient code", exact=True).fill("P017")
    fill_date(page, "Visit date", "2024-03-01")
    page.get_by_label("Age (years)", exact=True).fill("200")
    page.get_by_label("Age (years)", exact=True).press("Tab")
    idle(page)
    page.get_by_role("button", name="Save visit", exact=True).click()
    idle(page)
    error = page.get_by_text("Age 200 is outside 0-120 years.")
    expect(error).to_be_visible()
    shot(page, "clinical-01-upload-bad-age")
    page.get_by_label("Age (years)", exact=True).fill("41")
    page.get_by_label("Age (years)", exact=True).press("Tab")
    idle(page)
    expect(error).to_have_count(0)
    shot(page, "clinical-02-upload-age-corrected")
    page.get_by_role("button", name="Save visit", exact=True).click()
    idle(page)
    expect(page.get_by_text("stored as video")).to_be_visible(timeout=SLOW)
    # The picker is empty again: the next submit cannot send the same file twice.
    expect(page.get_by_test_id("stFileUploaderFile")).to_have_count(0)
    expect(page.get_by_label("Patient code", exact=True)).to_have_value("")
    shot(page, "clinical-03-upload-stored")


def test_extraction_of_a_faceless_video_shows_the_warning(server: dict, page: Page) -> None:
    sign_in(page, server["url"], "clara")
    # As the Timeline's "Extract this video" link opens it: the video is already chosen.
    page.goto(f"{server['url']}/extraction?video={server['faceless']}")
    idle(page)
    expect(page.get_by_text(f"video {server['faceless']}: whole video")).to_be_visible()
    page.get_by_role("button", name="Start extraction", exact=True).click()
    idle(page)
    expect(page.get_by_text(re.compile(r"extraction jobs? queued"))).to_be_visible()
    expect(page.get_by_text("no face found").first).to_be_visible(timeout=180_000)
    expect(page.get_by_text("done with a warning").first).to_be_visible()
    shot(page, "clinical-04-extraction-faceless-warning")


@pytest.mark.parametrize("username", ["clara", "rita", "ada"])
def test_walk_every_page_as_each_role(server: dict, browser: Browser, username: str) -> None:
    # A tall window: Streamlit scrolls inside its own container, so a full-page shot shows one window's height.
    context = browser.new_context(viewport={"width": 1400, "height": 4000})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    errors: list[str] = []

    def check(where: str) -> None:
        found = page.get_by_text("Something went wrong")
        if found.count():
            errors.append(where)

    titles = tour(page, server["url"], username, check, prefix="clinical-tour")
    context.close()
    assert titles and not errors, errors
