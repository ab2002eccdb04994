"""Benchmark: the rate-free AU x period map, end to end through the CLI, against a lean baseline.

36 videos x 20 AUs x 2 minutes, frame rates mixed (10, 23.976, 25 and 30 fps,
nine videos each), 100 periods from 0.2 s to 10 s:
``python -m facs_core stats scalogram --periods 0.2-10 --period-count 100``
(a fresh process, Parquet in, CSV out) against a baseline measured in the same
run that does the least a careful analyst would: ``pywt.cwt(method="fft")`` per
series at that video's own scales, then ONE vectorised least-squares partial
correlation over every cell at once (not pingouin per cell, which would flatter
the ratio). Target: the CLI at most 0.15 of the baseline, whole process.

Also today's per-frame-rate map on the same number of videos, all at 30 fps
(``--fps 30 --scales 1-100``), to show what the rate-free map costs in
comparison. All data are synthetic (generated here), labelled so in the report.

Run: ``.venv/bin/python bench/periods.py`` (``--quick`` for a small smoke run
that does not write the report).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402
from facs_core import datasets  # noqa: E402
from facs_core.reference import action_units  # noqa: E402

RATES = (10.0, 23.976, 25.0, 30.0)
WAVELET = "cmor1.5-1.0"
LOW, HIGH, COUNT = 0.2, 10.0, 100
COVARIATES = ["age", "sex"]
TARGET = 0.15
#: What ``stats scalogram --frames ... --periods`` imports before it reads any data.
COMMAND_IMPORTS = (
    "import facs_core.cli, facs_core.cli.scalogram_command, facs_core.cli.options, facs_core.frame_tables,"
    " facs_core.clinical, facs_core.stats.cohort, facs_core.wavelets, facs_core.exports, store.paths,"
    " pyarrow.parquet, pyarrow.dataset, pandas.io.formats.csvs"
)


def not_met(imports: float, reference_seconds: float) -> str:
    """Why the target is missed, with this run's import time (the other numbers were measured on 2026-12-02)."""
    return (
        " Target not met in this run. Starting the interpreter and importing what the command needs (NumPy,"
        " pandas, pyarrow, PyWavelets; neither SciPy nor DuckDB any more) takes"
        f" {imports:.2f} s, {imports / reference_seconds:.3f} of the baseline, before any data is read. Most of"
        " the rest is the transform, which is exact (PyWavelets' own discretised wavelet): one full-rate complex"
        " inverse FFT per scale and series, as the mean modulus needs every sample of every scale's output, at"
        " the FFT lengths and overlap-save blocks pocketfft runs fastest, on both cores (in a single-threaded"
        " profile of this command on 2026-12-02 the FFTs took 0.9 s of CPU time and the spectrum products,"
        " moduli and sums around them 0.4 s, against 0.3 s for reading, cutting the series into pieces and the"
        " association together). Two cheaper transforms were measured (2026-12-02, not in this run) and not"
        " adopted. Inverse FFTs decimated to each scale's band cannot keep a tolerance against PyWavelets: its"
        " discretised Morlet (the wavelet's integral on 2^12 points, resampled at each scale) has up to 4 % of its"
        " energy outside the Morlet band at periods of 2-4 s and 11 % at 4-10 s, and band-limited features differ"
        " from `pywt.cwt`'s by as much (up to 4 % and 13 % on this cohort). Single-precision FFTs cut the"
        " transform's CPU time by about 40 % (the whole run's by about 22 %; r within 1e-7, p within 2e-5"
        " relative of double precision), and would make the map from files differ from the dashboard's, whose"
        " cached per-video features are double precision."
    )


