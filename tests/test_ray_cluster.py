"""Extraction jobs on a real two-node Ray cluster on this machine, and one-line cluster failures.

The test starts a head (``ray start --head``) and a second node (``ray start
--address``), each with its own temporary folder and one CPU, under a private
``HOME``. Token authentication is set up as Ray 2.60 documents it
(docs.ray.io, "Ray token authentication"): the token is generated first
(``ray get-auth-token --generate`` writes ``~/.ray/auth_token``) and both
nodes start with ``RAY_AUTH_MODE=token``. (Without a token at start, Ray
2.60's ``ray start --head`` runs with authentication off and accepts any
driver.) A job submitted through ``RAY_ADDRESS`` must give the same rows as
the same job on a local Ray; a wrong or missing token is refused in one line.

Where the test runs as root, the second node starts in a private mount
namespace in which one folder is covered by an empty ``tmpfs``: a data folder
there is not visible on that node, as on a machine where the share is not
mounted. The cluster's processes (found by their session folder) are stopped
at the end, by process id.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from facs_core.probe import probe_video
from store import open_catalog
from store.videos import add_video

REPO = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    environment.update(HOME=str(home), PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0", **extra)
    return environment


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout)


def _can_hide() -> bool:
    """Whether a node can be started in a mount namespace of its own (root, ``unshare``)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0


def _ray_start(
    args: list[str], env: dict[str, str], folder: Path, hide: Path | None = None
) -> subprocess.CompletedProcess:
    """``ray start``, tried again when Ray's fixed 30 s start-up wait ran out on a busy machine.

    With ``hide``, the node's processes run in a private mount namespace where
    an empty ``tmpfs`` covers that folder.
    """
    command = [RAY, "start", *args]
    if hide is not None:
        script = 'mount -t tmpfs facs-hidden "$0" && exec "$@"'
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(hide), *command]
    for _ in range(3):
        done = _run(command, env)
        if done.returncode == 0 or "timed out during startup" not in done.stderr:
            return done
        _stop(folder)  # what this start left behind
    return done


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A head and a second node (1 CPU each), stopped after the module's tests."""
    # Ray's socket paths must stay under 107 bytes: a short folder, not pytest's deep one.
    base = Path(tempfile.mkdtemp(prefix="facs-ray-", dir="/tmp"))
    home = base / "home"
    home.mkdir()
    port = _free_port()
    hidden = base / "hidden"  # covered on the second node where a mount namespace can be made
    hidden.mkdir()
    env = _env(home, RAY_AUTH_MODE="token")
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
    try:
        token = _run([RAY, "get-auth-token", "--generate"], _env(home), timeout=60)
        assert token.returncode == 0 and (home / ".ray" / "auth_token").is_file(), token.stderr[-2000:]
        head = _ray_start(
            [
                "--head",
                f"--port={port}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=false",
                f"--temp-dir={base / 'h'}",
                *common,
            ],
            env,
            base / "h",
        )
        assert head.returncode == 0, head.stderr[-2000:]
        worker_args = [
            f"--address=127.0.0.1:{port}",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={base / 'w'}",
            *common,
        ]
        can_hide = _can_hide()
        worker = _ray_start(worker_args, env, base / "w", hide=hidden if can_hide else None)
        assert worker.returncode == 0, worker.stderr[-2000:]
        yield {
            "address": f"127.0.0.1:{port}",
            "home": home,
            "base": base,
            "hidden": hidden if can_hide else None,
        }
    finally:
        _stop(base)
        shutil.rmtree(base, ignore_errors=True)


