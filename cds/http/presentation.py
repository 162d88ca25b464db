"""How a request asks its answer to be shown: evaluation time ("as of") and the app link.

The red-flag check app's launch URL goes on cards when CDS_SMART_CLIENT_ID is set (issue 20).

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
from ..errors import BadRequest
from ..service import Presentation
from ..smart.oauth import launch_url

EXTENSION_KEY = "example.calf-cds"


def _as_of(text: object, where: str) -> datetime:
    if not isinstance(text, str):
        raise BadRequest(f"{where}: must be an ISO 8601 date-time with an offset")
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{where}: must be an ISO 8601 date-time with an offset") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"{where}: needs an offset, e.g. 2026-11-25T12:00:00Z")
    return parsed


def presentation(request: Request, settings: Settings, extension: Any) -> Presentation:
    ours = extension.get(EXTENSION_KEY) if isinstance(extension, dict) else None
    as_of = None
    if settings.auth_mode == "off":
        if isinstance(ours, dict) and "evaluationTime" in ours:
            as_of = _as_of(ours["evaluationTime"], f"extension.{EXTENSION_KEY}.evaluationTime")
        elif "now" in request.args:
            as_of = _as_of(request.args["now"], "now")
    return Presentation(as_of=as_of, smart_launch_url=launch_url(settings, request.host_url))
