"""``stats scalogram``: the AU x scale wavelet significance map.

Contract (other tools call it exactly so)::

    python -m facs_core stats scalogram --frames FRAMES.csv|FRAMES.parquet \\
        --clinical CLINICAL.csv --score bdi \\
        --covariates age,sex,camera,medication,repeat_visit --fps 30 \\
        --scales 1-100 [--wavelet cmor1.5-1.0] [--fdr bh] --out RESULT.csv

RESULT.csv has one row per (AU, scale); its first columns are
``au,scale,n,r,p,p_fdr,significant``, then ``period_s,frequency_hz`` and more
(see :func:`facs_core.wavelets.associate_scales`), ending with the provenance
columns (``df, covariates, fdr_scope, n_videos, data_source, software,
inputs_sha256``).

Extensions, the rate-free way::

    python -m facs_core stats scalogram --frames FRAMES --clinical CLINICAL.csv --score bdi \
        --periods 0.2-10 [--period-count 100] ...          # each video at its own frame rate
    python -m facs_core [--data-dir DIR] stats scalogram --from-store --score bdi \
        --periods 0.2-10 --period-count 100 [--source real|synthetic|both] [--segment-label LABEL] ...
    python -m facs_core [--data-dir DIR] stats scalogram --from-store --score bdi \
        --fps 30 --scales 1-100 ...                          # the visits recorded at 30 fps only

``--periods`` takes seconds (``A-B`` with ``--period-count N`` log-spaced
periods, default 100; ``A-B:STEP``; or a list ``0.5,1,2``) instead of
``--fps``/``--scales``; each video is transformed at its own sampling period
(read from its timestamps, or the store's frame rate) and a period shorter
than two frames of a video is left out for that video (``n_unresolved``).
``scale`` is then empty (each video has its own). ``--from-store`` analyses
the store as the Significance map page does (same engine,
:func:`facs_core.services.analysis.significance_map`); with ``--fps`` it
analyses the stored visits recorded at that rate (to the thousandth) at
``--scales`` frames, and says how many visits at other rates it left out. With ``--fps``, a scale
whose period is below two frames (``above_nyquist``) is left out for every video as ``--periods``
leaves out a period a video cannot resolve: its cells are empty, counted in ``n_unresolved``,
never computed on aliased data. ``--out`` may be
``.parquet`` (the provenance block in the file's metadata).
"""

from __future__ import annotations

import argparse
import sys

from facs_core.cli._shared import checked_out
from facs_core.errors import InputError
from facs_core.wording import count

