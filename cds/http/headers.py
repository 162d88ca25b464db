"""Security headers on every answer (console pages, JSON, static files).

HTML pages get a strict Content-Security-Policy: scripts and styles only from this origin, no
inline script or style (so markup smuggled into a card could not run even if it were ever
inserted), no framing, no base or foreign form targets. Every answer gets `nosniff`, so a JSON
body can never be sniffed into HTML or script.
"""

from __future__ import annotations

from flask import Blueprint, Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

blueprint = Blueprint("headers", __name__)


@blueprint.after_app_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
