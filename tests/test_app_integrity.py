"""The Admin page's Integrity tab: the last verification, and running one, with AppTest on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Catalog
from tests.apptest_pages import no_exception, open_app_store, page, texts
from tests.store_helpers import store_with_one_shard


@pytest.fixture
def small_store(data_dir: Path, feat_data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    """One real video and one shard, opened the way the app opens it."""
    store_with_one_shard(data_dir, feat_data)
    yield from open_app_store(data_dir, monkeypatch)


@pytest.mark.slow
def test_admin_shows_the_last_verification_and_runs_one(small_store: Catalog) -> None:
    at = page("admin", small_store, "admin").run()
    no_exception(at)
    assert "has not been verified yet" in texts(at.info)
    at.button(key="ad_verify").click().run()
    no_exception(at)
    assert "sound, 3 files verified" in texts(at.success)

    shard = small_store.scalar("SELECT shard_path FROM runs WHERE status = 'done'")
    raw = bytearray((small_store.paths.root / shard).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (small_store.paths.root / shard).write_bytes(bytes(raw))
    at.button(key="ad_verify").click().run()
    no_exception(at)
    assert "1 problem in 3 files checked" in texts(at.error)
    assert f"{shard}: content differs from its recorded sha256" in texts(at.code)
    # A fresh visit shows the recorded outcome without running again.
    again = page("admin", small_store, "admin").run()
    assert "1 problem in 3 files checked" in texts(again.error)
