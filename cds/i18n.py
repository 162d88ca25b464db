"""The languages calf-cds speaks: the gettext catalogs in cds/translations and the Babel-backed
`Translator` the pure core renders cards through (cds.core.i18n). English, the source language,
needs no catalog.

Catalogs are read from their `.po` files when first needed and compiled in memory, so a fresh
clone, an editable install and the Docker image all run from the reviewed text with no build
step and no `.mo` file that could fall behind it (docs/architecture.md, "Languages").
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol, get_group_symbol
from babel.support import Translations

from .core.i18n import ENGLISH, N_, Translator

SOURCE_LANGUAGE = ENGLISH.language
# Every language a card can be rendered in; each but the source has a complete catalog
# (tests/test_i18n.py fails on a missing msgstr or a catalog older than the code).
LANGUAGES: tuple[str, ...] = (SOURCE_LANGUAGE, "ru")
CATALOG_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
# A BCP 47 language tag as EHRs send it ("ru", "ru-RU", "en-GB"); anything else is malformed.
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
# The conjunctions the core passes to `join` (already translated), mapped to CLDR list styles.
_LIST_STYLES: dict[str, Literal["standard", "or"]] = {N_("and"): "standard", N_("or"): "or"}


def catalog_path(language: str) -> Path:
    return CATALOG_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalog of `language` (fuzzy entries left out, as `pybabel compile` does).

    Raises FileNotFoundError when the language has no catalog."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def is_language_tag(value: object) -> bool:
    return isinstance(value, str) and bool(_LANGUAGE_TAG.match(value.strip()))


def supported(tag: str) -> str | None:
    """The supported language a well-formed tag asks for ("ru-RU" -> "ru"), or None."""
    primary = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return primary if primary in LANGUAGES else None


@dataclass(frozen=True)
class CatalogTranslator:
    """A language with a catalog: messages and plurals from it; lists, numbers and dates by CLDR."""

    language: str
    _catalog: Translations = field(repr=False, compare=False)
    _locale: Locale = field(repr=False, compare=False)

    def gettext(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    def join(self, items: Sequence[str], style: str = "and") -> str:
        words = list(items)
        for source, cldr_style in _LIST_STYLES.items():
            if style in {source, self.gettext(source)}:
                return format_list(words, style=cldr_style, locale=self._locale)
        if len(words) <= 1:  # a conjunction the core did not use before: plain "a, b <style> c"
            return "".join(words)
        return ", ".join(words[:-1]) + f" {style} " + words[-1]

    def number(self, value: float, decimals: int) -> str:
        # Rounded exactly as in English (the same digits on every card), then written with
        # the language's separators: 0.90 -> "0,90", 1500 -> "1 500" in Russian.
        text = f"{value:,.{decimals}f}" if decimals else f"{round(value):,}"
        return text.translate(self._separators)

    @functools.cached_property
    def _separators(self) -> dict[int, str]:
        """English's group and decimal separators mapped to the language's (CLDR)."""
        return {
            ord(","): get_group_symbol(self._locale),
            ord("."): get_decimal_symbol(self._locale),
        }

    def date(self, value: date) -> str:
        return _short_date(value, self.language)


@functools.lru_cache(maxsize=4096)
def _short_date(value: date, language: str) -> str:
    """A date in the language's short form. Cached: Babel formats each call from its pattern,
    and a request's records share a few dates."""
    return format_date(value, format="short", locale=language)


@functools.cache
def translator_for(language: str) -> Translator:
    """The Translator for a supported language (ValueError for any other)."""
    if language == SOURCE_LANGUAGE:
        return ENGLISH
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; supported: {', '.join(LANGUAGES)}")
    return CatalogTranslator(language, translations(language), Locale.parse(language))