def _ours(base: Path) -> list[int]:
    """Processes of this test's cluster: every Ray process names its session folder under ``base``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(base).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _stop(base: Path) -> None:
    """Stop the processes of this cluster (or of one node's folder) by id (``ray stop`` would stop every Ray)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _ours(base):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 20
        while _ours(base) and time.monotonic() < deadline:
            time.sleep(0.5)


def _store(folder: Path, source: Path) -> str:
    catalog = open_catalog(folder)
    try:
        record, _ = add_video(catalog, source, probe_video(source), patient_id="P001")
    finally:
        catalog.close()
    return record["video_id"]


def _shard(folder: Path) -> pd.DataFrame:
    catalog = open_catalog(folder)
    try:
        run = catalog.query("SELECT * FROM runs WHERE status = 'done'").iloc[0]
        return pd.read_parquet(catalog.paths.root / run["shard_path"]).drop(columns=["run_id"])
    finally:
        catalog.close()


@pytest.mark.slow
def test_job_on_a_two_node_cluster_matches_the_local_run(cluster, feat_data: Path, tmp_path: Path) -> None:
    from facs_core.models import install_model

    install_model()
    nodes = _run(
        [sys.executable, "-c", "import ray; ray.init(); print(sum(n['Alive'] for n in ray.nodes()))"],
        _env(cluster["home"], RAY_ADDRESS=cluster["address"], RAY_AUTH_MODE="token"),
    )
    assert nodes.stdout.strip().splitlines()[-1] == "2", nodes.stderr[-2000:]

    source = feat_data / "single_face.mp4"
    args = ["--backend", "mediapipe", "--every", "3", "--chunk-frames", "12"]
    remote_dir, local_dir = tmp_path / "remote", tmp_path / "local"
    video = _store(remote_dir, source)
    assert _store(local_dir, source) == video
    # Token mode is switched on by facs_core itself: RAY_AUTH_MODE is not set here.
    env = _env(cluster["home"], RAY_ADDRESS=cluster["address"])
    done = _run([sys.executable, "-m", "facs_core", "--data-dir", str(remote_dir), "jobs", "run", video, *args], env)
    assert done.returncode == 0, done.stderr[-3000:]
    local = _run(
        [
            sys.executable,
            "-m",
            "facs_core",
            "--data-dir",
            str(local_dir),
            "jobs",
            "run",
            video,
            *args,
            "--workers",
            "1",
        ],
        _env(cluster["home"]),
    )
    assert local.returncode == 0, local.stderr[-3000:]
    pd.testing.assert_frame_equal(_shard(remote_dir), _shard(local_dir))


def _one_line_failure(done: subprocess.CompletedProcess) -> str:
    # "video ...: job ..." lines report the queueing; the failure is one "error:" line, no traceback.
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    # Nothing else: no log lines of Ray's retries.
    assert all(line.startswith(("video ", "error:")) for line in lines), done.stderr[-3000:]
    return errors[0]


@pytest.mark.slow
def test_refused_or_missing_token_is_one_line(cluster, feat_data: Path, tmp_path: Path) -> None:
    video = _store(tmp_path / "data", feat_data / "single_face.mp4")
    command = [sys.executable, "-m", "facs_core", "--data-dir", str(tmp_path / "data"), "jobs", "run", video]
    wrong = _env(cluster["home"], RAY_ADDRESS=cluster["address"], RAY_AUTH_TOKEN="0" * 32)
    refused = _one_line_failure(_run(command, wrong, timeout=180))
    assert "refused this machine's token" in refused and "RAY_AUTH_TOKEN" in refused, refused
    stranger = tmp_path / "stranger"  # a machine without the token
    stranger.mkdir()
    missing = _one_line_failure(_run(command, _env(stranger, RAY_ADDRESS=cluster["address"]), timeout=180))
    assert "requires a token and none is set" in missing and "RAY_AUTH_TOKEN" in missing, missing
    catalog = open_catalog(tmp_path / "data")
    try:  # the job waits, queued, for a usable cluster
        assert catalog.query("SELECT status FROM jobs")["status"].tolist() == ["queued"]
    finally:
        catalog.close()


@pytest.mark.slow
def test_data_folder_not_visible_on_a_node_is_one_line(cluster, feat_data: Path) -> None:
    if cluster["hidden"] is None:
        pytest.skip("needs root and unshare to hide a folder from one node")
    data = cluster["hidden"] / "data"
    video = _store(data, feat_data / "single_face.mp4")
    env = _env(cluster["home"], RAY_ADDRESS=cluster["address"])
    done = _run([sys.executable, "-m", "facs_core", "--data-dir", str(data), "jobs", "run", video], env, timeout=180)
    message = _one_line_failure(done)
    assert "is not visible on Ray node" in message and "mount it at the same path on every node" in message, message


def test_unreachable_cluster_is_one_line(feat_data: Path, tmp_path: Path) -> None:
    video = _store(tmp_path / "data", feat_data / "single_face.mp4")
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home, RAY_ADDRESS=f"127.0.0.1:{_free_port()}")
    done = _run([sys.executable, "-m", "facs_core", "--data-dir", str(tmp_path / "data"), "jobs", "run", video], env)
    message = _one_line_failure(done)
    assert "cannot reach the Ray cluster" in message and "ray start --head" in message


# A head that records another Ray release in the cluster's metadata, as a head installed from another
# release does; the driver's check (ray._private.utils.check_version_info) and everything after it are Ray's.
_OTHER_RELEASE_HEAD = (
    "import sys, ray; ray.__version__ = '2.59.0'; from ray.scripts.scripts import main;"
    " sys.argv = ['ray', *sys.argv[1:]]; main()"
)


@pytest.mark.slow
def test_cluster_of_another_ray_release_is_one_line(feat_data: Path, tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="facs-ray-", dir="/tmp"))
    home = base / "home"
    home.mkdir()
    port = _free_port()
    try:
        head = [
            sys.executable,
            "-c",
            _OTHER_RELEASE_HEAD,
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            f"--temp-dir={base / 'h'}",
            "--num-cpus=1",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
        ]
        started = _run(head, _env(home))
        assert started.returncode == 0, started.stderr[-2000:]
        video = _store(tmp_path / "data", feat_data / "single_face.mp4")
        command = [sys.executable, "-m", "facs_core", "--data-dir", str(tmp_path / "data"), "jobs", "run", video]
        message = _one_line_failure(_run(command, _env(home, RAY_ADDRESS=f"127.0.0.1:{port}"), timeout=180))
        assert "runs other versions than this machine" in message and "Ray: 2.59.0" in message, message
        assert "same Ray and Python on every node" in message, message
    finally:
        _stop(base)
        shutil.rmtree(base, ignore_errors=True)
