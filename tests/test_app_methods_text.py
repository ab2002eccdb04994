"""The methods paragraph says what the analysis settings were, and refuses settings it cannot word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facs_core.errors import InputError
from facs_core.methods_text import AnalysisSettings, covariate_words, methods_paragraph, settings_from_mapping

COVARIATES = ("age", "sex", "camera", "medication", "repeat_visit")


def _settings(**changes) -> AnalysisSettings:
    values = dict(
        instrument="Patient Health Questionnaire (PHQ-9)",
        covariates=("age", "sex"),
        method="pearson",
        correction="Benjamini-Hochberg FDR",
        alpha=0.05,
        n_videos=58,
        n_patients=29,
        backends=(("mediapipe", "0.10.14"),),
    )
    values.update(changes)
    return AnalysisSettings(**values)


@given(
    covariates=st.lists(st.sampled_from(COVARIATES), unique=True, max_size=5),
    method=st.sampled_from(["pearson", "spearman", "mixedlm", "permutation"]),
    n_videos=st.integers(1, 10_000),
    n_patients=st.integers(1, 10_000),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_paragraph_names_every_setting(covariates, method, n_videos, n_patients, alpha) -> None:
    text = methods_paragraph(
        _settings(covariates=tuple(covariates), method=method, n_videos=n_videos, n_patients=n_patients, alpha=alpha),
        software_version="9.9.9",
    )
    visits = f"{n_videos} visit{'s' if n_videos != 1 else ''}"
    patients = f"{n_patients} patient{'s' if n_patients != 1 else ''}"
    assert f"{visits} from {patients}" in text
    assert "Patient Health Questionnaire (PHQ-9)" in text
    assert "mediapipe 0.10.14" in text and "facs_core 9.9.9" in text
    assert f"{alpha:g}" in text
    for covariate in covariates:
        assert covariate_words(covariate) in text
    assert "_" not in text.replace("face_landmarker.task", "").replace("facs_core", "")  # no column names as prose
    assert ("controlling for" in text) == bool(covariates)
    assert ("mixed model" in text) == (method == "mixedlm")
    assert ("permutations of whole patients" in text) == (method == "permutation")


def test_no_correction_is_said_plainly() -> None:
    text = methods_paragraph(_settings(correction="no correction"))
    assert "not corrected for multiple comparisons" in text
    assert "Benjamini" not in text


def test_segments_and_synthetic_backend_are_stated() -> None:
    text = methods_paragraph(_settings(segment_label="depressive symptoms (SCID)", backends=(("synthetic", "0.1.0"),)))
    assert 'segments labelled "depressive symptoms (SCID)"' in text
    assert "synthetic demo generator" in text


@pytest.mark.parametrize("changes", [{"method": "anova"}, {"feature": "median"}, {"n_videos": 0}])
def test_unwordable_settings_are_refused_in_one_line(changes) -> None:
    with pytest.raises(InputError) as caught:
        methods_paragraph(_settings(**changes))
    assert "\n" not in str(caught.value)


def test_settings_from_a_session_mapping_ignore_unknown_keys() -> None:
    settings = settings_from_mapping(
        {
            "instrument": "BDI",
            "covariates": [],
            "method": "spearman",
            "correction": "Bonferroni",
            "alpha": 0.05,
            "n_videos": 10,
            "n_patients": 5,
            "unknown": 1,
        }
    )
    assert settings.method == "spearman" and settings.n_videos == 10


def test_backends_are_named_as_a_paper_names_them_once() -> None:
    text = methods_paragraph(
        _settings(
            backends=(
                ("mediapipe", "mediapipe 0.10.14; face_landmarker.task sha256 64184e229b26"),
                ("pyfeat", "py-feat 0.6.2 Detectorv1 retinaface/mobilefacenet/xgb/resmasknet"),
            ),
            covariates=("age", "repeat_visit"),
            n_videos=1,
            n_patients=1,
        )
    )
    assert "mediapipe mediapipe" not in text and "py-feat py-feat" not in text
    assert (
        "MediaPipe Face Landmarker's blendshapes (mediapipe 0.10.14, model face_landmarker.task, sha256 64184e229b26)"
        in text
    )
    assert "RetinaFace face detection, MobileFaceNet landmarks, XGBoost AU classifiers, ResMaskNet emotions" in text
    assert "controlling for age and whether the visit was a repeat visit" in text and "repeat_visit" not in text
    assert "For each of 1 visit from 1 patient and each of 20 AUs" in text


def test_only_adjusted_covariates_are_said_controlled_for_and_dropped_ones_are_named() -> None:
    text = methods_paragraph(
        _settings(covariates=("age", "sex", "medication", "repeat_visit"), dropped_covariates=("medication",))
    )
    assert "controlling for age, sex and whether the visit was a repeat visit," in text, text
    assert "Medication was chosen as a covariate but dropped" in text, text


def test_aus_a_backend_does_not_measure_are_named_with_where_their_values_came_from() -> None:
    both = methods_paragraph(_settings(backends=(("mediapipe", "0.10.14"), ("synthetic", "0.1.0"))))
    assert (
        "The MediaPipe Face Landmarker does not measure AU06, AU09, AU11 and AU23: these AUs are missing for the"
        " visits it analysed, and their values came only from the visits of the synthetic demo generator." in both
    ), both
    alone = methods_paragraph(_settings())
    assert "does not measure AU06, AU09, AU11 and AU23: these AUs are missing for the visits it analysed." in alone
    assert "does not measure" not in methods_paragraph(_settings(backends=(("synthetic", "0.1.0"),)))
