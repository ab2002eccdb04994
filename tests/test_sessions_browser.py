"""Sessions and video streaming in a real browser: Debian's Chromium against ``streamlit run dashboard.py``.

Reload, new tab and deep link keep the user signed in; sign-out in one tab,
an administrator disabling the account and inactivity end the session at the
next interaction; a tampered cookie is refused; the Timeline plays its video
through the session-checked byte-range route. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_server import (
    ARTIFACTS,
    CHROMIUM,
    PASSWORD,
    chromium,
    facs_cli,
    fill_sign_in,
    idle,
    shot,
    streamlit_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COOKIE = "facs_session"


def _store(folder: Path, feat_data: Path) -> Path:
    data = folder / "data"
    accounts = [
        ("ada", "admin"),
        ("rita", "researcher"),
        *((name, "clinician") for name in ("clara", "carl", "dora", "erin")),
    ]
    for name, role in accounts:
        facs_cli(data, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    facs_cli(
        data,
        "videos",
        "add",
        str(feat_data / "WolfgangLanger_Pexels.mp4"),
        "--patient",
        "P017",
        "--visit-date",
        "2024-03-01",
        "--age",
        "41",
    )
    for name in ("clara", "dora", "erin"):
        facs_cli(data, "users", "assign", name, "P017")
    return data


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> Path:
    return _store(tmp_path_factory.mktemp("sessions"), feat_data)


@pytest.fixture(scope="module")
def server(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with streamlit_server(store_dir, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    # Sign-in passes through a redirect and a page load; on a loaded 2-core machine that takes seconds.
    expect.set_options(timeout=60_000)
    with chromium("--autoplay-policy=no-user-gesture-required") as launched:
        yield launched


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.set_default_timeout(60_000)
    return context


def _sign_in_here(page: Page, username: str) -> None:
    """Fill the sign-in form already on ``page`` and wait for the signed-in page."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    fill_sign_in(page, username)


def _open(page: Page, url: str) -> None:
    page.goto(url)
    idle(page)


def _signed_out(page: Page) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def _cookie(context: BrowserContext) -> dict:
    found = [c for c in context.cookies() if c["name"] == COOKIE]
    assert len(found) == 1, context.cookies()
    return found[0]


def test_reload_new_tab_and_deep_link_keep_the_user_signed_in(server: str, browser: Browser) -> None:
    context = _context(browser)
    page = context.new_page()
    # A deep link before signing in: the sign-in form, then the page asked for.
    _open(page, f"{server}/upload")
    expect(page.get_by_text("Page not found")).to_have_count(0)
    shot(page, "sessions-01-deep-link-sign-in")
    _sign_in_here(page, "clara")
    assert page.url == f"{server}/upload"
    expect(page.get_by_role("heading", name="Upload interviews")).to_be_visible()
    shot(page, "sessions-02-deep-link-landed")
    cookie = _cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert cookie["expires"] > time.time() + 3600  # signed and expiring, half a day
    assert "clara" not in cookie["value"] and "clinician" not in cookie["value"]
    assert COOKIE not in page.evaluate("document.cookie")  # scripts in the page cannot read it

    page.reload()
    idle(page)
    expect(page.get_by_text("Signed in as clara")).to_be_visible()
    expect(page.get_by_role("heading", name="Upload interviews")).to_be_visible()

    tab = context.new_page()
    _open(tab, f"{server}/timeline")
    expect(tab.get_by_text("Signed in as clara")).to_be_visible()
    expect(tab.get_by_role("heading", name="Timeline")).to_be_visible()
    shot(tab, "sessions-03-new-tab")
    context.close()


def _not_available(page: Page, server: str, path: str, title: str, role: str) -> None:
    """Open another role's page by its link: Home with a one-line notice, no dialog, a working sidebar."""
    _open(page, f"{server}/{path}")
    expect(page.get_by_text(f"The page '{title}' is not available to your role ({role}).")).to_be_visible()
    expect(page.get_by_role("heading", name="FACS interview dashboard")).to_be_visible()
    assert page.url == f"{server}/"
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_another_roles_page_leads_home_with_a_notice(server: str, browser: Browser) -> None:
    context = _context(browser)
    page = context.new_page()
    # Signed out, the link to another role's page still leads to the sign-in, then Home with the notice.
    _open(page, f"{server}/admin")
    _sign_in_here(page, "clara")
    expect(page.get_by_text("The page 'Admin' is not available to your role (clinician).")).to_be_visible()
    _not_available(page, server, "cohort", "Cohort statistics", "clinician")
    expect(page.get_by_role("heading", name="Cohort statistics")).to_have_count(0)
    shot(page, "sessions-08-not-available-clinician")
    # The sidebar still works, and the notice is gone at the next page.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Upload").click()
    idle(page)
    expect(page.get_by_role("heading", name="Upload interviews")).to_be_visible()
    expect(page.get_by_text("is not available to your role")).to_have_count(0)
    # A patient the clinician may not see: the same sentence whether the code exists or not.
    _open(page, f"{server}/patient?patient=NOPE")
    expect(page.get_by_text("No patient NOPE among the patients you may see; showing P017.")).to_be_visible()
    expect(page.get_by_role("heading", name="Patient profile")).to_be_visible()
    shot(page, "sessions-09-unknown-patient")
    context.close()

    context = _context(browser)
    page = context.new_page()
    _open(page, server)
    _sign_in_here(page, "rita")
    _not_available(page, server, "upload", "Upload", "researcher")
    expect(page.get_by_role("heading", name="Upload interviews")).to_have_count(0)
    shot(page, "sessions-10-not-available-researcher")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Cohort statistics").click()
    idle(page)
    expect(page.get_by_role("heading", name="Cohort statistics")).to_be_visible()
    context.close()


