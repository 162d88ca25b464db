"""Red-team cases: realistic EHR inputs that once dropped a red flag (clinical-rules.md §1-§8).

Each case is the whole path a request takes (FHIR JSON -> flatten -> read -> evaluate -> compose
-> typed cards -> CDS Hooks JSON), so a regression shows up as the wrong set of cards, not as
an internal detail.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from fhir_builders import (
    CALF,
    LOCAL,
    LOINC,
    LOWER_LEG,
    NOW,
    bundle,
    condition,
    measurement,
    observation,
    patient,
)

from cds import wire
from cds.config import Settings
from cds.registry import DEFAULT_SERVICE_ID, SERVICES
from cds.service import Deps, evaluate_bundle

SETTINGS = Settings()
CALF_PAIN = "300954003"
CRAMP = "55300003"
COLD_EXTREMITY = "771542000"
TIMES = "\u00d7"  # the multiplication sign cards write in f"CK 45 {TIMES} ULN"


def cards_of(source: dict[str, Any]) -> list[dict[str, Any]]:
    """The CDS Hooks cards for one Bundle, evaluated at NOW (the builders' reference time)."""
    answer = evaluate_bundle(
        SERVICES[DEFAULT_SERVICE_ID],
        msgspec.Raw(msgspec.json.encode(source)),
        Deps(settings=SETTINGS, clock=lambda: NOW),
    )
    return list(wire.cards(answer.cards)["cards"])


def cards_for(*resources: dict[str, Any]) -> list[dict[str, Any]]:
    return cards_of(bundle(resources))


def plan(cards: list[dict[str, Any]]) -> list[str]:
    """Each card as "rule variant [covered|merged]" in answer order; "data-quality" for the
    card without a rule."""
    out = []
    for card in cards:
        ext = card["extension"]["example.calf-cds"]
        if "ruleId" not in ext:
            out.append("data-quality")
            continue
        status = " covered" if "coveredBy" in ext else " merged" if "mergedInto" in ext else ""
        out.append(f"{ext['ruleId']} {ext['variant']}{status}")
    return out


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
    cards = cards_for(patient(), observation(CALF_PAIN), exertion(), measurement(code, value, unit))

    # Wells items unrecorded: incomplete, treated as likely (§5); rest advice never beside it.
    assert plan(cards) == ["R-DVT-PATHWAY incomplete"]


def test_a_space_separated_annotation_that_contradicts_the_code_is_not_interpretable() -> None:
    cards = cards_for(
        patient(), observation(CALF_PAIN), exertion(), measurement("48065-7", 0.6, "mg/L DDU")
    )

    # §2: an annotation contradicting the LOINC code is not interpretable; §1.7 blocks R-REST.
    assert plan(cards) == ["R-NO-RED-FLAG-DATA unreadable"]
    assert cards[0]["summary"] == (
        "D-dimer result could not be interpreted (0.6 mg/L DDU): check it with the lab; "
        "red-flag check incomplete"
    )
    assert "could not be interpreted" in cards[0]["detail"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Positive", id="Positive"),
        pytest.param("POS", id="POS"),
        pytest.param("positive ", id="positive with trailing space"),
    ],
)
def test_a_d_dimer_reported_as_the_string_positive_fires_the_dvt_pathway(text: str) -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("48065-7", LOINC, valueString=text),
    )

    assert plan(cards) == ["R-DVT-PATHWAY incomplete"]


def test_a_d_dimer_sent_as_text_without_a_unit_is_shown_as_sent() -> None:
    """§5 "Display": the D-dimer line gives the value. ">20000" with no unit is over the
    cut-off in every unit it could be in, so it is positive, and shown as the lab wrote it."""
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("48065-7", LOINC, valueString=">20000"),
    )

    (dvt,) = cards
    assert dvt["extension"]["example.calf-cds"]["ddimer"] == [
        "D-dimer >20,000 FEU, 2026-11-24: positive."
    ]


