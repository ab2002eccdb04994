"""Symptom segments in the catalog: create, edit, delete, list.

Every change happens in one transaction that also appends to the audit trail.
Segments carry a ``revision`` counter (migration 0002): an edit or deletion
names the revision it was based on and is refused when someone else changed
the segment meanwhile, so two browser sessions never silently overwrite each
other. The rules (bounds, overlaps, labels) live in :mod:`facs_core.segments`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from facs_core.errors import InputError
from facs_core.segments import (
    check_bounds,
    check_label,
    check_overlap_policy,
    frame_ranges,
    merged_bounds,
    overlapping,
)
from store.catalog import Catalog
from store.videos import get_video

_COLUMNS = (
    "segment_id, video_id, start_s, end_s, label, author, created_at, updated_at, coalesce(revision, 1) AS revision"
)
_CONFLICT = "segment {} was changed or deleted by someone else meanwhile; reload and try again"


def _video(catalog: Catalog, video_id: str) -> dict[str, Any]:
    record = get_video(catalog, video_id)
    if record is None:
        raise InputError(f"video {video_id} is not in the store")
    return record


def _duration(record: dict[str, Any]) -> float | None:
    value = record.get("duration_s")
    return None if value is None or pd.isna(value) else float(value)


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


def _others(cur, video_id: str, exclude: int | None) -> list[tuple[int, float, float]]:
    rows = cur.execute(
        "SELECT segment_id, start_s, end_s FROM segments WHERE video_id = ? AND segment_id <> ?",
        [video_id, -1 if exclude is None else int(exclude)],
    ).fetchall()
    return [(int(r[0]), float(r[1]), float(r[2])) for r in rows]


def _resolve_overlap(
    cur, video_id: str, start: float, end: float, on_overlap: str, exclude: int | None
) -> tuple[float, float, list[int]]:
    clashes = overlapping(start, end, _others(cur, video_id, exclude))
    if not clashes:
        return start, end, []
    if on_overlap == "refuse":
        first = clashes[0]
        raise InputError(
            f"video {video_id}: segment {start:g}-{end:g} s overlaps segment {first[0]} ({first[1]:g}-{first[2]:g} s);"
            " change the times, or merge them"
        )
    start, end = merged_bounds(start, end, clashes)
    return start, end, [c[0] for c in clashes]


def _delete_merged(cur, merged: list[int], actor: str, into: int | None) -> None:
    for segment_id in merged:
        cur.execute("DELETE FROM segments WHERE segment_id = ?", [segment_id])
        cur.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (?, ?, ?, ?)",
            [actor, "segment merge", str(segment_id), None if into is None else f"merged into segment {into}"],
        )


def add_segment(
    catalog: Catalog,
    video_id: str,
    start_s: float,
    end_s: float,
    label: str,
    *,
    author: str,
    on_overlap: str = "refuse",
) -> dict[str, Any]:
    """Mark a symptom segment on a video.

    Parameters
    ----------
    start_s, end_s : float
        Seconds on the video's clock, ``0 <= start_s < end_s <= duration``.
    label : str
        A preset from ``segment_labels.csv`` or free text (one line, <= 80 chars).
    author : str
        Who marks it (username or ``"cli"``); recorded and audited.
    on_overlap : {"refuse", "merge"}
        Refuse with a message (default) when the segment overlaps another of
        the same video, or merge them into one segment with this label.

    Returns
    -------
    dict
        The stored segment (merged bounds when merged).
    """
    policy = check_overlap_policy(on_overlap)
    record = _video(catalog, video_id)
    start, end = check_bounds(start_s, end_s, _duration(record), video_id=video_id)
    text = check_label(label)
    with catalog.transaction() as cur:
        start, end, merged = _resolve_overlap(cur, video_id, start, end, policy, None)
        segment_id = cur.execute(
            "INSERT INTO segments (video_id, start_s, end_s, label, author, revision) VALUES (?, ?, ?, ?, ?, 1)"
            " RETURNING segment_id",
            [video_id, start, end, text, author],
        ).fetchone()[0]
        _delete_merged(cur, merged, author, segment_id)
        cur.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (?, ?, ?, ?)",
            [author, "segment add", video_id, f"segment {segment_id}"],
        )
    return get_segment(catalog, segment_id)


def _check_revision(current: dict[str, Any], expected_revision: int | None) -> None:
    if expected_revision is not None and int(current["revision"]) != int(expected_revision):
        raise InputError(
            f"segment {current['segment_id']} was changed by {current['author'] or 'someone'} meanwhile"
            f" (revision {current['revision']}, you edited revision {expected_revision}); reload and try again"
        )


def update_segment(
    catalog: Catalog,
    segment_id: int,
    *,
    expected_revision: int,
    start_s: float | None = None,
    end_s: float | None = None,
    label: str | None = None,
    author: str,
    on_overlap: str = "refuse",
) -> dict[str, Any]:
    """Edit a segment's times or label, if nobody changed it since ``expected_revision``.

    The update is conditional on the revision inside one transaction, so of
    two sessions editing the same revision exactly one succeeds; the other
    gets a one-line message to reload. The revision is incremented.
    """
    policy = check_overlap_policy(on_overlap)
    current = get_segment(catalog, segment_id)
    _check_revision(current, expected_revision)
    record = _video(catalog, current["video_id"])
    start, end = check_bounds(
        current["start_s"] if start_s is None else start_s,
        current["end_s"] if end_s is None else end_s,
        _duration(record),
        video_id=current["video_id"],
    )
    text = check_label(current["label"] if label is None else label)
    with catalog.transaction() as cur:
        start, end, merged = _resolve_overlap(cur, current["video_id"], start, end, policy, int(segment_id))
        changed = cur.execute(
            "UPDATE segments SET start_s = ?, end_s = ?, label = ?, author = ?, updated_at = current_timestamp,"
            " revision = coalesce(revision, 1) + 1 WHERE segment_id = ? AND coalesce(revision, 1) = ?",
            [start, end, text, author, int(segment_id), int(expected_revision)],
        ).fetchone()[0]
        if changed != 1:
            # Someone committed between our read and this write.
            raise InputError(_CONFLICT.format(segment_id))
        _delete_merged(cur, merged, author, int(segment_id))
        cur.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (?, ?, ?, ?)",
            [author, "segment edit", current["video_id"], f"segment {segment_id}"],
        )
    return get_segment(catalog, segment_id)


def delete_segment(catalog: Catalog, segment_id: int, *, author: str, expected_revision: int | None = None) -> None:
    """Delete a segment (refused when it changed since ``expected_revision``, if given)."""
    current = get_segment(catalog, segment_id)
    _check_revision(current, expected_revision)
    with catalog.transaction() as cur:
        params: list[Any] = [int(segment_id)]
        condition = ""
        if expected_revision is not None:
            condition = " AND coalesce(revision, 1) = ?"
            params.append(int(expected_revision))
        deleted = cur.execute(f"DELETE FROM segments WHERE segment_id = ?{condition}", params).fetchone()[0]
        if deleted != 1:
            raise InputError(_CONFLICT.format(segment_id))
        cur.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (?, ?, ?, ?)",
            [author, "segment delete", current["video_id"], f"segment {segment_id}"],
        )


def extraction_ranges(catalog: Catalog, video_id: str, timestamps=None) -> list[tuple[int, int]]:
    """Half-open frame ranges to extract: the marked segments, or the whole video when none.

    See :func:`facs_core.segments.frame_ranges`; pass the decoder
    ``timestamps`` of every frame for exact bounds on variable-frame-rate video.
    """
    record = _video(catalog, video_id)
    segments = segments_for(catalog, video_id)
    spans = list(zip(segments["start_s"], segments["end_s"], strict=True))
    frame_count = int(record["frame_count"] or 0)
    return frame_ranges(spans, frame_count=frame_count, fps=record.get("fps"), timestamps=timestamps)
