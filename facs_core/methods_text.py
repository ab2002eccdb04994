"""A methods paragraph for a paper, generated from the settings an analysis actually used.

The dashboard's Export page and any script can call :func:`methods_paragraph`
with the settings of the analysis that produced the exported table, so the
text never describes a different analysis than the numbers. Nothing here
computes statistics; it only words what was done.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from facs_core import __version__
from facs_core.errors import InputError
from facs_core.wording import count

__all__ = ["AnalysisSettings", "covariate_words", "methods_paragraph", "settings_from_mapping", "with_result_scope"]

_METHOD_SENTENCES: dict[str, str] = {
    "pearson": (
        "For each AU, the partial Pearson correlation between the per-visit feature and the {instrument} score was"
        " computed{controlling}, with a 95% confidence interval from Fisher's z transform and a two-sided t test"
        " on n - 2 - k degrees of freedom (k covariate columns)."
    ),
    "spearman": (
        "For each AU, the partial Spearman correlation (Pearson correlation of ranks) between the per-visit feature"
        " and the {instrument} score was computed{controlling}, with a 95% confidence interval from Fisher's z"
        " transform and a two-sided t test on n - 2 - k degrees of freedom (k covariate columns)."
    ),
    "mixedlm": (
        "For each AU, a linear mixed model with a random intercept per patient regressed the standardised per-visit"
        " feature on the standardised {instrument} score{controlling}, fitted by restricted maximum likelihood"
        " (statsmodels MixedLM); the standardised slope is reported with its Wald 95% confidence interval and"
        " two-sided Wald p-value."
    ),
    "permutation": (
        "For each AU, the partial Pearson correlation between the per-visit feature and the {instrument} score was"
        " computed{controlling}; its p-value came from {permutations} permutations of whole patients (all visits"
        " of a patient kept together, Freedman-Lane scheme), which respects repeated visits."
    ),
}

_FEATURE_SENTENCES: dict[str, str] = {
    "mean": "the mean AU value over frames with a detected face",
    "rate": "the occurrence rate (share of frames with a detected face where the AU value was at least 0.5)",
    "sd": "the standard deviation of the AU value over frames with a detected face",
    "emotion_mean": "the mean probability of each of py-feat's seven emotions (ResMaskNet) over frames with a"
    " detected face",
    "emotion_sd": "the standard deviation of each of py-feat's seven emotion probabilities (ResMaskNet) over frames"
    " with a detected face",
}


@dataclass(frozen=True)
class AnalysisSettings:
    """What an association analysis was run with.

    Attributes
    ----------
    instrument : str
        The score's instrument, as a reader should see it ("Beck Depression Inventory (BDI-II)").
    covariates : sequence of str
        Covariate columns controlled for.
    method : {"pearson", "spearman", "mixedlm", "permutation"}
    correction : str
        The multiple-comparison correction's name ("Benjamini-Hochberg FDR", "no correction").
    alpha : float
        Level of significance on the adjusted p.
    n_videos, n_patients : int
        Visits and patients analysed.
    feature : {"mean", "rate", "sd", "emotion_mean", "emotion_sd"}
        The per-visit AU feature (or emotion feature, py-feat runs).
    backends : sequence of (backend, version)
        Extraction backends of the analysed visits.
    segment_label : str, optional
        Only frames inside segments with this label were analysed.
    visits_inside_segments : int
        Analysed visits whose extraction run covered only the frames inside
        their marked segments (the result's provenance,
        ``visits_extracted_inside_segments``; see :func:`with_result_scope`).
    permutations : int
        Permutations (method ``"permutation"`` only).
    n_aus : int
        Action Units tested (the family size of the correction).
    dropped_covariates : sequence of str
        Covariates of ``covariates`` that adjusted for nothing (constant or
        collinear among the analysed visits; the result's
        ``attrs["dropped_covariates"]``): named as dropped, not as controlled for.
    """

    instrument: str
    covariates: Sequence[str]
    method: str
    correction: str
    alpha: float
    n_videos: int
    n_patients: int
    feature: str = "mean"
    backends: Sequence[tuple[str, str | None]] = field(default_factory=tuple)
    segment_label: str | None = None
    visits_inside_segments: int = 0
    permutations: int = 1000
    n_aus: int = 20
    dropped_covariates: Sequence[str] = ()


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


#: How a covariate column reads in a sentence.
_COVARIATE_WORDS: dict[str, str] = {
    "age": "age",
    "sex": "sex",
    "camera": "camera",
    "medication": "medication",
    "repeat_visit": "whether the visit was a repeat visit",
}

_VERSION = re.compile(r"\d+(?:\.\d+)+[\w.+-]*")
_SHA = re.compile(r"sha256\s+([0-9a-f]{6,})")
#: py-feat's model names as its documentation writes them.
_PYFEAT_MODELS = {
    "retinaface": "RetinaFace face detection",
    "img2pose": "img2pose face detection",
    "mobilefacenet": "MobileFaceNet landmarks",
    "mobilenet": "MobileNet landmarks",
    "pfld": "PFLD landmarks",
    "xgb": "XGBoost AU classifiers",
    "svm": "SVM AU classifiers",
    "resmasknet": "ResMaskNet emotions",
}


def covariate_words(name: str) -> str:
    """How a covariate column reads in the methods text: ``repeat_visit`` -> "whether the visit was a repeat visit"."""
    return _COVARIATE_WORDS.get(name, name.replace("_", " "))


def _backend_name(backend: str, version: str | None) -> str:
    """One backend as a methods section names it: the model and the library with its version."""
    text = (version or "").strip()
    number = _VERSION.search(text)
    if backend == "mediapipe":
        library = f"mediapipe {number[0]}" if number else "mediapipe"
        sha = _SHA.search(text)
        model = f", model face_landmarker.task, sha256 {sha[1]}" if sha else ""
        return f"the MediaPipe Face Landmarker's blendshapes ({library}{model})"
    if backend == "pyfeat":
        library = f"py-feat {number[0]}" if number else "py-feat"
        models = [_PYFEAT_MODELS[m] for m in re.findall(r"[a-z0-9]+", text.lower()) if m in _PYFEAT_MODELS]
        return f"py-feat ({library}{'; ' + ', '.join(models) if models else ''})"
    if not text:
        return backend
    # A version that already names its library ("tool 1.2") is not prefixed with the name again.
    return text if text.lower().startswith(backend.lower()) else f"{backend} {text}"


def _backend_phrase(backends: Sequence[tuple[str, str | None]]) -> str:
    if not backends:
        return "an unrecorded backend"
    named = []
    for backend, version in backends:
        if backend == "synthetic":
            named.append("the synthetic demo generator (no video analysed)")
        else:
            named.append(_backend_name(str(backend), None if version is None else str(version)))
    return _join(sorted(set(named)))


def _unmeasured(backends: Sequence[tuple[str, str | None]]) -> list[str]:
    """A sentence per backend that does not measure some AUs, saying where those AUs' values came from."""
    names = sorted({str(b) for b, _ in backends})
    sentences = []
    for backend in names:
        absent = _absent_aus(backend)
        if not absent:
            continue
        others = [b for b in names if b != backend and not set(absent) & set(_absent_aus(b))]
        source = (
            f", and their values came only from the visits of {_join([_SHORT_NAMES.get(b, b) for b in others])}"
            if others
            else ""
        )
        name = _SHORT_NAMES.get(backend, backend)
        sentences.append(
            f"{name[:1].upper() + name[1:]} does not measure {_join(absent)}: these AUs are missing for the visits"
            f" it analysed{source}."
        )
    return sentences


