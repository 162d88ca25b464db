"""Generate `docs/cds-hooks-conformance.md`: CDS Hooks 2.0 requirements against the tests.

Inputs: the Inferno CRD test kit's requirements on a CDS service (123 rows,
`tests/data/inferno-requirements/cds-hooks-2.0-service-requirements.csv`, source and licence in
tests/data/README.md; key (Req Set, ID), written `cds-hooks_2.0:80`), the
`@pytest.mark.requirement(...)` decorators in `tests/*.py` (read by AST, so only literal strings
count), and `NOT_TESTED` below: the reason each untested requirement does not apply or is not
tested. Every SHALL / SHALL NOT requirement must be tested or carry such a reason;
`tests/test_requirements_coverage.py` holds that line and checks that the committed document is
what this script writes.

    .venv/bin/python scripts/conformance_report.py          # rewrite the document
    .venv/bin/python scripts/conformance_report.py --check  # exit 1: stale, or a rule fails
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CSV_SHOWN = "tests/data/inferno-requirements/cds-hooks-2.0-service-requirements.csv"
CSV_PATH = REPO / CSV_SHOWN
DOC_PATH = REPO / "docs" / "cds-hooks-conformance.md"
TESTS_DIR = REPO / "tests"
NOT_TESTED_HEADING = "## Not applicable / not tested"

# The conformance levels, grouped for the totals (a SHALL NOT is as binding as a SHALL).
GROUPS: dict[str, str] = {
    "SHALL": "SHALL",
    "SHALL NOT": "SHALL",
    "SHOULD": "SHOULD",
    "SHOULD NOT": "SHOULD",
    "MAY": "MAY",
    "DEPRECATED": "DEPRECATED",
}
MUST_BE_ACCOUNTED = "SHALL"

_GUARD = "`test_conformance.py::test_features_the_service_does_not_use_stay_unused` guards this"
_NO_DEEP_LINKS = (
    "No link carries context in its URL: the guideline links are plain `absolute` links, and "
    "the red-flag check's `smart` link is the app's launch URL, its context in `appContext` "
    "(`test_smart_links.py::test_smart_links_carry_their_context_in_app_context_not_the_url` "
    "guards this)."
)
_ONLY_CREATE = (
    "The service only suggests `create` actions (a draft ServiceRequest); it never sends "
    f"`update` or `delete` actions, so `resourceId` is never used; {_GUARD}."
)

# Requirements that are not tested, with the reason. Keys are "<Req Set>:<ID>". A reason that
# starts with "Not met" records a known deviation rather than a requirement that does not apply.
NOT_TESTED: dict[str, str] = {
    "cds-hooks_2.0:2": (
        "Deployment: TLS is terminated in front of the service (reverse proxy or ingress), "
        "which `calf-cds serve` and the Docker image sit behind; nothing in the process can "
        "prove the channel is HTTPS."
    ),
    "cds-hooks_2.0:168": (
        "Deployment, as `cds-hooks_2.0:2`. Outbound, the service only fetches from FHIR servers "
        "the operator allowlists (`CDS_FHIR_SERVER_ALLOWLIST`) and only fetches JWK Sets over "
        "https (a plain-http `jwks_url` is refused at startup)."
    ),
    "cds-hooks_2.0:75": f"The service returns no `systemActions`; {_GUARD}.",
    "cds-hooks_2.0:140": _NO_DEEP_LINKS,
    "cds-hooks_2.0:110": (
        "The cards offer no context-specific drill-down view, so there is no drill-down to put "
        f"on `link.url`; {_GUARD}."
    ),
    "cds-hooks_2.0:111": f"The service sends no `source.icon`; {_GUARD}.",
    "cds-hooks_2.0:112": f"The service sends no `source.icon`; {_GUARD}.",
    "cds-hooks_2.0:113": f"The service sends no `source.icon`; {_GUARD}.",
    "cds-hooks_2.0:132": _ONLY_CREATE,
    "cds-hooks_2.0:133": _ONLY_CREATE,
    "cds-hooks_2.0:134": _ONLY_CREATE,
    "cds-hooks_2.0:135": _ONLY_CREATE
    + " The OpenAPI document describes `resourceId` as a string all the same.",
    "cds-hooks_2.0:125": (
        "A duty of the client, which applies a chosen suggestion's actions together. On the "
        "service's side every suggestion holds exactly one action (the draft referral); "
        f"{_GUARD}."
    ),
    "cds-hooks_2.0:122": (
        "Each card offers at most one suggestion, with `selectionBehavior` `at-most-one`."
    ),
    "cds-hooks_2.0:211": (
        "The service does not update stale guidance across hooks: its two services have "
        "distinct ids (`calf-pain-triage` on patient-view, `calf-pain-triage-encounter` on "
        'encounter-start, cds-hooks.md "Discovery"), and each answer stands on its own.'
    ),
    "cds-hooks_2.0:210": "As `cds-hooks_2.0:211`: not used.",
    "cds-hooks_2.0:212": "A duty of the client (removing stale cards); see `cds-hooks_2.0:211`.",
    "cds-hooks_2.0:78": "A duty of the client (removing stale cards).",
    "cds-hooks_2.0:213": (
        "Organisational: the hooks the service needs (patient-view or encounter-start) are "
        'agreed with each EHR when it is connected (README "For EHR integrators").'
    ),
    "cds-hooks_2.0:175": "Mutual TLS is not used; clients are authenticated by signed JWTs.",
    "cds-hooks_2.0:179": "Mutual TLS is not used; clients are authenticated by signed JWTs.",
    "cds-hooks_2.0:206": "A duty of the client (choosing its signing algorithm).",
    "cds-hooks_2.0:207": "Deprecated in the table.",
    "cds-hooks-library_1.0.1:36": (
        "The encounter-start prefetch templates use only `{{context.patientId}}`."
    ),
    "cds-hooks-library_1.0.1:44": (
        "The encounter-start prefetch templates use only `{{context.patientId}}`."
    ),
}


@dataclass(frozen=True)
class Requirement:
    req_set: str
    id: str
    url: str
    text: str
    conformance: str
    actors: str

    @property
    def key(self) -> str:
        return f"{self.req_set}:{self.id}"

    @property
    def group(self) -> str:
        return GROUPS[self.conformance]


def load_requirements(path: Path = CSV_PATH) -> list[Requirement]:
    """The table's rows, in file order (UTF-8 with BOM; multi-line quoted fields)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            Requirement(
                req_set=row["Req Set"],
                id=row["ID"],
                url=row["URL"],
                text=row["Requirement"],
                conformance=row["Conformance"],
                actors=row["Actors"],
            )
            for row in csv.DictReader(handle)
        ]


