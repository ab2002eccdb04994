"""The session cookie: a signed, expiring envelope around a session token.

The cookie holds ``TOKEN.TIMESTAMP.SIGNATURE`` (itsdangerous'
:class:`~itsdangerous.TimestampSigner`, HMAC-SHA1 over the token and the time
it was signed, with a 256-bit key kept in the catalog). It names a row of
``store.sessions`` and nothing else: no user name, no role, no password hash.
The signature lets the server refuse a forged or expired cookie before looking
anything up; the row is what makes it valid (and revocable).

An HttpOnly cookie can only be set by an HTTP response, not by the Streamlit
script that checks the password. So a successful sign-in hands the token to
the server route that sets the cookie through a *hand-over ticket*: random,
single-use, valid for a minute, kept in this process's memory (the route and
the script run in the same server process) and never written anywhere.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner

from facs_core.errors import InputError
from store.catalog import Catalog
from store.sessions import server_key

__all__ = [
    "COOKIE_NAME",
    "DEFAULT_TIMEOUT_MIN",
    "HANDOVER_LIFETIME_S",
    "MAX_AGE_S",
    "TIMEOUT_ENV",
    "Handover",
    "client_address",
    "idle_timeout_minutes",
    "issue_handover",
    "redeem_handover",
    "safe_next",
    "sign",
    "unsign",
]

#: The cookie's name (its value is :func:`sign`'s output).
COOKIE_NAME = "facs_session"
#: Absolute lifetime of a session and its cookie (a working day and a half),
#: whatever the activity; the inactivity timeout usually ends it much earlier.
MAX_AGE_S = 12 * 3600
#: How long a hand-over ticket waits for the browser.
HANDOVER_LIFETIME_S = 60.0

#: Environment variable with the inactivity timeout in minutes.
TIMEOUT_ENV = "FACS_SESSION_TIMEOUT_MIN"
DEFAULT_TIMEOUT_MIN = 30.0

_SALT = "facs-session-cookie"


def idle_timeout_minutes() -> float:
    """Inactivity timeout from ``$FACS_SESSION_TIMEOUT_MIN`` (default 30 minutes).

    Raises
    ------
    InputError
        The variable is set but is not a positive number.
    """
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_MIN
    try:
        minutes = float(raw)
    except ValueError:
        minutes = float("nan")
    if not minutes > 0 or minutes == float("inf"):
        raise InputError(f"{TIMEOUT_ENV}={raw!r} is not a positive number of minutes")
    return minutes


def client_address(peer: str | None, headers: Mapping[str, str]) -> str | None:
    """The client's address for rate limiting and the audit trail.

    The peer itself, unless it is this machine (the reverse proxy in front of
    the dashboard, see deploy/nginx): then the proxy's ``X-Real-IP`` header,
    which nginx overwrites with the address it saw. A client that reaches the
    dashboard directly cannot choose its address this way.
    """
    loopback = True
    if peer:
        try:
            loopback = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            loopback = False
    if not loopback:
        return peer
    forwarded = (headers.get("x-real-ip") or headers.get("X-Real-IP") or "").strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return peer or "local"


def _signer(catalog: Catalog) -> TimestampSigner:
    return TimestampSigner(server_key(catalog), salt=_SALT)


def sign(catalog: Catalog, token: str) -> str:
    """The cookie value for a session ``token``."""
    return _signer(catalog).sign(token).decode("ascii")


def unsign(catalog: Catalog, value: str | None, *, max_age_s: float = MAX_AGE_S) -> str | None:
    """The token in a cookie value, or None when it is missing, tampered with or older than ``max_age_s``."""
    if not isinstance(value, str) or not value or len(value) > 512:
        return None
    try:
        return _signer(catalog).unsign(value, max_age=max_age_s).decode("ascii")
    except (BadSignature, UnicodeError, ValueError):
        # SignatureExpired is a BadSignature.
        return None


@dataclass(frozen=True)
class Handover:
    """A pending cookie hand-over: the token to set and where to send the browser next."""

    token: str
    next_path: str
    expires_at: float


_pending: dict[str, Handover] = {}
_lock = threading.Lock()


def safe_next(path: str | None) -> str:
    """``path`` if it is a path on this site (``/...``), else ``/``: never an open redirect."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or len(path) > 2000:
        return "/"
    if any(ch in path for ch in "\\\r\n\t") or ":" in path.split("?", 1)[0]:
        return "/"
    return path


def issue_handover(token: str, next_path: str, *, now: float | None = None) -> str:
    """A one-time ticket the cookie route exchanges for ``token``."""
    moment = time.time() if now is None else now
    ticket = secrets.token_urlsafe(32)
    with _lock:
        for stale in [key for key, item in _pending.items() if item.expires_at < moment]:
            del _pending[stale]
        _pending[ticket] = Handover(token, safe_next(next_path), moment + HANDOVER_LIFETIME_S)
    return ticket


def redeem_handover(ticket: str | None, *, now: float | None = None) -> Handover | None:
    """The hand-over for ``ticket`` (removed: a ticket works once), or None if unknown or late."""
    if not ticket:
        return None
    with _lock:
        item = _pending.pop(ticket, None)
    moment = time.time() if now is None else now
    if item is None or item.expires_at < moment:
        return None
    return item
