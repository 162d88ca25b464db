"""Red-team cases: realistic EHR inputs that once dropped a red flag (clinical-rules.md §1-§5).

Each case is the whole path a request takes (FHIR JSON -> findings -> rules -> cards), so a
regression shows up as the wrong set of cards, not as an internal detail.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir_builders import (
    LOCAL,
    LOINC,
    LOWER_LEG,
    NOW,
    bundle,
    measurement,
    observation,
    patient,
)

from cds.cards import build_cards
from cds.config import Settings
from cds.engine import evaluate
from cds.fhir_input import bundle_resources, extract

SETTINGS = Settings()
CALF_PAIN = "300954003"
CRAMP = "55300003"


def cards_for(*resources: Any) -> list[dict[str, Any]]:
    assessment = evaluate(extract(list(resources), now=NOW, settings=SETTINGS))
    return build_cards(assessment, settings=SETTINGS, patient_id="p1")


def rule_ids(*resources: Any) -> list[str]:
    return [
        card.get("source", {}).get("topic", {}).get("code", "info")
        for card in cards_for(*resources)
    ]


def exertion() -> dict[str, Any]:
    return observation("recent-strenuous-exertion", LOCAL)


@pytest.mark.parametrize(
    ("value", "unit", "code"),
    [
        pytest.param(0.6, "mg/L FEU", "48065-7", id="mg/L FEU written with a space"),
        pytest.param(0.6, "ug/mL FEU", "48065-7", id="ug/mL FEU written with a space"),
        pytest.param(0.6, "mg/L (FEU)", "48065-7", id="mg/L (FEU) in brackets"),
        pytest.param(0.3, "mg/L DDU", "48066-5", id="mg/L DDU written with a space"),
    ],
)
def test_a_positive_d_dimer_in_the_common_lab_spelling_fires_the_dvt_pathway(
    value: float, unit: str, code: str
) -> None:
    ids = rule_ids(patient(), observation(CALF_PAIN), exertion(), measurement(code, value, unit))

    assert ids == ["R-DVT-PATHWAY"]


def test_a_space_separated_annotation_that_contradicts_the_code_is_not_interpretable() -> None:
    cards = cards_for(
        patient(), observation(CALF_PAIN), exertion(), measurement("48065-7", 0.6, "mg/L DDU")
    )

    assert [c["source"]["topic"]["code"] for c in cards] == ["R-NO-RED-FLAG-DATA"]
    assert "not interpretable" in cards[0]["detail"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Positive", id="Positive"),
        pytest.param("POS", id="POS"),
        pytest.param("positive ", id="positive with trailing space"),
    ],
)
def test_a_d_dimer_reported_as_the_string_positive_fires_the_dvt_pathway(text: str) -> None:
    ids = rule_ids(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("48065-7", LOINC, valueString=text),
    )

    assert ids == ["R-DVT-PATHWAY"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"valueString": ">20000"}, ["R-RHABDO", "R-MYOSITIS"], id="CK >20000 string"),
        pytest.param(
            {"valueQuantity": {"value": 9000}}, ["R-RHABDO", "R-MYOSITIS"], id="CK 9000 no unit"
        ),
        pytest.param({"valueQuantity": {"value": 2500}}, ["R-MYOSITIS"], id="CK 2500 no unit"),
    ],
)
def test_a_ck_sent_without_a_unit_is_read_as_u_per_l_because_every_ck_unit_agrees(
    value: dict[str, Any], expected: list[str]
) -> None:
    ids = rule_ids(patient(), observation(CALF_PAIN), observation("2157-6", LOINC, **value))

    assert ids == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"valueQuantity": {"value": 2.3}}, id="K 2.3 no unit"),
        pytest.param({"valueString": "2.3"}, id="K 2.3 as a string"),
    ],
)
def test_a_potassium_below_2_5_without_a_unit_is_a_severe_electrolyte_emergency(
    value: dict[str, Any],
) -> None:
    ids = rule_ids(patient(), observation(CRAMP), observation("2823-3", LOINC, **value))

    assert ids == ["R-SEVERE-ELECTROLYTE", "R-CRAMP-SECONDARY"]


def test_a_unitless_d_dimer_whose_units_disagree_is_still_not_interpretable() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("48065-7", LOINC, valueQuantity={"value": 0.6}),
    )

    assert [c["source"]["topic"]["code"] for c in cards] == ["R-NO-RED-FLAG-DATA"]
    assert "not interpretable" in cards[0]["detail"]


def test_a_unitless_ck_below_the_limit_still_allows_rest_advice() -> None:
    ids = rule_ids(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("2157-6", LOINC, valueQuantity={"value": 150}),
    )

    assert ids == ["R-REST"]


def test_left_swelling_with_right_cyanosis_is_not_phlegmasia() -> None:
    ids = rule_ids(
        patient(),
        observation(CALF_PAIN),
        observation("449615005", site=LOWER_LEG, side="left"),
        observation("3415004", site=LOWER_LEG, side="right"),
    )

    assert ids == ["R-DVT-PATHWAY"]


def test_the_safety_net_card_counts_one_unreadable_resource_in_the_singular() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        {"resourceType": "Observation", "status": "final", "code": "not a CodeableConcept"},
    )

    safety_net = cards[0]
    assert safety_net["source"]["topic"]["code"] == "R-NO-RED-FLAG-DATA"
    assert "1 resource could not be read: red flags may be missing" in safety_net["detail"]
    assert "1 resources" not in safety_net["detail"]


def test_a_bundle_entry_that_is_not_an_object_is_counted_and_the_red_flag_still_fires() -> None:
    source = bundle([patient(), observation(CALF_PAIN), observation("111245009")])
    source["entry"].insert(1, "not an entry")
    source["entry"].append(42)

    resources = bundle_resources(source)
    extraction = extract(resources, now=NOW, settings=SETTINGS)
    cards = build_cards(evaluate(extraction), settings=SETTINGS, patient_id="p1")

    assert extraction.unreadable == 2
    assert [c.get("source", {}).get("topic", {}).get("code", "info") for c in cards] == [
        "R-COMPARTMENT",
        "info",
    ]
    assert cards[-1]["summary"] == "2 resources could not be read: red flags may be missing"
