"""The service's four CodeSystems (clinical-rules.md §2 "Local codes") and the rule catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds import create_app
from cds.core import findings
from cds.core.routes import LOCAL_REFERRAL_CODES, PROFILES
from cds.core.rules import RULE_SET_VERSION, RULES
from cds.fhir import codesystems
from cds.fhir.resources import problems

BASE = "http://calf-cds.example/fhir"
NEW_RULES_2026_2 = {"R-PE-SIGN", "R-ISCHAEMIA-SIGN", "R-DVT-UNLIKELY"}
NEW_REFERRALS_2026_2 = {"mscc-coordinator", "exercise-abi", "toe-brachial-index"}


@pytest.fixture(scope="module")
def systems() -> dict[str, dict[str, Any]]:
    return codesystems.code_systems(BASE)


def concepts(system: dict[str, Any]) -> dict[str, str]:
    return {c["code"]: c["display"] for c in system["concept"]}


def test_the_service_publishes_four_code_systems(systems: dict[str, dict[str, Any]]) -> None:
    assert set(systems) == {"finding", "rule", "override-reason", "referral"}
    assert set(codesystems.CODE_SYSTEM_NAMES) == set(systems)


@pytest.mark.parametrize("name", codesystems.CODE_SYSTEM_NAMES)
def test_each_code_system_is_valid_r4_and_complete(
    name: str, systems: dict[str, dict[str, Any]]
) -> None:
    system = systems[name]

    assert problems(system) == []
    assert system["resourceType"] == "CodeSystem"
    assert system["url"] == f"{BASE}/CodeSystem/{name}"
    assert system["version"] == RULE_SET_VERSION == "2026.2"
    assert (system["status"], system["content"]) == ("active", "complete")
    assert system["caseSensitive"] is True
    assert system["count"] == len(system["concept"]) > 0
    assert all(c["code"] and c["display"] for c in system["concept"])
    codes = [c["code"] for c in system["concept"]]
    assert len(codes) == len(set(codes))


def test_rule_concepts_are_the_30_rule_ids_with_their_names(
    systems: dict[str, dict[str, Any]],
) -> None:
    rules = concepts(systems["rule"])

    assert rules == {rule.id: rule.name for rule in RULES}
    assert len(rules) == 30
    assert set(rules) >= NEW_RULES_2026_2
    assert rules["R-DVT-PATHWAY"] == "Deep vein thrombosis pathway"


def test_finding_concepts_are_the_catalog_local_codes(systems: dict[str, dict[str, Any]]) -> None:
    codes = [c["code"] for c in systems["finding"]["concept"]]

    assert codes == [c.code for c in findings.local_finding_codes()]
    assert {"saddle-anaesthesia", "calf-circumference-difference", "dark-urine"} <= set(codes)


def test_override_reasons_are_the_four_of_section_7(systems: dict[str, dict[str, Any]]) -> None:
    assert [c["code"] for c in systems["override-reason"]["concept"]] == [
        "already-referred",
        "patient-declined",
        "alternative-diagnosis-more-likely",
        "not-clinically-relevant",
    ]


def test_referral_codes_include_the_new_local_referrals(
    systems: dict[str, dict[str, Any]],
) -> None:
    referrals = concepts(systems["referral"])

    assert referrals == LOCAL_REFERRAL_CODES
    assert set(referrals) == {"referral-orthopaedics"} | NEW_REFERRALS_2026_2
    assert referrals["mscc-coordinator"] == "MSCC coordinator / acute oncology"
    assert referrals["exercise-abi"] == "Exercise (treadmill) ankle-brachial index"
    assert referrals["toe-brachial-index"] == "Toe-brachial index"


TERMINOLOGY = Path(__file__).resolve().parents[1] / "docs" / "terminology.md"


def test_terminology_lists_every_route_code_and_the_new_local_codes_as_unverified() -> None:
    # Issue 17.3: docs/terminology.md names every code a route drafts, in both profiles, and
    # lists the new local referral codes with the unverified ones.
    text = TERMINOLOGY.read_text(encoding="utf-8")
    routes, unverified = text.split("## Routes and referral codes")[1].split("## Unverified")
    drafted = {
        code.code
        for table in PROFILES.values()
        for route in table.values()
        for code in (route.code, route.performer, route.category if route.code else None)
        if code is not None
    }

    assert sorted(c for c in drafted if f"`{c}`" not in routes) == []
    assert sorted(c for c in NEW_REFERRALS_2026_2 if f"`{c}`" not in unverified) == []


def test_code_system_urls_follow_the_configured_base() -> None:
    systems = codesystems.code_systems("https://cds.example.org/fhir/")

    assert systems["rule"]["url"] == "https://cds.example.org/fhir/CodeSystem/rule"
    assert systems["referral"]["url"] == "https://cds.example.org/fhir/CodeSystem/referral"


def test_unknown_code_system_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        codesystems.code_system("nope", fhir_base=BASE)


def test_no_code_system_text_says_lactic_acid(systems: dict[str, dict[str, Any]]) -> None:
    assert "lactic acid" not in json.dumps(systems).lower()


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", codesystems.CODE_SYSTEM_NAMES)
def test_each_code_system_is_served_as_fhir_json(
    client: Any, name: str, systems: dict[str, dict[str, Any]]
) -> None:
    response = client.get(f"/fhir/CodeSystem/{name}")

    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    assert json.loads(response.get_data(as_text=True)) == systems[name]


def test_an_unknown_code_system_is_a_404_operation_outcome(client: Any) -> None:
    response = client.get("/fhir/CodeSystem/nope")

    assert response.status_code == 404
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["code"] == "not-found"
    assert issue["diagnostics"] == (
        "unknown CodeSystem 'nope'; known: finding, override-reason, referral, rule"
    )


def test_served_code_systems_follow_the_configured_base(app_config: dict[str, Any]) -> None:
    application = create_app({**app_config, "fhir_base": "https://cds.example.org/fhir"})

    body = application.test_client().get("/fhir/CodeSystem/referral").get_json(force=True)

    assert body["url"] == "https://cds.example.org/fhir/CodeSystem/referral"


def test_the_rule_catalog_lists_every_rule_with_its_routes_source_and_codes(client: Any) -> None:
    response = client.get("/rules")

    assert response.status_code == 200
    body = response.get_json()
    assert body["ruleSet"] == "calf-cds 2026.2"
    assert [row["id"] for row in body["rules"]] == [rule.id for rule in RULES]
    by_id = {row["id"]: row for row in body["rules"]}
    dvt = by_id["R-DVT-PATHWAY"]
    assert (dvt["tier"], dvt["routes"], dvt["topic"]) == ("U", ["dvt-pathway"], "venous")
    assert dvt["source"] == {"label": "NICE NG158", "url": "https://www.nice.org.uk/guidance/ng158"}
    assert {"F-CALF-PAIN", "F-LEG-SWELLING", "F-DVT-DX", "F-PE-SYMPTOM"} <= {
        code["finding"] for code in dvt["codes"]
    }
    assert "diagnosed" in [variant["name"] for variant in dvt["variants"]]
    # §4 (2026.2): the spinal red flag goes to the MSCC coordinator, fever to emergency.
    assert by_id["R-SPINAL-RED-FLAG"]["routes"] == ["mscc", "emergency"]
    assert set(by_id["R-PAD-WORKUP"]["routes"]) == {"abi-workup", "abi-exercise", "tbi"}
    assert by_id["R-DVT-UNLIKELY"]["tier"] == "R"
    local = [c for row in body["rules"] for c in row["codes"] if c["code"] == "saddle-anaesthesia"]
    assert local
    assert {c["system"] for c in local} == {f"{BASE}/CodeSystem/finding"}


@pytest.mark.parametrize("rule_id", ["R-DVT-PATHWAY", "R-DVT-UNLIKELY"])
def test_the_dvt_rules_list_the_d_dimer_and_wells_codes_they_read(
    client: Any, rule_id: str
) -> None:
    (row,) = [row for row in client.get("/rules").get_json()["rules"] if row["id"] == rule_id]

    read = {(code["finding"], code["code"]) for code in row["codes"]}

    assert ("F-D-DIMER", "48065-7") in read
    if rule_id == "R-DVT-UNLIKELY":
        assert ("F-ACTIVE-CANCER", "363346000") in read
