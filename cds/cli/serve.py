"""`calf-cds serve`: the service under gunicorn (or Flask's development server)."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from ..serving.server import DEFAULT_THREADS, run_server

DEFAULT_HOST = "127.0.0.1"


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    serve = commands.add_parser("serve", help="run the service (gunicorn; --dev for Flask's)")
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port", type=int, default=None, help=f"default CDS_PORT, else {Settings.port}"
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
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_server(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads, dev=args.dev
    )
