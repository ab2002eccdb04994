"""``features`` and ``stats partial-corr``: per-video features and their association with a score.

Contracts (other tools call them exactly so)::

    python -m facs_core features --frames FRAMES.parquet [--segments SEGMENTS.csv] --out FEATURES.csv
    python -m facs_core stats partial-corr --features FEATURES.csv --clinical CLINICAL.csv --score bdi
        --covariates age,sex,camera,medication,repeat_visit [--method pearson|spearman]
        [--fdr bh|by|bonferroni|none] [--alpha 0.05] --out RESULT.csv

Nothing is written unless the whole computation succeeds: the result goes to a
temporary file beside ``--out`` and is renamed into place at the end.
"""

from __future__ import annotations

import argparse
import sys

from facs_core.cli._shared import checked_out, write_csv_atomically
from facs_core.errors import InputError

#: First columns of RESULT.csv, in this order (the CLI contract).
RESULT_CSV_COLUMNS: tuple[str, ...] = ("au", "n", "r", "ci_low", "ci_high", "p", "p_fdr", "significant")

# Library values repeated so that building the parser (every CLI call, --help
# included) does not import pandas, duckdb and scipy; a test checks they agree:
# facs_core.features.DEFAULT_THRESHOLD, facs_core.stats.partial_corr.METHODS and
# the keys of facs_core.stats.multicomp.CORRECTIONS.
DEFAULT_THRESHOLD = 0.5
METHODS: tuple[str, ...] = ("pearson", "spearman")
CORRECTIONS: tuple[str, ...] = ("bh", "by", "bonferroni", "none")


def register(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser(
        "features",
        help="per-video AU means, occurrence rates and SDs from a per-frame table",
        description="Per-video features: mean AU value over face frames inside the marked segments"
        " (all frames when a video has none), occurrence rate and standard deviation.",
    )
    features.add_argument(
        "--frames",
        required=True,
        metavar="FRAMES.parquet",
        help="per-frame table with video_id, or a folder of tables (a file without video_id is named by its stem)",
    )
    features.add_argument("--segments", metavar="SEGMENTS.csv", help="video_id,start_s,end_s[,label]")
    features.add_argument(
        "--video-id",
        metavar="ID",
        help="video id for a one-video frames table without a video_id column (as `extract` writes)",
    )
    features.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="occurrence threshold for AUxx_rate (default: per backend, resources/occurrence_thresholds.csv:"
        f" {DEFAULT_THRESHOLD} for py-feat probabilities, 0.4 for the offline backend; 2.0 with --normalise visit)",
    )
    features.add_argument(
        "--normalise",
        choices=["visit"],
        default=None,
        help="express each visit's AUs relative to its own baseline, (x - median) / (1.4826 MAD), before averaging",
    )
    features.add_argument("--out", required=True, metavar="FEATURES.csv")
    features.set_defaults(func=run_features)


def register_stats(stats_subparsers: argparse._SubParsersAction) -> None:
    parser = stats_subparsers.add_parser(
        "partial-corr",
        help="partial correlation of each AU with a score, controlling for covariates, with FDR",
        description="Partial correlation of each AU column with a score controlling for covariates"
        " (definitions of pingouin.partial_corr), with a multiple-comparison correction.",
    )
    parser.add_argument("--features", required=True, metavar="FEATURES.csv", help="video_id and AU01, AU02 ...")
    parser.add_argument(
        "--clinical", required=True, metavar="CLINICAL.csv", help="video_id, patient_id, score, covariates"
    )
    parser.add_argument("--score", required=True, help="score column, e.g. bdi (its instrument's range is checked)")
    parser.add_argument(
        "--covariates", default="", help="comma-separated covariate columns, e.g. age,sex,camera,medication"
    )
    parser.add_argument("--method", choices=METHODS, default="pearson")
    parser.add_argument("--fdr", choices=CORRECTIONS, default="bh", help="multiple-comparison correction")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument(
        "--mixed-model",
        action="store_true",
        help="also fit a linear mixed model per AU (random intercept per patient): mixed_* columns",
    )
    parser.add_argument(
        "--permutations",
        type=int,
        default=0,
        metavar="N",
        help="also compute permutation p-values shuffling scores between patients (perm_* columns)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    parser.add_argument("--out", required=True, metavar="RESULT.csv")
    parser.set_defaults(func=run_partial_corr)


def _covariate_list(text: str) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr)


