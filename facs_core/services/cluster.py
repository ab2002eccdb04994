"""Connecting to Ray: a light local instance, or a multi-node cluster at ``RAY_ADDRESS``.

Local (no ``RAY_ADDRESS``): ``ray.init`` with the CPUs asked for, no
dashboard, a small object store. Cluster (``RAY_ADDRESS=host:port`` of a head
started with ``ray start --head``):

- Token authentication as Ray 2.60 documents it: a head started with
  ``ray start --head`` requires a token. When ``RAY_AUTH_MODE`` is unset and a
  token is available (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
  ``~/.ray/auth_token``), token mode is switched on for this process and its
  workers, as ``ray start`` itself does; ``RAY_AUTH_MODE`` set explicitly is
  respected.
- Every failure to connect is one line saying what to do: cluster unreachable,
  token missing or refused, Ray or Python versions that differ from the
  cluster's.
- :func:`check_shared_folder` proves, before any work is handed out, that the
  data folder is visible at the same path on every node (workers read videos
  and write chunks there).
- :func:`chunk_resources`: a chunk of py-feat work asks for one GPU when the
  cluster has any (the backend then picks ``cuda`` on that worker).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from facs_core.errors import FacsError
from facs_core.wording import count

__all__ = [
    "LOCAL_OBJECT_STORE_BYTES",
    "ClusterError",
    "check_shared_folder",
    "chunk_resources",
    "connect",
    "token_available",
]

#: Object store of a local Ray: frames never travel through it, only small results.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
#: Tries to start a local Ray before giving up.
LOCAL_START_ATTEMPTS = 2
#: Seconds to wait for each node to answer the shared-folder check.
NODE_CHECK_TIMEOUT_S = 120.0
_DEPLOY = "see docs/deploy.md"


class ClusterError(FacsError):
    """The Ray cluster cannot be used (unreachable, refused, mismatched, or not sharing the data folder)."""


def token_available() -> bool:
    """Whether a Ray auth token is configured the ways Ray reads one."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return Path(path).expanduser().is_file()
    return (Path.home() / ".ray" / "auth_token").is_file()


def _chain_text(exc: BaseException) -> str:
    """The messages of ``exc`` and of the errors that caused it, in one line.

    Ray reports a refused token as ``ConnectionError: Failed to connect``
    whose cause (a ``RuntimeError`` quoting an ``AuthenticationError``) holds
    the reason.
    """
    texts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " ".join(" ".join(texts).split())


def _enable_token_mode() -> None:
    """Switch Ray's token mode on for this process and its workers (what ``ray start --head`` does).

    Ray reads ``RAY_AUTH_MODE`` into its configuration when it is imported, so
    the configuration is read again after the variable is set.
    """
    os.environ["RAY_AUTH_MODE"] = "token"
    from ray._raylet import Config

    Config.initialize("")


def _describe(exc: BaseException, address: str) -> str:
    text = " ".join(str(exc).split())
    full = _chain_text(exc)
    lowered = full.lower()
    if "version mismatch" in lowered or ("versions" in lowered and "mismatch" in lowered):
        detail = full[full.lower().index("version mismatch") :] if "version mismatch" in lowered else full
        detail = detail.split("This process")[0].strip()[:200]
        return (
            f"the Ray cluster at {address} runs other versions than this machine ({detail}); install the same"
            f" Ray and Python on every node ({_DEPLOY})"
        )
    if type(exc).__name__ == "AuthenticationError" or any(
        word in lowered for word in ("authentication", "unauthenticated", "invalidauthtoken")
    ):
        if not token_available():
            return (
                f"the Ray cluster at {address} requires a token and none is set: set RAY_AUTH_TOKEN (or"
                f" RAY_AUTH_TOKEN_PATH) to the token `ray get-auth-token` prints on the head node ({_DEPLOY})"
            )
        return (
            f"the Ray cluster at {address} refused this machine's token: set RAY_AUTH_TOKEN to the token"
            f" `ray get-auth-token` prints on the head node ({_DEPLOY})"
        )
    token = (
        ""
        if token_available()
        else "; if it is running it may require a token: set RAY_AUTH_TOKEN to what `ray get-auth-token` prints there"
    )
    return (
        f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({type(exc).__name__}: {text[:160]}){token}; start"
        f" it with `ray start --head` or unset RAY_ADDRESS to work on this machine alone ({_DEPLOY})"
    )


