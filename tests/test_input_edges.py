"""Issue 19 item 7 over real HTTP: an entry without a resource keeps its index, an `entry` that
is not a list is named, and a flood of one finding leaves a short card."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import SAMPLES, LiveServer, load_json, prefetch_as_bundle

DVT_SAMPLE = SAMPLES / "dvt-unilateral-swelling-wells-likely.json"
SERVICE = "/cds-services/calf-pain-triage"
EXTENSION_KEY = "example.calf-cds"
DETAIL_LIMIT_BYTES = 20_000  # issue 19: the detail stays under 20 KB whatever the input
EVIDENCE_CAP = 10


def cards_by_rule(answer: Any) -> dict[str | None, dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return {card["extension"][EXTENSION_KEY].get("ruleId"): card for card in answer.json()["cards"]}


@pytest.mark.parametrize(
    ("path", "label"),
    [
        pytest.param("hook", "observations entry 2", id="prefetch-bundle"),
        pytest.param("evaluate", "Bundle entry 3", id="evaluate-bundle"),
    ],
)
def test_an_entry_without_a_resource_is_named_by_its_original_index(
    live_server: LiveServer, path: str, label: str
) -> None:
    request = load_json(DVT_SAMPLE)
    with live_server.client() as client:
        if path == "hook":
            request["prefetch"]["observations"]["entry"].insert(2, {"fullUrl": "urn:uuid:gone"})
            answer = client.post(SERVICE, json=request)
        else:
            bundle = prefetch_as_bundle(request)  # the Patient first, then the Observations
            bundle["entry"].insert(3, {"fullUrl": "urn:uuid:gone"})
            answer = client.post(f"/evaluate?service={SERVICE.rsplit('/', 1)[1]}", json=bundle)

    cards = cards_by_rule(answer)
    data_quality = cards[None]
    assert data_quality["summary"] == "1 Bundle entry had no resource: red flags may be missing"
    assert f"- Bundle entries without a resource (skipped): {label}." in data_quality["detail"]
    assert "R-DVT-PATHWAY" in cards  # the entries after the gap are still read


def test_an_evaluate_bundle_whose_entry_is_not_a_list_is_a_400_naming_entry(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        answer = client.post(
            "/evaluate", json={"resourceType": "Bundle", "type": "collection", "entry": "nope"}
        )

    assert answer.status_code == 400
    assert answer.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "entry: must be a list of Bundle entries",
            }
        ],
    }


def test_a_prefetch_bundle_whose_entry_is_not_a_list_is_named_unsatisfied(
    live_server: LiveServer,
) -> None:
    """By design (cds/fhir/prefetch.py): not a 400, so the other keys' red flags still fire."""
    request = load_json(DVT_SAMPLE)
    request["prefetch"]["observations"]["entry"] = "nope"
    with live_server.client() as client:
        answer = client.post(SERVICE, json=request)

    cards = cards_by_rule(answer)
    assert cards[None]["summary"] == "Data not available (observations): red flags may be missing"


def calf_pain(index: int, newest: datetime) -> dict[str, Any]:
    """A minimal left calf-pain Observation, `index` minutes before `newest`."""
    when = newest - timedelta(minutes=index)
    return {
        "resource": {
            "resourceType": "Observation",
            "id": f"cp{index}",
            "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "300954003"}]},
            "subject": {"reference": "Patient/calf-cfb87f2dd1bf"},
            "effectiveDateTime": when.isoformat().replace("+00:00", "Z"),
            "bodySite": {"coding": [{"system": "http://snomed.info/sct", "code": "7771000"}]},
        }
    }