@dataclass(frozen=True)
class Marker:
    """One requirement id named by one test."""

    key: str
    test: str  # "test_file.py::test_name" (or "...::Class::test_name")
    where: str  # "tests/test_file.py:LINE", for error messages


def _is_requirement_mark(node: ast.expr) -> bool:
    """`pytest.mark.requirement(...)` or `mark.requirement(...)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "requirement"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "mark"
    )


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _definitions(body: Iterable[ast.stmt], prefix: str) -> Iterator[tuple[str, Definition]]:
    """Top-level test functions and classes, and the methods of classes ("Class::test_x")."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield f"{prefix}{node.name}", node
            if isinstance(node, ast.ClassDef):
                yield from _definitions(node.body, f"{prefix}{node.name}::")


def collect_markers(tests_dir: Path = TESTS_DIR) -> tuple[list[Marker], list[str]]:
    """Every requirement marker on a test function or class; and the problems found (a marker
    that is not a decorator, or has an argument that is not a literal string)."""
    markers: list[Marker] = []
    problems: list[str] = []
    for path in sorted(tests_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        decorators: set[int] = set()
        for name, node in _definitions(tree.body, ""):
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and _is_requirement_mark(decorator)):
                    continue
                decorators.add(id(decorator))
                where = f"tests/{path.name}:{decorator.lineno}"
                if decorator.keywords or not decorator.args:
                    problems.append(f"{where}: requirement() takes requirement ids only")
                for arg in decorator.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        markers.append(Marker(arg.value, f"{path.name}::{name}", where))
                    else:
                        problems.append(f"{where}: requirement ids must be literal strings")
        problems.extend(
            f"tests/{path.name}:{node.lineno}: a requirement marker must decorate a test "
            "function or class"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and _is_requirement_mark(node)
            and id(node) not in decorators
        )
    return markers, problems


def covered_by(markers: Iterable[Marker]) -> dict[str, list[str]]:
    tests: dict[str, set[str]] = {}
    for marker in markers:
        tests.setdefault(marker.key, set()).add(marker.test)
    return {key: sorted(names) for key, names in tests.items()}


