"""Symptom segments in the catalog: store, change, delete, list.

Plain storage: the rules of a segment (bounds, overlaps, labels) are the
core's (:mod:`facs_core.segments`) and are applied by the service
:mod:`facs_core.services.segment_edits`, which is how pages and commands
change segments. Every change here happens in one transaction that also
appends to the audit trail. Segments carry a ``revision`` counter (migration
0002): an edit or deletion names the revision it was based on and is refused
when someone else changed the segment meanwhile, so two browser sessions never
silently overwrite each other.

Where a change must fit around the video's other segments (refuse or merge an
overlap), the caller passes ``fit``: it is called inside the transaction with
the other segments as ``(segment_id, start_s, end_s)`` and returns the bounds
to store and the segments merged into this one (deleted in the same
transaction), so the check and the write see the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from facs_core.errors import InputError
from store import audit
from store.catalog import Catalog
from store.videos import get_video

__all__ = [
    "Fit",
    "add_segment",
    "check_revision",
    "delete_segment",
    "get_segment",
    "segments_for",
    "update_segment",
    "video_record",
]

#: ``fit(others) -> (start_s, end_s, merged segment ids)``, run inside the write's transaction.
Fit = Callable[[list[tuple[int, float, float]]], tuple[float, float, list[int]]]

_COLUMNS = (
    "segment_id, video_id, start_s, end_s, label, author, created_at, updated_at, coalesce(revision, 1) AS revision"
)
_CONFLICT = "segment {} was changed or deleted by someone else meanwhile; reload and try again"


def video_record(catalog: Catalog, video_id: str) -> dict[str, Any]:
    """The video's catalog row; InputError when it is not in the store."""
    record = get_video(catalog, video_id)
    if record is None:
        raise InputError(f"video {video_id} is not in the store")
    return record


def segments_for(catalog: Catalog, video_id: str) -> pd.DataFrame:
    """The segments of one video, by start time.

    Columns: ``segment_id, video_id, start_s, end_s, label, author,
    created_at, updated_at, revision``.
    """
    return catalog.query(f"SELECT {_COLUMNS} FROM segments WHERE video_id = ? ORDER BY start_s, segment_id", [video_id])


def get_segment(catalog: Catalog, segment_id: int) -> dict[str, Any]:
    """One segment's row; InputError when there is none."""
    rows = catalog.query(f"SELECT {_COLUMNS} FROM segments WHERE segment_id = ?", [int(segment_id)]).to_dict("records")
    if not rows:
        raise InputError(f"segment {segment_id} does not exist (deleted meanwhile?)")
    return rows[0]


def check_revision(current: dict[str, Any], expected_revision: int | None) -> None:
    """InputError when ``current`` (a :func:`get_segment` row) is no longer at ``expected_revision``."""
    if expected_revision is not None and int(current["revision"]) != int(expected_revision):
        raise InputError(
            f"segment {current['segment_id']} was changed by {current['author'] or 'someone'} meanwhile"
            f" (revision {current['revision']}, you edited revision {expected_revision}); reload and try again"
        )


def _fitted(cur, video_id: str, start: float, end: float, fit: Fit | None, exclude: int | None):
    if fit is None:
        return start, end, []
    rows = cur.execute(
        "SELECT segment_id, start_s, end_s FROM segments WHERE video_id = ? AND segment_id <> ?",
        [video_id, -1 if exclude is None else int(exclude)],
    ).fetchall()
    return fit([(int(r[0]), float(r[1]), float(r[2])) for r in rows])


def _detail(segment_id: int, author: str, actor: str | None) -> str:
    by = f", author given as {author}" if actor is not None and author != actor else ""
    return f"segment {segment_id}{by}"


def _delete_merged(catalog: Catalog, cur, merged: list[int], actor: str, into: int | None) -> None:
    for segment_id in merged:
        cur.execute("DELETE FROM segments WHERE segment_id = ?", [segment_id])
        detail = None if into is None else f"merged into segment {into}"
        audit.record(catalog, actor, audit.SEGMENT_MERGE, str(segment_id), detail)


