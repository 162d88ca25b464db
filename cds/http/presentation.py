"""How a request asks its answer to be shown: evaluation time ("as of") and the app link.

The reference time comes from the request's documented extension
(`extension["example.calf-cds"].evaluationTime`) or, on `/evaluate`, the `now` query
parameter. It is honoured only while authentication is off (testers, the console, the
samples); an authenticated EHR call is always evaluated now. The red-flag check app's launch URL
goes on cards when CDS_SMART_CLIENT_ID is set (issue 20).
"""

from __future__ import annotations

from typing import Any

from flask import Request

from ..config import Settings
from ..request_extension import evaluation_time, instant
from ..service import Presentation
from ..smart.oauth import launch_url


def presentation(request: Request, settings: Settings, extension: Any) -> Presentation:
    as_of = None
    if settings.auth_mode == "off":
        as_of = evaluation_time(extension)
        if as_of is None and "now" in request.args:
            as_of = instant(request.args["now"], "now")
    return Presentation(as_of=as_of, smart_launch_url=launch_url(settings, request.host_url))
