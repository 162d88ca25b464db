"""`--lang` for the commands that print clinician text (`evaluate`, `rules`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from ..core.i18n import Translator
from ..i18n import LANGUAGES, translator_for


def add_language_option(parser: Any, what: str = "language of the card text") -> None:
    """Add `--lang` to an argparse (sub)parser; `what` says what it changes."""
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help=f"{what} (default: CDS_LANGUAGE, else en)",
    )


def translator(args: argparse.Namespace) -> Translator:
    """The Translator `--lang` asks for, else the deployment's CDS_LANGUAGE."""
    return translator_for(args.lang or Settings.load().language)