def _probe(address: str, timeout_s: float = 5.0) -> str | None:
    """Why the head at ``host:port`` cannot be reached by TCP, or None (other address forms are not probed).

    ``ray.init`` keeps retrying an address where nothing listens for minutes;
    one connection attempt tells at once.
    """
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send this process's standard error (file descriptor 2) nowhere for a moment."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _token_refused(address: str) -> BaseException | None:
    """The cluster's refusal of this process's token (or of its lack of one), or None.

    ``ray.init`` retries a refused connection once a second for 20 s, logging
    each try; one direct request to the head's control service answers at
    once. Any other failure is left to ``ray.init`` and :func:`_describe`.
    """
    from ray._raylet import GcsClient

    try:
        with _quiet_stderr():  # Ray's client logs the refusal itself; the caller says it in one line
            GcsClient(address=address).cluster_id  # noqa: B018 - the request is the check
    except Exception as exc:
        text = _chain_text(exc).lower()
        if type(exc).__name__ == "AuthenticationError" or "invalidauthtoken" in text or "unauthenticated" in text:
            return exc
    return None


def connect(num_cpus: int | None = None) -> bool:
    """Connect this process to Ray; return True for a cluster, False for a local instance.

    Raises
    ------
    ClusterError
        ``RAY_ADDRESS`` is set and the cluster cannot be used (one line).
    """
    # Ray's usage statistics would report to the internet from a hospital server; off unless set.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS", "").strip()
    import ray

    if ray.is_initialized():
        return bool(address)
    if address:
        unreachable = _probe(address)
        if unreachable:
            raise ClusterError(_describe(ConnectionError(f"{address}: {unreachable}"), address))
        if "RAY_AUTH_MODE" not in os.environ and token_available():
            _enable_token_mode()
        refused = _token_refused(address)
        if refused is not None:
            raise ClusterError(_describe(refused, address))
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:
            # A half-made connection must not make later calls think Ray is up.
            with contextlib.suppress(Exception):
                ray.shutdown()
            raise ClusterError(_describe(exc, address)) from None
        return True
    root = str(Path(__file__).resolve().parent.parent)
    for attempt in range(LOCAL_START_ATTEMPTS):
        try:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                # Local workers import facs_core from this checkout, wherever the driver was started.
                runtime_env={
                    "env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
                },
            )
            return False
        except Exception as exc:
            with contextlib.suppress(Exception):
                ray.shutdown()
            # Ray gives its processes 30 s to register; a machine busy with other work can miss that once.
            if attempt + 1 == LOCAL_START_ATTEMPTS:
                text = " ".join(str(exc).split())[:200]
                raise ClusterError(
                    f"Ray could not start on this machine ({type(exc).__name__}: {text}); if the machine is busy,"
                    " retry later or with fewer workers (--workers)"
                ) from None
    return False


def _visible(marker: str) -> tuple[str, bool]:
    import ray

    return ray.util.get_node_ip_address(), os.path.isfile(marker)


def check_shared_folder(folder: Path) -> None:
    """Check that every alive node of the cluster sees ``folder`` (a marker file written here).

    Raises
    ------
    ClusterError
        A node does not see the folder, or does not answer in time.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f".facs-visible-{uuid.uuid4().hex}"
    marker.write_text("this data folder is visible here\n")
    try:
        probe = ray.remote(num_cpus=0)(_visible)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [
            probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
                str(marker)
            )
            for n in nodes
        ]
        ready, missing = ray.wait(refs, num_returns=len(refs), timeout=NODE_CHECK_TIMEOUT_S)
        if missing:
            raise ClusterError(
                f"{count(len(missing), 'Ray node')} did not answer within {NODE_CHECK_TIMEOUT_S:.0f} s; check"
                f" that every node has this project installed and is healthy (`ray status`) ({_DEPLOY})"
            )
        for ip, seen in ray.get(ready):
            if not seen:
                raise ClusterError(
                    f"the data folder {folder.parent} is not visible on Ray node {ip}: mount it at the same path on"
                    f" every node ({_DEPLOY})"
                )
    finally:
        marker.unlink(missing_ok=True)


def chunk_resources(backend: str) -> dict[str, Any]:
    """Ray resources one chunk of ``backend`` work asks for: a GPU for py-feat when the cluster has one."""
    import ray

    if backend == "pyfeat" and ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": 1}
