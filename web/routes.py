"""HTTP routes the dashboard adds to Streamlit's server (``dashboard.py`` mounts them).

``GET /api/session/start?ticket=...``
    Exchanges a sign-in's one-time hand-over ticket for the session cookie
    (HttpOnly, SameSite=Strict, Secure behind TLS, signed and expiring) and
    sends the browser on to the page it asked for.
``GET /api/session/end``
    Ends the session named by the cookie on the server and deletes the cookie.
``GET /api/frontend-base.js``
    A fixed script that tells Streamlit's page where its server is (see
    :class:`FrontendBase`); names nothing but the address it is loaded from.
``GET|HEAD /api/video/{token}``
    Streams a video's stored file with HTTP byte ranges (never reading it
    whole), for an opaque grant bound to the requesting session, after
    checking at this request that the session is valid and the account may
    play that patient's videos. The first answer that serves the video's
    bytes to a session is audited as "video played" (once per session and
    video, not per range request).

:class:`FrontendBase` wraps the whole server (``dashboard.py`` adds it): it
loads that script in Streamlit's page, so a deep link such as ``/upload``
connects to the server at once instead of first asking ``/upload/_stcore/health``
and ``/upload/_stcore/host-config`` (both 404) as if the app lived under ``/upload``.

:class:`PrivateCaching` wraps the whole server (``dashboard.py`` adds it):
nothing it answers may be kept by a shared cache (a proxy, a CDN) between the
clinic and the browser. Streamlit marks component scripts and its own bundle
``public``; they become ``private``, and media files (``/media/``: images,
downloads and video Streamlit serves from memory, which may show a patient)
without a cache rule of their own get ``private, no-store``. The video route
answers ``private, no-store`` itself, refusals ``no-store``.

Handlers are plain functions, which Starlette runs in worker threads (DuckDB
calls block). Every answer closes its connection, so a client never reuses an
idle connection that the server is dropping (a reset instead of a 403/404).
"""

from __future__ import annotations

import gzip
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

import anyio
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facs_core.errors import FacsError
from facs_core.services import access, media_grants, session_cookie
from facs_core.services.access import PermissionDenied
from store import audit, listings, sessions
from store.catalog import Catalog

__all__ = [
    "FRONTEND_BASE",
    "MEDIA_CACHE",
    "SESSION_END",
    "SESSION_START",
    "VIDEO",
    "FrontendBase",
    "PrivateCaching",
    "mount",
    "mounted",
    "routes",
]

SESSION_START = "/api/session/start"
SESSION_END = "/api/session/end"
VIDEO = "/api/video"
FRONTEND_BASE = "/api/frontend-base.js"

# Streamlit's page reads window.__streamlit (its settings for hosts that embed it) when its
# bundle starts. Without BACKEND_BASE_URL it guesses the server's address from the page's
# own path: for /upload it first tries /upload/_stcore/health and /upload/_stcore/host-config
# (404: the app is not served under /upload) and then /. This dashboard is always served
# at its base path, which is where this script was loaded from, one folder up.
_FRONTEND_BASE_JS = (
    "window.__streamlit = Object.assign({}, window.__streamlit,"
    ' {BACKEND_BASE_URL: new URL("..", document.currentScript.src).href});\n'
)
# Streamlit's index.html, recognised by its bundle; the script goes first in <head>.
_INDEX_MARKER = b"./static/js/index."
_HEAD = b"<head>"
_PAGE_NAME = re.compile(r"[A-Za-z0-9_.~-]+")

_VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm"}
# Every answer of these routes ends its connection. A client that keeps idle
# connections for reuse (scripts, Playwright, an upstream pool) races the
# server's keep-alive timeout (uvicorn: 5 s): a request sent as the server
# drops the idle connection is reset instead of answered, so a refused video
# link would read as a network error rather than 403/404. Behind nginx each
# request opens its own upstream connection anyway, so this costs nothing there.
_CLOSE = {"Connection": "close"}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **_CLOSE}

#: Cache rule of Streamlit's media files, which come without one.
MEDIA_CACHE = "private, no-store"

_mounted = False


