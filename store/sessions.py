"""Server-side sign-in sessions: one catalog row per signed-in browser.

A session starts when a sign-in succeeds (:func:`start`), which returns a
random *token*; the browser holds it in a signed HttpOnly cookie. The catalog
keeps only the token's sha256, so a copy of the catalog (a backup) cannot be
turned into a signed-in browser.

A token is valid while its row is not ended, the absolute lifetime has not
passed, the account is active, and the last activity is within the inactivity
timeout (:func:`resolve`). Ending the row (sign-out, timeout, an
administrator disabling the account) ends the session everywhere at once:
every tab and every media request re-resolves the token.

Times are seconds since the epoch; every function takes ``now`` so tests
can move the clock.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from facs_core.records import User
from store import audit
from store.catalog import Catalog

__all__ = [
    "Resolved",
    "end",
    "end_for_user",
    "purge",
    "resolve",
    "server_key",
    "start",
]

#: Ended sessions are kept this long (for the audit's sake), then purged.
_KEEP_ENDED_S = 30 * 24 * 3600.0


@dataclass(frozen=True)
class Resolved:
    """What a session token stands for now.

    Attributes
    ----------
    user : User or None
        The signed-in account (with its current role), None when refused.
    session_id : str or None
        The session's server-side id (never sent to the browser).
    reason : str
        ``"ok"``, or why the token was refused: ``"unknown"``, ``"signed out"``,
        ``"inactivity timeout"``, ``"expired"``, ``"account disabled or removed"``
        (or the reason the session was ended with).
    """

    user: User | None
    session_id: str | None
    reason: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def server_key(catalog: Catalog, name: str = "session-cookie") -> str:
    """The store's secret key ``name``, created (random, 256 bits) on first use."""
    found = catalog.scalar("SELECT value FROM server_keys WHERE name = ?", [name])
    if found:
        return str(found)
    with catalog.transaction() as cur:
        found = cur.execute("SELECT value FROM server_keys WHERE name = ?", [name]).fetchone()
        if found:
            return str(found[0])
        value = secrets.token_hex(32)
        cur.execute("INSERT INTO server_keys (name, value) VALUES (?, ?)", [name, value])
    return value


def start(catalog: Catalog, username: str, *, lifetime_s: float, now: float | None = None) -> str:
    """Open a session for ``username`` (already authenticated); return its token.

    The token is random (256 bits); the catalog keeps only its sha256.
    """
    moment = _now(now)
    token = secrets.token_urlsafe(32)
    catalog.execute(
        "INSERT INTO sessions (session_id, username, token_hash, created_at, last_seen_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [secrets.token_hex(16), username, _hash(token), moment, moment, moment + float(lifetime_s)],
    )
    return token


def _end_row(catalog: Catalog, session_id: str, username: str, reason: str, moment: float) -> None:
    with catalog.transaction() as cur:
        cur.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_id = ? AND ended_at IS NULL",
            [moment, reason, session_id],
        )
        audit.record(catalog, username, audit.SIGN_OUT, username, reason)


def resolve(
    catalog: Catalog,
    token: str | None,
    *,
    idle_timeout_s: float,
    touch: bool = True,
    now: float | None = None,
) -> Resolved:
    """The user a session token stands for now, ending the session when it has run out.

    Parameters
    ----------
    token : str or None
        The token from the cookie (already signature-checked).
    idle_timeout_s : float
        Inactivity after which the session ends.
    touch : bool
        Count this as activity (a page interaction); media requests do not.
    """
    if not token:
        return Resolved(None, None, "unknown")
    moment = _now(now)
    row = catalog.fetchone(
        "SELECT s.session_id, s.username, s.last_seen_at, s.expires_at, s.ended_at, s.end_reason, u.role, u.active"
        " FROM sessions s LEFT JOIN users u USING (username) WHERE s.token_hash = ?",
        [_hash(token)],
    )
    if row is None:
        return Resolved(None, None, "unknown")
    session_id, username, last_seen, expires_at, ended_at, end_reason, role, active = row
    if ended_at is not None:
        return Resolved(None, session_id, end_reason or "signed out")
    reason = None
    if not active:
        reason = "account disabled or removed"
    elif moment >= expires_at:
        reason = "expired"
    elif moment - last_seen > idle_timeout_s:
        reason = "inactivity timeout"
    if reason is not None:
        _end_row(catalog, session_id, username, reason, moment)
        return Resolved(None, session_id, reason)
    # Writing on every rerun would serialise all sessions on the catalog's
    # write lock for nothing; a tenth of the timeout is precise enough.
    if touch and moment - last_seen > min(10.0, idle_timeout_s / 10):
        catalog.execute("UPDATE sessions SET last_seen_at = ? WHERE session_id = ?", [moment, session_id])
    return Resolved(User(username, role), session_id, "ok")


def end(catalog: Catalog, token: str | None, reason: str = "signed out", *, now: float | None = None) -> bool:
    """End the session of ``token`` (sign-out); True if one was open."""
    if not token:
        return False
    row = catalog.fetchrow(
        "SELECT session_id, username FROM sessions WHERE token_hash = ? AND ended_at IS NULL", [_hash(token)]
    )
    if row is None:
        return False
    _end_row(catalog, row["session_id"], row["username"], reason, _now(now))
    return True


def end_for_user(cur, username: str, reason: str, *, now: float | None = None) -> None:
    """End every open session of ``username``, inside the caller's transaction ``cur``."""
    cur.execute(
        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE username = ? AND ended_at IS NULL",
        [_now(now), reason, username],
    )


def purge(catalog: Catalog, *, now: float | None = None) -> None:
    """Forget sessions that ended (or expired) long ago."""
    cutoff = _now(now) - _KEEP_ENDED_S
    catalog.execute("DELETE FROM sessions WHERE ended_at < ? OR expires_at < ?", [cutoff, cutoff])
