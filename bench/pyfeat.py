"""Benchmark: py-feat's detector on CPU, frames per second per worker, 1 vs 2 workers.

Run ``.venv/bin/python bench/pyfeat.py`` (``--frames N`` to change the work).
Writes the ``pyfeat`` section of ``docs/benchmarks.md``.

- Weights: the generated test set (``tests/pyfeat_fake_weights.py``): the
  same model classes and layer sizes as py-feat's published weights, so the
  arithmetic per frame is the same; the numbers they produce are meaningless
  and not looked at. The set is made once into ``$FACS_TEST_CACHE``.
- Input: py-feat's ``single_face.mp4`` (640x360), frames decoded by the
  project's decoder; each worker is a process that builds the detector once
  (not timed) and then runs ``PyFeatBackend.process`` on its share of the
  frames with one torch thread, batch size 8.
- Scaling: the same number of frames over 1 and 2 worker processes;
  ``speed-up = fps(2) / fps(1)`` (2.0 is perfect on 2 free cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402


def _weights() -> Path:
    import hashlib
    from importlib.metadata import version

    from tests.pyfeat_fake_weights import generate_fake_weights

    generator = (ROOT / "tests" / "pyfeat_fake_weights.py").read_bytes()
    cache = Path(os.environ.get("FACS_TEST_CACHE") or Path.home() / ".cache" / "facs_core-tests")
    target = cache / f"pyfeat-fake-{version('py-feat')}-{hashlib.sha256(generator).hexdigest()[:12]}"
    if not (target / "manifest.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        generate_fake_weights(target)
    return target


def _worker(args: tuple[str, int, int]) -> tuple[int, float]:
    """Build the detector (untimed), then time ``process`` on frames [start, stop) of the sample."""
    import torch

    torch.set_num_threads(1)
    from facs_core.backends.base import get_backend
    from facs_core.decode import decode_frames

    video, start, stop = args
    frames = list(decode_frames(video, start, stop))
    with get_backend("pyfeat", batch_size=8, device="cpu") as backend:
        backend.process(frames[:8])  # warm-up
        started = time.perf_counter()
        rows = len(backend.process(frames))
        return rows, time.perf_counter() - started


def throughput(video: str, frames: int, workers: int) -> float:
    share = frames // workers
    jobs = [(video, i * share, (i + 1) * share) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_worker, jobs))
    # Workers run side by side: the slowest one's time is the wall time.
    return sum(rows for rows, _ in results) / max(seconds for _, seconds in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames per measurement (default 48)")
    args = parser.parse_args()
    weights = _weights()
    os.environ["FACS_PYFEAT_DIR"] = str(weights)
    os.environ["FACS_PYFEAT_FAKE_TOKEN"] = json.loads((weights / "manifest.json").read_text())["fake_token"]
    import importlib.util

    spec = importlib.util.find_spec("feat")
    video = str(Path(next(iter(spec.submodule_search_locations))) / "tests" / "data" / "single_face.mp4")
    load_before = os.getloadavg()[0]
    one = throughput(video, args.frames, 1)
    two = throughput(video, args.frames, 2)
    print(f"1 worker {one:.2f} fps, 2 workers {two:.2f} fps", file=sys.stderr)
    load_after = os.getloadavg()[0]
    lines = [
        "## py-feat detector on CPU (`bench/pyfeat.py`)",
        "",
        f"py-feat `Detectorv1` (RetinaFace-R34, MobileFaceNet, XGBoost AUs, ResMaskNet, pose MLP) on"
        f" {args.frames} frames of `single_face.mp4` (640x360), batch 8, one torch thread per worker process;"
        " weights: the generated test set (same layers and arithmetic as py-feat's; its face detector reports"
        " two faces in every picture, so the landmark, AU, emotion and pose models run twice per frame, as on an"
        " interview with the interviewer in view). Each frame also gets the appearance descriptor of each face"
        " and the whole-video patient track (`PyFeatBackend.process`: both passes).",
        "",
        "| workers | frames/s | frames/s per worker | speed-up over 1 worker |",
        "|---|---|---|---|",
        f"| 1 | {one:.2f} | {one:.2f} | 1.00x |",
        f"| 2 | {two:.2f} | {two / 2:.2f} | {two / one:.2f}x |",
        "",
        f"A study-sized cohort (58 interviews x 15 min x 30 fps = 1.57 M frames) at {one:.2f} frames/s per"
        f" worker is {1_566_000 / one / 86400:.1f} worker-days; extract every 3rd frame (`--every 3`) or spread"
        " the work over a Ray cluster (`docs/deploy.md`).",
        "",
        f"Load average (1 min): {load_before:.1f} at the start, {load_after:.1f} at the end, on"
        f" {os.cpu_count()} cores shared with other work; with more runnable processes than cores the absolute"
        " numbers are low (each worker gets a share of a core) and the speed-up says how the scheduler shared"
        " the cores, not what 2 free cores give; rerun on an idle machine for figures to plan with.",
    ]
    write_section("pyfeat", "\n".join(lines))


if __name__ == "__main__":
    main()
