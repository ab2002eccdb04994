"""Parameter documentation shared by the analyses (filled in with :func:`fill_doc`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

PARAMETERS: dict[str, str] = {
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
}


def fill_doc(func: F) -> F:
    """Replace ``%(name)s`` in ``func``'s docstring with the shared parameter docs."""
    # Plain replacement rather than ``%`` formatting: docstrings say "95%".
    doc = func.__doc__ or ""
    for name, text in PARAMETERS.items():
        doc = doc.replace(f"%({name})s", text)
    func.__doc__ = doc
    return func
