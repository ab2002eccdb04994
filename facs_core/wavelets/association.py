"""The AU x scale association map: each wavelet feature against a clinical score.

:func:`associate_scales` relates :class:`~facs_core.wavelets.features.WaveletFeatures`
to a score with the study's partial-correlation engine
(:func:`facs_core.stats.associate`); :func:`scale_association` runs the whole
chain from a frames table, as ``python -m facs_core stats scalogram`` does.
The options of each stage are one object: :class:`AssociationParams` for the
statistics, :class:`~facs_core.wavelets.features.WaveletParams` for the transform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facs_core import wording
from facs_core.docstrings import fill_doc
from facs_core.errors import InputError
from facs_core.wavelets.features import WaveletFeatures, WaveletParams, rhythm_label, wavelet_features

__all__ = [
    "FDR_SCOPES",
    "SCALE_RESULT_COLUMNS",
    "AssociationParams",
    "associate_scales",
    "period_association",
    "scale_association",
]

#: The first columns of the (AU, scale) result table, in order (the CLI contract).
SCALE_RESULT_COLUMNS: tuple[str, ...] = (
    "au",
    "scale",
    "n",
    "r",
    "p",
    "p_fdr",
    "significant",
    "period_s",
    "frequency_hz",
)

#: Where the multiple-comparison family is: every AU x scale cell, or each AU's scales.
FDR_SCOPES: tuple[str, ...] = ("all", "au")


@dataclass(frozen=True)
class AssociationParams:
    """How wavelet features are related to a clinical score.

    Attributes
    ----------
    score : str
        Score column, e.g. ``"bdi"``.
    covariates : tuple of str
        Covariate columns (default none).
    method : {"pearson", "spearman"}
        Partial correlation on the values or on their ranks.
    fdr : {"bh", "by", "bonferroni", "none"}
        Multiple-comparison correction.
    fdr_scope : {"all", "au"}
        The family corrected together: every AU x scale cell, or each AU's scales.
    alpha : float
        Level for ``significant`` (on the adjusted p).
    """

    score: str
    covariates: tuple[str, ...] = ()
    method: str = "pearson"
    fdr: str = "bh"
    fdr_scope: str = "all"
    alpha: float = 0.05

    def __post_init__(self) -> None:
        covariates = (self.covariates,) if isinstance(self.covariates, str) else self.covariates
        object.__setattr__(self, "covariates", tuple(str(c) for c in covariates))


def associate_scales(
    features: WaveletFeatures, clinical: pd.DataFrame, params: AssociationParams, data_source: str = "both"
) -> pd.DataFrame:
    """Partial correlation of every (AU, scale) feature with the score.

    Runs :func:`facs_core.stats.partial_corr.associate` (the study's engine:
    pingouin's partial correlation, validated to 1e-9) on all AU x scale
    columns at once, with the multiple-comparison correction over all cells
    (``fdr_scope="all"``, the default) or within each AU's scales
    (``fdr_scope="au"``).

    Parameters
    ----------
    features : WaveletFeatures
        From :func:`~facs_core.wavelets.features.wavelet_features`.
    clinical : DataFrame
        ``video_id``, ``patient_id``, the score and the covariates.
    params : AssociationParams
        Score, covariates, method, correction, its scope and the level.
    data_source : str
        The data-source filter that chose ``clinical``'s visits (provenance only).

    Returns
    -------
    DataFrame
        One row per (AU, scale): :data:`SCALE_RESULT_COLUMNS`, then ``ci_low,
        ci_high, support_frames, support_s, above_nyquist, n_short,
        n_no_frames, n_unresolved, method, correction, fdr_scope, measure,
        wavelet, reason, rhythm`` (``rhythm`` reads like "0.70 s rhythm
        (1.43 Hz)") and the provenance columns
        (:data:`facs_core.stats.provenance.PROVENANCE_COLUMNS`).
        ``n_short`` counts the videos left out of the cell because every
        piece was shorter than the wavelet support, ``n_unresolved`` those
        whose frame rate cannot resolve the period (below two frames: with
        :class:`~facs_core.wavelets.periods.PeriodFeatures` per video, and
        ``scale`` is empty, each video having its own; with scales in frames
        at one rate every video of an ``above_nyquist`` scale, whose cells
        are then empty, never computed on aliased data); ``reason`` says so and why r is
        empty where it is. ``attrs["notes"]`` lists videos left out for
        clinical reasons, ``attrs["provenance"]`` the provenance block.

    Examples
    --------
    Eight videos whose 0.7 s AU12 rhythm grows with the BDI score: every
    feature is proportional to the amplitude, so r is 1 at every scale:

    >>> import pandas as pd
    >>> from facs_core.datasets import rhythm_video
    >>> from facs_core.wavelets import wavelet_features
    >>> bdi = [2, 5, 9, 14, 20, 26, 31, 40]
    >>> frames = pd.concat([rhythm_video(f"v{i}", 30, amplitude=0.01 * score) for i, score in enumerate(bdi)])
    >>> clinical = pd.DataFrame({"video_id": [f"v{i}" for i in range(8)],
    ...                          "patient_id": [f"p{i}" for i in range(8)], "bdi": bdi,
    ...                          "age": [30, 42, 25, 51, 38, 47, 29, 60]})
    >>> features = wavelet_features(frames, 30.0, scales=[10, 21, 40])
    >>> result = associate_scales(features, clinical, AssociationParams("bdi", covariates=("age",)))
    >>> result[["au", "scale", "n", "r", "significant", "rhythm"]].round(6)
         au  scale  n    r  significant                   rhythm
    0  AU12   10.0  8  1.0         True     0.33 s rhythm (3 Hz)
    1  AU12   21.0  8  1.0         True  0.70 s rhythm (1.43 Hz)
    2  AU12   40.0  8  1.0         True  1.33 s rhythm (0.75 Hz)
    """
    # Imported here so that drawing a scalogram (the patient view) does not load the statistics.
    from facs_core.clinical import validate_clinical
    from facs_core.stats.partial_corr import associate, prepare
    from facs_core.stats.provenance import attach_provenance, inputs_hash, software_versions

    score, covariates, fdr_scope = params.score, list(params.covariates), params.fdr_scope
    scope = (fdr_scope or "").strip().lower()
    if scope not in FDR_SCOPES:
        raise InputError(f"unknown FDR scope {fdr_scope!r}; use 'all' (every AU x scale cell) or 'au' (per AU)")
    wide = features.wide()
    n_scales = features.scales.shape[0]
    # A scale whose period is below two frames (frames at one rate: every video shares that rate) is
    # not resolved, as on the rate-free map: every video is left out of its cells, none computed on
    # aliased data.
    aliased = _aliased(features)
    if aliased.any():
        wide = wide.copy()
        wide.iloc[:, np.tile(aliased, len(features.aus))] = np.nan
    groups = [au for au in features.aus for _ in range(n_scales)] if scope == "au" else None
    table = associate(
        wide, clinical, score, covariates, method=params.method, fdr=params.fdr, alpha=params.alpha, fdr_groups=groups
    )

    checked = validate_clinical(clinical, score, covariates)
    analysed = checked.loc[checked[[score, *covariates]].notna().all(axis=1), "video_id"].astype(str)
    in_clinical = np.isin(features.video_ids, analysed.to_numpy())
    reasons = features.reasons()[in_clinical]
    text = reasons.astype(str)
    short = np.char.startswith(text, "every piece shorter").sum(axis=0).ravel()
    no_frames = (reasons == "no valid frames").sum(axis=0).ravel()
    unresolved = np.char.startswith(text, "period below two frames").sum(axis=0).ravel()
    if aliased.any():
        measured = (text == "").sum(axis=0).ravel()
        unresolved = np.where(np.tile(aliased, len(features.aus)), unresolved + measured, unresolved)

    scales = features.scales
    result = pd.DataFrame(
        {
            "au": np.repeat(features.aus, n_scales),
            "scale": np.tile(scales["scale"].to_numpy(), len(features.aus)),
            "n": table["n"].to_numpy(),
            "r": table["r"].to_numpy(),
            "p": table["p"].to_numpy(),
            "p_fdr": table["p_fdr"].to_numpy(),
            "significant": table["significant"].array,
            "period_s": np.tile(scales["period_s"].to_numpy(), len(features.aus)),
            "frequency_hz": np.tile(scales["frequency_hz"].to_numpy(), len(features.aus)),
            "ci_low": table["ci_low"].to_numpy(),
            "ci_high": table["ci_high"].to_numpy(),
            "support_frames": np.tile(scales["support_frames"].to_numpy(), len(features.aus)),
            "support_s": np.tile(scales["support_s"].to_numpy(), len(features.aus)),
            "above_nyquist": np.tile(scales["above_nyquist"].to_numpy(), len(features.aus)),
            "n_short": short,
            "n_no_frames": no_frames,
            "n_unresolved": unresolved,
            "method": table["method"].to_numpy(),
            "correction": table["correction"].to_numpy(),
            "fdr_scope": "per AU"
            if scope == "au"
            else f"all AU x {'period' if _by_period(features) else 'scale'} cells",
            "measure": ("mean |W|^2" if features.power else "mean |W|")
            + (" (seconds: x sqrt(dt) per video)" if _by_period(features) else ""),
            "wavelet": features.wavelet,
        }
    )
    result["reason"] = [
        "; ".join(
            part
            for part in (
                _short_reason(s, f, t),
                f"{wording.count(z, 'video')} left out: no valid frames" if z else "",
                f"{wording.count(u, 'video')} left out: period below two frames of their frame rate" if u else "",
                str(engine or ""),
            )
            if part
        )
        for s, f, t, z, u, engine in zip(
            short,
            result["support_frames"],
            result["support_s"],
            no_frames,
            unresolved,
            table["reason"],
            strict=True,
        )
    ]
    result["rhythm"] = [
        rhythm_label(period, frequency)
        for period, frequency in zip(result["period_s"], result["frequency_hz"], strict=True)
    ]
    prepared = prepare(wide.reset_index(), clinical, score, covariates)
    info = {
        "analysis": "scalogram significance map",
        "score": score,
        "feature": result["measure"].iloc[0] if len(result) else "",
        "wavelet": features.wavelet,
        "axis": "periods (s), each video at its own frame rate" if _by_period(features) else "scales (frames)",
        "method": table["method"].iloc[0] if len(table) else params.method,
        "covariates": list(params.covariates),
        "correction": table["correction"].iloc[0] if len(table) else params.fdr,
        "fdr_scope": result["fdr_scope"].iloc[0] if len(result) else scope,
        "n_videos": table.attrs.get("n_videos"),
        "data_source": data_source,
        "software": software_versions(),
        "inputs_sha256": inputs_hash(
            list(prepared.features.index), prepared.features.to_numpy(), prepared.score, prepared.design
        ),
    }
    out = attach_provenance(result, info, (table["n"] - 2 - table["k"]).to_numpy(dtype=float))
    out.attrs["notes"] = table.attrs.get("notes", [])
    out.attrs["n_videos"] = table.attrs.get("n_videos")
    out.attrs["video_ids"] = list(prepared.features.index)
    return out


def _aliased(features: WaveletFeatures) -> np.ndarray:
    """Per scale: True where its frequency is above the Nyquist limit (scales in frames at one rate only)."""
    scales = features.scales
    if "above_nyquist" not in scales.columns or _by_period(features):
        return np.zeros(scales.shape[0], dtype=bool)
    return scales["above_nyquist"].fillna(False).to_numpy(dtype=bool)


def _by_period(features: WaveletFeatures) -> bool:
    return bool(features.scales["scale"].isna().all())


def _short_reason(count: int, frames: float, seconds: float) -> str:
    if not count:
        return ""
    videos = wording.count(count, "video")
    if np.isfinite(frames):
        return f"{videos} left out: shorter than the wavelet support ({int(frames)} frames, {seconds:.1f} s)"
    return f"{videos} left out: shorter than the wavelet support (up to {seconds:.1f} s at this period)"


@fill_doc
def scale_association(
    frames: pd.DataFrame,
    clinical: pd.DataFrame,
    fps: float,
    params: AssociationParams,
    wavelet_params: WaveletParams | None = None,
    segments: pd.DataFrame | None = None,
    workers: int | None = None,
    data_source: str = "both",
) -> pd.DataFrame:
    """The AU x scale significance map, from frames to the result table.

    :func:`~facs_core.wavelets.features.wavelet_features` then
    :func:`associate_scales`; see those for the definitions. This is what
    ``python -m facs_core stats scalogram`` runs.

    Parameters
    ----------
    %(frames)s
    clinical : DataFrame
        ``video_id``, ``patient_id``, the score and the covariates.
    %(fps)s
    params : AssociationParams
        Score, covariates, method, correction, its scope and the level.
    wavelet_params : WaveletParams, optional
        Scales, wavelet, measure, maximum gap and precision (default: the study's).
    %(segments)s
    %(workers)s

    Returns
    -------
    DataFrame
        See :func:`associate_scales`.

    Examples
    --------
    As for :func:`associate_scales`, from the frames in one call:

    >>> import pandas as pd
    >>> from facs_core.datasets import rhythm_video
    >>> bdi = [2, 5, 9, 14, 20, 26, 31, 40]
    >>> frames = pd.concat([rhythm_video(f"v{i}", 30, amplitude=0.01 * score) for i, score in enumerate(bdi)])
    >>> clinical = pd.DataFrame({"video_id": [f"v{i}" for i in range(8)],
    ...                          "patient_id": [f"p{i}" for i in range(8)], "bdi": bdi})
    >>> result = scale_association(frames, clinical, 30.0, AssociationParams("bdi"), WaveletParams(scales=(21,)))
    >>> result[["au", "scale", "r", "rhythm"]].round(6)
         au  scale    r                   rhythm
    0  AU12   21.0  1.0  0.70 s rhythm (1.43 Hz)
    """
    wavelet_params = wavelet_params or WaveletParams()
    features = wavelet_features(
        frames,
        fps,
        wavelet_params.scales,
        wavelet_params.wavelet,
        segments=segments,
        power=wavelet_params.power,
        max_gap_s=wavelet_params.max_gap_s,
        precision=wavelet_params.precision,
        workers=workers,
    )
    return associate_scales(features, clinical, params, data_source)


@fill_doc
def period_association(
    frames: pd.DataFrame,
    clinical: pd.DataFrame,
    rates: Mapping[str, float] | float | None,
    params: AssociationParams,
    periods: Sequence[float],
    wavelet_params: WaveletParams | None = None,
    segments: pd.DataFrame | None = None,
    workers: int | None = None,
    data_source: str = "both",
) -> pd.DataFrame:
    """The AU x period significance map, each video at its own frame rate (the rate-free map).

    :func:`~facs_core.wavelets.periods.period_features` then
    :func:`associate_scales`; what ``python -m facs_core stats scalogram
    --periods`` runs.

    Parameters
    ----------
    %(frames)s
    clinical : DataFrame
        ``video_id``, ``patient_id``, the score and the covariates.
    rates : mapping of video id to fps, float or None
        Each video's frame rate (None: read from the timestamps).
    params : AssociationParams
    periods : sequence of float
        Periods in seconds.
    wavelet_params : WaveletParams, optional
        Wavelet, measure, maximum gap and precision (its scales are not used).
    %(segments)s
    %(workers)s
    data_source : str
        The data-source filter that chose ``clinical`` (provenance only).

    Examples
    --------
    Eight videos, half at 10 and half at 30 fps, whose 0.7 s AU12 rhythm grows with the score:

    >>> import pandas as pd
    >>> from facs_core.datasets import rhythm_video
    >>> bdi = [2, 5, 9, 14, 20, 26, 31, 40]
    >>> def video(i, score):
    ...     fps = 10.0 if i % 2 else 30.0
    ...     return rhythm_video(f"v{i}", 40, fps, amplitude=0.01 * score)
    >>> frames = pd.concat([video(i, score) for i, score in enumerate(bdi)])
    >>> clinical = pd.DataFrame({"video_id": [f"v{i}" for i in range(8)],
    ...                          "patient_id": [f"p{i}" for i in range(8)], "bdi": bdi})
    >>> result = period_association(frames, clinical, None, AssociationParams("bdi"), [0.15, 0.7])
    >>> result[["au", "period_s", "n", "n_unresolved", "r"]].round(3)
         au  period_s  n  n_unresolved    r
    0  AU12      0.15  4             4  1.0
    1  AU12      0.70  8             0  1.0
    """
    from facs_core.wavelets.periods import period_features

    wavelet_params = wavelet_params or WaveletParams()
    features = period_features(
        frames,
        rates,
        periods,
        wavelet_params.wavelet,
        segments=segments,
        power=wavelet_params.power,
        max_gap_s=wavelet_params.max_gap_s,
        precision=wavelet_params.precision,
        workers=workers,
    )
    return associate_scales(features, clinical, params, data_source)
