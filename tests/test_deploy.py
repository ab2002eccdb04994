"""Deployment: the shipped nginx configuration in front of a real ``scripts/serve``, over TLS on loopback.

Starts the dashboard with ``scripts/serve`` on a loopback port, makes a
self-signed certificate with ``openssl``, runs nginx (Debian package ``nginx``)
with ``deploy/nginx/facs-dashboard.conf`` (only ports, certificate paths and
the upstream port rewritten) and checks through TLS: the health endpoint, the
websocket upgrade on ``/_stcore/stream`` (101 Switching Protocols), the
HTTP-to-HTTPS redirect, that Streamlit listens on loopback only, that
``/_stcore/metrics`` is refused and that every answer carries a strict
Content-Security-Policy. A browser then signs in as each role through the
proxy and opens every page: the policy must not block anything the pages use.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.conftest import REPO_ROOT

CONF = REPO_ROOT / "deploy" / "nginx" / "facs-dashboard.conf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, context: ssl.SSLContext | None = None, timeout: float = 90) -> bytes:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return response.read()
        except OSError as exc:
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {last}")


def _listening_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture
def dashboard(tmp_path):
    """``scripts/serve`` on a free loopback port, with an empty data folder."""
    port = _free_port()
    env = dict(os.environ, FACS_BIND_ADDRESS="127.0.0.1", FACS_PORT=str(port), FACS_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [str(REPO_ROOT / "scripts" / "serve")],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert _wait_http(f"http://127.0.0.1:{port}/_stcore/health") == b"ok"
        yield port, tmp_path / "data"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def nginx(tmp_path, dashboard):
    """nginx running the shipped configuration on loopback high ports with a fresh self-signed certificate."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(binary).exists(), "nginx is not installed (Debian package 'nginx': apt-get install -y nginx)"
    upstream, _ = dashboard
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    https, http = _free_port(), _free_port()
    site = CONF.read_text()
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    site = site.replace("server 127.0.0.1:8501;", f"server 127.0.0.1:{upstream};")
    (tmp_path / "site.conf").write_text(site)
    run_as = "user root;" if os.geteuid() == 0 else ""
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    (tmp_path / "nginx.conf").write_text(f"""
        {run_as}
        worker_processes 1;
        daemon off;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/nginx-error.log;
        events {{ worker_connections 256; }}
        http {{
            access_log {tmp_path}/nginx-access.log;
            client_body_temp_path {temp}/body;
            proxy_temp_path {temp}/proxy;
            fastcgi_temp_path {temp}/fastcgi;
            uwsgi_temp_path {temp}/uwsgi;
            scgi_temp_path {temp}/scgi;
            include {tmp_path}/site.conf;
        }}
    """)
    checked = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    context = ssl.create_default_context(cafile=str(cert))
    try:
        yield https, http, context
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_dashboard_behind_nginx_over_tls(dashboard, nginx):
    https, http, context = nginx
    port, data_dir = dashboard
    assert _wait_http(f"https://localhost:{https}/_stcore/health", context) == b"ok"
    # Streamlit's websocket goes through the proxy: 101 Switching Protocols.
    with connect(f"wss://localhost:{https}/_stcore/stream", ssl=context, open_timeout=30) as ws:
        assert ws.response.status_code == 101
    # Plain HTTP only redirects to HTTPS.
    request = urllib.request.Request(f"http://127.0.0.1:{http}/")
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=10)
    assert redirect.value.code == 301 and redirect.value.headers["Location"].startswith("https://")
    # Streamlit itself listens on loopback only; the data folder is private.
    assert _listening_addresses(port) <= {"0100007F", "00000000000000000000000001000000"}
    assert (data_dir.stat().st_mode & 0o077) == 0
    # Streamlit's metrics answer anyone who reaches it; through the proxy, under any spelling, nothing.
    assert _wait_http(f"http://127.0.0.1:{port}/_stcore/metrics") is not None
    for path in (
        "/_stcore/metrics",
        "/_stcore//metrics",
        "/_stcore/%6detrics",
        "/_stcore/metrics?x=1",
        "//_stcore/metrics",
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"https://localhost:{https}{path}", context=context, timeout=10)
        assert refused.value.code == 404, path
    # Every answer, the refusal included, carries the security headers.
    for headers in (_headers(f"https://localhost:{https}/", context), refused.value.headers):
        policy = _csp(headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'self'"] and policy["connect-src"] == ["'self'"]
        assert not {"'unsafe-eval'", "'unsafe-inline'", "*", "https:", "http:"} & set(policy["script-src"])
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "SAMEORIGIN"
        assert headers["Strict-Transport-Security"].startswith("max-age=") and headers["Referrer-Policy"]


def _headers(url: str, context: ssl.SSLContext):
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        return answer.headers


def _csp(header: str | None) -> dict[str, list[str]]:
    assert header, "no Content-Security-Policy header"
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


@pytest.fixture
def seeded(tmp_path, feat_data):
    """Three accounts, a small synthetic cohort and a real video in the data folder ``dashboard`` serves."""
    from facs_core.services.access import LocalOperator
    from facs_core.services.demo import load_demo
    from facs_core.services.ingest import ingest_video
    from store import open_catalog, users
    from tests.browser_server import PASSWORD

    accounts = {"ada": "admin", "clara": "clinician", "rita": "researcher"}
    with open_catalog(tmp_path / "data") as catalog:
        for name, role in accounts.items():
            users.add_user(catalog, name, role, PASSWORD, actor="test")
        load_demo(catalog, n_patients=3, with_videos=False)
        video = feat_data / "single_face.mp4"
        record, _ = ingest_video(catalog, video, original_name="v.mp4", patient_id="P017", user=LocalOperator("test"))
        for patient in catalog.query("SELECT patient_id FROM patients")["patient_id"]:
            users.assign_patient(catalog, "clara", patient, actor="test")
    return {"accounts": list(accounts), "video_id": record["video_id"]}


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_works_under_the_content_security_policy(seeded, dashboard, nginx):
    """Each role opens every page through nginx; the browser reports no CSP violation and no failed request."""

    from tests.browser_server import chromium

    https, _, _ = nginx
    with chromium() as browser:
        for username in seeded["accounts"]:
            # The clinician also opens the synced timeline of the real video (its script, style and stream).
            player = seeded["video_id"] if username == "clara" else None
            problems = _csp_tour(browser, f"https://localhost:{https}", username, player)
            assert not problems, f"{username}: {problems}"


def _csp_tour(browser, url: str, username: str, player: str | None = None) -> list[str]:
    """Violations the browser reports while ``username`` opens every page, plus failed requests.

    With ``player`` (a video id) the Timeline of that video is opened last and
    must draw the synced timeline and load the video's metadata.
    """
    from playwright.sync_api import expect

    from tests.browser_server import idle, tour

    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
    context.add_init_script(
        "window.__violations = [];"
        " document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(m.text))
    page.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED" and problems.append(f"{r.url} {r.failure}"))

    def check(where: str) -> None:
        problems.extend(f"{where}: {v}" for v in page.evaluate("window.__violations.splice(0)"))

    assert tour(page, url, username, check, prefix="csp")
    if player:
        page.goto(f"{url}/timeline?video={player}")
        idle(page)
        expect(page.locator(".facs-tl[data-state='ready']")).to_have_count(1)
        # Polled from here: wait_for_function evaluates its predicate with eval, which the policy forbids.
        for _ in range(240):
            if page.evaluate("document.querySelector('.facs-tl video').readyState") >= 1:
                break
            page.wait_for_timeout(250)
        else:
            problems.append("timeline player: the video never loaded its metadata through nginx")
        check("timeline player")
    context.close()
    return problems


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_shipped_configuration_matches_the_upload_limit_and_keeps_protections_on():
    conf = CONF.read_text()
    assert "client_max_body_size 4096m;" in conf
    assert re.search(r"location /_stcore/stream \{[^}]*Upgrade \$http_upgrade", conf, re.S)
    serve = (REPO_ROOT / "scripts" / "serve").read_text()
    assert "--server.enableXsrfProtection true" in serve and "--server.enableCORS true" in serve
    assert "--server.maxUploadSize 4096" in serve
    from facs_core.services.uploads import DEFAULT_SIZE_LIMIT

    assert DEFAULT_SIZE_LIMIT == 4096 * 1024 * 1024
    unit = (REPO_ROOT / "deploy" / "systemd" / "facs-dashboard.service").read_text()
    assert "UMask=0077" in unit and "FACS_DATA_DIR=" in unit and "User=facs" in unit


def test_no_secrets_in_the_repository():
    ignored = subprocess.run(
        ["git", "check-ignore", ".streamlit/secrets.toml"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    assert ".streamlit/secrets.toml" not in tracked
    for name in tracked:
        path = REPO_ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text("utf-8", errors="ignore")
        assert "PRIVATE KEY-----" not in text or name.startswith("tests/"), name
        for match in re.finditer(r"(?im)^\s*(cookie_secret|client_secret)\s*=\s*\"([^\"]*)\"", text):
            assert match.group(2).startswith("REPLACE"), f"{name}: {match.group(1)} holds a value"
