"""The JSON body parser in front of everything (cds/http/body.py): what its shortcuts may do.

The fast path parses the body inside `ORJSON_MAX_DEPTH - limit` arrays so that orjson's own
depth limit is the service's; a body must not be able to close those arrays itself. What
orjson declines goes to json and `raw_json_depth`, which reads the nesting from the bytes
without walking the parsed value: it must give the value's own depth or give up, never a
smaller figure, or a body deeper than the limit would get through (brackets inside strings,
split across strings, are the trap). The one value orjson reads differently from json, an
integer beyond 64 bits (a float, the nearest one), is checked to change nothing that matters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.config import Settings
from cds.errors import BadRequest, TooDeep
from cds.http import body
from cds.http.body import ORJSON_MAX_DEPTH, json_depth, parse_json_body, raw_json_depth

bracket_text = st.text(alphabet='[]{}"\\ a0', max_size=12)
# json's integers; beyond 64 bits orjson reads the nearest float (its own test below).
int64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
values = st.recursive(
    st.none() | st.booleans() | int64 | bracket_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(bracket_text, children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_the_nesting_read_from_the_bytes_is_the_values_own(value: Any) -> None:
    raw = json.dumps(value).encode()
    assert raw_json_depth(raw) in (None, json_depth(value))


PATHS = ["byte-depth", "padded"]


@contextmanager
def parse_path(path: str) -> Iterator[None]:
    """Small bodies have their depth read from the bytes, large ones are parsed padded; each
    test runs both whatever its body's size."""
    threshold = 10**9 if path == "byte-depth" else 0
    with mock.patch.object(body, "PADDED_PARSE_FROM_BYTES", threshold):
        yield


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=200, deadline=None)
@given(value=values)
def test_parsing_equals_json_loads_and_the_limit_is_the_values_own_depth(
    path: str, value: Any
) -> None:
    raw = json.dumps({"v": value}).encode()
    limit = json_depth({"v": value})
    with parse_path(path):
        assert parse_json_body(raw, Settings.load({"max_json_depth": limit}, environ={})) == {
            "v": value
        }
        if limit > 1:
            with pytest.raises(TooDeep, match="deeper than the limit"):
                parse_json_body(raw, Settings.load({"max_json_depth": limit - 1}, environ={}))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 18446744073709551615}', {"a": 2**64 - 1}),  # the largest exact one
        (b'{"a": -9223372036854775808}', {"a": -(2**63)}),
        (b'{"a": 18446744073709551616}', {"a": float(2**64)}),
        (b'{"a": -9223372036854775809}', {"a": float(-(2**63) - 1)}),
        (
            b'{"a": "12345678901234567890123", "b": 123456789012345678901234567890}',
            {"a": "12345678901234567890123", "b": 1.2345678901234568e29},
        ),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_integers_beyond_64_bits_are_read_as_the_nearest_float(
    raw: bytes, expected: dict[str, Any], path: str
) -> None:
    with parse_path(path):
        parsed = parse_json_body(raw, Settings.load({}, environ={}))
    assert parsed == expected
    assert [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]


def test_orjson_refuses_exactly_what_the_fast_path_assumes() -> None:
    # The padding arithmetic rests on this figure; a new orjson with another limit fails here.
    deepest = b"[" * ORJSON_MAX_DEPTH + b"]" * ORJSON_MAX_DEPTH
    assert json_depth(orjson.loads(deepest)) == ORJSON_MAX_DEPTH
    for one_deeper in (
        b"[" + deepest + b"]",
        b'{"a":' * (ORJSON_MAX_DEPTH + 1) + b"1" + b"}" * (ORJSON_MAX_DEPTH + 1),
        b"[" * ORJSON_MAX_DEPTH + b"{}" + b"]" * ORJSON_MAX_DEPTH,
    ):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(one_deeper)


@pytest.mark.parametrize(
    "raw",
    [b"1],[2", b"{}],[{}", b"1]]],[[[2", b'"a"],["b"', b"[1]],[[2]", b"1,2", b"],["],
)
@pytest.mark.parametrize("path", PATHS)
def test_a_body_cannot_close_the_padding_arrays(raw: bytes, path: str) -> None:
    """Each of these is malformed alone but would be valid inside the padding."""
    with parse_path(path), pytest.raises(BadRequest, match="malformed JSON"):
        parse_json_body(raw, Settings.load({}, environ={}))


@pytest.mark.parametrize("limit", [1, 2, 64, ORJSON_MAX_DEPTH - 1, ORJSON_MAX_DEPTH])
@pytest.mark.parametrize("path", PATHS)
def test_the_limit_is_exact_on_both_sides_for_any_setting(limit: int, path: str) -> None:
    settings = Settings.load({"max_json_depth": limit}, environ={})
    at_limit = b"[" * limit + b"]" * limit
    with parse_path(path):
        assert json_depth(parse_json_body(at_limit, settings)) == limit
        with pytest.raises(TooDeep, match=f"deeper than the limit of {limit}$"):
            parse_json_body(b"[" + at_limit + b"]", settings)