#: A backend as a sentence names it after the first mention.
_SHORT_NAMES: dict[str, str] = {
    "mediapipe": "the MediaPipe Face Landmarker",
    "pyfeat": "py-feat",
    "synthetic": "the synthetic demo generator",
}


def _absent_aus(backend: str) -> list[str]:
    """The study AUs ``backend`` does not measure (none for a backend this version does not know).

    MediaPipe's are :func:`facs_core.offline_aus.absent_aus` (what its backend
    class reports), read without importing the backend and its model library.
    """
    if backend != "mediapipe":
        return []
    from facs_core.offline_aus import absent_aus

    return sorted(absent_aus())


def _window(settings: AnalysisSettings) -> str:
    """Which frames the features came from; a visit extracted inside its segments only has no others."""
    inside = min(max(int(settings.visits_inside_segments), 0), settings.n_videos)
    if settings.segment_label:
        text = f' inside the segments labelled "{settings.segment_label}"'
        if inside:
            text += (
                f" (for {inside} of {count(settings.n_videos, 'visit')}, only the parts of those segments covered"
                " by the visit's extraction, which was restricted to other marked segments)"
            )
        return text
    if not inside:
        return " over the whole recording"
    if inside == settings.n_videos:
        return (
            " inside the marked segments of each visit (every visit's extraction covered only the frames inside its"
            " marked segments)"
        )
    return (
        f" over the whole recording, or inside marked segments for {inside} of {count(settings.n_videos, 'visit')}"
        " (whose extraction covered only the frames inside those segments)"
    )


