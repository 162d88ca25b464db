"""Reading a request body safely: media type and size (cds-hooks.md "Errors"); the JSON in it
is decoded by `cds.jsonio`."""

from __future__ import annotations

from typing import Any

from flask import Request

from ..config import Settings
from ..core.i18n import N_
from ..errors import TooLarge, UnsupportedMediaType
from ..jsonio import parse_json

_JSON_TYPES = ("application/json", "application/fhir+json")
_BOM = b"\xef\xbb\xbf"


def read_body(request: Request, settings: Settings) -> bytes:
    """The raw body, checked for media type and size (a UTF-8 BOM is dropped).

    A declared Content-Length over the limit is refused before reading; a chunked body is read
    only up to the limit + 1 byte, so an oversized stream is never buffered whole.
    """
    _check_media_type(request)
    limit = settings.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(
            N_("request body is {size} bytes; the limit is {limit} bytes"),
            size=declared,
            limit=limit,
        )
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(N_("request body exceeds the limit of {limit} bytes"), limit=limit)
    return raw.removeprefix(_BOM)


def _check_media_type(request: Request) -> None:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        # RFC 9110 §15.5.16: a content coding the server does not apply is a 415.
        raise UnsupportedMediaType(
            N_("Content-Encoding {encoding} is not supported; send the body uncompressed"),
            encoding=encoding[:40],
        )
    mimetype = (request.mimetype or "").lower()
    if mimetype in _JSON_TYPES or mimetype.endswith("+json"):
        return
    if not mimetype:
        raise UnsupportedMediaType(N_("the request has no Content-Type; send application/json"))
    raise UnsupportedMediaType(
        N_("Content-Type {media_type} is not supported; send application/json"),
        media_type=mimetype,
    )


def read_json(request: Request, settings: Settings) -> Any:
    """A whole request body as plain JSON values (small bodies: feedback, tokens)."""
    return parse_json(read_body(request, settings), settings)
