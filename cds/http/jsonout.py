"""JSON responses: one small msgspec helper (compact UTF-8, the payload's key order)."""

from __future__ import annotations

from typing import Any

import msgspec
from flask import Response, current_app

_ENCODER = msgspec.json.Encoder()


def json_response(payload: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    """`payload` as a compact JSON response, with a trailing newline like Flask's jsonify."""
    body = _ENCODER.encode(payload) + b"\n"
    return current_app.response_class(body, status=status, mimetype=mimetype)
