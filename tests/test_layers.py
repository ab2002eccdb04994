"""Imports go only downward between the layers (see docs/architecture.md and tests/layers.toml).

Every first-party module's imports are read with :mod:`ast` (imports inside
functions and ``TYPE_CHECKING`` blocks included: a lazy import is still a
dependency) and each is checked against the table of layers. Upward imports
that exist today are listed in the table with what must move; any other one
fails here, and so does a listed one that has gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TABLE = tomllib.loads((Path(__file__).parent / "layers.toml").read_text("utf-8"))


def module_files(roots: list[str]) -> dict[str, Path]:
    """``{dotted module name: file}`` for every Python file under ``roots``."""
    files: dict[str, Path] = {}
    for root in roots:
        path = REPO / root
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            parts = list(file.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = file
    return files


MODULES = module_files(TABLE["roots"])
FIRST_PARTY = {name.split(".")[0] for name in MODULES}


def layer_of(module: str, table: dict = TABLE) -> str | None:
    """The layer of ``module``: the longest table entry that is it or a package above it, else its default."""
    defaults = table.get("defaults", {})
    best, layer = -1, None
    for name, entries in table["layers"].items():
        for entry in entries:
            covers = module == entry or (module.startswith(entry + ".") and entry not in defaults)
            if covers and len(entry) > best:
                best, layer = len(entry), name
    if layer is None:
        for package, default in defaults.items():
            if module.startswith(package + "."):
                return default
    return layer


def imports_of(module: str, file: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """First-party modules ``module`` imports, with line numbers; ``from P import m`` names ``P.m`` if a module."""
    tree = ast.parse(file.read_text("utf-8"), filename=str(file))
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FIRST_PARTY:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] not in FIRST_PARTY:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield (submodule if submodule in known else target), node.lineno


def upward_imports(table: dict = TABLE, modules: dict[str, Path] = MODULES) -> dict[str, str]:
    """``{"importer -> imported": "file:line (layer -> layer)"}`` for every import the table forbids."""
    found: dict[str, str] = {}
    known = set(modules)
    for module, file in modules.items():
        source = layer_of(module, table)
        for target, line in imports_of(module, file, known):
            destination = layer_of(target, table)
            if source is None or destination is None:
                continue
            if destination not in table["may_import"][source]:
                shown = file.relative_to(REPO) if file.is_relative_to(REPO) else file
                where = f"{shown}:{line} ({source} -> {destination})"
                found.setdefault(f"{module} -> {target}", where)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in MODULES if layer_of(name) is None]
    assert not unplaced, f"add these modules to tests/layers.toml: {unplaced}"


def test_no_upward_import_beyond_the_listed_ones() -> None:
    found = upward_imports()
    new = {pair: where for pair, where in found.items() if pair not in TABLE["allowed"]}
    assert not new, "upward imports (move the code down, or import from a lower layer):\n" + "\n".join(
        f"  {pair}  at {where}" for pair, where in sorted(new.items())
    )


def test_listed_exceptions_still_exist() -> None:
    # A pair that no longer occurs must leave the list, so it cannot come back unnoticed.
    # (An entry for a module that does not exist yet, on a parallel branch, waits for it.)
    found = upward_imports()
    gone = [pair for pair in TABLE["allowed"] if pair not in found and pair.split(" -> ")[0] in MODULES]
    assert not gone, f"remove from [allowed] in tests/layers.toml, they no longer occur: {gone}"


@pytest.mark.parametrize(
    ("source", "target", "upward"),
    [
        ("facs_core.stats.partial_corr", "store.catalog", True),
        ("facs_core.wavelets.features", "facs_core.services.jobs", True),
        ("store.videos", "facs_core.wavelets", True),
        ("store.videos", "web.common", True),
        ("facs_core.services.jobs", "facs_core.cli", True),
        ("facs_core.services.jobs", "store.catalog", False),
        ("facs_core.services.jobs", "facs_core.wavelets", False),
        ("pages.cohort", "facs_core.stats", False),
        ("store.catalog", "facs_core.errors", False),
        # An unlisted module directly under facs_core/ is core: it may not reach the store,
        # an unlisted one under facs_core/services/ is a service and may.
        ("facs_core.not_yet_listed", "store.catalog", True),
        ("facs_core.stats.design", "facs_core.services.not_yet_listed", True),
        ("facs_core.services.not_yet_listed", "store.catalog", False),
        ("facs_core.services.not_yet_listed", "web.common", True),
    ],
)
def test_the_rule_itself(tmp_path: Path, source: str, target: str, upward: bool) -> None:
    # A throwaway module importing one name, checked with the real table.
    file = tmp_path / "__init__.py"
    file.write_text(f"import {target}\n", "utf-8")
    found = upward_imports(TABLE, {source: file})
    assert (f"{source} -> {target}" in found) is upward


#: What SQL looks like in a view: a call that runs a statement, or a string holding one.
SQL_CALLS = {"execute", "executemany", "sql", "fetchone", "fetchall", "fetchdf", "scalar"}
SQL_TEXT = re.compile(r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b")


def sql_in(file: Path) -> list[str]:
    """``"line: what"`` for every SQL call or SQL string literal in ``file``."""
    found = []
    for node in ast.walk(ast.parse(file.read_text("utf-8"), filename=str(file))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"{node.lineno}: .{node.func.attr}(")
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if SQL_TEXT.search(text):
                found.append(f"{node.lineno}: {text[:60]!r}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value):
            found.append(f"{node.lineno}: {node.value[:60]!r}")
    return found


def test_views_hold_no_sql() -> None:
    # Pages, dashboard helpers and commands ask the store (store.listings and the
    # other store modules) or a service; the SQL lives there, where its tests are.
    offending = {
        str(file.relative_to(REPO)): hits
        for module, file in MODULES.items()
        if layer_of(module) == "views" and (hits := sql_in(file))
    }
    assert not offending, f"SQL in views (move it into store/ or a service): {offending}"


@pytest.mark.parametrize(
    ("source", "has_sql"),
    [
        ('store.query("SELECT patient_id FROM patients")', True),
        ('store.query(f"SELECT * FROM {table} ORDER BY frame")', True),
        ('sql = (\n    "SELECT a,"\n    " b FROM videos"\n)', True),
        ('catalog.scalar("SELECT 1")', True),
        ("cur.execute(statement)", True),
        ("users.list_users(store).query(\"role == 'clinician' and active\")", False),
        ('st.caption("Select a visit from the list")', False),
        ("listings.patient_codes(store)", False),
    ],
)
def test_the_sql_check_itself(tmp_path: Path, source: str, has_sql: bool) -> None:
    file = tmp_path / "page.py"
    file.write_text(source + "\n", "utf-8")
    assert bool(sql_in(file)) is has_sql


def audit_literals(file: Path) -> list[str]:
    """``"line: what"`` where ``file`` names an audit action by a literal or writes audit_log itself."""
    found = []
    for node in ast.walk(ast.parse(file.read_text("utf-8"), filename=str(file))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "record"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "audit"
            and len(node.args) >= 3
            and isinstance(node.args[2], ast.Constant)
        ):
            found.append(f"{node.lineno}: audit.record(..., {node.args[2].value!r}, ...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "INTO audit_log" in node.value:
            found.append(f"{node.lineno}: writes audit_log directly")
    return found


def test_audit_actions_are_named_once() -> None:
    # Every writer goes through store.audit.record with one of store.audit's
    # action constants, so a reader's SQL (the sign-in lockout) matches what was written.
    offending = {
        str(file.relative_to(REPO)): hits
        for module, file in MODULES.items()
        if module != "store.audit" and (hits := audit_literals(file))
    }
    assert not offending, f"use store.audit.record with a store.audit action constant: {offending}"


def import_cycles(modules: dict[str, Path] = MODULES) -> list[list[str]]:
    """Groups of first-party modules that import each other (lazy imports included), each sorted."""
    known = set(modules)
    graph = {m: {t for t, _ in imports_of(m, f, known) if t in known and t != m} for m, f in modules.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = low[module] = len(order)
        stack.append(module)
        for target in graph[module]:
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in graph:
        if module not in order:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    # A loop broken only by an import inside a function is still a loop: each
    # side needs the other, and neither can be read, tested or moved alone.
    assert not import_cycles(), f"modules importing each other: {import_cycles()}"


def test_the_cycle_check_itself(tmp_path: Path) -> None:
    files = {}
    for name, body in {"a": "import b\n", "b": "def f():\n    import a\n", "c": "import a\n"}.items():
        files[f"facs_core.{name}"] = tmp_path / f"{name}.py"
        files[f"facs_core.{name}"].write_text(body.replace("import ", "import facs_core."), "utf-8")
    assert import_cycles(files) == [["facs_core.a", "facs_core.b"]]


def test_the_library_never_imports_streamlit() -> None:
    """``facs_core`` (core, services, command line) stays UI-free; dashboard code lives in web/ and pages/."""
    offenders = []
    for module, file in MODULES.items():
        if module.split(".")[0] != "facs_core":
            continue
        for node in ast.walk(ast.parse(file.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{module}:{node.lineno}" for name in names if name.split(".")[0] == "streamlit"]
    assert not offenders, f"move UI code out of facs_core: {offenders}"


def imports_from_test_modules(file: Path) -> list[str]:
    """``"line: module"`` for each import of a ``test_*`` module in ``file`` (absolute or relative)."""
    found = []
    for node in ast.walk(ast.parse(file.read_text("utf-8"), filename=str(file))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.module else [alias.name for alias in node.names]
            if node.module and node.level == 0 and node.module == "tests":
                names = [f"tests.{alias.name}" for alias in node.names]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[-1].startswith("test_")]
    return found


def test_tests_import_helpers_not_other_tests() -> None:
    """A test module is collected, not imported: what tests share lives in helper modules or conftest.py.

    Importing another test file runs its module body again under a second name,
    and ties one file's tests to the other's private helpers.
    """
    offenders = {
        file.name: found for file in sorted((REPO / "tests").glob("*.py")) if (found := imports_from_test_modules(file))
    }
    assert not offenders, f"move shared test helpers into a helper module (tests/*.py, not test_*): {offenders}"


@pytest.mark.parametrize(
    ("source", "imports_a_test"),
    [
        ("from tests.test_e2e_browser import idle\n", True),
        ("import tests.test_integrity\n", True),
        ("from tests import test_integrity\n", True),
        ("from .test_integrity import _fill\n", True),
        ("def f():\n    from tests.test_x import y\n", True),
        ("from tests.browser_server import idle\n", False),
        ("from tests import apptest_pages\n", False),
        ("from facs_core.testing import x\n", False),
    ],
)
def test_the_test_import_check_itself(tmp_path: Path, source: str, imports_a_test: bool) -> None:
    file = tmp_path / "test_sample.py"
    file.write_text(source, "utf-8")
    assert bool(imports_from_test_modules(file)) == imports_a_test