def synthetic_cohort(n_videos: int, minutes: float, rates=RATES, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SYNTHETIC frames (no face gaps) and clinical table: AU12's 0.7 s rhythm grows with BDI."""
    return datasets.rhythm_cohort(n_videos, minutes, rates, seed, face_gaps=())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys) of one ``python -m facs_core ...`` run in a fresh interpreter."""
    return run_python(["-m", "facs_core", *argv])


def run_python(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys) of one ``python ARGV`` run in a fresh interpreter."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed: {done.stderr.strip()}")
    return time.perf_counter() - start, _children_cpu() - cpu


def baseline(frames: pd.DataFrame, clinical: pd.DataFrame, periods: np.ndarray) -> tuple[pd.DataFrame, float, float]:
    """pywt.cwt per series at each video's own scales, then one least-squares partial correlation for all cells."""
    import pywt
    from scipy import special

    start, cpu = time.perf_counter(), time.process_time()
    aus = list(action_units())
    centre = pywt.scale2frequency(WAVELET, 1.0)
    wavelet = pywt.ContinuousWavelet(WAVELET)
    rows = []
    for _, video in frames.groupby("video_id", sort=True):
        fps = 1.0 / float(np.median(np.diff(video["timestamp"])))
        fps = min(RATES, key=lambda r: abs(r - fps))
        scales = periods * centre * fps
        support = np.floor(scales * (wavelet.upper_bound - wavelet.lower_bound)) + 1
        row = []
        for au in aus:
            x = video[au].to_numpy()
            coefficients, _ = pywt.cwt(x - x.mean(), scales, WAVELET, method="fft")
            # Continuous-time normalisation (sqrt(dt)), and no value where the series is shorter than the support.
            row.append(np.where(x.size >= support, np.abs(coefficients).mean(axis=1) * np.sqrt(1 / fps), np.nan))
        rows.append(np.concatenate(row))
    features = np.vstack(rows)
    features_seconds = time.perf_counter() - start

    start = time.perf_counter()
    data = clinical.sort_values("video_id")
    design = np.column_stack([np.ones(len(data)), data["age"], (data["sex"] == "m").astype(float)])
    keep = ~np.isnan(features).any(axis=0)
    both = np.column_stack([features[:, keep], data["bdi"].to_numpy(dtype=float)])
    residuals = both - design @ np.linalg.lstsq(design, both, rcond=None)[0]
    ex, ey = residuals[:, :-1], residuals[:, -1]
    r = (ex.T @ ey) / np.sqrt((ex**2).sum(axis=0) * (ey @ ey))
    dof = len(data) - 2 - (design.shape[1] - 1)
    p = 2 * special.stdtr(dof, -np.abs(r * np.sqrt(dof / (1 - r**2))))
    association_seconds = time.perf_counter() - start
    baseline.cpu_seconds = time.process_time() - cpu  # type: ignore[attr-defined]
    cells = pd.DataFrame({"au": np.repeat(aus, periods.size), "period_s": np.tile(periods, len(aus))})
    cells["r"], cells["p"] = np.nan, np.nan
    cells.loc[keep, "r"], cells.loc[keep, "p"] = r, p
    return cells, features_seconds, association_seconds


