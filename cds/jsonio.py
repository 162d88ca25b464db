"""The one JSON path: request documents decoded with msgspec (cds-hooks.md "Errors").

A body is read as an object whose members stay undecoded; each member is then decoded on its
own: the FHIR members by the typed reader (`cds.fhir`), the envelope's by `decode_member`,
whose depth check walks the decoded value. A value nested beyond what msgspec itself accepts
(the interpreter's recursion limit) is refused the same way.

msgspec refuses an unpaired UTF-16 surrogate escape ("\\ud800"), which RFC 8259 (section 8.2)
allows. Such an escape is read as U+FFFD, the replacement character, so a broken string in one
resource never costs the red flags of the others (clinical-rules.md §1.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from .config import Settings
from .core.i18n import N_
from .errors import BadRequest, TooDeep

_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_STRING = msgspec.json.Decoder(str)
_PREFETCH = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)
_EMPTY = N_("request body is empty; expected a JSON object")
NOT_A_REQUEST = N_("request body must be a JSON object (a CDS Hooks request)")
# msgspec's JSON decode errors ("JSON is malformed: <problem> (byte <n>)", or "Input data was
# truncated") answered in the request's language: a message id per problem msgspec (0.23)
# names, the byte offset kept; a problem not listed keeps msgspec's English after the lead.
_MALFORMED = re.compile(r"JSON is malformed: (?P<problem>.+) \(byte (?P<byte>\d+)\)")
_TRUNCATED = "Input data was truncated"
_BAD_ESCAPE = N_("malformed JSON: invalid escape character in a string (byte {byte})")
_JSON_PROBLEMS = {
    "object keys must be strings": N_("malformed JSON: object keys must be strings (byte {byte})"),
    "invalid character": N_("malformed JSON: invalid character (byte {byte})"),
    "invalid number": N_("malformed JSON: invalid number (byte {byte})"),
    "trailing characters": N_("malformed JSON: characters after the JSON value (byte {byte})"),
    "trailing comma in object": N_("malformed JSON: trailing comma in an object (byte {byte})"),
    "trailing comma in array": N_("malformed JSON: trailing comma in an array (byte {byte})"),
    "expected ':'": N_("malformed JSON: expected ':' (byte {byte})"),
    "expected '\"'": N_("malformed JSON: expected '\"' (byte {byte})"),
    "expected ',' or '}'": N_("malformed JSON: expected ',' or the end of an object (byte {byte})"),
    "expected ',' or ']'": N_("malformed JSON: expected ',' or the end of an array (byte {byte})"),
    "invalid escape character in string": _BAD_ESCAPE,
    "invalid escaped character": _BAD_ESCAPE,
    "invalid character in unicode escape": N_(
        "malformed JSON: invalid character in a unicode escape (byte {byte})"
    ),
    "unexpected end of hex escape": N_(
        "malformed JSON: a unicode escape ends too early (byte {byte})"
    ),
    "invalid utf-16 surrogate pair": N_(
        "malformed JSON: invalid UTF-16 surrogate pair (byte {byte})"
    ),
    "unexpected end of escaped utf-16 surrogate pair": N_(
        "malformed JSON: an escaped UTF-16 surrogate pair ends too early (byte {byte})"
    ),
}
# A \\uXXXX escape for a UTF-16 surrogate, with the backslashes before it (an odd count
# escapes the "u"), and the low surrogate that may follow a high one.
_SURROGATE = re.compile(
    rb"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|(?<!\\)((?:\\\\)*)\\u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def _replace_lone(match: re.Match[bytes]) -> bytes:
    if match.group(2) is not None:  # a high surrogate: kept with its low one, else replaced
        if match.group(3) is not None:
            return match.group(0)
        return match.group(1) + b"\\ufffd"
    return match.group(4) + b"\\ufffd"  # a low surrogate with no high one before it


def without_lone_surrogates(raw: bytes) -> bytes:
    """`raw` with every unpaired surrogate escape replaced by \\ufffd (U+FFFD)."""
    return _SURROGATE.sub(_replace_lone, raw) if b"\\u" in raw else raw


@dataclass(frozen=True)
class JsonObject:
    """A body read as a JSON object: its bytes (surrogates repaired) and undecoded members."""

    raw: bytes
    members: dict[str, msgspec.Raw]


def json_object(
    raw: bytes, settings: Settings, *, not_an_object: str = NOT_A_REQUEST
) -> JsonObject:
    """The body as a JSON object whose members are still undecoded; `not_an_object` is the
    message id of the 400 for any other JSON value."""
    if not raw or raw.isspace():
        raise BadRequest(_EMPTY)
    try:
        return JsonObject(raw, _OBJECT.decode(raw))
    except msgspec.ValidationError as exc:
        raise BadRequest(not_an_object) from exc
    except msgspec.DecodeError as exc:
        repaired = without_lone_surrogates(raw)
        if repaired == raw:
            raise _decode_error(exc, settings, raw) from exc
        return json_object(repaired, settings, not_an_object=not_an_object)
    except RecursionError as exc:
        raise _too_deep(settings) from exc


def string_member(members: dict[str, msgspec.Raw], name: str) -> str | None:
    """A member that should be a string, decoded (escapes read); None when it is absent or is
    not one."""
    raw = members.get(name)
    if raw is None:
        return None
    try:
        return _STRING.decode(raw)
    except msgspec.DecodeError:  # ValidationError too: JSON, but not a string
        return None


def decode_member(raw: msgspec.Raw, settings: Settings, *, level: int = 1) -> Any:
    """One member of the body as plain JSON values, at most `max_json_depth` deep counting the
    `level` objects around it."""
    try:
        value = _ANY.decode(raw)
    except msgspec.DecodeError as exc:
        repaired = without_lone_surrogates(bytes(raw))
        if repaired == bytes(raw):
            raise _decode_error(exc, settings) from exc
        return decode_member(msgspec.Raw(repaired), settings, level=level)
    except RecursionError as exc:
        raise _too_deep(settings) from exc
    depth = level + json_depth(value)
    if depth > settings.max_json_depth:
        raise TooDeep(
            N_("JSON nesting depth {depth} is deeper than the limit of {limit}"),
            depth=depth,
            limit=settings.max_json_depth,
        )
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
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass  # decoded below, for the schema to name what is wrong
        out[name] = decode_member(raw, settings)
    return out


def parse_json(raw: bytes, settings: Settings) -> Any:
    """A whole body as plain JSON values (feedback, small bodies), depth-checked."""
    if not raw or raw.isspace():
        raise BadRequest(_EMPTY)
    return decode_member(msgspec.Raw(raw), settings, level=0)


def _decode_error(exc: msgspec.DecodeError, settings: Settings, raw: bytes = b"") -> BadRequest:
    message = str(exc)
    if "recursion" in message.lower() or "depth" in message.lower():
        return _too_deep(settings)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadRequest(N_("request body is not valid UTF-8 (byte {byte})"), byte=error.start)
    if message == _TRUNCATED:
        return BadRequest(N_("malformed JSON: the body ends before the JSON value does"))
    shape = _MALFORMED.fullmatch(message)
    if shape is None:
        return BadRequest(N_("malformed JSON: {detail}"), detail=message)
    known = _JSON_PROBLEMS.get(shape["problem"])
    if known is None:
        return BadRequest(
            N_("malformed JSON: {detail} (byte {byte})"),
            detail=shape["problem"],
            byte=int(shape["byte"]),
        )
    return BadRequest(known, byte=int(shape["byte"]))


def _too_deep(settings: Settings) -> TooDeep:
    return TooDeep(
        N_("JSON nesting is deeper than the limit of {limit}"), limit=settings.max_json_depth
    )


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
