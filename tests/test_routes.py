"""Route profiles (clinical-rules.md §6, rule set 2026.2): codes, card texts, and the R4 validity
of every ServiceRequest a route drafts, as data and through whole requests."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from fhir_builders import LOWER_LEG, NOW, bundle, condition, measurement, observation, patient

from cds import wire
from cds.config import Settings
from cds.core.model import Code, Referral
from cds.core.routes import (
    CATEGORY_DIAGNOSTIC,
    CATEGORY_REFERRAL,
    LOCAL_REFERRAL_CODES,
    NUCC,
    PROFILES,
    ROUTE_KEYS,
    SNOMED,
    route_for,
    wire_code,
)
from cds.core.rules import RULES
from cds.fhir.resources import problems, service_request
from cds.registry import DEFAULT_SERVICE_ID, SERVICES
from cds.service import Deps, evaluate_bundle

BASE = "https://cds.example.org/fhir"
REFERRAL_SYSTEM = f"{BASE}/CodeSystem/referral"
NO_REQUEST = {"self-care", "none"}
DIAGNOSTIC = {"abi-workup", "abi-exercise", "tbi"}

# §6 default profile: key -> (code, performerType code or None, card text).
DEFAULT_ROUTES: dict[str, tuple[str, str | None, str]] = {
    "emergency": (
        "183660001",
        "394576009",
        "emergency assessment now (ED; inpatients: on-call team)",
    ),
    "dvt-pathway": (
        "431883007",
        "202K00000X",
        "phlebologist or hospital DVT clinic today, ultrasound within 4 h",
    ),
    "phlebology-urgent": (
        "183858000",
        "202K00000X",
        "vein clinic (phlebologist), duplex within 24 h",
    ),
    "phlebology": ("183858000", "202K00000X", "vein clinic (phlebologist), routine"),
    "vascular": ("306934005", "408463005", "vascular service, routine"),
    "vascular-urgent": ("306934005", "408463005", "vascular service, urgent referral today"),
    "abi-workup": ("401221002", None, "resting ABI measurement (routine)"),
    "abi-exercise": ("exercise-abi", None, "exercise ABI (routine)"),
    "tbi": ("toe-brachial-index", None, "toe-brachial index (routine)"),
    "neurology": ("183521007", "394591006", "neurology clinic, routine"),
    "spinal-urgent": ("183546007", "394610002", "spinal surgical team, urgent referral today"),
    "mscc": ("mscc-coordinator", "394593009", "MSCC coordinator or acute oncology today"),
    "orthopaedics-urgent": ("referral-orthopaedics", "394801008", "orthopaedic assessment today"),
    "rheumatology": ("306127007", "394810000", "rheumatology clinic, routine"),
    "rheumatology-urgent": ("306127007", "394810000", "rheumatology, urgent referral"),
    "primary-care": ("183561008", "394814009", "primary-care review"),
    "primary-care-same-day": ("183561008", "394814009", "same-day clinical assessment"),
}
# §6 `nice` profile: the rows that differ from the default.
NICE_CHANGES: dict[str, tuple[str, str | None, str]] = {
    "dvt-pathway": ("431883007", "394576009", "DVT pathway, ultrasound within 4 h"),
    "phlebology-urgent": ("431883007", "394576009", "DVT pathway, duplex within 24 h"),
    "phlebology": ("306934005", "408463005", "vascular service, routine"),
    "neurology": ("306170007", None, "MSK physiotherapy (NICE NG59), routine"),
}
SPEC_ROUTES = {"default": DEFAULT_ROUTES, "nice": {**DEFAULT_ROUTES, **NICE_CHANGES}}


def every_route() -> list[Any]:
    return [
        pytest.param(profile, key, id=f"{profile}-{key}")
        for profile in sorted(PROFILES)
        for key in ROUTE_KEYS
        if key not in NO_REQUEST
    ]


# --- the profiles as data -------------------------------------------------------------------


def test_the_route_keys_are_those_of_section_6() -> None:
    assert set(ROUTE_KEYS) == set(DEFAULT_ROUTES) | NO_REQUEST


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_maps_every_route_key(profile: str) -> None:
    assert set(PROFILES[profile]) == set(ROUTE_KEYS)
    assert all(route.key == key for key, route in PROFILES[profile].items())


def test_the_nice_profile_changes_only_dvt_phlebology_and_neurology_routes() -> None:
    changed = {k for k in ROUTE_KEYS if PROFILES["default"][k] != PROFILES["nice"][k]}

    assert changed == set(NICE_CHANGES)


@pytest.mark.parametrize(("profile", "key"), every_route())
def test_route_code_performer_and_card_text_follow_the_spec_table(profile: str, key: str) -> None:
    code, performer, text = SPEC_ROUTES[profile][key]

    route = route_for(key, profile)

    assert route.code is not None
    assert route.code.code == code
    assert (route.performer.code if route.performer else None) == performer
    assert route.text == text
    assert route.creates_request


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("key", sorted(NO_REQUEST))
def test_self_care_and_none_draft_no_request_and_have_no_referral_line(
    profile: str, key: str
) -> None:
    route = route_for(key, profile)

    assert not route.creates_request
    assert (route.code, route.performer, route.text) == (None, None, "")


@pytest.mark.parametrize(
    ("key", "priority", "text"),
    [
        pytest.param(
            "emergency",
            "urgent",
            "same-day hospital assessment (acute medical take or ED)",
            id="emergency-at-urgent",
        ),
        pytest.param(
            "emergency",
            "stat",
            "emergency assessment now (ED; inpatients: on-call team)",
            id="emergency-at-stat",
        ),
        pytest.param("mscc", "stat", "MSCC coordinator now (emergency)", id="mscc-at-stat"),
        pytest.param(
            "mscc", "urgent", "MSCC coordinator or acute oncology today", id="mscc-at-urgent"
        ),
        pytest.param("vascular", "stat", "vascular service, routine", id="no-override"),
    ],
)
def test_a_priority_set_by_a_variant_may_have_its_own_card_text(
    key: str, priority: str, text: str
) -> None:
    for profile in PROFILES:
        assert route_for(key, profile).card_text(priority) == text


def test_the_phlebology_performer_is_the_nucc_taxonomy_code() -> None:
    performer = route_for("dvt-pathway").performer

    assert performer == Code(NUCC, "202K00000X", "Phlebology")


def test_never_the_generic_referral_to_service_code() -> None:
    for table in PROFILES.values():
        for route in table.values():
            assert all(c.code != "306206005" for c in (route.code, route.performer) if c)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_abi_routes_are_diagnostic_procedures_without_performer(profile: str) -> None:
    for key in ROUTE_KEYS:
        route = route_for(key, profile)
        if not route.creates_request:
            continue
        if key in DIAGNOSTIC:
            assert route.category == CATEGORY_DIAGNOSTIC, key
            assert route.performer is None, key
        else:
            assert route.category == CATEGORY_REFERRAL, key


def test_unknown_route_key_or_profile_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        route_for("podiatry")
    with pytest.raises(KeyError):
        route_for("emergency", "scottish")


@pytest.mark.parametrize("code", sorted(LOCAL_REFERRAL_CODES))
def test_local_referral_codes_are_sent_under_the_configured_base(code: str) -> None:
    local = next(
        route.code
        for route in PROFILES["default"].values()
        if route.code is not None and route.code.code == code
    )

    sent = wire_code(local, BASE + "/")

    assert sent == Code(REFERRAL_SYSTEM, code, LOCAL_REFERRAL_CODES[code])


def test_standard_codes_keep_their_system() -> None:
    route = route_for("emergency")
    assert route.code is not None

    assert wire_code(route.code, BASE).system == SNOMED


def test_the_new_local_referral_codes_are_published() -> None:
    assert set(LOCAL_REFERRAL_CODES) == {
        "referral-orthopaedics",
        "mscc-coordinator",
        "exercise-abi",
        "toe-brachial-index",
    }


@pytest.mark.parametrize(("profile", "key"), every_route())
@pytest.mark.parametrize("priority", ["stat", "urgent", "routine"])
def test_every_route_drafts_a_valid_r4_service_request(
    profile: str, key: str, priority: str
) -> None:
    route = route_for(key, profile)
    assert route.code is not None
    referral = Referral(
        code=wire_code(route.code, BASE),
        category=route.category,
        performer=route.performer,
        priority=priority,
        subject="Patient/p1",
        reasons=("Observation/o1",),
    )

    request = service_request(referral)

    assert problems(request) == []
    assert (request["status"], request["intent"], request["priority"]) == (
        "draft",
        "proposal",
        priority,
    )
    assert ("performerType" in request) is (route.performer is not None)


def test_every_rule_and_variant_names_a_route_of_the_table() -> None:
    for rule in RULES:
        for variant in rule.variants:
            assert (variant.route or rule.route) in ROUTE_KEYS, (rule.id, variant.name)


# --- the profile in whole requests ----------------------------------------------------------


def cards_for(profile: str, *resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """rule id -> card, for one Bundle evaluated under a route profile and BASE."""
    settings = Settings(route_profile=profile, fhir_base=BASE + "/")
    answer = evaluate_bundle(
        SERVICES[DEFAULT_SERVICE_ID],
        msgspec.Raw(msgspec.json.encode(bundle(resources))),
        Deps(settings=settings, clock=lambda: NOW),
    )
    cards = wire.cards(answer.cards)["cards"]
    return {card["extension"]["example.calf-cds"]["ruleId"]: card for card in cards}


def request_of(card: dict[str, Any]) -> dict[str, Any]:
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    resource: dict[str, Any] = action["resource"]
    assert problems(resource) == []
    return resource


def referral_line(card: dict[str, Any]) -> str:
    (line,) = [line for line in card["detail"].splitlines() if line.startswith("- Referral:")]
    return line


CALF_PAIN = "300954003"
BACK_PAIN = "279039007"
CANCER = "363346000"
NUMBNESS = "309537005"
DVT_SIGNS = (
    patient(),
    observation(CALF_PAIN),
    observation("449615005", site=LOWER_LEG, side="left"),
)


@pytest.mark.parametrize(
    ("profile", "performer", "text"),
    [
        pytest.param(
            "default",
            "202K00000X",
            "phlebologist or hospital DVT clinic today, ultrasound within 4 h",
            id="default",
        ),
        pytest.param("nice", "394576009", "DVT pathway, ultrasound within 4 h", id="nice"),
    ],
)
def test_the_profile_decides_the_dvt_referral_and_its_wording(
    profile: str, performer: str, text: str
) -> None:
    card = cards_for(profile, *DVT_SIGNS)["R-DVT-PATHWAY"]

    request = request_of(card)
    assert request["code"]["coding"][0]["code"] == "431883007"
    assert request["performerType"]["coding"][0]["code"] == performer
    assert request["priority"] == "urgent"
    assert referral_line(card) == f"- Referral: {text}."


@pytest.mark.parametrize(
    ("profile", "code", "text"),
    [
        pytest.param("default", "183521007", "neurology clinic, routine", id="default"),
        pytest.param("nice", "306170007", "MSK physiotherapy (NICE NG59), routine", id="nice"),
    ],
)
def test_the_profile_decides_the_radiculopathy_referral_and_its_wording(
    profile: str, code: str, text: str
) -> None:
    card = cards_for(profile, patient(), observation("23056005"))["R-RADICULOPATHY"]

    request = request_of(card)
    assert request["code"]["coding"][0]["code"] == code
    assert card["summary"].endswith(f"if not settling: {text}")
    # §4 (2026.2): referral only if not settling.
    assert card["suggestions"][0]["isRecommended"] is False


@pytest.mark.parametrize(
    ("profile", "code", "text"),
    [
        pytest.param("default", "183858000", "vein clinic (phlebologist), duplex within 24 h"),
        pytest.param("nice", "431883007", "DVT pathway, duplex within 24 h"),
    ],
)
def test_the_profile_sends_superficial_thrombosis_to_its_service(
    profile: str, code: str, text: str
) -> None:
    card = cards_for(profile, patient(), observation(CALF_PAIN), observation("2477008"))["R-SVT"]

    assert request_of(card)["code"]["coding"][0]["code"] == code
    assert card["summary"] == f"Possible superficial vein thrombosis: {text}"


def test_mscc_with_neurological_signs_is_an_emergency_to_the_mscc_coordinator() -> None:
    cards = cards_for(
        "default", patient(), observation(BACK_PAIN), condition(CANCER), observation(NUMBNESS)
    )

    card = cards["R-SPINAL-RED-FLAG"]
    request = request_of(card)
    assert card["indicator"] == "critical"
    assert request["priority"] == "stat"
    assert request["code"]["coding"][0] == {
        "system": REFERRAL_SYSTEM,
        "code": "mscc-coordinator",
        "display": "MSCC coordinator / acute oncology",
    }
    assert request["performerType"]["coding"][0]["code"] == "394593009"
    assert referral_line(card) == "- Referral: MSCC coordinator now (emergency)."


def test_back_pain_with_cancer_goes_to_the_mscc_coordinator_today() -> None:
    card = cards_for("default", patient(), observation(BACK_PAIN), condition(CANCER))[
        "R-SPINAL-RED-FLAG"
    ]

    assert card["indicator"] == "warning"
    assert request_of(card)["priority"] == "urgent"
    assert referral_line(card) == "- Referral: MSCC coordinator or acute oncology today."


def test_back_pain_with_fever_is_a_same_day_hospital_assessment_at_urgent() -> None:
    card = cards_for(
        "default", patient(), observation(BACK_PAIN), measurement("8310-5", 38.6, "Cel")
    )["R-SPINAL-RED-FLAG"]

    request = request_of(card)
    assert card["indicator"] == "warning"
    assert request["code"]["coding"][0]["code"] == "183660001"
    assert request["priority"] == "urgent"
    assert (
        referral_line(card)
        == "- Referral: same-day hospital assessment (acute medical take or ED)."
    )


@pytest.mark.parametrize(
    ("abi", "variant", "code", "text"),
    [
        pytest.param(0.95, "borderline", "exercise-abi", "exercise ABI (routine)", id="borderline"),
        pytest.param(
            1.5, "non-compressible", "toe-brachial-index", "toe-brachial index (routine)", id="tbi"
        ),
    ],
)
def test_a_non_diagnostic_abi_orders_the_next_test_not_a_repeat(
    abi: float, variant: str, code: str, text: str
) -> None:
    card = cards_for(
        "default",
        patient(),
        observation(CALF_PAIN),
        observation("16386004", site=LOWER_LEG),
        measurement("77194-9", abi, "{ratio}"),
    )["R-PAD-WORKUP"]

    request = request_of(card)
    assert card["extension"]["example.calf-cds"]["variant"] == variant
    assert request["code"]["coding"][0]["system"] == REFERRAL_SYSTEM
    assert request["code"]["coding"][0]["code"] == code
    assert request["category"][0]["coding"][0]["code"] == "103693007"
    assert "performerType" not in request
    assert request["priority"] == "routine"
    assert referral_line(card) == f"- Referral: {text}."
