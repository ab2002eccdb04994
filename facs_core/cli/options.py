"""Parsing the values of command-line options shared by the analysis commands.

Each returns the value in the library's terms, or raises
:class:`~facs_core.errors.InputError` with a one-line message naming the
option's text and what is wrong with it.

Examples
--------
>>> parse_scales("2-4:0.5")
array([2. , 2.5, 3. , 3.5, 4. ])
>>> checked_fps("30")
30.0
"""

from __future__ import annotations

import math

import numpy as np

from facs_core.errors import InputError

__all__ = ["checked_fps", "parse_periods", "parse_scales"]


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


def parse_periods(text: str, count: int | None = None, default_count: int = 100) -> np.ndarray:
    """Periods in seconds: ``0.2-10`` (``count`` log-spaced, default ``default_count``), ``0.2-10:0.1`` or ``0.5,1,2``.

    Examples
    --------
    >>> parse_periods("0.5-2", 3)
    array([0.5, 1. , 2. ])
    >>> parse_periods("1-2:0.5")
    array([1. , 1.5, 2. ])
    """
    from facs_core.wavelets.periods import log_periods

    spec = text.strip()
    if ":" in spec or "," in spec or "-" not in spec:
        if count is not None:
            raise InputError(f"--period-count goes with a range like 0.2-10, not {text!r}")
        try:
            return parse_scales(spec)
        except InputError:
            raise InputError(
                f"periods {text!r} are not a range like 0.2-10, 0.2-10:0.1 or a list like 0.5,1,2 (seconds)"
            ) from None
    low_text, _, high_text = spec.partition("-")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise InputError(f"periods {text!r} are not a range like 0.2-10 (seconds)") from None
    n = default_count if count is None else count
    return log_periods(low, high, n)


def checked_fps(fps: float | None) -> float:
    """``fps`` as a float, or a one-line error when it is missing, zero or negative."""
    if fps is None:
        raise InputError("frame rate (fps) is missing; give the videos' frames per second, e.g. --fps 30")
    # Imported here: the parser must build without the wavelet engine (tests/test_cli_startup.py).
    from facs_core.wavelets.features import checked_rate

    return checked_rate(fps)
