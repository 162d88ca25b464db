"""The `calf-cds` console script: serve | evaluate | rules | db | report.

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

from .config import Settings
from .errors import ConfigurationError, ServiceError
from .serve import DEFAULT_THREADS, version

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = Settings.port


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
    parser.add_argument("--version", action="version", version=f"calf-cds {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service (gunicorn; --dev for Flask's)")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument(
        "--port", type=int, default=None, help=f"default CDS_PORT, else {DEFAULT_PORT}"
    )
    serve.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    serve.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="threads per worker (default 1: sync workers that take a request once all of it "
        "has arrived; more: gthread workers, worth it only when the service waits on a slow "
        "FHIR server because the EHR sends no prefetch)",
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
    rules.set_defaults(handler=_rules)

    try:
        from .cli_store import add_store_commands
    except ImportError:  # pragma: no cover - shipped with the store
        pass
    else:
        add_store_commands(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .serve import run_server

    return run_server(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads, dev=args.dev
    )


def _evaluate(args: argparse.Namespace) -> int:
    from .registry import DEFAULT_SERVICE_ID, SERVICES
    from .schemas import load_hook_request
    from .service import Deps, evaluate_bundle, run_hook

    overrides: dict[str, Any] = {}
    if args.now:
        overrides["evaluation_time"] = args.now
    settings = Settings.load(overrides)
    try:
        document = _read_document(args.file)
    except (OSError, ValueError) as exc:
        print(f"calf-cds: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    deps = Deps(settings=settings)
    try:
        if isinstance(document, dict) and "hook" in document:
            service_id = args.service or next(
                (s.id for s in SERVICES.values() if s.hook == document.get("hook")),
                DEFAULT_SERVICE_ID,
            )
            service = SERVICES[service_id]
            answer = run_hook(
                service, load_hook_request(document, expected_hook=service.hook), deps
            )
        elif isinstance(document, dict) and document.get("resourceType") == "Bundle":
            answer = evaluate_bundle(SERVICES[args.service or DEFAULT_SERVICE_ID], document, deps)
        else:
            print(
                "calf-cds: expected a CDS Hooks request, a FHIR Bundle, or NDJSON resources",
                file=sys.stderr,
            )
            return 2
    except KeyError as exc:
        print(f"calf-cds: unknown service {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"calf-cds: {exc.status} {exc.issue_code}: {exc.diagnostics}", file=sys.stderr)
        return 1 if exc.status == 412 else 2
    if args.json:
        print(json.dumps(answer.body(), indent=2))
    else:
        print(format_cards(answer.cards))
    return 0


def _read_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".ndjson":
        resources = [json.loads(line) for line in text.splitlines() if line.strip()]
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
    return json.loads(text)


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
    from .codesystems import rule_catalog

    catalog = rule_catalog()
    if args.json:
        print(json.dumps(catalog, indent=2))
        return 0
    rows = [("RULE", "TIER", "ROUTE", "SOURCE")] + [
        (row["id"], row["tier"], row["route"], _source_label(row["source"])) for row in catalog
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    print(f"\n{len(catalog)} rules")
    return 0


def _source_label(source: Any) -> str:
    if isinstance(source, dict):
        return str(source.get("label", ""))
    return str(source)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
