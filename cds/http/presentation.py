"""How a request asks its answer to be shown: language, evaluation time ("as of"), app link.

The language comes from `extension["example.calf-cds"].language`, the `lang` query parameter,
`Accept-Language`, then CDS_LANGUAGE (cds.http.language); it is honoured with or without
authentication, as it changes the words, never the clinical answer.

The reference time comes from the request's documented extension
(`extension["example.calf-cds"].evaluationTime`) or, on `/evaluate`, the `now` query
parameter. It is honoured only while authentication is off (testers, the console, the
samples); an authenticated EHR call is always evaluated now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Request

from ..config import Settings
from ..core.i18n import N_
from ..errors import BadRequest
from ..i18n import translator_for
from ..service import Presentation
from .language import choose_language

EXTENSION_KEY = "example.calf-cds"


_NOT_A_TIME = N_("{where}: must be an ISO 8601 date-time with an offset")


def _as_of(text: object, where: str) -> datetime:
    if not isinstance(text, str):
        raise BadRequest(_NOT_A_TIME, where=where)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(_NOT_A_TIME, where=where) from exc
    if parsed.tzinfo is None:
        raise BadRequest(N_("{where}: needs an offset, e.g. 2026-11-25T12:00:00Z"), where=where)
    return parsed


def presentation(request: Request, settings: Settings, extension: Any) -> Presentation:
    ours = extension.get(EXTENSION_KEY) if isinstance(extension, dict) else None
    requested = ours.get("language") if isinstance(ours, dict) else None
    language = choose_language(request, settings, requested, f"extension.{EXTENSION_KEY}.language")
    as_of = None
    if settings.auth_mode == "off":
        if isinstance(ours, dict) and "evaluationTime" in ours:
            as_of = _as_of(ours["evaluationTime"], f"extension.{EXTENSION_KEY}.evaluationTime")
        elif "now" in request.args:
            as_of = _as_of(request.args["now"], "now")
    return Presentation(translator=translator_for(language), as_of=as_of)