@pytest.mark.parametrize(
    ("value", "expected", "multiple"),
    [
        pytest.param(
            {"valueString": ">20000"},
            ["R-RHABDO ck", "R-MYOSITIS ck covered"],
            f"CK 100 {TIMES} ULN",
            id="CK >20000 string",
        ),
        pytest.param(
            {"valueQuantity": {"value": 9000}},
            ["R-RHABDO ck", "R-MYOSITIS ck covered"],
            f"CK 45 {TIMES} ULN",
            id="CK 9000 no unit",
        ),
        pytest.param(
            {"valueQuantity": {"value": 2500}},
            ["R-MYOSITIS ck"],
            f"CK 12 {TIMES} ULN",
            id="CK 2500",
        ),
    ],
)
def test_a_ck_sent_without_a_unit_is_read_as_u_per_l_because_every_ck_unit_agrees(
    value: dict[str, Any], expected: list[str], multiple: str
) -> None:
    cards = cards_for(patient(), observation(CALF_PAIN), observation("2157-6", LOINC, **value))

    # §8.1: rhabdomyolysis covers myositis (the card stays, without its own referral).
    assert plan(cards) == expected
    assert multiple in cards[0]["summary"]


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
    cards = cards_for(patient(), observation(CRAMP), observation("2823-3", LOINC, **value))

    assert plan(cards) == ["R-SEVERE-ELECTROLYTE standard", "R-CRAMP-SECONDARY standard covered"]
    assert cards[0]["indicator"] == "critical"
    assert "Severe potassium disturbance" in cards[0]["summary"]


def test_a_unitless_d_dimer_whose_units_disagree_is_still_not_interpretable() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("48065-7", LOINC, valueQuantity={"value": 0.6}),
    )

    assert plan(cards) == ["R-NO-RED-FLAG-DATA unreadable"]
    assert cards[0]["summary"].startswith("D-dimer result could not be interpreted (0.6")
    assert "self-care advice is withheld" in cards[0]["detail"]


def test_a_unitless_ck_below_the_limit_still_allows_rest_advice() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        exertion(),
        observation("2157-6", LOINC, valueQuantity={"value": 150}),
    )

    # Swelling, skin colour, warmth and temperature are not recorded: "unexamined" (§7.4).
    assert plan(cards) == ["R-REST unexamined"]


def test_left_swelling_with_right_cyanosis_is_not_phlegmasia() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        observation("449615005", site=LOWER_LEG, side="left"),
        observation("3415004", site=LOWER_LEG, side="right"),
    )

    assert plan(cards) == ["R-DVT-PATHWAY incomplete"]


def test_one_unreadable_resource_is_counted_in_the_singular_on_the_data_quality_card() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        {"resourceType": "Observation", "status": "final", "code": "not a CodeableConcept"},
    )

    # §1.1: an info card without topic counts it; §2 (2026.2): it names the element.
    assert plan(cards) == ["R-NO-RED-FLAG-DATA clear", "data-quality"]
    quality = cards[-1]
    assert "topic" not in quality["source"]
    assert quality["indicator"] == "info"
    assert quality["summary"] == "1 resource could not be read: red flags may be missing"
    assert ": code is not an object" in quality["detail"]


def test_a_bundle_entry_that_is_not_an_object_is_counted_and_the_red_flag_still_fires() -> None:
    source = bundle([patient(), observation(CALF_PAIN), observation("111245009")])
    source["entry"].insert(1, "not an entry")
    source["entry"].append(42)

    cards = cards_of(source)

    assert plan(cards) == ["R-COMPARTMENT standard", "data-quality"]
    assert cards[-1]["summary"] == "2 resources could not be read: red flags may be missing"
    assert cards[-1]["detail"].count("is not a Bundle entry") == 2


# --- inputs that dropped a red flag under rule set 2026.1 (clinical-rules-changes-2026.2) -----


def test_a_malformed_reference_range_never_hides_saddle_anaesthesia() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        observation("saddle-anaesthesia", LOCAL, id="o7", referenceRange="not a list"),
    )

    # §2 (2026.2): only code, status or a measured value make a resource unreadable; the bad
    # element is ignored and named under Caveats.
    assert plan(cards) == ["R-CAUDA-EQUINA standard"]
    assert "- Observation/o7: referenceRange is malformed: ignored" in cards[0]["detail"]


