"""The one JSON path: request documents decoded with msgspec (cds-hooks.md "Errors").

A body is read as an object whose members stay undecoded; each member is then decoded on its
own: the FHIR members by the typed reader (`cds.fhir`), the envelope's by `decode_member`,
whose depth check walks the decoded value. A value nested beyond what msgspec itself accepts
(the interpreter's recursion limit) is refused the same way.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .config import Settings
from .errors import BadRequest, TooDeep

_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_PREFETCH = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)


def json_object(raw: bytes, settings: Settings, *, what: str = "a CDS Hooks request") -> dict[str, msgspec.Raw]:
    """The body as a JSON object whose members are still undecoded."""
    if not raw or raw.isspace():
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        return _OBJECT.decode(raw)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"request body must be a JSON object ({what})") from exc
    except msgspec.DecodeError as exc:
        raise _decode_error(exc, settings) from exc
    except RecursionError as exc:
        raise _too_deep(settings) from exc


def decode_member(raw: msgspec.Raw, settings: Settings, *, level: int = 1) -> Any:
    """One member of the body as plain JSON values, at most `max_json_depth` deep counting the
    `level` objects around it."""
    try:
        value = _ANY.decode(raw)
    except msgspec.DecodeError as exc:
        raise _decode_error(exc, settings) from exc
    except RecursionError as exc:
        raise _too_deep(settings) from exc
    depth = level + json_depth(value)
    if depth > settings.max_json_depth:
        raise TooDeep(f"JSON nesting depth {depth} is deeper than the limit of {settings.max_json_depth}")
    return value


def envelope(members: dict[str, msgspec.Raw], settings: Settings) -> dict[str, Any]:
    """A CDS Hooks request's members decoded, except each prefetch value, which stays raw for
    the FHIR reader; a prefetch that is not an object is decoded for the schema to refuse."""
    out: dict[str, Any] = {}
    for name, raw in members.items():
        if name == "prefetch":
            try:
                out[name] = _PREFETCH.decode(raw)
                continue
            except msgspec.ValidationError:
                pass
        out[name] = decode_member(raw, settings)
    return out


def parse_json(raw: bytes, settings: Settings) -> Any:
    """A whole body as plain JSON values (feedback, small bodies), depth-checked."""
    if not raw or raw.isspace():
        raise BadRequest("request body is empty; expected a JSON object")
    return decode_member(msgspec.Raw(raw), settings, level=0)


def _decode_error(exc: msgspec.DecodeError, settings: Settings) -> BadRequest:
    message = str(exc)
    if "recursion" in message.lower() or "depth" in message.lower():
        return _too_deep(settings)
    return BadRequest(f"malformed JSON: {message}")


def _too_deep(settings: Settings) -> TooDeep:
    return TooDeep(f"JSON nesting is deeper than the limit of {settings.max_json_depth}")


def json_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value, iteratively (no recursion limit to hit)."""
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