class PrivateCaching:
    """ASGI middleware: no answer of this server is ``public``; media files are ``private, no-store``.

    ``public`` in a ``Cache-Control`` header becomes ``private`` (the browser
    may still keep the file, a shared cache may not); an answer under
    ``/media/`` without a rule gets :data:`MEDIA_CACHE`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        media = "/media/" in scope.get("path", "")

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                rule = headers.get("cache-control")
                if rule is not None:
                    parts = [part.strip() for part in rule.split(",")]
                    headers["cache-control"] = ", ".join("private" if p.lower() == "public" else p for p in parts)
                elif media:
                    headers["cache-control"] = MEDIA_CACHE
            await send(message)

        await self.app(scope, receive, send_private)


class FrontendBase:
    """ASGI middleware: Streamlit's page loads :data:`FRONTEND_BASE` before its bundle.

    Only Streamlit's own ``index.html`` (the answer to every page address) is
    changed, by one ``<script src>`` at the top of its ``<head>`` from this
    origin (the Content-Security-Policy's ``script-src 'self'`` allows it).
    A nested address (``/upload/extra``), where that page could neither load
    its files nor connect, is sent on to its first name (``/upload``).
    """

    def __init__(self, app: ASGIApp, base_path: Callable[[], str] | None = None) -> None:
        self.app = app
        self._base_path = base_path or _streamlit_base_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A HEAD carries no page to change (and its length would then disagree with the GET's).
        if scope["type"] != "http" or scope["method"] != "GET" or "/api/" in scope.get("path", ""):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def send_page(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                html = MutableHeaders(scope=message).get("content-type", "").startswith("text/html")
                if not html or message["status"] != 200:
                    await send(message)
                    return
                start = message
                return
            if start is not None and message["type"] != "http.response.body":
                # Not a body this middleware can read (a server's file-sending extension): as it was.
                await send(start)
                start = None
            if start is None:
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            headers = MutableHeaders(scope=start)
            # Streamlit compresses its answers inside this middleware; the changed page goes out plain.
            encoding = headers.get("content-encoding", "").strip().lower()
            page = gzip.decompress(body) if encoding == "gzip" else body if not encoding else b""
            if _INDEX_MARKER in page and _HEAD in page:
                base = self._base_path()
                nested = scope["path"][len(base) :].strip("/").split("/")
                if len(nested) > 1:
                    # A page address is one name: the page's relative links would not load under
                    # /upload/extra (nor would it connect), so it goes to its first name.
                    query = scope.get("query_string", b"").decode("latin-1")
                    # Only a name a page could have: never "\\host" or the like, which a browser reads as another site.
                    name = nested[0] if _PAGE_NAME.fullmatch(nested[0]) else ""
                    target = f"{base}/{name}" + (f"?{query}" if query else "")
                    await RedirectResponse(target, status_code=303, headers=_NO_STORE)(scope, receive, send)
                    return
                tag = f'<script src="{base}{FRONTEND_BASE}"></script>'.encode()
                body = page.replace(_HEAD, _HEAD + tag, 1)
                if encoding:
                    del headers["content-encoding"]
                headers["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_page)


def _streamlit_base_path() -> str:
    from streamlit import config

    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def mounted() -> bool:
    """Whether this process serves these routes (the dashboard was started through ``dashboard.py``)."""
    return _mounted


def _secure(request: Request) -> bool:
    # Behind nginx (a loopback peer) the browser's scheme is in X-Forwarded-Proto.
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    try:
        loopback = peer is None or ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    return loopback and request.headers.get("x-forwarded-proto") == "https"


def _cookie_token(catalog: Catalog, request: Request) -> str | None:
    return session_cookie.unsign(catalog, request.cookies.get(session_cookie.COOKIE_NAME))


class _AuditedFile(FileResponse):
    """A :class:`FileResponse` that calls ``on_serving`` (in a worker thread) before it sends any byte of the file.

    Only a GET answered with the file (200, or 206 for a range) counts: not a
    HEAD, not a range the file does not have (416). If ``on_serving`` raises,
    nothing is sent.
    """

    def __init__(self, *args, on_serving: Callable[[], None], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._on_serving = on_serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_after_audit(message: Message) -> None:
            serving = message["type"] == "http.response.start" and message["status"] in (200, 206)
            if serving and scope["method"] == "GET":
                # The audit writes to DuckDB, which blocks: not on the event loop.
                await anyio.to_thread.run_sync(self._on_serving)
            await send(message)

        await super().__call__(scope, receive, send_after_audit)


def _refused(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers=_NO_STORE)


def mount(catalog: Callable[[], Catalog]) -> list[Route]:
    """:func:`routes` for the server of this process (``dashboard.py``): pages then rely on them."""
    global _mounted
    _mounted = True
    return routes(catalog)


def routes(catalog: Callable[[], Catalog]) -> list[Route]:
    """The routes, reading the store through ``catalog()`` (the app's one open catalog)."""

    def start(request: Request) -> Response:
        handover = session_cookie.redeem_handover(request.query_params.get("ticket"))
        if handover is None:
            # A stale or replayed ticket: back to the sign-in form, no cookie.
            return RedirectResponse("/", status_code=303, headers=_NO_STORE)
        response = RedirectResponse(handover.next_path, status_code=303, headers=_NO_STORE)
        response.set_cookie(
            session_cookie.COOKIE_NAME,
            session_cookie.sign(catalog(), handover.token),
            max_age=session_cookie.MAX_AGE_S,
            path="/",
            secure=_secure(request),
            httponly=True,
            samesite="strict",
        )
        return response

    def end(request: Request) -> Response:
        store = catalog()
        token = _cookie_token(store, request)
        resolved = sessions.resolve(store, token, idle_timeout_s=float("inf"), touch=False)
        if resolved.session_id:
            media_grants.revoke_session(resolved.session_id)
        sessions.end(store, token, "signed out")
        response = RedirectResponse("/", status_code=303, headers=_NO_STORE)
        response.delete_cookie(
            session_cookie.COOKIE_NAME, path="/", secure=_secure(request), httponly=True, samesite="strict"
        )
        return response

    def video(request: Request) -> Response:
        grant = media_grants.lookup(request.path_params["token"])
        if grant is None:
            return _refused(404, "no such video link; reload the page")
        store = catalog()
        try:
            timeout_s = session_cookie.idle_timeout_minutes() * 60
        except FacsError:
            return _refused(503, "the session timeout is misconfigured")
        resolved = sessions.resolve(store, _cookie_token(store, request), idle_timeout_s=timeout_s, touch=False)
        if resolved.user is None or resolved.session_id != grant.session_id:
            return _refused(403, "sign in again to watch this video")
        row = listings.playable_file(store, grant.video_id)
        if row is None or not row["path"]:
            return _refused(404, "this video is no longer stored")
        try:
            access.check(store, resolved.user, "play_video", row["patient_id"])
        except PermissionDenied:
            detail = "action=play_video; video route"
            audit.record(store, resolved.user.username, audit.ACCESS_DENIED, row["patient_id"], detail)
            return _refused(403, "you may not watch this video")
        root = store.paths.root.resolve()
        path = (root / row["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return _refused(404, "this video is no longer stored")
        media_type = _VIDEO_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
        username, patient_id = resolved.user.username, row["patient_id"]

        def played() -> None:
            audit.record(store, username, audit.VIDEO_PLAYED, patient_id, f"video {grant.video_id}")

        # FileResponse answers Range requests (206, single and multiple ranges)
        # reading 64 KiB at a time; the file is never loaded whole.
        return _AuditedFile(
            path,
            media_type=media_type,
            headers={"Cache-Control": "private, no-store", **_CLOSE},
            on_serving=lambda: media_grants.first_serving(grant.session_id, grant.video_id, played),
        )

    def frontend_base(request: Request) -> Response:
        return Response(
            _FRONTEND_BASE_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **_CLOSE},
        )

    # Plain (not async) endpoints: Starlette runs them in its worker threads.
    return [
        Route(FRONTEND_BASE, frontend_base, methods=["GET"]),
        Route(SESSION_START, start, methods=["GET"]),
        Route(SESSION_END, end, methods=["GET"]),
        Route(f"{VIDEO}/{{token}}", video, methods=["GET", "HEAD"]),
    ]
