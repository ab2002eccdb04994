"""The py-feat backend without network: fast one-line failures and the local weight lookup."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _extract(tmp_path: Path, feat_data: Path, **env: str) -> tuple[subprocess.CompletedProcess, float, Path]:
    out = tmp_path / "frames.parquet"
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), **env}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "facs_core",
            "extract",
            str(feat_data / "single_face.mp4"),
            "--backend",
            "pyfeat",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    return done, time.monotonic() - started, out


@pytest.mark.parametrize(
    "env",
    [
        {"HF_HUB_OFFLINE": "1"},
        # A hub address where nothing listens: refused at once, never retried.
        {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
    ],
    ids=["offline", "unreachable"],
)
def test_missing_weights_fail_fast_naming_the_offline_backend(tmp_path: Path, feat_data: Path, env) -> None:
    done, seconds, out = _extract(tmp_path, feat_data, **env)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--backend mediapipe" in errors[0]
    assert "Traceback" not in done.stderr and "Retrying" not in done.stderr
    assert seconds < 10
    assert not out.exists()


def test_weights_prefilled_under_hf_home_are_found_without_network(tmp_path: Path) -> None:
    # Build a hub cache under HF_HOME the way huggingface_hub lays one out
    # (models--org--name/snapshots/<rev>/file, refs/main), then ask the backend's
    # lookup to fill an empty py-feat folder from it with the hub unreachable.
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from huggingface_hub import constants
        from facs_core.backends.pyfeat_backend import REQUIRED_WEIGHTS, ensure_weights
        hub = Path(constants.HF_HUB_CACHE)
        for repo, filename, _ in REQUIRED_WEIGHTS:
            folder = hub / f"models--{repo.replace('/', '--')}"
            (folder / "refs").mkdir(parents=True, exist_ok=True)
            (folder / "refs" / "main").write_text("0" * 40)
            snapshot = folder / "snapshots" / ("0" * 40)
            snapshot.mkdir(parents=True, exist_ok=True)
            (snapshot / filename).write_bytes(repo.encode() + filename.encode())
        target = Path(sys.argv[1])
        target.mkdir()
        ensure_weights(target)
        for repo, filename, _ in REQUIRED_WEIGHTS:
            copied = target / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40) / filename
            assert copied.read_bytes() == repo.encode() + filename.encode(), copied
        print("ok")
        """
    )
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pyfeat-cache")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
