"""Symptom-segment edits on behalf of a user: authorised, then stored.

The one way pages and commands change segments. Each call checks, at the
moment it runs, that the acting user may ``edit_segments`` on the video's
patient (:func:`facs_core.services.access.authorise`: the account is re-read from the
catalog and a refusal is audited), then applies the rules of a segment
(:mod:`facs_core.segments`: bounds within the video, a one-line label, an
overlap refused or merged) and hands the checked segment to
:mod:`store.segment_rows`, which applies the revision check and audits the change
in one transaction (the overlap is resolved inside it, against the rows it writes beside).
"""

from __future__ import annotations

from functools import partial
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
from facs_core.services import access
from facs_core.services.access import User
from store import segment_rows
from store.catalog import Catalog
from store.videos import get_video

__all__ = ["add_segment", "delete_segment", "extraction_ranges", "update_segment"]


def _duration(record: dict[str, Any]) -> float | None:
    value = record.get("duration_s")
    return None if value is None or pd.isna(value) else float(value)


def _fit(
    video_id: str, start: float, end: float, policy: str, others: list[tuple[int, float, float]]
) -> tuple[float, float, list[int]]:
    # Run by the store inside its transaction, on the video's other segments as they are now.
    clashes = overlapping(start, end, others)
    if not clashes:
        return start, end, []
    if policy == "refuse":
        first = clashes[0]
        raise InputError(
            f"video {video_id}: segment {start:g}-{end:g} s overlaps segment {first[0]} ({first[1]:g}-{first[2]:g} s);"
            " change the times, or merge them"
        )
    start, end = merged_bounds(start, end, clashes)
    return start, end, [c[0] for c in clashes]


def _authorise_video(catalog: Catalog, user: User, video_id: str, target: str) -> None:
    record = get_video(catalog, video_id)
    if record is None:
        access.authorise(catalog, user, "edit_segments", target=target)
        raise InputError(f"video {video_id} is not in the store")
    access.authorise(catalog, user, "edit_segments", record.get("patient_id"), target=target)


def _authorise_segment(catalog: Catalog, user: User, segment_id: int) -> None:
    try:
        current = segment_rows.get_segment(catalog, segment_id)
    except InputError:
        # The role must allow edits before the user learns whether a segment exists.
        access.authorise(catalog, user, "edit_segments", target=f"segment {segment_id}")
        raise
    _authorise_video(catalog, user, current["video_id"], f"segment {segment_id}")


def add_segment(
    catalog: Catalog,
    user: User,
    video_id: str,
    start_s: float,
    end_s: float,
    label: str,
    *,
    author: str | None = None,
    on_overlap: str = "refuse",
) -> dict[str, Any]:
    """Mark a symptom segment on a video as ``user``.

    Parameters
    ----------
    start_s, end_s : float
        Seconds on the video's clock, ``0 <= start_s < end_s <= duration``.
    label : str
        A preset from ``segment_labels.csv`` or free text (one line, <= 80 chars).
    author : str, optional
        The name stored with the segment and audited; defaults to the user's.
    on_overlap : {"refuse", "merge"}
        Refuse with a message (default) when the segment overlaps another of
        the same video, or merge them into one segment with this label.

    Returns
    -------
    dict
        The stored segment (merged bounds when merged).

    Raises
    ------
    PermissionDenied
        ``user`` may not edit segments of this video's patient (audited).
    InputError
        Bad times or label, an overlap, an unknown video.
    """
    _authorise_video(catalog, user, video_id, video_id)
    policy = check_overlap_policy(on_overlap)
    record = segment_rows.video_record(catalog, video_id)
    start, end = check_bounds(start_s, end_s, _duration(record), video_id=video_id)
    text = check_label(label)
    return segment_rows.add_segment(
        catalog,
        video_id,
        start,
        end,
        text,
        author=author or user.username,
        actor=user.username,
        fit=partial(_fit, video_id, start, end, policy),
    )


def update_segment(
    catalog: Catalog,
    user: User,
    segment_id: int,
    *,
    expected_revision: int,
    start_s: float | None = None,
    end_s: float | None = None,
    label: str | None = None,
    author: str | None = None,
    on_overlap: str = "refuse",
) -> dict[str, Any]:
    """Edit a segment as ``user`` if unchanged since ``expected_revision``.

    Times and label default to the segment's current ones; the rules are
    those of :func:`add_segment`. The store's update is conditional on the
    revision inside one transaction, so of two sessions editing the same
    revision exactly one succeeds; the other gets a one-line message to reload.
    """
    _authorise_segment(catalog, user, segment_id)
    policy = check_overlap_policy(on_overlap)
    current = segment_rows.get_segment(catalog, segment_id)
    segment_rows.check_revision(current, expected_revision)
    video_id = current["video_id"]
    record = segment_rows.video_record(catalog, video_id)
    start, end = check_bounds(
        current["start_s"] if start_s is None else start_s,
        current["end_s"] if end_s is None else end_s,
        _duration(record),
        video_id=video_id,
    )
    text = check_label(current["label"] if label is None else label)
    return segment_rows.update_segment(
        catalog,
        segment_id,
        expected_revision=expected_revision,
        start_s=start,
        end_s=end,
        label=text,
        author=author or user.username,
        actor=user.username,
        fit=partial(_fit, video_id, start, end, policy),
    )


def delete_segment(
    catalog: Catalog, user: User, segment_id: int, *, expected_revision: int | None = None, author: str | None = None
) -> None:
    """Delete a segment as ``user`` (see :func:`store.segment_rows.delete_segment`)."""
    _authorise_segment(catalog, user, segment_id)
    segment_rows.delete_segment(
        catalog, segment_id, author=author or user.username, actor=user.username, expected_revision=expected_revision
    )


def extraction_ranges(catalog: Catalog, video_id: str, timestamps=None) -> list[tuple[int, int]]:
    """Half-open frame ranges to extract: the marked segments, or the whole video when none.

    See :func:`facs_core.segments.frame_ranges`; pass the decoder
    ``timestamps`` of every frame for exact bounds on variable-frame-rate video.
    """
    record = segment_rows.video_record(catalog, video_id)
    segments = segment_rows.segments_for(catalog, video_id)
    spans = list(zip(segments["start_s"], segments["end_s"], strict=True))
    frame_count = int(record["frame_count"] or 0)
    return frame_ranges(spans, frame_count=frame_count, fps=record.get("fps"), timestamps=timestamps)
