"""Clinical scores and visit covariates in the catalog, one video (visit) at a time.

The values are stored as given: checking them (ranges, instruments, codes) is
the caller's job (:mod:`facs_core.clinical` through the ingest and import
services). Run inside the caller's transaction to commit a visit's rows together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from store.catalog import Catalog

__all__ = ["add_scores", "set_covariates"]


def add_scores(
    catalog: Catalog,
    video_id: str,
    scores: Mapping[str, float],
    assessed_on: date | None,
    *,
    keep_existing: bool = False,
) -> None:
    """Store one score per instrument key for ``video_id``.

    With ``keep_existing`` a score the visit already has for an instrument is
    kept (nothing raised); otherwise storing it twice is a constraint error.
    """
    conflict = " ON CONFLICT DO NOTHING" if keep_existing else ""
    with catalog.transaction() as cur:
        for instrument, score in scores.items():
            cur.execute(
                "INSERT INTO assessments (video_id, instrument, score, assessed_on) VALUES (?, ?, ?, ?)" + conflict,
                [video_id, instrument, score, assessed_on],
            )


def set_covariates(
    catalog: Catalog,
    video_id: str,
    *,
    age: float | None,
    sex: str | None,
    medication: str | None,
    repeat_visit: bool | None,
    keep_existing: bool = False,
) -> None:
    """Store the covariates of ``video_id`` (with ``keep_existing``, a visit that has them keeps its own)."""
    conflict = " ON CONFLICT DO NOTHING" if keep_existing else ""
    catalog.execute(
        "INSERT INTO visit_covariates (video_id, age, sex, medication, repeat_visit) VALUES (?, ?, ?, ?, ?)" + conflict,
        [video_id, age, sex, medication, repeat_visit],
    )
