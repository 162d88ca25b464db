"""The `calf-cds` console script: serve | evaluate | rules | db | report | dev-ehr.

Exit codes: 0 success; 1 the input was evaluated but refused (e.g. 412); 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from .config import Settings
from .errors import ConfigurationError, ServiceError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigurationError as exc:
        print(f"calf-cds: configuration error: {exc}", file=sys.stderr)
        return 2
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calf-cds", description="CDS Hooks 2.0 calf-pain red-flag triage service"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service (gunicorn; --dev for Flask's)")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    serve.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker (default 1: sync workers; more: gthread workers with "
        "keep-alive, worth it when the service must fetch from a slow FHIR server because the "
        "EHR sends no prefetch)",
    )
    serve.add_argument("--dev", action="store_true", help="Flask's development server")
    serve.set_defaults(handler=_serve)

    evaluate = commands.add_parser(
        "evaluate", help="print the cards for a CDS Hooks request or a FHIR Bundle file"
    )
    evaluate.add_argument("file", type=Path, help="JSON request/Bundle, or NDJSON resources")
    evaluate.add_argument("--service", default=None, help="service id (default: by the hook)")
    evaluate.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    evaluate.add_argument(
        "--now", default=None, help="evaluation time, ISO 8601 with offset (default: now)"
    )
    evaluate.set_defaults(handler=_evaluate)

    rules = commands.add_parser("rules", help="list the rule set as a table")
    rules.add_argument("--json", action="store_true")
    rules.add_argument("--markdown", action="store_true", help="write docs/rules.md's text")
    rules.set_defaults(handler=_rules)

    try:
        from .cli_store import add_store_commands
    except ImportError:  # pragma: no cover - shipped with the store
        pass
    else:
        add_store_commands(commands)
    from .smart.dev_ehr_cli import add_command as add_dev_ehr_command

    add_dev_ehr_command(commands)  # the SMART app's development EHR (issue 20)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .serve import run_server

    return run_server(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads, dev=args.dev
    )


def _evaluate(args: argparse.Namespace) -> int:
    from . import wire
    from .fhir.bundle import BundleError
    from .jsonio import envelope, json_object
    from .registry import DEFAULT_SERVICE_ID, SERVICES
    from .schemas import load_hook_request
    from .service import Deps, Presentation, evaluate_bundle, run_hook

    overrides: dict[str, Any] = {}
    if args.now:
        overrides["evaluation_time"] = args.now
    settings = Settings.load(overrides)
    try:
        raw = _read_document(args.file)
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
            answer = run_hook(service, request, deps, _as_of(request.extra, args.now))
        elif bytes(members.get("resourceType", b"")).strip() == b'"Bundle"':
            service = SERVICES[args.service or DEFAULT_SERVICE_ID]
            answer = evaluate_bundle(service, msgspec.Raw(parsed.raw), deps, Presentation())
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


def _as_of(extra: dict[str, Any], now: str | None) -> Any:
    """A request's own reference time, unless --now says otherwise."""
    from datetime import datetime

    from .service import Presentation

    ours = (
        (extra.get("extension") or {}).get("example.calf-cds")
        if isinstance(extra.get("extension"), dict)
        else None
    )
    text = ours.get("evaluationTime") if isinstance(ours, dict) and not now else None
    if isinstance(text, str):
        return Presentation(as_of=datetime.fromisoformat(text.replace("Z", "+00:00")))
    return Presentation()


def _read_document(path: Path) -> bytes:
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


def _rules(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .core.describe import catalog, markdown

    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    described = catalog()
    if args.json:
        print(json.dumps([asdict(d) for d in described], indent=2, ensure_ascii=False))
        return 0
    rows = [("RULE", "TIER", "ROUTE", "NAME")] + [
        (d.id, d.tier, ", ".join(d.routes), d.name) for d in described
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    print(f"\n{len(described)} rules")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
