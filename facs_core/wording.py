"""Small rules of English every layer's messages follow: counted nouns, articles, a shown message's capital.

Messages are written once, in the command line's one-line style (lowercase
start, no final full stop, so they read inside ``error: ...``); a page that
shows one to a reader passes it through :func:`sentence`. Counts read as
words, never as ``"1 field(s)"``: :func:`count` picks the singular or plural.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "MISSING_COUNT",
    "Note",
    "article",
    "count",
    "join_words",
    "plural_of",
    "reader_notes",
    "reader_text",
    "sentence",
]

#: How a count that is not known reads (the en dash the dashboard shows for any missing value).
MISSING_COUNT = "–"

_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")


def plural_of(noun: str) -> str:
    """The regular English plural of ``noun`` (an irregular one is passed to :func:`count`).

    Examples
    --------
    >>> plural_of("video"), plural_of("patch"), plural_of("assignment"), plural_of("entry"), plural_of("day")
    ('videos', 'patches', 'assignments', 'entries', 'days')
    """
    if noun.endswith(_SIBILANT_ENDINGS):
        return noun + "es"
    if len(noun) > 1 and noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def count(n: Any, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the number ``n`` asks for: ``"1 field"``, ``"2 fields"``, ``"0 fields"``, never "field(s)".

    Parameters
    ----------
    n : int
        How many; a missing count (None, NaN) reads :data:`MISSING_COUNT`.
    noun : str
        The singular; in a phrase the last word is the noun (``"extraction job"``
        -> ``"extraction jobs"``).
    plural : str, optional
        The plural where :func:`plural_of` would be wrong (``"analyses"``).

    Examples
    --------
    >>> count(1, "field"), count(2, "field"), count(0, "extraction job"), count(3, "analysis", "analyses")
    ('1 field', '2 fields', '0 extraction jobs', '3 analyses')
    >>> count(10, "cell"), count(None, "visit"), count(float("nan"), "visit"), count(2.0, "band")
    ('10 cells', '– visits', '– visits', '2 bands')
    """
    if plural is None:
        head, _, last = noun.rpartition(" ")
        plural = f"{head} {plural_of(last)}" if head else plural_of(last)
    if n is None or n != n:  # None or NaN
        return f"{MISSING_COUNT} {plural}"
    value = float(n)
    shown = str(int(value)) if value.is_integer() else f"{value:g}"
    return f"{shown} {noun if value == 1 else plural}"


def article(word: str) -> str:
    """``word`` with its indefinite article by its first letter: ``"an admin"``, ``"a clinician"``.

    The letter rule fits the words messages put an article before (roles,
    statuses); a word whose sound differs from its letter ("a user") is
    written out by the caller.

    Examples
    --------
    >>> article("admin"), article("clinician"), article("researcher"), article("inactive account")
    ('an admin', 'a clinician', 'a researcher', 'an inactive account')
    """
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def sentence(message: object) -> str:
    """A one-line message as a page shows it: first letter capital, the rest untouched.

    Examples
    --------
    >>> sentence("password too short: use at least 12 characters")
    'Password too short: use at least 12 characters'
    >>> sentence("user 'wadmin' is the last active administrator"), sentence("")
    ("User 'wadmin' is the last active administrator", '')
    """
    text = str(message)
    return text[:1].upper() + text[1:]


def join_words(items: Sequence[str]) -> str:
    """Items as a sentence lists them: ``"a"``, ``"a and b"``, ``"a, b and c"``.

    Examples
    --------
    >>> join_words(["age"]), join_words(["age", "sex"]), join_words(["age", "sex", "camera"])
    ('age', 'age and sex', 'age, sex and camera')
    """
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class Note(str):
    """A note in the command line's one-line words that also knows the sentence a page shows (``reader``).

    It is the command line's text wherever a string is expected (printed after
    ``note:``, compared in tests); a page shows :func:`reader_text`, which
    names columns as a reader does and ends as a sentence.

    Examples
    --------
    >>> note = Note("covariate repeat_visit is constant", "Repeat visit is the same for every visit.")
    >>> str(note), reader_text(note)
    ('covariate repeat_visit is constant', 'Repeat visit is the same for every visit.')
    """

    reader: str

    def __new__(cls, text: str, reader: str) -> Note:
        note = super().__new__(cls, text)
        note.reader = reader
        return note

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Pickled (a page's cache) and deep-copied (pandas attrs) with its reader text.
        return (Note, (str(self), self.reader))


def reader_text(note: object) -> str:
    """The sentence a page shows for ``note``: its reader text, or the one-line text with a capital.

    Examples
    --------
    >>> reader_text("2 visits left out"), reader_text(Note("x_y", "The x of y."))
    ('2 visits left out', 'The x of y.')
    """
    reader = getattr(note, "reader", None)
    return reader if reader else sentence(note)


def reader_notes(notes: Iterable[object]) -> list[str]:
    """The reader texts of ``notes`` in order, each fact once.

    Examples
    --------
    >>> reader_notes([Note("a", "A."), Note("a again", "A."), "b"])
    ['A.', 'B']
    """
    return list(dict.fromkeys(reader_text(note) for note in notes))
