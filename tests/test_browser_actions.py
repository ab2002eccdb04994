"""Actions authorised when they run, and segment edits that cannot lose an update, in Chromium.

A clinician's Extraction page refreshes its job list by itself (a Streamlit
fragment, which never reruns ``app.py``). An administrator disables her in
another browser; her page must sign her out at its next tick or click, and
her Retry must neither requeue the job nor go unaudited.

Two browser contexts edit the same segment: the second save, based on the
old revision, is refused with one line; "Reload this segment" shows what is
stored; a save from there keeps the other editor's change. On a loaded
server, whose runs the browser draws piece by piece, a segment's editor is
never in the page twice, not even for a moment while the page reruns.

The store is read after the server has stopped (DuckDB admits one process).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from facs_core.services import jobs
from facs_core.services.access import LocalOperator
from facs_core.services.ingest import ingest_video
from store import audit, job_rows, open_catalog, users
from store.segment_rows import add_segment, get_segment
from tests.browser_server import (
    ARTIFACTS,
    PASSWORD,
    chromium,
    idle,
    open_page,
    server_pid,
    shot,
    sign_in,
    starved,
    streamlit_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
#: Milliseconds to wait for what a page draws (components load lazily; CI machines are shared).
SLOW = 60_000


@pytest.fixture
def store(tmp_path: Path, feat_data: Path) -> dict:
    """clara (clinician, P017), ada (admin); one video of P017 with a segment and a cancelled job."""
    data = tmp_path / "data"
    operator = LocalOperator("test")
    with open_catalog(data) as catalog:
        users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
        users.add_user(catalog, "ada", "admin", PASSWORD, actor="test")
        record, _ = ingest_video(
            catalog, feat_data / "single_face.mp4", original_name="v.mp4", patient_id="P017", user=operator
        )
        users.assign_patient(catalog, "clara", "P017", actor="test")
        segment = add_segment(catalog, record["video_id"], 0.5, 1.0, "sleep", author="clara")
        (job_id,) = jobs.submit_extraction(catalog, [record["video_id"]], "mediapipe", {}, operator)
        jobs.cancel_job(catalog, job_id, operator)
    return {"data": data, "video_id": record["video_id"], "segment_id": int(segment["segment_id"]), "job_id": job_id}


@pytest.fixture
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as launched:
        yield launched


def _page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def _disable(page: Page, username: str) -> None:
    open_page(page, "Admin")
    page.get_by_label("Account", exact=True).click()
    page.get_by_role("option", name=username, exact=True).click()
    idle(page)
    page.get_by_label("Change", exact=True).click()
    page.get_by_role("option", name="Disable the account", exact=True).click()
    idle(page)
    page.get_by_role("button", name="Apply").click()
    idle(page)


def test_a_disabled_users_auto_refreshing_page_signs_out_and_her_retry_is_refused(
    store: dict, browser: Browser, tmp_path: Path
) -> None:
    job_id = store["job_id"]
    with streamlit_server(store["data"], tmp_path / "streamlit.log") as url:
        clara_context, clara = _page(browser)
        sign_in(clara, url, "clara")
        open_page(clara, "Extraction")
        retry = clara.get_by_role("button", name="Retry")
        expect(retry).to_have_count(1, timeout=SLOW)
        shot(clara, "actions-extraction-before-disable")
        ada_context, ada = _page(browser)
        sign_in(ada, url, "ada")
        _disable(ada, "clara")
        # Her page has not been rerun by her; click Retry at once (or the job list's next tick got there first).
        with contextlib.suppress(PlaywrightError):
            retry.click(timeout=1500)
        expect(clara.get_by_role("button", name="Sign in", exact=True)).to_be_visible(timeout=20_000)
        expect(clara.get_by_text("Signed in as clara")).to_have_count(0, timeout=SLOW)
        shot(clara, "actions-extraction-after-disable")
        clara_context.close()
        ada_context.close()
    with open_catalog(store["data"]) as catalog:
        assert job_rows.get_job(catalog, job_id)["status"] == "cancelled"
        events = audit.events(catalog, 10_000)
    denied = events[(events["actor"] == "clara") & (events["action"] == "access denied")]
    assert denied["detail"].str.contains("action=run_extraction").any(), events.head(10).to_string()
    assert not ((events["action"] == "job retried") & (events["actor"] == "clara")).any()


def _field(page: Page, key: str, field: str):
    """The input of one field of a segment's editor."""
    return page.locator(f".st-key-{key}_{field} input")


