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
#: Rounds of (command, baseline) pairs; each side's best counts.
ROUNDS = 3
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


def verdict(round_ratios: str) -> str:
    """Whether the target held in every round, only in the best, or not at all."""
    ratios = [float(r) for r in round_ratios.split(", ")]
    within = sum(r <= TARGET for r in ratios)
    if within == len(ratios):
        return " Target met in every round."
    if within:
        return f" Target met by the best runs, in {within} of {len(ratios)} rounds: not counted as met."
    return " Target not met in any round."


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
    """Wall and CPU seconds (user + sys) of one ``python ARGV`` run in a fresh interpreter.

    Bytecode is cached as Python does by default (an environment that turns
    that off would make every run recompile the package, which no second
    use of the command does).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, env=env)
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
    mixed_argv = ["stats", "scalogram", "--frames", str(frames_path), *common, *periods_argv]
    thirty, _ = synthetic_cohort(n_videos, minutes, rates=(30.0,), seed=0)
    thirty_path = folder / "thirty.parquet"
    thirty.to_parquet(thirty_path, index=False)
    scales_argv = ["--fps", "30", "--scales", "1-100", "--out", str(folder / "scales.csv")]
    per_fps, per_fps_cpu = min(
        run_cli(["stats", "scalogram", "--frames", str(thirty_path), *common, *scales_argv]) for _ in "ab"
    )
    # The same periods on the same cohort all at 30 fps: the case of bench/wavelets.py, rate-free.
    single_out = folder / "single-rate.csv"
    single_argv = ["stats", "scalogram", "--frames", str(thirty_path), *common, *periods_argv[:-1], str(single_out)]
    run_cli(single_argv)  # untimed: writes the package's bytecode and reads the files once, as any later use finds them
    # Rounds alternate the command and its baseline, so a slow minute on a shared machine falls on both;
    # each side's best round counts, and every round's ratio is reported.
    rounds = []
    for _ in range(ROUNDS):
        mixed_run = run_cli(mixed_argv)
        mixed_base = baseline(frames, clinical, periods)
        mixed_base_cpu = baseline.cpu_seconds  # type: ignore[attr-defined]
        single_run = run_cli(single_argv)
        single_base = baseline(thirty, clinical, periods)
        single_base_cpu = baseline.cpu_seconds  # type: ignore[attr-defined]
        rounds.append((mixed_run, mixed_base, mixed_base_cpu, single_run, single_base, single_base_cpu))
    rate_free, rate_free_cpu = min(r[0] for r in rounds)
    reference, reference_features, reference_association = min((r[1] for r in rounds), key=lambda b: b[1] + b[2])
    reference_cpu = min(r[2] for r in rounds)
    single, single_cpu = min(r[3] for r in rounds)
    single_reference, single_features, single_association = min((r[4] for r in rounds), key=lambda b: b[1] + b[2])
    single_reference_cpu = min(r[5] for r in rounds)
    reference_seconds = reference_features + reference_association
    single_seconds = single_features + single_association
    mixed_ratios = ", ".join(f"{r[0][0] / (r[1][1] + r[1][2]):.3f}" for r in rounds)
    single_ratios = ", ".join(f"{r[3][0] / (r[4][1] + r[4][2]):.3f}" for r in rounds)
    single_check = pd.read_csv(single_out).merge(single_reference, on=["au", "period_s"], suffixes=("", "_baseline"))
    single_r_diff = float(np.nanmax(np.abs(single_check["r"] - single_check["r_baseline"])))
    startup, _ = min(run_cli(["--help"]) for _ in "abc")
    imports, imports_cpu = min(run_python(["-c", COMMAND_IMPORTS]) for _ in "abc")
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
        f'| baseline, in-process, best of {ROUNDS}: `pywt.cwt(method="fft")` per series at each video\'s scales'
        f" ({reference_features:.2f} s) + one vectorised least-squares partial correlation over all cells"
        f" ({reference_association:.3f} s) | {reference_seconds:.2f} | 1 | {reference_cpu:.2f} | 1 |\n"
        f"| `python -m facs_core stats scalogram --periods {LOW:g}-{HIGH:g} --period-count {COUNT}`"
        f" (fresh process, whole run, best of {ROUNDS}) | {rate_free:.2f} | **{ratio:.3f}** | {rate_free_cpu:.2f} |"
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
        f" {p_rel:.1e}, same empty cells: {same_nan}. Ratio in each round (the command over the baseline run"
        f" right after it): {mixed_ratios}."
        + (
            not_met(imports, reference_seconds)
            if ratio > TARGET
            else " Within the target in seconds, but with the cores oversubscribed (below): not counted as met."
            if crowded
            else verdict(mixed_ratios)
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
        f" (fresh process, whole run, best of {ROUNDS}) | {single:.2f} | **{single / single_seconds:.3f}** |"
        f" {single_cpu:.2f} | {single_cpu / single_reference_cpu:.3f} |\n\n"
        f"Max |r - r_baseline| = {single_r_diff:.1e}. Ratio in each round: {single_ratios}. At one rate every"
        " video's series is as long as the longest of the mixed cohort, so the baseline's per-series cost grows"
        f" while the command's fixed cost (its imports, {imports:.2f} s) does not:"
        f" {'within' if single / single_seconds <= TARGET else 'above'} the {TARGET:g} target here"
        f" ({verdict(single_ratios).strip().rstrip('.').lower()}).\n"
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
