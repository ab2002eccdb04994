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


def test_only_the_filtered_helper_draws_tables() -> None:
    """Every table goes through ``facs_core.views.common.show_table`` (visibility filter + neutralised formulas)."""
    offenders = {
        f"{path.relative_to(REPO)}:{line}"
        for path in [*sorted((REPO / "pages").glob("*.py")), REPO / "app.py"]
        for line in _table_calls(path)
    }
    assert not offenders, f"draw tables with common.show_table, not st.dataframe/st.table: {sorted(offenders)}"
    assert len(_table_calls(REPO / "facs_core" / "views" / "common.py")) == 1


def test_table_toolbar_downloads_are_switched_off_in_every_entry_point() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["client"]["disableDataExport"] is True
    assert "--client.disableDataExport true" in (REPO / "scripts" / "serve").read_text("utf-8")
