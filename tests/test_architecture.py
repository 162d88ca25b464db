"""The dependency direction of conventions.md holds: the pure core imports no framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CDS = Path(__file__).resolve().parent.parent / "cds"
PURE_CORE = [
    "model",
    "findings",
    "units",
    "rules",
    "engine",
    "scores",
    "routes",
    "cards",
    "codesystems",
]
FRAMEWORKS = {
    "flask",
    "marshmallow",
    "sqlalchemy",
    "alembic",
    "httpx",
    "fhir",
    "werkzeug",
    "gunicorn",
    "psycopg",
}
# module -> the only framework it may import (one library per boundary)
BOUNDARIES = {"fhir": {"fhir_input"}, "marshmallow": {"schemas"}}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE_CORE)
def test_pure_core_module_imports_no_framework(module: str) -> None:
    path = CDS / f"{module}.py"
    assert path.exists(), f"cds/{module}.py is part of the pure core"
    assert imported_roots(path) & FRAMEWORKS == set()


@pytest.mark.parametrize(("library", "owners"), sorted(BOUNDARIES.items()))
def test_each_boundary_library_has_one_owner(library: str, owners: set[str]) -> None:
    importers = {
        path.relative_to(CDS).with_suffix("").as_posix().replace("/", ".")
        for path in CDS.rglob("*.py")
        if library in imported_roots(path)
    }
    assert importers <= owners
