"""No page, message, file or log shows a user what their role may not see (issue 11, item 2).

A store is seeded with canary strings in every sensitive field (a free-text
segment label, medication, camera, original file name, and a patient assigned
to nobody; see tests/privacy_seed.py). Each role signs in to Chromium, visits
every page it is offered and exercises what the page offers: every expander,
tab, selectbox (opened, its options read, each of the first few chosen),
multiselect (opened and read, then cleared), the error paths (a statistics
run that cannot be computed with the default covariates, a duplicate upload
of another patient's file, a form with a bad field) and every download.

Checked, so page layout cannot fool it: the DOM (text and attributes) after
every step, every websocket frame the server sent to the browser (what a
widget, a chart's data or a tooltip is built from), every downloaded file
(Parquet read back as text) and the server's output and log files.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Download, Page, expect, sync_playwright

from store import open_catalog
from tests.browser_server import ARTIFACTS, CHROMIUM, IDLE, REPO, fill_date, free_port
from tests.privacy_seed import (
    ADMIN,
    CANARIES,
    CLINICIAN,
    OWN_PATIENT,
    OWN_TEXTS,
    PASSWORD,
    RESEARCHER,
    seed,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: What a duplicate upload of another patient's file says (issue 11's words).
DUPLICATE_ELSEWHERE = "this file is already stored for another patient; ask an administrator"
#: Options chosen at each end of a selectbox's list (all are read; choosing reruns the page).
CHOSEN_AT_EACH_END = 2


@dataclass
class Store:
    data_dir: Path
    log: Path
    url: str
    videos: dict[str, str]
    hashes: dict[str, str]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> Iterator[Store]:
    """A seeded store served by ``streamlit run app.py`` on a free port."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    data_dir = tmp_path_factory.mktemp("privacy") / "data"
    catalog = open_catalog(data_dir)
    videos = seed(catalog, feat_data, demo=True, frames=True)
    hashes = dict(catalog.query("SELECT video_id, sha256 FROM videos").itertuples(index=False, name=None))
    catalog.close()
    port = free_port()
    log = tmp_path_factory.mktemp("privacy-log") / "server.log"
    env = os.environ | {"FACS_DATA_DIR": str(data_dir), "RAY_DISABLE_USAGE_STATS": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail(f"streamlit did not start on {url}; see {log}")
    yield Store(data_dir, log, url, videos, {v: hashes[v] for v in videos.values()})
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Evidence:
    """Everything the browser received, by where it was seen."""

    items: list[tuple[str, str]] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    table_downloads: list[str] = field(default_factory=list)
    tables: int = 0

    def add(self, where: str, text: str) -> None:
        self.items.append((where, text))

    def leaks(self, canaries: dict[str, str]) -> list[str]:
        found = [
            f"{name} ({canary!r}) in {where}"
            for where, text in self.items
            for name, canary in canaries.items()
            if canary.lower() in text.lower()
        ]
        for index, frame in enumerate(self.frames):
            for name, canary in canaries.items():
                if canary.encode("utf-8") in frame:
                    found.append(f"{name} ({canary!r}) in websocket frame {index}")
        return sorted(set(found))


def forbidden(store: Store, role: str) -> dict[str, str]:
    """The canaries ``role`` must never see."""
    root = {"data folder": str(store.data_dir)}
    nobody_hash = {"hash of the unassigned patient's video": store.hashes[store.videos["nobody"]]}
    if role == "clinician":
        return {**CANARIES, **root, **nobody_hash}
    own = {f"own {key}": value for key, value in OWN_TEXTS.items()}
    content = {key: value for key, value in CANARIES.items() if key != "patient"}
    hashes = {f"hash of {video}": digest for video, digest in store.hashes.items()}
    if role == "researcher":
        return {**content, **own, **root, **hashes, "annotating clinician": CLINICIAN}
    return {**content, **own, **hashes}


# -- driving the browser -----------------------------------------------------------


def idle(page: Page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=180_000)
    page.wait_for_timeout(250)


def snapshot(page: Page, evidence: Evidence, where: str) -> None:
    evidence.add(f"{where} (DOM)", page.content())
    evidence.add(f"{where} (text)", page.locator("body").inner_text())
    # Errors, and the explanations that replace them where too little data is an ordinary state.
    for alert in page.locator("[data-testid='stAlertContentError'], [data-testid='stAlertContentInfo']").all():
        evidence.alerts.append(f"{where}: {alert.inner_text()}")


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url)
    idle(page)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    idle(page)
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=120_000)


