"""docs/security.md's who-sees-what table is generated from the resource files and cannot drift."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "security_table.py"


def _generator():
    spec = importlib.util.spec_from_file_location("security_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_table_equals_the_generated_one() -> None:
    generator = _generator()
    assert generator.current_block((REPO / "docs" / "security.md").read_text("utf-8")) == generator.render()


def test_the_table_follows_the_resource_files() -> None:
    generator = _generator()
    lines = {line.split(" | ")[0].lstrip("| "): line for line in generator.render().splitlines()}
    assert "no (pages, messages, exports)" in lines["Medication (free text)"].split(" | ")[3]  # researcher
    assert "assigned patients" in lines["Medication (free text)"].split(" | ")[2]  # clinician


def test_check_mode_fails_on_a_stale_document_and_the_script_repairs_it(tmp_path: Path) -> None:
    doc = tmp_path / "security.md"
    committed = (REPO / "docs" / "security.md").read_text("utf-8")
    doc.write_text(committed.replace("no (pages, messages, exports)", "yes", 1), "utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(SCRIPT), "--doc", str(doc), *args], capture_output=True, text=True)

    stale = run("--check")
    assert stale.returncode == 1 and "out of date" in stale.stderr
    assert run().returncode == 0
    assert doc.read_text("utf-8") == committed
    assert run("--check").returncode == 0
