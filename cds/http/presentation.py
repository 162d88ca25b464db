"""How a request asks its answer to be shown: language, evaluation time ("as of"), app link.

The language comes from `extension["example.calf-cds"].language`, the `lang` query parameter,
`Accept-Language`, then CDS_LANGUAGE (cds.http.language); it is honoured with or without
authentication, as it changes the words, never the clinical answer.

The reference time comes from the request's documented extension
(`extension["example.calf-cds"].evaluationTime`) or, on `/evaluate`, the `now` query
parameter. It is honoured only while authentication is off (testers, the console, the
samples); an authenticated EHR call is always evaluated now. The red-flag check app's launch URL
goes on cards when CDS_SMART_CLIENT_ID is set.
"""

from __future__ import annotations

from typing import Any

from flask import Request

from ..config import Settings
from ..i18n import translator_for
from ..request_extension import EXTENSION_KEY, evaluation_time, instant, ours
from ..service import Presentation
from ..smart.oauth import launch_url
from .language import choose_language


def presentation(request: Request, settings: Settings, extension: Any) -> Presentation:
    member = ours(extension)
    requested = member.get("language") if member is not None else None
    language = choose_language(request, settings, requested, f"extension.{EXTENSION_KEY}.language")
    as_of = None
    if settings.auth_mode == "off":
        as_of = evaluation_time(extension)
        if as_of is None and "now" in request.args:
            as_of = instant(request.args["now"], "now")
    return Presentation(
        translator=translator_for(language),
        as_of=as_of,
        smart_launch_url=launch_url(settings, request.host_url),
    )
