"""What the browser tests share: a ``streamlit run dashboard.py`` server, a Chromium, and page helpers.

This module starts and stops things (``streamlit_server``, ``chromium``),
signs in, waits for Streamlit to finish a run (``idle``), opens pages and
takes screenshots into ``test-artifacts/``. Streamlit draws the page after its
websocket delivers it, so every assertion waits for ``IDLE`` first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "IDLE",
    "PASSWORD",
    "REPO",
    "chromium",
    "facs_cli",
    "fill_date",
    "fill_sign_in",
    "free_port",
    "idle",
    "open_page",
    "server_pid",
    "shot",
    "sign_in",
    "starved",
    "streamlit_server",
    "tour",
]

REPO = Path(__file__).resolve().parent.parent
#: Screenshots of browser tests.
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
#: Password of every account the browser tests create.
PASSWORD = "correct-horse-battery"
#: The app once Streamlit has finished running the script.
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"

# Every browser test imports this module. A Streamlit rerun on a busy two-core
# CI machine can outlast Playwright's 5 s default for ``expect``: a test waits
# for what the page must show, it does not time it (speed lives in bench/).
expect.set_options(timeout=60_000)


#: The process serving each URL yielded by :func:`streamlit_server` while it runs.
_SERVERS: dict[str, subprocess.Popen] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def facs_cli(data_dir: Path, *args: str, stdin: str | None = None) -> None:
    """Run ``python -m facs_core --data-dir data_dir *args``; raises if it fails."""
    subprocess.run(
        [sys.executable, "-m", "facs_core", "--data-dir", str(data_dir), *args],
        input=stdin,
        text=True,
        check=True,
        cwd=REPO,
        capture_output=True,
    )


def idle(page: Page) -> None:
    """Wait until Streamlit has finished running the script (and drawing)."""
    page.wait_for_timeout(400)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_timeout(300)


def shot(page: Page, name: str) -> None:
    """A full-page screenshot at ``test-artifacts/<name>.png``."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_page(page: Page, title: str) -> None:
    """Open the page titled ``title`` from the sidebar navigation and wait for it."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    idle(page)


def fill_date(page: Page, label: str, iso_date: str) -> None:
    """Type ``iso_date`` (``2024-03-01``) into the date field ``label``: its year, month and day segments in turn.

    Streamlit's date input is a group of spin buttons, not a text box that
    ``fill`` could set; typing into the first segment moves on to the next.
    """
    page.get_by_role("group", name=label).get_by_role("spinbutton").first.click()
    page.keyboard.type(iso_date.replace("-", ""))
    page.keyboard.press("Tab")
    idle(page)


def fill_sign_in(page: Page, username: str) -> None:
    """Fill the sign-in form already on ``page`` as ``username``; waits for the sidebar to say so."""
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=60_000)
    idle(page)


def sign_in(page: Page, url: str, username: str) -> None:
    """Sign ``username`` in at ``url``; waits for the sidebar to say so (slow machines included)."""
    page.goto(url)
    idle(page)
    fill_sign_in(page, username)


@contextlib.contextmanager
def streamlit_server(data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the dashboard on the store at ``data_dir``; yields its URL (``http://127.0.0.1:PORT``).

    The server's output goes to ``log_path``; ``env`` is added to this process's environment.
    """
    port = free_port()
    environment = os.environ | {"FACS_DATA_DIR": str(data_dir), "RAY_DISABLE_USAGE_STATS": "1"} | (env or {})
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
            ],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        _SERVERS[url] = process
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"streamlit did not start on {url}; see {log_path}") from None
                    time.sleep(0.5)
            yield url
        finally:
            _SERVERS.pop(url, None)
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def server_pid(url: str) -> int:
    """The process id of the server :func:`streamlit_server` runs at ``url``."""
    return _SERVERS[url].pid


@contextlib.contextmanager
def starved(pid: int, share: float = 0.2, period_s: float = 0.1) -> Iterator[None]:
    """Let process ``pid`` run only ``share`` of each ``period_s`` (SIGSTOP/SIGCONT), as on a loaded machine.

    Its script runs then take several times longer, so the browser draws a
    run's elements well before the run ends, as it does on a busy CI machine.
    The process is continued when the block ends.
    """
    done = threading.Event()

    def cycle() -> None:
        while not done.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            done.wait(period_s * (1 - share))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            done.wait(period_s * share)

    worker = threading.Thread(target=cycle, daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright, with ``extra_args`` after the sandbox-free defaults."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", *extra_args],
        )
        try:
            yield browser
        finally:
            browser.close()


def tour(page: Page, url: str, username: str, at: Callable[[str], None], *, prefix: str = "tour") -> list[str]:
    """Sign ``username`` in at ``url`` and open every page the navigation offers.

    ``at(where)`` is called on the sign-in page, on Home after signing in and
    on every page once it has been drawn (and late fetches have started);
    each page is screenshotted as ``<prefix>-<user>-<page>.png``. Returns the
    page titles visited.
    """

    def settle(where: str) -> None:
        idle(page)
        page.wait_for_timeout(1500)
        at(where)

    page.goto(url)
    settle("sign-in")
    sign_in(page, url, username)
    settle("home")
    nav = page.get_by_test_id("stSidebarNav").get_by_role("link")
    # A link's text is its icon's ligature name, then its title.
    titles = [nav.nth(i).inner_text().strip().splitlines()[-1] for i in range(nav.count())]
    for index, title in enumerate(titles):
        nav.nth(index).click()
        settle(title)
        shot(page, f"{prefix}-{username}-{title.lower().replace(' ', '-')}")
    return titles
