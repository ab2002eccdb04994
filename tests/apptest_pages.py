"""Streamlit AppTest helpers shared by the page tests: a store opened as the app opens it, a signed-in page."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from facs_core.services.access import User
from store import Catalog, users
from web import common

__all__ = ["PASSWORD", "REPO", "TIMEOUT", "no_exception", "open_app_store", "page", "page_as", "texts"]

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"
TIMEOUT = 120


def open_app_store(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    """Yield the store in ``folder`` opened the way the app opens it (``common.catalog``), then close it.

    ``FACS_DATA_DIR`` is set to ``folder`` for the test; the app's cached
    store is cleared afterwards so that the next test opens its own.
    """
    monkeypatch.setenv("FACS_DATA_DIR", str(folder))
    store = common.catalog()
    yield store
    store.close()
    common._open_store.clear()


def page_as(name: str, username: str, role: str, timeout: float = TIMEOUT) -> AppTest:
    """An AppTest of the page file ``pages/<name>.py``, signed in as ``username`` with ``role`` (not yet run)."""
    at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=timeout)
    at.session_state["user"] = User(username, role)
    return at


def page(name: str, store: Catalog, role: str, patients: tuple[str, ...] = ()) -> AppTest:
    """An AppTest of one page file, signed in as the account ``<role>1``, created in ``store`` if missing.

    Each patient in ``patients`` is assigned to that account.
    """
    username = f"{role}1"
    if users.get_user(store, username) is None:
        users.add_user(store, username, role, PASSWORD, actor="test")
    for patient in patients:
        users.assign_patient(store, username, patient, actor="test")
    return page_as(name, username, role)


def no_exception(at: AppTest) -> AppTest:
    """Fail with the exceptions' texts if the page raised any; else return ``at`` (for chaining)."""
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: Iterable) -> str:
    """The values of AppTest elements (markdown, captions, ...) joined by spaces."""
    return " ".join(str(e.value) for e in elements)
