"""Continuous wavelet transform of AU series: scalograms and per-scale features.

Each AU series (see :mod:`facs_core.series` for segments and face gaps) is
decomposed with a continuous wavelet transform, by default PyWavelets' complex
Morlet ``cmor1.5-1.0``,

.. math::

    \\psi(t) = \\frac{1}{\\sqrt{\\pi B}}\\, e^{-t^2/B}\\, e^{i 2\\pi C t},
    \\qquad W(s, \\tau) = \\frac{1}{\\sqrt{s}} \\int x(t)\\,
    \\overline{\\psi\\!\\left(\\frac{t-\\tau}{s}\\right)}\\, dt

(bandwidth :math:`B = 1.5`, centre frequency :math:`C = 1.0`). The scalogram
is :math:`|W|`. The per-video, per-AU, per-scale feature is the mean over time
of :math:`|W|` of the mean-removed series (or of :math:`|W|^2`, "power").

**Exactness.** :func:`cwt` reproduces :func:`pywt.cwt` sample for sample, not
the analytic Morlet: PyWavelets integrates the wavelet on ``2**precision``
points, resamples that integral at each scale, convolves, and differentiates
(``np.diff``) the result, then trims it to the input length. Here the
difference is folded into the filter (``-sqrt(s) * diff([0, h, 0])``) and the
trim into a circular shift of it, so one FFT of a batch of series, a product
with precomputed filter spectra and one inverse FFT per scale give the same
numbers (validated against a per-series ``pywt.cwt`` loop to 1e-9 relative in
``tests/test_wavelets_transform.py``). Batches are chunked over series and
scales so memory stays below a fixed budget however long the interview.

**Edges.** PyWavelets zero-pads. A piece shorter than the wavelet's support at
a scale (the length of PyWavelets' discretised wavelet there, about
``s * (upper_bound - lower_bound)`` frames) would be dominated by padding, so
it contributes nothing at that scale; when no piece of a video is long enough
the cell is NaN and its ``reason`` says why. It is never computed on padding.

**Scales in clinical units.** Scale ``s`` at ``fps`` frames per second has
frequency ``pywt.scale2frequency(wavelet, s) * fps`` Hz and period its
inverse: at 30 fps, ``cmor1.5-1.0`` scale 21 is a 0.7 s rhythm.

References
----------
Torrence, C. & Compo, G. P. (1998). A practical guide to wavelet analysis.
*Bull. Amer. Meteor. Soc.* 79, 61-78.
Lee, G. R., Gommers, R., Waselewski, F., Wohlfahrt, K. & O'Leary, A. (2019).
PyWavelets: A Python package for wavelet analysis. *JOSS* 4(36), 1237.

The package is three modules, each with one job:

- :mod:`facs_core.wavelets.transform`: the engine (:class:`FilterBank`,
  :func:`cwt`, batched overlap-save sums under a memory budget);
- :mod:`facs_core.wavelets.features`: per-video features and scalograms
  (:func:`wavelet_features`, :class:`WaveletFeatures`, :func:`scalogram`,
  :class:`WaveletParams`);
- :mod:`facs_core.wavelets.association`: the AU x scale map against a score
  (:func:`associate_scales`, :func:`scale_association`, :class:`AssociationParams`).

Parsing the command line's ``--scales`` and ``--fps`` lives with the command
line (:mod:`facs_core.cli.options`).

Examples
--------
A 1 Hz rhythm sampled at 30 fps is strongest near the scale whose period is 1 s:

>>> from facs_core.datasets import rhythm_video
>>> from facs_core.wavelets import scale_table, wavelet_features
>>> fps = 30.0
>>> frames = rhythm_video("v1", seconds=60, fps=fps, period_s=1.0)
>>> features = wavelet_features(frames, fps, scales=[10, 20, 30, 40, 60])
>>> features.values.shape  # (videos, AUs, scales)
(1, 1, 5)
>>> table = scale_table(fps, [10, 20, 30, 40, 60])
>>> round(float(table["period_s"][features.values[0, 0].argmax()]), 2)
1.0
"""

from facs_core.wavelets.association import (
    FDR_SCOPES,
    SCALE_RESULT_COLUMNS,
    AssociationParams,
    associate_scales,
    period_association,
    scale_association,
)
from facs_core.wavelets.features import (
    DEFAULT_MAX_GAP_S,
    Scalogram,
    WaveletFeatures,
    WaveletParams,
    rhythm_label,
    scale_table,
    scalogram,
    wavelet_features,
)
from facs_core.wavelets.periods import (
    DEFAULT_PERIODS,
    PeriodFeatures,
    combine_periods,
    log_periods,
    period_features,
    period_scales,
    split_videos,
)
from facs_core.wavelets.transform import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_PRECISION,
    DEFAULT_SCALES,
    DEFAULT_WAVELET,
    BlockPlan,
    FilterBank,
    continuous_wavelet,
    cwt,
)

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_MAX_GAP_S",
    "DEFAULT_PERIODS",
    "DEFAULT_PRECISION",
    "DEFAULT_SCALES",
    "DEFAULT_WAVELET",
    "FDR_SCOPES",
    "SCALE_RESULT_COLUMNS",
    "AssociationParams",
    "BlockPlan",
    "FilterBank",
    "PeriodFeatures",
    "Scalogram",
    "WaveletFeatures",
    "WaveletParams",
    "associate_scales",
    "combine_periods",
    "continuous_wavelet",
    "cwt",
    "log_periods",
    "period_association",
    "period_features",
    "period_scales",
    "rhythm_label",
    "scale_association",
    "scale_table",
    "scalogram",
    "split_videos",
    "wavelet_features",
]
