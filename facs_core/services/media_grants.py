"""Opaque, short-lived video URLs bound to one sign-in session.

A page that shows a video asks for a *grant*: a random token (no path, no
file or video name in it) that stands for one video in one session. The
video route (``web/routes.py``) serves bytes for a token only when, at that
request, the grant has not lapsed, the request's session cookie names the
same session, that session is still valid, and the account may still play
that patient's videos. A grant lapses :data:`IDLE_S` after its last use (each
request and each page run renews it), so a copied URL is worthless in another
browser at once and in this one soon after the page is closed.

The route audits "video played" when it first serves a video's bytes to a
session (:func:`first_serving`), once per session and video: opening a page
that could play it is not playing it.

Grants live in this process's memory: the server process that issues them is
the one that serves the bytes, and a restart voids them all (pages issue new
ones at their next run).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

__all__ = ["IDLE_S", "Grant", "first_serving", "grant", "lookup", "revoke_session"]

#: A grant lapses this long after its last use.
IDLE_S = 10 * 60.0


@dataclass(frozen=True)
class Grant:
    """One session's permission to fetch one video's bytes."""

    token: str
    session_id: str
    video_id: str
    expires_at: float


_by_token: dict[str, Grant] = {}
_by_key: dict[tuple[str, str], str] = {}
_lock = threading.Lock()
# (session, video) pairs whose first serving has been recorded; its own lock, held while recording.
_served: set[tuple[str, str]] = set()
_served_lock = threading.Lock()


def _sweep(moment: float) -> None:
    for token in [t for t, g in _by_token.items() if g.expires_at < moment]:
        stale = _by_token.pop(token)
        _by_key.pop((stale.session_id, stale.video_id), None)


def grant(session_id: str, video_id: str, *, now: float | None = None) -> str:
    """The token for ``video_id`` in ``session_id``: the same one while it lives (the player keeps its URL)."""
    moment = time.time() if now is None else now
    with _lock:
        _sweep(moment)
        token = _by_key.get((session_id, video_id))
        if token is None:
            token = secrets.token_urlsafe(32)
            _by_key[(session_id, video_id)] = token
        _by_token[token] = Grant(token, session_id, video_id, moment + IDLE_S)
    return token


def lookup(token: str | None, *, now: float | None = None) -> Grant | None:
    """The live grant for ``token`` (renewed), or None when unknown or lapsed."""
    if not token:
        return None
    moment = time.time() if now is None else now
    with _lock:
        _sweep(moment)
        found = _by_token.get(token)
        if found is None:
            return None
        renewed = replace(found, expires_at=moment + IDLE_S)
        _by_token[token] = renewed
    return renewed


def first_serving(session_id: str, video_id: str, record: Callable[[], None]) -> bool:
    """Call ``record()`` if this is the first serving of ``video_id``'s bytes to ``session_id``.

    Once per session and video, however many range requests the player makes,
    also when they arrive together; if ``record`` raises, nothing is marked
    (the next serving records it). Returns whether ``record`` ran.
    """
    key = (session_id, video_id)
    with _served_lock:
        if key in _served:
            return False
        record()
        _served.add(key)
    return True


def revoke_session(session_id: str) -> None:
    """Void every grant of a session (at sign-out)."""
    with _lock:
        for token in [t for t, g in _by_token.items() if g.session_id == session_id]:
            stale = _by_token.pop(token)
            _by_key.pop((stale.session_id, stale.video_id), None)
    with _served_lock:
        _served.difference_update({key for key in _served if key[0] == session_id})
