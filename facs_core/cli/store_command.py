"""``init`` and ``info``: create the store and say what is in it."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    init = subparsers.add_parser("init", help="create (or upgrade) the store in the data folder")
    init.set_defaults(func=_init)
    info = subparsers.add_parser("info", help="what the store holds: patients, videos, hours, frames, jobs")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(func=_info)


def _init(args: argparse.Namespace) -> int:
    from store import listings, open_catalog

    with open_catalog(args.data_dir) as catalog:
        version = listings.schema_version(catalog)
    print(f"store ready at {catalog.paths.root} (schema version {version})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from store import open_catalog
    from store.summary import store_summary

    with open_catalog(args.data_dir) as catalog:
        summary = store_summary(catalog)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, default=str))
        return 0
    print(f"data folder       {summary.data_dir}")
    print(f"patients          {summary.patients}")
    print(f"videos            {summary.videos}")
    print(f"hours of video    {summary.hours:.2f}")
    print(f"extracted frames  {summary.frames}")
    for job in summary.recent_jobs:
        print(f"job {job['job_id']}  {job['kind']:<10} {job['status']:<9} {job['created_at']}")
    return 0
