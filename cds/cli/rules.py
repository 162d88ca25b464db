"""`calf-cds rules`: the rule set as a table, JSON, or the text of docs/rules.md."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    rules = commands.add_parser("rules", help="list the rule set as a table")
    rules.add_argument("--json", action="store_true")
    rules.add_argument("--markdown", action="store_true", help="write docs/rules.md's text")
    rules.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..core.describe import catalog, markdown
    from .render import print_rules

    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    described = catalog()
    if args.json:
        print(json.dumps([asdict(d) for d in described], indent=2, ensure_ascii=False))
        return 0
    print_rules(described)
    return 0
