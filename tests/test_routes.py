"""Route profiles (clinical-rules.md §6) and the R4 validity of every drafted ServiceRequest."""

from __future__ import annotations

from typing import Any

import pytest
from finding_factory import L, extraction, f

from cds.cards import build_cards
from cds.config import Settings
from cds.engine import Assessment, FiredRule, evaluate
from cds.fhir_input import validate_resource
from cds.routes import PROFILES, ROUTE_KEYS, SNOMED, coding, route_for
from cds.rules import RULES

NUCC = "http://nucc.org/provider-taxonomy"


def every_rule_fired() -> Assessment:
    """A synthetic assessment in which every rule fired on one calf-pain record."""
    evidence = (f("F-CALF-PAIN", side=L),)
    return Assessment(fired=tuple(FiredRule(rule, evidence) for rule in RULES))


def service_requests(profile: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    """rule id -> the ServiceRequest its card drafts, for every rule with a referral route."""
    settings = Settings(route_profile=profile, **kwargs)
    cards = build_cards(every_rule_fired(), settings=settings, patient_id="p1")
    return {
        card["source"]["topic"]["code"]: card["suggestions"][0]["actions"][0]["resource"]
        for card in cards
        if "suggestions" in card
    }


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_maps_every_route_key(profile: str) -> None:
    assert set(PROFILES[profile]) == set(ROUTE_KEYS)


def test_the_nice_profile_changes_only_dvt_phlebology_and_neurology_routes() -> None:
    changed = {k for k in ROUTE_KEYS if PROFILES["default"][k] != PROFILES["nice"][k]}

    assert changed == {"dvt-pathway", "phlebology-urgent", "phlebology", "neurology"}


@pytest.mark.parametrize(
    ("profile", "key", "code", "performer"),
    [
        pytest.param("default", "neurology", "183521007", "394591006", id="default-neurology"),
        pytest.param("nice", "neurology", "183868005", "394814009", id="nice-back-pain-clinic"),
        pytest.param("default", "dvt-pathway", "431883007", "202K00000X", id="default-dvt"),
        pytest.param("nice", "dvt-pathway", "431883007", "394576009", id="nice-dvt-ambulatory"),
        pytest.param("default", "phlebology", "183858000", "202K00000X", id="default-phlebology"),
        pytest.param("nice", "phlebology", "306934005", "408463005", id="nice-phlebology"),
        pytest.param(
            "default", "phlebology-urgent", "183858000", "202K00000X", id="default-phleb-urgent"
        ),
        pytest.param("nice", "phlebology-urgent", "306934005", "408463005", id="nice-phleb-urgent"),
        pytest.param("default", "emergency", "183660001", "394576009", id="emergency"),
        pytest.param("nice", "vascular-urgent", "306934005", "408463005", id="vascular-urgent"),
        pytest.param("default", "spinal-urgent", "183546007", "394610002", id="spinal-urgent"),
        pytest.param("default", "rheumatology", "306127007", "394810000", id="rheumatology"),
        pytest.param("nice", "primary-care-same-day", "183561008", "394814009", id="gp-same-day"),
    ],
)
def test_route_codes_follow_the_spec_table(
    profile: str, key: str, code: str, performer: str
) -> None:
    route = route_for(key, profile)

    assert route.code is not None
    assert route.performer is not None
    assert (route.code.code, route.performer.code) == (code, performer)


def test_phlebology_performer_is_the_nucc_taxonomy_code() -> None:
    performer = route_for("dvt-pathway").performer

    assert performer is not None
    assert (performer.system, performer.code) == (NUCC, "202K00000X")


def test_never_the_generic_referral_to_service_code() -> None:
    for table in PROFILES.values():
        for route in table.values():
            assert all(c.code != "306206005" for c in (route.code, route.performer) if c)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_abi_workup_is_a_diagnostic_procedure_without_performer(profile: str) -> None:
    request = service_requests(profile)["R-PAD-WORKUP"]

    assert request["code"]["coding"][0]["code"] == "401221002"
    assert request["category"][0]["coding"][0] == {
        "system": SNOMED,
        "code": "103693007",
        "display": "Diagnostic procedure",
    }
    assert "performerType" not in request


def test_every_other_referral_is_a_patient_referral() -> None:
    for rule_id, request in service_requests("default").items():
        if rule_id != "R-PAD-WORKUP":
            assert request["category"][0]["coding"][0]["code"] == "3457005", rule_id


def test_orthopaedics_uses_the_local_referral_code_under_the_configured_base() -> None:
    request = service_requests("default", fhir_base="https://cds.example.org/fhir/")["R-ACHILLES"]

    assert request["code"]["coding"][0] == {
        "system": "https://cds.example.org/fhir/CodeSystem/referral",
        "code": "referral-orthopaedics",
        "display": "Referral to trauma and orthopaedics service",
    }


def test_coding_keeps_standard_systems() -> None:
    route = route_for("emergency")
    assert route.code is not None

    assert coding(route.code, "http://x")["system"] == SNOMED


@pytest.mark.parametrize(
    ("profile", "wording"),
    [
        pytest.param("default", "phlebologist or DVT clinic in hospital, today", id="default"),
        pytest.param("nice", "DVT pathway today", id="nice"),
    ],
)
def test_the_profile_changes_the_dvt_card_wording(profile: str, wording: str) -> None:
    assessment = evaluate(extraction(f("F-CALF-PAIN"), f("F-LEG-SWELLING", side=L)))

    cards = build_cards(assessment, settings=Settings(route_profile=profile), patient_id="p1")

    assert wording in cards[0]["summary"]


def test_the_profile_changes_the_neurology_card_wording() -> None:
    assessment = evaluate(extraction(f("F-RADICULAR")))

    default, nice = (
        build_cards(assessment, settings=Settings(route_profile=p), patient_id="p1")[0]
        for p in ("default", "nice")
    )

    assert "neurology" in default["summary"]
    assert "back pain clinic" in nice["summary"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_drafted_service_request_is_valid_r4(profile: str) -> None:
    requests = service_requests(profile)

    assert set(requests) == {r.id for r in RULES if r.route not in {"self-care", "none"}}
    for rule_id, request in requests.items():
        try:
            validate_resource(request)
        except ValueError as exc:  # pragma: no cover - the message names the failing rule
            pytest.fail(f"{rule_id}: {exc}")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_service_request_priority_follows_the_tier(profile: str) -> None:
    by_id = {rule.id: rule for rule in RULES}

    for rule_id, request in service_requests(profile).items():
        assert request["priority"] == by_id[rule_id].tier.priority
        assert (request["status"], request["intent"]) == ("draft", "proposal")
