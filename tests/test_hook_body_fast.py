"""The one-pass body decode (`cds.hook_body_fast`) gives what the plain path gives.

The plain path is `jsonio.envelope` over `jsonio.json_object`, with the prefetch values left
raw for `read_prefetch`. For every body, both give the same envelope members and, once the
prefetch is read, the same resources, the same skipped and unreadable entries, the same paging
links and the same unsatisfied keys; or both refuse the body with the same error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fuzzing import run_property
from hypothesis import strategies as st
from test_fuzz_hooks import mutated_requests

from cds.config import Settings
from cds.errors import ServiceError
from cds.fhir.elements import Value
from cds.fhir.prefetch import read_prefetch
from cds.hook_body_fast import hook_members
from cds.jsonio import envelope, json_object

SETTINGS = Settings.load({"auth_mode": "off"}, environ={})
SAMPLES = sorted((Path(__file__).resolve().parent.parent / "fhir_samples").glob("*.json"))


def plain_members(raw: bytes, settings: Settings) -> dict[str, Any]:
    return envelope(json_object(raw, settings).members, settings)


def outcome(decode: Any, raw: bytes) -> Any:
    """What a decode gives, in a form both paths can be compared in."""
    try:
        members = decode(raw, SETTINGS)
    except ServiceError as exc:
        return ("refused", type(exc).__name__, exc.message, exc.values)
    prefetch = members.pop("prefetch", "absent")
    if isinstance(prefetch, dict) or prefetch is None:
        read = read_prefetch(prefetch)
        flat = read.flattened
        prefetch = (flat.items, flat.skipped, flat.unreadable, flat.next_links, read.unsatisfied)
    return members, prefetch


def assert_same(raw: bytes) -> None:
    assert outcome(hook_members, raw) == outcome(plain_members, raw)


def hook_request(**prefetch: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": prefetch,
    }


OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "279069000"}]},
}
SEARCHSET = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": OBSERVATION}]}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_decodes_alike_and_well_formed_ones_in_one_pass(path: Path) -> None:
    raw = path.read_bytes()
    members = hook_members(raw, SETTINGS)
    read = read_prefetch(plain_members(raw, SETTINGS)["prefetch"])
    well_formed = not read.flattened.unreadable and not any(
        item.malformed for item in read.flattened.items
    )

    assert_same(raw)
    # A sample whose values are all well formed comes with them decoded, not raw.
    decoded = all(isinstance(v, Value) or v is None for v in members["prefetch"].values())
    assert decoded is well_formed


@pytest.mark.parametrize(
    "body",
    [
        hook_request(observations=SEARCHSET, patient=None),
        hook_request(observations=SEARCHSET, conditions={"resourceType": "OperationOutcome"}),
        hook_request(patient={"resourceType": "Patient", "id": "p1", "birthDate": "1970"}),
        hook_request(observations={**SEARCHSET, "link": [{"relation": "next", "url": "x"}]}),
        hook_request(observations={"resourceType": "Bundle", "entry": [{"fullUrl": "u"}]}),
        hook_request(observations={"entry": []}),
        {**hook_request(observations=SEARCHSET), "prefetch": None},
        {**hook_request(observations=SEARCHSET), "extension": {"x": 1}},
    ],
    ids=[
        "null value",
        "OperationOutcome",
        "single resource",
        "next link",
        "entry without resource",
        "no resourceType",
        "null prefetch",
        "extension",
    ],
)
def test_usual_shapes_decode_alike_in_one_pass(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()

    assert_same(raw)
    assert not any(
        isinstance(value, msgspec.Raw)
        for value in (hook_members(raw, SETTINGS).get("prefetch") or {}).values()
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"{",
        b'{"hook": "patient-view", "unknown": 1}',
        json.dumps(hook_request(observations="not a resource")).encode(),
        json.dumps(
            hook_request(observations={**OBSERVATION, "status": 7}, patient=SEARCHSET)
        ).encode(),
        json.dumps(hook_request(observations={**SEARCHSET, "entry": {"not": "a list"}})).encode(),
        json.dumps(hook_request(observations=SEARCHSET)).replace("o1", "\\ud800").encode(),
        json.dumps({**hook_request(), "prefetch": ["a", "list"]}).encode(),
        b'{"hook": "patient-view", "context": ' + b"[" * 300 + b"]" * 300 + b"}",
    ],
    ids=[
        "empty",
        "not an object",
        "not JSON",
        "unknown member",
        "a value that is not a resource",
        "a malformed element",
        "entry not a list",
        "lone surrogate",
        "prefetch a list",
        "too deep",
    ],
)
def test_other_bodies_take_the_plain_path_with_the_same_result(raw: bytes) -> None:
    assert_same(raw)


def test_mutated_samples_decode_alike(request: pytest.FixtureRequest) -> None:
    count = run_property(
        request,
        st.builds(lambda case: case[1], mutated_requests()),
        assert_same,
        ci_examples=300,
    )

    assert count > 0