def test_a_cold_leg_with_calf_pain_on_the_same_side_is_a_painful_cold_limb() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN, site=LOWER_LEG, side="right"),
        observation(COLD_EXTREMITY, site=LOWER_LEG, side="right"),
    )

    # §3 (2026.2): F-PAINFUL-COLD-LIMB is also derived, so R-ALI fires (was "no red flags").
    assert plan(cards) == ["R-ALI painful-cold"]
    assert cards[0]["indicator"] == "critical"
    assert cards[0]["summary"].startswith("Cold, painful leg (right): possible acute limb")


def test_bilateral_cold_legs_match_calf_pain_on_either_side() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN, site=LOWER_LEG, side="left"),
        observation(COLD_EXTREMITY, site=LOWER_LEG, side="both"),
    )

    assert plan(cards) == ["R-ALI painful-cold"]


def test_a_cold_leg_opposite_the_calf_pain_is_an_ischaemia_sign_not_reassurance() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN, site=LOWER_LEG, side="left"),
        observation(COLD_EXTREMITY, site=LOWER_LEG, side="right"),
    )

    assert plan(cards) == ["R-ISCHAEMIA-SIGN cold"]
    assert cards[0]["indicator"] == "warning"
    assert "suggestions" not in cards[0]  # route none (§4)


def test_a_heart_rate_over_100_alone_is_a_pe_sign_never_no_red_flags() -> None:
    cards = cards_for(
        patient(), observation(CALF_PAIN), exertion(), measurement("8867-4", 108, "/min")
    )

    # §4 R-PE-SIGN (2026.2) and §1.7: no self-care and no "no red flags" beside a PE sign.
    assert plan(cards) == ["R-PE-SIGN standard"]
    assert cards[0]["summary"] == (
        "Calf pain with heart rate 108/min: repeat vital signs now and assess for PE; "
        "red-flag check incomplete"
    )
    assert all("no red flags" not in card["summary"].lower() for card in cards)


def test_fever_beside_a_dvt_card_still_gets_its_own_infection_card() -> None:
    cards = cards_for(
        patient(),
        observation(CALF_PAIN),
        observation("449615005", site=LOWER_LEG, side="left"),
        measurement("8310-5", 39.0, "Cel"),
    )

    # §4 (2026.2): R-CALF-PAIN-FEVER is no longer suppressed by any other U card.
    assert plan(cards) == ["R-CALF-PAIN-FEVER standard", "R-DVT-PATHWAY incomplete"]
    assert "fever 39.0 °C" in cards[0]["summary"]


def test_leg_numbness_without_sciatica_is_an_ischaemia_sign() -> None:
    cards = cards_for(patient(), observation(CALF_PAIN), observation("309537005"))

    assert plan(cards) == ["R-ISCHAEMIA-SIGN deficit"]
    assert cards[0]["summary"].startswith("Leg numbness (side not recorded) with calf pain")


def _wells_recorded_absent(pitting_oedema: dict[str, Any]) -> list[dict[str, Any]]:
    """Deep-vein tenderness present on the left calf (Wells 1, a DVT trigger); every other
    Wells item recorded absent yesterday, pitting oedema as given."""
    no = {"valueBoolean": False}
    return [
        observation("363346000", **no),
        observation("102568007", **no),
        observation("recent-plaster-immobilisation", LOCAL, **no),
        observation("bedridden-3-days-or-major-surgery-12-weeks", LOCAL, **no),
        observation("deep-vein-tenderness", LOCAL, site=CALF, side="left"),
        observation("entire-leg-swollen", LOCAL, **no),
        observation("calf-swelling-3cm", LOCAL, **no),
        pitting_oedema,
        observation("collateral-superficial-veins", LOCAL, **no),
        observation("161508001", **no),
        observation("alternative-diagnosis-as-likely", LOCAL, **no),
    ]


