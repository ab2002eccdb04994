"""``stats profile``: a patient's visits against the cohort, as the Patient profile page shows them.

Contract::

    python -m facs_core [--data-dir DIR] stats profile --from-store --patient P017 \\
        [--mode z-score|percentile] [--measures aus|emotions] [--source real|synthetic|both] --out PROFILE.csv

PROFILE has one row per (visit, AU): ``video_id, AU, mean, value`` (the
z-score or percentile against the reference visits of ``--source``: those of
every other patient, never the patient's own), then the provenance columns
``mode, measures, data_source, n_reference, software, inputs_sha256``
(:func:`facs_core.services.analysis.patient_profile`, the page's engine).
``--out`` may be ``.parquet`` (provenance in the metadata). A reference of
fewer than 5 other patients with values (or, with ``--source both``, of 1 to
4 real ones) is refused in one line, exit 2, nothing written: their values
could be worked out from the scores, and z-scores from so few mean little.
"""

from __future__ import annotations

import argparse

from facs_core.cli._shared import checked_out
from facs_core.wording import count

# facs_core.stats.profile's PROFILE_MODES and MEASURES, facs_core.stats.cohort's DATA_SOURCES
# (repeated so that building the parser imports nothing heavy; tests/test_cli_startup.py checks them).
MODES: tuple[str, ...] = ("z-score", "percentile")
MEASURES: tuple[str, ...] = ("aus", "emotions")
DATA_SOURCES: tuple[str, ...] = ("real", "synthetic", "both")
# facs_core.stats.profile's MIN_REFERENCE_PATIENTS, for --help.
MIN_REFERENCE_PATIENTS: int = 5


def register_stats(stats_subparsers: argparse._SubParsersAction) -> None:
    """Add ``stats profile``."""
    parser = stats_subparsers.add_parser(
        "profile",
        help="a patient's visits against the cohort: AU (or emotion) means as z-scores or percentiles",
        description="Each visit's per-video means against the reference visits of the data source, those of"
        " every other patient (z-score: sample SD; percentile: share of reference visits at or below), as the"
        f" Patient profile page. Refused when the reference holds fewer than {MIN_REFERENCE_PATIENTS} other patients.",
    )
    parser.add_argument("--from-store", action="store_true", required=True, help="read the store of --data-dir")
    parser.add_argument("--patient", required=True, help="patient code")
    parser.add_argument("--mode", choices=MODES, default="z-score")
    parser.add_argument("--measures", choices=MEASURES, default="aus")
    parser.add_argument(
        "--source",
        choices=DATA_SOURCES,
        default=None,
        help="reference visits: real, synthetic (demo) or both (default: real when any visit is real)",
    )
    parser.add_argument("--out", required=True, metavar="PROFILE", help="table to write (.csv or .parquet)")
    parser.set_defaults(func=run_profile)


def run_profile(args: argparse.Namespace) -> int:
    """Handler of ``stats profile``."""
    from facs_core.cli.stats_command import RESULT_SUFFIXES, write_result
    from facs_core.services import analysis
    from store import open_catalog, resolve_data_dir

    out = checked_out(args.out, RESULT_SUFFIXES)
    store = open_catalog(resolve_data_dir(args.data_dir))
    try:
        visits = analysis.patient_visits(store, args.patient)
        table = analysis.patient_profile(store, visits, args.mode, args.measures, args.source)
    finally:
        store.close()
    table.attrs = {"provenance": table.attrs["provenance"]}
    write_result(table, out)
    print(
        f"wrote {out}: {count(table['video_id'].nunique(), 'visit')} x {count(table['AU'].nunique(), 'measure')},"
        f" {args.mode} against {count(table['n_reference'].iloc[0] if len(table) else 0, 'reference visit')}"
    )
    return 0