def test_9000_calf_pain_observations_give_a_short_detail_listing_the_10_most_recent(
    live_server: LiveServer,
) -> None:
    request = copy.deepcopy(load_json(DVT_SAMPLE))
    observations = request["prefetch"]["observations"]["entry"]
    newest = datetime(2026, 11, 25, 11, 59, tzinfo=UTC)  # after the sample's other records
    flood = [calf_pain(index, newest) for index in range(9_000)]
    observations[:] = flood + observations[1:]  # the sample's own calf pain replaced
    with live_server.client() as client:
        answer = client.post(SERVICE, json=request)

    card = cards_by_rule(answer)["R-DVT-PATHWAY"]
    own = card["extension"][EXTENSION_KEY]
    assert len(card["detail"].encode("utf-8")) < DETAIL_LIMIT_BYTES
    assert [item["reference"] for item in own["evidence"]] == [
        f"Observation/cp{index}" for index in range(EVIDENCE_CAP)
    ]
    assert own["evidenceTotal"] == 9_000 + 3  # the sample's swelling, circumference, oedema
    assert "- and 8,993 more records" in card["detail"]
    (suggestion,) = card["suggestions"]
    reasons = suggestion["actions"][0]["resource"]["reasonReference"]
    assert [r["reference"] for r in reasons] == [item["reference"] for item in own["evidence"]]
    assert len(json.dumps(card).encode("utf-8")) < 40_000


ALI_SAMPLE = SAMPLES / "acute-limb-ischaemia-cold-pulseless-right-foot.json"
AUTHORIZATION = {
    "access_token": "t",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "calf-cds",
}


def ali_request(changes: dict[str, Any]) -> dict[str, Any]:
    """The acute limb ischaemia sample with envelope members replaced (context: merged)."""
    request = load_json(ALI_SAMPLE)
    for name, value in changes.items():
        if name == "context":
            request["context"].update(value)
        else:
            request[name] = value
    return request


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"fhirAuthorization": {**AUTHORIZATION, "token_type": "bearer"}}, id="bearer"),
        pytest.param({"fhirAuthorization": {**AUTHORIZATION, "expires_in": 300.0}}, id="300.0"),
        pytest.param({"fhirAuthorization": None}, id="authorization-null"),
        pytest.param({"fhirServer": None}, id="server-null"),
        pytest.param({"fhirServer": "https://fhir_server.hospital.local/fhir"}, id="underscore"),
        pytest.param({"context": {"encounterId": ""}}, id="encounter-empty"),
        pytest.param({"context": {"encounterId": None}}, id="encounter-null"),
    ],
)
def test_a_call_the_rfcs_allow_is_answered_with_its_red_flag(
    live_server: LiveServer, changes: dict[str, Any]
) -> None:
    """Optional or case-insensitive members (RFC 6749 §7.1 token types, null optionals, an
    internal host name) never cost the red-flag card."""
    request = ali_request(changes)
    with live_server.client() as client:
        cards = cards_by_rule(client.post(SERVICE, json=request))

    assert cards["R-ALI"]["indicator"] == "critical"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"fhirAuthorization": {**AUTHORIZATION, "token_type": "MAC"}}, "token_type"),
        pytest.param({"fhirAuthorization": {**AUTHORIZATION, "expires_in": 1.5}}, "expires_in"),
        pytest.param({"fhirServer": "ftp://ehr.example.org/fhir"}, "fhirServer"),
        pytest.param({"fhirServer": "https:///fhir"}, "fhirServer"),
        pytest.param({"fhirServer": "https://ehr.example.org:port/fhir"}, "fhirServer"),
        pytest.param({"fhirServer": "https://ehr.example.org/\nfhir"}, "fhirServer"),
        pytest.param({"context": {"encounterId": "a/b"}}, "context.encounterId"),
    ],
)
def test_a_member_that_is_present_and_wrong_is_still_a_400_naming_it(
    live_server: LiveServer, changes: dict[str, Any], field: str
) -> None:
    request = ali_request(changes)
    with live_server.client() as client:
        answer = client.post(SERVICE, json=request)

    assert answer.status_code == 400
    assert field in answer.json()["issue"][0]["diagnostics"]


def test_red_flags_under_another_prefetch_key_are_answered_not_refused(
    live_server: LiveServer,
) -> None:
    """cds-hooks.md: 412 *only* when neither clinical key is satisfied; a red flag the request
    carries under a key we did not ask for is still read and answered, the gap named."""
    request = ali_request({})
    del request["fhirServer"]
    prefetch = request["prefetch"]
    request["prefetch"] = {"patient": prefetch["patient"], "obs2": prefetch["observations"]}
    with live_server.client() as client:
        cards = cards_by_rule(client.post(SERVICE, json=request))

    assert cards["R-ALI"]["indicator"] == "critical"
    data_quality = cards[None]["detail"]
    assert "Prefetch observations: not available" in data_quality
    assert "Prefetch conditions: not available" in data_quality
