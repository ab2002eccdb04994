"""The transform engine: PyWavelets' continuous wavelet transform, batched.

:class:`FilterBank` holds PyWavelets' discretised wavelet at each scale as
convolution filters; :func:`cwt` reproduces :func:`pywt.cwt` with one FFT per
batch; :func:`batched_sums` sums ``|W|`` over time for many series at once by
overlap-save, under a fixed memory budget. Nothing here knows about videos,
AUs or scores (see :mod:`facs_core.wavelets.features`).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pywt

from facs_core.docstrings import fill_doc
from facs_core.errors import InputError

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_PRECISION",
    "DEFAULT_SCALES",
    "DEFAULT_WAVELET",
    "BlockPlan",
    "FilterBank",
    "batched_sums",
    "centre_frequency",
    "continuous_wavelet",
    "cwt",
    "default_workers",
    "plan_batches",
]

#: The study's wavelet: complex Morlet, bandwidth 1.5, centre frequency 1.0.
DEFAULT_WAVELET = "cmor1.5-1.0"
#: The study's scales, 1 to 100.
DEFAULT_SCALES: tuple[float, ...] = tuple(float(s) for s in range(1, 101))
#: PyWavelets' default wavelet resolution (``2**precision`` points).
DEFAULT_PRECISION = 12
#: Working memory one batch of transforms may use. Measured on bench/wavelets.py
#: part (a), 2 threads: 16 MiB took ~10 % less time than 4 MiB or 32 MiB (the
#: product buffer is reused, so larger batches mainly save per-call overhead).
DEFAULT_BATCH_BYTES = 16 * 2**20


_CMOR = re.compile(r"^cmor(?P<bandwidth>\d+(?:\.\d*)?)-(?P<centre>\d+(?:\.\d*)?)$")


def continuous_wavelet(name: str) -> pywt.ContinuousWavelet:
    """The PyWavelets continuous wavelet called ``name``, or a one-line error.

    A complex Morlet must name its bandwidth and centre frequency
    (``cmorB-C``, both positive): PyWavelets' bare ``cmor`` silently means
    ``cmor1.0-0.5``, which is not the study's wavelet.

    Examples
    --------
    >>> wavelet = continuous_wavelet("cmor1.5-1.0")
    >>> wavelet.bandwidth_frequency, wavelet.center_frequency
    (1.5, 1.0)
    >>> continuous_wavelet("cmor")
    Traceback (most recent call last):
    ...
    facs_core.errors.InputError: wavelet 'cmor' is not a complex Morlet like cmorB-C ...
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


@lru_cache(maxsize=16)
def centre_frequency(wavelet: str, precision: int = DEFAULT_PRECISION) -> float:
    """PyWavelets' centre frequency of ``wavelet`` (cycles per sample at scale 1), computed once.

    :func:`pywt.scale2frequency` is this divided by the scale; PyWavelets
    samples the wavelet anew on every call, which a map of many videos and
    rates would repeat hundreds of times.

    Examples
    --------
    >>> import pywt
    >>> bool(centre_frequency("cmor1.5-1.0") == pywt.scale2frequency("cmor1.5-1.0", 1.0))
    True
    """
    return float(pywt.central_frequency(continuous_wavelet(wavelet), precision=precision))


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


@lru_cache(maxsize=8)
def _smooth_lengths(limit: int) -> np.ndarray:
    """Every 5-smooth length (2^a 3^b 5^c) up to ``limit``, ascending."""
    lengths = []
    power_of_5 = 1
    while power_of_5 <= limit:
        odd = power_of_5
        while odd <= limit:
            length = odd
            while length <= limit:
                lengths.append(length)
                length *= 2
            odd *= 3
        power_of_5 *= 5
    return np.array(sorted(lengths), dtype=np.int64)


