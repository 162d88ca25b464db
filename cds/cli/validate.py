"""`calf-cds validate FILE`: FHIR R4 validity of a resource, a Bundle, NDJSON resources or the
prefetch of a CDS Hooks request, as fhir.resources checks it (structure, cardinality, data
types; not terminology bindings).

The hook itself never needs this: it reads only the elements the rules read, and a resource
that is invalid elsewhere still gives its red flag. This command is for testers and integrators
who want to know what a strict FHIR server would refuse.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .files import NotJson, ndjson_line, unreadable

SHOWN_PROBLEMS = 20  # per resource; the rest are counted


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    validate = commands.add_parser(
        "validate",
        help="check FHIR R4 validity with fhir.resources (structure and types, not bindings)",
    )
    validate.add_argument("file", type=Path, help="JSON resource/Bundle/request, or NDJSON")
    validate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..fhir.resources import problems

    try:
        documents = list(_documents(args.file))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        print(f"calf-cds: {unreadable(args.file, exc)}", file=sys.stderr)
        return 1
    invalid = 0
    for label, resource in documents:
        if isinstance(resource, NotJson):
            invalid += 1
            print(f"{label}: {resource.reason}")
            continue
        found = problems(resource)
        if not found:
            print(f"{label}: valid")
            continue
        invalid += 1
        print(f"{label}: {len(found)} problem{'s' if len(found) != 1 else ''}")
        for problem in found[:SHOWN_PROBLEMS]:
            print(f"  - {problem}")
        if len(found) > SHOWN_PROBLEMS:
            print(f"  - and {len(found) - SHOWN_PROBLEMS} more")
    total = len(documents)
    noun = "resource" if total == 1 else "resources"
    print(f"\n{total} {noun} checked, {invalid} invalid")
    return 1 if invalid else 0


def _documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(label, JSON value) of every top-level resource in the file."""
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    if path.suffix == ".ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                resource = ndjson_line(line)
                yield f"line {number} ({_name(resource)})", resource
        return
    document = json.loads(text)
    if isinstance(document, dict) and "hook" in document and "resourceType" not in document:
        prefetch = document.get("prefetch")
        for key, value in prefetch.items() if isinstance(prefetch, dict) else ():
            if value is not None:
                yield f"prefetch.{key} ({_name(value)})", value
        return
    yield _name(document), document


def _name(resource: Any) -> str:
    if isinstance(resource, NotJson):
        return "not JSON"
    if not isinstance(resource, dict):
        return "not a JSON object"
    kind = resource.get("resourceType", "no resourceType")
    ident = resource.get("id")
    return f"{kind}/{ident}" if isinstance(ident, str) else str(kind)
