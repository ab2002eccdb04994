"""Benchmark: 2,000 partial correlations (20 AUs x 100 wavelet scales) on 58 videos.

Baseline: a loop of ``pingouin.partial_corr`` calls, one per feature column,
measured in the same run on the same synthetic cohort. The engine
(``facs_core.stats.associate``) must give the same numbers (r and p to 1e-9;
CI to pingouin's 6-decimal rounding) and be at least 100x faster.

Usage: ``.venv/bin/python bench/stats.py [--quick]``; writes its section of
``docs/benchmarks.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pingouin as pg

from bench._report import write_section
from facs_core import datasets
from facs_core.reference import action_units
from facs_core.stats import associate

COVARIATES = ["age", "sex", "camera", "medication", "repeat_visit"]
TARGET_RATIO = 100.0


def synthetic_cohort(n_videos: int, n_scales: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic (not patient) data: a clinical table and AU x scale features (:func:`facs_core.datasets.cohort`)."""
    names = [f"{au}@s{scale}" for au in action_units() for scale in range(1, n_scales + 1)]
    return datasets.cohort(n_videos, seed, features=names)


def pingouin_loop(features: pd.DataFrame, clinical: pd.DataFrame) -> pd.DataFrame:
    """The baseline: one ``pingouin.partial_corr`` call per feature column."""
    data = clinical.merge(features, on="video_id")
    data["sex_male"] = (data["sex"] == "male").astype(float)
    data["camera_b"] = (data["camera"] == "cam_b").astype(float)
    data["camera_c"] = (data["camera"] == "cam_c").astype(float)
    dummies = ["age", "sex_male", "camera_b", "camera_c", "medication", "repeat_visit"]
    rows = []
    for column in features.columns[1:]:
        out = pg.partial_corr(data, x=column, y="bdi", covar=dummies)
        rows.append((column, out["r"].iloc[0], out["p_val"].iloc[0], *out["CI95"].iloc[0]))
    return pd.DataFrame(rows, columns=["feature", "r", "p", "ci_low", "ci_high"])


def best_of(function, repeats: int) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (5 scales), no report written")
    args = parser.parse_args()
    n_videos, n_scales = 58, (5 if args.quick else 100)
    features, clinical = synthetic_cohort(n_videos, n_scales)
    groups = [name.split("@")[0] for name in features.columns[1:]]
    pg.options["round.column.CI95"] = None  # compare pingouin's computed interval, not its display rounding

    associate(features, clinical, "bdi", COVARIATES, fdr_groups=groups)  # warm-up (imports, caches)
    engine_s, result = best_of(lambda: associate(features, clinical, "bdi", COVARIATES, fdr_groups=groups), 7)
    baseline_s, expected = best_of(lambda: pingouin_loop(features, clinical), 1)

    r_diff = float(np.max(np.abs(result["r"].to_numpy() - expected["r"].to_numpy())))
    p_diff = float(np.max(np.abs(result["p"].to_numpy() - expected["p"].to_numpy())))
    ci_diff = float(
        np.max(np.abs(result[["ci_low", "ci_high"]].to_numpy() - expected[["ci_low", "ci_high"]].to_numpy()))
    )
    identical = r_diff <= 1e-9 and p_diff <= 1e-9 and ci_diff <= 5e-7 + 1e-12
    ratio = baseline_s / engine_s
    columns = len(features.columns) - 1
    lines = [
        "## Statistics engine: partial correlations (`bench/stats.py`)",
        "",
        f"{columns:,} partial correlations ({len(action_units())} AUs x {n_scales} scales) of synthetic features"
        f" with a synthetic BDI on {n_videos} videos, controlling for age, sex, camera (3 levels), medication and"
        " a repeat-visit dummy (6 covariate columns); per-AU Benjamini-Hochberg FDR.",
        "",
        "| what | wall time | ratio |",
        "|---|---|---|",
        f"| baseline: `pingouin.partial_corr` loop, one call per column | {baseline_s * 1e3:,.1f} ms | 1x |",
        f"| `facs_core.stats.associate` (validation, alignment, r, CI, p, FDR), best of 7 | {engine_s * 1e3:,.2f} ms"
        f" | **{ratio:,.0f}x** |",
        "",
        f"Numbers identical: {'yes' if identical else 'NO'} (max |r diff| {r_diff:.1e}, max |p diff| {p_diff:.1e},"
        f" max |CI diff| {ci_diff:.1e}; pingouin rounds its CI to 6 decimals). Target: at least"
        f" {TARGET_RATIO:.0f}x faster: {'met' if ratio >= TARGET_RATIO else 'NOT met'}.",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.quick:
        write_section("stats", report)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
