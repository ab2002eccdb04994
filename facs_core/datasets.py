"""Synthetic data sets: generated, labelled, never patients' (like ``pywt.data`` or ``pingouin.read_dataset``).

One place for the data the demo, the tests and the benchmarks generate, each
drawn from ``numpy.random.default_rng`` with a seed, so the same call gives
the same data everywhere:

* :func:`demo_visits` and :func:`demo_frames`: the dashboard's synthetic demo
  cohort (patients ``DEMO-S..``, a planted AU-BDI association), which
  :func:`facs_core.services.demo.load_demo` writes into a store;
* :func:`frames` and :func:`video_frames`: per-frame tables in the
  per-frame contract (some frames without a face), for feature, export and
  store code; :func:`with_emotions`, :func:`with_patient_track` and
  :func:`rescored` add py-feat's emotions, the patient track's columns, or a
  second backend's view of the same frames;
* :func:`cohort`: a per-video feature table with its clinical table (scores
  and covariates), for the statistics;
* :func:`rhythm_cohort`: long per-frame series whose AU12 carries a rhythm
  whose amplitude follows BDI (or, for a true null, does not), at one frame
  rate or several mixed, for the wavelet association; :func:`rhythm_video`:
  one noiseless rhythm, for examples.

The planted association
-----------------------
``resources/demo_effects.csv`` lists it. With ``z = (BDI - 25) / 15``, the
frame values of AU ``a`` in a visit are

.. math:: x_a(t) = \\mu_a + b_a + c + A_a \\sin(2\\pi t / T_a + \\varphi) + e(t)

where ``mu_a = baseline + per_sd_bdi * z`` for the "mean" rows (``baseline``
0.22 and no slope for AUs not listed), ``b_a ~ N(0, 0.03)`` is a patient's own
level, ``c = 0.02`` on camera B only (a nuisance the covariates should absorb),
``A_a = max(0.005, baseline + per_sd_bdi * z)`` for the "amplitude" rows at
period ``T_a = period_s`` (0.02 at a random period for the others), and ``e`` is
AR(1) noise (``phi = 0.9``, innovation SD 0.02). Values are clipped to [0, 1];
a few frames per visit have no face (AU values NaN). Everything is drawn from
``numpy.random.default_rng`` seeded with :data:`DEMO_SEED`, so loading twice
gives the same data, and loading is idempotent: what exists is kept.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import numpy as np
import pandas as pd

from facs_core.importers import PYFEAT_EMOTIONS
from facs_core.reference import action_units

__all__ = [
    "COVARIATES",
    "DEMO_SEED",
    "RHYTHM_PERIOD_S",
    "PlantedEffect",
    "cohort",
    "demo_frames",
    "demo_visits",
    "frame_segments",
    "frames",
    "planted_effects",
    "rescored",
    "rhythm_cohort",
    "rhythm_video",
    "video_frames",
    "with_emotions",
    "with_patient_track",
]

#: Seed of every random draw in the demo; change it and the cohort changes.
DEMO_SEED = 20240
#: Period of :func:`rhythm_cohort`'s planted AU12 rhythm, in seconds.
RHYTHM_PERIOD_S = 0.7
#: Covariates of :func:`cohort`'s clinical table, as the statistics engine names them.
COVARIATES: tuple[str, ...] = ("age", "sex", "camera", "medication", "repeat_visit")


@dataclass(frozen=True)
class PlantedEffect:
    """One row of ``resources/demo_effects.csv``."""

    au: str
    kind: str
    period_s: float | None
    per_sd_bdi: float
    baseline: float


def planted_effects() -> tuple[PlantedEffect, ...]:
    """The AU-BDI associations planted in the synthetic cohort."""
    text = resources.files("facs_core.resources").joinpath("demo_effects.csv").read_text("utf-8")
    return tuple(
        PlantedEffect(
            au=row["au"],
            kind=row["kind"],
            period_s=float(row["period_s"]) if row["period_s"] else None,
            per_sd_bdi=float(row["per_sd_bdi"]),
            baseline=float(row["baseline"]),
        )
        for row in csv.DictReader(text.splitlines())
    )


def demo_visits(n_patients: int = 30, visits_per_patient: int = 2, seed: int = DEMO_SEED) -> pd.DataFrame:
    """The synthetic cohort's visits: one row per visit with scores and covariates.

    Returns
    -------
    DataFrame
        ``patient_id, visit, video_id, visit_date, bdi, phq9, age, sex, camera,
        medication, repeat_visit, seed``. The video id is derived from a hash of
        the seed, patient and visit, so it is stable across runs and stores.
    """
    rng = np.random.default_rng(seed)
    rows = []
    first_day = date(2023, 1, 9)
    for p in range(n_patients):
        patient = f"DEMO-S{p + 1:02d}"
        baseline_bdi = rng.uniform(4, 48)
        age = float(rng.integers(19, 71))
        sex = str(rng.choice(["female", "male"]))
        camera = str(rng.choice(["camera A", "camera B"]))
        start = first_day + timedelta(days=int(rng.integers(0, 300)))
        for v in range(visits_per_patient):
            # Later visits improve on average (treatment), with individual spread.
            bdi = float(np.clip(np.round(baseline_bdi - 6 * v + rng.normal(0, 5) * (v > 0)), 0, 63))
            phq9 = float(np.clip(np.round(bdi * 27 / 63 + rng.normal(0, 2)), 0, 27)) + 0.0  # no "-0"
            key = f"{seed}:{patient}:{v}".encode()
            rows.append(
                {
                    "patient_id": patient,
                    "visit": v + 1,
                    "video_id": hashlib.sha256(b"synthetic-demo:" + key).hexdigest()[:16],
                    "sha256": hashlib.sha256(b"synthetic-demo:" + key).hexdigest(),
                    "visit_date": start + timedelta(days=56 * v),
                    "bdi": bdi,
                    "phq9": phq9,
                    "age": age + round(56 * v / 365.25, 2),
                    "sex": sex,
                    "camera": camera,
                    "medication": str(rng.choice(["none", "SSRI", "SNRI"])),
                    "repeat_visit": v > 0,
                    "seed": int(rng.integers(0, 2**31 - 1)),
                }
            )
    return pd.DataFrame(rows)


def demo_frames(
    bdi: float,
    camera: str,
    patient_level: np.ndarray,
    seed: int,
    *,
    fps: float = 10.0,
    duration_s: float = 180.0,
) -> pd.DataFrame:
    """One synthetic visit's per-frame table, following the per-frame contract.

    Parameters
    ----------
    bdi : float
        The visit's BDI score; it sets the planted effects (module docstring).
    camera : str
        ``"camera B"`` adds a constant 0.02 to every AU.
    patient_level : ndarray
        The patient's own level per AU (same order as ``action_units()``).
    seed : int
        Seed of this visit's noise.
    """
    rng = np.random.default_rng(seed)
    aus = action_units()
    n = round(fps * duration_s)
    t = np.arange(n) / fps
    z = (bdi - 25.0) / 15.0
    means = dict.fromkeys(aus, 0.22)
    amplitudes = {au: (0.02, float(rng.uniform(2, 20))) for au in aus}
    for effect in planted_effects():
        level = effect.baseline + effect.per_sd_bdi * z
        if effect.kind == "mean":
            means[effect.au] = level
        else:
            amplitudes[effect.au] = (max(0.005, level), float(effect.period_s))
    offset = 0.02 if camera == "camera B" else 0.0
    # Faces leave the frame in a few short bursts (a glance away, a hand): at
    # most 0.4 s, which the wavelet module bridges (its default max gap is
    # 0.5 s), so each visit stays one series and long rhythms stay measurable.
    face = np.ones(n, dtype=bool)
    for start in rng.integers(0, n - 10, size=4):
        face[start : start + int(rng.integers(2, 5))] = False
    frame = {
        "frame": np.arange(n, dtype=np.int64),
        "timestamp": t,
        "face": face,
        "face_confidence": np.where(face, rng.uniform(0.85, 1.0, n), rng.uniform(0.0, 0.2, n)),
    }
    # Imported here: scipy.signal costs ~0.6 s, and every CLI start imports this module.
    from scipy.signal import lfilter

    for i, au in enumerate(aus):
        amplitude, period = amplitudes[au]
        noise = lfilter([1.0], [1.0, -0.9], rng.normal(0, 0.02, n))
        phase = rng.uniform(0, 2 * np.pi)
        values = means[au] + patient_level[i] + offset + amplitude * np.sin(2 * np.pi * t / period + phase) + noise
        frame[au] = np.where(face, np.clip(values, 0.0, 1.0), np.nan)
    return pd.DataFrame(frame)


def video_frames(
    n: int,
    rng: np.random.Generator,
    *,
    fps: float = 25.0,
    no_face: float = 0.15,
    beta: tuple[float, float] = (2.0, 3.0),
) -> pd.DataFrame:
    """One video's per-frame table of ``n`` frames in the per-frame contract.

    About ``no_face`` of the frames have no face (AU values NaN there); every
    study AU is drawn from Beta(``beta``) where there is a face.

    Examples
    --------
    >>> table = video_frames(4, np.random.default_rng(0), fps=2.0)
    >>> table["timestamp"].tolist()
    [0.0, 0.5, 1.0, 1.5]
    """
    face = rng.random(n) > no_face
    table = pd.DataFrame(
        {
            "frame": np.arange(n, dtype=np.int64),
            "timestamp": np.arange(n) / fps,
            "face": face,
            "face_confidence": np.where(face, rng.uniform(0.6, 1, n), 0.0),
        }
    )
    for au in action_units():
        table[au] = np.where(face, rng.beta(*beta, n), np.nan)
    return table


def frames(n_videos: int = 5, seed: int = 0, fps: float = 25.0) -> pd.DataFrame:
    """Per-frame tables of ``n_videos`` videos (:func:`video_frames`), stacked.

    Each video (``vid000``, ``vid001``, ...) has 80-300 frames at ``fps``, no
    face in about 15 % of them.

    Examples
    --------
    >>> table = frames(n_videos=2)
    >>> list(table.columns[:5])
    ['video_id', 'frame', 'timestamp', 'face', 'face_confidence']
    >>> sorted(table["video_id"].unique())
    ['vid000', 'vid001']
    """
    rng = np.random.default_rng(seed)
    parts = []
    for v in range(n_videos):
        table = video_frames(int(rng.integers(80, 300)), rng, fps=fps)
        table.insert(0, "video_id", f"vid{v:03d}")
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def frame_segments() -> pd.DataFrame:
    """Labelled segments over the videos of :func:`frames` (two of ``vid001``'s overlap).

    Columns ``video_id, start_s, end_s, label``, as the features module takes them.
    """
    return pd.DataFrame(
        {
            "video_id": ["vid001", "vid001", "vid003", "vid004"],
            "start_s": [0.4, 1.0, 2.0, 0.0],
            "end_s": [1.6, 2.2, 3.0, 0.5],
            "label": ["answer 1", "answer 2", "answer 1", "intro"],
        }
    )


def cohort(
    n_videos: int = 58, seed: int = 0, features: int | Sequence[str] | None = None, patient_sd: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A per-video feature table and its clinical table (about two visits per patient).

    Feature values depend on the BDI score and on the covariates (age, camera
    B), so partial correlations are neither zero nor equal to the plain ones.

    Parameters
    ----------
    n_videos : int
        Videos (rows of both tables), ``vid0000``, ``vid0001``, ...
    seed : int
        Seed of every draw.
    features : int or sequence of str, optional
        The feature columns: the study AUs (default), ``F0000``... for a
        number, or these names.
    patient_sd : float
        SD of a patient's own level, added to every feature of the patient's
        visits (a random intercept for the mixed model to estimate); 0 adds
        none and draws nothing, so the other values stay as they were.

    Returns
    -------
    features : DataFrame
        ``video_id`` and one column per feature, values in [0, 1].
    clinical : DataFrame
        ``video_id, patient_id, bdi`` and the :data:`COVARIATES`.

    Examples
    --------
    >>> features, clinical = cohort(n_videos=6, features=3)
    >>> list(features.columns)
    ['video_id', 'F0000', 'F0001', 'F0002']
    >>> list(clinical.columns)
    ['video_id', 'patient_id', 'bdi', 'age', 'sex', 'camera', 'medication', 'repeat_visit']
    """
    rng = np.random.default_rng(seed)
    patients = [f"P{i // 2:03d}" for i in range(n_videos)]
    clinical = pd.DataFrame(
        {
            "video_id": [f"vid{i:04d}" for i in range(n_videos)],
            "patient_id": patients,
            "bdi": rng.integers(0, 64, n_videos).astype(float),
            "age": rng.normal(45, 12, n_videos).round().clip(18, 90),  # adults, as the study's clinics
            "sex": rng.choice(["female", "male"], n_videos),
            "camera": rng.choice(["cam_a", "cam_b", "cam_c"], n_videos),
            "medication": rng.integers(0, 2, n_videos),
            "repeat_visit": np.arange(n_videos) % 2,
        }
    )
    if features is None:
        names = list(action_units())
    elif isinstance(features, int):
        names = [f"F{j:04d}" for j in range(features)]
    else:
        names = list(features)
    slopes = rng.normal(0, 0.004, len(names))
    base = (
        0.3
        + np.outer(clinical["bdi"], slopes)
        + 0.002 * clinical["age"].to_numpy()[:, None]
        + 0.05 * (clinical["camera"] == "cam_b").to_numpy()[:, None]
    )
    noise = rng.normal(0, 0.08, (n_videos, len(names)))
    if patient_sd > 0:
        ids = sorted(set(patients))
        level = dict(zip(ids, rng.normal(0, patient_sd, len(ids)), strict=True))
        noise += np.array([level[p] for p in patients])[:, None]
    values = np.clip(base + noise, 0, 1)
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "video_id", clinical["video_id"])
    return table, clinical


