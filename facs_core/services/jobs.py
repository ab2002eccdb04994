"""Extraction jobs: submitted to the store, computed on Ray, driven by one process.

Jobs are queued in the shared catalog (:func:`submit_extraction`) by the
dashboard or the command line. Any of those processes may run a *driver*
(:class:`JobRunner`): it claims a queued job (one driver per job, a lease in
the catalog: :func:`store.job_rows.claim_job`), hands chunks of work to an
executor (:mod:`facs_core.services.executors`), polls them and writes every
status change of the jobs it holds. Workers only decode, analyse and write
chunk files (:mod:`facs_core.services.extraction`); they never open the catalog.

The executor is Ray by default: local (``ray.init(num_cpus=...,
include_dashboard=False)``, kept light for small machines), or a cluster when
``RAY_ADDRESS`` is set (the data folder must then be shared by every node).
An :class:`~facs_core.services.executors.InProcessExecutor` runs the same work
in the driver's thread (tests of the state machine, no Ray).

Guarantees
----------
- Same video content, segments, backend, version and parameters -> same run
  (``runs.params_hash``); submitting a finished one again does nothing.
- A job killed mid-way resumes where it stopped: finished chunks are files
  under ``chunks/<run_id>/`` and are not computed again. A job whose driver
  died (its process is gone, or its lease ran out) is taken over by the next
  driver (:func:`resume_interrupted` requeues such jobs explicitly).
- Only the driver holding a job's lease changes it; one that lost its lease
  (paused past it) drops the job without writing.
- One failing video fails its own job, with its reason; the others go on.
- Cancelling: ``jobs.cancel_requested`` is read by the driver at each poll;
  pending chunks are cancelled through the executor (``ray.cancel`` on Ray).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facs_core.backend_status import BackendStatus, backend_status, backend_statuses
from facs_core.backends.base import backend_class
from facs_core.damage import damage_status
from facs_core.errors import FacsError, InputError
from facs_core.run_scope import face_warning
from facs_core.services import access
from facs_core.services.access import User
from facs_core.services.executors import Executor, RayExecutor
from facs_core.services.extraction import (
    DEFAULT_CHUNK_FRAMES,
    INDEX_FILE,
    Chunk,
    ChunkTask,
    chunk_counts,
    face_summary,
    merge_chunks,
    plan_chunks,
    ranges_to_extract,
    read_frame_index,
)
from facs_core.services.feature_cache import precompute
from facs_core.services.run_report import run_scope
from facs_core.wording import count
from store import audit, job_rows
from store import runs as run_rows
from store.catalog import Catalog
from store.crashpoints import crash_point
from store.segment_rows import segments_for
from store.shards import write_shard_file
from store.videos import get_video, video_file

#: Parameters of an extraction that are not the backend's own.
EXTRACTION_KEYS = ("every", "chunk_frames")


def segment_ranges(catalog: Catalog, video_id: str) -> list[tuple[float, float]]:
    """The video's marked segments as sorted ``(start_s, end_s)``; empty means the whole video."""
    table = segments_for(catalog, video_id)
    return sorted(zip(table["start_s"].astype(float), table["end_s"].astype(float), strict=True))