def _no_dialog(page: Page) -> None:
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_an_unknown_address_leads_home_with_a_notice(server: str, browser: Browser) -> None:
    notice = "That address is not a page of this dashboard; here is Home instead."
    context = _context(browser)
    page = context.new_page()
    # Signed out: the sign-in form with the notice, no dialog; signing in leads Home.
    _open(page, f"{server}/nonsense")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("That address is not a page of this dashboard; signing in leads to Home.")).to_be_visible()
    _no_dialog(page)
    shot(page, "sessions-11-unknown-address-signed-out")
    fill_sign_in(page, "clara")
    assert page.url == f"{server}/"
    expect(page.get_by_role("heading", name="FACS interview dashboard")).to_be_visible()
    # Signed in: Home with the notice (the address is not echoed), a working sidebar.
    _open(page, f"{server}/no-such-page?patient=P017")
    expect(page.get_by_text(notice)).to_be_visible()
    expect(page.get_by_role("heading", name="FACS interview dashboard")).to_be_visible()
    expect(page.get_by_text("no-such-page")).to_have_count(0)
    assert page.url.split("?")[0] == f"{server}/"
    _no_dialog(page)
    shot(page, "sessions-12-unknown-address-signed-in")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Upload").click()
    idle(page)
    expect(page.get_by_role("heading", name="Upload interviews")).to_be_visible()
    expect(page.get_by_text(notice)).to_have_count(0)
    # Home's own name is no unknown address, and a real page's deep link still lands on it.
    _open(page, f"{server}/home")
    expect(page.get_by_role("heading", name="FACS interview dashboard")).to_be_visible()
    expect(page.get_by_text(notice)).to_have_count(0)
    _no_dialog(page)
    _open(page, f"{server}/timeline")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.get_by_text(notice)).to_have_count(0)
    context.close()


def test_deep_links_load_without_a_failed_request(server: str, browser: Browser) -> None:
    """No 4xx/5xx on a deep link: Streamlit's page no longer probes /<page>/_stcore/health and host-config."""
    context = _context(browser)
    page = context.new_page()
    failed: list[str] = []
    page.on("response", lambda answer: failed.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None)
    _open(page, f"{server}/upload")
    _sign_in_here(page, "clara")
    assert page.url == f"{server}/upload"
    for path, heading in (
        ("timeline", "Timeline"),
        ("upload", "Upload interviews"),
        ("patient?patient=P017", "Patient profile"),
        ("nonsense", "FACS interview dashboard"),
    ):
        _open(page, f"{server}/{path}")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        page.wait_for_timeout(1000)  # late fetches (the video's first bytes, icons)
    # A nested address could not load the page's files: it goes to its first name.
    _open(page, f"{server}/upload/extra/part")
    assert page.url == f"{server}/upload"
    expect(page.get_by_role("heading", name="Upload interviews")).to_be_visible()
    _no_dialog(page)
    assert failed == []
    context.close()


def test_sign_out_in_one_tab_ends_the_others(server: str, browser: Browser) -> None:
    context = _context(browser)
    first = context.new_page()
    _open(first, server)
    _sign_in_here(first, "carl")
    second = context.new_page()
    _open(second, server)
    expect(second.get_by_text("Signed in as carl")).to_be_visible()
    second.get_by_role("button", name="Sign out").click()
    _signed_out(second)
    assert not [c for c in context.cookies() if c["name"] == COOKIE]  # deleted, not just forgotten
    # The first tab's next click finds the session ended on the server.
    first.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()
    _signed_out(first)
    expect(first.get_by_text("You signed out")).to_be_visible()
    shot(first, "sessions-04-signed-out-elsewhere")
    context.close()


