"""Serialising hook answers: orjson where it gives what Flask's `jsonify` gives, else jsonify.

`jsonify` (Flask's DefaultJSONProvider, out of debug mode) writes compact `json.dumps` output
with `ensure_ascii=True`, the app's key order and a trailing newline. `compact_json` writes the
same bytes with orjson, several times faster for a card list: keys in insertion order,
compact separators, every non-ASCII character (and DEL) escaped as `\\uXXXX` (surrogate
pairs above the BMP, as `json` writes them), then a newline. It returns None, and the caller
uses `jsonify`, for anything orjson would write differently or refuses: a type it does not
know natively (dates, dataclasses, Decimal...: Flask's own conversions then apply), a str
with a lone surrogate, an int beyond 64 bits, non-str keys. Cards hold only str, int, bool,
None, lists and dicts, so the fast path is the normal one. (A float would be written in its
shortest form by both, with a different exponent spelling, `1e-07` / `1e-7`: the same
number; cards carry none.)
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Response, current_app, jsonify
from flask.json.provider import DefaultJSONProvider

_OPTIONS = (
    orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_NOT_PRINTABLE_ASCII = re.compile("[^\x00-\x7e]")  # json escapes DEL too


class _NotNative(TypeError):
    pass


def _refuse(value: object) -> Any:
    raise _NotNative(type(value).__name__)


def _escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 | (point >> 10):04x}\\u{0xDC00 | (point & 0x3FF):04x}"


def compact_json(payload: object) -> bytes | None:
    """`json.dumps(payload, ensure_ascii=True, separators=(",", ":")) + "\\n"` as bytes, or
    None when orjson cannot give exactly that (see the module docstring)."""
    try:
        out = orjson.dumps(payload, default=_refuse, option=_OPTIONS)
    except TypeError:  # _NotNative, orjson.JSONEncodeError (a TypeError too)
        return None
    if out.isascii() and b"\x7f" not in out:
        return out
    return _NOT_PRINTABLE_ASCII.sub(_escape, out.decode("utf-8")).encode("ascii")


def json_response(payload: object) -> Response:
    """`jsonify(payload)`, with orjson's `compact_json` when the app's JSON settings are the
    ones it reproduces (the default provider, no key sorting, ASCII, compact output)."""
    app = current_app
    provider = app.json
    if (
        type(provider) is DefaultJSONProvider
        and not provider.sort_keys
        and provider.ensure_ascii
        and (provider.compact or (provider.compact is None and not app.debug))
    ):
        body = compact_json(payload)
        if body is not None:
            return app.response_class(body, mimetype=provider.mimetype)
    return jsonify(payload)
