"""What holding the catalog only per unit of work costs a page render.

The catalog is shared between processes by opening DuckDB for a unit of work
and closing it after a short linger (``docs/store-sharing.md``). This measures
every dashboard page with Streamlit's AppTest on the demo cohort under three
settings of ``FACS_CATALOG_LINGER_S``:

- *held* (baseline): the file is never closed, as when the dashboard owned it;
- *default* (0.1 s): what ships;
- *per query* (0): every query opens and closes DuckDB, the worst case.

For each page and setting: the median of warm renders (after one cold render)
and how many times the render opened DuckDB. Ratios are against *held* in the
same run. Also: one open + query + close of the catalog, on its own.

Run ``.venv/bin/python bench/catalog_turns.py`` (``--quick``: 1 warm render,
no report written).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# pages/ is a namespace package, which a module named pages (bench/pages.py) would shadow.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section  # noqa: E402 (after the sys.path fix above)
from facs_core.services.access import User  # noqa: E402 (after the sys.path fix above)
from facs_core.services.demo import load_demo  # noqa: E402 (after the sys.path fix above)
from store import open_catalog, users  # noqa: E402 (after the sys.path fix above)

REPO = Path(__file__).resolve().parent.parent
PAGES = (
    ("home", "clinician"),
    ("upload", "clinician"),
    ("timeline", "clinician"),
    ("extraction", "clinician"),
    ("patient", "clinician"),
    ("cohort", "researcher"),
    ("significance", "researcher"),
    ("export", "researcher"),
    ("admin", "admin"),
)
SETTINGS = (("held", "1000000"), ("default", "0.1"), ("per query", "0"))


def build(folder: Path) -> None:
    catalog = open_catalog(folder)
    try:
        load_demo(catalog, with_videos=False)
        for role in ("clinician", "researcher", "admin"):
            users.add_user(catalog, role, role, "benchmark-password-1", actor="bench")
        for patient in catalog.query("SELECT patient_id FROM patients")["patient_id"]:
            users.assign_patient(catalog, "clinician", patient, actor="bench")
    finally:
        catalog.close()


def open_cost(folder: Path, repeats: int = 20) -> float:
    """Seconds for one open + one small query + close of the catalog."""
    import duckdb

    path = str(folder / "catalog.duckdb")
    started = time.perf_counter()
    for _ in range(repeats):
        con = duckdb.connect(path)
        con.execute("SELECT count(*) FROM videos").fetchone()
        con.close()
    return (time.perf_counter() - started) / repeats


def measure(warm: int) -> dict[tuple[str, str], tuple[float, int]]:
    from streamlit.testing.v1 import AppTest

    from web import common

    store = common.catalog()
    results = {}
    for setting, linger in SETTINGS:
        os.environ["FACS_CATALOG_LINGER_S"] = linger
        for name, role in PAGES:
            at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=600)
            at.session_state["user"] = User(role, role)
            at.run()  # cold: Streamlit's caches fill
            if at.exception:
                raise RuntimeError(f"{name}: {at.exception[0].value}")
            times, opens = [], []
            for _ in range(warm):
                if setting != "held":
                    store.close()  # every render starts with the file closed, as after an idle moment
                before = store.opens
                started = time.perf_counter()
                at.run()
                times.append(time.perf_counter() - started)
                opens.append(store.opens - before)
            results[(name, setting)] = (statistics.median(times), int(statistics.median(opens)))
        store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    warm = 1 if args.quick else 3
    with tempfile.TemporaryDirectory(prefix="facs-bench-turns-") as scratch:
        folder = Path(scratch) / "data"
        build(folder)
        os.environ["FACS_DATA_DIR"] = str(folder)
        one_open = open_cost(folder)
        results = measure(warm)
    lines = [
        "## Catalog turns: page renders with the catalog opened per unit of work (`bench/catalog_turns.py`)",
        "",
        "AppTest renders of each page on the demo cohort (60 synthetic visits), median of"
        f" {warm} warm renders, each (but *held*) starting with the catalog closed; *held* = the file never closed (the"
        " single-owner design, baseline), *default* = 0.1 s linger (shipped), *per query* = no linger."
        f" One open + query + close of the catalog on its own: {1000 * one_open:.0f} ms.",
        "",
        "| page | held s | default s (opens) | ratio | per query s (opens) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, _ in PAGES:
        held, _opens = results[(name, "held")]
        default, default_opens = results[(name, "default")]
        per_query, per_query_opens = results[(name, "per query")]
        lines.append(
            f"| {name} | {held:.3f} | {default:.3f} ({default_opens}) | {default / held:.2f}"
            f" | {per_query:.3f} ({per_query_opens}) | {per_query / held:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section("catalog_turns", text)


if __name__ == "__main__":
    main()
