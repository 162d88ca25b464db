"""`calf-cds dev-ehr`: a development EHR that does SMART, for the red-flag check app.

Loopback only, for testers and tests; never for production data. The EHR itself lives in
`cds.smart.dev_ehr`, imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8081


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    parser = commands.add_parser(
        "dev-ehr",
        help="a development EHR that does SMART (loopback only; testers and tests)",
        description="Serve a small EHR on loopback: SMART configuration, an authorize "
        "endpoint that auto-approves, a token endpoint, and a FHIR store loaded from "
        "fhir_samples/. Never for production data.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--app",
        default="http://127.0.0.1:8080",
        help="calf-cds's base URL: the registered launch URL and redirect URI live under it",
    )
    parser.add_argument("--client-id", default="calf-cds-dev", help="the app's client id")
    parser.add_argument(
        "--user", default="Practitioner/dev-clinician", help="the user signed in (fhirUser)"
    )
    parser.add_argument("--samples", type=Path, default=None, help="default: fhir_samples/")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..config import Settings
    from ..smart.dev_ehr import serve

    try:
        return serve(
            host=args.host,
            port=args.port,
            app_base=args.app,
            client_id=args.client_id,
            user=args.user,
            samples_dir=args.samples,
            fhir_base=Settings.load().fhir_base,
        )
    except ValueError as exc:
        print(f"calf-cds dev-ehr: {exc}", file=sys.stderr)
        return 2