def measure(folder: Path, n_videos: int, minutes: float, crowded: bool = False) -> str:
    from facs_core.wavelets import log_periods

    periods = log_periods(LOW, HIGH, COUNT)
    frames, clinical = synthetic_cohort(n_videos, minutes)
    frames_path, clinical_path = folder / "frames.parquet", folder / "clinical.csv"
    frames.to_parquet(frames_path, index=False)
    clinical.to_csv(clinical_path, index=False)
    common = ["--clinical", str(clinical_path), "--score", "bdi", "--covariates", ",".join(COVARIATES)]
    out = folder / "periods.csv"
    periods_argv = ["--periods", f"{LOW:g}-{HIGH:g}", "--period-count", str(COUNT), "--out", str(out)]
    rate_free, rate_free_cpu = min(
        run_cli(["stats", "scalogram", "--frames", str(frames_path), *common, *periods_argv]) for _ in "ab"
    )
    thirty, _ = synthetic_cohort(n_videos, minutes, rates=(30.0,), seed=0)
    thirty_path = folder / "thirty.parquet"
    thirty.to_parquet(thirty_path, index=False)
    scales_argv = ["--fps", "30", "--scales", "1-100", "--out", str(folder / "scales.csv")]
    per_fps, per_fps_cpu = min(
        run_cli(["stats", "scalogram", "--frames", str(thirty_path), *common, *scales_argv]) for _ in "ab"
    )
    # The same periods on the same cohort all at 30 fps: the case of bench/wavelets.py, rate-free.
    single_out = folder / "single-rate.csv"
    single_argv = [*periods_argv[:-1], str(single_out)]
    single, single_cpu = min(
        run_cli(["stats", "scalogram", "--frames", str(thirty_path), *common, *single_argv]) for _ in "ab"
    )
    single_reference, single_features, single_association = baseline(thirty, clinical, periods)
    single_seconds = single_features + single_association
    single_reference_cpu = baseline.cpu_seconds  # type: ignore[attr-defined]
    single_check = pd.read_csv(single_out).merge(single_reference, on=["au", "period_s"], suffixes=("", "_baseline"))
    single_r_diff = float(np.nanmax(np.abs(single_check["r"] - single_check["r_baseline"])))
    startup, _ = min(run_cli(["--help"]) for _ in "abc")
    imports, imports_cpu = min(run_python(["-c", COMMAND_IMPORTS]) for _ in "abc")
    reference, reference_features, reference_association = baseline(frames, clinical, periods)
    reference_seconds = reference_features + reference_association
    reference_cpu = baseline.cpu_seconds  # type: ignore[attr-defined]
    result = pd.read_csv(out)
    merged = result.merge(reference, on=["au", "period_s"], suffixes=("", "_baseline"))
    r_diff = float(np.nanmax(np.abs(merged["r"] - merged["r_baseline"])))
    p_rel = float(np.nanmax(np.abs(merged["p"] - merged["p_baseline"]) / np.maximum(merged["p_baseline"], 1e-300)))
    same_nan = bool((merged["r"].isna() == merged["r_baseline"].isna()).all())
    ratio = rate_free / reference_seconds
    print(f"CLI {rate_free:.2f} s, per-fps {per_fps:.2f} s, baseline {reference_seconds:.2f} s, ratio {ratio:.3f}")
    rows = len(frames)
    return (
        f"**{n_videos} videos x 20 AUs x {minutes:g} min, frame rates 10 / 23.976 / 25 / 30 fps mixed,"
        f" {COUNT} periods {LOW:g}-{HIGH:g} s (synthetic, {rows:,} frames, Parquet in)**\n\n"
        "| run | seconds | ratio to baseline | CPU seconds | CPU ratio |\n|---|---:|---:|---:|---:|\n"
        f'| baseline, in-process: `pywt.cwt(method="fft")` per series at each video\'s scales'
        f" ({reference_features:.2f} s) + one vectorised least-squares partial correlation over all cells"
        f" ({reference_association:.3f} s) | {reference_seconds:.2f} | 1 | {reference_cpu:.2f} | 1 |\n"
        f"| `python -m facs_core stats scalogram --periods {LOW:g}-{HIGH:g} --period-count {COUNT}`"
        f" (fresh process, whole run, best of 2) | {rate_free:.2f} | **{ratio:.3f}** | {rate_free_cpu:.2f} |"
        f" {rate_free_cpu / reference_cpu:.3f} |\n"
        f"| today's per-frame-rate map on {n_videos} videos all at 30 fps, `--fps 30 --scales 1-100`"
        f" (fresh process, best of 2) | {per_fps:.2f} | {per_fps / reference_seconds:.3f} | {per_fps_cpu:.2f} |"
        f" {per_fps_cpu / reference_cpu:.3f} |\n"
        f"| of the CLI's time: interpreter start and argument parser (`--help`) | {startup:.2f} | | | |\n"
        f"| of the CLI's time: interpreter start and the command's imports | {imports:.2f} |"
        f" {imports / reference_seconds:.3f} | {imports_cpu:.2f} | {imports_cpu / reference_cpu:.3f} |\n\n"
        f"Target: the rate-free CLI at most 0.15 of the baseline, and no dearer than the per-frame-rate map"
        f" (here {rate_free / per_fps:.2f} of it; its videos are longer in frames: all at 30 fps)."
        f" Same results as the baseline: max |r - r_baseline| = {r_diff:.1e}, max relative p difference ="
        f" {p_rel:.1e}, same empty cells: {same_nan}."
        + (
            not_met(imports, reference_seconds)
            if ratio > TARGET
            else " Within the target in seconds, but with the cores oversubscribed (below): not counted as met."
            if crowded
            else " Target met."
        )
        + "\n\n"
        f"**The same {n_videos} videos all at 30 fps, the same {COUNT} periods (synthetic,"
        f" {len(thirty):,} frames, Parquet in)**: one frame rate, the case of `bench/wavelets.py` (a) that the"
        " issue's target names (36 videos x 20 AUs x 2 min x 100 scales), mapped by period. The mixed-rate cohort"
        " above is the harder case: its 10 fps videos are shorter, so the baseline is cheaper.\n\n"
        "| run | seconds | ratio to baseline | CPU seconds | CPU ratio |\n|---|---:|---:|---:|---:|\n"
        f"| baseline, in-process, as above ({single_features:.2f} s + {single_association:.3f} s)"
        f" | {single_seconds:.2f} | 1 | {single_reference_cpu:.2f} | 1 |\n"
        f"| `python -m facs_core stats scalogram --periods {LOW:g}-{HIGH:g} --period-count {COUNT}`"
        f" (fresh process, whole run, best of 2) | {single:.2f} | **{single / single_seconds:.3f}** |"
        f" {single_cpu:.2f} | {single_cpu / single_reference_cpu:.3f} |\n\n"
        f"Max |r - r_baseline| = {single_r_diff:.1e}. At one rate every video's series is as long as the"
        " longest of the mixed cohort, so the baseline's per-series cost grows while the command's fixed"
        f" cost (its imports, {imports:.2f} s) does not: {'within' if single / single_seconds <= TARGET else 'above'}"
        f" the {TARGET:g} target here.\n"
    )


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; does not write docs/benchmarks.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        crowded = load_before[0] > (os.cpu_count() or 1)
        text = measure(Path(tmp), 8, 0.5, crowded) if args.quick else measure(Path(tmp), 36, 2.0, crowded)
    load_after = os.getloadavg()
    text += (
        f"\nLoad while it ran: 1-minute load average {load_before[0]:.1f} before and {load_after[0]:.1f} after"
        f" (5-minute {load_before[1]:.1f} / {load_after[1]:.1f}) on {os.cpu_count()} cores shared with other work;"
        " the baseline and the CLI ran in the same minutes under the same load, so the ratio holds better"
        " than the seconds."
        + (
            " But with more runnable work than cores the seconds depend on the share of the cores each run happened"
            " to get (the CLI transforms on two threads, the baseline on one), so the ratio varies from run to run;"
            " the CPU ratio varies less.\n"
            if max(load_before[0], load_after[0]) > (os.cpu_count() or 1)
            else "\n"
        )
    )
    if args.quick:
        print(text)
        return
    write_section(
        "periods",
        "## Wavelets: the rate-free AU x period map (`bench/periods.py`)\n\n"
        "Each video transformed at its own frame rate (scales = period x centre frequency x fps, features"
        " in continuous-time normalisation), cells a rate cannot resolve left empty per video, then the"
        " partial correlation of each (AU, period) cell with BDI (covariates age, sex), BH FDR over all"
        " cells.\n\n" + text,
    )


if __name__ == "__main__":
    main()
