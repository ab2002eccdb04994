"""What the store holds, for the home page and ``python -m facs_core info``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from store.catalog import Catalog


@dataclass(frozen=True)
class StoreSummary:
    """Counts shown on the home page."""

    data_dir: Path
    patients: int
    videos: int
    hours: float
    frames: int
    synthetic_videos: int
    recent_jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when nothing has been uploaded or imported yet."""
        return self.patients == 0 and self.videos == 0

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form, for JSON."""
        return asdict(self)


def store_summary(catalog: Catalog, recent: int = 5) -> StoreSummary:
    """Counts of patients, videos, hours of video and extracted frames, and the last jobs."""
    row = catalog.fetchrow(
        "SELECT (SELECT count(*) FROM patients) AS patients,"
        " count(*) AS videos, coalesce(sum(duration_s), 0) / 3600.0 AS hours,"
        " count(*) FILTER (WHERE synthetic) AS synthetic_videos"
        " FROM videos"
    )
    frames = catalog.scalar("SELECT coalesce(sum(n_frames), 0) FROM runs WHERE status = 'done'")
    jobs = catalog.query(
        "SELECT job_id, kind, status, progress, message, error, created_at, finished_at"
        " FROM jobs ORDER BY created_at DESC LIMIT ?",
        [recent],
    )
    return StoreSummary(
        data_dir=catalog.paths.root,
        patients=int(row["patients"]),
        videos=int(row["videos"]),
        hours=float(row["hours"]),
        synthetic_videos=int(row["synthetic_videos"]),
        frames=int(frames),
        recent_jobs=jobs.to_dict("records"),
    )
