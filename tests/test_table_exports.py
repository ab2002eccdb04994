"""Tables reach the browser filtered, and offer no download of their own (issue 11, item 6)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TABLE_CALLS = {"dataframe", "data_editor", "table"}


def _table_calls(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in TABLE_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "st"
        ):
            lines.append(node.lineno)
    return lines


VIEWS = [*sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "web").glob("*.py")), REPO / "app.py"]
HELPER = REPO / "web" / "common.py"


def test_only_the_filtered_helper_draws_tables() -> None:
    """Every table goes through ``web.common.show_table`` (visibility filter, values as they are)."""
    offenders = {f"{path.relative_to(REPO)}:{line}" for path in VIEWS for line in _table_calls(path) if path != HELPER}
    assert not offenders, f"draw tables with common.show_table, not st.dataframe/st.table: {sorted(offenders)}"
    # In the helper itself, only show_table draws (st.dataframe, or st.table for wrapped text).
    tree = ast.parse(HELPER.read_text("utf-8"))
    (helper,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "show_table"]
    calls = _table_calls(HELPER)
    assert calls and all(helper.lineno <= line <= helper.end_lineno for line in calls), calls


def _download_buttons(path: Path) -> list[tuple[int, bool]]:
    """``(line, reruns)`` of every ``download_button`` call; ``reruns`` unless it passes ``on_click="ignore"``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "download_button":
            ignore = any(
                k.arg == "on_click" and isinstance(k.value, ast.Constant) and k.value.value == "ignore"
                for k in node.keywords
            )
            found.append((node.lineno, not ignore))
    return found


def test_download_buttons_do_not_rerun_the_page() -> None:
    """A click that also reruns the page replaces the button's deferred file under the browser's request.

    Streamlit sends the rerun first and asks for the deferred file second; a
    rerun that finishes first drops the old file id and the download never
    comes (seen in CI on the Patient profile's chart buttons).
    """
    buttons = {f"{path.relative_to(REPO)}:{line}": reruns for path in VIEWS for line, reruns in _download_buttons(path)}
    assert len(buttons) >= 5, sorted(buttons)  # Export (3), Admin, chart PNG/SVG
    offenders = sorted(where for where, reruns in buttons.items() if reruns)
    assert not offenders, f'download buttons need on_click="ignore": {offenders}'


def test_table_toolbar_downloads_are_switched_off_in_every_entry_point() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["client"]["disableDataExport"] is True
    assert "--client.disableDataExport true" in (REPO / "scripts" / "serve").read_text("utf-8")
