"""The service's four CodeSystems (clinical-rules.md §2 "Local codes") and the rule catalog."""

from __future__ import annotations

import json

import pytest

from cds import codesystems, findings
from cds.config import Settings
from cds.fhir_input import validate_resource
from cds.rules import RULES

BASE = "http://calf-cds.example/fhir"


@pytest.fixture(scope="module")
def systems() -> dict[str, dict]:
    return codesystems.code_systems(Settings())


def test_the_service_publishes_four_code_systems(systems: dict[str, dict]) -> None:
    assert set(systems) == {"finding", "rule", "override-reason", "referral"}


@pytest.mark.parametrize("name", codesystems.CODE_SYSTEM_NAMES)
def test_each_code_system_is_valid_r4_and_complete(name: str, systems: dict[str, dict]) -> None:
    system = systems[name]

    validate_resource(system)
    assert system["url"] == f"{BASE}/CodeSystem/{name}"
    assert (system["status"], system["content"]) == ("active", "complete")
    assert system["count"] == len(system["concept"]) > 0
    assert all(c["code"] and c["display"] for c in system["concept"])
    codes = [c["code"] for c in system["concept"]]
    assert len(codes) == len(set(codes))


def test_rule_concepts_are_the_27_rule_ids_with_their_names(systems: dict[str, dict]) -> None:
    concepts = {c["code"]: c["display"] for c in systems["rule"]["concept"]}

    assert concepts == {rule.id: rule.name for rule in RULES}
    assert len(concepts) == 27


def test_finding_concepts_are_the_catalog_local_codes(systems: dict[str, dict]) -> None:
    codes = [c["code"] for c in systems["finding"]["concept"]]

    assert codes == [c.code for c in findings.local_finding_codes()]
    assert {"saddle-anaesthesia", "calf-circumference-difference", "dark-urine"} <= set(codes)


def test_override_reasons_and_referral_codes(systems: dict[str, dict]) -> None:
    assert [c["code"] for c in systems["override-reason"]["concept"]] == [
        "already-referred",
        "patient-declined",
        "alternative-diagnosis-more-likely",
        "not-clinically-relevant",
    ]
    assert [c["code"] for c in systems["referral"]["concept"]] == ["referral-orthopaedics"]


def test_code_system_urls_follow_the_configured_base() -> None:
    systems = codesystems.code_systems(Settings(fhir_base="https://cds.example.org/fhir/"))

    assert systems["rule"]["url"] == "https://cds.example.org/fhir/CodeSystem/rule"


def test_unknown_code_system_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        codesystems.code_system("nope", fhir_base=BASE)


def test_rule_catalog_lists_every_rule_with_its_source_and_findings() -> None:
    catalog = codesystems.rule_catalog()

    assert [row["id"] for row in catalog] == [rule.id for rule in RULES]
    dvt = next(row for row in catalog if row["id"] == "R-DVT-PATHWAY")
    assert dvt["tier"] == "U"
    assert dvt["route"] == "dvt-pathway"
    assert dvt["source"] == {
        "label": 'NICE NG158 1.1.1-1.1.4; source article "thrombosis and inflammation"',
        "url": "https://www.nice.org.uk/guidance/ng158",
    }
    assert {"F-CALF-PAIN", "F-LEG-SWELLING", "F-D-DIMER", "F-PE-SYMPTOM"} <= set(dvt["findings"])
    json.dumps(catalog)  # wire-ready


def test_rule_catalog_rows_are_copies() -> None:
    codesystems.rule_catalog()[0]["findings"].append("F-MUTATED")

    assert "F-MUTATED" not in codesystems.rule_catalog()[0]["findings"]


def test_no_code_system_text_says_lactic_acid(systems: dict[str, dict]) -> None:
    text = json.dumps([systems, codesystems.rule_catalog()]).lower()

    assert "lactic acid" not in text