def test_tampered_cookie_is_refused(server: str, browser: Browser) -> None:
    context = _context(browser)
    page = context.new_page()
    _open(page, server)
    _sign_in_here(page, "carl")
    cookie = _cookie(context)
    token, stamp, signature = cookie["value"].split(".")
    forged = [
        f"{token}.{stamp}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",  # signature changed
        f"{token[:-1]}{'A' if token[-1] != 'A' else 'B'}.{stamp}.{signature}",  # token changed
        "carl.clinician",  # what a naive cookie would hold
    ]
    for value in forged:
        other = _context(browser)
        other.add_cookies([cookie | {"value": value}])
        stranger = other.new_page()
        _open(stranger, f"{server}/timeline")
        _signed_out(stranger)
        other.close()
    # The genuine cookie in a fresh browser still works (so the refusals above were about the forgery).
    genuine = _context(browser)
    genuine.add_cookies([cookie])
    page = genuine.new_page()
    _open(page, f"{server}/timeline")
    expect(page.get_by_text("Signed in as carl")).to_be_visible()
    genuine.close()
    context.close()


def test_disabling_the_account_signs_the_user_out_at_the_next_interaction(
    server: str, store_dir: Path, browser: Browser
) -> None:
    user_context, admin_context, cli_context = _context(browser), _context(browser), _context(browser)
    user = user_context.new_page()
    _open(user, f"{server}/timeline")
    _sign_in_here(user, "dora")
    other = cli_context.new_page()
    _open(other, f"{server}/timeline")
    _sign_in_here(other, "erin")
    # From an administrator's browser, on the Admin page.
    admin = admin_context.new_page()
    _open(admin, f"{server}/admin")
    _sign_in_here(admin, "ada")
    _choose(admin, "Account", "dora")
    _choose(admin, "Change", "Disable the account")
    admin.get_by_role("button", name="Apply").click()
    idle(admin)
    # dora's next click: signed out, and a reload does not bring her back.
    user.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()
    _signed_out(user)
    shot(user, "sessions-05-disabled")
    user.reload()
    idle(user)
    _signed_out(user)
    # From the command line, while the dashboard runs.
    facs_cli(store_dir, "users", "disable", "erin")
    other.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()
    _signed_out(other)
    for context in (user_context, admin_context, cli_context):
        context.close()


def _choose(page: Page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def _video_src(page: Page) -> str:
    video = page.locator("video")
    expect(video).to_have_count(1)
    # The synced timeline's script sets the stream's URL once it runs, after its HTML is on the page.
    expect(video).to_have_attribute("src", re.compile("/api/video/"))
    return video.get_attribute("src")


def test_timeline_plays_the_video_through_the_session_checked_stream(
    server: str, browser: Browser, feat_data: Path
) -> None:
    expected = (feat_data / "WolfgangLanger_Pexels.mp4").read_bytes()
    context = _context(browser)
    page = context.new_page()
    _open(page, f"{server}/timeline")
    _sign_in_here(page, "clara")
    src = _video_src(page)
    assert src.startswith(f"{server}/api/video/")
    assert "WolfgangLanger" not in src and "P017" not in src and "videos/" not in src
    # The browser plays it (range requests), frames advance.
    page.evaluate("document.querySelector('video').muted = true; document.querySelector('video').play()")
    page.wait_for_function("document.querySelector('video').currentTime > 0.5", timeout=60_000)
    shot(page, "sessions-06-timeline-playing")
    # The same URL with this browser's cookie: correct bytes for any range.
    for first, last in ((0, 99), (1234, 56_789), (len(expected) - 64, len(expected) - 1)):
        answer = context.request.get(src, headers={"Range": f"bytes={first}-{last}"})
        assert answer.status == 206 and answer.body() == expected[first : last + 1]
    # Without the session (no cookie) or in another clinician's browser: refused.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(src, timeout=10)
    assert refused.value.code == 403
    other = _context(browser)
    carl = other.new_page()
    _open(carl, server)
    _sign_in_here(carl, "carl")
    assert other.request.get(src).status == 403
    other.close()
    # After sign-out the link is dead too.
    page.get_by_role("button", name="Sign out").click()
    _signed_out(page)
    assert context.request.get(src).status in (403, 404)
    context.close()


def test_inactivity_ends_the_session_and_its_video_link(tmp_path: Path, browser: Browser, feat_data: Path) -> None:
    idle_s = 30
    # Its own store: the module's server holds the other one's lock.
    quick = _store(tmp_path, feat_data)
    with streamlit_server(quick, tmp_path / "streamlit.log", {"FACS_SESSION_TIMEOUT_MIN": str(idle_s / 60)}) as url:
        context = _context(browser)
        page = context.new_page()
        _open(page, f"{url}/timeline")
        _sign_in_here(page, "clara")
        src = _video_src(page)
        assert context.request.get(src, headers={"Range": "bytes=0-9"}).status == 206
        page.wait_for_timeout((idle_s + 3) * 1000)
        assert context.request.get(src, headers={"Range": "bytes=0-9"}).status == 403
        page.reload()
        idle(page)
        _signed_out(page)
        expect(page.get_by_text("inactivity")).to_be_visible()
        shot(page, "sessions-07-timed-out")
        context.close()