# Defaults repeated here so that building the parser (every CLI call, --help
# included) does not import pandas, scipy and PyWavelets; a test checks they agree.
DEFAULT_WAVELET = "cmor1.5-1.0"
DEFAULT_MAX_GAP_S = 0.5
FDR_SCOPES = ("all", "au")
DEFAULT_PERIOD_COUNT = 100
DATA_SOURCES = ("real", "synthetic", "both")


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
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument(
        "--frames",
        metavar="FRAMES",
        help="per-frame table, .csv or .parquet, or a folder of them (a file without video_id is named by its stem)",
    )
    inputs.add_argument(
        "--from-store",
        action="store_true",
        help="analyse the store of --data-dir as the Significance map page does (instead of --frames/--clinical)",
    )
    parser.add_argument("--clinical", metavar="CLINICAL", help="clinical table, .csv or .parquet (with --frames)")
    parser.add_argument("--score", required=True, help="score column, e.g. bdi")
    parser.add_argument("--covariates", default="", help="comma-separated covariate columns (default: none)")
    axis = parser.add_mutually_exclusive_group(required=True)
    axis.add_argument(
        "--fps",
        type=_number,
        help="frame rate of the videos, frames per second (scales in frames); with --from-store, only the visits"
        " recorded at this rate",
    )
    axis.add_argument(
        "--periods",
        metavar="SECONDS",
        help="periods in seconds instead of --fps/--scales, each video at its own frame rate: 0.2-10 (with"
        " --period-count, log-spaced), 0.2-10:0.1 or 0.5,1,2",
    )
    parser.add_argument(
        "--period-count",
        type=int,
        default=None,
        metavar="N",
        help=f"with --periods A-B: N log-spaced periods (default {DEFAULT_PERIOD_COUNT})",
    )
    parser.add_argument("--scales", default=None, help="scales in frames: 1-100, 1-100:0.5 or 1,2,4 (default 1-100)")
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
    parser.add_argument(
        "--segment-label",
        metavar="LABEL",
        help="with --from-store: only visits with a segment of this label, analysed inside those segments",
    )
    parser.add_argument(
        "--source",
        choices=DATA_SOURCES,
        default=None,
        help="visits analysed: real, synthetic (demo) or both (default: real when any visit is real; a clinical"
        " table without a synthetic column holds real visits)",
    )
    parser.add_argument("--workers", type=int, default=None, help="threads for the transform (default: CPU cores)")
    parser.add_argument("--out", required=True, metavar="RESULT", help="result table to write (.csv or .parquet)")
    parser.set_defaults(func=run_scalogram)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def run_scalogram(args: argparse.Namespace) -> int:
    """Handler of ``stats scalogram``."""
    from facs_core.cli.options import checked_fps, parse_periods, parse_scales
    from facs_core.cli.stats_command import RESULT_SUFFIXES, write_result
    from facs_core.wavelets import AssociationParams

    if args.periods is None and args.period_count is not None:
        raise InputError("--period-count goes with --periods")
    if args.periods is not None and args.scales is not None:
        raise InputError("--scales counts frames at one --fps; with --periods leave it out")
    if args.from_store and (args.clinical or args.segments):
        raise InputError(
            "--from-store reads the clinical data and segments from the store; leave out --clinical/--segments"
        )
    if not args.from_store and not args.clinical:
        raise InputError("--frames needs --clinical (the clinical table); or analyse the store with --from-store")
    if not args.from_store and args.segment_label:
        raise InputError("--segment-label chooses stored segments: use it with --from-store (or give --segments)")
    fps = checked_fps(args.fps) if args.periods is None else None
    scales = parse_scales(args.scales or "1-100") if args.periods is None else None
    periods = parse_periods(args.periods, args.period_count, DEFAULT_PERIOD_COUNT) if args.periods else None
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    out = checked_out(args.out, RESULT_SUFFIXES)
    association = AssociationParams(
        score=args.score,
        covariates=tuple(covariates),
        method=args.method,
        fdr=args.fdr,
        fdr_scope=args.fdr_scope,
        alpha=args.alpha,
    )
    if args.from_store:
        result = _from_store(args, association, periods, fps, scales)
    else:
        result = _from_files(args, association, fps, scales, periods)
    for note in result.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    blank = (result["n"] == 0).groupby(result["au"], sort=False).all()
    for au in blank[blank].index:
        print(f"note: {au} has no valid frames in any analysed video; its cells are empty", file=sys.stderr)
    short = result[result["n_short"] > 0]
    axis = "period" if periods is not None else "scale"
    if len(short):
        first = short["period_s"].min() if periods is not None else short["scale"].min()
        print(
            f"note: {len(short)} of {len(result)} cells leave out videos shorter than the wavelet support"
            f" (from {axis} {first:g}{' s' if periods is not None else ''}, which needs"
            f" {short['support_s'].min():.1f} s of uninterrupted face); see n_short and reason",
            file=sys.stderr,
        )
    unresolved = result[result["n_unresolved"] > 0]
    if len(unresolved):
        print(
            f"note: {len(unresolved)} of {len(result)} cells leave out videos whose frame rate cannot resolve the"
            f" period (below two frames, up to {unresolved['period_s'].max():.3g} s); see n_unresolved and reason",
            file=sys.stderr,
        )
    write_result(result, out)
    significant = result[result["significant"].fillna(False).astype(bool)]
    aus = significant["au"].nunique()
    n_axis = len(periods) if periods is not None else len(scales)
    print(
        f"wrote {out}: {len(result)} cells ({result['au'].nunique()} AUs x {count(n_axis, axis)}),"
        f" {len(significant)} significant in {count(aus, 'AU')} ({result['correction'].iloc[0]})"
    )
    return 0


def _from_files(args: argparse.Namespace, association, fps, scales, periods):
    from facs_core.clinical import read_table
    from facs_core.frame_tables import read_frames
    from facs_core.stats.cohort import default_source, select_source
    from facs_core.wavelets import WaveletParams, period_association, scale_association

    frames = read_frames(args.frames)
    clinical = read_table(args.clinical, "clinical table")
    segments = read_table(args.segments, "segments table") if args.segments else None
    source = args.source or default_source(clinical)
    clinical, notes = select_source(clinical, source)
    clinical = clinical.drop(columns=["synthetic"], errors="ignore")
    if periods is None:
        transform = WaveletParams(scales=scales, wavelet=args.wavelet, power=args.power, max_gap_s=args.max_gap)
        result = scale_association(
            frames, clinical, fps, association, transform, segments=segments, workers=args.workers, data_source=source
        )
    else:
        transform = WaveletParams(wavelet=args.wavelet, power=args.power, max_gap_s=args.max_gap)
        result = period_association(
            frames,
            clinical,
            None,
            association,
            periods,
            transform,
            segments=segments,
            workers=args.workers,
            data_source=source,
        )
    result.attrs["notes"] = notes + list(result.attrs.get("notes", []))
    return result


def _from_store(args: argparse.Namespace, association, periods, fps, scales):
    from facs_core.services import analysis
    from store import open_catalog, resolve_data_dir

    options = {"wavelet": args.wavelet, "power": args.power, "max_gap_s": args.max_gap}
    if periods is None:
        params = analysis.MapParams.at_rate(fps, scales, args.scales or "1-100", **options)
    else:
        params = analysis.MapParams(
            periods=tuple(periods), periods_spec=args.periods, period_count=args.period_count, **options
        )
    store = open_catalog(resolve_data_dir(args.data_dir))
    try:
        choice = analysis.CohortChoice(source=args.source, segment_label=args.segment_label)
        result = analysis.significance_map(store, analysis.operator_viewer(), association, params, choice)
    finally:
        store.close()
    for key in ("features", "clinical", "rates"):
        result.attrs.pop(key, None)
    return result
