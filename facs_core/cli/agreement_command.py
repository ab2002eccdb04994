"""``agreement``: how well two backends' AU estimates agree on the same frames.

Contract::

    python -m facs_core [--data-dir DIR] agreement VIDEO_ID [--backends A B] [--out CSV]
    python -m facs_core agreement FRAMES_A.parquet FRAMES_B.parquet [--out CSV]

Prints, per AU both runs hold, the paired frames, the frame-level Pearson r,
ICC(3,1) with its 95% interval and Bland-Altman's mean difference and 95%
limits of agreement (:mod:`facs_core.stats.agreement`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from facs_core.errors import InputError

_VIDEO_ID = re.compile(r"^[0-9a-f]{16}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agreement",
        help="per-AU agreement (r, ICC(3,1), Bland-Altman) between two backends' runs of a video",
        description="Compare two runs of the same video frame by frame: a stored video's newest runs of two"
        " backends, or two per-frame Parquet files (e.g. an imported OpenFace table and an extraction).",
    )
    parser.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="a stored video id, or two per-frame .parquet files"
    )
    parser.add_argument("--backends", nargs=2, metavar=("A", "B"), help="which two backends of the video")
    parser.add_argument("--out", metavar="CSV", help="also write the table as CSV")
    parser.set_defaults(func=_agreement)


def _agreement(args: argparse.Namespace) -> int:
    from facs_core.comparison import compare_files
    from facs_core.services.agreement_runs import compare_visit

    if len(args.sources) == 1 and _VIDEO_ID.match(args.sources[0]):
        from store import open_catalog

        with open_catalog(args.data_dir) as catalog:
            comparison = compare_visit(catalog, args.sources[0], tuple(args.backends) if args.backends else None)
    elif len(args.sources) == 2:
        if args.backends:
            raise InputError("--backends applies to a stored video id, not to two files")
        comparison = compare_files(*args.sources)
    else:
        raise InputError("give one stored video id (16 hex digits) or two per-frame .parquet files")
    table = comparison.table
    print(f"agreement of {comparison.first_label} (first) and {comparison.second_label} (second), per AU:")
    print(f"{'AU':<6}{'frames':>7}{'r':>8}{'ICC(3,1)':>10}  {'95% CI':<15}{'mean diff':>10}  limits of agreement")
    for row in table.itertuples(index=False):
        ci = f"[{row.icc_ci_low:.2f}, {row.icc_ci_high:.2f}]" if row.icc_ci_low == row.icc_ci_low else "-"
        print(
            f"{row.au:<6}{row.n_frames:>7}{row.pearson_r:>8.3f}{row.icc_3_1:>10.3f}  {ci:<15}"
            f"{row.mean_difference:>10.3f}  [{row.loa_low:.3f}, {row.loa_high:.3f}]"
        )
    if args.out:
        from facs_core.cli._shared import write_csv_atomically

        labelled = table.assign(first=comparison.first_label, second=comparison.second_label)
        write_csv_atomically(labelled, Path(args.out))
        print(f"wrote {args.out}")
    return 0
