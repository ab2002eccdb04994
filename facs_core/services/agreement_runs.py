"""A stored visit's runs to compare for backend agreement (reads the catalog)."""

from __future__ import annotations

import pandas as pd

from facs_core.comparison import Comparison, compare_tables, read_frames
from facs_core.errors import InputError
from facs_core.wording import count
from store import Catalog

__all__ = ["compare_visit", "visit_backends"]


def visit_backends(catalog: Catalog, video_id: str) -> pd.DataFrame:
    """The newest finished run of each backend of ``video_id``: ``backend, run_id, shard_path, backend_version``."""
    return catalog.query(
        "SELECT backend, run_id, shard_path, backend_version FROM runs"
        " WHERE video_id = ? AND status = 'done' AND shard_path IS NOT NULL"
        " QUALIFY row_number() OVER (PARTITION BY backend ORDER BY finished_at DESC, run_id) = 1"
        " ORDER BY backend",
        [video_id],
    )


def compare_visit(catalog: Catalog, video_id: str, backends: tuple[str, str] | None = None) -> Comparison:
    """Agreement between two backends' newest runs of a stored video.

    Parameters
    ----------
    catalog : Catalog
    video_id : str
    backends : (str, str), optional
        Which two backends; default the only two the video has runs of.

    Raises
    ------
    InputError
        Fewer than two backends have a finished run of the video, or a named
        backend has none.
    """
    runs = visit_backends(catalog, video_id).set_index("backend")
    if backends is None:
        if len(runs) < 2:
            have = ", ".join(runs.index) or "none"
            raise InputError(
                f"video {video_id} has finished runs of {count(len(runs), 'backend')} ({have}); agreement needs two:"
                " extract it with another backend (jobs run VIDEO_ID --backend mediapipe|pyfeat)"
            )
        if len(runs) > 2:
            raise InputError(f"video {video_id} has runs of {', '.join(runs.index)}; name two with --backends A B")
        backends = (runs.index[0], runs.index[1])
    for backend in backends:
        if backend not in runs.index:
            raise InputError(f"video {video_id} has no finished {backend} run; extract it with --backend {backend}")
    frames = [read_frames(catalog.paths.root / runs.loc[b, "shard_path"], f"{b} run") for b in backends]
    return compare_tables(backends[0], backends[1], frames[0], frames[1])
