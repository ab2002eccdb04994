"""``stats scalogram``: the AU x scale wavelet significance map.

Contract (other tools call it exactly so)::

    python -m facs_core stats scalogram --frames FRAMES.csv|FRAMES.parquet \\
        --clinical CLINICAL.csv --score bdi \\
        --covariates age,sex,camera,medication,repeat_visit --fps 30 \\
        --scales 1-100 [--wavelet cmor1.5-1.0] [--fdr bh] --out RESULT.csv

RESULT.csv has one row per (AU, scale); its first columns are
``au,scale,n,r,p,p_fdr,significant``, then ``period_s,frequency_hz`` and more
(see :func:`facs_core.wavelets.associate_scales`).
"""

from __future__ import annotations

import argparse
import sys

from facs_core.cli._shared import checked_out, write_csv_atomically

# Defaults repeated here so that building the parser (every CLI call, --help
# included) does not import pandas, scipy and PyWavelets; a test checks they agree.
DEFAULT_WAVELET = "cmor1.5-1.0"
DEFAULT_MAX_GAP_S = 0.5
FDR_SCOPES = ("all", "au")


def register_stats(stats_subparsers: argparse._SubParsersAction) -> None:
    """Add ``stats scalogram``."""
    parser = stats_subparsers.add_parser(
        "scalogram",
        help="AU x scale map: Morlet wavelet features of each AU against a score, FDR-corrected",
        description=(
            "Complex Morlet CWT of each AU series (mean removed; gaps up to --max-gap seconds interpolated, longer"
            " gaps split the series), mean |W| per video, AU and scale, then the partial correlation of each"
            " (AU, scale) feature with the score controlling for the covariates, FDR across all cells."
        ),
    )
    parser.add_argument(
        "--frames",
        required=True,
        metavar="FRAMES",
        help="per-frame table, .csv or .parquet, or a folder of them (a file without video_id is named by its stem)",
    )
    parser.add_argument("--clinical", required=True, metavar="CLINICAL", help="clinical table, .csv or .parquet")
    parser.add_argument("--score", required=True, help="score column, e.g. bdi")
    parser.add_argument("--covariates", default="", help="comma-separated covariate columns (default: none)")
    parser.add_argument("--fps", required=True, type=_number, help="frame rate of the videos, frames per second")
    parser.add_argument("--scales", default="1-100", help="scales in frames: 1-100, 1-100:0.5 or 1,2,4 (default 1-100)")
    parser.add_argument("--wavelet", default=DEFAULT_WAVELET, help=f"PyWavelets wavelet (default {DEFAULT_WAVELET})")
    parser.add_argument("--fdr", default="bh", help="correction: bh, by, bonferroni or none (default bh)")
    parser.add_argument(
        "--fdr-scope", default="all", choices=FDR_SCOPES, help="family: all AU x scale cells (default) or per AU"
    )
    parser.add_argument("--alpha", type=_number, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--method", default="pearson", help="pearson (default) or spearman")
    parser.add_argument("--power", action="store_true", help="average |W|^2 (power) instead of |W|")
    parser.add_argument(
        "--max-gap",
        type=_number,
        default=DEFAULT_MAX_GAP_S,
        metavar="SECONDS",
        help=f"longest face gap filled by interpolation; longer gaps split the series (default {DEFAULT_MAX_GAP_S})",
    )
    parser.add_argument(
        "--segments", metavar="SEGMENTS", help="marked segments (video_id,start_s,end_s); default whole videos"
    )
    parser.add_argument("--workers", type=int, default=None, help="threads for the transform (default: CPU cores)")
    parser.add_argument("--out", required=True, metavar="RESULT", help="result table to write (.csv)")
    parser.set_defaults(func=run_scalogram)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def run_scalogram(args: argparse.Namespace) -> int:
    """Handler of ``stats scalogram``."""
    from facs_core.cli.options import checked_fps, parse_scales
    from facs_core.clinical import read_table
    from facs_core.frame_tables import read_frames
    from facs_core.wavelets import AssociationParams, WaveletParams, scale_association

    fps = checked_fps(args.fps)
    scales = parse_scales(args.scales)
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    out = checked_out(args.out, (".csv",))
    frames = read_frames(args.frames)
    clinical = read_table(args.clinical, "clinical table")
    segments = read_table(args.segments, "segments table") if args.segments else None
    association = AssociationParams(
        score=args.score,
        covariates=tuple(covariates),
        method=args.method,
        fdr=args.fdr,
        fdr_scope=args.fdr_scope,
        alpha=args.alpha,
    )
    transform = WaveletParams(scales=scales, wavelet=args.wavelet, power=args.power, max_gap_s=args.max_gap)
    result = scale_association(frames, clinical, fps, association, transform, segments=segments, workers=args.workers)
    for note in result.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    blank = result.groupby("au", sort=False).apply(lambda cells: bool((cells["n"] == 0).all()), include_groups=False)
    for au in blank[blank].index:
        print(f"note: {au} has no valid frames in any analysed video; its cells are empty", file=sys.stderr)
    short = result[result["n_short"] > 0]
    if len(short):
        print(
            f"note: {len(short)} of {len(result)} cells leave out videos shorter than the wavelet support"
            f" (from scale {short['scale'].min():g}, which needs {short['support_s'].min():.1f} s of"
            " uninterrupted face); see n_short and reason",
            file=sys.stderr,
        )
    write_csv_atomically(result, out)
    significant = result[result["significant"].fillna(False).astype(bool)]
    aus = significant["au"].nunique()
    print(
        f"wrote {out}: {len(result)} cells ({result['au'].nunique()} AUs x {len(scales)} scales),"
        f" {len(significant)} significant in {aus} AU(s) ({result['correction'].iloc[0]})"
    )
    return 0
