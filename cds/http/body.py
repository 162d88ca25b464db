"""Reading a JSON request body safely: size, media type, UTF-8, nesting (cds-hooks.md "Errors")."""

from __future__ import annotations

import json
from typing import Any

import orjson
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

    The value is json.loads's, with one difference: an integer beyond 64 bits (below -2**63
    or above 2**64 - 1) is read as the nearest float, as orjson reads it, where json keeps it
    exact. RFC 8259 (section 6) promises integers only within +-(2**53 - 1) between
    implementations, and a JavaScript client cannot send a longer one exactly; every place
    that reads a number here reads it as a float anyway (FHIR values), refuses it either way
    (FHIR's 32-bit integer types) or accepts it either way (`fhirAuthorization.expires_in`),
    which tests/test_big_integers.py checks. Exactness for them cost a pass over the whole
    body, about 5% of a served request (bench/README.md, pass 7).

    Raises BadRequest or TooDeep. Split from `read_json` so the in-process benchmark runs
    exactly the code the HTTP view runs.
    """
    if not raw or raw.isspace():
        raise BadRequest("request body is empty; expected a JSON object")
    limit = settings.max_json_depth
    value = _fast_loads(raw, limit)
    if value is not _UNPARSED:
        return value
    # Whatever the fast path declines (too deep, malformed, or anything orjson reads
    # differently) is decided here, by json, with its own error messages.
    value = _loads(raw, settings)
    depth = raw_json_depth(raw, stop_after=limit)
    if depth is None or depth > limit:
        depth = json_depth(value)  # exact figure for the message (or a skeleton surprise)
    if depth > limit:
        raise TooDeep(f"JSON nesting depth {depth} is deeper than the limit of {limit}")
    return value


_UNPARSED = object()
# orjson refuses a document nested deeper than this (arrays and objects, empty ones included,
# counted as `json_depth` counts them; pinned by tests/test_json_screen.py).
ORJSON_MAX_DEPTH = 1024
PADDED_PARSE_FROM_BYTES = 48 * 1024  # where the padding's fixed cost beats the byte pass


def _fast_loads(raw: bytes, limit: int) -> Any:
    """orjson's parse when the body nests at most `limit` deep, else _UNPARSED.

    A large body is parsed inside `ORJSON_MAX_DEPTH - limit` arrays, so orjson's own depth
    limit refuses exactly the bodies deeper than `limit`, during the parse it does anyway,
    instead of a pass over the bytes that costs about 1.4 us per KiB. Each padding array must
    then hold exactly one value: a body like `1],[2` would otherwise close a padding array
    early and parse as something it is not. The padding costs a fixed ~60 us (building and
    unwrapping 960 arrays), so a small body has its depth read from its bytes instead.

    orjson is strict JSON like `_loads` (NaN, Infinity, invalid UTF-8 refused); whatever it
    refuses (a BOM, lone surrogates, 1e400, bad JSON, too deep) is left to `_loads`, so the
    accepted language and the error messages stay exactly json's, and the values too but for
    integers beyond 64 bits (`parse_json_body`).
    """
    if len(raw) < PADDED_PARSE_FROM_BYTES:
        depth = raw_json_depth(raw, stop_after=limit)
        if depth is None or depth > limit:
            return _UNPARSED
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _UNPARSED
    padding = max(ORJSON_MAX_DEPTH - limit, 0)
    try:
        value = orjson.loads(b"[" * padding + raw + b"]" * padding)
    except orjson.JSONDecodeError:
        return _UNPARSED
    try:
        # The first `padding` levels are our own arrays (lists); unpacking fails on one that
        # does not hold exactly one value.
        for _ in range(padding):
            (value,) = value
    except ValueError:
        return _UNPARSED
    return value


def _loads(raw: bytes, settings: Settings) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from exc
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise TooDeep(
            f"JSON nesting is deeper than the limit of {settings.max_json_depth}"
        ) from exc
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc


def _check_media_type(request: Request) -> None:
    mimetype = (request.mimetype or "").lower()
    if mimetype in _JSON_TYPES or mimetype.endswith("+json"):
        return
    shown = mimetype or "none"
    raise UnsupportedMediaType(f"Content-Type {shown} is not supported; send application/json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Bytes that are not structure for raw_json_depth: everything but quotes and brackets.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_OPEN_CLOSE = bytes.maketrans(b"[]", b"{}")


def raw_json_depth(raw: bytes, *, stop_after: int | None = None) -> int | None:
    """Nesting depth of a body that parsed as JSON, from its bytes; equals `json_depth(value)`.

    With `stop_after`, counting stops at `stop_after + 1` (deeper than that; the caller wants
    only the verdict, and each layer is a pass over the skeleton). None when the bytes do not
    show balanced brackets, which valid JSON always does (the caller then walks the value).

    Runs at C speed (translate/replace/split) instead of visiting every value: escapes are
    dropped (an escaped backslash, then an escaped quote), leaving only quotes and brackets;
    adjacent quote pairs hold no structure between them and go, so the quotes left delimit
    the few strings holding brackets; what is outside them is the bracket skeleton, whose
    innermost pairs are peeled off one layer per pass.
    """
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    skeleton = skeleton.translate(_OPEN_CLOSE)
    depth = 0
    while skeleton:
        if stop_after is not None and depth > stop_after:
            break
        shorter = skeleton.replace(b"{}", b"")
        if len(shorter) == len(skeleton):
            return None
        skeleton = shorter
        depth += 1
    return depth


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
