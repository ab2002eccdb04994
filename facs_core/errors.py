"""Errors a user can act on.

Anything raised as :class:`FacsError` is shown to the user as one line, with no
traceback, by the command line and by the dashboard. Its message must name what
is wrong and where (the file, the video, the column, the value).
"""

from __future__ import annotations


class FacsError(Exception):
    """A problem with the user's input or environment, reported in one line."""

    def __str__(self) -> str:
        # One line, whatever the message was built from.
        return " ".join(super().__str__().split())


class InputError(FacsError):
    """Bad input: a file, a column, a value or an option that cannot be used."""


class NoDataError(InputError):
    """An analysis has nothing to work on among the visits chosen: an ordinary state, not a failure.

    A page shows it as information. ``reader``, when a service sets it, is
    the explanation in a reader's words (scores and covariates by name, what
    the choice left out); the message stays the command line's one line.
    """

    reader: str | None = None

    def __init__(self, message: str, *, reader: str | None = None) -> None:
        super().__init__(message)
        if reader is not None:
            self.reader = reader


class TooFewVisitsError(NoDataError):
    """Too few complete visits for an analysis: ``n`` usable, ``needed`` at least.

    A page can say this as an explanation (which data source to choose)
    rather than as a failure.
    """

    def __init__(self, message: str, *, n: int, needed: int) -> None:
        super().__init__(message)
        self.n = n
        self.needed = needed


class StoreError(FacsError):
    """The store cannot be opened or written (permissions, lock, corruption)."""