def add_segment(
    catalog: Catalog,
    video_id: str,
    start_s: float,
    end_s: float,
    label: str,
    *,
    author: str,
    actor: str | None = None,
    fit: Fit | None = None,
) -> dict[str, Any]:
    """Store a segment of ``video_id`` as given (checked by the caller); return the stored row.

    Parameters
    ----------
    start_s, end_s : float
        Seconds on the video's clock.
    label : str
        The segment's label.
    author : str
        The name stored with the segment.
    actor : str, optional
        Who did it, for the audit trail (default ``author``); an author who
        is not the actor is named in the audit entry's detail, so a name
        given on the command line is never logged as that user's own act.
    fit : callable, optional
        Fits the segment around the video's others inside the transaction
        (see the module's description); without it the bounds are stored as given.
    """
    with catalog.transaction() as cur:
        start, end, merged = _fitted(cur, video_id, float(start_s), float(end_s), fit, None)
        segment_id = cur.execute(
            "INSERT INTO segments (video_id, start_s, end_s, label, author, revision) VALUES (?, ?, ?, ?, ?, 1)"
            " RETURNING segment_id",
            [video_id, start, end, label, author],
        ).fetchone()[0]
        _delete_merged(catalog, cur, merged, actor or author, segment_id)
        audit.record(catalog, actor or author, audit.SEGMENT_ADD, video_id, _detail(segment_id, author, actor))
    return get_segment(catalog, segment_id)


def update_segment(
    catalog: Catalog,
    segment_id: int,
    *,
    expected_revision: int,
    start_s: float,
    end_s: float,
    label: str,
    author: str,
    actor: str | None = None,
    fit: Fit | None = None,
) -> dict[str, Any]:
    """Store a segment's new times and label, if nobody changed it since ``expected_revision``.

    The update is conditional on the revision inside one transaction, so of
    two sessions editing the same revision exactly one succeeds; the other
    gets a one-line message to reload. The revision is incremented.
    """
    current = get_segment(catalog, segment_id)
    check_revision(current, expected_revision)
    with catalog.transaction() as cur:
        start, end, merged = _fitted(cur, current["video_id"], float(start_s), float(end_s), fit, int(segment_id))
        changed = cur.execute(
            "UPDATE segments SET start_s = ?, end_s = ?, label = ?, author = ?, updated_at = current_timestamp,"
            " revision = coalesce(revision, 1) + 1 WHERE segment_id = ? AND coalesce(revision, 1) = ?",
            [start, end, label, author, int(segment_id), int(expected_revision)],
        ).fetchone()[0]
        if changed != 1:
            # Someone committed between our read and this write.
            raise InputError(_CONFLICT.format(segment_id))
        _delete_merged(catalog, cur, merged, actor or author, int(segment_id))
        audit.record(
            catalog, actor or author, audit.SEGMENT_EDIT, current["video_id"], _detail(segment_id, author, actor)
        )
    return get_segment(catalog, segment_id)


def delete_segment(
    catalog: Catalog,
    segment_id: int,
    *,
    author: str,
    actor: str | None = None,
    expected_revision: int | None = None,
) -> None:
    """Delete a segment (refused when it changed since ``expected_revision``, if given).

    ``author`` and ``actor`` are those of :func:`add_segment`.
    """
    current = get_segment(catalog, segment_id)
    check_revision(current, expected_revision)
    with catalog.transaction() as cur:
        params: list[Any] = [int(segment_id)]
        condition = ""
        if expected_revision is not None:
            condition = " AND coalesce(revision, 1) = ?"
            params.append(int(expected_revision))
        deleted = cur.execute(f"DELETE FROM segments WHERE segment_id = ?{condition}", params).fetchone()[0]
        if deleted != 1:
            raise InputError(_CONFLICT.format(segment_id))
        audit.record(
            catalog, actor or author, audit.SEGMENT_DELETE, current["video_id"], _detail(segment_id, author, actor)
        )
