"""Whether a stored video is damaged, in the one wording every view uses.

A recording cut or corrupted in places still decodes, with gaps: the decoder
delivers fewer frames than the container says it holds. Such a video is stored
(its decodable frames are still evidence) but marked, so nobody mistakes its
shorter AU series for the whole interview. :func:`damage_status` gives the
mark's text from a catalog row (or any mapping with the same keys); the CLI and
every page that shows a visit use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DAMAGED_SHORTFALL", "damage_status"]

#: A video whose decodable frames fall short of its container's count by more than this is damaged.
DAMAGED_SHORTFALL = 0.01
#: Containers whose header records the frame count (elsewhere OpenCV estimates it from duration x fps,
#: which a variable frame rate makes unreliable; there decoder errors must confirm the damage).
_COUNTING_CONTAINERS = ("mp4", "mov", "avi")


def damage_status(record: Mapping[str, Any]) -> str | None:
    """``"damaged: N of M frames decodable"`` for a damaged video's catalog row, else None.

    Damaged: the decodable frames fall short of the container's frame count by
    more than :data:`DAMAGED_SHORTFALL` (1 %). In Matroska/WebM, whose count is
    an estimate, decoder errors must also have been seen.
    """
    claimed = _count(record.get("header_frame_count"))
    decoded = _count(record.get("frame_count"))
    if claimed is None or decoded is None:
        return None
    if claimed <= 0 or decoded >= claimed * (1 - DAMAGED_SHORTFALL):
        return None
    errors = _count(record.get("decode_errors")) or 0
    if record.get("container") not in _COUNTING_CONTAINERS and errors == 0:
        return None
    return f"damaged: {decoded} of {claimed} frames decodable"


def _count(value: Any) -> int | None:
    # Catalog rows come through pandas: NULL may arrive as None, NaN or pd.NA.
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number == number else None
