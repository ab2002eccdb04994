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

__all__ = ["checked_fps", "parse_scales"]


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


def checked_fps(fps: float | None) -> float:
    """``fps`` as a float, or a one-line error when it is missing, zero or negative."""
    if fps is None:
        raise InputError("frame rate (fps) is missing; give the videos' frames per second, e.g. --fps 30")
    # Imported here: the parser must build without the wavelet engine (tests/test_cli_startup.py).
    from facs_core.wavelets.features import checked_rate

    return checked_rate(fps)
