"""`calf-cds evaluate FILE`: the cards for a CDS Hooks request, a FHIR Bundle or NDJSON resources,
as text for a terminal or (`--json`) the CDS Hooks response."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from ..config import Settings
from ..errors import ServiceError
from .language import add_language_option, translator


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    evaluate = commands.add_parser(
        "evaluate", help="print the cards for a CDS Hooks request or a FHIR Bundle file"
    )
    evaluate.add_argument("file", type=Path, help="JSON request/Bundle, or NDJSON resources")
    evaluate.add_argument("--service", default=None, help="service id (default: by the hook)")
    evaluate.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    evaluate.add_argument(
        "--now", default=None, help="evaluation time, ISO 8601 with offset (default: now)"
    )
    add_language_option(evaluate)
    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .. import wire
    from ..fhir.bundle import BundleError
    from ..jsonio import envelope, json_object
    from ..registry import DEFAULT_SERVICE_ID, SERVICES
    from ..schemas import load_hook_request
    from ..service import Deps, Presentation, evaluate_bundle, run_hook

    overrides: dict[str, Any] = {}
    if args.now:
        overrides["evaluation_time"] = args.now
    settings = Settings.load(overrides)
    try:
        raw = read_document(args.file)
    except (OSError, ValueError) as exc:
        print(f"calf-cds: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    deps = Deps(settings=settings)
    try:
        parsed = json_object(raw, settings, what="a CDS Hooks request or a FHIR Bundle")
        members = parsed.members
        if "hook" in members:
            document = envelope(members, settings)
            service_id = args.service or next(
                (s.id for s in SERVICES.values() if s.hook == document.get("hook")),
                DEFAULT_SERVICE_ID,
            )
            service = SERVICES[service_id]
            request = load_hook_request(document, expected_hook=service.hook)
            shown = replace(as_of(request.extra, args.now), translator=translator(args))
            answer = run_hook(service, request, deps, shown)
        elif bytes(members.get("resourceType", b"")).strip() == b'"Bundle"':
            service = SERVICES[args.service or DEFAULT_SERVICE_ID]
            shown = Presentation(translator=translator(args))
            answer = evaluate_bundle(service, msgspec.Raw(parsed.raw), deps, shown)
        else:
            print(
                "calf-cds: expected a CDS Hooks request, a FHIR Bundle, or NDJSON resources",
                file=sys.stderr,
            )
            return 2
    except KeyError as exc:
        print(f"calf-cds: unknown service {exc}", file=sys.stderr)
        return 2
    except BundleError as exc:
        print(f"calf-cds: entry: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"calf-cds: {exc.status} {exc.issue_code}: {exc.diagnostics}", file=sys.stderr)
        return 1 if exc.status == 412 else 2
    body = wire.cards(answer.cards)
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(format_cards(body["cards"]))
    return 0


def as_of(extra: dict[str, Any], now: str | None) -> Any:
    """A request's own reference time, unless --now says otherwise."""
    from datetime import datetime

    from ..service import Presentation

    ours = (
        (extra.get("extension") or {}).get("example.calf-cds")
        if isinstance(extra.get("extension"), dict)
        else None
    )
    text = ours.get("evaluationTime") if isinstance(ours, dict) and not now else None
    if isinstance(text, str):
        return Presentation(as_of=datetime.fromisoformat(text.replace("Z", "+00:00")))
    return Presentation()


def read_document(path: Path) -> bytes:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if path.suffix == ".ndjson":
        resources = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        return json.dumps(bundle).encode()
    return data


def format_cards(cards: Sequence[dict[str, Any]]) -> str:
    """Cards as text a tester can read in a terminal."""
    if not cards:
        return "No cards."
    blocks = []
    for number, card in enumerate(cards, start=1):
        topic = card.get("source", {}).get("topic", {})
        header = f"{number}. [{card['indicator'].upper()}] {card['summary']}"
        lines = [header, f"   rule: {topic.get('code', '(data quality)')}"]
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                resource = action.get("resource", {})
                coding = (resource.get("code", {}).get("coding") or [{}])[0]
                lines.append(
                    f"   suggests: {suggestion['label']}"
                    f" [{resource.get('priority', '-')}; {coding.get('code', '')}"
                    f" {coding.get('display', '')}]"
                )
        if card.get("detail"):
            lines.append(textwrap.indent(card["detail"], "   | "))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
