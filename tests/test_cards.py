"""Cards (clinical-rules.md §7; cds-hooks.md "Response"): content, wire shape, failure handling."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from finding_factory import L, U, extraction, f
from test_rules import FIRING

from cds.cards import (
    DISCLAIMER,
    CardContext,
    _clean,
    _time_ordered_uuids,
    build_cards,
    build_rule_card,
)
from cds.config import Settings
from cds.engine import Assessment, FiredRule, evaluate
from cds.model import (
    TAG_AT_ANY_SITE,
    TAG_BLOCKS_SELF_CARE,
    TAG_HEART_RATE,
    TAG_NOT_DEEP_VEIN,
    Finding,
    Tier,
)
from cds.routes import PROFILES
from cds.rules import RULES, RULES_BY_ID

BASE = "http://calf-cds.example/fhir"
SETTINGS = Settings()
OVERRIDE_CODES = [
    "already-referred",
    "patient-declined",
    "alternative-diagnosis-more-likely",
    "not-clinically-relevant",
]


def cards_for(*records: Finding, patient_id: str | None = "p1", **kwargs: Any) -> list[dict]:
    age = kwargs.pop("age", 60)
    unreadable = kwargs.pop("unreadable", 0)
    assessment = evaluate(extraction(*records, age=age, unreadable=unreadable))
    return build_cards(assessment, settings=SETTINGS, patient_id=patient_id, **kwargs)


def card_for(rule_id: str, cards: list[dict]) -> dict:
    return next(c for c in cards if c.get("source", {}).get("topic", {}).get("code") == rule_id)


def empty_fields(value: Any, path: str = "card") -> list[str]:
    """Paths of every null, "", [] or {} in a JSON value (none are allowed on the wire)."""
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empty_fields(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empty_fields(v, f"{path}[{i}]")]
    return []


def every_rule_fired() -> Assessment:
    evidence = (f("F-CALF-PAIN", side=L),)
    return Assessment(fired=tuple(FiredRule(rule, evidence) for rule in RULES))


# ----------------------------------------------------------------------------- every rule's card
@pytest.mark.requirement(
    "cds-hooks_2.0:3",
    "cds-hooks_2.0:83",
    "cds-hooks_2.0:87",
    "cds-hooks_2.0:90",
    "cds-hooks_2.0:98",
    "cds-hooks_2.0:100",
    "cds-hooks_2.0:105",
    "cds-hooks_2.0:115",
    "cds-hooks_2.0:136",
    "cds-hooks_2.0:214",
    "cds-hooks_2.0:216",
    "cds-hooks_2.0:217",
    "cds-hooks_2.0:219",
)
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_rule_card_meets_the_section_7_invariants(profile: str) -> None:
    settings = Settings(route_profile=profile)

    cards = build_cards(every_rule_fired(), settings=settings, patient_id="p1")

    assert [c["source"]["topic"]["code"] for c in cards] == [r.id for r in RULES]
    for card, rule in zip(cards, RULES, strict=True):
        assert len(card["summary"]) < 140
        assert card["indicator"] == rule.tier.indicator
        assert card["source"]["label"] == "calf-cds rules 2026.1"
        assert card["source"]["topic"] == {
            "system": f"{BASE}/CodeSystem/rule",
            "code": rule.id,
            "display": rule.name,
        }
        assert card["source"].get("url", "") == rule.source.url
        assert card["detail"].rstrip().endswith(f"_{DISCLAIMER}_")
        assert "Safety net" in card["detail"]
        assert "lactic acid" not in json.dumps(card).lower()
        assert empty_fields(card) == []
        assert [r["code"] for r in card["overrideReasons"]] == OVERRIDE_CODES
        assert all(
            r["system"] == f"{BASE}/CodeSystem/override-reason" and r["display"]
            for r in card["overrideReasons"]
        )
        assert card["extension"]["example.calf-cds"]["ruleId"] == rule.id
        assert card["extension"]["example.calf-cds"]["tier"] == rule.tier.value
        assert card["extension"]["example.calf-cds"]["route"] == rule.route


@pytest.mark.requirement(
    "cds-hooks_2.0:93",
    "cds-hooks_2.0:95",
    "cds-hooks_2.0:96",
    "cds-hooks_2.0:117",
    "cds-hooks_2.0:121",
    "cds-hooks_2.0:124",
    "cds-hooks_2.0:127",
    "cds-hooks_2.0:128",
)
def test_only_referral_routes_carry_one_suggestion_with_at_most_one_selection() -> None:
    cards = build_cards(every_rule_fired(), settings=SETTINGS, patient_id="p1")

    for card, rule in zip(cards, RULES, strict=True):
        if rule.route in {"self-care", "none"}:
            assert "suggestions" not in card
            assert "selectionBehavior" not in card
            continue
        assert card["selectionBehavior"] == "at-most-one"
        (suggestion,) = card["suggestions"]
        assert suggestion["isRecommended"] is True
        assert suggestion["label"]
        (action,) = suggestion["actions"]
        assert action["type"] == "create"
        assert action["description"]
        assert action["resource"]["subject"] == {"reference": "Patient/p1"}


@pytest.mark.requirement("cds-hooks_2.0:80", "cds-hooks_2.0:119")
def test_uuids_come_from_the_injected_source_and_are_unique() -> None:
    counter = itertools.count()
    cards = build_cards(
        every_rule_fired(),
        settings=SETTINGS,
        patient_id="p1",
        new_uuid=lambda: f"uuid-{next(counter)}",
    )

    uuids = [c["uuid"] for c in cards] + [
        s["uuid"] for c in cards for s in c.get("suggestions", [])
    ]
    assert len(uuids) == len(set(uuids))
    assert all(u.startswith("uuid-") for u in uuids)


@pytest.mark.requirement("cds-hooks_2.0:3", "cds-hooks_2.0:83")
@pytest.mark.parametrize(("rule_id", "records"), FIRING)
def test_cards_of_every_firing_case_are_clean(rule_id: str, records: list[Finding]) -> None:
    cards = cards_for(*records)

    card = card_for(rule_id, cards)
    assert len(card["summary"]) < 140
    assert empty_fields(card) == []
    assert DISCLAIMER in card["detail"]
    assert "lactic acid" not in json.dumps(cards).lower()


# ----------------------------------------------------------------------------- suggestion details
def test_service_request_cites_the_triggering_resources() -> None:
    pain = f("F-CALF-PAIN", reference="Observation/pain")
    swelling = f("F-LEG-SWELLING", side=L, reference="Condition/swelling")

    card = cards_for(pain, swelling)[0]

    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["reasonReference"] == [
        {"reference": "Observation/pain"},
        {"reference": "Condition/swelling"},
    ]
    assert resource["priority"] == "urgent"


def test_without_a_patient_id_the_subject_comes_from_the_triggering_resources() -> None:
    card = cards_for(f("F-COMPARTMENT", subject="Patient/from-resource"), patient_id=None)[0]

    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["subject"] == {"reference": "Patient/from-resource"}


def test_with_no_subject_at_all_the_suggestion_is_omitted_and_the_card_says_so() -> None:
    (card,) = cards_for(f("F-COMPARTMENT", subject=None), patient_id=None)

    assert "suggestions" not in card
    assert "selectionBehavior" not in card
    assert "could not be drafted" in card["detail"]
    assert card["indicator"] == "critical"


# ----------------------------------------------------------------------------- detail content
def test_evidence_lines_name_reference_date_value_and_side() -> None:
    fever = f("F-FEVER", value=38.6, unit="Cel", original="38.6 Cel", reference="Observation/t")

    card = card_for("R-CALF-PAIN-FEVER", cards_for(f("F-CALF-PAIN", side=L), fever))

    assert "Observation/t, 2026-11-24, 38.6 Cel" in card["detail"]
    evidence = card["extension"]["example.calf-cds"]["evidence"]
    assert {
        "finding": "F-FEVER",
        "reference": "Observation/t",
        "date": "2026-11-24T12:00:00+00:00",
        "value": "38.6 Cel",
        "side": "unknown",
        "present": True,
    } in evidence


def test_undated_evidence_says_undated_and_has_no_date_field() -> None:
    card = cards_for(f("F-COMPARTMENT", days_ago=None, reference="Observation/c"))[0]

    assert "Observation/c, undated" in card["detail"]
    assert "date" not in card["extension"]["example.calf-cds"]["evidence"][0]


def test_side_unknown_is_named_on_a_thrombosis_card() -> None:
    card = cards_for(f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=U))[0]

    assert "side not recorded (counted as one-sided)" in card["detail"]


def test_data_outside_the_window_is_named_with_its_date() -> None:
    old = f("F-LEG-SWELLING", side=L, days_ago=20, in_window=False)

    (card,) = cards_for(f("F-CALF-PAIN", side=L), old)

    assert card["source"]["topic"]["code"] == "R-NO-RED-FLAG-DATA"
    assert "last recorded 2026-11-05, outside the window" in card["detail"]


def test_tenderness_not_localised_to_the_deep_veins_is_said() -> None:
    tenderness = f("F-DEEP-VEIN-TENDERNESS", tags={TAG_NOT_DEEP_VEIN}, code="247348008")

    card = cards_for(f("F-CALF-PAIN"), tenderness)[0]

    assert "tenderness not localised to the deep veins" in card["detail"]


def test_not_interpretable_values_are_named_on_every_card() -> None:
    bad = f(
        "F-D-DIMER",
        present=False,
        interpretable=False,
        original="2 furlongs",
        value=2,
        unit="furlongs",
        tags={TAG_BLOCKS_SELF_CARE},
    )

    cards = cards_for(f("F-CALF-PAIN"), f("F-VARICOSE"), f("F-COMPARTMENT"), bad)

    assert len(cards) == 2
    for card in cards:
        assert "2 furlongs is not interpretable" in card["detail"]
        assert "blocks self-care" in card["detail"]


def test_dvt_card_carries_the_wells_score_and_its_wire_form() -> None:
    card = cards_for(f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L))[0]

    assert "Wells incomplete: 0 points recorded, up to 9" in card["detail"]
    assert "DVT unlikely" not in card["detail"]
    assert "ultrasound within 4 hours" in card["detail"]
    wells = card["extension"]["example.calf-cds"]["wells"]
    assert wells["classification"] == "incomplete"
    assert "Active cancer" in wells["notRecorded"]


def test_principle_5_caveat_is_on_the_card() -> None:
    card = cards_for(f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L), f("F-PREGNANT"))[0]

    assert "validated scores do not apply; assess clinically" in card["detail"]
    assert "likely" not in card["extension"]["example.calf-cds"]["wells"]["statement"]


def test_no_red_flag_card_names_pe_signs_missing_items_and_unreadable_resources() -> None:
    hr = f("F-PE-SYMPTOM", tags={TAG_HEART_RATE}, value=108, unit="/min", display="Heart rate")

    cards = cards_for(f("F-CALF-PAIN"), hr, unreadable=2)

    card = card_for("R-NO-RED-FLAG-DATA", cards)
    assert card["detail"].startswith("**No red flags found in the recorded data.**")
    assert "PE sign present" in card["detail"]
    assert "heart rate over 100 alone" in card["detail"]
    assert "2 resources could not be read" in card["detail"]
    assert "skin colour" in card["detail"]
    assert card["extension"]["example.calf-cds"]["notRecorded"][0] == "leg swelling"


def test_rest_card_gives_the_safety_net_advice() -> None:
    (card,) = cards_for(f("F-CALF-PAIN"), f("F-EXERTION"))

    assert card["source"]["topic"]["code"] == "R-REST"
    assert "come back at once with one-sided swelling" in card["detail"].lower()
    assert card["indicator"] == "info"


@pytest.mark.requirement("cds-hooks_2.0:85")
def test_ehr_text_cannot_inject_markdown() -> None:
    pain = f("F-CALF-PAIN", display="[click](http://evil.example) *pain*")

    (card,) = cards_for(pain)

    assert "[click](http" not in card["detail"]
    assert "\\[click\\]" in card["detail"]


# ----------------------------------------------------------------------------- info card
def test_unreadable_resources_give_an_info_card_without_a_rule_topic() -> None:
    cards = cards_for(f("F-COMPARTMENT"), unreadable=2)

    info = cards[-1]
    assert info["summary"] == "2 resources could not be read: red flags may be missing"
    assert info["indicator"] == "info"
    assert "topic" not in info["source"]
    assert cards[0]["source"]["topic"]["code"] == "R-COMPARTMENT"
    assert empty_fields(info) == []


def test_one_unreadable_resource_is_singular() -> None:
    info = cards_for(unreadable=1)[-1]

    assert info["summary"] == "1 resource could not be read: red flags may be missing"


def test_unsatisfied_prefetch_keys_are_named() -> None:
    cards = cards_for(f("F-CALF-PAIN"), unsatisfied_prefetch=("conditions",))

    info = cards[-1]
    assert "conditions" in info["summary"]
    assert "conditions" in info["detail"]
    assert "topic" not in info["source"]


def test_no_info_card_when_everything_was_read() -> None:
    assert cards_for() == []


# ----------------------------------------------------------------------------- failure handling
def test_a_card_that_fails_to_build_is_replaced_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing_for_dvt(fired: FiredRule, ctx: CardContext) -> dict[str, Any]:
        if fired.rule.id == "R-DVT-PATHWAY":
            raise RuntimeError("Patient/p1 secret detail")
        return build_rule_card(fired, ctx)

    records = [f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L), f("F-PE-SYMPTOM")]
    assessment = evaluate(extraction(*records))

    with caplog.at_level(logging.ERROR, logger="cds.cards"):
        cards = build_cards(
            assessment, settings=SETTINGS, patient_id="p1", rule_card_builder=failing_for_dvt
        )

    assert [c["source"]["topic"]["code"] for c in cards] == ["R-PE-SUSPECTED", "R-DVT-PATHWAY"]
    minimal = cards[1]
    assert minimal["indicator"] == "warning"
    assert minimal["uuid"]
    assert len(minimal["summary"]) < 140
    assert "suggestions" in cards[0]  # the other card is whole
    (record,) = caplog.records
    assert record.rule_id == "R-DVT-PATHWAY"  # type: ignore[attr-defined]
    assert "secret" not in record.getMessage()
    assert "p1" not in record.getMessage()


def test_rule_cards_come_before_the_info_card_in_tier_order() -> None:
    cards = cards_for(
        f("F-CALF-PAIN", side=L),
        f("F-VARICOSE"),
        f("F-COMPARTMENT"),
        f("F-LEG-SWELLING", side=L),
        unreadable=1,
    )

    indicators = [c["indicator"] for c in cards]
    assert indicators == ["critical", "warning", "info", "info"]
    assert "topic" not in cards[-1]["source"]


@pytest.mark.requirement("cds-hooks_2.0:77")
def test_build_cards_for_an_assessment_with_no_rules_is_empty() -> None:
    assert build_cards(Assessment(fired=()), settings=SETTINGS, patient_id=None) == []


def test_a_minimal_card_keeps_the_rule_topic_for_feedback() -> None:
    def always_fail(fired: FiredRule, ctx: CardContext) -> dict[str, Any]:
        raise KeyError("boom")

    assessment = Assessment(fired=(FiredRule(RULES_BY_ID["R-ALI"], ()),))

    (card,) = build_cards(
        assessment, settings=SETTINGS, patient_id="p1", rule_card_builder=always_fail
    )

    assert card["source"]["topic"]["code"] == "R-ALI"
    assert card["indicator"] == "critical"
    assert empty_fields(card) == []


def _reference_clean(value: Any) -> Any:
    """cds.cards._clean as first written (two comprehensions per level): the specification."""
    if isinstance(value, dict):
        cleaned = {k: _reference_clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [_reference_clean(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value


def test_clean_matches_its_reference_on_random_values() -> None:
    import random

    class Text(str):
        pass

    class Map(dict[str, Any]):
        pass

    class Items(list[Any]):
        pass

    atoms: list[Any] = [None, "", [], {}, 0, 0.0, False, True, "x", 1, (), Text(""), Text("a")]
    atoms += [b"", 0j, Map(), Items(), Map(a=None), Items([None, "x"])]
    rng = random.Random(8)

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return rng.choice(atoms)
        if roll < 0.65:
            return {str(i): value(depth + 1) for i in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(20_000):
        sample = value(0)
        expected = _reference_clean(sample)
        got = _clean(sample)
        assert got == expected, sample
        assert repr(got) == repr(expected), sample


# ----------------------------------------------------------------------------- clean and unshared
def odd_records() -> tuple[Finding, ...]:
    """EHR data at its emptiest: no reference, date, subject, label, unit or side."""
    return (
        replace(f("F-CALF-PAIN", days_ago=None, subject=None), reference=""),
        replace(f("F-LEG-SWELLING", side=U, value=0, unit=""), reference=""),
        f(
            "F-FEVER",
            present=False,
            interpretable=False,
            value=38.5,
            in_window=False,
            tags={TAG_NOT_DEEP_VEIN, TAG_HEART_RATE, TAG_AT_ANY_SITE},
        ),
    )


@pytest.mark.requirement("cds-hooks_2.0:83")
@pytest.mark.parametrize("patient_id", ["p1", None])
@pytest.mark.parametrize("base", [BASE, "https://ehr.example/fhir/"])
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_rule_cards_are_built_clean_for_every_rule_and_odd_data(
    profile: str, base: str, patient_id: str | None
) -> None:
    """Rule cards skip `_clean`, so what it would drop (None, "", [], {}) must never be there."""
    settings = Settings(route_profile=profile, fhir_base=base)
    odd = odd_records()
    fired = [FiredRule(rule, odd, related=odd) for rule in RULES]
    fired += [FiredRule(rule, ()) for rule in RULES]
    assessment = Assessment(fired=tuple(fired), not_interpretable=odd[2:], pe_signs=odd[:1])

    cards = build_cards(assessment, settings=settings, patient_id=patient_id)

    assert len(cards) == len(fired)
    for card in cards:
        assert _clean(card) == card
        assert empty_fields(card) == []


def test_default_uuids_are_version_7_uuid_strings_of_the_issue_time() -> None:
    before_ms = time.time_ns() // 1_000_000
    cards = build_cards(every_rule_fired(), settings=SETTINGS, patient_id="p1")
    uuids = [c["uuid"] for c in cards] + [
        s["uuid"] for c in cards for s in c.get("suggestions", [])
    ]
    uuids += itertools.islice(_time_ordered_uuids(3), 1000)  # across many batches
    after_ms = time.time_ns() // 1_000_000

    assert len(set(uuids)) == len(uuids)
    for value in uuids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert str(parsed) == value  # the canonical lower-case hyphenated form
        assert before_ms <= parsed.int >> 80 <= after_ms  # RFC 9562: 48-bit Unix milliseconds
    digits_seen = [{u[i] for u in uuids} for i in range(36)]
    assert digits_seen[14] == {"7"}
    assert digits_seen[19] == set("89ab")
    random_positions = [*range(15, 18), *range(20, 23), *range(24, 36)]  # 74 random bits
    assert all(len(digits_seen[i]) == 16 for i in random_positions)


def test_uuids_issued_later_sort_after_earlier_ones() -> None:
    """What keeps a card write to a few pages at the end of the store's key index."""
    first = list(itertools.islice(_time_ordered_uuids(5), 5))
    time.sleep(0.002)
    later = list(itertools.islice(_time_ordered_uuids(5), 5))
    assert max(first) < min(later)


