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
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pywt

from facs_core.errors import InputError
from facs_core.series import (
    Piece,
    check_frame_rate,
    frame_grid,
    segment_rows,
    split_valid,
    validate_frames,
    validate_segments,
    video_pieces,
)

#: The study's wavelet: complex Morlet, bandwidth 1.5, centre frequency 1.0.
DEFAULT_WAVELET = "cmor1.5-1.0"
#: The study's scales, 1 to 100.
DEFAULT_SCALES: tuple[float, ...] = tuple(float(s) for s in range(1, 101))
#: Longest face gap (seconds) filled by interpolation; longer gaps split the series.
DEFAULT_MAX_GAP_S = 0.5
#: PyWavelets' default wavelet resolution (``2**precision`` points).
DEFAULT_PRECISION = 12
#: Working memory one batch of transforms may use. Measured on bench/wavelets.py
#: part (a), 2 threads: 16 MiB took ~10 % less time than 4 MiB or 32 MiB (the
#: product buffer is reused, so larger batches mainly save per-call overhead).
DEFAULT_BATCH_BYTES = 16 * 2**20

#: Shared parameter documentation (MNE style), filled into docstrings by :func:`_fill_doc`.
_PARAMETER_DOCS: dict[str, str] = {
    "frames": """frames : DataFrame
        Per-frame table: ``video_id``, ``frame``, ``timestamp`` and AU columns
        named like ``AU12`` (values in [0, 1], NaN without a face); an optional
        ``face`` column marks frames without a face.""",
    "fps": """fps : float
        Frame rate of the videos, frames per second. The sampling period of
        the transform is ``1/fps``; it must agree with the timestamps.""",
    "scales": """scales : sequence of float
        Wavelet scales in frames (default 1 to 100).""",
    "wavelet": """wavelet : str
        PyWavelets continuous wavelet name; ``cmorB-C`` is a complex Morlet
        with bandwidth ``B`` and centre frequency ``C`` (default
        ``cmor1.5-1.0``).""",
    "segments": """segments : DataFrame, optional
        Marked segments, ``video_id, start_s, end_s`` (seconds, end exclusive);
        each segment is transformed on its own and features are weighted by
        frames. Without it each video is one segment; videos without a segment
        are left out.""",
    "power": """power : bool
        Average ``|W|**2`` (power) instead of ``|W|`` (modulus).""",
    "max_gap_s": """max_gap_s : float
        Longest run of frames without a value, in seconds, that is filled by
        linear interpolation; longer gaps split the series into pieces that
        are transformed separately (see :mod:`facs_core.series`).""",
    "precision": """precision : int
        PyWavelets' wavelet resolution, ``2**precision`` points (default 12,
        as in :func:`pywt.cwt`).""",
    "workers": """workers : int, optional
        Threads computing batches (default: the number of CPU cores, at most 4).""",
}


def _fill_doc(function: Callable) -> Callable:
    """Put the shared parameter descriptions into ``function``'s docstring."""
    function.__doc__ = (function.__doc__ or "").format(**_PARAMETER_DOCS)
    return function


# --------------------------------------------------------------------------
# Options


_CMOR = re.compile(r"^cmor(?P<bandwidth>\d+(?:\.\d*)?)-(?P<centre>\d+(?:\.\d*)?)$")


def parse_scales(text: str) -> np.ndarray:
    """Scales from the command line: ``1-100``, ``1-100:0.5`` or ``1,2,4,8``.

    A range includes both ends; ``A-B:STEP`` steps by ``STEP``.
    """
    spec = text.strip()
    try:
        if "," in spec or "-" not in spec.lstrip("-"):
            scales = np.array([float(part) for part in spec.split(",") if part.strip()], dtype=float)
        else:
            bounds, _, step_text = spec.partition(":")
            low_text, _, high_text = bounds.partition("-")
            low, high = float(low_text), float(high_text)
            step = float(step_text) if step_text else 1.0
            if step <= 0 or high < low:
                raise ValueError
            count = math.floor((high - low) / step + 1e-9) + 1
            scales = low + step * np.arange(count)
    except ValueError:
        raise InputError(f"scales {text!r} are not a range like 1-100, 1-100:0.5 or a list like 1,2,4,8") from None
    if scales.size == 0 or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise InputError(f"scales {text!r} must be positive numbers")
    return scales


def continuous_wavelet(name: str) -> pywt.ContinuousWavelet:
    """The PyWavelets continuous wavelet called ``name``, or a one-line error.

    A complex Morlet must name its bandwidth and centre frequency
    (``cmorB-C``, both positive): PyWavelets' bare ``cmor`` silently means
    ``cmor1.0-0.5``, which is not the study's wavelet.
    """
    name = str(name).strip()
    if name.startswith("cmor"):
        match = _CMOR.match(name)
        if not match or float(match["bandwidth"]) <= 0 or float(match["centre"]) <= 0:
            raise InputError(
                f"wavelet {name!r} is not a complex Morlet like cmorB-C with positive bandwidth B and"
                " centre frequency C, e.g. cmor1.5-1.0"
            )
    try:
        return pywt.ContinuousWavelet(name)
    except (ValueError, TypeError):
        raise InputError(
            f"wavelet {name!r} is not a PyWavelets continuous wavelet"
            " (for a complex Morlet write cmorB-C, e.g. cmor1.5-1.0)"
        ) from None


