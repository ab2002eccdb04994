"""Agreement of two backends' AU estimates on the same frames: r, ICC(3,1), Bland-Altman.

For one visit analysed by two backends (py-feat and MediaPipe's blendshape
estimates, or an imported OpenFace file), each AU both report is compared over
the frames both analysed and in which both found a face:

* ``pearson_r``: the frame-level Pearson correlation;
* ``icc_3_1``: ICC(3,1), two-way mixed effects, consistency, single rater
  (Shrout & Fleiss, 1979; McGraw & Wong, 1996, "ICC(C,1)"), from the two-way
  ANOVA of frames x backends::

      ICC(3,1) = (MS_rows - MS_error) / (MS_rows + (k - 1) MS_error),  k = 2

  with its 95% confidence interval from the F distribution (McGraw & Wong,
  1996, table 7), as ``pingouin.intraclass_corr`` reports it (checked against
  it in ``tests/test_agreement.py``);
* Bland-Altman (Bland & Altman, 1986): the mean difference (second minus
  first backend) and the 95% limits of agreement, mean +/- 1.96 SD of the
  differences (ddof = 1).

Consistency, not absolute agreement: a constant offset between backends (a
blendshape scale that sits higher than py-feat's probabilities) lowers
Bland-Altman's mean difference, not ICC(3,1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from facs_core.errors import InputError

__all__ = ["AGREEMENT_COLUMNS", "agreement_table", "bland_altman", "icc_3_1", "paired_frames"]

#: Columns of :func:`agreement_table`.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "au",
    "n_frames",
    "pearson_r",
    "icc_3_1",
    "icc_ci_low",
    "icc_ci_high",
    "mean_difference",
    "loa_low",
    "loa_high",
)
#: Fewest paired frames for a statistic (fewer: the row is left empty).
MIN_FRAMES = 3


def icc_3_1(first: np.ndarray, second: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """ICC(3,1) of two raters on the same targets, with its confidence interval.

    Parameters
    ----------
    first, second : array of float
        The two raters' values on the same n targets (no NaN).
    confidence : float
        Level of the interval.

    Returns
    -------
    (icc, low, high) : tuple of float
        NaN when n < 3 or there is no variance at all.
    """
    data = np.column_stack([np.asarray(first, float), np.asarray(second, float)])
    n, k = data.shape
    if n < MIN_FRAMES:
        return np.nan, np.nan, np.nan
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error
    if not denominator > 0:
        return np.nan, np.nan, np.nan
    icc = (ms_rows - ms_error) / denominator
    if ms_error <= 0:
        return float(icc), np.nan, np.nan
    f_value = ms_rows / ms_error
    df1, df2 = n - 1, (n - 1) * (k - 1)
    tail = (1 - confidence) / 2
    f_low = f_value / sps.f.ppf(1 - tail, df1, df2)
    f_high = f_value * sps.f.ppf(1 - tail, df2, df1)
    return float(icc), float((f_low - 1) / (f_low + k - 1)), float((f_high - 1) / (f_high + k - 1))


def bland_altman(first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """Mean difference (second - first) and the 95% limits of agreement (mean +/- 1.96 SD)."""
    difference = np.asarray(second, float) - np.asarray(first, float)
    if difference.size < MIN_FRAMES:
        return np.nan, np.nan, np.nan
    mean, sd = float(difference.mean()), float(difference.std(ddof=1))
    return mean, mean - 1.96 * sd, mean + 1.96 * sd


def paired_frames(first: pd.DataFrame, second: pd.DataFrame, au: str) -> pd.DataFrame:
    """``frame, first, second``: the AU on frames both tables analysed, both with a face and a value."""
    columns = ["frame", "face", au]
    for table, name in ((first, "first"), (second, "second")):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise InputError(f"the {name} per-frame table has no column {missing[0]!r}")
    joined = first[columns].merge(second[columns], on="frame", suffixes=("_1", "_2"))
    keep = (
        joined["face_1"].fillna(False).astype(bool)
        & joined["face_2"].fillna(False).astype(bool)
        & joined[f"{au}_1"].notna()
        & joined[f"{au}_2"].notna()
    )
    paired = joined.loc[keep, ["frame", f"{au}_1", f"{au}_2"]]
    paired.columns = ["frame", "first", "second"]
    return paired.sort_values("frame").reset_index(drop=True)


def agreement_table(first: pd.DataFrame, second: pd.DataFrame, aus: Sequence[str] | None = None) -> pd.DataFrame:
    """Per AU both tables hold: paired frames, Pearson r, ICC(3,1) with 95% CI, Bland-Altman.

    Parameters
    ----------
    first, second : DataFrame
        Per-frame tables of the same video (``frame``, ``face``, ``AUxx`` ...).
    aus : sequence of str, optional
        AUs to compare; default every ``AUxx`` column both have, in the first's order.

    Returns
    -------
    DataFrame
        Columns :data:`AGREEMENT_COLUMNS`; statistics are NaN for an AU with
        fewer than :data:`MIN_FRAMES` paired frames or no variance.

    Raises
    ------
    InputError
        The tables share no AU or no analysed frame.
    """
    if aus is None:
        aus = [c for c in first.columns if str(c).startswith("AU") and str(c)[2:].isdigit() and c in second.columns]
    if not aus:
        raise InputError("the two runs have no Action Unit in common")
    if not set(first["frame"]).intersection(second["frame"]):
        raise InputError("the two runs share no analysed frame (were they made from the same video?)")
    rows = []
    for au in aus:
        paired = paired_frames(first, second, au)
        x, y = paired["first"].to_numpy(float), paired["second"].to_numpy(float)
        r = np.nan
        if len(x) >= MIN_FRAMES and x.std() > 0 and y.std() > 0:
            r = float(np.corrcoef(x, y)[0, 1])
        rows.append((au, len(x), r, *icc_3_1(x, y), *bland_altman(x, y)))
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
