"""``features`` and ``stats partial-corr``: per-video features and their association with a score.

Contracts (other tools call them exactly so)::

    python -m facs_core features --frames FRAMES.parquet [--segments SEGMENTS.csv] --out FEATURES.csv
    python -m facs_core stats partial-corr --features FEATURES.csv --clinical CLINICAL.csv --score bdi
        --covariates age,sex,camera,medication,repeat_visit [--method pearson|spearman]
        [--fdr bh|by|bonferroni|none] [--alpha 0.05] --out RESULT.csv

FEATURES ends with provenance columns (``method, backends, data_source, segments,
n_videos, software, inputs_sha256``; :data:`facs_core.stats.provenance.FEATURE_PROVENANCE_COLUMNS`).
``features --from-store [--source real|synthetic|both] [--segment-label LABEL]``
instead of ``--frames`` writes the Export page's per-video features table of the
store of ``--data-dir`` (clinical values, features, backend and model version per
visit; :func:`facs_core.services.downloads.features_export`); its ``--out`` may be
``.parquet`` (the provenance block in the file's metadata).

Extensions: ``--from-store`` instead of ``--features``/``--clinical`` analyses the
store of ``--data-dir`` exactly as the Cohort statistics page does (same
engine, :func:`facs_core.services.analysis.cohort_statistics`), with
``--feature``, ``--segment-label`` and ``--source``; ``--method`` also takes
``mixedlm`` and ``permutation``; ``--out`` may be ``.parquet`` (the provenance
block in the file's metadata). RESULT ends with provenance columns (``df,
covariates, fdr_scope, n_videos, data_source, software, inputs_sha256``).

Nothing is written unless the whole computation succeeds: the result goes to a
temporary file beside ``--out`` and is renamed into place at the end.
"""

from __future__ import annotations

import argparse
import sys

from facs_core.cli._shared import checked_out, write_csv_atomically
from facs_core.errors import InputError
from facs_core.wording import count

#: First columns of RESULT.csv, in this order (the CLI contract).
RESULT_CSV_COLUMNS: tuple[str, ...] = ("au", "n", "r", "ci_low", "ci_high", "p", "p_fdr", "significant")

# Library values repeated so that building the parser (every CLI call, --help
# included) does not import pandas, duckdb and scipy; a test checks they agree:
# facs_core.features.DEFAULT_THRESHOLD, facs_core.stats.partial_corr.METHODS and
# the keys of facs_core.stats.multicomp.CORRECTIONS.
DEFAULT_THRESHOLD = 0.5
METHODS: tuple[str, ...] = ("pearson", "spearman")
CORRECTIONS: tuple[str, ...] = ("bh", "by", "bonferroni", "none")
# facs_core.stats.cohort: its METHODS keys, FEATURE_KINDS keys, DATA_SOURCES keys and PERMUTATIONS.
COHORT_METHODS: tuple[str, ...] = (*METHODS, "mixedlm", "permutation")
FEATURE_KINDS: tuple[str, ...] = ("mean", "rate", "sd", "emotion_mean", "emotion_sd")
DATA_SOURCES: tuple[str, ...] = ("real", "synthetic", "both")
DEFAULT_PERMUTATIONS = 1000
RESULT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")