def checked_fps(fps: float | None) -> float:
    """``fps`` as a float, or a one-line error when it is missing, zero or negative."""
    if fps is None:
        raise InputError("frame rate (fps) is missing; give the videos' frames per second, e.g. --fps 30")
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"frame rate {fps!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"frame rate must be a positive number of frames per second, not {fps!r}")
    return value


# --------------------------------------------------------------------------
# The filter bank: PyWavelets' discretisation, precomputed once per wavelet and scales


def _fast_length(n: int) -> int:
    """Smallest 5-smooth length (2^a 3^b 5^c) at least ``n``, for complex FFTs.

    What ``scipy.fft.next_fast_len(n, real=True)`` returns (checked in
    ``tests/test_wavelets_transform.py``). Lengths with factors 7 or 11, which
    ``real=False`` also allows, measured 10-25 % slower per point in pocketfft
    on the benchmark machine. Written out because the transforms here use
    ``numpy.fft`` (it writes into a given array; ``scipy.fft`` cannot) and
    importing ``scipy.fft`` for this alone costs a tenth of a second per run.
    """
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()
    power_of_5 = 1
    while power_of_5 < best:
        odd = power_of_5
        while odd < best:
            # The smallest power of two that takes this odd part to at least n.
            best = min(best, odd << (-(-n // odd) - 1).bit_length())
            odd *= 3
        power_of_5 *= 5
    return best


#: Overlap-save blocks are about this many times the longest filter they serve:
#: three quarters of each block is output, and the FFTs stay short.
_BLOCK_FACTOR = 4


@dataclass(frozen=True)
class BlockPlan:
    """How one octave of scales is convolved by overlap-save (see :meth:`FilterBank.block_plans`)."""

    scale_index: np.ndarray
    size: int
    hop: int
    lead: int


class FilterBank:
    """PyWavelets' discretised wavelet at each scale, as convolution filters.

    For scale ``s`` PyWavelets convolves the data with
    ``h = conj(int_psi)[floor(arange(s*(x[-1]-x[0]) + 1) / (s*step))][::-1]``
    (``int_psi`` the wavelet's integral on ``2**precision`` points ``x``),
    takes ``-sqrt(s) * np.diff`` of the full convolution and keeps ``len(data)``
    samples starting at ``floor((len(h) - 2) / 2)``. That equals convolving with
    ``g = -sqrt(s) * diff([0, h, 0])`` and reading from ``offset =
    floor((len(h) - 2) / 2) + 1``; :meth:`spectra` stores ``g`` circularly
    shifted by ``-offset`` so that the output starts at sample 0.

    Parameters
    ----------
    wavelet : str
        PyWavelets continuous wavelet name.
    scales : sequence of float
        Scales in samples.
    precision : int
        As in :func:`pywt.cwt`.
    """

    _SPECTRA_KEPT = 4
    _BLOCK_SPECTRA_KEPT = 64

    def __init__(self, wavelet: str, scales: Sequence[float], precision: int = DEFAULT_PRECISION) -> None:
        self.wavelet_name = wavelet
        self.wavelet = continuous_wavelet(wavelet)
        self.scales = np.asarray(scales, dtype=float)
        if self.scales.ndim != 1 or self.scales.size == 0 or np.any(self.scales <= 0):
            raise InputError("scales must be a non-empty list of positive numbers")
        self.precision = int(precision)
        int_psi, x = pywt.integrate_wavelet(self.wavelet, precision=self.precision)
        int_psi = np.conj(int_psi) if self.wavelet.complex_cwt else int_psi
        int_psi = np.asarray(int_psi, dtype=np.complex128)
        step = x[1] - x[0]
        filters, offsets = [], []
        for scale in self.scales:
            j = (np.arange(scale * (x[-1] - x[0]) + 1) / (scale * step)).astype(int)
            j = j[j < int_psi.size]
            h = int_psi[j][::-1]
            if h.size < 2:
                raise InputError(f"scale {scale:g} is too small for wavelet {wavelet} (below one sample)")
            filters.append(-np.sqrt(scale) * np.diff(np.concatenate(([0], h, [0]))))
            offsets.append((h.size - 2) // 2 + 1)
        self._filters = filters
        self._offsets = np.asarray(offsets)
        #: Support of the discretised wavelet at each scale, in samples.
        self.support = np.asarray([g.size - 1 for g in filters])
        self._spectra: OrderedDict[int, np.ndarray] = OrderedDict()
        self._block_spectra: OrderedDict[tuple[int, int, int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def complex_output(self) -> bool:
        """Whether the transform is complex (it is for complex Morlet)."""
        return bool(self.wavelet.complex_cwt)

    def fft_size(self, n_samples: int, scale_index: np.ndarray | None = None) -> int:
        """FFT length for series of ``n_samples`` with no circular wrap-around."""
        support = self.support if scale_index is None else self.support[scale_index]
        return _fast_length(int(n_samples) + int(support.max()))

    def spectra(self, size: int) -> np.ndarray:
        """Shifted filter spectra for FFT length ``size``, shape (scales, size)."""
        with self._lock:
            cached = self._spectra.get(size)
            if cached is not None:
                self._spectra.move_to_end(size)
                return cached
        padded = np.zeros((self.scales.size, size), dtype=np.complex128)
        fits = np.array([g.size <= size for g in self._filters])
        for row, (g, offset) in enumerate(zip(self._filters, self._offsets, strict=True)):
            if fits[row]:
                padded[row, : g.size] = g
                padded[row] = np.roll(padded[row], -offset)
        spectra = np.fft.fft(padded, axis=-1, out=padded)
        # A filter longer than the FFT would wrap around: make any use of it loud.
        spectra[~fits] = np.nan
        with self._lock:
            self._spectra[size] = spectra
            while len(self._spectra) > self._SPECTRA_KEPT:
                self._spectra.popitem(last=False)
        return spectra

    def block_plans(self, n_samples: int) -> list[BlockPlan]:
        """Overlap-save plans for series of ``n_samples``: one per octave of filter length.

        Within a plan every filter has at most ``k`` taps; blocks of ``size``
        samples (``_BLOCK_FACTOR * k`` rounded up to a fast FFT length, or the
        whole padded series if shorter) advance by ``hop = size - k + 1`` and
        the series is preceded by ``lead = ceil((k - 1) / 2)`` zeros. A
        filter's spectrum is shifted by its PyWavelets offset plus ``lead``, so
        samples ``[0, hop)`` of each block's circular convolution are outputs
        ``[j * hop, (j + 1) * hop)`` of the trimmed transform, none wrapped.
        When one block over the whole series is cheaper it is used instead,
        with no lead and just enough padding that nothing wraps around.
        Only scales whose support fits in ``n_samples`` are planned.
        """
        usable = np.flatnonzero(self.support <= n_samples)
        taps = self.support[usable] + 1
        octave = np.floor(np.log2(taps)).astype(int)
        plans = []
        for value in np.unique(octave):
            index = usable[octave == value]
            k = int(self.support[index].max()) + 1
            size = _fast_length(_BLOCK_FACTOR * k)
            blocks = -(-n_samples // (size - k + 1))
            # One block over the whole series needs, per filter of K taps read from
            # offset o, only n + K - 1 - o (and o + n) samples to avoid wrap-around.
            taps, offsets = self.support[index] + 1, self._offsets[index]
            whole = _fast_length(int(max((n_samples + taps - 1 - offsets).max(), (offsets + n_samples).max())))
            if whole * math.log2(whole) <= blocks * size * math.log2(size):
                plans.append(BlockPlan(scale_index=index, size=whole, hop=n_samples, lead=0))
            else:
                plans.append(BlockPlan(scale_index=index, size=size, hop=size - k + 1, lead=-(-(k - 1) // 2)))
        return plans

    def block_spectra(self, plan: BlockPlan) -> np.ndarray:
        """Shifted filter spectra of ``plan``'s scales, shape (scales in plan, plan.size)."""
        key = (plan.size, plan.lead, int(plan.scale_index[0]), int(plan.scale_index[-1]))
        with self._lock:
            cached = self._block_spectra.get(key)
            if cached is not None:
                self._block_spectra.move_to_end(key)
                return cached
        padded = np.zeros((plan.scale_index.size, plan.size), dtype=np.complex128)
        for row, scale in enumerate(plan.scale_index):
            g = self._filters[scale]
            shift = int(self._offsets[scale]) + plan.lead
            # The proof of no wrap-around in block_plans needs both of these.
            assert g.size <= plan.size and shift + plan.hop <= plan.size
            padded[row, : g.size] = g
            padded[row] = np.roll(padded[row], -shift)
        spectra = np.fft.fft(padded, axis=-1, out=padded)
        with self._lock:
            self._block_spectra[key] = spectra
            while len(self._block_spectra) > self._BLOCK_SPECTRA_KEPT:
                self._block_spectra.popitem(last=False)
        return spectra

    def frequencies(self, fps: float) -> np.ndarray:
        """Frequency (Hz) of each scale at ``fps``, by :func:`pywt.scale2frequency`."""
        return np.atleast_1d(pywt.scale2frequency(self.wavelet, self.scales, self.precision)) * fps


def _scale_chunk(rows: int, size: int, budget: int) -> int:
    # One complex product + its inverse FFT + the modulus live at once: ~3 arrays.
    return max(1, int(budget // (3 * 16 * max(rows, 1) * size)))


@_fill_doc
def cwt(
    data: np.ndarray,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    precision: int = DEFAULT_PRECISION,
    bank: FilterBank | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> np.ndarray:
    """Continuous wavelet transform of series along the last axis, as :func:`pywt.cwt`.

    Same numbers as ``pywt.cwt(data, scales, wavelet, method="fft")[0]`` (to
    floating-point rounding), from one FFT of the batch and one inverse FFT per
    scale.

    Parameters
    ----------
    data : ndarray, shape (..., n)
        Real series, transformed along the last axis; no NaN.
    {scales}
    {wavelet}
    {precision}
    bank : FilterBank, optional
        Precomputed filters (overrides ``scales``, ``wavelet``, ``precision``).
    batch_bytes : int
        Working memory budget for the scale chunks.

    Returns
    -------
    ndarray, shape (scales, ..., n)
        Complex for complex wavelets, else real.
    """
    bank = bank or FilterBank(wavelet, scales, precision)
    data = np.asarray(data, dtype=float)
    if not np.all(np.isfinite(data)):
        raise InputError("cwt: the series contains NaN or infinite values; split or fill gaps first")
    shape = data.shape
    rows = data.reshape(-1, shape[-1])
    n = shape[-1]
    size = bank.fft_size(n)
    spectra = bank.spectra(size)
    spectrum = np.fft.fft(rows, n=size, axis=-1)
    out = np.empty((bank.scales.size, rows.shape[0], n), dtype=np.complex128)
    chunk = _scale_chunk(rows.shape[0], size, batch_bytes)
    for start in range(0, bank.scales.size, chunk):
        block = np.fft.ifft(spectra[start : start + chunk, None, :] * spectrum[None], axis=-1)
        out[start : start + chunk] = block[..., :n]
    if not bank.complex_output:
        out = out.real
    return out.reshape((bank.scales.size, *shape))


# --------------------------------------------------------------------------
# Batched features over many pieces


def _batches(lengths: np.ndarray, bank: FilterBank, batch_bytes: int) -> list[np.ndarray]:
    """Group pieces (indices into ``lengths``) of similar length into bounded batches."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < order.size:
        longest = int(lengths[order[start]])
        size = bank.fft_size(longest)
        # Enough rows to amortise Python overhead, few enough for the budget at one scale.
        rows_cap = max(1, min(64, int(batch_bytes // (3 * 16 * size))))
        stop = start + 1
        # Keep lengths within 25 % so padding does not waste the FFTs.
        while stop < order.size and stop - start < rows_cap and lengths[order[stop]] >= 0.75 * longest:
            stop += 1
        batches.append(order[start:stop])
        start = stop
    return batches


class _Workspace(threading.local):
    """Scratch arrays reused across batches, one set per thread.

    Every batch needs several arrays of a few MiB; fresh ones come from
    ``mmap`` and pay a page fault per 4 KiB on first touch, which measured
    about a fifth of the transform's CPU time (system time) before buffers
    were reused. A buffer only grows, to the largest request seen.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype`` backed by the buffer ``name``."""
        itemsize = np.dtype(dtype).itemsize
        count = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.size < count * itemsize:
            buffer = self.buffers[name] = np.empty(count * itemsize, dtype=np.uint8)
        return buffer[: count * itemsize].view(dtype).reshape(shape)


_WORKSPACE = _Workspace()


def _batch_sums(
    series: list[np.ndarray], bank: FilterBank, power: bool, batch_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum over time of |W| (or |W|²) of each mean-removed series at each valid scale.

    Overlap-save convolution (Oppenheim & Schafer, *Discrete-Time Signal
    Processing*, 3rd ed., sec. 8.7.3): the series are cut into overlapping
    blocks a few times the filter length, each block set is transformed once
    per octave of filter lengths and multiplied by every scale's spectrum.
    Exact (a linear convolution), like one FFT of the whole series, but the
    FFTs are short and little of each is padding: this is what makes the
    batch several times faster than ``pywt.cwt``.

    Returns ``(sums, valid)``, both shape (series, scales); ``valid`` is false
    where the series is shorter than the wavelet support (sum left at 0).
    """
    work = _WORKSPACE
    rows = len(series)
    lengths = np.array([s.size for s in series])
    valid = lengths[:, None] >= bank.support[None, :]
    sums = np.zeros(valid.shape)
    longest = int(lengths.max())
    centred = work.array("centred", (rows, longest))
    centred.fill(0.0)
    for row, values in enumerate(series):
        np.subtract(values, values.mean(), out=centred[row, : values.size])
    for plan in bank.block_plans(longest):
        blocks = -(-longest // plan.hop)
        padded = work.array("padded", (rows, plan.lead + (blocks - 1) * plan.hop + plan.size))
        padded[:, : plan.lead] = 0.0
        padded[:, plan.lead : plan.lead + longest] = centred
        padded[:, plan.lead + longest :] = 0.0
        frames = np.lib.stride_tricks.sliding_window_view(padded, plan.size, axis=-1)[:, :: plan.hop]
        spectrum = np.fft.fft(frames, axis=-1, out=work.array("spectrum", frames.shape, np.complex128))
        spectra = bank.block_spectra(plan)
        # Row r's outputs are the first lengths[r] of its blocks * hop samples; each row is
        # summed over its own length by one reduceat over these bounds. (A matmul with a 0/1
        # mask would call multithreaded BLAS, which competes with the worker threads.)
        width = blocks * plan.hop
        starts = np.column_stack((np.arange(rows) * width, np.arange(rows) * width + lengths)).ravel()
        chunk = min(_scale_chunk(rows * blocks, plan.size, batch_bytes), plan.scale_index.size)
        for first in range(0, plan.scale_index.size, chunk):
            scales_here = plan.scale_index[first : first + chunk]
            product = work.array("product", (scales_here.size, *spectrum.shape), np.complex128)
            np.multiply(spectra[first : first + chunk, None, None, :], spectrum[None], out=product)
            # In place: numpy's pocketfft accepts out= (scipy.fft does not), so no new array per chunk.
            np.fft.ifft(product, axis=-1, out=product)
            block = product[..., : plan.hop]
            # One spare element keeps every reduceat bound in range; it is only ever summed
            # into a discarded range, but is zeroed so that range never holds garbage.
            flat = work.array("magnitude", (scales_here.size, rows * width + 1))
            flat[:, -1] = 0.0
            magnitude = np.reshape(flat[:, : rows * width], block.shape, copy=False)  # a view, or an error
            if power:
                np.multiply(block.real, block.real, out=magnitude)
                magnitude += np.square(block.imag)
            else:
                np.abs(block, out=magnitude)
            sums[:, scales_here] = np.add.reduceat(flat, starts, axis=-1)[:, ::2].T
    sums[~valid] = 0.0
    return sums, valid


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class WaveletFeatures:
    """Per-video, per-AU, per-scale wavelet features and how they were made.

    Attributes
    ----------
    values : ndarray, shape (videos, aus, scales)
        Frame-weighted mean over pieces of mean ``|W|`` (or ``|W|²``); NaN
        where no piece was long enough or the AU had no valid frame.
    frames_used : ndarray of int, shape (videos, aus, scales)
        Frames behind each value.
    frames_valid : ndarray of int, shape (videos, aus)
        Frames with a value (after gap filling) per video and AU.
    video_ids : list of str
    aus : list of str
    scales : DataFrame
        One row per scale: ``scale, period_s, frequency_hz, support_frames, support_s``.
    wavelet : str
    power : bool
    """

    values: np.ndarray
    frames_used: np.ndarray
    frames_valid: np.ndarray
    video_ids: list[str]
    aus: list[str]
    scales: pd.DataFrame
    wavelet: str
    power: bool

    @staticmethod
    def column(au: str, scale: float) -> str:
        """Name of the feature column of ``au`` at ``scale`` in :meth:`wide`."""
        return f"{au}@{scale:g}"

    def wide(self) -> pd.DataFrame:
        """One row per video (``video_id`` index), one column per (AU, scale)."""
        scales = self.scales["scale"].to_numpy()
        columns = [self.column(au, s) for au in self.aus for s in scales]
        data = self.values.reshape(len(self.video_ids), -1)
        return pd.DataFrame(data, index=pd.Index(self.video_ids, name="video_id"), columns=columns)

    def long(self) -> pd.DataFrame:
        """One row per (video, AU, scale) with ``value``, ``frames_used`` and ``reason``."""
        n_videos, n_aus, n_scales = self.values.shape
        scales = self.scales["scale"].to_numpy()
        table = pd.DataFrame(
            {
                "video_id": np.repeat(self.video_ids, n_aus * n_scales),
                "au": np.tile(np.repeat(self.aus, n_scales), n_videos),
                "scale": np.tile(scales, n_videos * n_aus),
                "value": self.values.ravel(),
                "frames_used": self.frames_used.ravel(),
            }
        )
        table["reason"] = self.reasons().ravel()
        return table

    def reasons(self) -> np.ndarray:
        """Why each missing value is missing ("" where there is a value)."""
        support = self.scales["support_frames"].to_numpy()
        no_frames = (self.frames_valid == 0)[:, :, None]
        reasons = np.full(self.values.shape, "", dtype=object)
        short = np.isnan(self.values) & ~no_frames
        reasons[short] = np.broadcast_to(
            np.array([f"every piece shorter than the wavelet support ({int(s)} frames)" for s in support]),
            self.values.shape,
        )[short]
        reasons[np.broadcast_to(no_frames, self.values.shape)] = "no valid frames"
        return reasons

    @cached_property
    def scale_index(self) -> dict[float, int]:
        """Position of each scale."""
        return {float(s): i for i, s in enumerate(self.scales["scale"])}


@_fill_doc
def scale_table(
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    precision: int = DEFAULT_PRECISION,
    bank: FilterBank | None = None,
) -> pd.DataFrame:
    """Each scale in clinical units.

    ``frequency_hz = pywt.scale2frequency(wavelet, scale) * fps`` and
    ``period_s = 1 / frequency_hz``; ``support_frames`` is the length of the
    discretised wavelet at that scale (a piece must be at least that long),
    ``support_s`` the same in seconds. ``above_nyquist`` marks scales whose
    frequency exceeds ``fps / 2`` (scale 1 of ``cmor1.5-1.0`` is 30 Hz at 30
    fps): PyWavelets computes them, but what they measure is aliased.

    Parameters
    ----------
    {fps}
    {scales}
    {wavelet}
    {precision}
    bank : FilterBank, optional
        Precomputed filters (overrides ``scales``, ``wavelet``, ``precision``).
    """
    fps = checked_fps(fps)
    bank = bank or FilterBank(wavelet, scales, precision)
    frequency = bank.frequencies(fps)
    return pd.DataFrame(
        {
            "scale": bank.scales,
            "period_s": 1.0 / frequency,
            "frequency_hz": frequency,
            "support_frames": bank.support,
            "support_s": bank.support / fps,
            "above_nyquist": frequency > fps / 2,
        }
    )


def rhythm_label(period_s: float, frequency_hz: float) -> str:
    """A scale as a clinician reads it: ``"0.70 s rhythm (1.43 Hz)"``."""
    return f"{period_s:.2f} s rhythm ({frequency_hz:.3g} Hz)"


def _segment_bounds(segments: pd.DataFrame | None) -> dict[str, list[tuple[float, float]]] | None:
    if segments is None:
        return None
    table = validate_segments(segments)
    bounds: dict[str, list[tuple[float, float]]] = {}
    for video_id, start, end in table.itertuples(index=False):
        bounds.setdefault(video_id, []).append((float(start), float(end)))
    return {k: sorted(v) for k, v in bounds.items()}


def _max_gap_frames(max_gap_s: float, fps: float) -> int:
    if not math.isfinite(max_gap_s) or max_gap_s < 0:
        raise InputError(f"maximum gap must be zero or a positive number of seconds, not {max_gap_s!r}")
    return math.floor(max_gap_s * fps + 1e-9)


@_fill_doc
def wavelet_features(
    frames: pd.DataFrame,
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    segments: pd.DataFrame | None = None,
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    aus: Sequence[str] | None = None,
    precision: int = DEFAULT_PRECISION,
    workers: int | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> WaveletFeatures:
    """Mean wavelet modulus of each AU at each scale, per video.

    For each piece ``p`` of a video's AU series (segments and gaps as in
    :mod:`facs_core.series`), with ``n_p`` frames, mean removed, the piece
    mean is :math:`m_p(s) = \\frac{{1}}{{n_p}} \\sum_t |W_p(s, t)|`; the video's
    feature is :math:`\\sum_p n_p m_p(s) / \\sum_p n_p` over the pieces at
    least as long as the wavelet support at ``s``. Validated against a
    per-piece ``pywt.cwt(..., method="fft")`` loop to 1e-9 relative.

    Parameters
    ----------
    {frames}
    {fps}
    {scales}
    {wavelet}
    {segments}
    {power}
    {max_gap_s}
    aus : sequence of str, optional
        AU columns to use (default: every ``AUnn`` column).
    {precision}
    {workers}
    batch_bytes : int
        Working memory budget per batch (bytes); memory stays bounded by
        ``workers * batch_bytes`` plus the input, whatever the video length.

    Returns
    -------
    WaveletFeatures
    """
    fps = checked_fps(fps)
    all_aus = validate_frames(frames)
    if aus is None:
        aus = all_aus
    else:
        unknown = [au for au in aus if au not in frames.columns]
        if unknown:
            raise InputError(f"frames table has no column {', '.join(unknown)}")
        aus = list(aus)
    check_frame_rate(frames, fps)
    bank = FilterBank(wavelet, scales, precision)
    max_gap = _max_gap_frames(max_gap_s, fps)
    bounds = _segment_bounds(segments)
    frames = frames.assign(video_id=frames["video_id"].astype(str).str.strip())

    video_ids: list[str] = []
    pieces: list[Piece] = []
    for video_id, video in frames.groupby("video_id", sort=True):
        if bounds is not None and video_id not in bounds:
            continue
        video_ids.append(str(video_id))
        pieces.extend(video_pieces(video, aus, fps, max_gap, None if bounds is None else bounds[str(video_id)]))
    if bounds is not None and not video_ids:
        raise InputError("no video of the frames table has a segment in the segments table")

    video_position = {v: i for i, v in enumerate(video_ids)}
    au_position = {a: i for i, a in enumerate(aus)}
    shape = (len(video_ids), len(aus), bank.scales.size)
    numerator = np.zeros(shape)
    frames_used = np.zeros(shape, dtype=np.int64)
    frames_valid = np.zeros(shape[:2], dtype=np.int64)
    if pieces:
        lengths = np.array([p.n_frames for p in pieces])
        groups = _batches(lengths, bank, batch_bytes)

        def run(group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            sums, valid = _batch_sums([pieces[i].values for i in group], bank, power, batch_bytes)
            return group, sums, valid

        with ThreadPoolExecutor(max_workers=workers or _default_workers()) as pool:
            results = list(pool.map(run, groups))
        where_v = np.array([video_position[p.video_id] for p in pieces])
        where_a = np.array([au_position[p.au] for p in pieces])
        np.add.at(frames_valid, (where_v, where_a), lengths)
        for group, sums, valid in results:
            np.add.at(numerator, (where_v[group], where_a[group]), sums)
            np.add.at(frames_used, (where_v[group], where_a[group]), valid * lengths[group, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(frames_used > 0, numerator / frames_used, np.nan)
    if np.isnan(values).all():
        raise InputError(
            "no AU series is long enough for any scale: every AU is missing or shorter than the wavelet support"
        )
    return WaveletFeatures(
        values=values,
        frames_used=frames_used,
        frames_valid=frames_valid,
        video_ids=video_ids,
        aus=list(aus),
        scales=scale_table(fps, bank=bank),
        wavelet=wavelet,
        power=power,
    )


# --------------------------------------------------------------------------
# One video's scalogram, for the patient view


@dataclass(frozen=True)
class Scalogram:
    """``|W|`` of one AU over one segment of one video, scale x time.

    Attributes
    ----------
    modulus : ndarray, shape (scales, frames)
        ``|W|`` (or ``|W|²`` with ``power``) of the mean-removed pieces; NaN in
        long gaps and where the piece is shorter than the wavelet support.
    times : ndarray, shape (frames,)
        Time of each column in seconds (the decoder's timestamps).
    frames : ndarray of int, shape (frames,)
        Frame number of each column.
    scales, periods_s, frequencies_hz : ndarray, shape (scales,)
        Each row's scale and what it means in seconds and Hz.
    """

    modulus: np.ndarray
    times: np.ndarray
    frames: np.ndarray
    scales: np.ndarray
    periods_s: np.ndarray
    frequencies_hz: np.ndarray
    video_id: str
    au: str
    power: bool

    def long(self) -> pd.DataFrame:
        """Tidy form for plotting: ``time_s, period_s, scale, value``."""
        return pd.DataFrame(
            {
                "time_s": np.tile(self.times, self.scales.size),
                "scale": np.repeat(self.scales, self.times.size),
                "period_s": np.repeat(self.periods_s, self.times.size),
                "value": self.modulus.ravel(),
            }
        )


@_fill_doc
def scalogram(
    frames: pd.DataFrame,
    video_id: str,
    au: str,
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    segment: tuple[float, float] | None = None,
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    precision: int = DEFAULT_PRECISION,
) -> Scalogram:
    """Scale x time image of ``|W|`` for one AU of one video, for the patient view.

    Pieces are cut and transformed exactly as for :func:`wavelet_features`, so
    the image's row means, frame-weighted, are that video's features.

    Parameters
    ----------
    {frames}
    video_id : str
        The video to draw.
    au : str
        The AU column, e.g. ``"AU12"``.
    {fps}
    {scales}
    {wavelet}
    segment : (start_s, end_s), optional
        Time span to draw (end exclusive); default the whole video.
    {power}
    {max_gap_s}
    {precision}
    """
    fps = checked_fps(fps)
    validate_frames(frames)
    if au not in frames.columns:
        raise InputError(f"frames table has no column {au}")
    video = frames[frames["video_id"].astype(str).str.strip() == str(video_id)]
    if video.empty:
        raise InputError(f"frames table has no rows for video {video_id}")
    check_frame_rate(video, fps)
    bank = FilterBank(wavelet, scales, precision)
    first, stamps, values = frame_grid(video, [au])
    bounds = None if segment is None else [(float(segment[0]), float(segment[1]))]
    rows = segment_rows(stamps, first, fps, bounds)[0]
    if rows.size == 0:
        raise InputError(f"video {video_id} has no frame between {segment[0]} s and {segment[1]} s")
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    image = np.full((bank.scales.size, hi - lo), np.nan)
    pieces = split_valid(values[lo:hi, 0], _max_gap_frames(max_gap_s, fps))
    if not pieces:
        raise InputError(f"video {video_id} has no valid {au} value in this segment")
    for offset, piece in pieces:
        coefficients = cwt(piece - piece.mean(), bank=bank)
        magnitude = np.abs(coefficients) ** 2 if power else np.abs(coefficients)
        magnitude[bank.support > piece.size] = np.nan
        image[:, offset : offset + piece.size] = magnitude
    frequency = bank.frequencies(fps)
    grid_frames = np.arange(lo, hi) + first
    times = stamps[lo:hi]
    if np.isnan(times).any():
        known = np.isfinite(times)
        times = np.interp(grid_frames, grid_frames[known], times[known]) if known.any() else grid_frames / fps
    return Scalogram(
        modulus=image,
        times=times,
        frames=grid_frames,
        scales=bank.scales,
        periods_s=1.0 / frequency,
        frequencies_hz=frequency,
        video_id=str(video_id),
        au=au,
        power=power,
    )


# --------------------------------------------------------------------------
# AU x scale association map

#: The first columns of the (AU, scale) result table, in order (the CLI contract).
RESULT_COLUMNS: tuple[str, ...] = ("au", "scale", "n", "r", "p", "p_fdr", "significant", "period_s", "frequency_hz")

#: Where the multiple-comparison family is: every AU x scale cell, or each AU's scales.
FDR_SCOPES: tuple[str, ...] = ("all", "au")


def associate_scales(
    features: WaveletFeatures,
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    method: str = "pearson",
    fdr: str = "bh",
    fdr_scope: str = "all",
    alpha: float = 0.05,
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
        From :func:`wavelet_features`.
    clinical : DataFrame
        ``video_id``, ``patient_id``, the score and the covariates.
    score : str
        Score column, e.g. ``"bdi"``.
    covariates : sequence of str
        Covariate columns.
    method : {"pearson", "spearman"}
    fdr : {"bh", "by", "bonferroni", "none"}
    fdr_scope : {"all", "au"}
    alpha : float
        Level for ``significant`` (on the adjusted p).

    Returns
    -------
    DataFrame
        One row per (AU, scale): :data:`RESULT_COLUMNS`, then ``ci_low,
        ci_high, support_frames, support_s, above_nyquist, n_short,
        n_no_frames, method, correction, fdr_scope, measure, wavelet,
        reason, rhythm`` (``rhythm`` reads like "0.70 s rhythm (1.43 Hz)").
        ``n_short`` counts the videos left out of the cell because every
        piece was shorter than the wavelet support; ``reason`` says so and
        why r is empty where it is. ``attrs["notes"]`` lists videos left out
        for clinical reasons.
    """
    from facs_core.clinical import validate_clinical
    from facs_core.stats.partial_corr import associate

    scope = (fdr_scope or "").strip().lower()
    if scope not in FDR_SCOPES:
        raise InputError(f"unknown FDR scope {fdr_scope!r}; use 'all' (every AU x scale cell) or 'au' (per AU)")
    wide = features.wide()
    n_scales = features.scales.shape[0]
    groups = [au for au in features.aus for _ in range(n_scales)] if scope == "au" else None
    table = associate(wide, clinical, score, covariates, method=method, fdr=fdr, alpha=alpha, fdr_groups=groups)

    checked = validate_clinical(clinical, score, covariates)
    analysed = checked.loc[checked[[score, *covariates]].notna().all(axis=1), "video_id"].astype(str)
    in_clinical = np.isin(features.video_ids, analysed.to_numpy())
    reasons = features.reasons()[in_clinical]
    short = np.char.startswith(reasons.astype(str), "every piece shorter").sum(axis=0).ravel()
    no_frames = (reasons == "no valid frames").sum(axis=0).ravel()

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
            "method": table["method"].to_numpy(),
            "correction": table["correction"].to_numpy(),
            "fdr_scope": "per AU" if scope == "au" else "all AU x scale cells",
            "measure": "mean |W|^2" if features.power else "mean |W|",
            "wavelet": features.wavelet,
        }
    )
    result["reason"] = [
        "; ".join(
            part
            for part in (
                f"{s} video(s) left out: shorter than the wavelet support ({int(f)} frames, {t:.1f} s)" if s else "",
                f"{z} video(s) left out: no valid frames" if z else "",
                "frequency above the Nyquist limit (fps/2): aliased" if alias else "",
                str(engine or ""),
            )
            if part
        )
        for s, f, t, z, alias, engine in zip(
            short,
            result["support_frames"],
            result["support_s"],
            no_frames,
            result["above_nyquist"],
            table["reason"],
            strict=True,
        )
    ]
    result["rhythm"] = [
        rhythm_label(period, frequency)
        for period, frequency in zip(result["period_s"], result["frequency_hz"], strict=True)
    ]
    result.attrs["notes"] = table.attrs.get("notes", [])
    result.attrs["n_videos"] = table.attrs.get("n_videos")
    return result


@_fill_doc
def scale_association(
    frames: pd.DataFrame,
    clinical: pd.DataFrame,
    score: str,
    covariates: Sequence[str],
    fps: float,
    scales: Sequence[float] = DEFAULT_SCALES,
    wavelet: str = DEFAULT_WAVELET,
    segments: pd.DataFrame | None = None,
    power: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    method: str = "pearson",
    fdr: str = "bh",
    fdr_scope: str = "all",
    alpha: float = 0.05,
    workers: int | None = None,
) -> pd.DataFrame:
    """The AU x scale significance map, from frames to the result table.

    :func:`wavelet_features` then :func:`associate_scales`; see those for the
    definitions. This is what ``python -m facs_core stats scalogram`` runs.

    Parameters
    ----------
    {frames}
    clinical : DataFrame
        ``video_id``, ``patient_id``, the score and the covariates.
    score : str
        Score column, e.g. ``"bdi"``.
    covariates : sequence of str
        Covariate columns.
    {fps}
    {scales}
    {wavelet}
    {segments}
    {power}
    {max_gap_s}
    method : {{"pearson", "spearman"}}
    fdr : {{"bh", "by", "bonferroni", "none"}}
    fdr_scope : {{"all", "au"}}
    alpha : float
    {workers}

    Returns
    -------
    DataFrame
        See :func:`associate_scales`.
    """
    features = wavelet_features(
        frames, fps, scales, wavelet, segments=segments, power=power, max_gap_s=max_gap_s, workers=workers
    )
    return associate_scales(features, clinical, score, covariates, method, fdr, fdr_scope, alpha)
