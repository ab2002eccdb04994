"""Parameter documentation written once and filled into docstrings (MNE style).

A docstring names a shared parameter as ``%(name)s`` on a line of its own in
its Parameters section; :func:`fill_doc` replaces it by ``DOCS[name]``,
indented to where the placeholder stands, so the same text reads right in a
function and in a method. An unknown name fails at import time, so a typo
cannot reach the rendered documentation. Plain replacement rather than ``%``
formatting: docstrings say "95%" and use braces in LaTeX.

Examples
--------
>>> @fill_doc
... def rate(fps):
...     '''Frames per second.
...
...     Parameters
...     ----------
...     %(fps)s
...     '''
>>> print(rate.__doc__.splitlines()[4])
    fps : float
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DOCS", "fill_doc"]

F = TypeVar("F", bound=Callable[..., object])

#: Each shared parameter's numpydoc entry: the ``name : type`` line, then its
#: description indented by four spaces.
DOCS: dict[str, str] = {
    # Per-video feature tables and clinical data (statistics).
    "features": """features : DataFrame
    ``video_id`` as a column or the index, then one numeric column per
    feature (``AU01``, or ``AU01@s21`` for a wavelet scale). Missing
    values are allowed; each feature is analysed on its complete cases.""",
    "clinical": """clinical : DataFrame
    One row per video: ``video_id``, ``patient_id``, the score column and
    the covariate columns (see :func:`facs_core.clinical.validate_clinical`).
    A video with a missing score or covariate is left out and counted.""",
    "score": """score : str
    The score column (``bdi``, ``phq9``, ``hamd17``, ``madrs`` or an
    alias); a known instrument's range is enforced.""",
    "covariates": """covariates : sequence of str
    Covariate columns to control for. Text columns are dummy-coded
    (k - 1 columns for k levels).""",
    "method": """method : {"pearson", "spearman"}
    Pearson on the values, or Spearman: Pearson on the ranks of the
    feature, the score and every covariate column, ranked among the
    analysed videos (as ``pingouin.partial_corr``).""",
    "fdr": """fdr : {"bh", "by", "bonferroni", "none"}
    Multiple-comparison correction (see
    :func:`facs_core.stats.multicomp.adjust_pvalues`).""",
    "alpha": """alpha : float
    Level at which ``significant`` is set (on the adjusted p).""",
    # Per-frame AU series and their wavelet transform.
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

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)


def fill_doc(func: F) -> F:
    """Replace each ``%(name)s`` line of ``func``'s docstring by ``DOCS[name]``.

    Parameters
    ----------
    func : callable
        A function or class whose docstring holds placeholders.

    Returns
    -------
    callable
        ``func`` itself, its ``__doc__`` filled in.

    Raises
    ------
    KeyError
        A placeholder names no entry of :data:`DOCS`.
    """
    doc = func.__doc__
    if not doc:  # python -OO strips docstrings
        return func

    def entry(match: re.Match[str]) -> str:
        name, indent = match["name"], match["indent"]
        if name not in DOCS:
            raise KeyError(f"{func.__qualname__}'s docstring names %({name})s, which facs_core.docstrings lacks")
        return "\n".join(indent + line if line else line for line in DOCS[name].splitlines())

    func.__doc__ = _PLACEHOLDER.sub(entry, doc)
    return func
