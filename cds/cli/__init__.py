"""The `calf-cds` console script: serve | evaluate | validate | rules | db | report | dev-ehr.

Each command lives in its own module and adds itself to the parser. Exit codes: 0 success;
1 bad input or a refusal (a file that cannot be read or evaluated, an invalid resource, a 4xx
answer, the store unavailable); 2 usage (an unknown command or flag, a bad flag value, a
configuration error).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError
from ..serving.server import version
from . import dev_ehr, evaluate, rules, serve, store, validate

COMMANDS = (serve, evaluate, validate, rules, store, dev_ehr)


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A resource's own text may hold what the terminal cannot encode (a lone surrogate):
        # it is printed escaped, never a traceback.
        sys.stdout.reconfigure(errors="backslashreplace")
    parser, commands = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the command's own usage, not the top-level one
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        result: int = args.handler(args)
    except ConfigurationError as exc:
        print(f"calf-cds: configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`calf-cds rules --json | head`): the Python docs' "Note on
        # SIGPIPE" recipe, so that the exit does not flush into the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return result


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The `calf-cds` parser and its subparsers action (`choices`: command -> its parser)."""
    parser = argparse.ArgumentParser(
        prog="calf-cds", description="CDS Hooks 2.0 calf-pain red-flag triage service"
    )
    parser.add_argument("--version", action="version", version=f"calf-cds {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_to(commands)
    return parser, commands
