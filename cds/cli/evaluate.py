"""`calf-cds evaluate FILE`: the cards for a CDS Hooks request, a FHIR Bundle or NDJSON resources,
for a terminal (colour and wrapping; plain text when piped) or (`--json`) the CDS Hooks response.

Exit codes: 0 cards printed; 1 the input could not be evaluated (unreadable, not JSON, refused
with a 4xx); 2 usage (an unknown flag, a bad `--now`, a `--service` that is unknown or answers
another hook than the request's).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from .. import request_extension
from ..config import Settings
from ..core.i18n import N_
from ..errors import BadRequest, ServiceError
from ..registry import SERVICES
from .files import NotJson, ndjson_line, unreadable
from .language import add_language_option, translator


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    evaluate = commands.add_parser(
        "evaluate", help="print the cards for a CDS Hooks request or a FHIR Bundle file"
    )
    evaluate.add_argument("file", type=Path, help="JSON request/Bundle, or NDJSON resources")
    evaluate.add_argument(
        "--service",
        choices=sorted(SERVICES),
        default=None,
        help="service id (default: the one for the request's hook)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the CDS Hooks response")
    evaluate.add_argument(
        "--now",
        type=instant,
        default=None,
        metavar="ISO-8601",
        help="evaluate as of this time, with its UTC offset (default: the request's own "
        "evaluationTime, else now)",
    )
    add_language_option(evaluate)
    evaluate.set_defaults(handler=run)


def instant(text: str) -> datetime:
    """`--now`: an ISO 8601 date-time with its offset (argparse names the flag on error)."""
    try:
        return request_extension.instant(text, "--now")
    except BadRequest as exc:
        # argparse already says "argument --now: "
        reason = exc.diagnostics.removeprefix("--now: ")
        raise argparse.ArgumentTypeError(f"{reason}; got {text!r}") from exc


def run(args: argparse.Namespace) -> int:
    from .. import wire
    from ..jsonio import envelope, json_object, string_member
    from ..registry import DEFAULT_SERVICE_ID
    from ..schemas import load_hook_request
    from ..service import Deps, Presentation, evaluate_bundle, run_hook
    from .render import print_cards

    settings = Settings.load()
    try:
        raw = read_document(args.file)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _refused(unreadable(args.file, exc))
    deps = Deps(settings=settings)
    try:
        parsed = json_object(
            raw,
            settings,
            not_an_object=N_(
                "request body must be a JSON object (a CDS Hooks request or a FHIR Bundle)"
            ),
        )
        members = parsed.members
        if "hook" in members:
            document = envelope(members, settings)
            service_id = args.service or next(
                (s.id for s in SERVICES.values() if s.hook == document.get("hook")),
                DEFAULT_SERVICE_ID,
            )
            service = SERVICES[service_id]
            if args.service and document.get("hook") != service.hook:
                return _usage(
                    f"--service {service.id} answers {service.hook}; the request is "
                    f"{document.get('hook')} (leave --service out to follow the request's hook)"
                )
            request = load_hook_request(document, expected_hook=service.hook)
            shown = Presentation(
                translator=translator(args),
                as_of=args.now or request_extension.evaluation_time(request.extra.get("extension")),
            )
            answer = run_hook(service, request, deps, shown)
        elif string_member(members, "resourceType") == "Bundle":
            service = SERVICES[args.service or DEFAULT_SERVICE_ID]
            shown = Presentation(translator=translator(args), as_of=args.now)
            answer = evaluate_bundle(service, msgspec.Raw(parsed.raw), deps, shown)
        else:
            return _refused("expected a CDS Hooks request, a FHIR Bundle, or NDJSON resources")
    except ServiceError as exc:  # the file named; the service's own words for what is wrong
        return _refused(f"{args.file}: {exc.translated(translator(args))}")
    if args.json:
        print(json.dumps(wire.cards(answer.cards), indent=2, ensure_ascii=False))
    else:
        print_cards(answer.cards, answer.evaluated_at, shown.translator)
    return 0


def _refused(reason: str) -> int:
    print(f"calf-cds: {reason}", file=sys.stderr)
    return 1


def _usage(reason: str) -> int:
    print(f"calf-cds evaluate: {reason}", file=sys.stderr)
    return 2


def read_document(path: Path) -> bytes:
    """The file's bytes; NDJSON as a collection Bundle, one entry per line. A line that is not
    JSON is said on stderr and kept as an entry that is no resource: the info card counts it
    unreadable, and the other lines' red flags are read."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if path.suffix != ".ndjson":
        return data
    entries = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        resource = ndjson_line(line)
        if isinstance(resource, NotJson):
            print(f"calf-cds: {path} line {number}: {resource.reason}", file=sys.stderr)
            resource = line
        entries.append({"fullUrl": f"line {number}", "resource": resource})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return json.dumps(bundle).encode()