@pytest.mark.parametrize(
    ("pitting_oedema", "expected"),
    [
        pytest.param(
            observation("284521000", site=LOWER_LEG, side="left", valueBoolean=False),
            ["R-DVT-UNLIKELY standard"],
            id="sited absence fills the item",
        ),
        pytest.param(
            observation("284521000", valueBoolean=False),
            ["R-DVT-PATHWAY incomplete"],
            id="unsited absence fills nothing",
        ),
    ],
)
def test_an_unsited_leg_code_recorded_absent_fills_no_wells_item(
    pitting_oedema: dict[str, Any], expected: list[str]
) -> None:
    """§2 "Body sites": with no bodySite a +leg code does not count as its finding, so its
    absence cannot complete the Wells score and open "DVT unlikely" (principle 4)."""
    cards = cards_for(
        patient(birth_date="1986-01-01"),
        observation(CALF_PAIN, site=LOWER_LEG, side="left"),
        *_wells_recorded_absent(pitting_oedema),
        measurement("48065-7", 300, "ng/mL{FEU}"),
    )

    assert plan(cards) == expected


@pytest.mark.parametrize(
    ("sign", "expected"),
    [
        pytest.param(
            observation("91019004"),
            "Leg numbness (side not recorded) with calf pain: check pulses, sensation, power in "
            "both legs now; if new: emergency",
            id="numbness with no side beside left calf pain",
        ),
        pytest.param(
            observation("91019004", side="right"),
            "Leg numbness (right) with calf pain: check pulses, sensation, power in both legs "
            "now; if new: emergency",
            id="numbness on the right",
        ),
    ],
)
def test_the_summary_side_is_the_signs_never_a_symptoms(
    sign: dict[str, Any], expected: str
) -> None:
    """§7.2.4 and §7.4 {side}: the summary's side belongs to the sign it names; a sign with no
    recorded side is said so, not given the calf pain's side (the clinician examines both)."""
    cards = cards_for(patient(), observation(CALF_PAIN, site=CALF, side="left"), sign)

    assert plan(cards) == ["R-ISCHAEMIA-SIGN deficit"]
    assert cards[0]["summary"] == expected


@pytest.mark.parametrize(
    ("d_dimer", "line"),
    [
        pytest.param(
            measurement("48065-7", 300, "ng/mL{DDU}"),
            "D-dimer 300 ng/mL{DDU}, 2026-11-24: cannot exclude DVT (not interpretable).",
            id="a unit that contradicts the code is shown as sent",
        ),
        pytest.param(
            observation("48065-7", LOINC, valueString="Positive"),
            "D-dimer result, 2026-11-24: positive.",
            id="a worded result is positive, once",
        ),
    ],
)
def test_the_d_dimer_line_shows_the_result_as_the_lab_sent_it(
    d_dimer: dict[str, Any], line: str
) -> None:
    """§5 display: the D-dimer line never relabels a unit it could not interpret (that
    contradiction is the problem to check), nor says "positive" twice."""
    cards = cards_for(
        patient(),
        observation(CALF_PAIN, site=CALF, side="left"),
        observation("deep-vein-tenderness", LOCAL, site=CALF, side="left"),
        d_dimer,
    )

    assert plan(cards) == ["R-DVT-PATHWAY incomplete"]
    assert f"- {line}" in cards[0]["detail"].splitlines()  # a Score list item


@pytest.mark.parametrize(
    ("group_record", "variant", "why_line"),
    [
        pytest.param(
            condition("77386006", id="preg"),
            "pregnant",
            "- Pregnant, 2026-11-24 (Condition/preg)",
            id="pregnancy",
        ),
        pytest.param(
            observation("on-anticoagulant", LOCAL, id="ac"),
            "anticoagulated",
            "- On anticoagulant treatment, 2026-11-24 (Observation/ac)",
            id="anticoagulant",
        ),
    ],
)
def test_the_record_that_selects_a_principle_5_variant_is_cited(
    group_record: dict[str, Any], variant: str, why_line: str
) -> None:
    """§7.3: "Why" names each finding the card rests on; the group record chooses the steps
    (LMWH, an adherence check), so the clinician can check it (a wrong date, a stale entry)."""
    cards = cards_for(
        patient(birth_date="1990-01-01"),
        observation(CALF_PAIN, site=CALF, side="left"),
        observation("deep-vein-tenderness", LOCAL, site=CALF, side="left"),
        group_record,
    )

    assert plan(cards) == [f"R-DVT-PATHWAY {variant}"]
    assert why_line in cards[0]["detail"].splitlines()
    evidence = cards[0]["extension"]["example.calf-cds"]["evidence"]
    assert group_record["resourceType"] + "/" + group_record["id"] in [
        item["reference"] for item in evidence
    ]
