"""Store folders, backups and temporaries are owner-only, from every entry point.

Each process starts with the permissive umask 022 a login shell or ``make``
usually has, then creates a store, a backup, or is killed half-way through a
backup. Folders must come out 0700 and files 0600, and what a killed backup
left behind is removed the next time the store is opened.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import open_catalog
from store.paths import BACKUP_STAGING_PREFIX, StorePaths

REPO = Path(__file__).resolve().parent.parent
PERMISSIVE = 0o022


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(PERMISSIVE),
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )


def _everything(root: Path) -> Iterator[Path]:
    yield root
    yield from root.rglob("*")


def _not_private(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root.parent)} {oct(_mode(path))}"
        for path in _everything(root)
        if not path.is_symlink() and _mode(path) & 0o077
    ]


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(PERMISSIVE)
    yield
    os.umask(previous)


def test_cli_store_and_backup_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = _run("-m", "facs_core", "--data-dir", str(data), "init")
    assert made.returncode == 0, made.stderr
    backed_up = _run("-m", "facs_core", "--data-dir", str(data), "backup")
    assert backed_up.returncode == 0, backed_up.stderr
    archives = list(StorePaths(data).backups.glob("*.tar"))
    assert len(archives) == 1
    assert _mode(StorePaths(data).backups) == 0o700 and _mode(archives[0]) == 0o600
    assert _mode(StorePaths(data).catalog) == 0o600
    assert not _not_private(data)
    # A backup into a folder of one's choosing is owner-only too.
    elsewhere = tmp_path / "offsite" / "b.tar"
    elsewhere.parent.mkdir(mode=0o755)
    assert _run("-m", "facs_core", "--data-dir", str(data), "backup", "--out", str(elsewhere)).returncode == 0
    assert _mode(elsewhere) == 0o600


def test_an_older_world_readable_store_is_closed_when_opened(data_dir: Path, permissive_umask: None) -> None:
    paths = StorePaths(data_dir)
    for folder in paths.folders():
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        folder.chmod(0o755)
    with open_catalog(data_dir):
        pass
    assert {_mode(folder) for folder in paths.folders()} == {0o700}
    assert _mode(paths.catalog) == 0o600


def test_the_dashboard_creates_an_owner_only_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    data = tmp_path / "dashboard-data"
    monkeypatch.setenv("FACS_DATA_DIR", str(data))
    previous = os.umask(PERMISSIVE)
    try:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    finally:
        os.umask(previous)
    assert not at.exception
    assert data.is_dir() and not _not_private(data)


def test_a_killed_backup_leaves_only_private_leftovers_and_they_are_swept(tmp_path: Path, feat_data: Path) -> None:
    data = tmp_path / "data"
    # A real backup, killed (os._exit: no cleanup runs) after it wrote its first file to the archive.
    script = textwrap.dedent(
        f"""
        import os
        from facs_core.services import backup as backups
        from facs_core.services.access import LocalOperator
        from facs_core.services.ingest import ingest_video
        from store import open_catalog

        catalog = open_catalog({str(data)!r})
        ingest_video(catalog, {str(feat_data / "single_face.mp4")!r}, original_name="v.mp4", patient_id="P001",
                     user=LocalOperator("test"))
        original = backups._add_file
        def dying(tar, source, arcname):
            entry = original(tar, source, arcname)
            tar.fileobj.flush()
            os._exit(9)
        backups._add_file = dying
        backups.backup(catalog, user=LocalOperator("test"))
        """
    )
    killed = _run("-c", script)
    assert killed.returncode == 9, killed.stderr
    paths = StorePaths(data)
    partials = list(paths.backups.glob(".*.partial"))
    staging = list(paths.tmp.glob(f"{BACKUP_STAGING_PREFIX}*"))
    assert len(partials) == 1 and partials[0].stat().st_size > 0
    assert len(staging) == 1 and any(staging[0].iterdir()), "the catalog copy is left behind"
    assert not _not_private(data)
    with open_catalog(data):
        pass
    assert not list(paths.backups.glob(".*.partial"))
    assert not list(paths.tmp.glob(f"{BACKUP_STAGING_PREFIX}*"))
