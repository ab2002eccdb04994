"""``verify``: check the whole store, byte for byte.

``python -m facs_core verify [--record-missing]`` reads every catalog table,
hashes every video, playback copy and shard against the sha256 the catalog
recorded when it was written, and looks for files no catalog row names. Each
problem is printed as one line and the exit code is 1; a sound store prints one
``OK`` line and exits 0.
"""

from __future__ import annotations

import argparse
import sys

from facs_core.cli._shared import cli_operator
from facs_core.wording import count


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="check the catalog and every stored file against its recorded sha256; list problems"
    )
    parser.add_argument(
        "--record-missing",
        action="store_true",
        help="record the checksum of files written before checksums were kept, instead of reporting them",
    )
    parser.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from facs_core.services.integrity import verify_data_dir

    outcome = verify_data_dir(args.data_dir, cli_operator(), record_missing=args.record_missing)
    if outcome.recorded:
        print(f"recorded the checksum of {count(outcome.recorded, 'file')} that had none")
    if outcome.ok:
        print(f"OK: the store is sound ({count(outcome.files_checked, 'file')} verified)")
        return 0
    for problem in outcome.problems:
        print(problem)
    print(f"error: {count(len(outcome.problems), 'problem')} found in the store", file=sys.stderr)
    return 1