def test_two_editors_of_one_segment_never_lose_an_update(store: dict, browser: Browser, tmp_path: Path) -> None:
    key = f"seg{store['segment_id']}"
    with streamlit_server(store["data"], tmp_path / "streamlit.log") as url:
        first_context, first = _page(browser)
        second_context, second = _page(browser)
        for page in (first, second):
            sign_in(page, url, "clara")
            open_page(page, "Timeline")
            expect(_field(page, key, "end")).to_have_value("1.00", timeout=SLOW)
        # The first editor moves the end and saves.
        _field(first, key, "end").fill("2")
        _field(first, key, "end").press("Enter")
        idle(first)
        first.locator(f".st-key-{key}_save button").click()
        idle(first)
        expect(first.get_by_text(f"Segment {store['segment_id']} saved.")).to_be_visible(timeout=SLOW)
        # The second, drawn from the old revision, changes the label and saves: refused, one line.
        _field(second, key, "label").fill("anhedonia")
        _field(second, key, "label").press("Enter")
        idle(second)
        second.locator(f".st-key-{key}_save button").click()
        idle(second)
        refusal = second.get_by_test_id("stAlertContentError").filter(has_text="meanwhile")
        expect(refusal).to_have_count(1, timeout=SLOW)
        # One line of message after the alert's icon (its ligature name, "error").
        lines = [line.strip() for line in refusal.inner_text().splitlines() if line.strip()]
        assert lines[0] == "error" and len(lines) == 2 and "reload" in lines[1], lines
        shot(second, "actions-segment-refused")
        # Reload shows what is stored now: the first editor's end, the stored label.
        second.get_by_role("button", name="Reload this segment").click()
        idle(second)
        expect(_field(second, key, "end")).to_have_value("2.00", timeout=SLOW)
        expect(_field(second, key, "label")).to_have_value("sleep", timeout=SLOW)
        shot(second, "actions-segment-reloaded")
        _field(second, key, "label").fill("anhedonia")
        _field(second, key, "label").press("Enter")
        idle(second)
        second.locator(f".st-key-{key}_save button").click()
        idle(second)
        expect(second.get_by_text(f"Segment {store['segment_id']} saved.")).to_be_visible(timeout=SLOW)
        first_context.close()
        second_context.close()
    with open_catalog(store["data"]) as catalog:
        stored = get_segment(catalog, store["segment_id"])
    assert (stored["end_s"], stored["label"], stored["revision"]) == (2.0, "anhedonia", 3)


#: Records in ``window.__editorsMost`` the most "End (s)" inputs each segment's editor had in the page at once.
_COUNT_EDITORS = """
(() => {
  window.__editorsMost = {};
  const count = () => {
    const now = {};
    for (const box of document.querySelectorAll("[class*='st-key-seg'][class*='_end']")) {
      const key = [...box.classList].find((name) => name.startsWith("st-key-seg"));
      const segment = key.slice("st-key-".length).split("_")[0];
      now[segment] = (now[segment] || 0) + box.querySelectorAll("input").length;
    }
    for (const [segment, n] of Object.entries(now)) {
      window.__editorsMost[segment] = Math.max(window.__editorsMost[segment] || 0, n);
    }
  };
  new MutationObserver(count).observe(document, { childList: true, subtree: true });
})();
"""


def test_a_segment_editor_is_in_the_page_once_while_a_loaded_server_reruns_it(
    store: dict, browser: Browser, tmp_path: Path
) -> None:
    # The page reruns when the timeline reports that it works (its load watcher goes), when a
    # saved segment's notice comes and goes, and when the static strip replaces the timeline and
    # back. A starved server's runs reach the browser piece by piece, so whatever such a rerun
    # draws is seen before the run ends and the browser tidies up.
    with open_catalog(store["data"]) as catalog:
        for start in (1.1, 1.4, 1.7):
            add_segment(catalog, store["video_id"], start, start + 0.2, "anhedonia", author="clara")
    key = f"seg{store['segment_id']}"
    with streamlit_server(store["data"], tmp_path / "streamlit.log") as url:
        context, page = _page(browser)
        context.add_init_script(_COUNT_EDITORS)
        sign_in(page, url, "clara")
        # The video is held back until the page has been drawn, so the timeline reports that it
        # works only then, as when a busy browser loads the video late.
        held: list[Route] | None = []

        def hold(route: Route) -> None:
            if held is None:
                route.continue_()
            else:
                held.append(route)

        page.route("**/api/video/**", hold)
        with starved(server_pid(url), share=0.1, period_s=0.05):
            open_page(page, "Timeline")
            expect(_field(page, key, "end")).to_have_value("1.00", timeout=SLOW)
            waiting, held = held, None
            for route in waiting:
                route.continue_()
            expect(page.locator(".facs-tl[data-reports]")).to_have_count(1, timeout=SLOW)
            idle(page)
            _field(page, key, "label").fill("insomnia")
            _field(page, key, "label").press("Enter")
            idle(page)
            page.locator(f".st-key-{key}_save button").click()
            idle(page)
            expect(page.get_by_text(f"Segment {store['segment_id']} saved.")).to_be_visible(timeout=SLOW)
            # The next run drops the notice; the static strip takes the timeline's place, and back.
            static = page.get_by_text("Static strip instead of the player timeline")
            static.click()
            idle(page)
            expect(page.get_by_text(f"Segment {store['segment_id']} saved.")).to_have_count(0, timeout=SLOW)
            expect(page.locator(".facs-tl")).to_have_count(0, timeout=SLOW)
            static.click()
            idle(page)
            expect(page.locator(".facs-tl")).to_have_count(1, timeout=SLOW)
        _field(page, key, "label").scroll_into_view_if_needed()
        shot(page, "actions-segment-editors-once")
        most = page.evaluate("window.__editorsMost")
        context.close()
    assert len(most) == 4 and set(most.values()) == {1}, f"most inputs of one editor in the page at once: {most}"
