"""On a hospital intranet the dashboard must not make the browser call anything but itself.

Each role signs in in its own Chromium context and opens every page its
navigation offers. Every request the page makes to anything other than the
app's own origin is aborted and recorded (``context.route``), and every
element that points the browser elsewhere (a favicon ``<link>``, an image,
a script, a frame) is recorded too, since browsers fetch favicons outside the
page's request interception. The test fails on the first one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route

from facs_core.services.access import LocalOperator
from facs_core.services.demo import load_demo
from facs_core.services.ingest import ingest_video
from store import open_catalog, users
from tests.browser_server import ARTIFACTS, PASSWORD, chromium, streamlit_server, tour

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROLES = {"ada": "admin", "clara": "clinician", "rita": "researcher"}
#: What a page may point at without a network request to somewhere else.
LOCAL_SCHEMES = ("data:", "blob:", "about:")
#: Elements whose URL attributes make the browser fetch something.
FETCHING = "link[href], img[src], script[src], iframe[src], source[src], video[src], audio[src], embed[src]"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("outside") / "data"
    with open_catalog(data_dir) as catalog:
        for name, role in ROLES.items():
            users.add_user(catalog, name, role, PASSWORD, actor="test")
        load_demo(catalog, n_patients=3, with_videos=False)
        operator = LocalOperator("test")
        ingest_video(catalog, feat_data / "single_face.mp4", original_name="v.mp4", patient_id="P017", user=operator)
        for patient in catalog.query("SELECT patient_id FROM patients")["patient_id"]:
            users.assign_patient(catalog, "clara", patient, actor="test")
    with streamlit_server(data_dir, data_dir.parent / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as launched:
        yield launched


def _outside(url: str, origin: str) -> bool:
    if url.startswith(LOCAL_SCHEMES) or not url:
        return False
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" != origin


def _pointing_outside(page: Page, origin: str) -> list[str]:
    urls = page.eval_on_selector_all(
        FETCHING, "elements => elements.map(e => e.href || e.src || e.getAttribute('href') || '')"
    )
    return [url for url in urls if _outside(url, origin)]


@pytest.mark.parametrize("username", list(ROLES))
def test_no_page_makes_the_browser_call_outside(server: str, browser: Browser, username: str) -> None:
    origin = server
    attempts: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    where = ["sign-in"]

    def guard(route: Route) -> None:
        url = route.request.url
        if _outside(url, origin):
            attempts.append(f"{where[0]}: {url}")
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.on("request", lambda request: _outside(request.url, origin) and attempts.append(f"{where[0]}: {request.url}"))

    def check(title: str) -> None:
        where[0] = title
        attempts.extend(f"{title}: {url}" for url in _pointing_outside(page, origin))

    titles = tour(page, server, username, check, prefix="outside")
    context.close()
    assert titles, "no pages in the navigation"
    assert not sorted(set(attempts)), f"requests to other origins: {sorted(set(attempts))}"