def scribble(value: Any) -> None:
    """Change every dict and list inside a JSON value in place."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in list(items):
        if isinstance(item, (dict, list)):
            scribble(item)
        value[key] = "scribbled"
    if isinstance(value, list):
        value.append("scribbled")


def test_cards_share_no_mutable_state_with_each_other_or_the_next_answer() -> None:
    records = [f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L), f("F-PE-SYMPTOM")]
    assessment = evaluate(extraction(*records))

    def answer() -> list[dict[str, Any]]:
        return build_cards(assessment, settings=SETTINGS, patient_id="p1", new_uuid=lambda: "u")

    first = answer()
    expected = copy.deepcopy(first)
    pe_card, dvt_card = first
    scribble(pe_card)

    assert dvt_card == expected[1]  # the cards cite the same records, in dicts of their own
    scribble(dvt_card)
    assert answer() == expected


def test_cards_citing_the_same_records_read_as_if_built_alone() -> None:
    shared = (f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=U), f("F-VARICOSE"))
    lateral = RULES_BY_ID["R-DVT-PATHWAY"]
    plain = RULES_BY_ID["R-VARICOSE"]
    assert lateral.lateral
    assert not plain.lateral
    fired = (FiredRule(lateral, shared), FiredRule(plain, shared), FiredRule(lateral, shared))
    assessment = Assessment(fired=fired)

    together = build_cards(assessment, settings=SETTINGS, patient_id="p1", new_uuid=lambda: "u")

    alone = [
        build_rule_card(one, CardContext(assessment, SETTINGS, "p1", lambda: "u")) for one in fired
    ]
    assert together == alone
    assert "side not recorded" in together[0]["detail"]
    assert "side not recorded" not in together[1]["detail"]


def test_a_row_replaced_under_the_same_id_gets_its_own_card_text() -> None:
    rule = RULES_BY_ID["R-COMPARTMENT"]
    renamed = replace(rule, name="Renamed row", next_step="Another step.")

    for row in (rule, renamed, rule):
        assessment = Assessment(fired=(FiredRule(row, (f("F-COMPARTMENT"),)),))
        (card,) = build_cards(assessment, settings=SETTINGS, patient_id="p1")

        assert card["source"]["topic"]["display"] == row.name
        assert f"**Why ({row.name})**" in card["detail"]
        assert f"**What to do next**: {row.next_step}" in card["detail"]


def test_a_self_care_row_with_a_referral_route_drafts_no_null_priority() -> None:
    """Tier S has no request priority; a ServiceRequest must then leave the element out
    (FHIR forbids null), whatever a future row pairs with it."""
    rule = replace(RULES_BY_ID["R-COMPARTMENT"], tier=Tier.SELF_CARE)
    assessment = Assessment(fired=(FiredRule(rule, (f("F-COMPARTMENT"),)),))
    (card,) = build_cards(assessment, settings=SETTINGS, patient_id="p1")

    (suggestion,) = card["suggestions"]
    request = suggestion["actions"][0]["resource"]
    assert request["resourceType"] == "ServiceRequest"
    assert "priority" not in request
    assert list(request)[:4] == ["resourceType", "status", "intent", "category"]
