"""Translation seam of the pure core: clinician text is marked here and translated by the caller.

The core never imports Babel or Flask-Babel. Texts in tables are marked with `N_` (extracted by
`pybabel extract`, see babel.cfg) and translated at render time through a `Translator` that the
service layer builds from the gettext catalogs (`cds.i18n`). English needs no catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol


def N_(message: str) -> str:
    """Mark a message for extraction without translating it."""
    return message


class Translator(Protocol):
    """What the core needs from a language: messages, plurals, lists, numbers and dates."""

    @property
    def language(self) -> str: ...

    def __hash__(self) -> int: ...  # texts built from table rows are cached per language

    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int) -> str: ...

    def join(self, items: Sequence[str], style: str = "and") -> str: ...

    def number(self, value: float, decimals: int) -> str: ...

    def date(self, value: date) -> str: ...


@dataclass(frozen=True)
class English:
    """The source language: messages as written, English plurals, lists and ISO dates."""

    language: str = "en"

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def join(self, items: Sequence[str], style: str = "and") -> str:
        words = list(items)
        if len(words) <= 1:
            return "".join(words)
        return ", ".join(words[:-1]) + f" {style} " + words[-1]

    def number(self, value: float, decimals: int) -> str:
        return f"{value:,.{decimals}f}" if decimals else f"{round(value):,}"

    def date(self, value: date) -> str:
        return value.isoformat()


ENGLISH = English()
