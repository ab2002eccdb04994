"""Job rows in the catalog: units of work with status, progress and a reason.

A job moves ``queued -> running -> done | failed | cancelled``; a failed or
cancelled job can be queued again. Any process sharing the store (the
dashboard, CLI commands) may *drive* jobs, but a running job belongs to one
driver: the one that claimed it (:func:`claim_job`) and keeps renewing its
lease (:func:`renew_leases`). A job whose lease ran out, or whose driver's
process is gone, can be claimed by another driver. Workers never write here.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

import pandas as pd

from store.catalog import Catalog, named_row

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


def set_job_status(
    catalog: Catalog,
    job_id: str,
    status: str,
    *,
    message: str | None = None,
    error: str | None = None,
    driver: str | None = None,
) -> bool:
    """Move a job to ``status``; finishing stamps ``finished_at``, starting ``started_at``.

    Leaving ``running`` ends the driver's lease. With ``driver``, the job is
    changed only while that driver holds it. Returns whether it was changed.
    """
    if status not in JOB_STATUSES:
        raise ValueError(f"unknown job status {status!r}")
    guard = " AND driver = ? AND status = 'running'" if driver else ""
    with catalog.transaction() as cur:
        changed = cur.execute(
            "UPDATE jobs SET status = ?, message = coalesce(?, message), error = ?,"
            " progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END,"
            " cancel_requested = CASE WHEN ? = 'queued' THEN FALSE ELSE cancel_requested END,"
            " started_at = CASE WHEN ? = 'running' THEN coalesce(started_at, current_timestamp) ELSE started_at END,"
            " finished_at = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN current_timestamp END,"
            " lease_expires = CASE WHEN ? = 'running' THEN lease_expires END"
            f" WHERE job_id = ?{guard}",
            [status, message, error, status, status, status, status, status, job_id, *([driver] if driver else [])],
        ).fetchone()[0]
    return bool(changed)


def set_progress(
    catalog: Catalog, job_id: str, progress: float, message: str | None = None, *, driver: str | None = None
) -> bool:
    """Record progress (0..1) and a short message (with ``driver``: only while it holds the job)."""
    guard = " AND driver = ? AND status = 'running'" if driver else ""
    with catalog.transaction() as cur:
        changed = cur.execute(
            f"UPDATE jobs SET progress = ?, message = coalesce(?, message) WHERE job_id = ?{guard}",
            [max(0.0, min(1.0, float(progress))), message, job_id, *([driver] if driver else [])],
        ).fetchone()[0]
    return bool(changed)


# -- drivers and leases -------------------------------------------------------
#: Seconds a claim lasts without renewal; a driver renews well before.
LEASE_S = 30.0


def new_driver_id() -> str:
    """A driver's name: ``host:pid:token`` (the token tells two drivers of one process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def driver_alive(driver: str | None) -> bool:
    """False when ``driver`` is a process of this host that no longer exists; True otherwise.

    A driver on another host is judged by its lease alone.
    """
    if not driver:
        return False
    host, _, rest = driver.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claimable(status: str, driver: str | None, lease_expires: float | None, now: float) -> bool:
    if status == "queued":
        return True
    if status != "running":
        return False
    return lease_expires is None or lease_expires < now or not driver_alive(driver)


def claimable_job_ids(catalog: Catalog, kind: str = "extract") -> list[str]:
    """Jobs a driver may take: queued ones, and running ones whose driver is gone; oldest first."""
    rows = catalog.query(
        "SELECT job_id, status, driver, lease_expires FROM jobs"
        " WHERE kind = ? AND status IN ('queued', 'running') ORDER BY created_at, job_id",
        [kind],
    )
    now = time.time()
    return [
        r.job_id
        for r in rows.itertuples(index=False)
        if _claimable(r.status, r.driver, None if r.lease_expires != r.lease_expires else r.lease_expires, now)
    ]


def claim_job(catalog: Catalog, job_id: str, driver: str, message: str | None = None, lease_s: float = LEASE_S) -> bool:
    """Make ``driver`` the one driver of a queued (or abandoned) job; False if another holds it.

    The check and the change are one transaction, and a transaction holds the
    catalog file exclusively, so two processes never both succeed.
    """
    with catalog.transaction() as cur:
        row = named_row(cur.execute("SELECT status, driver, lease_expires FROM jobs WHERE job_id = ?", [job_id]))
        now = time.time()
        if row is None or not _claimable(row["status"], row["driver"], row["lease_expires"], now):
            return False
        cur.execute(
            "UPDATE jobs SET status = 'running', driver = ?, lease_expires = ?, message = coalesce(?, message),"
            " error = NULL, finished_at = NULL, started_at = coalesce(started_at, current_timestamp) WHERE job_id = ?",
            [driver, now + lease_s, message, job_id],
        )
        cur.execute(
            "UPDATE runs SET status = 'running' WHERE run_id = (SELECT run_id FROM jobs WHERE job_id = ?)", [job_id]
        )
    return True


def renew_leases(catalog: Catalog, driver: str, job_ids: list[str], lease_s: float = LEASE_S) -> set[str]:
    """Extend ``driver``'s leases on ``job_ids``; return those it still holds."""
    if not job_ids:
        return set()
    marks = ", ".join("?" for _ in job_ids)
    with catalog.transaction() as cur:
        cur.execute(
            f"UPDATE jobs SET lease_expires = ? WHERE driver = ? AND status = 'running' AND job_id IN ({marks})",
            [time.time() + lease_s, driver, *job_ids],
        )
        held = cur.execute(
            f"SELECT job_id FROM jobs WHERE driver = ? AND status = 'running' AND job_id IN ({marks})",
            [driver, *job_ids],
        ).fetchall()
    return {row[0] for row in held}


def abandoned_job_ids(catalog: Catalog, kind: str = "extract") -> list[str]:
    """Running jobs whose driver is gone (its process ended or its lease ran out)."""
    now = time.time()
    rows = catalog.query(
        "SELECT job_id, driver, lease_expires FROM jobs WHERE kind = ? AND status = 'running'"
        " ORDER BY created_at, job_id",
        [kind],
    )
    return [
        r.job_id
        for r in rows.itertuples(index=False)
        if _claimable("running", r.driver, None if r.lease_expires != r.lease_expires else r.lease_expires, now)
    ]


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
        " j.cancel_requested, j.created_by, j.created_at, j.started_at, j.finished_at, j.run_id, j.driver,"
        " r.n_frames, r.n_face_frames"
        " FROM jobs j LEFT JOIN runs r USING (run_id)"
        " ORDER BY j.created_at DESC, j.job_id LIMIT ?",
        [limit],
    )
