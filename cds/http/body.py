"""Reading a JSON request body safely: size, media type, UTF-8, nesting (cds-hooks.md "Errors")."""

from __future__ import annotations

import json
from typing import Any

from flask import Request

from ..config import Settings
from ..errors import BadRequest, TooDeep, TooLarge, UnsupportedMediaType

_JSON_TYPES = ("application/json", "application/fhir+json")


def read_json(request: Request, settings: Settings) -> Any:
    """The parsed body, or a ServiceError saying exactly what is wrong with it.

    A declared Content-Length over the limit is refused before reading; a chunked body is read
    only up to the limit + 1 byte, so an oversized stream is never buffered whole.
    """
    _check_media_type(request)
    limit = settings.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"request body is {declared} bytes; the limit is {limit} bytes")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"request body exceeds the limit of {limit} bytes")
    return parse_json_body(raw, settings)


def parse_json_body(raw: bytes, settings: Settings) -> Any:
    """Parse a request body already read and size-checked: UTF-8 (a BOM is dropped), strict
    JSON (NaN and Infinity refused), nesting at most `settings.max_json_depth`.

    Raises BadRequest or TooDeep. Split from `read_json` so the in-process benchmark runs
    exactly the code the HTTP view runs.
    """
    if not raw.strip():
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from exc
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise TooDeep(
            f"JSON nesting is deeper than the limit of {settings.max_json_depth}"
        ) from exc
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    depth = json_depth(value)
    if depth > settings.max_json_depth:
        raise TooDeep(
            f"JSON nesting depth {depth} is deeper than the limit of {settings.max_json_depth}"
        )
    return value


def _check_media_type(request: Request) -> None:
    mimetype = (request.mimetype or "").lower()
    if mimetype in _JSON_TYPES or mimetype.endswith("+json"):
        return
    shown = mimetype or "none"
    raise UnsupportedMediaType(f"Content-Type {shown} is not supported; send application/json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no recursion limit to hit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest
