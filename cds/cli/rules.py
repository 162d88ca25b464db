"""`calf-cds rules`: the rule set as a table, JSON, or the text of docs/rules.md."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .language import add_language_option, translator


def add_to(commands: Any) -> None:
    """Add the command to the `calf-cds` subparsers (an argparse `add_subparsers()` result)."""
    rules = commands.add_parser("rules", help="list the rule set as a table")
    form = rules.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the catalog as GET /rules answers it")
    form.add_argument(
        "--markdown", action="store_true", help="write docs/rules.md's text (English)"
    )
    add_language_option(rules, "language of the rule descriptions")
    rules.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..config import Settings
    from ..core.describe import catalog, markdown, rules_document
    from .render import print_rules

    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    language = translator(args)
    if args.json:
        document = rules_document(language, Settings.load().fhir_base)
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    print_rules(catalog(language), language)
    return 0
