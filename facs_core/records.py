"""Plain records and names shared by every layer.

Values that the store, the services, the core and the views all speak about,
with no behaviour beyond what a frozen dataclass gives: who a signed-in user is,
the roles an account may hold, what probing a video found, the name of the
project's logger. They live in the foundation so that the store can keep a
:class:`User` or a :class:`VideoMetadata` without importing the services that
check users or the core that probes videos; those modules re-export them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOGGER_NAME", "ROLES", "User", "VideoMetadata"]

#: The roles an account in the ``users`` table may hold (its CHECK constraint allows these only).
ROLES: tuple[str, ...] = ("clinician", "researcher", "admin")

#: The logger every module logs under (``logging.getLogger(LOGGER_NAME)``).
LOGGER_NAME = "facs"


@dataclass(frozen=True)
class User:
    """A signed-in user.

    Attributes
    ----------
    username : str
        The account name in the ``users`` table.
    role : str
        One of :data:`ROLES`.
    """

    username: str
    role: str


@dataclass(frozen=True)
class VideoMetadata:
    """What probing a video file found (see ``facs_core.probe``).

    ``frame_count`` is what decodes; ``header_frame_count`` what the container
    claims (None when it claims nothing); ``decode_errors`` the decoder's error
    messages while decoding every frame.
    """

    container: str
    codec: str | None
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    header_frame_count: int | None = None
    decode_errors: int = 0
