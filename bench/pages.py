"""How long each dashboard page takes from navigation to fully rendered, in headless Chromium.

Two stores: the demo cohort (60 synthetic visits of 180 s at 10 fps, 108,000
frames) and a large one (58 visits, 1,000,000 frames). For each store a
``streamlit run dashboard.py`` server is started, a clinician and a researcher sign
in, and every page is opened from the sidebar twice: cold (first visit after
the server started: Streamlit's caches empty) and warm. A page counts as
rendered when the script has stopped running, the page's title is shown and
every chart has drawn its canvas or SVG. Then the server is restarted on the
same store and every page timed once more (*restart*: in-memory caches empty,
on-disk caches such as ``facs_core.services.feature_cache`` kept).

Baseline: the Home page of the same server in the same run; ratios are page
time / baseline time. Target: every page under 2 s.

Run ``.venv/bin/python bench/pages.py`` (``--quick``: the demo store only, cold
pass only, no report written).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section
from facs_core.services.demo import load_demo
from store import open_catalog, users

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "benchmark-password-1"
HEADLESS = ("--server.headless", "true")
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
CLINICIAN_PAGES = ("Home", "Upload", "Timeline", "Extraction", "Patient profile")
RESEARCHER_PAGES = ("Home", "Cohort statistics", "Significance map", "Export")
TITLES = {
    "Home": "FACS interview dashboard",
    "Upload": "Upload interviews",
    "Timeline": "Timeline",
    "Extraction": "Extraction",
    "Patient profile": "Patient profile",
    "Cohort statistics": "Cohort statistics",
    "Significance map": "Scalogram significance map",
    "Export": "Export",
}
RENDERED_JS = """(title) => {
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
  const heading = [...document.querySelectorAll("h1")].some(h => h.textContent.trim().startsWith(title));
  if (!heading) return false;
  if (document.querySelector("[data-testid='stSkeleton'], [data-testid='stSpinner']")) return false;
  return [...document.querySelectorAll("[data-testid='stVegaLiteChart']")]
    .every(c => c.querySelector("canvas, svg"));
}"""


def build_store(folder: Path, n_patients: int, duration_s: float) -> int:
    """A store of ``2 * n_patients`` synthetic visits; returns the frame count.

    ``load_demo`` caches each shard's wavelet features as it writes it, with the
    same ``facs_core.services.feature_cache.precompute`` an extraction job calls for a
    finished run, so the store is what extraction would have left.
    """
    catalog = open_catalog(folder)
    try:
        result = load_demo(catalog, n_patients=n_patients, with_videos=False, duration_s=duration_s)
        users.add_user(catalog, "bench-admin", "admin", PASSWORD, actor="bench")
        users.add_user(catalog, "clinician", "clinician", PASSWORD, actor="bench")
        users.add_user(catalog, "researcher", "researcher", PASSWORD, actor="bench")
        for patient in catalog.query("SELECT patient_id FROM patients")["patient_id"]:
            users.assign_patient(catalog, "clinician", patient, actor="bench")
        return result.frames
    finally:
        catalog.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = os.environ | {"FACS_DATA_DIR": str(data_dir), "RAY_DISABLE_USAGE_STATS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port), *HEADLESS],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"streamlit did not start on {url}")


def time_pages(
    url: str, username: str, pages: tuple[str, ...], passes: tuple[str, ...]
) -> dict[tuple[str, str], float]:
    """Seconds from clicking each page's sidebar link to fully rendered, per (page, pass)."""
    from playwright.sync_api import sync_playwright

    timings: dict[tuple[str, str], float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.wait_for_selector(IDLE)
        page.get_by_role("textbox", name="User name").fill(username)
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_function(RENDERED_JS, arg=TITLES["Home"])
        for label in passes:
            for name in pages:
                # Leave for another page first, so each timing starts from a navigation.
                other = "Home" if name != "Home" else pages[1]
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=other, exact=True).click()
                page.wait_for_function(RENDERED_JS, arg=TITLES[other])
                start = time.perf_counter()
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
                page.wait_for_timeout(50)
                page.wait_for_function(RENDERED_JS, arg=TITLES[name], polling=25)
                timings[(name, label)] = time.perf_counter() - start
        browser.close()
    return timings


def measure(store: str, data_dir: Path, passes: tuple[str, ...]) -> list[dict]:
    process, url = start_server(data_dir)
    try:
        rows = []
        for username, pages in (("clinician", CLINICIAN_PAGES), ("researcher", RESEARCHER_PAGES)):
            timings = time_pages(url, username, pages, passes)
            for (name, label), seconds in timings.items():
                rows.append({"store": store, "user": username, "page": name, "pass": label, "seconds": seconds})
        return rows
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(rows: list[dict], sizes: dict[str, int]) -> str:
    lines = [
        "## Pages: navigation to fully rendered (headless Chromium)",
        "",
        "`bench/pages.py`: each page opened from the sidebar, timed until the script stopped, the title showed and"
        " every chart drew. *cold*: first visit after the server started (caches empty); *warm*: second visit."
        " Baseline: the Home page of the same server and pass. Target: every page under 2 s."
        " Stores are built with `facs_core.services.demo.load_demo`, which writes the synthetic shards directly and,"
        " as the"
        " extraction job does for every finished run, computes their per-video wavelet features at that time"
        " (`facs_core.services.feature_cache.precompute`); building them is not timed here. The app's background"
        " warm-up"
        " then only reads those files. *restart*: first visit after a second"
        " server start on the same store (in-memory caches empty; the wavelet features cached on disk by"
        " `facs_core.services.feature_cache` during the first server's run are read, not recomputed).",
        "",
        "| store | user | page | pass | seconds | × baseline | under 2 s |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        base = next(
            r["seconds"]
            for r in rows
            if r["store"] == row["store"]
            and r["user"] == row["user"]
            and r["page"] == "Home"
            and r["pass"] == row["pass"]
        )
        lines.append(
            f"| {row['store']} ({sizes[row['store']]:,} frames) | {row['user']} | {row['page']} | {row['pass']} |"
            f" {row['seconds']:.2f} | {row['seconds'] / base:.1f} | {'yes' if row['seconds'] < 2 else '**no**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo store only, cold pass only; no report")
    args = parser.parse_args()
    stores = {"demo": (30, 180.0)} if args.quick else {"demo": (30, 180.0), "large": (29, 1724.2)}
    passes = ("cold",) if args.quick else ("cold", "warm")
    rows: list[dict] = []
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        for name, (n_patients, duration) in stores.items():
            folder = Path(tmp) / name
            sizes[name] = build_store(folder, n_patients, duration)
            print(f"{name}: {sizes[name]:,} frames; timing pages ...", file=sys.stderr)
            rows.extend(measure(name, folder, passes))
            if not args.quick:
                print(f"{name}: restarting the server ...", file=sys.stderr)
                rows.extend(measure(name, folder, ("restart",)))
    text = report(rows, sizes)
    print(text)
    if not args.quick:
        write_section("pages", text)


if __name__ == "__main__":
    main()