def page_titles(page: Page) -> list[str]:
    # A link's text is its icon's ligature name, then its title.
    page.get_by_test_id("stSidebarNav").get_by_role("link").first.wait_for()
    links = page.get_by_test_id("stSidebarNav").get_by_role("link").all()
    return [link.inner_text().strip().splitlines()[-1].strip() for link in links]


def open_page(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link").filter(has_text=title).first.click()
    idle(page)


def _open_dropdown(page: Page, widget) -> list[str]:
    widget.get_by_role("combobox").first.click()
    options = page.locator("[role='listbox'] [role='option']")
    try:
        options.first.wait_for(timeout=5_000)
    except Exception:
        return []
    return [text.strip() for text in options.all_inner_texts()]


def exercise_selects(page: Page, evidence: Evidence, where: str) -> None:
    index = 0
    while index < page.get_by_test_id("stSelectbox").count():
        widget = page.get_by_test_id("stSelectbox").nth(index)
        if not widget.is_visible() or widget.locator("input[disabled]").count():
            index += 1  # in another tab, or not choosable
            continue
        options = _open_dropdown(page, widget)
        evidence.add(f"{where}: options of selectbox {index}", "\n".join(options))
        page.keyboard.press("Escape")
        ends = [*range(min(len(options), CHOSEN_AT_EACH_END)), *range(len(options))[-CHOSEN_AT_EACH_END:]]
        for choice in sorted(set(ends)):
            if index >= page.get_by_test_id("stSelectbox").count():
                break
            widget = page.get_by_test_id("stSelectbox").nth(index)
            now = _open_dropdown(page, widget)
            if choice >= len(now):  # the list changed with an earlier choice
                page.keyboard.press("Escape")
                break
            evidence.add(f"{where}: options of selectbox {index} before choice {choice}", "\n".join(now))
            page.locator("[role='listbox'] [role='option']").nth(choice).click()
            idle(page)
            snapshot(page, evidence, f"{where}: selectbox {index} option {choice}")
        index += 1


def exercise_multiselects(page: Page, evidence: Evidence, where: str, clear: bool) -> int:
    """Open and read every multiselect; with ``clear``, empty each. Returns how many were emptied."""
    cleared = 0
    for index in range(page.get_by_test_id("stMultiSelect").count()):
        widget = page.get_by_test_id("stMultiSelect").nth(index)
        if not widget.is_visible():
            continue
        options = _open_dropdown(page, widget)
        evidence.add(f"{where}: options of multiselect {index}", "\n".join(options))
        page.keyboard.press("Escape")
        idle(page)
        if not clear:
            continue
        for _ in range(30):
            remove = page.get_by_test_id("stMultiSelect").nth(index).locator("button[aria-label^='Remove ']")
            if not remove.count():
                break
            remove.first.click()
            idle(page)
            cleared += 1
        snapshot(page, evidence, f"{where}: multiselect {index} cleared")
    return cleared


def table_toolbars(page: Page, evidence: Evidence, where: str) -> None:
    """Hover every table and record any download control its toolbar offers (there must be none)."""
    tables = page.get_by_test_id("stDataFrame")
    for index in range(tables.count()):
        if not tables.nth(index).is_visible():
            continue
        tables.nth(index).hover()
        page.wait_for_timeout(300)
        evidence.tables += 1
        toolbar = tables.nth(index).get_by_test_id("stElementToolbar").locator("button")
        labels = [toolbar.nth(i).get_attribute("aria-label") or "" for i in range(toolbar.count())]
        evidence.table_downloads.extend(
            f"{where}: table {index}: {label}" for label in labels if "download" in label.lower()
        )


def _download(page: Page, index: int, where: str) -> Download:
    """Click download button ``index``: its file, or a failure naming the error the button shows."""
    widget = page.get_by_test_id("stDownloadButton").nth(index)
    arrived: list[Download] = []
    page.once("download", lambda download: arrived.append(download))
    widget.locator("button").click()
    error = widget.get_by_test_id("stDownloadButtonError")
    deadline = time.monotonic() + 120
    while not arrived:
        # The button shows a failed deferred download for 5 s, then forgets it.
        if error.count():
            pytest.fail(f"{where}: download button {index} failed: {error.first.inner_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{where}: download button {index} produced no file in 120 s")
        page.wait_for_timeout(100)
    return arrived[0]


def download_everything(page: Page, evidence: Evidence, where: str) -> int:
    buttons = page.get_by_test_id("stDownloadButton").locator("button")
    for index in range(buttons.count()):
        if not buttons.nth(index).is_visible():
            continue
        download = _download(page, index, where)
        data = Path(download.path()).read_bytes()
        name = download.suggested_filename
        if name.endswith(".parquet"):
            text = pd.read_parquet(io.BytesIO(data)).to_csv(index=False)
        else:
            text = data.decode("utf-8", errors="replace")
        evidence.add(f"{where}: download {name}", text)
        idle(page)
    return buttons.count()


def exercise_visible(page: Page, evidence: Evidence, where: str, *, downloads: bool) -> None:
    """Every picker, table and download button on screen (one tab's worth)."""
    exercise_selects(page, evidence, where)
    exercise_multiselects(page, evidence, where, clear=False)
    # Cleared pickers are a second state of the page (on the statistics pages: no covariates).
    if exercise_multiselects(page, evidence, f"{where} (cleared)", clear=True):
        exercise_selects(page, evidence, f"{where} (cleared)")
    table_toolbars(page, evidence, where)
    if downloads:
        download_everything(page, evidence, where)


def exercise(page: Page, evidence: Evidence, where: str, *, downloads: bool = True) -> None:
    """Everything a page offers that shows data, without changing what is stored."""
    snapshot(page, evidence, where)
    for summary in page.locator("[data-testid='stExpander'] summary").all():
        summary.click()
        idle(page)
    tabs = page.get_by_role("tab")
    for index in range(tabs.count()):
        tabs.nth(index).click()
        idle(page)
        snapshot(page, evidence, f"{where}: tab {index}")
        exercise_visible(page, evidence, f"{where}: tab {index}", downloads=downloads)
    if not tabs.count():
        exercise_visible(page, evidence, where, downloads=downloads)
    snapshot(page, evidence, f"{where} (end)")
    page.screenshot(path=str(ARTIFACTS / f"privacy-{where}.png"), full_page=True)


@pytest.fixture
def browser_for(store: Store) -> Iterator:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def open_as(username: str) -> tuple[Page, Evidence]:
            context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            evidence = Evidence()
            page.on("websocket", lambda ws: ws.on("framereceived", lambda p: evidence.frames.append(_bytes(p))))
            sign_in(page, store.url, username)
            return page, evidence

        yield open_as
        browser.close()


def _bytes(payload: str | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else payload.encode("utf-8")


def visit_every_page(page: Page, evidence: Evidence, role: str) -> list[str]:
    titles = page_titles(page)
    for title in titles:
        open_page(page, title)
        exercise(page, evidence, f"{role}-{title.lower().replace(' ', '-')}")
    return titles


def server_output(store: Store) -> str:
    logs = [store.log, *sorted((store.data_dir / "logs").glob("*"))]
    return "\n".join(path.read_text("utf-8", errors="replace") for path in logs if path.is_file())


def assert_no_leaks(evidence: Evidence, store: Store, role: str) -> None:
    """No canary in the DOM, websocket frames, downloads or server output; no table toolbar download."""
    problems = evidence.leaks(forbidden(store, role))
    log_canaries = {k: v for k, v in forbidden(store, role).items() if k in CANARIES or k.startswith("own ")}
    log_canaries.pop("patient", None)
    output = server_output(store)
    problems += [f"{name} in the server's output or logs" for name, canary in log_canaries.items() if canary in output]
    problems += [f"table toolbar offers a download: {where}" for where in evidence.table_downloads]
    # One line per leaked item with its first places, so every kind of leak is listed.
    by_item: dict[str, list[str]] = {}
    for problem in problems:
        item, _, where = problem.partition(" in ")
        by_item.setdefault(item, []).append(where)
    summary = [f"{item}: {len(places)} place(s), e.g. {'; '.join(places[:3])}" for item, places in by_item.items()]
    assert not problems, f"{role} was shown what the role may not see:\n" + "\n".join(summary)


# -- the roles ---------------------------------------------------------------------


def test_researcher_sees_no_free_text_names_hashes_or_paths(store: Store, browser_for) -> None:
    page, evidence = browser_for(RESEARCHER)
    titles = visit_every_page(page, evidence, "researcher")
    assert {"Home", "Patient profile", "Cohort statistics", "Significance map", "Export"} <= set(titles)
    # The statistics refusal ran (too few visits for the default covariates) and its text was checked.
    assert any("covariate" in alert for alert in evidence.alerts), evidence.alerts
    assert evidence.frames, "no websocket frames were recorded"
    assert evidence.tables, "no table was checked for a toolbar download"
    assert_no_leaks(evidence, store, "researcher")


def test_clinician_sees_only_the_assigned_patient(store: Store, browser_for, feat_data: Path) -> None:
    page, evidence = browser_for(CLINICIAN)
    titles = visit_every_page(page, evidence, "clinician")
    assert {"Home", "Upload", "Timeline", "Extraction", "Patient profile", "Export"} <= set(titles)

    # Error path: a bad patient code is refused under its field.
    open_page(page, "Upload")
    page.get_by_label("Patient code", exact=True).fill("not a code!")
    page.get_by_role("button", name="Save visit").click()  # the form's submit, not the file picker's
    idle(page)
    snapshot(page, evidence, "clinician-upload-bad-code")
    # A duplicate of the unassigned patient's file: named by nobody, the typed data kept, no links.
    page.locator("input[type=file]").set_input_files(str(feat_data / "single_face.mp4"))
    idle(page)
    page.get_by_label("Patient code", exact=True).fill(OWN_PATIENT)
    fill_date(page, "Visit date", "2024-03-01")
    page.get_by_label("Camera", exact=True).fill("typed-camera")
    page.get_by_label("Medication", exact=True).fill("typed-medication")
    page.get_by_role("button", name="Save visit").click()  # the form's submit, not the file picker's
    idle(page)
    page.get_by_test_id("stAlertContentWarning").first.wait_for(timeout=60_000)
    snapshot(page, evidence, "clinician-upload-duplicate")
    page.screenshot(path=str(ARTIFACTS / "privacy-clinician-upload-duplicate.png"), full_page=True)
    typed = {
        label: page.get_by_label(label, exact=True).input_value() for label in ("Patient code", "Camera", "Medication")
    }
    links = page.get_by_text("Mark symptom segments on the timeline").count()

    # Home counts cover the one assigned patient.
    open_page(page, "Home")
    snapshot(page, evidence, "clinician-home-again")
    patients = page.get_by_test_id("stMetric").filter(has_text="Patients").get_by_test_id("stMetricValue").inner_text()

    assert_no_leaks(evidence, store, "clinician")
    assert any(DUPLICATE_ELSEWHERE in text for where, text in evidence.items if "duplicate" in where)
    assert typed == {"Patient code": OWN_PATIENT, "Camera": "typed-camera", "Medication": "typed-medication"}
    assert links == 0, "a duplicate of another patient's file offered links to its video"
    assert patients == "1"


def test_administrator_sees_no_patient_content(store: Store, browser_for) -> None:
    page, evidence = browser_for(ADMIN)
    titles = visit_every_page(page, evidence, "admin")
    assert {"Home", "Admin"} <= set(titles)
    assert any("audit-log" in where for where, _ in evidence.items), "the audit log download was not exercised"
    assert_no_leaks(evidence, store, "admin")