def run_features(args: argparse.Namespace) -> int:
    from facs_core.features import au_columns, per_video_features, read_segments
    from facs_core.frame_tables import read_frames

    checked_out(args.out, (".csv",))
    frames = read_frames(args.frames)
    if args.video_id is not None:
        if "video_id" in frames.columns:
            raise InputError(f"frames table {args.frames} already has a video_id column; leave out --video-id")
        frames = frames.assign(video_id=args.video_id)
    elif "video_id" not in frames.columns:
        raise InputError(
            f"frames table {args.frames} has no 'video_id' column; for one video's table"
            " (as `extract` writes it) name the video with --video-id"
        )
    segments = read_segments(args.segments)
    if "au_source" in frames.columns and (frames["au_source"] == "blendshape").any():
        from facs_core.offline_aus import absent_aus

        _note(
            "AU values are estimates of the mediapipe backend (blendshape coefficients or landmark ratios),"
            f" not FACS-coded AUs; not measured: {', '.join(absent_aus())}"
        )
    features = per_video_features(frames, segments, threshold=args.threshold, normalise=args.normalise)
    unknown = sorted(set(segments["video_id"]) - set(features["video_id"]))
    if unknown:
        _note(f"{len(unknown)} segment video id(s) not in the frames table, ignored: {', '.join(unknown[:5])}")
    write_csv_atomically(features, args.out)
    left_out = features[["n_uncertain_frames", "n_other_face_frames"]].sum()
    if left_out.sum():
        _note(
            f"left out of the AU statistics: {int(left_out['n_uncertain_frames'])} frame(s) whose face identity is"
            f" uncertain, {int(left_out['n_other_face_frames'])} with only another person's face"
            " (per video: n_uncertain_frames, n_other_face_frames)"
        )
    no_face = features.loc[features["n_face_frames"] == 0, "video_id"].tolist()
    if no_face:
        _note(f"{len(no_face)} video(s) have no face frame in the analysed window: {', '.join(no_face[:5])}")
    print(f"wrote {args.out}: {len(features)} video(s), {len(au_columns(features.columns))} AU(s)")
    return 0


def run_partial_corr(args: argparse.Namespace) -> int:
    import pandas as pd

    from facs_core.clinical import load_clinical, read_table
    from facs_core.features import au_columns
    from facs_core.stats.partial_corr import associate

    covariates = _covariate_list(args.covariates)
    checked_out(args.out, (".csv",))
    features = read_table(args.features, "features table")
    if "video_id" not in features.columns:
        raise InputError(f"features table {args.features} has no 'video_id' column")
    aus = au_columns(features.columns)
    if not aus:
        raise InputError(f"features table {args.features} has no AU column (named like AU01)")
    features = features[["video_id", *aus]]
    clinical = load_clinical(args.clinical, args.score, covariates)
    result = associate(features, clinical, args.score, covariates, method=args.method, fdr=args.fdr, alpha=args.alpha)
    extra = []
    if args.mixed_model:
        from facs_core.stats.mixed import mixed_model_associations

        extra.append(mixed_model_associations(features, clinical, args.score, covariates).add_prefix("mixed_"))
    if args.permutations:
        from facs_core.stats.permutation import permutation_pvalues

        perm = permutation_pvalues(
            features,
            clinical,
            args.score,
            covariates,
            method=args.method,
            n_permutations=args.permutations,
            seed=args.seed,
        )
        extra.append(perm.add_prefix("perm_"))
    for note in result.attrs.get("notes", []):
        _note(note)
    table = result.rename(columns={"feature": "au"})
    rest = [c for c in table.columns if c not in RESULT_CSV_COLUMNS]
    table = table[[*RESULT_CSV_COLUMNS, *rest]]
    for part in extra:
        table = pd.concat([table, part.drop(columns=[c for c in part.columns if c.endswith("_feature")])], axis=1)
    write_csv_atomically(table, args.out)
    computable = result["p"].notna()
    print(
        f"wrote {args.out}: {len(result)} AU(s), {int(computable.sum())} computable, "
        f"{int(result['significant'].fillna(False).sum())} significant ({result['correction'].iloc[0]}),"
        f" {result.attrs['n_videos']} video(s), {result['method'].iloc[0]}"
    )
    return 0
