"""Where the store keeps its files, and that nobody else may read them.

The data folder defaults to ``./data`` and is overridden by ``FACS_DATA_DIR``
(or the CLI's ``--data-dir``). Everything the store writes lives below it.
Every process that writes the store (the CLI, the dashboard, ``make run``,
``scripts/serve``, backups) calls :func:`private_umask` first, so whatever it
creates, including temporaries and archives, is owner-only (folders 0700,
files 0600), and the store's own folders are made 0700 when it is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "FACS_DATA_DIR"
DEFAULT_DATA_DIR = "data"
#: Bits a store-writing process never grants: group and others get nothing.
PRIVATE_UMASK = 0o077
#: Mode of the store's folders (and of a backup's destination folder it creates).
PRIVATE_FOLDER_MODE = 0o700
#: Prefix of a backup's staging folder under ``tmp/`` (copies of the catalog).
BACKUP_STAGING_PREFIX = "facs-backup-"


def private_umask() -> int:
    """Make this process create owner-only files and folders; returns the previous umask.

    Only tightens: bits the previous umask already withheld stay withheld.
    """
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)
    return previous


def make_private(path: Path, mode: int = PRIVATE_FOLDER_MODE) -> None:
    """``chmod`` an existing ``path`` to ``mode`` if this user owns it (an older store may be 0755)."""
    try:
        if path.stat().st_uid == os.getuid():
            path.chmod(mode)
    except OSError:
        # Not ours or gone: the writability check that follows names the problem.
        pass


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
