"""Imports go only downward between the layers (see docs/architecture.md and tests/layers.toml).

Every first-party module's imports are read with :mod:`ast` (imports inside
functions and ``TYPE_CHECKING`` blocks included: a lazy import is still a
dependency) and each is checked against the table of layers. Upward imports
that exist today are listed in the table with what must move; any other one
fails here, and so does a listed one that has gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
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
        ("store.videos", "facs_core.views.common", True),
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
        ("facs_core.services.not_yet_listed", "facs_core.views.common", True),
    ],
)
def test_the_rule_itself(tmp_path: Path, source: str, target: str, upward: bool) -> None:
    # A throwaway module importing one name, checked with the real table.
    file = tmp_path / "__init__.py"
    file.write_text(f"import {target}\n", "utf-8")
    found = upward_imports(TABLE, {source: file})
    assert (f"{source} -> {target}" in found) is upward
