"""`GET /openapi.json`: the OpenAPI 3.1 document (cds.openapi), built once per app."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from ..openapi import build_openapi
from .jsonout import json_response
from .runtime import runtime

blueprint = Blueprint("apidoc", __name__)
_CACHE_KEY = "calf-cds.openapi"


@blueprint.get("/openapi.json")
def openapi() -> Response:
    document = current_app.extensions.get(_CACHE_KEY)
    if document is None:
        document = build_openapi(runtime().settings)
        current_app.extensions[_CACHE_KEY] = document
    return json_response(document)
