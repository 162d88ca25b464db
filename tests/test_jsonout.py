"""cds.http.jsonout: the orjson answer is byte for byte what Flask's jsonify writes, or None."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cds.http.jsonout import compact_json

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import generate

_CHARS = [
    "a",
    "é",
    "°",
    "…",
    "\U0001f600",
    "\x7f",
    "\x00",
    "\x1f",
    "\n",
    '"',
    "\\",
    "/",
    "<",
    "\u2028",
    "\ufeff",
    "\uffff",
    "\ud800",
    "\udfff",
    "xyz",
]
_ATOMS: list[object] = [None, True, False, 0, -5, 2**40, 2**63, 2**64, -(2**63), -(2**64)]


def _text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, most)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([*_ATOMS, _text(rng, 5)])
    if roll < 0.65:
        return {_text(rng, 3): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _jsonify_bytes(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


def test_byte_identical_to_json_or_refused() -> None:
    rng = random.Random(8)
    fast = 0
    for _ in range(20_000):
        value = _value(rng)
        out = compact_json(value)
        if out is not None:
            fast += 1
            assert out == _jsonify_bytes(value), value
    assert fast > 5_000


@pytest.mark.parametrize(
    "value",
    [
        {"when": datetime(2026, 11, 24, tzinfo=UTC)},
        {"day": date(2026, 11, 24)},
        {"amount": Decimal("1.5")},
        {1: "non-str key"},
        {"lone": "\ud800"},
        {"big": 2**64},
        {"set": {1}},
    ],
)
def test_what_orjson_would_write_differently_is_refused(value: object) -> None:
    assert compact_json(value) is None


def test_dataclasses_are_refused() -> None:
    @dataclass
    class Point:
        x: int

    assert compact_json({"p": Point(1)}) is None


def test_cards_take_the_fast_path(client: Any) -> None:
    """The real answer (a card list with °C, … and nested extensions) is served by orjson."""
    body = generate.patient_view_request(60, seed=4)
    response = client.post("/cds-services/calf-pain-triage", json=body)
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["cards"]
    assert compact_json(payload) == response.data == _jsonify_bytes(payload)
