"""Requirement traceability: the `requirement` markers against the CDS Hooks 2.0 requirements.

The Inferno table (`tests/data/inferno-requirements/`, 123 requirements on a service) is
the checklist. Every marker must name one of its (Req Set, ID) keys; every SHALL / SHALL NOT
requirement must be proven by a test or listed under "Not applicable / not tested" in
docs/cds-hooks-conformance.md with a reason; and that page must be exactly what
scripts/conformance_report.py generates, so it cannot rot.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import REPO

SCRIPT = REPO / "scripts" / "conformance_report.py"
SUBSET_ROWS = 123


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_report", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


report = load_script()


@pytest.fixture(scope="module")
def requirements() -> list[Any]:
    rows: list[Any] = report.load_requirements()
    return rows


@pytest.fixture(scope="module")
def markers() -> list[Any]:
    found, problems = report.collect_markers()
    assert problems == []
    return list(found)


def not_tested_section(document: str) -> dict[str, str]:
    """ID -> reason, from the "Not applicable / not tested" table of the committed page."""
    _, _, section = document.partition(report.NOT_TESTED_HEADING + "\n")
    rows = re.findall(r"^\| ([^|\s]+) \| [A-Z ]+ \| (.+) \|$", section, re.MULTILINE)
    return {key: reason for key, reason in rows if key not in {"ID", "---"}}


def test_the_table_is_the_123_row_service_subset(requirements: list[Any]) -> None:
    keys = [r.key for r in requirements]
    assert len(keys) == SUBSET_ROWS
    assert len(set(keys)) == SUBSET_ROWS  # (Req Set, ID) is the key
    assert {r.conformance for r in requirements} <= set(report.GROUPS)


def test_every_marker_names_a_requirement_of_the_table(
    requirements: list[Any], markers: list[Any]
) -> None:
    known = {r.key for r in requirements}
    unknown = [f"{m.where}: {m.key}" for m in markers if m.key not in known]
    assert markers
    assert unknown == []


def test_every_shall_requirement_is_tested_or_listed_with_a_reason(
    requirements: list[Any], markers: list[Any]
) -> None:
    listed = not_tested_section(report.DOC_PATH.read_text(encoding="utf-8"))
    covered = report.covered_by(markers)
    open_requirements = [
        f"{r.key} ({r.conformance})"
        for r in requirements
        if r.group == "SHALL" and r.key not in covered and not listed.get(r.key, "").strip()
    ]
    assert open_requirements == []
    assert report.problems_of(requirements, markers) == []


def test_the_conformance_page_is_generated_from_the_current_tests(
    requirements: list[Any], markers: list[Any]
) -> None:
    committed = report.DOC_PATH.read_text(encoding="utf-8")
    assert committed == report.render(requirements, markers), (
        "docs/cds-hooks-conformance.md is stale: run .venv/bin/python scripts/conformance_report.py"
    )


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        pytest.param(
            '@pytest.mark.requirement("cds-hooks_2.0:9999")\ndef test_x(): pass\n',
            "not a requirement of the table",
            id="unknown-id",
        ),
        pytest.param(
            'ID = "cds-hooks_2.0:4"\n@pytest.mark.requirement(ID)\ndef test_x(): pass\n',
            "literal strings",
            id="not-a-literal",
        ),
        pytest.param(
            'MARK = pytest.mark.requirement("cds-hooks_2.0:4")\n',
            "must decorate a test",
            id="not-a-decorator",
        ),
    ],
)
def test_a_broken_marker_is_reported(
    tmp_path: Path, requirements: list[Any], source: str, problem: str
) -> None:
    (tmp_path / "test_broken.py").write_text("import pytest\n" + source, encoding="utf-8")

    found, problems = report.collect_markers(tmp_path)
    problems += report.problems_of(requirements, found, report.NOT_TESTED)

    assert any(problem in line for line in problems), problems


def test_an_uncovered_shall_requirement_without_a_reason_is_reported(
    requirements: list[Any], markers: list[Any]
) -> None:
    reasons = dict(report.NOT_TESTED)
    del reasons["cds-hooks_2.0:2"]

    problems = report.problems_of(requirements, markers, reasons)

    assert problems == [
        "cds-hooks_2.0:2 (SHALL) is neither tested nor listed as not applicable / not tested "
        "with a reason"
    ]
