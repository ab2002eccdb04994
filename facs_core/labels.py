"""How analysis inputs read in a sentence a page shows: covariates and scores by their names, not column keys.

The command line's messages name columns as typed (``repeat_visit``,
``bdi``); the sentences a page shows (:class:`facs_core.wording.Note`'s reader
text, the explanation of too few visits) name them as a reader does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from facs_core.wording import join_words

__all__ = ["covariate_label", "covariates_phrase", "feature_measure", "score_label"]

#: How a stored covariate reads inside a sentence.
_COVARIATES: dict[str, str] = {
    "age": "age",
    "sex": "sex",
    "camera": "camera",
    "medication": "medication",
    "repeat_visit": "repeat visit",
}


def covariate_label(name: str) -> str:
    """A covariate column inside a sentence: ``repeat_visit`` -> "repeat visit", an unknown one spaced.

    Examples
    --------
    >>> covariate_label("repeat_visit"), covariate_label("age"), covariate_label("site_code")
    ('repeat visit', 'age', 'site code')
    """
    return _COVARIATES.get(name, str(name).replace("_", " ").strip())


def covariates_phrase(names: Sequence[str]) -> str:
    """Covariates listed in a sentence: ``["age", "repeat_visit"]`` -> "age and repeat visit".

    Examples
    --------
    >>> covariates_phrase(["age", "sex", "repeat_visit"])
    'age, sex and repeat visit'
    """
    return join_words([covariate_label(n) for n in names])


@cache
def _short_labels() -> dict[str, str]:
    from facs_core.reference import instruments

    labels = {}
    for instrument in instruments():
        short = re.search(r"\(([^)]+)\)\s*$", instrument.label)
        labels[instrument.key] = short[1] if short else instrument.label
    return labels


def score_label(key: str) -> str:
    """A score column by its instrument's short name: ``bdi`` -> "BDI-II"; an unknown column spaced.

    Examples
    --------
    >>> score_label("bdi"), score_label("phq9"), score_label("my_score")
    ('BDI-II', 'PHQ-9', 'my score')
    """
    return _short_labels().get(key, str(key).replace("_", " "))


_SUFFIXES = ("_rate", "_sd")


def feature_measure(column: str) -> str:
    """The AU (or emotion) a per-video feature column measures: ``AU01_sd`` -> "AU01", ``happiness_sd`` -> "happiness".

    A table or chart of one feature kind names its rows by this and the kind
    (:data:`facs_core.stats.cohort.FEATURE_KINDS`) once, in its header or caption.

    Examples
    --------
    >>> feature_measure("AU01_sd"), feature_measure("AU12_rate"), feature_measure("AU12"), feature_measure("anger_sd")
    ('AU01', 'AU12', 'AU12', 'anger')
    """
    text = str(column)
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            return text.removesuffix(suffix)
    return text