def _split_params(params: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    every = int(params.get("every", 1))
    chunk_frames = int(params.get("chunk_frames", DEFAULT_CHUNK_FRAMES))
    if every < 1:
        raise InputError(f"every must be a positive whole number of frames, got {every}")
    if chunk_frames < 1:
        raise InputError(f"chunk_frames must be at least 1, got {chunk_frames}")
    return every, chunk_frames, {k: v for k, v in params.items() if k not in EXTRACTION_KEYS}


def backend_refusal(backend: str) -> str | None:
    """Why no job may be queued with ``backend`` now (one line saying what to do), or None when it may.

    A backend whose model files are not on this server would make the job
    fetch them from the internet (py-feat's hub), which a hospital intranet
    refuses, or fail; it is refused before anything is queued. The command
    line's one-off ``extract --backend pyfeat`` is not a job and keeps its
    own rules.
    """
    status = backend_status(backend)
    return None if status is None or status.ready else _refusal(status)


def _refusal(status: BackendStatus) -> str:
    return status.refusal or f"the {status.backend} backend is not ready on this server: {status.detail}"


def queueable_backends() -> tuple[list[str], dict[str, str]]:
    """The backends a job may be queued with now, and for each other one :func:`backend_refusal`'s line."""
    statuses = backend_statuses()
    ready = [status.backend for status in statuses if status.ready]
    return ready, {status.backend: _refusal(status) for status in statuses if not status.ready}


@dataclass(frozen=True)
class Submission:
    """What :func:`submit_jobs` did: one job id per video, and how many of them are new."""

    job_ids: list[str]
    #: Jobs queued by this submission.
    queued: int
    #: Videos whose identical extraction had already finished (its job id returned).
    already_done: int
    #: Videos whose identical extraction was already queued or running (its job id returned).
    already_queued: int

    def summary(self) -> str:
        """``"2 extraction jobs queued."``, or what was not queued and why.

        Examples
        --------
        >>> Submission(["a", "b"], 2, 0, 0).summary()
        '2 extraction jobs queued.'
        >>> Submission(["a", "b"], 0, 2, 0).summary()
        'Nothing queued: 2 videos were already extracted with these settings.'
        >>> Submission(["a", "b", "c"], 1, 1, 1).summary()
        '1 extraction job queued; 1 video was already extracted with these settings; 1 video was already queued.'
        """
        parts = [f"{count(self.queued, 'extraction job')} queued"] if self.queued else []
        if self.already_done:
            verb = "was" if self.already_done == 1 else "were"
            parts.append(f"{count(self.already_done, 'video')} {verb} already extracted with these settings")
        if self.already_queued:
            verb = "was" if self.already_queued == 1 else "were"
            parts.append(f"{count(self.already_queued, 'video')} {verb} already queued")
        if not self.queued:
            return "Nothing queued: " + "; ".join(parts) + "."
        return "; ".join(parts) + "."


def submit_extraction(
    catalog: Catalog, video_ids: Sequence[str], backend: str, params: dict[str, Any], user: User
) -> list[str]:
    """Queue extraction of ``video_ids``; return one job id per video (:func:`submit_jobs`' ids)."""
    return submit_jobs(catalog, video_ids, backend, params, user).job_ids


def submit_jobs(
    catalog: Catalog, video_ids: Sequence[str], backend: str, params: dict[str, Any], user: User
) -> Submission:
    """Queue extraction of ``video_ids``: one job id per video, and how many are new.

    A video whose identical extraction is queued, running or done gets that
    job's id back and nothing new is queued. All videos are checked before
    any job is queued.

    Parameters
    ----------
    catalog : Catalog
    video_ids : sequence of str
        Stored videos (with a file).
    backend : str
        ``"mediapipe"`` or ``"pyfeat"``.
    params : dict
        ``every`` (stride), ``chunk_frames`` and the backend's own parameters.
    user : facs_core.services.access.User
        Who asks: must be allowed ``run_extraction`` on every video's patient
        (checked here, refusals audited); recorded in the job and the audit log.

    Raises
    ------
    InputError
        Unknown video, video without a file, unknown backend, a backend that
        is not ready on this server (:func:`backend_refusal`) or bad parameter.
    PermissionDenied
        ``user`` may not extract one of the videos; nothing is queued.
    """
    every, chunk_frames, backend_params = _split_params(params)
    version = backend_class(backend).library_version()
    refusal = backend_refusal(backend)
    if refusal:
        raise InputError(refusal)
    records = []
    for video_id in video_ids:
        record = get_video(catalog, video_id)
        if record is None:
            raise InputError(f"no video {video_id} in the store")
        if not record.get("stored_path"):
            raise InputError(f"video {video_id} has no stored file (a synthetic demo visit) and cannot be extracted")
        access.authorise(catalog, user, "run_extraction", record["patient_id"], target=video_id)
        records.append(record)
    actor = user.username
    job_ids = []
    done = active_count = 0
    # One transaction: a driver never sees a run without its job, and a kill queues all or nothing.
    with catalog.transaction():
        for record in records:
            video_id = record["video_id"]
            run_params = {
                "every": every,
                "chunk_frames": chunk_frames,
                "backend_params": backend_params,
                "segments": segment_ranges(catalog, video_id),
            }
            identity = {"sha256": record["sha256"], "backend": backend, "backend_version": version, **run_params}
            hash_hex = run_rows.params_hash(identity)
            run_id = run_rows.run_id_for(hash_hex)
            run = run_rows.get_run(catalog, run_id)
            previous = job_rows.jobs_of_run(catalog, run_id)
            if (
                run is not None
                and run["status"] == "done"
                and (catalog.paths.root / (run["shard_path"] or "")).is_file()
            ):
                done_job = previous[0]["job_id"] if previous else None
                job_ids.append(done_job or job_rows.create_job(catalog, "extract", run_id, actor, "done"))
                done += 1
                continue
            active = [job for job in previous if job["status"] in ("queued", "running")]
            if active:
                job_ids.append(active[0]["job_id"])
                active_count += 1
                continue
            if run is None:
                run_rows.create_run(
                    catalog,
                    run_id,
                    video_id=video_id,
                    backend=backend,
                    backend_version=version,
                    params=run_params,
                    hash_hex=hash_hex,
                )
            else:
                run_rows.set_run_status(catalog, run_id, "queued")
            job_id = job_rows.create_job(catalog, "extract", run_id, actor)
            audit.record(catalog, actor, audit.EXTRACTION_QUEUED, video_id, f"job {job_id}, backend {backend}")
            job_ids.append(job_id)
            crash_point("jobs-queued-uncommitted")
    return Submission(job_ids, len(job_ids) - done - active_count, done, active_count)


def reextract(catalog: Catalog, video_id: str, user: User) -> list[str]:
    """Queue the newest run of ``video_id`` again with the video's segments now; returns the job ids.

    Same backend and parameters (stride, chunk size, the backend's own), so
    only the covered frames change. ``user`` is checked by
    :func:`facs_core.services.jobs.submit_extraction`.

    Raises
    ------
    InputError
        The video has no finished run to repeat.
    """
    run = catalog.query(
        "SELECT backend, params FROM runs WHERE video_id = ? AND status = 'done'"
        " ORDER BY finished_at DESC, run_id LIMIT 1",
        [video_id],
    ).to_dict("records")
    if not run:
        raise InputError(f"video {video_id} has no finished extraction to repeat")
    stored = run[0]["params"]
    params = (json.loads(stored) if stored else {}) if isinstance(stored, str) else dict(stored or {})
    wanted = {"every": int(params.get("every", 1) or 1), **(params.get("backend_params") or {})}
    if params.get("chunk_frames"):
        wanted["chunk_frames"] = int(params["chunk_frames"])
    return submit_extraction(catalog, [video_id], run[0]["backend"], wanted, user)


def resume_interrupted(catalog: Catalog) -> list[str]:
    """Requeue jobs a dead driver left ``running``; return their ids.

    A running job is abandoned when its driver's process is gone or its lease
    ran out; jobs other live drivers hold are left alone. Finished chunks are
    kept, so a requeued job continues where it stopped.
    """
    requeued = []
    for job_id in job_rows.abandoned_job_ids(catalog):
        with catalog.transaction():
            # Checked again inside the transaction: another driver may have claimed it meanwhile.
            if job_id not in job_rows.abandoned_job_ids(catalog):
                continue
            job_rows.set_job_status(catalog, job_id, "queued", message="interrupted; resuming from finished chunks")
            run_id = job_rows.get_job(catalog, job_id)["run_id"]
            if run_id:
                run_rows.set_run_status(catalog, run_id, "queued")
        requeued.append(job_id)
    return requeued


def job_status(catalog: Catalog) -> pd.DataFrame:
    """Jobs for display: id, video, backend, status, progress, message, error, times."""
    return job_rows.list_jobs(catalog)


def _authorise_job(catalog: Catalog, job_id: str, user: User) -> None:
    """Refuse (and audit) unless ``user`` may run extraction on the job's video's patient.

    Called before the job's transaction: a refusal's audit entry must not be
    rolled back with it.
    """
    job = job_rows.get_job(catalog, job_id)
    if job is None:
        # The patient is unknown; the role alone must allow extraction (the caller reports the missing job).
        access.authorise(catalog, user, "run_extraction", target=job_id)
        return
    run = run_rows.get_run(catalog, job["run_id"]) if job.get("run_id") else None
    video = get_video(catalog, run["video_id"]) if run else None
    patient = video.get("patient_id") if video else None
    access.authorise(catalog, user, "run_extraction", patient, target=job_id)


@contextlib.contextmanager
def _authorised_job(catalog: Catalog, job_id: str, user: User) -> Iterator[dict[str, Any]]:
    """Check that ``user`` may run extraction on the job's patient, then yield its row inside one transaction.

    The row is read inside the transaction, so a driver cannot claim the job
    between the check of its status and the change the caller makes. Raises
    :class:`~facs_core.errors.InputError` when the store has no such job.
    """
    _authorise_job(catalog, job_id, user)
    with catalog.transaction():
        job = job_rows.get_job(catalog, job_id)
        if job is None:
            raise InputError(f"no job {job_id} in the store")
        yield job


def cancel_job(catalog: Catalog, job_id: str, user: User) -> str:
    """Ask for a job to stop; a queued job is cancelled at once. Returns its status.

    ``user`` must be allowed ``run_extraction`` on the job's patient (checked
    here at the moment of the call; a refusal is audited and raises
    :class:`~facs_core.services.access.PermissionDenied`).
    """
    actor = user.username
    with _authorised_job(catalog, job_id, user) as job:
        if job["status"] in job_rows.FINISHED:
            return job["status"]
        job_rows.request_cancel(catalog, job_id)
        audit.record(catalog, actor, audit.JOB_CANCEL_REQUESTED, job_id)
        if job["status"] == "queued":
            _finish_cancelled(catalog, job_id, job["run_id"])
            return "cancelled"
        return "cancel requested"


def retry_job(catalog: Catalog, job_id: str, user: User) -> None:
    """Queue a failed or cancelled job again; its finished chunks are reused.

    ``user`` must be allowed ``run_extraction`` on the job's patient (checked
    here at the moment of the call; a refusal is audited and raises
    :class:`~facs_core.services.access.PermissionDenied`). A job whose
    backend is not ready on this server is refused as a new one would be
    (:func:`backend_refusal`); nothing changes.
    """
    actor = user.username
    with _authorised_job(catalog, job_id, user) as job:
        if job["status"] not in ("failed", "cancelled"):
            raise InputError(f"job {job_id} is {job['status']}; only failed or cancelled jobs can be retried")
        run = run_rows.get_run(catalog, job["run_id"]) if job["run_id"] else None
        refusal = backend_refusal(run["backend"]) if run else None
        if refusal:
            raise InputError(refusal)
        job_rows.set_job_status(catalog, job_id, "queued", message="retry")
        if job["run_id"]:
            run_rows.set_run_status(catalog, job["run_id"], "queued")
        audit.record(catalog, actor, audit.JOB_RETRIED, job_id)


def _finish_cancelled(catalog: Catalog, job_id: str, run_id: str | None, driver: str | None = None) -> None:
    with catalog.transaction():
        if job_rows.set_job_status(catalog, job_id, "cancelled", message="cancelled", driver=driver) and run_id:
            run_rows.set_run_status(catalog, run_id, "cancelled")


def one_line(exc: BaseException) -> str:
    """A failure's reason in one line (a Ray task error unwrapped to its cause)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, FacsError):
        return str(cause)
    text = " ".join(str(cause).split()) or "no message"
    return f"{type(cause).__name__}: {text[:300]}"


class Stage(Enum):
    """Where a running job is, on the driver's side."""

    #: Numbering the video's frames (decode only), before the chunks can be planned.
    INDEX = "index"
    #: Chunks planned and handed to the executor; merged when all have finished.
    CHUNKS = "chunks"


@dataclass
class _Active:
    """Driver-side state of one running job."""

    job_id: str
    run: dict[str, Any]
    video_path: Path
    folder: Path
    stage: Stage = Stage.INDEX
    pending: dict[Any, Chunk] = field(default_factory=dict)
    chunks: list[Chunk] = field(default_factory=list)
    done: dict[int, tuple[int, int]] = field(default_factory=dict)
    total_frames: int = 0
    index_ref: Any = None
    last_reported: float = -1.0


class JobRunner:
    """A driver: claims queued extraction jobs and drives them on an executor (Ray by default).

    Use :meth:`run_until_idle` from a command, or :meth:`start` / :meth:`stop`
    for a background thread in the dashboard's process (the page never waits).
    Several drivers (the dashboard, CLI commands) may share a store; each job
    is claimed by exactly one (:func:`store.job_rows.claim_job`), which renews its
    lease while it works.

    Parameters
    ----------
    catalog : Catalog
        The store; this driver writes only the job rows it holds.
    num_cpus : int, optional
        CPUs of a local Ray (default: all); ignored with ``RAY_ADDRESS``
        and with an ``executor`` given.
    poll_s : float
        Seconds between polls of the executor's work and of cancellation flags.
    idle_poll_s : float
        Seconds between looks for new jobs while this driver has none (the
        background thread only): each look opens the shared catalog briefly.
    report : callable(str), optional
        Receives one line per progress update (the CLI prints it on stderr).
    keep_chunks : bool
        Keep ``chunks/<run_id>/`` after the shard is written (for inspection);
        by default it is removed, the shard holding everything.
    executor : Executor, optional
        Runs the work (:mod:`facs_core.services.executors`); by default a
        :class:`~facs_core.services.executors.RayExecutor` with ``num_cpus``.
    """

    def __init__(
        self,
        catalog: Catalog,
        num_cpus: int | None = None,
        poll_s: float = 0.25,
        report: Callable[[str], None] | None = None,
        keep_chunks: bool = False,
        idle_poll_s: float = 2.0,
        executor: Executor | None = None,
    ) -> None:
        self.catalog = catalog
        self.executor: Executor = executor if executor is not None else RayExecutor(num_cpus)
        self.keep_chunks = keep_chunks
        self.num_cpus = num_cpus
        self.poll_s = poll_s
        self.idle_poll_s = idle_poll_s
        self.driver = job_rows.new_driver_id()
        self._renewed_at = time.monotonic()
        self._waiting_noted: set[str] = set()
        self.report = report or (lambda line: None)
        self._active: dict[str, _Active] = {}
        self._outcome: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False

    # -- public ----------------------------------------------------------
    def connect(self) -> None:
        """Connect the executor (once): for Ray, on a cluster, check that every node sees the data folder.

        Raises
        ------
        facs_core.services.cluster.ClusterError
            The cluster cannot be used (one line saying what to do).
        """
        if self._connected:
            return
        self.executor.connect(self.catalog.paths.chunks)
        self._connected = True

    def run_until_idle(self, wait_for: Sequence[str] = ()) -> dict[str, str]:
        """Run queued jobs until none is left; return ``{job_id: final status}``.

        Jobs in ``wait_for`` that another driver holds are waited for (and
        reported with their final status too), so a command that queued them
        ends when they are finished, whoever drove them.
        """
        wait_for = list(dict.fromkeys(wait_for))
        while True:
            self.step()
            if not self._active and not job_rows.claimable_job_ids(self.catalog):
                pending = self._others_pending(wait_for)
                if not pending:
                    outcome = dict(self._outcome)
                    for job_id in wait_for:
                        if job_id not in outcome:
                            job = job_rows.get_job(self.catalog, job_id)
                            outcome[job_id] = job["status"] if job else "missing"
                    return outcome
            time.sleep(self.poll_s)

    def _others_pending(self, job_ids: Sequence[str]) -> list[str]:
        pending = []
        for job_id in job_ids:
            job = job_rows.get_job(self.catalog, job_id)
            if job and job["status"] not in job_rows.FINISHED and job_id not in self._active:
                pending.append(job_id)
                if job_id not in self._waiting_noted:
                    self._waiting_noted.add(job_id)
                    self.report(f"job {job_id}: driven by another process ({job['driver'] or 'queued'}); waiting")
        return pending

    def start(self) -> None:
        """Drive jobs from a daemon thread until :meth:`stop`."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="facs-job-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the background thread (running chunks finish; jobs resume later)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def step(self) -> None:
        """One poll: claim and start queued jobs, collect finished work, honour cancellations."""
        self._renew()
        for job_id in job_rows.claimable_job_ids(self.catalog):
            if job_id not in self._active and job_rows.claim_job(
                self.catalog, job_id, self.driver, message="numbering frames"
            ):
                try:
                    self._start_job(job_id)
                except Exception as exc:  # e.g. the executor did not start: the job fails with the reason
                    active = self._active.get(job_id)
                    if active is not None:
                        self._fail(active, one_line(exc))
                    else:
                        job_rows.set_job_status(
                            self.catalog, job_id, "failed", error=one_line(exc), message="failed", driver=self.driver
                        )
                        self._outcome[job_id] = "failed"
        for active in list(self._active.values()):
            try:
                self._advance(active)
            except Exception as exc:
                self._fail(active, one_line(exc))

    # -- internals -------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # the thread must outlive one bad poll
                from facs_core.services.logs import log_exception

                log_exception(exc, self.catalog.paths.root)
            self._stop.wait(self.poll_s if self._active else self.idle_poll_s)

    def _renew(self) -> None:
        """Extend the leases of this driver's jobs; drop (without writing) any it lost."""
        if not self._active or time.monotonic() - self._renewed_at < job_rows.LEASE_S / 3:
            return
        held = job_rows.renew_leases(self.catalog, self.driver, list(self._active))
        self._renewed_at = time.monotonic()
        for job_id in [j for j in self._active if j not in held]:
            self._drop(self._active[job_id], "no longer held by this driver; left to the one that holds it")

    def _drop(self, active: _Active, why: str) -> None:
        self._cancel_refs(active)
        self._active.pop(active.job_id, None)
        self.report(f"job {active.job_id}: {why}")

    def _cancel_refs(self, active: _Active) -> None:
        try:
            for ref in [*active.pending, active.index_ref]:
                if ref is not None:
                    self.executor.cancel(ref)
        except Exception:  # cancelling is best effort
            pass

    def _start_job(self, job_id: str) -> None:
        job = job_rows.get_job(self.catalog, job_id)
        run = run_rows.get_run(self.catalog, job["run_id"]) if job and job["run_id"] else None
        if run is None:
            job_rows.set_job_status(
                self.catalog, job_id, "failed", error="job has no extraction run", driver=self.driver
            )
            self._outcome[job_id] = "failed"
            return
        record = get_video(self.catalog, run["video_id"])
        path = video_file(self.catalog, record) if record and record.get("stored_path") else None
        active = _Active(job_id, run, path or Path(), self.catalog.paths.chunks / run["run_id"])
        self._active[job_id] = active
        if path is None or not path.is_file():
            self._fail(active, f"the stored file of video {run['video_id']} is missing")
            return
        self.connect()
        active.folder.mkdir(parents=True, exist_ok=True)
        index = active.folder / INDEX_FILE
        if not index.exists():
            active.index_ref = self.executor.index_frames(str(path), index)
        self.report(f"job {job_id}: video {run['video_id']} started")

    def _advance(self, active: _Active) -> None:
        executor = self.executor
        if job_rows.cancel_requested(self.catalog, active.job_id):
            for ref in [*active.pending, active.index_ref]:
                if ref is not None:
                    executor.cancel(ref)
            self._active.pop(active.job_id)
            _finish_cancelled(self.catalog, active.job_id, active.run["run_id"], self.driver)
            self._outcome[active.job_id] = "cancelled"
            self.report(f"job {active.job_id}: cancelled")
            return
        if active.stage is Stage.INDEX:
            if active.index_ref is not None:
                if not executor.ready([active.index_ref]):
                    return
                executor.result(active.index_ref)
            self._plan(active)
        if active.job_id not in self._active:  # dropped: another driver holds it now
            return
        if active.pending:
            ready = executor.ready(list(active.pending))
            for ref in ready:
                chunk = active.pending.pop(ref)
                result = executor.result(ref)
                active.done[chunk.index] = (result.n_frames, result.n_face_frames)
            if ready:
                self._progress(active)
        if not active.pending and active.job_id in self._active:
            self._merge(active)

    def _plan(self, active: _Active) -> None:
        params = active.run["params"]
        stamps: np.ndarray = read_frame_index(active.folder / INDEX_FILE)
        ranges = ranges_to_extract(stamps, params.get("segments"))
        if not ranges:
            raise InputError(f"no frame of video {active.run['video_id']} lies in its marked segments")
        active.chunks = plan_chunks(ranges, int(params["chunk_frames"]))
        active.total_frames = sum(c.end_frame - c.start_frame for c in active.chunks)
        for chunk in active.chunks:
            target = active.folder / chunk.file_name
            if target.exists():  # finished before an interruption: not recomputed
                counts = chunk_counts(chunk, target)
                active.done[chunk.index] = (counts.n_frames, counts.n_face_frames)
                continue
            task = ChunkTask(
                video_path=str(active.video_path),
                chunk=chunk,
                backend=active.run["backend"],
                backend_params=params.get("backend_params", {}),
                every=int(params["every"]),
                index_path=str(active.folder / INDEX_FILE),
                target=str(target),
            )
            active.pending[self.executor.run_chunk(task, active.run["backend"])] = chunk
        active.stage = Stage.CHUNKS
        self._progress(active)

    def _progress(self, active: _Active) -> None:
        finished = sum(c.end_frame - c.start_frame for c in active.chunks if c.index in active.done)
        fraction = finished / max(active.total_frames, 1)
        message = f"{len(active.done)}/{len(active.chunks)} chunks"
        if not job_rows.set_progress(self.catalog, active.job_id, fraction, message, driver=self.driver):
            self._drop(active, "no longer held by this driver; left to the one that holds it")
            return
        if fraction != active.last_reported:
            active.last_reported = fraction
            self.report(f"job {active.job_id}: {message} ({100 * fraction:.0f}%)")

    def _merge(self, active: _Active) -> None:
        run = active.run
        files = [active.folder / c.file_name for c in active.chunks]
        table = merge_chunks(files)
        shard = write_shard_file(self.catalog.paths, run["run_id"], run["video_id"], table)
        written = shard.path
        summary = face_summary(table)
        video = get_video(self.catalog, run["video_id"]) or {}
        # A damaged video's gap is said where the job is shown, not only on its visit.
        damage = damage_status(video)
        gap = f"; {damage}" if damage else ""
        n_face = summary.patient
        # What was analysed, and a faceless or mostly faceless outcome, are said in the job's own line.
        scope = run_scope(
            {**run, "status": "done", "n_frames": table.num_rows}, video.get("frame_count"), video.get("fps")
        )
        warning = face_warning(table.num_rows, n_face)
        line = f"{scope} · {summary.describe()}{gap}" + (f"; warning: {warning}" if warning else "")
        # The run and its job finish together, and only if this driver still holds the job.
        with self.catalog.transaction():
            if not job_rows.set_job_status(self.catalog, active.job_id, "done", message=line, driver=self.driver):
                self._drop(active, "no longer held by this driver; left to the one that holds it")
                return
            run_rows.finish_run(
                self.catalog,
                run["run_id"],
                shard_path=written.relative_to(self.catalog.paths.root).as_posix(),
                n_frames=table.num_rows,
                n_face_frames=n_face,
                shard_sha256=shard.sha256,
            )
        # Per-video features are computed once, here, so no page computes them on first view;
        # precompute() logs and swallows its own failures, so the finished run stays done.
        fps = self.catalog.scalar("SELECT fps FROM videos WHERE video_id = ?", [run["video_id"]])
        if fps is not None:
            precompute(self.catalog.paths, written, run["video_id"], float(fps))
        self._active.pop(active.job_id)
        self._outcome[active.job_id] = "done"
        # The shard holds everything now; the chunks were only a way there.
        if not self.keep_chunks:
            shutil.rmtree(active.folder, ignore_errors=True)
        self.report(f"job {active.job_id}: done, {line}")

    def _fail(self, active: _Active, reason: str) -> None:
        self._cancel_refs(active)
        self._active.pop(active.job_id, None)
        with self.catalog.transaction():
            if not job_rows.set_job_status(
                self.catalog, active.job_id, "failed", error=reason, message="failed", driver=self.driver
            ):
                return
            run_rows.set_run_status(self.catalog, active.run["run_id"], "failed", error=reason)
        self._outcome[active.job_id] = "failed"
        self.report(f"job {active.job_id}: failed: {reason}")
