"""The layers of docs/architecture.md hold: imports point inwards, each library has its owners.

http -> service -> (fhir, store) -> core; the HTTP layer reaches the store and the reading
path only through the service. The core is pure Python (standard library only); a
boundary library (Flask, marshmallow, SQLAlchemy, fhir.resources) is imported only by the
modules that own that boundary.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CDS = Path(__file__).resolve().parent.parent / "cds"

# package -> the cds packages and modules it may import (besides itself).
MAY_IMPORT: dict[str, set[str]] = {
    "cds.core": set(),
    # cds.jsonio: a fetched page's unpaired surrogate escapes are repaired as a request's are.
    "cds.fhir": {"cds.core", "cds.config", "cds.errors", "cds.jsonio"},
    # The store's 400s (feedback it cannot judge) are message ids: `N_` from core.i18n.
    "cds.store": {"cds.config", "cds.errors", "cds.core.i18n"},
}
# Never imported by the inner layers, whatever the table above says.
OUTER = ("cds.http", "cds.service", "cds.cli", "cds.serving")

# library -> the module prefixes that may import it.
OWNERS: dict[str, tuple[str, ...]] = {
    "flask": ("cds.http", "cds", "cds.observability", "cds.smart"),
    "werkzeug": ("cds.http", "cds.serving", "cds.smart"),
    "marshmallow": ("cds.schemas",),
    "sqlalchemy": ("cds.store",),
    "alembic": ("cds.store",),
    "fhir": ("cds.fhir", "cds.smart"),
    "pydantic": ("cds.fhir", "cds.smart"),
    "gunicorn": ("cds.serving",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(CDS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, relative imports resolved to absolute names."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def cds_modules() -> list[Path]:
    return sorted(p for p in CDS.rglob("*.py") if "migrations" not in p.parts)


def inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def owned_by(module: str, owner: str) -> bool:
    """`cds` owns only its own __init__; any other owner is a package or module prefix."""
    return module == owner or (owner != "cds" and inside(module, owner))


def is_cds_module(name: str) -> bool:
    dotted = name.replace(".", "/")
    return (CDS.parent / f"{dotted}.py").exists() or (CDS.parent / dotted).is_dir()


@pytest.mark.parametrize("path", sorted((CDS / "core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_only_the_standard_library_and_itself(path: Path) -> None:
    foreign = {
        name
        for name in imports(path)
        if not inside(name, "cds.core") and name.split(".")[0] not in sys.stdlib_module_names
    }
    assert foreign == set()
    # Nor the standard library's JSON: the wire format lives outside the core.
    assert {name for name in imports(path) if inside(name, "json")} == set()


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_inner_layer_imports_only_what_lies_below_it(layer: str) -> None:
    allowed = (layer, *MAY_IMPORT[layer])
    wrong = {
        f"{module_name(path)} -> {name}"
        for path in cds_modules()
        if inside(module_name(path), layer)
        for name in imports(path)
        if inside(name, "cds")
        and is_cds_module(name)
        and (
            any(inside(name, outer) for outer in OUTER) or not any(inside(name, a) for a in allowed)
        )
    }
    assert wrong == set()


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_boundary_library_is_imported_only_by_its_owners(library: str) -> None:
    owners = OWNERS[library]
    importers = {
        module_name(path)
        for path in cds_modules()
        if any(name.split(".")[0] == library for name in imports(path))
    }
    assert {m for m in importers if not any(owned_by(m, owner) for owner in owners)} == set()


# http -> service -> (reading, engine, cards, store): the HTTP layer reaches the store, the FHIR
# reading path and the engine only through cds.service (it may still name the core's data).
THROUGH_THE_SERVICE = (
    "cds.store",
    "cds.fhir.bundle",
    "cds.fhir.reading",
    "cds.fhir.prefetch",
    "cds.fhir.fetch",
    "cds.core.engine",
    "cds.core.cards",
)


def test_the_http_layer_reaches_the_store_and_the_engine_only_through_the_service() -> None:
    wrong = {
        f"{module_name(path)} -> {name}"
        for path in cds_modules()
        if inside(module_name(path), "cds.http")
        for name in imports(path)
        if any(inside(name, inner) for inner in THROUGH_THE_SERVICE)
    }
    assert wrong == set()


def test_the_service_layer_knows_nothing_of_flask() -> None:
    assert not any(inside(name, "flask") for name in imports(CDS / "service.py"))


def test_the_table_names_real_packages() -> None:
    # A renamed package must not leave a rule that silently checks nothing.
    for layer in (*MAY_IMPORT, *OUTER[:2], *THROUGH_THE_SERVICE):
        assert is_cds_module(layer), layer