def methods_paragraph(settings: AnalysisSettings, software_version: str = __version__) -> str:
    """The methods paragraph for ``settings``, in the past tense, ready to paste.

    Raises
    ------
    InputError
        An unknown method or feature, or an analysis without visits.
    """
    if settings.method not in _METHOD_SENTENCES:
        known = ", ".join(_METHOD_SENTENCES)
        raise InputError(f"methods text: unknown method {settings.method!r}; use one of {known}")
    if settings.feature not in _FEATURE_SENTENCES:
        known = ", ".join(_FEATURE_SENTENCES)
        raise InputError(f"methods text: unknown feature {settings.feature!r}; use one of {known}")
    if settings.n_videos < 1:
        raise InputError("methods text: the analysis used no visits")
    window = _window(settings)
    adjusted = [c for c in settings.covariates if c not in set(settings.dropped_covariates)]
    dropped = [c for c in settings.covariates if c in set(settings.dropped_covariates)]
    controlling = f", controlling for {_join([covariate_words(c) for c in adjusted])}" if adjusted else ""
    sentences = [
        f"Facial Action Units (AUs) were measured frame by frame with {_backend_phrase(settings.backends)}"
        f" using the FACS interview dashboard (facs_core {software_version}).",
        *_unmeasured(settings.backends),
        f"For each of {count(settings.n_videos, 'visit')} from {count(settings.n_patients, 'patient')} and each"
        f" of {count(settings.n_aus, 'AU')}, the per-visit feature was {_FEATURE_SENTENCES[settings.feature]}"
        f"{window}.",
        _METHOD_SENTENCES[settings.method].format(
            instrument=settings.instrument, controlling=controlling, permutations=settings.permutations
        ),
    ]
    if dropped:
        words = _join([covariate_words(c) for c in dropped])
        sentences.append(
            f"{words[:1].upper() + words[1:]} {'was' if len(dropped) == 1 else 'were'} chosen as"
            f" {'a covariate' if len(dropped) == 1 else 'covariates'} but dropped: constant among the analysed"
            " visits or collinear with the other covariates, adding no adjustment."
        )
    if settings.correction.lower().startswith("no correction"):
        sentences.append(f"P-values were not corrected for multiple comparisons; alpha was {settings.alpha:g}.")
    else:
        sentences.append(
            f"P-values were corrected across the {count(settings.n_aus, 'AU')} with the {settings.correction}"
            f" procedure, and associations with an adjusted p below {settings.alpha:g} were called significant."
        )
    return " ".join(sentences)


def settings_from_mapping(values: Mapping) -> AnalysisSettings:
    """:class:`AnalysisSettings` from a plain mapping (as a page keeps it in its session)."""
    known = AnalysisSettings.__dataclass_fields__
    return AnalysisSettings(**{key: value for key, value in values.items() if key in known})


def with_result_scope(settings: AnalysisSettings, provenance: Mapping | None) -> AnalysisSettings:
    """``settings`` with the frame scope a result's provenance records (visits extracted inside segments only).

    The Cohort statistics page keeps the settings and the result of one
    analysis; the result's provenance
    (:func:`facs_core.services.analysis.cohort_statistics`) knows how many of
    its visits were extracted inside their marked segments only.
    """
    inside = (provenance or {}).get("visits_extracted_inside_segments")
    if inside is None:
        return settings
    return replace(settings, visits_inside_segments=int(inside))
