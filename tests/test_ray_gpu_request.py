"""A chunk of py-feat work asks Ray for a GPU where the cluster has one, and only then.

Runs a real local Ray in a child process that declares one GPU (Ray's GPUs
are logical resources: a machine without one can declare it), so the request
and Ray's assignment (``CUDA_VISIBLE_DEVICES`` on the worker) are Ray's own.
Whether ``cuda`` then works is the GPU's business and is measured on a
machine that has one (``docs/benchmarks.md``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_PROBE = """
import json, os, sys
import ray
from facs_core.services.cluster import chunk_resources
ray.init(num_cpus=1, num_gpus=int(sys.argv[1]), include_dashboard=False, log_to_driver=False)
asked = {backend: chunk_resources(backend) for backend in ("pyfeat", "mediapipe")}

@ray.remote(**asked["pyfeat"])
def where_pyfeat_runs():
    return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

print(json.dumps({"asked": asked, "seen": ray.get(where_pyfeat_runs.remote())}))
"""


def _probe(gpus: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(gpus)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_pyfeat_chunks_ask_for_a_gpu_only_where_the_cluster_has_one() -> None:
    with_gpu = _probe(1)
    assert with_gpu["asked"] == {"pyfeat": {"num_cpus": 1, "num_gpus": 1}, "mediapipe": {"num_cpus": 1}}
    gpu_ids, visible = with_gpu["seen"]
    assert [int(i) for i in gpu_ids] == [0] and visible == "0"
    without = _probe(0)
    assert without["asked"] == {"pyfeat": {"num_cpus": 1}, "mediapipe": {"num_cpus": 1}}
    assert without["seen"][0] == []
