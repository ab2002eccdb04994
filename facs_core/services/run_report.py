"""What each extraction run analysed, whether it needs a warning, and whether segment edits made it stale.

Joins the catalog's runs, videos and segments with the wording of
:mod:`facs_core.run_scope`, for the Extraction page's job list, the command
line's job summary, and the stale notices of the Timeline, Patient and Cohort
pages. A run remembers the segment times it was queued with
(``runs.params["segments"]``, part of its identity), so staleness is a
comparison with the video's segments now; no extra bookkeeping is stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from facs_core.run_scope import face_percent, face_warning, scope_text, segments_changed
from facs_core.segments import frame_ranges
from store.catalog import Catalog

__all__ = ["describe_jobs", "planned_scope", "run_extents", "run_scope", "stale_runs"]


def _params(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return dict(value or {})


def _frames_inside(segments: Sequence[Sequence[float]], frame_count: Any, fps: Any) -> int | None:
    if frame_count is None or pd.isna(frame_count):
        return None
    if not segments:
        return int(frame_count)
    if fps is None or pd.isna(fps) or float(fps) <= 0:
        return None
    ranges = frame_ranges([(float(s), float(e)) for s, e in segments], frame_count=int(frame_count), fps=float(fps))
    return sum(stop - first for first, stop in ranges)


def run_scope(run: dict[str, Any], frame_count: Any = None, fps: Any = None) -> str:
    """``"whole video"`` or ``"frames inside 2 segments, 46 of 72"`` for one run row.

    A finished run's own frame count is exact; before that the count comes
    from the video's frame rate.
    """
    params = _params(run.get("params"))
    segments = params.get("segments") or []
    every = int(params.get("every", 1) or 1)
    inside = _frames_inside(segments, frame_count, fps)
    n_frames = run.get("n_frames")
    if segments and every == 1 and run.get("status") == "done" and n_frames is not None and not pd.isna(n_frames):
        inside = int(n_frames)
    total = None if frame_count is None or pd.isna(frame_count) else int(frame_count)
    return scope_text(len(segments), inside, total, every)


def planned_scope(catalog: Catalog, video_ids: Sequence[str], every: int = 1) -> dict[str, str]:
    """What an extraction of each of ``video_ids`` queued now would analyse (its segments now)."""
    ids = sorted({str(v) for v in video_ids})
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    videos = catalog.query(f"SELECT video_id, frame_count, fps FROM videos WHERE video_id IN ({marks})", ids)
    current = _current_segments(catalog, ids)
    return {
        row.video_id: run_scope(
            {"params": {"segments": current[row.video_id], "every": every}}, row.frame_count, row.fps
        )
        for row in videos.itertuples(index=False)
    }


def _current_segments(catalog: Catalog, video_ids: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    ids = sorted({str(v) for v in video_ids if v is not None and not pd.isna(v)})
    found: dict[str, list[tuple[float, float]]] = {v: [] for v in ids}
    if not ids:
        return found
    marks = ", ".join("?" for _ in ids)
    rows = catalog.query(
        f"SELECT video_id, start_s, end_s FROM segments WHERE video_id IN ({marks}) ORDER BY start_s", ids
    )
    for row in rows.itertuples(index=False):
        found[row.video_id].append((float(row.start_s), float(row.end_s)))
    return found


def _runs(catalog: Catalog, run_ids: Sequence[str]) -> pd.DataFrame:
    ids = sorted({str(r) for r in run_ids if r is not None and not pd.isna(r)})
    if not ids:
        return pd.DataFrame(columns=["run_id", "video_id", "params", "status", "n_frames", "n_face_frames"])
    marks = ", ".join("?" for _ in ids)
    return catalog.query(
        "SELECT r.run_id, r.video_id, r.backend, r.params, r.status, r.n_frames, r.n_face_frames,"
        " v.frame_count, v.fps, v.stored_path"
        f" FROM runs r LEFT JOIN videos v USING (video_id) WHERE r.run_id IN ({marks})",
        ids,
    )


def run_extents(catalog: Catalog, run_ids: Sequence[str]) -> pd.DataFrame:
    """What frames each of ``run_ids`` analysed, as its parameters recorded it when queued.

    Columns ``run_id, video_id, run_segments, spans, every, video_frames``:
    the number of segments the run was restricted to (0: the whole video),
    those segments as ``(start_s, end_s)`` pairs, its stride, and the video's
    frame count (NaN when unknown).
    """
    columns = ["run_id", "video_id", "run_segments", "spans", "every", "video_frames"]
    runs = _runs(catalog, run_ids)
    rows = []
    for run in runs.itertuples(index=False):
        params = _params(run.params)
        spans = [(float(s), float(e)) for s, e in params.get("segments") or []]
        frames = getattr(run, "frame_count", None)
        rows.append(
            {
                "run_id": run.run_id,
                "video_id": run.video_id,
                "run_segments": len(spans),
                "spans": spans,
                "every": int(params.get("every", 1) or 1),
                "video_frames": float("nan") if frames is None or pd.isna(frames) else float(frames),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def describe_jobs(catalog: Catalog, jobs: pd.DataFrame) -> pd.DataFrame:
    """``jobs`` with ``analyses``, ``warning``, ``face_share`` and ``stale`` columns.

    ``jobs`` is a table of :func:`facs_core.services.jobs.job_status`.
    ``analyses``: what the job's run covers (:func:`run_scope`); ``warning``:
    a finished run's face warning (:func:`facs_core.run_scope.face_warning`),
    else None; ``face_share``: a finished run's share of frames with a face
    (:func:`facs_core.run_scope.face_percent`, the warning's own number), else
    None; ``stale``: the job's run is its video's newest finished run and its
    segments were edited since (:func:`stale_runs`); an older run, already
    replaced by a newer extraction, is never stale.
    """
    table = jobs.copy()
    runs = _runs(catalog, table.get("run_id", pd.Series(dtype=str)).tolist()).set_index("run_id")
    stale_ids = set(stale_runs(catalog, runs["video_id"].dropna().tolist())["run_id"]) if not runs.empty else set()
    analyses, warnings, shares, stale = [], [], [], []
    for job in table.itertuples(index=False):
        run_id = getattr(job, "run_id", None)
        if run_id is None or run_id not in runs.index:
            analyses.append(None)
            warnings.append(None)
            shares.append(None)
            stale.append(False)
            continue
        run = runs.loc[run_id].to_dict()
        analyses.append(run_scope(run, run.get("frame_count"), run.get("fps")))
        done = run.get("status") == "done" and getattr(job, "status", None) == "done"
        warnings.append(face_warning(run.get("n_frames"), run.get("n_face_frames")) if done else None)
        faces = run.get("n_face_frames")
        counted = done and pd.notna(run.get("n_frames"))
        shares.append(face_percent(run["n_frames"], 0 if pd.isna(faces) else faces) if counted else None)
        stale.append(bool(done and run_id in stale_ids))
    table["analyses"] = analyses
    table["warning"] = warnings
    table["face_share"] = shares
    table["stale"] = stale
    return table


def stale_runs(catalog: Catalog, video_ids: Sequence[str]) -> pd.DataFrame:
    """The newest finished run of each of ``video_ids`` whose segments were edited after it was queued.

    Columns ``video_id, run_id, backend, analysed, now, pending``: the segment
    count the run analysed, the count marked now, and whether an extraction
    of the video is queued or running (it will replace the stale run). Runs
    over the whole video and synthetic demo visits (no file to extract again)
    are never stale.
    """
    columns = ["video_id", "run_id", "backend", "analysed", "now", "pending"]
    ids = sorted({str(v) for v in video_ids})
    if not ids:
        return pd.DataFrame(columns=columns)
    marks = ", ".join("?" for _ in ids)
    runs = catalog.query(
        "SELECT r.video_id, r.run_id, r.backend, r.params, EXISTS (SELECT 1 FROM jobs j JOIN runs p"
        " ON j.run_id = p.run_id WHERE p.video_id = r.video_id AND j.status IN ('queued', 'running')) AS pending"
        " FROM runs r JOIN videos v USING (video_id)"
        f" WHERE r.status = 'done' AND r.shard_path IS NOT NULL AND v.stored_path IS NOT NULL"
        f" AND r.video_id IN ({marks})"
        " QUALIFY row_number() OVER (PARTITION BY r.video_id ORDER BY r.finished_at DESC, r.run_id) = 1"
        " ORDER BY r.video_id",
        ids,
    )
    current = _current_segments(catalog, runs["video_id"].tolist())
    rows = []
    for run in runs.itertuples(index=False):
        used = _params(run.params).get("segments") or []
        now = current.get(run.video_id, [])
        if segments_changed(used, now):
            rows.append(
                {
                    "video_id": run.video_id,
                    "run_id": run.run_id,
                    "backend": run.backend,
                    "analysed": len(used),
                    "now": len(now),
                    "pending": bool(run.pending),
                }
            )
    return pd.DataFrame(rows, columns=columns)
