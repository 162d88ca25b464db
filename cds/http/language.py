"""Which language a request is answered in, and Flask-Babel for the pages and error texts.

Precedence (README "Languages"): the hook request's `extension["example.calf-cds"].language`,
then the `lang` query parameter (testers and the console), then `Accept-Language`, then
`CDS_LANGUAGE`. A well-formed tag the service does not speak ("de") falls back to
`CDS_LANGUAGE`; a malformed one is a 400 OperationOutcome naming the field.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from babel.support import NullTranslations
from flask import Flask, Request, Response, g, has_app_context, has_request_context, request
from flask_babel import Babel, Domain, refresh

from ..config import Settings
from ..core.i18n import N_, Translator
from ..errors import BadRequest
from ..i18n import LANGUAGES, SOURCE_LANGUAGE, is_language_tag, supported, translations
from ..i18n import translator_for as _translator_for
from .runtime import runtime

QUERY_PARAMETER = "lang"
_CHOSEN = "cds_language"  # flask.g: the language a validated request asked for


def _checked(value: object, where: str) -> str | None:
    """The supported language a request value asks for, None for one the service does not
    speak; BadRequest when the value is not a language tag at all."""
    if not is_language_tag(value):
        raise BadRequest(N_("{where}: must be a language tag such as ru or en-GB"), where=where)
    assert isinstance(value, str)
    return supported(value)


def _from_header(req: Request) -> str | None:
    # Werkzeug weighs q-values and falls back from "ru-RU" to "ru".
    return req.accept_languages.best_match(LANGUAGES)


def choose_language(
    req: Request, settings: Settings, requested: object = None, where: str = ""
) -> str:
    """The language of this request's answer; `requested` is the request extension's value
    (None when absent), `where` its field path for the 400. Remembered for the error texts."""
    chosen = _checked(requested, where) if requested is not None else None
    if chosen is None and QUERY_PARAMETER in req.args:
        chosen = _checked(req.args[QUERY_PARAMETER], QUERY_PARAMETER)
    language = chosen or _from_header(req) or settings.language
    setattr(g, _CHOSEN, language)
    refresh()  # Flask-Babel caches the locale per request; it may have been asked already
    return language


def request_language() -> str:
    """The current request's language without failing: what `choose_language` settled, else
    the `lang` parameter, `Accept-Language` and `CDS_LANGUAGE`, malformed values ignored (an
    error about the language itself is still answered)."""
    if not has_request_context():
        return runtime().settings.language if has_app_context() else SOURCE_LANGUAGE
    default = runtime().settings.language
    chosen: str | None = g.get(_CHOSEN)
    if chosen:
        return chosen
    asked = request.args.get(QUERY_PARAMETER)
    from_query = supported(asked) if asked and is_language_tag(asked) else None
    return from_query or _from_header(request) or default


def prefer_language(language: str | None) -> str:
    """Settle a page's language: `language` when the caller knows it already (the SMART app's
    launching card, from appContext) and it is supported, else `request_language()`. A page
    ignores a malformed `lang` rather than answer a 400 body in place of the page."""
    chosen = language if language in LANGUAGES else request_language()
    setattr(g, _CHOSEN, chosen)
    refresh()
    return chosen


def request_translator() -> Translator:
    return _translator_for(request_language())


class _CatalogDomain(Domain):  # type: ignore[misc]  # flask_babel ships no type information
    """Flask-Babel's `_()` served from the catalogs cds.i18n reads (no compiled .mo files)."""

    def get_translations(self) -> NullTranslations:
        language = request_language()
        return NullTranslations() if language == SOURCE_LANGUAGE else translations(language)


class _Babel(Babel):  # type: ignore[misc]  # flask_babel ships no type information
    @cached_property
    def domain_instance(self) -> Any:
        return _CatalogDomain(domain=self.domain)


def install_languages(app: Flask, settings: Settings) -> None:
    """Flask-Babel with the precedence above: `_()`/`ngettext()` in templates, `get_locale()`.
    The catalogs are read now, so a broken one stops the start, not a request."""
    for language in LANGUAGES:
        if language != SOURCE_LANGUAGE:
            translations(language)
    _Babel(app, default_locale=settings.language, locale_selector=request_language)

    @app.after_request
    def _vary(response: Response) -> Response:
        # Every answer may follow Accept-Language (cards, pages, error texts): a cache keys on it.
        response.vary.add("Accept-Language")
        return response

    # `<html lang="{{ current_language() }}">` and the console's language switch read it.
    app.jinja_env.globals["current_language"] = request_language
