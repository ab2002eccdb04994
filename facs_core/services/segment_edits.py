"""Symptom-segment edits on behalf of a user: authorised, then stored.

The one way pages and commands change segments. Each call checks, at the
moment it runs, that the acting user may ``edit_segments`` on the video's
patient (:func:`facs_core.services.access.authorise`: the account is re-read from the
catalog and a refusal is audited), then hands over to :mod:`store.segments`,
which validates, applies the revision check and audits the change.
"""

from __future__ import annotations

from typing import Any

from facs_core.errors import InputError
from facs_core.services import access
from facs_core.services.access import User
from store import segments as segment_rows
from store.catalog import Catalog
from store.videos import get_video

__all__ = ["add_segment", "delete_segment", "update_segment"]


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
    """Mark a segment as ``user`` (see :func:`store.segments.add_segment`).

    ``author`` is the name stored with the segment; it defaults to the user's.

    Raises
    ------
    PermissionDenied
        ``user`` may not edit segments of this video's patient (audited).
    InputError
        Bad times or label, an overlap, an unknown video.
    """
    _authorise_video(catalog, user, video_id, video_id)
    return segment_rows.add_segment(
        catalog, video_id, start_s, end_s, label, author=author or user.username, on_overlap=on_overlap
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

    See :func:`store.segments.update_segment`.
    """
    _authorise_segment(catalog, user, segment_id)
    return segment_rows.update_segment(
        catalog,
        segment_id,
        expected_revision=expected_revision,
        start_s=start_s,
        end_s=end_s,
        label=label,
        author=author or user.username,
        on_overlap=on_overlap,
    )


def delete_segment(
    catalog: Catalog, user: User, segment_id: int, *, expected_revision: int | None = None, author: str | None = None
) -> None:
    """Delete a segment as ``user`` (see :func:`store.segments.delete_segment`)."""
    _authorise_segment(catalog, user, segment_id)
    segment_rows.delete_segment(
        catalog, segment_id, author=author or user.username, expected_revision=expected_revision
    )