def _transform_cost(sizes: np.ndarray) -> np.ndarray:
    """Relative time of one complex inverse FFT of each size, with the spectrum product before it.

    pocketfft's time per point hardly grows with the length but does with
    each radix-3 and radix-5 pass: a least-squares fit of ``numpy.fft.ifft``
    on every 5-smooth length from 100 to 8192 (batches of 1.5 M points, the
    benchmark machine) gave 2.0 + 0.14 log2(n) ns per point, plus 0.13 per
    factor 3 and 0.19 per factor 5 (4096 points: 3.8 ns each, 3750: 4.6); the
    product of the spectra adds about 1 ns per point.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    threes = np.zeros(sizes.shape)
    fives = np.zeros(sizes.shape)
    rest = sizes.copy()
    for factor, count in ((3, threes), (5, fives)):
        divisible = rest % factor == 0
        while divisible.any():
            count[divisible] += 1
            rest[divisible] //= factor
            divisible = rest % factor == 0
    return sizes * (3.0 + 0.14 * np.log2(sizes) + 0.13 * threes + 0.19 * fives)


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

    Examples
    --------
    PyWavelets samples ``cmor`` on [-8, 8], so at scale ``s`` the filter spans
    ``floor(16 s) + 1`` samples; at 30 fps scale 10 is a 3 Hz rhythm:

    >>> bank = FilterBank("cmor1.5-1.0", [1, 10, 100])
    >>> bank.support
    array([  17,  161, 1601])
    >>> bank.frequencies(fps=30.0)
    array([30. ,  3. ,  0.3])
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
        samples advance by ``hop = size - k + 1`` and the series is preceded
        by ``lead = ceil((k - 1) / 2)`` zeros. A filter's spectrum is shifted
        by its PyWavelets offset plus ``lead``, so samples ``[0, hop)`` of each
        block's circular convolution are outputs ``[j * hop, (j + 1) * hop)``
        of the trimmed transform, none wrapped. One block over the whole
        series needs no lead and only enough padding that nothing wraps
        around. Of the fast lengths (:func:`_smooth_lengths`), each octave
        takes the one whose blocks cost least by :func:`_transform_cost`
        (long filters: one block; short ones: many short blocks, often
        powers of two). Only scales whose support fits in ``n_samples`` are
        planned.
        """
        usable = np.flatnonzero(self.support <= n_samples)
        taps = self.support[usable] + 1
        octave = np.floor(np.log2(taps)).astype(int)
        plans = []
        for value in np.unique(octave):
            index = usable[octave == value]
            k = int(self.support[index].max()) + 1
            # One block over the whole series needs, per filter of K taps read from
            # offset o, only n + K - 1 - o (and o + n) samples to avoid wrap-around.
            taps, offsets = self.support[index] + 1, self._offsets[index]
            need = int(max((n_samples + taps - 1 - offsets).max(), (offsets + n_samples).max()))
            sizes = _smooth_lengths(_fast_length(2 * need))
            wholes = sizes[sizes >= need][:8]
            blocked = sizes[(sizes >= 2 * k) & (sizes < need)]
            hops = blocked - k + 1
            costs = np.concatenate((_transform_cost(wholes), -(-n_samples // hops) * _transform_cost(blocked)))
            best = int(np.argmin(costs))
            if best < wholes.size:
                plans.append(BlockPlan(scale_index=index, size=int(wholes[best]), hop=n_samples, lead=0))
            else:
                size = int(blocked[best - wholes.size])
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
        """Frequency (Hz) of each scale at ``fps``, as :func:`pywt.scale2frequency` gives it."""
        return centre_frequency(self.wavelet_name, self.precision) / self.scales * fps


def _scale_chunk(rows: int, size: int, budget: int) -> int:
    # One complex product + its inverse FFT + the modulus live at once: ~3 arrays.
    return max(1, int(budget // (3 * 16 * max(rows, 1) * size)))


@fill_doc
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
    %(scales)s
    %(wavelet)s
    %(precision)s
    bank : FilterBank, optional
        Precomputed filters (overrides ``scales``, ``wavelet``, ``precision``).
    batch_bytes : int
        Working memory budget for the scale chunks.

    Returns
    -------
    ndarray, shape (scales, ..., n)
        Complex for complex wavelets, else real.

    Examples
    --------
    The same coefficients as PyWavelets, for a batch of series at once:

    >>> import pywt
    >>> data = np.random.default_rng(0).standard_normal((2, 300))
    >>> ours = cwt(data, [2.0, 8.0, 21.0])
    >>> ours.shape, ours.dtype
    ((3, 2, 300), dtype('complex128'))
    >>> reference = np.stack([pywt.cwt(row, [2.0, 8.0, 21.0], "cmor1.5-1.0", method="fft")[0] for row in data], axis=1)
    >>> bool(np.allclose(ours, reference, rtol=1e-9, atol=1e-12))
    True
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


def plan_batches(lengths: np.ndarray, bank: FilterBank, batch_bytes: int) -> list[np.ndarray]:
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


def batched_sums(
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


def default_workers() -> int:
    """Threads for the transform: the number of CPU cores, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))
