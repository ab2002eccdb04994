"""Jobs in the catalog: units of work with status, progress and a reason.

A job moves ``queued -> running -> done | failed | cancelled``; a failed or
cancelled job can be queued again. Only the process that holds the catalog
(the app, or one CLI command) changes these rows; workers report to it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd

from store.catalog import Catalog

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")


def create_job(catalog: Catalog, kind: str, run_id: str | None, actor: str, status: str = "queued") -> str:
    """Record a new job; return its id."""
    job_id = uuid.uuid4().hex[:16]
    catalog.execute(
        "INSERT INTO jobs (job_id, kind, run_id, status, progress, created_by) VALUES (?, ?, ?, ?, ?, ?)",
        [job_id, kind, run_id, status, 1.0 if status == "done" else 0.0, actor],
    )
    return job_id


def get_job(catalog: Catalog, job_id: str) -> dict[str, Any] | None:
    """The catalog row of one job, or None."""
    rows = catalog.query("SELECT * FROM jobs WHERE job_id = ?", [job_id]).to_dict("records")
    return rows[0] if rows else None


def jobs_of_run(catalog: Catalog, run_id: str) -> list[dict[str, Any]]:
    """Jobs of one run, newest first."""
    return catalog.query("SELECT * FROM jobs WHERE run_id = ? ORDER BY created_at DESC, job_id", [run_id]).to_dict(
        "records"
    )


def job_ids_with_status(catalog: Catalog, status: str, kind: str = "extract") -> list[str]:
    """Ids of the jobs of ``kind`` in ``status``, oldest first."""
    return catalog.query(
        "SELECT job_id FROM jobs WHERE status = ? AND kind = ? ORDER BY created_at, job_id", [status, kind]
    )["job_id"].tolist()


def set_job_status(
    catalog: Catalog, job_id: str, status: str, *, message: str | None = None, error: str | None = None
) -> None:
    """Move a job to ``status``; finishing stamps ``finished_at``, starting ``started_at``."""
    if status not in JOB_STATUSES:
        raise ValueError(f"unknown job status {status!r}")
    catalog.execute(
        "UPDATE jobs SET status = ?, message = coalesce(?, message), error = ?,"
        " progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END,"
        " cancel_requested = CASE WHEN ? = 'queued' THEN FALSE ELSE cancel_requested END,"
        " started_at = CASE WHEN ? = 'running' THEN coalesce(started_at, current_timestamp) ELSE started_at END,"
        " finished_at = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN current_timestamp END"
        " WHERE job_id = ?",
        [status, message, error, status, status, status, status, job_id],
    )


def set_progress(catalog: Catalog, job_id: str, progress: float, message: str | None = None) -> None:
    """Record progress (0..1) and a short message."""
    catalog.execute(
        "UPDATE jobs SET progress = ?, message = coalesce(?, message) WHERE job_id = ?",
        [max(0.0, min(1.0, float(progress))), message, job_id],
    )


def request_cancel(catalog: Catalog, job_id: str) -> None:
    """Flag a job for cancellation; the process driving it acts on the flag."""
    catalog.execute("UPDATE jobs SET cancel_requested = TRUE WHERE job_id = ?", [job_id])


def cancel_requested(catalog: Catalog, job_id: str) -> bool:
    """Whether someone asked to cancel the job."""
    return bool(catalog.scalar("SELECT cancel_requested FROM jobs WHERE job_id = ?", [job_id]))


def list_jobs(catalog: Catalog, limit: int = 200) -> pd.DataFrame:
    """Recent jobs with their run's video and backend, newest first."""
    return catalog.query(
        "SELECT j.job_id, j.kind, r.video_id, r.backend, j.status, j.progress, j.message, j.error,"
        " j.cancel_requested, j.created_by, j.created_at, j.started_at, j.finished_at, j.run_id,"
        " r.n_frames, r.n_face_frames"
        " FROM jobs j LEFT JOIN runs r USING (run_id)"
        " ORDER BY j.created_at DESC, j.job_id LIMIT ?",
        [limit],
    )
