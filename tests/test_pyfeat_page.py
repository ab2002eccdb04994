"""The Extraction page says which backends are ready and how to make one ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_app_pages import empty_store, no_exception, page, texts

_ = empty_store


def _backends_text(at) -> str:
    return texts(at.markdown) + " " + texts(at.caption)


def test_extraction_page_shows_pyfeat_not_ready_and_how(empty_store, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FACS_PYFEAT_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    at = page("extraction", empty_store, "clinician").run()
    no_exception(at)
    shown = _backends_text(at)
    assert "**pyfeat** · not ready" in shown
    assert "models import BUNDLE.tar" in shown and "models export pyfeat" in shown


@pytest.mark.parametrize("with_token", [False, True], ids=["fake-refused", "fake-with-token"])
def test_extraction_page_on_a_generated_set(
    empty_store,
    pyfeat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    with_token: bool,
) -> None:
    if not with_token:
        monkeypatch.delenv("FACS_PYFEAT_FAKE_TOKEN")
    at = page("extraction", empty_store, "clinician").run()
    no_exception(at)
    shown = _backends_text(at)
    if with_token:
        assert "**pyfeat** · ready" in shown and "GENERATED TEST SET" in shown
    else:
        assert "**pyfeat** · not ready" in shown and "generated test weights (marked fake)" in shown