def register(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser(
        "features",
        help="per-video AU means, occurrence rates and SDs from a per-frame table",
        description="Per-video features: mean AU value over face frames inside the marked segments"
        " (all frames when a video has none), occurrence rate and standard deviation.",
    )
    inputs = features.add_mutually_exclusive_group(required=True)
    inputs.add_argument(
        "--frames",
        metavar="FRAMES.parquet",
        help="per-frame table with video_id, or a folder of tables (a file without video_id is named by its stem)",
    )
    inputs.add_argument(
        "--from-store",
        action="store_true",
        help="the store of --data-dir: every chosen visit's features with its clinical values, as the Export page",
    )
    features.add_argument(
        "--source",
        choices=DATA_SOURCES,
        default=None,
        help="with --from-store: visits exported, real, synthetic (demo) or both (default: real when any visit is"
        " real)",
    )
    features.add_argument(
        "--segment-label",
        metavar="LABEL",
        help="with --from-store: only visits with a segment of this label, features inside those segments",
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
    features.add_argument(
        "--out", required=True, metavar="FEATURES.csv", help="features table, .csv (.parquet with --from-store)"
    )
    features.set_defaults(func=run_features)


def register_stats(stats_subparsers: argparse._SubParsersAction) -> None:
    parser = stats_subparsers.add_parser(
        "partial-corr",
        help="partial correlation of each AU with a score, controlling for covariates, with FDR",
        description="Partial correlation of each AU column with a score controlling for covariates"
        " (definitions of pingouin.partial_corr), with a multiple-comparison correction.",
    )
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--features", metavar="FEATURES.csv", help="video_id and AU01, AU02 ...")
    inputs.add_argument(
        "--from-store",
        action="store_true",
        help="analyse the store of --data-dir as the Cohort statistics page does (instead of --features/--clinical)",
    )
    parser.add_argument(
        "--clinical", metavar="CLINICAL.csv", help="video_id, patient_id, score, covariates (with --features)"
    )
    parser.add_argument("--score", required=True, help="score column, e.g. bdi (its instrument's range is checked)")
    parser.add_argument(
        "--covariates", default="", help="comma-separated covariate columns, e.g. age,sex,camera,medication"
    )
    parser.add_argument(
        "--method",
        choices=COHORT_METHODS,
        default="pearson",
        help="partial correlation (pearson, spearman), linear mixed model (mixedlm: standardised beta in r) or"
        " the partial correlation with a patient-block permutation p (permutation)",
    )
    parser.add_argument(
        "--feature",
        choices=FEATURE_KINDS,
        default=None,
        help="which per-video features: mean (default with --from-store), rate, sd, emotion_mean, emotion_sd;"
        " with --features, default every AU column",
    )
    parser.add_argument(
        "--source",
        choices=DATA_SOURCES,
        default=None,
        help="visits analysed: real, synthetic (demo) or both (default: real when any visit is real; a clinical"
        " table without a synthetic column holds real visits)",
    )
    parser.add_argument(
        "--segment-label",
        metavar="LABEL",
        help="with --from-store: only visits with a segment of this label, analysed inside those segments",
    )
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
        help="also compute permutation p-values shuffling scores between patients (perm_* columns);"
        f" with --method permutation, how many (default {DEFAULT_PERMUTATIONS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    parser.add_argument("--out", required=True, metavar="RESULT.csv", help="result table, .csv or .parquet")
    parser.set_defaults(func=run_partial_corr)


def _covariate_list(text: str) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr)


def run_features(args: argparse.Namespace) -> int:
    from facs_core.features import au_columns, per_video_features, read_segments
    from facs_core.frame_tables import read_frames

    if args.from_store:
        return _features_from_store(args)
    for option, value in (("--source", args.source), ("--segment-label", args.segment_label)):
        if value is not None:
            raise InputError(f"{option} chooses stored visits: use it with --from-store")
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
    features = _with_file_provenance(features, frames, segments, args)
    unknown = sorted(set(segments["video_id"]) - set(features["video_id"]))
    if unknown:
        _note(f"{count(len(unknown), 'segment video id')} not in the frames table, ignored: {', '.join(unknown[:5])}")
    write_csv_atomically(features, args.out)
    left_out = features[["n_uncertain_frames", "n_other_face_frames"]].sum()
    if left_out.sum():
        _note(
            f"left out of the AU statistics: {count(int(left_out['n_uncertain_frames']), 'frame')} whose face identity"
            f" is uncertain, {int(left_out['n_other_face_frames'])} with only another person's face"
            " (per video: n_uncertain_frames, n_other_face_frames)"
        )
    no_face = features.loc[features["n_face_frames"] == 0, "video_id"].tolist()
    if no_face:
        _note(f"{count(len(no_face), 'video')} without a face frame in the analysed window: {', '.join(no_face[:5])}")
    print(f"wrote {args.out}: {count(len(features), 'video')}, {count(len(au_columns(features.columns)), 'AU')}")
    return 0


def _frame_backends(path: str) -> str:
    """The backends and versions recorded in the frames file(s)' Parquet metadata (``extract`` writes them)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from facs_core.frame_tables import TABLE_SUFFIXES
    from facs_core.stats.provenance import backends_text

    root = Path(path)
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in TABLE_SUFFIXES) if root.is_dir() else [root]
    pairs = []
    for file in files:
        if file.suffix.lower() not in (".parquet", ".pq"):
            continue
        metadata = pq.read_schema(file).metadata or {}
        backend = metadata.get(b"facs.backend", b"").decode()
        pairs.append((backend, metadata.get(b"facs.backend_version", b"").decode()))
    return backends_text(pairs) if any(b for b, _ in pairs) else "not recorded in the frames table"


def _with_file_provenance(features, frames, segments, args: argparse.Namespace):
    """``features`` ending with the provenance columns of a table computed from files."""
    from facs_core.stats import provenance

    numeric = frames.select_dtypes(include=["number", "bool"])
    frames_hash = provenance.inputs_hash(frames["video_id"].astype(str).tolist(), numeric.to_numpy(dtype=float))
    segments_hash = provenance.inputs_hash(
        segments["video_id"].astype(str).tolist(), segments[["start_s", "end_s"]].to_numpy(dtype=float)
    )
    info = {
        "analysis": "per-video features",
        "method": provenance.features_method(args.threshold, args.normalise),
        "backends": _frame_backends(args.frames),
        "data_source": "as given (frames table)",
        "segments": f"segments table {args.segments}" if args.segments else "whole videos",
        "n_videos": len(features),
        "software": provenance.software_versions(),
        "inputs_sha256": provenance.combined_hash(frames_hash, segments_hash),
        "inputs": "the frames table's numbers and video ids; the segments",
    }
    return provenance.attach_feature_provenance(features, info)


def _features_from_store(args: argparse.Namespace) -> int:
    from facs_core.services import analysis
    from facs_core.services.downloads import features_export
    from store import open_catalog, resolve_data_dir

    for option, value in (
        ("--segments", args.segments),
        ("--video-id", args.video_id),
        ("--threshold", args.threshold),
        ("--normalise", args.normalise),
    ):
        if value is not None:
            raise InputError(f"{option} goes with --frames; --from-store uses the store's segments and defaults")
    out = checked_out(args.out, RESULT_SUFFIXES)
    store = open_catalog(resolve_data_dir(args.data_dir))
    try:
        choice = analysis.CohortChoice(source=args.source, segment_label=args.segment_label)
        table = features_export(store, analysis.operator_viewer(), choice)
    finally:
        store.close()
    for note in table.attrs.get("notes", []):
        _note(note)
    table.attrs = {"provenance": table.attrs["provenance"]}
    write_result(table, out)
    print(f"wrote {args.out}: {count(len(table), 'visit')}, {table.attrs['provenance']['data_source']} data")
    return 0


def run_partial_corr(args: argparse.Namespace) -> int:
    from facs_core.stats.cohort import CohortParams

    covariates = _covariate_list(args.covariates)
    out = checked_out(args.out, RESULT_SUFFIXES)
    method = args.method
    permutations = args.permutations if method != "permutation" else (args.permutations or DEFAULT_PERMUTATIONS)
    params = CohortParams(
        score=args.score,
        covariates=tuple(covariates),
        method=method,
        correction=args.fdr,
        feature=args.feature if not args.from_store else (args.feature or "mean"),
        alpha=args.alpha,
        permutations=permutations or DEFAULT_PERMUTATIONS,
        seed=args.seed,
        mixed_model=args.mixed_model,
        permutation_columns=bool(args.permutations) and method != "permutation",
    )
    result = _from_store(args, params) if args.from_store else _from_files(args, params, covariates)
    for note in result.attrs.get("notes", []):
        _note(note)
    table = result.rename(columns={"feature": "au"})
    rest = [c for c in table.columns if c not in RESULT_CSV_COLUMNS]
    table = table[[*RESULT_CSV_COLUMNS, *rest]]
    table.attrs = {"provenance": result.attrs.get("provenance", {})}
    write_result(table, out)
    computable = result["p"].notna()
    print(
        f"wrote {args.out}: {count(len(result), 'AU')}, {int(computable.sum())} computable, "
        f"{int(result['significant'].fillna(False).sum())} significant ({result['correction'].iloc[0]}),"
        f" {count(result.attrs['n_videos'], 'video')}, {result['method'].iloc[0]}"
    )
    return 0


def _from_files(args: argparse.Namespace, params, covariates: list[str]):
    from facs_core.clinical import load_clinical, read_table
    from facs_core.features import au_columns
    from facs_core.stats.cohort import cohort_associations, default_source, select_source

    if not args.clinical:
        raise InputError("--features needs --clinical (the clinical table); or analyse the store with --from-store")
    if args.segment_label:
        raise InputError("--segment-label chooses stored segments: use it with --from-store")
    features = read_table(args.features, "features table")
    if "video_id" not in features.columns:
        raise InputError(f"features table {args.features} has no 'video_id' column")
    if params.feature is None:
        aus = au_columns(features.columns)
        if not aus:
            raise InputError(f"features table {args.features} has no AU column (named like AU01)")
        features = features[["video_id", *aus]]
    clinical = load_clinical(args.clinical, args.score, covariates)
    source = args.source or default_source(clinical)
    clinical, notes = select_source(clinical, source)
    result = cohort_associations(features, clinical, params, data_source=source)
    result.attrs["notes"] = notes + list(result.attrs.get("notes", []))
    return result


def _from_store(args: argparse.Namespace, params):
    from facs_core.services import analysis
    from store import open_catalog, resolve_data_dir

    if args.clinical:
        raise InputError("--from-store reads the clinical data from the store; leave out --clinical")
    store = open_catalog(resolve_data_dir(args.data_dir))
    try:
        choice = analysis.CohortChoice(source=args.source, segment_label=args.segment_label)
        result = analysis.cohort_statistics(store, analysis.operator_viewer(), params, choice)
    finally:
        store.close()
    for key in ("features", "clinical"):
        result.attrs.pop(key, None)
    return result


def write_result(table, out) -> None:
    """Write ``table`` to ``out`` (.csv, or .parquet with the provenance in the file's metadata), atomically."""
    from pathlib import Path

    out = Path(out)
    if out.suffix.lower() != ".parquet":
        write_csv_atomically(table, out)
        return
    import pyarrow as pa

    from facs_core.exports import neutralise_formulas
    from facs_core.stats.provenance import provenance_metadata
    from store.shards import write_atomically

    arrow = pa.Table.from_pandas(neutralise_formulas(table), preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **provenance_metadata(table)})
    try:
        write_atomically(arrow, out)
    except OSError as exc:
        raise InputError(f"cannot write result {out}: {exc.strerror or exc}") from exc