def problems_of(
    requirements: list[Requirement],
    markers: list[Marker],
    not_tested: Mapping[str, str] = NOT_TESTED,
) -> list[str]:
    """Why the traceability is broken, one line each (empty when it holds)."""
    known = {r.key for r in requirements}
    problems = [
        f"{m.where}: {m.key!r} is not a requirement of the table (key 'Req Set:ID')"
        for m in markers
        if m.key not in known
    ]
    problems += [
        f"NOT_TESTED names {key!r}, not in the table" for key in not_tested if key not in known
    ]
    covered = covered_by(markers)
    for requirement in requirements:
        key = requirement.key
        if key in covered and key in not_tested:
            problems.append(f"{key} is tested ({', '.join(covered[key])}) and listed as not tested")
        if requirement.group == MUST_BE_ACCOUNTED and key not in covered and key not in not_tested:
            problems.append(
                f"{key} ({requirement.conformance}) is neither tested nor listed as not "
                "applicable / not tested with a reason"
            )
    return problems


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def short_text(text: str, limit: int = 120) -> str:
    """The requirement in one table cell: links reduced to their text, whitespace collapsed."""
    flat = " ".join(_MD_LINK.sub(r"\1", text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat.replace("|", "\\|")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(
    requirements: list[Requirement],
    markers: list[Marker],
    not_tested: Mapping[str, str] = NOT_TESTED,
) -> str:
    covered = covered_by(markers)
    lines = [
        "# CDS Hooks 2.0 conformance",
        "",
        "<!-- Generated by scripts/conformance_report.py; do not edit by hand. -->",
        "",
        f"Generated by `scripts/conformance_report.py` from `{CSV_SHOWN}` (the "
        f"{len(requirements)} requirements of the Inferno CRD test kit's table on a CDS service) "
        "and the `@pytest.mark.requirement(...)` markers in `tests/`. "
        "Regenerate with `.venv/bin/python scripts/conformance_report.py`; "
        "`tests/test_requirements_coverage.py` fails when this page is stale, when a marker names "
        "an unknown requirement, or when a SHALL / SHALL NOT requirement is neither tested nor "
        'listed under "Not applicable / not tested" with a reason.',
        "",
        "A requirement is *tested* when at least one test carrying its id asserts the behaviour "
        "(ids are `<Req Set>:<ID>`, e.g. `cds-hooks_2.0:80`).",
        "",
        "## Totals",
        "",
        "| conformance | requirements | tested | not applicable / not tested | open |",
        "|---|---|---|---|---|",
    ]
    for group, label in (
        ("SHALL", "SHALL (incl. SHALL NOT)"),
        ("SHOULD", "SHOULD (incl. SHOULD NOT)"),
        ("MAY", "MAY"),
        ("DEPRECATED", "DEPRECATED"),
    ):
        rows = [r for r in requirements if r.group == group]
        tested = sum(r.key in covered for r in rows)
        excused = sum(r.key not in covered and r.key in not_tested for r in rows)
        lines.append(
            f"| {label} | {len(rows)} | {tested}/{len(rows)} | {excused} | "
            f"{len(rows) - tested - excused} |"
        )
    lines += [
        "",
        "## Requirements",
        "",
        "| ID | conformance | actors | requirement | status |",
        "|---|---|---|---|---|",
    ]
    for r in requirements:
        if r.key in covered:
            status = "tested: " + ", ".join(f"`{name}`" for name in covered[r.key])
        elif r.key in not_tested:
            reason = _cell(not_tested[r.key])
            status = reason if reason.startswith("Not met") else "N/A: " + reason
        else:
            status = "not tested"
        lines.append(
            f"| [{r.key}]({r.url}) | {r.conformance} | {r.actors} | {short_text(r.text)} | "
            f"{status} |"
        )
    lines += [
        "",
        NOT_TESTED_HEADING,
        "",
        "| ID | conformance | reason |",
        "|---|---|---|",
    ]
    for r in requirements:
        if r.key in not_tested and r.key not in covered:
            lines.append(f"| {r.key} | {r.conformance} | {_cell(not_tested[r.key])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__, file=sys.stderr)
        return 2
    requirements = load_requirements()
    markers, problems = collect_markers()
    problems += problems_of(requirements, markers)
    for problem in problems:
        print(problem, file=sys.stderr)
    document = render(requirements, markers)
    if check:
        if DOC_PATH.read_text(encoding="utf-8") != document:
            print(f"{DOC_PATH.relative_to(REPO)} is stale: run {argv[0]}", file=sys.stderr)
            return 1
        return 1 if problems else 0
    DOC_PATH.write_text(document, encoding="utf-8")
    print(f"wrote {DOC_PATH.relative_to(REPO)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