def with_emotions(frames: pd.DataFrame, videos: Collection[str], seed: int = 0) -> pd.DataFrame:
    """``frames`` with py-feat's seven emotion probabilities on the face frames of ``videos``.

    Each face frame's probabilities are a softmax of standard normal logits
    (they sum to 1); frames without a face, and every frame of the other
    videos (a backend without emotions), have NaN.

    Examples
    --------
    >>> table = with_emotions(frames(n_videos=2), {"vid000"})
    >>> faces = table[(table["video_id"] == "vid000") & table["face"]]
    >>> bool(np.allclose(faces[list(PYFEAT_EMOTIONS)].sum(axis=1), 1.0))
    True
    >>> bool(table.loc[table["video_id"] == "vid001", "anger"].isna().all())
    True
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(frames), len(PYFEAT_EMOTIONS)))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    keep = frames["video_id"].isin(videos).to_numpy() & frames["face"].to_numpy()
    out = frames.copy()
    for i, emotion in enumerate(PYFEAT_EMOTIONS):
        out[emotion] = np.where(keep, probabilities[:, i], np.nan)
    return out


def with_patient_track(frames: pd.DataFrame, seed: int = 0, uncertain: float = 0.1) -> pd.DataFrame:
    """``frames`` with the patient track's columns, as the MediaPipe backend writes them.

    A face frame is the patient's (``face_status`` ``"patient"``); about
    ``uncertain`` of them have ``identity_uncertain`` set. A frame without a
    face is ``"other_face"`` or ``"no_face"``, half each. ``au_source`` is
    ``"blendshape"``.

    Examples
    --------
    >>> table = with_patient_track(frames(n_videos=1))
    >>> sorted(table.loc[~table["face"], "face_status"].unique())
    ['no_face', 'other_face']
    >>> bool((table.loc[table["face"], "face_status"] == "patient").all())
    True
    """
    rng = np.random.default_rng(seed)
    out = frames.copy()
    n = len(out)
    out["identity_uncertain"] = out["face"].to_numpy() & (rng.random(n) < uncertain)
    out["face_status"] = np.where(out["face"], "patient", np.where(rng.random(n) < 0.5, "other_face", "no_face"))
    out["au_source"] = "blendshape"
    return out


def rescored(
    frames: pd.DataFrame, seed: int = 0, *, scale: float = 0.8, offset: float = 0.1, noise: float = 0.05
) -> pd.DataFrame:
    """The same frames as a second backend scores them: ``scale * x + offset`` plus noise, per AU.

    Every ``AU..`` column is rescored, with normal noise of SD ``noise``, and
    clipped to [0, 1]; the other columns are kept. Two backends' tables of one
    visit, for agreement statistics.

    Examples
    --------
    >>> first = video_frames(50, np.random.default_rng(0), no_face=0.0)
    >>> second = rescored(first, noise=0.0)
    >>> bool(np.allclose(second["AU12"], 0.8 * first["AU12"] + 0.1))
    True
    """
    rng = np.random.default_rng(seed)
    out = frames.copy()
    for au in [c for c in out.columns if c.startswith("AU")]:
        out[au] = np.clip(out[au] * scale + offset + rng.normal(0, noise, len(out)), 0, 1)
    return out


def rhythm_video(
    video_id: str = "v1", seconds: float = 20.0, fps: float = 30.0, amplitude: float = 0.2, period_s: float = 0.7
) -> pd.DataFrame:
    """One video whose AU12 is a pure rhythm: ``0.5 + amplitude * sin(2 pi t / period_s)``, no noise.

    The smallest per-frame table with a known answer, for examples: its wavelet
    features peak at ``period_s`` and scale with ``amplitude``.

    Examples
    --------
    >>> table = rhythm_video(seconds=1.0, fps=4.0)
    >>> table.columns.tolist(), table["AU12"].round(3).tolist()
    (['video_id', 'frame', 'timestamp', 'AU12'], [0.5, 0.656, 0.305, 0.587])
    """
    t = np.arange(round(seconds * fps)) / fps
    return pd.DataFrame(
        {
            "video_id": video_id,
            "frame": np.arange(t.size),
            "timestamp": t,
            "AU12": 0.5 + amplitude * np.sin(2 * np.pi * t / period_s),
        }
    )


def rhythm_cohort(
    n_videos: int,
    minutes: float,
    fps: float | Sequence[float],
    seed: int = 0,
    *,
    aus: Sequence[str] | None = None,
    coupled: bool = True,
    face_gaps: Sequence[int] = (8, 90),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long per-frame series with a planted rhythm, and their clinical table.

    AU12 carries a :data:`RHYTHM_PERIOD_S` (0.7 s) rhythm whose amplitude,
    ``0.01 + 0.06 * BDI / 63``, grows with BDI; every AU (AU12 too) has normal
    noise (SD 0.06) around 0.3, clipped to [0, 1].

    Parameters
    ----------
    n_videos : int
        Videos ``synthetic000``, ``synthetic001``, ... (patients ``SYN000``, ...).
    minutes : float
        Length of each video.
    fps : float or sequence of float
        Frame rate of every video, or rates given to the videos in turn
        (video ``v`` at ``fps[v % len(fps)]``): a cohort filmed with several
        cameras.
    seed : int
        Seed of every draw.
    aus : sequence of str, optional
        The AU columns, AU12 among them; the study AUs by default.
    coupled : bool
        With ``False`` the rhythm's amplitude is drawn independently of BDI:
        every AU x scale cell is then a true null.
    face_gaps : sequence of int
        Runs of frames, one per entry, without a face (all AUs NaN) at random
        places in each video: by default 8, which the wavelet module
        bridges, and 90, which splits the series.

    Returns
    -------
    frames : DataFrame
        ``video_id, frame, timestamp`` and the AUs (NaN without a face).
    clinical : DataFrame
        ``video_id, patient_id, bdi, age, sex``.

    Examples
    --------
    >>> frames, clinical = rhythm_cohort(3, 0.5, 10.0, aus=["AU01", "AU12"], face_gaps=())
    >>> list(frames.columns)
    ['video_id', 'frame', 'timestamp', 'AU01', 'AU12']
    >>> len(frames), list(clinical["video_id"])
    (900, ['synthetic000', 'synthetic001', 'synthetic002'])
    >>> mixed, _ = rhythm_cohort(4, 0.1, [10.0, 30.0], face_gaps=())
    >>> mixed.groupby("video_id").size().tolist()
    [60, 180, 60, 180]
    """
    names = list(action_units() if aus is None else aus)
    if "AU12" not in names:
        raise ValueError("rhythm_cohort: the rhythm is planted in AU12, which aus must name")
    rng = np.random.default_rng(seed)
    rates = [float(fps)] if np.isscalar(fps) else [float(r) for r in fps]
    parts, clinical = [], []
    for v in range(n_videos):
        rate = rates[v % len(rates)]
        n = int(minutes * 60 * rate)
        t = np.arange(n) / rate
        bdi = int(rng.integers(0, 64))
        values = {au: np.clip(0.3 + 0.06 * rng.standard_normal(n), 0, 1) for au in names if au != "AU12"}
        strength = bdi / 63 if coupled else rng.uniform(0, 1)
        rhythm = (0.01 + 0.06 * strength) * np.sin(2 * np.pi * t / RHYTHM_PERIOD_S + rng.uniform(0, 2 * np.pi))
        values["AU12"] = np.clip(0.3 + rhythm + 0.06 * rng.standard_normal(n), 0, 1)
        block = np.column_stack([values[au] for au in names])
        for length in face_gaps:
            start = int(rng.integers(0, n - length))
            block[start : start + length] = np.nan
        video = pd.DataFrame(block, columns=names)
        video.insert(0, "timestamp", t)
        video.insert(0, "frame", np.arange(n))
        video.insert(0, "video_id", f"synthetic{v:03d}")
        parts.append(video)
        clinical.append(
            {
                "video_id": f"synthetic{v:03d}",
                "patient_id": f"SYN{v:03d}",
                "bdi": bdi,
                "age": int(rng.integers(20, 70)),
                "sex": str(rng.choice(["f", "m"])),
            }
        )
    return pd.concat(parts, ignore_index=True), pd.DataFrame(clinical)
