"""Where the store keeps its files.

The data folder defaults to ``./data`` and is overridden by ``FACS_DATA_DIR``
(or the CLI's ``--data-dir``). Everything the store writes lives below it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "FACS_DATA_DIR"
DEFAULT_DATA_DIR = "data"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``explicit`` if given, else ``$FACS_DATA_DIR``, else ``./data``."""
    chosen = explicit or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().absolute()


@dataclass(frozen=True)
class StorePaths:
    """The layout of one data folder.

    Attributes
    ----------
    root : Path
        The data folder itself.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def catalog(self) -> Path:
        """The DuckDB catalog file."""
        return self.root / "catalog.duckdb"

    @property
    def videos(self) -> Path:
        """Uploaded videos, stored by sha256 (never by their original name)."""
        return self.root / "videos"

    @property
    def playback(self) -> Path:
        """Browser-playable copies of videos whose codec browsers cannot play."""
        return self.root / "playback"

    @property
    def frames(self) -> Path:
        """Per-frame result shards, ``frames/<run_id>/<video_id>.parquet``."""
        return self.root / "frames"

    @property
    def chunks(self) -> Path:
        """Finished chunks of extraction jobs still in progress."""
        return self.root / "chunks"

    @property
    def tmp(self) -> Path:
        """Scratch space for uploads in flight; emptied at start."""
        return self.root / "tmp"

    @property
    def logs(self) -> Path:
        """Application logs (never patient-identifying data)."""
        return self.root / "logs"

    @property
    def backups(self) -> Path:
        """Default destination of ``python -m facs_core backup``."""
        return self.root / "backups"

    @property
    def cache(self) -> Path:
        """Derived results that can be recomputed from the shards (``cache/wavelets/...``).

        Never a result: not backed up, not read as shards; deleting it costs only time.
        """
        return self.root / "cache"

    def folders(self) -> tuple[Path, ...]:
        """Every folder the store creates on first start."""
        return (self.root, self.videos, self.playback, self.frames, self.chunks, self.tmp, self.logs, self.cache)
