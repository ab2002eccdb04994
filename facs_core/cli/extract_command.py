"""``extract``, ``models install`` and ``jobs run|list|cancel|retry``.

Contracts (other tools call them exactly so)::

    python -m facs_core extract VIDEO --backend mediapipe|pyfeat
        [--start SECONDS --end SECONDS] [--every N] --out FRAMES.parquet
    python -m facs_core models install
    python -m facs_core models export pyfeat --out BUNDLE.tar
    python -m facs_core models import BUNDLE.tar
    python -m facs_core models list
    python -m facs_core jobs run [VIDEO_ID ...] [--backend NAME] [--every N] [--batch-size N]
    python -m facs_core jobs list | cancel JOB_ID | retry JOB_ID

Progress goes to stderr, one line per update.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from facs_core.cli._shared import checked_out, cli_operator
from facs_core.errors import InputError

_VIDEO_ID = re.compile(r"^[0-9a-f]{16}$")

# facs_core.backends.base.backend_names(), repeated so that building the parser
# (every CLI call, --help included) does not import pandas and pyarrow; a test
# checks they agree.
BACKEND_NAMES: tuple[str, ...] = ("mediapipe", "pyfeat")


def register(subparsers: argparse._SubParsersAction) -> None:
    extract = subparsers.add_parser(
        "extract",
        help="per-frame AUs of one video (a file, or a stored video id) into a Parquet file",
        description="Decode VIDEO, run a face-analysis backend on it, write the per-frame table to --out.",
    )
    extract.add_argument("video", metavar="VIDEO", help="a video file, or a stored video id (with --data-dir)")
    extract.add_argument("--backend", required=True, choices=BACKEND_NAMES, help="mediapipe (offline) or pyfeat")
    extract.add_argument("--start", type=float, metavar="SECONDS", help="first second to cover")
    extract.add_argument("--end", type=float, metavar="SECONDS", help="second to stop before")
    extract.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame (default 1)")
    extract.add_argument("--out", required=True, metavar="FRAMES.parquet", help="where to write the per-frame table")
    extract.set_defaults(func=_extract)

    models = subparsers.add_parser("models", help="model files of the backends: install, export, import, list")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION")
    install = models_sub.add_parser("install", help="fetch and verify MediaPipe's face_landmarker.task (pinned)")
    install.add_argument("--force", action="store_true", help="download again even when a verified copy exists")
    install.set_defaults(func=_models_install)
    where = models_sub.add_parser("path", help="print the verified model file's path")
    where.set_defaults(func=_models_path)
    export = models_sub.add_parser(
        "export",
        help="download a backend's weights (needs internet) and pack them with a sha256 manifest",
        description="Download py-feat's weights through huggingface_hub (HF_ENDPOINT and HF_HOME apply) and"
        " write them, with a manifest of sha256 sums and the py-feat version, to one tar file for"
        " `models import` on a machine without internet.",
    )
    export.add_argument("backend", choices=("pyfeat",), help="the backend whose weights to export")
    export.add_argument("--out", required=True, metavar="BUNDLE.tar", help="the bundle to write")
    export.set_defaults(func=_models_export)
    load = models_sub.add_parser(
        "import",
        help="verify a bundle made by `models export` and install it into the model folder",
        description="Check every file of BUNDLE.tar against its manifest (sha256, py-feat version, complete,"
        " not a generated test set) and install it into the project's model folder ($FACS_PYFEAT_DIR, else"
        " <venv>/share/facs_core/pyfeat). Nothing is installed unless every check passes.",
    )
    load.add_argument("bundle", metavar="BUNDLE.tar")
    load.set_defaults(func=_models_import)
    listing = models_sub.add_parser("list", help="which backends are ready, where their models are, how to fix")
    listing.set_defaults(func=_models_list)

    jobs = subparsers.add_parser("jobs", help="store-backed extraction jobs: run, list, cancel, retry")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION")
    run = jobs_sub.add_parser("run", help="queue extraction of stored videos and run every queued job to the end")
    run.add_argument("video_ids", nargs="*", metavar="VIDEO_ID", help="videos to queue (default: none, run the queue)")
    run.add_argument("--all", action="store_true", help="queue every stored video with a file")
    run.add_argument("--backend", default="mediapipe", choices=BACKEND_NAMES, help="default mediapipe")
    run.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame (default 1)")
    run.add_argument("--chunk-frames", type=int, default=None, metavar="N", help="frames per chunk of work")
    run.add_argument("--workers", type=int, default=None, metavar="N", help="local Ray CPUs (default: all)")
    run.add_argument(
        "--batch-size", type=int, default=None, metavar="N", help="pyfeat: frames per forward pass (default 8)"
    )
    run.set_defaults(func=_jobs_run)
    listing = jobs_sub.add_parser("list", help="jobs with status and progress")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    listing.set_defaults(func=_jobs_list)
    cancel = jobs_sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.set_defaults(func=_jobs_cancel)
    retry = jobs_sub.add_parser("retry", help="queue a failed or cancelled job again (finished chunks are kept)")
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.set_defaults(func=_jobs_retry)


def _progress_line(label: str):
    def report(done: int, total: int) -> None:
        print(f"{label}: {done}/{total} frames ({100.0 * done / max(total, 1):.0f}%)", file=sys.stderr, flush=True)

    return report


def _extract(args: argparse.Namespace) -> int:
    from facs_core.services.extraction import extract_video, face_summary
    from store.shards import write_atomically

    out = checked_out(args.out, (".parquet",))
    if args.every < 1:
        raise InputError(f"--every must be a positive whole number of frames, got {args.every}")
    if args.start is not None and args.start < 0:
        raise InputError(f"--start {args.start} is negative")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise InputError(f"--end {args.end} must be after --start {args.start}")
    video, label, stored_ranges = _resolve_video(args)
    if args.start is not None or args.end is not None:
        ranges = [(args.start or 0.0, args.end if args.end is not None else float("inf"))]
    else:
        ranges = stored_ranges
    notes: list[str] = []
    table = extract_video(
        video, args.backend, time_ranges=ranges, every=args.every, progress=_progress_line(label), notes=notes
    )
    write_atomically(table, out.absolute())
    print(f"{label}: wrote {face_summary(table).describe()} to {out}", file=sys.stderr)
    for note in notes:
        print(f"{label}: warning: {note}", file=sys.stderr)
    return 0


def _resolve_video(args: argparse.Namespace) -> tuple[Path, str, list[tuple[float, float]]]:
    """The file to decode, a log-safe label, and the stored segments (if a stored video)."""
    path = Path(args.video)
    if path.is_file():
        # The file name may identify a patient: progress lines show no name.
        return path, "extract", []
    if not _VIDEO_ID.match(args.video):
        raise InputError(f"video {args.video} is neither a file nor a stored video id (16 hex digits)")
    from facs_core.services.jobs import segment_ranges
    from store import open_catalog
    from store.videos import get_video, video_file

    with open_catalog(args.data_dir) as catalog:
        record = get_video(catalog, args.video)
        if record is None:
            raise InputError(f"no video {args.video} in the store {catalog.paths.root}")
        if not record.get("stored_path"):
            raise InputError(f"video {args.video} has no stored file (a synthetic demo visit)")
        return video_file(catalog, record), f"video {args.video}", segment_ranges(catalog, args.video)


def _models_install(args: argparse.Namespace) -> int:
    from facs_core.models import install_model

    path = install_model(force=args.force)
    print(f"MediaPipe model ready at {path} (sha256 verified)")
    return 0


def _models_path(args: argparse.Namespace) -> int:
    from facs_core.models import mediapipe_model_path

    print(mediapipe_model_path())
    return 0


def _models_export(args: argparse.Namespace) -> int:
    from facs_core.pyfeat_weights import export_bundle

    out = Path(args.out)
    if out.suffix.lower() != ".tar":
        raise InputError(f"--out {out} must end in .tar")
    export_bundle(out.absolute())
    print(f"py-feat weights written to {out} (sha256 manifest inside); on the target machine run:")
    print(f"python -m facs_core models import {out.name}")
    return 0


def _models_import(args: argparse.Namespace) -> int:
    from facs_core.pyfeat_weights import import_bundle, model_folder

    manifest = import_bundle(Path(args.bundle))
    print(
        f"py-feat {manifest['py_feat_version']} weights ({len(manifest['files'])} files, sha256 verified)"
        f" installed in {model_folder()}"
    )
    return 0


def _models_list(args: argparse.Namespace) -> int:
    from facs_core.backend_status import backend_statuses

    for status in backend_statuses():
        state = "ready" if status.ready else "not ready"
        print(f"{status.backend:<10} {state:<10} {status.where or '-'}")
        print(f"{'':<10} {status.detail}")
        if status.how:
            print(f"{'':<10} to make it ready: {status.how}")
    return 0


def _jobs_run(args: argparse.Namespace) -> int:
    from facs_core.services.jobs import JobRunner, resume_interrupted, submit_extraction
    from store import listings, open_catalog

    with open_catalog(args.data_dir) as catalog:
        resumed = resume_interrupted(catalog)
        for job_id in resumed:
            print(f"job {job_id}: resuming after an interrupted run", file=sys.stderr)
        video_ids = list(args.video_ids)
        if args.all:
            video_ids += listings.stored_video_ids(catalog)
        submitted: list[str] = []
        if video_ids:
            params: dict[str, object] = {"every": args.every}
            if args.chunk_frames:
                params["chunk_frames"] = args.chunk_frames
            if args.batch_size is not None:
                if args.backend != "pyfeat":
                    raise InputError("--batch-size applies to the pyfeat backend only")
                params["batch_size"] = args.batch_size
            submitted = submit_extraction(catalog, video_ids, args.backend, params, cli_operator())
            for video_id, job_id in zip(video_ids, submitted, strict=True):
                print(f"video {video_id}: job {job_id}", file=sys.stderr)
        runner = JobRunner(catalog, num_cpus=args.workers, report=lambda line: print(line, file=sys.stderr, flush=True))
        if listings.queued_job_count(catalog):
            # A cluster that cannot be used fails here, in one line, before any job is claimed.
            runner.connect()
        # Jobs the dashboard (another driver) picked up are waited for, not driven twice.
        outcome = runner.run_until_idle(wait_for=submitted)
    failed = [job for job, status in outcome.items() if status == "failed"]
    return 1 if failed else 0


def _jobs_list(args: argparse.Namespace) -> int:
    from facs_core.services.jobs import job_status
    from facs_core.services.run_report import describe_jobs
    from store import open_catalog

    with open_catalog(args.data_dir) as catalog:
        table = describe_jobs(catalog, job_status(catalog))
    if args.json:
        print(json.dumps(table.to_dict("records"), indent=2, default=str))
        return 0
    for row in table.itertuples():
        reason = f"  {row.error}" if isinstance(row.error, str) and row.error else ""
        # What the job analyses, then a face warning or a stale mark, after the fields scripts already read.
        # A job without a video, scope or warning has None (NaN once pandas fills the column): nothing is printed.
        scope = f"  {row.analyses}" if isinstance(row.analyses, str) and row.analyses else ""
        scope += f"  warning: {row.warning}" if isinstance(row.warning, str) and row.warning else ""
        scope += "  stale: segments edited since; extract again" if row.stale else ""
        video = row.video_id if isinstance(row.video_id, str) and row.video_id else "-"
        print(f"{row.job_id}  {video:<16}  {row.status:<9} {100 * row.progress:5.1f}%{reason}{scope}")
    return 0


def _jobs_cancel(args: argparse.Namespace) -> int:
    from facs_core.services.jobs import cancel_job
    from store import open_catalog

    with open_catalog(args.data_dir) as catalog:
        status = cancel_job(catalog, args.job_id, cli_operator())
    print(f"job {args.job_id}: {status}")
    return 0


def _jobs_retry(args: argparse.Namespace) -> int:
    from facs_core.services.jobs import retry_job
    from store import open_catalog

    with open_catalog(args.data_dir) as catalog:
        retry_job(catalog, args.job_id, cli_operator())
    print(f"job {args.job_id}: queued again; run it with `python -m facs_core jobs run`")
    return 0
