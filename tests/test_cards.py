"""Typed cards (clinical-rules.md §7, rule set 2026.2): fields, detail order, text rules, the
minimal and data-quality cards, uuids."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from finding_factory import B, L, R, U, extraction, f

from cds import wire
from cds.core import wording
from cds.core.card_request import CardRequest, time_ordered_uuids
from cds.core.card_text import SUMMARY_LIMIT, md, record_line, value_text
from cds.core.cards import build_cards, build_rule_card
from cds.core.engine import Assessment, evaluate
from cds.core.findingset import EVIDENCE_CAP
from cds.core.i18n import ENGLISH
from cds.core.model import (
    CUT_NOT_FETCHED,
    CUT_PAGE_CAP,
    FLAG_NORMAL,
    TAG_CODED_RESULT,
    TAG_COLD,
    TAG_HEART_RATE,
    TAG_MEASURED,
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_SPO2,
    Card,
    Caveat,
    Extraction,
    Finding,
    Measurement,
    QueryCut,
    Side,
    Unreadable,
)
from cds.core.routes import PROFILES
from cds.core.rules import RULES

DVT = [f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L)]
DVT_RULE = "R-DVT-PATHWAY"
SECTIONS = ("What to do next", "Why", "Score", "Not recorded", "Also noted", "Caveats")


def cards_for(*records: Finding, age: int | None = 60, **request: Any) -> list[Card]:
    return build_cards(
        evaluate(extraction(*records, age=age)), CardRequest(patient_id="p1", **request)
    )


def only(cards: list[Card], rule_id: str | None) -> Card:
    return next(c for c in cards if c.rule_id == rule_id)


def sections(card: Card) -> list[str]:
    return re.findall(r"^\*\*(.+?)\*\*$", card.detail, flags=re.M)


# ----------------------------------------------------------------------------- one card
def test_a_card_carries_its_rule_variant_tier_route_and_evidence() -> None:
    card = only(cards_for(*DVT), "R-DVT-PATHWAY")

    assert (card.indicator, card.extension.variant, card.extension.route) == (
        "warning",
        "incomplete",
        "dvt-pathway",
    )
    assert card.source.topic is not None
    assert (card.source.topic.code, card.source.label) == (
        "R-DVT-PATHWAY",
        "NICE NG158 (calf-cds 2026.2)",
    )
    assert [e.finding_id for e in card.extension.evidence] == ["F-CALF-PAIN", "F-LEG-SWELLING"]
    assert card.extension.wells is not None
    assert card.links[0].url == "https://www.nice.org.uk/guidance/ng158"


def test_the_detail_follows_the_order_of_section_7_3() -> None:
    old_swelling = f("F-ENTIRE-LEG-SWOLLEN", side=L, days_ago=30, in_window=False)
    undated = f("F-PITTING-EDEMA", side=L, days_ago=None)
    card = only(cards_for(*DVT, old_swelling, undated), "R-DVT-PATHWAY")

    assert sections(card) == [
        "What to do next",
        "Why",
        "Score",
        "Also noted",
        "Caveats",
        "Safety net",
    ]
    lines = card.detail.splitlines()
    assert lines[-3].startswith("Source: NICE NG158 (calf-cds 2026.2)")
    assert lines[-1] == "_Decision support only; clinical judgement applies._"


def test_the_extension_carries_the_d_dimer_line_and_what_is_also_noted() -> None:
    old_swelling = f("F-ENTIRE-LEG-SWOLLEN", side=L, days_ago=30, in_window=False)

    card = only(cards_for(*DVT, old_swelling), "R-DVT-PATHWAY")

    assert card.extension.ddimer == ("D-dimer: none in the last 72 h.",)
    (noted,) = card.extension.also_noted
    assert "outside its time window" in noted
    assert f"- {noted}" in card.detail.splitlines()
    assert only(cards_for(f("F-COMPARTMENT")), "R-COMPARTMENT").extension.ddimer == ()


def test_an_emergency_card_carries_transfer_and_no_safety_net() -> None:
    card = only(cards_for(f("F-COMPARTMENT")), "R-COMPARTMENT")

    assert sections(card)[-1] == "Transfer"
    assert "Keep the limb at heart level." in card.detail
    assert card.extension.safety_net == ()


def test_the_referral_line_and_the_suggestion_follow_the_route() -> None:
    card = only(cards_for(*DVT), "R-DVT-PATHWAY")

    (suggestion,) = card.suggestions
    assert suggestion.referral.code.code == "431883007"
    assert suggestion.referral.priority == "urgent"
    assert suggestion.referral.subject == "Patient/p1"
    assert suggestion.referral.reasons == tuple(r.reference for r in DVT)
    assert (
        "- Referral: phlebologist or hospital DVT clinic today, ultrasound within 4 h."
        in card.detail
    )
    # The step the suggestion drafts, named so a sidebar can show it once, by its button.
    referral = "Referral: phlebologist or hospital DVT clinic today, ultrasound within 4 h."
    assert card.extension.referral_line == referral
    assert card.extension.next_steps[-1] == referral
    assert wire.extension(card.extension)["referralLine"] == referral


def test_without_a_patient_id_the_subject_comes_from_the_evidence() -> None:
    assessment = evaluate(extraction(*DVT))

    card = only(build_cards(assessment, CardRequest()), "R-DVT-PATHWAY")

    assert card.suggestions[0].referral.subject == "Patient/p1"


def test_with_no_subject_at_all_no_referral_is_drafted_and_the_card_says_so() -> None:
    records = [replace(r, subject=None) for r in DVT]

    card = only(build_cards(evaluate(extraction(*records)), CardRequest()), "R-DVT-PATHWAY")

    assert card.suggestions == ()
    assert "No patient reference was available: no referral was drafted." in card.detail
    assert card.extension.referral_line is None  # nothing drafted: the step stays a step


def test_a_rule_without_a_route_has_no_suggestion_and_no_referral_line() -> None:
    hr = f(
        "F-PE-SYMPTOM",
        tags={TAG_HEART_RATE, TAG_MEASURED},
        value=108,
        unit="/min",
        analyte="heart-rate",
    )

    card = only(cards_for(f("F-CALF-PAIN"), hr), "R-PE-SIGN")

    assert card.suggestions == ()
    assert "Referral:" not in card.detail
    assert card.extension.referral_line is None
    assert card.summary.startswith("Calf pain with heart rate 108/min")


@pytest.mark.parametrize(
    ("group", "age", "own_step"),
    [
        pytest.param(f("F-PREGNANT"), 30, "compression duplex first", id="pregnant"),
        pytest.param(None, 16, "Emergency paediatric assessment now", id="under-18"),
        pytest.param(f("F-ANTICOAGULATED"), 70, "imaging without D-dimer", id="anticoagulated"),
    ],
)
def test_a_pe_sign_in_a_principle_5_group_has_the_groups_steps_and_no_pe_wells(
    group: Finding | None, age: int, own_step: str
) -> None:
    # §1.5: no PE Wells and no D-dimer step in these groups, on the PE cards too; §7.6
    # R-PE-SIGN: "PE still suspected -> emergency assessment now with the group's
    # R-PE-SUSPECTED steps".
    hr = f(
        "F-PE-SYMPTOM",
        tags={TAG_HEART_RATE, TAG_MEASURED},
        value=108,
        unit="/min",
        analyte="heart-rate",
    )
    records = [f("F-CALF-PAIN"), hr, *([group] if group else [])]

    card = only(cards_for(*records, age=age), "R-PE-SIGN")

    steps = card.detail.split("**Why**")[0]
    assert "PE Wells:" not in steps
    assert "D-dimer within 4 h" not in steps
    assert "no PE Wells or D-dimer" in steps
    assert own_step in steps
    assert "Repeat vital signs now" in steps
    assert "→ ambulance" in steps
    assert card.extension.variant == "standard"


def test_radiculopathy_suggestion_is_not_recommended() -> None:
    card = only(cards_for(f("F-RADICULAR")), "R-RADICULOPATHY")

    assert card.suggestions[0].is_recommended is False


# ----------------------------------------------------------------------------- §7.2 text rules
@pytest.mark.parametrize(
    ("measurement", "shown"),
    [
        pytest.param(
            Measurement(
                "d-dimer", 900, "ng/mL", sent_value=0.9, sent_unit="mg/L{FEU}", basis="FEU"
            ),
            "0.90 mg/L FEU",
            id="d-dimer-mg-2-decimals",
        ),
        pytest.param(
            Measurement("d-dimer", 650, "ng/mL", sent_value=650, sent_unit="ng/mL", basis="FEU"),
            "650 ng/mL FEU",
            id="d-dimer-ng-integer",
        ),
        pytest.param(
            Measurement("temperature", 38.56, "Cel", sent_value=38.56, sent_unit="Cel"),
            "38.6 °C",
            id="temperature-1-decimal",
        ),
        pytest.param(
            Measurement("abi", 0.9, "1", sent_value=0.9, sent_unit="{ratio}"),
            "0.90",
            id="abi-2-decimals",
        ),
        pytest.param(
            Measurement("heart-rate", 108.4, "/min", sent_value=108.4, sent_unit="/min"),
            "108/min",
            id="heart-rate-integer",
        ),
        pytest.param(
            Measurement("ck", 9.53, "xULN", sent_value=1906.0, sent_unit="U/L", uln=200),
            "1,906 U/L (9.5 × ULN)",
            id="ck-multiple-below-10",
        ),
        pytest.param(
            Measurement("potassium", None, "mmol/L", sent_value=3.14159, sent_unit="mEq/dL"),
            "3.1 mEq/dL",
            id="unknown-unit-as-sent",
        ),
        pytest.param(
            Measurement("potassium", 2.3, "mmol/L", sent_value=2.3, sent_unit=None),
            "2.3 mmol/L",
            id="no-unit-sent-but-every-unit-reads-alike",
        ),
        pytest.param(
            Measurement("abi", 0.8, "1", sent_value=0.8, sent_unit=None),
            "0.80",
            id="ratio-without-unit",
        ),
        pytest.param(
            Measurement("temperature", None, "Cel", sent_value=39.1, sent_unit=None),
            "39.1",
            id="no-unit-and-the-units-disagree",
        ),
        pytest.param(
            Measurement("spo2", 88, "%", comparator="<", sent_value=88, sent_unit="%"),
            "<88 %",
            id="comparator",
        ),
    ],
)
def test_values_are_shown_in_the_unit_sent_with_at_most_two_decimals(
    measurement: Measurement, shown: str
) -> None:
    assert value_text(measurement, ENGLISH) == shown


@pytest.mark.parametrize(
    ("measurement", "shown"),
    [
        pytest.param(Measurement("spo2", 91.6, "%", sent_value=91.6, sent_unit="%"), "91.6 %"),
        pytest.param(
            Measurement("heart-rate", 100.4, "/min", sent_value=100.4, sent_unit="/min"),
            "100.4/min",
        ),
        pytest.param(
            Measurement("heart-rate", 99.6, "/min", sent_value=99.6, sent_unit="/min"), "100/min"
        ),  # "> 100": 100 is on 99.6's side of it
        pytest.param(
            Measurement("heart-rate", 104.6, "/min", sent_value=104.6, sent_unit="/min"), "105/min"
        ),
        pytest.param(
            Measurement("temperature", 37.96, "Cel", sent_value=37.96, sent_unit="Cel"), "37.96 °C"
        ),
        pytest.param(
            Measurement("magnesium", 0.69, "mmol/L", sent_value=0.69, sent_unit="mmol/L"),
            "0.69 mmol/L",
        ),
        pytest.param(
            Measurement("magnesium", 0.84, "mmol/L", sent_value=0.84, sent_unit="mmol/L"),
            "0.8 mmol/L",
        ),
        pytest.param(
            Measurement(
                "d-dimer", 499.6, "ng/mL", sent_value=499.6, sent_unit="ng/mL", basis="FEU"
            ),
            "499.6 ng/mL FEU",
        ),
        pytest.param(
            Measurement(
                "d-dimer", 799.6, "ng/mL", sent_value=799.6, sent_unit="ng/mL", basis="FEU"
            ),
            "799.6 ng/mL FEU",
            id="the-age-adjusted-cut-off-at-80",
        ),
        pytest.param(Measurement("spo2", 91.6, "%", sent_value=91.6), "91.6 %", id="unit-less"),
        pytest.param(
            Measurement("spo2", 91.996, "%", sent_value=91.996, sent_unit="%"),
            "91.99 %",
            id="two-decimals-at-most-toward-its-side",
        ),
        pytest.param(
            Measurement("potassium", 3.496, "mmol/L", sent_value=3.496, sent_unit="mmol/L"),
            "3.49 mmol/L",
            id="potassium-just-under-3-5",
        ),
        pytest.param(
            Measurement("ck", 40.04, "xULN", sent_value=8008, sent_unit="U/L"),
            "8,008 U/L (40.04 × ULN)",
            id="ck-over-40-not-shown-as-40",
        ),
        pytest.param(
            Measurement("d-dimer", None, "ng/mL", sent_value=0.4996, basis="FEU"),
            "0.49 FEU",
            id="unit-less-d-dimer-cut-never-rounded-up",
        ),
        pytest.param(
            Measurement("temperature", 38.004, "Cel", sent_value=38.004, sent_unit="Cel"),
            "38.0 °C",
            id="at-a-greater-or-equal-cut-off-is-its-side",
        ),
        pytest.param(
            Measurement("abi", 0.9004, "1", sent_value=0.9004, sent_unit="1"),
            "0.91",
            id="abi-over-0-90-never-shown-at-it",
        ),
        pytest.param(
            Measurement("potassium", 3.46, "mmol/L", sent_value=3.46),
            "3.46 mmol/L",
            id="unit-less-potassium",
        ),
    ],
)
def test_a_value_is_never_rounded_onto_the_other_side_of_its_cut_off(
    measurement: Measurement, shown: str
) -> None:
    # Spec-silent beside §7.2.3: one more decimal only where rounding would cross a cut-off.
    assert value_text(measurement, ENGLISH) == shown


def test_side_is_shown_on_venous_and_arterial_cards_and_a_missing_side_is_named() -> None:
    dvt = only(cards_for(f("F-CALF-PAIN", side=U), f("F-LEG-SWELLING", side=U)), "R-DVT-PATHWAY")
    sign = only(cards_for(f("F-CALF-PAIN", side=U), f("F-PULSELESS", side=U)), "R-ISCHAEMIA-SIGN")

    assert "side not recorded (counted as one-sided)" in dvt.detail
    assert "Absent foot pulses (side not recorded)" in sign.summary


def test_an_abi_without_a_side_says_so_without_counting_it_one_sided() -> None:
    abi = f("F-ABI", value=0.99, unit="1", analyte="abi", name="ABI", reference="O/abi")

    line = record_line(abi, ENGLISH, lateral=True)

    assert ", side not recorded, " in line
    assert "counted as one-sided" not in line


def test_the_summary_names_the_side_of_the_sign_not_of_the_symptom_beside_it() -> None:
    cards = cards_for(f("F-CALF-PAIN", side=L), f("F-COLD-LIMB", side=R))

    sign = only(cards, "R-ISCHAEMIA-SIGN")

    assert "(right)" in sign.summary
    assert "(both)" not in sign.summary


def test_no_line_is_repeated_and_a_resource_is_named_once_in_why() -> None:
    potassium = dict(value=2.3, unit="mmol/L", analyte="potassium", reference="Observation/k")
    cards = cards_for(
        f("F-CRAMP"),
        f("F-CRAMP-CAUSE", tags={TAG_MEASURED}, **potassium),
        f("F-SEVERE-ELECTROLYTE", tags={TAG_MEASURED}, **potassium),
    )

    for card in cards:
        lines = [line for line in card.detail.splitlines() if line.strip()]
        assert len(lines) == len(set(lines))
    electrolyte = only(cards, "R-SEVERE-ELECTROLYTE")
    assert electrolyte.detail.count("(Observation/k)") == 1


def test_ehr_text_cannot_inject_markdown() -> None:
    nasty = f("F-COMPARTMENT", reference="Observation/[click](https://evil.example)*x*")

    card = only(cards_for(nasty), "R-COMPARTMENT")

    assert "[click](https://evil.example)" not in card.detail
    assert r"\[click\]" in card.detail


def test_ehr_text_in_the_plain_text_summary_is_not_backslash_escaped() -> None:
    # The summary is plain text (CDS Hooks): escapes would show; the detail stays escaped.
    ddimer = replace(
        f(
            "F-D-DIMER",
            interpretable=False,
            present=False,
            name="D-dimer",
            tags={TAG_NOT_INTERPRETABLE_BLOCKS},
        ),
        measurement=Measurement("d-dimer", None, "ng/mL", sent_value=300, sent_unit="[x](y)*z*"),
    )

    card = only(cards_for(f("F-CALF-PAIN"), ddimer), "R-NO-RED-FLAG-DATA")

    assert "(300 [x](y)*z*)" in card.summary
    assert "\\" not in card.summary
    assert "300 \\[x\\](y)\\*z\\*" in card.detail


def test_a_long_sign_list_is_shortened_to_the_first_and_n_more() -> None:
    signs = [
        f("F-PE-SYMPTOM", code=code) for code in ("267036007", "29857009", "66857006", "271594007")
    ]
    spo2 = f("F-PE-SYMPTOM", tags={TAG_SPO2, TAG_MEASURED}, value=85, unit="%", analyte="spo2")

    card = only(cards_for(*DVT, *signs, spo2, f("F-PREGNANT"), age=30), "R-PE-SUSPECTED")

    assert len(card.summary) < SUMMARY_LIMIT
    assert "SpO2 85 % and 4 more" in card.summary


def test_evidence_is_capped_and_the_rest_counted() -> None:
    many = [f("F-CALF-PAIN", side=L, days_ago=i / 100) for i in range(EVIDENCE_CAP + 25)]

    card = only(cards_for(*many, f("F-LEG-SWELLING", side=L)), "R-DVT-PATHWAY")

    assert len(card.extension.evidence) == EVIDENCE_CAP
    assert card.extension.evidence_total == EVIDENCE_CAP + 26
    assert "- and 26 more records" in card.detail
    assert len(card.detail.encode()) < 20_000


def test_a_safety_net_drops_items_already_recorded_present() -> None:
    cards = cards_for(
        f("F-CALF-PAIN", side=L),
        f("F-LEG-SWELLING", side=L),
        f("F-ERYTHEMA", side=L),
        f("F-WARMTH", side=L),
    )

    (line,) = only(cards, "R-DVT-PATHWAY").extension.safety_net
    assert "swells more or turns pale or blue, or with breathlessness" in line


def test_the_legs_of_a_card_come_from_all_its_evidence_not_only_displayed_sides() -> None:
    # Claudication (left) is the card's leg too, though the card shows no side for it.
    records = (
        f("F-CLAUDICATION", side=L),
        f("F-ABI", value=1.05, unit="1", side=R),
        f("F-CYANOSIS", side=R),
    )

    card = only(cards_for(*records), "R-PAD")

    (line,) = card.extension.safety_net
    assert "turns cold, pale, blue, numb or weak" in line
    assert "ABI (left leg)" in card.extension.not_recorded


def test_the_ischaemia_sign_net_still_warns_of_the_painful_leg_turning_cold() -> None:
    # The left leg is cold; the right one hurts and may yet turn cold (then R-ALI's signs).
    cards = cards_for(f("F-CALF-PAIN", side=R), f("F-COLD-LIMB", side=L, tags={TAG_COLD}))

    (line,) = only(cards, "R-ISCHAEMIA-SIGN").extension.safety_net
    assert "turns cold, pale, blue, numb or weak" in line


@pytest.mark.parametrize(
    ("swollen", "reddened", "red_kept"),
    [
        pytest.param(L, R, True, id="other leg red"),
        pytest.param(L, L, False, id="same leg red"),
        pytest.param(L, U, False, id="red leg, side not recorded"),
        pytest.param(L, B, False, id="both legs red"),
        pytest.param(U, R, True, id="swollen leg's side not recorded"),
    ],
)
def test_a_safety_net_keeps_a_warning_recorded_only_on_the_other_leg(
    swollen: Side, reddened: Side, red_kept: bool
) -> None:
    # §2 reads findings side by side: the right leg's redness says nothing of the left leg.
    cards = cards_for(
        f("F-CALF-PAIN", side=swollen),
        f("F-LEG-SWELLING", side=swollen),
        f("F-ERYTHEMA", side=reddened),
    )

    (card,) = cards
    (line,) = card.extension.safety_net
    assert ("turns red," in line) is red_kept, line


@pytest.mark.parametrize(
    ("cold", "pulses", "missing"),
    [
        pytest.param(R, [R], "left foot pulses", id="right recorded"),
        pytest.param(L, [L], "right foot pulses", id="left recorded"),
        pytest.param(R, [U], "foot pulses on each side", id="side unknown"),
        pytest.param(R, [L, R], None, id="both recorded"),
    ],
)
def test_with_one_legs_foot_pulses_recorded_the_card_asks_for_the_other_leg(
    cold: Side, pulses: list[Side], missing: str | None
) -> None:
    records = [f("F-PULSELESS", side=side) for side in pulses]
    card = only(cards_for(f("F-COLD-LIMB", side=cold), *records), "R-ALI")

    asked = [item for item in card.extension.not_recorded if "foot pulses" in item]
    assert asked == ([missing] if missing else [])


@pytest.mark.parametrize(("abi", "variant"), [(1.05, "abi-not-low"), (1.5, "abi-not-low")])
def test_the_abi_that_chose_a_pad_variant_is_cited_under_why(abi: float, variant: str) -> None:
    # §7.3.2: the summary's "ABI 1.05" is a finding, listed with its value and resource.
    measured = f("F-ABI", value=abi, unit="1", side=L, reference="Observation/abi", name="ABI")
    card = only(cards_for(f("F-CLAUDICATION", side=L), measured), "R-PAD")

    assert card.extension.variant == variant
    assert "Observation/abi" in [item.reference for item in card.extension.evidence]
    assert f"ABI {abi:.2f}, left" in card.detail.split("**Why**")[1]


@pytest.mark.parametrize(
    ("colour", "asked"),
    [
        pytest.param(f("F-CYANOSIS", side=R), ["swelling (right leg)", "skin colour (left leg)"],
                     id="card about both legs, each with one record"),
        pytest.param(f("F-ERYTHEMA", side=R), ["skin colour"], id="only the other leg's colour"),
        pytest.param(f("F-ERYTHEMA", side=L), [], id="the card's own leg"),
        pytest.param(f("F-ERYTHEMA", side=U), [], id="side not recorded"),
    ],
)  # fmt: skip
def test_a_leg_finding_recorded_on_the_other_leg_is_still_asked_for(
    colour: Finding, asked: list[str]
) -> None:
    # §2 reads findings side by side: the right leg's colour says nothing of the left leg's.
    swollen_left = (f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L))
    card = only(cards_for(*swollen_left, colour), "R-DVT-PATHWAY")

    missing = card.extension.not_recorded
    assert [item for item in missing if item.startswith(("swelling", "skin colour"))] == asked


def test_the_dvt_card_states_the_wells_score_counted_and_not_recorded() -> None:
    card = only(cards_for(*DVT, f("F-PITTING-EDEMA", side=L)), "R-DVT-PATHWAY")

    assert "Wells incomplete: 1 point recorded, up to 9." in card.detail
    assert "Counted: pitting oedema of the symptomatic leg (+1)." in card.detail
    assert "D-dimer: none in the last 72 h." in card.detail
    assert "**Not recorded**" not in card.detail  # on DVT cards the Score's line is the only one


def test_the_wells_extension_names_each_item_in_the_cards_language() -> None:
    card = only(cards_for(*DVT, f("F-PITTING-EDEMA", side=L)), "R-DVT-PATHWAY")

    assert card.extension.wells is not None
    items = card.extension.wells["items"]
    assert isinstance(items, list)
    pitting = next(i for i in items if i["finding"] == "F-PITTING-EDEMA")
    assert pitting == {
        "finding": "F-PITTING-EDEMA",
        "label": "pitting oedema of the symptomatic leg",
        "status": "present",
        "points": 1,
    }


def test_principle_5_cards_say_validated_scores_do_not_apply() -> None:
    card = only(cards_for(*DVT, f("F-PREGNANT"), age=30), "R-DVT-PATHWAY")

    assert "Validated scores do not apply." in card.detail
    assert "Wells" not in card.detail.split("**Score**")[1].split("**")[0].replace(
        "no D-dimer or Wells", ""
    )
    assert card.source.label == "RCOG GTG 37b (calf-cds 2026.2)"


def test_a_not_interpretable_blocking_value_is_named_on_every_card() -> None:
    d_dimer = f(
        "F-D-DIMER",
        interpretable=False,
        present=False,
        tags={"blocks-self-care"},
        value=3,
        unit="U/L",
        analyte="d-dimer",
    )

    cards = cards_for(*DVT, d_dimer)

    for card in cards:
        assert "could not be interpreted" in card.detail, card.rule_id


def test_a_value_sent_without_a_unit_leaves_no_gap_in_the_caveat_or_the_summary() -> None:
    d_dimer = replace(
        f("F-D-DIMER", interpretable=False, present=False, tags={"blocks-self-care"}, value=3),
        measurement=Measurement("d-dimer", None, "ng/mL", sent_value=650, sent_unit=None),
    )

    cards = cards_for(f("F-CALF-PAIN", side=L), d_dimer)

    assert any(" 650 could not be interpreted: check it" in c.detail for c in cards)
    assert only(cards, "R-NO-RED-FLAG-DATA").summary.startswith(
        "D-dimer result could not be interpreted (650): check it"
    )
    for card in cards:
        assert [line for line in (card.summary, *card.detail.splitlines()) if "  " in line] == []
        assert " )" not in card.summary
        assert "()" not in card.summary


def test_a_not_interpretable_value_the_rule_reads_is_a_caveat_and_counts_as_not_recorded() -> None:
    circumference = replace(
        f("F-CALF-SWELLING-3CM", interpretable=False, present=False, value=3.5),
        measurement=Measurement("calf-diff", None, "cm", sent_value=3.5, sent_unit="inch-ish"),
    )

    card = only(cards_for(*DVT, circumference), "R-DVT-PATHWAY")

    caveats = card.detail.split("**Caveats**")[1]
    assert f"3.5 inch-ish ({circumference.reference}): not interpretable" in caveats
    assert "calf swelling 3 cm or more" in card.detail.split("Not recorded:")[1].split("\n")[0]


def test_a_checklist_item_not_interpreted_stays_not_recorded_as_its_caveat_says() -> None:
    abi = replace(
        f("F-ABI", interpretable=False, present=False, value=0.5, name="ABI"),
        measurement=Measurement("abi", None, "1", sent_value=0.5, sent_unit="mm[Hg]"),
    )

    card = only(cards_for(f("F-CLAUDICATION", side=L), abi), "R-PAD")

    assert "not interpretable, counted as not recorded" in card.detail.split("**Caveats**")[1]
    assert "ABI" in card.detail.split("**Not recorded**")[1].split("**")[0]


def test_a_value_not_interpreted_is_listed_as_sent_under_why() -> None:
    # A unit the service did not understand is not relabelled ("300 U/L", never "300 U/L FEU").
    ddimer = f(
        "F-D-DIMER",
        value=300,
        unit="U/L",
        basis="FEU",
        interpretable=False,
        name="D-dimer",
        reference="Observation/dd",
    )

    below = replace(
        ddimer,
        measurement=Measurement("d-dimer", None, "", "<", sent_value=0.5, sent_unit="mg/L"),
    )
    no_value = replace(ddimer, measurement=Measurement("d-dimer", None, ""))

    line = record_line(ddimer, ENGLISH, lateral=False)

    assert line.startswith("D-dimer 300 U/L: not interpretable, ")
    assert line.endswith("(Observation/dd)")
    assert record_line(below, ENGLISH, lateral=False).startswith(
        "D-dimer \\<0.5 mg/L: not interpretable, "  # the lab's "<" kept, escaped for markdown
    )
    assert record_line(no_value, ENGLISH, lateral=False).startswith("D-dimer: not interpretable, ")


@pytest.mark.parametrize(("present", "word"), [(False, "negative"), (True, "positive")])
def test_a_qualitative_lab_result_reads_negative_or_positive_never_absent(
    present: bool, word: str
) -> None:
    coded = f(
        "F-D-DIMER", present=present, tags={TAG_CODED_RESULT}, name="D-dimer", reference="O/d"
    )

    assert record_line(coded, ENGLISH, lateral=False).startswith(f"D-dimer: {word}, ")


def test_the_extension_gives_a_value_not_interpreted_as_sent_and_says_so() -> None:
    # An EHR reading the extension must not see "300 U/L FEU", absent, in ng/mL (a negative).
    ddimer = replace(
        f(
            "F-D-DIMER",
            interpretable=False,
            present=False,
            name="D-dimer",
            reference="O/dd",
            tags={TAG_NOT_INTERPRETABLE_BLOCKS},
        ),
        measurement=Measurement("d-dimer", None, "ng/mL", sent_value=300, sent_unit="U/L"),
    )

    card = only(cards_for(f("F-CALF-PAIN"), ddimer, age=40), "R-NO-RED-FLAG-DATA")

    (item,) = [e for e in card.extension.evidence if e.finding_id == "F-D-DIMER"]
    assert (item.value, item.unit, item.interpretable) == ("300 U/L", "U/L", False)
    wired = wire.extension(card.extension)["evidence"]
    assert {"value": "300 U/L", "unit": "U/L", "interpretable": False}.items() <= next(
        e for e in wired if e["finding"] == "F-D-DIMER"
    ).items()
    assert all("interpretable" not in e for e in wired if e["finding"] != "F-D-DIMER")


def test_a_positive_d_dimer_a_lab_flag_did_not_decide_names_the_flag_and_the_cut_off() -> None:
    ddimer = f(
        "F-D-DIMER",
        value=5000,
        unit="ng/mL",
        analyte="d-dimer",
        basis="FEU",
        flag=FLAG_NORMAL,
        name="D-dimer",
        days_ago=0.01,
        tags={TAG_MEASURED},
    )

    card = only(cards_for(*DVT, ddimer, age=56), "R-DVT-PATHWAY")

    assert (
        ": positive (at or over the cut-off, though flagged normal by the lab; age-adjusted "
        "cut-off 560 ng/mL FEU)."
    ) in card.detail


def test_a_dvt_on_record_is_not_scored_again() -> None:
    # Wells scores a suspected DVT: with one on record the card asks for no score or D-dimer.
    on_record = f("F-DVT-DX", side=L, resource_type="Condition", days_ago=3)
    launch = "https://cds.example/smart/launch"

    card = only(cards_for(f("F-CALF-PAIN", side=L), on_record, smart_launch_url=launch), DVT_RULE)

    assert card.extension.variant == "diagnosed"
    score = card.detail.split("**Score**")[1].split("**")[0]
    assert "- Wells score not used: DVT or PE is on record." in score
    assert "Wells incomplete" not in score
    assert "D-dimer" not in score
    assert card.extension.wells is None
    assert all(
        "F-PREVIOUS-DVT" not in (link.app_context.findings if link.app_context else ())
        for link in card.links
    )


def test_a_d_dimer_the_lab_flags_normal_reads_negative_with_the_flag_named() -> None:
    # §5: interpretation N is negative whatever the value; the line never says "below 500".
    ddimer = f(
        "F-D-DIMER",
        value=600,
        unit="ng/mL",
        analyte="d-dimer",
        basis="FEU",
        present=False,
        flag=FLAG_NORMAL,
        name="D-dimer",
        days_ago=0.01,
        tags={TAG_MEASURED},
    )

    card = only(cards_for(*DVT, ddimer, age=40), "R-DVT-PATHWAY")

    assert "D-dimer 600 ng/mL FEU, " in card.detail
    assert ": negative (flagged normal by the lab)." in card.detail


@pytest.mark.parametrize(
    ("code", "name", "line"),
    [
        ("762898005", "Swelling of both legs", "Swelling of both legs, 2026-11-24"),
        ("102572006", "Leg oedema", "Leg oedema, both, 2026-11-24"),
    ],
)
def test_a_term_that_names_both_legs_is_not_followed_by_both(
    code: str, name: str, line: str
) -> None:
    record = f("F-LEG-SWELLING", side=B, code=code, name=name, reference="Observation/s")

    assert record_line(record, ENGLISH, lateral=True) == f"{line} (Observation/s)"


def test_caveats_name_the_malformed_elements_of_the_cards_own_resources() -> None:
    assessment = evaluate(extraction(*DVT))
    ext = replace(
        assessment.extraction,
        caveats=(
            Caveat(DVT[0].reference, "referenceRange", "is malformed: ignored"),
            Caveat("Observation/elsewhere", "note", "is malformed: ignored"),
        ),
    )

    card = only(build_cards(replace(assessment, extraction=ext), CardRequest()), "R-DVT-PATHWAY")

    assert f"{DVT[0].reference}: referenceRange is malformed: ignored" in card.detail
    assert "Observation/elsewhere" not in card.detail


# ----------------------------------------------------------------------------- the smart link
def test_the_red_flag_check_link_is_there_only_when_the_app_is_on_and_items_are_missing() -> None:
    launch = "https://cds.example/smart/launch"

    with_app = only(cards_for(*DVT, smart_launch_url=launch, hook_instance="h-1"), "R-DVT-PATHWAY")
    without = only(cards_for(*DVT), "R-DVT-PATHWAY")

    smart = [link for link in with_app.links if link.type == "smart"]
    assert [(link.label, link.url) for link in smart] == [("Complete the red-flag check", launch)]
    context = json.loads(wire.card(with_app)["links"][-1]["appContext"])  # a string on the wire
    assert context["hookInstance"] == "h-1"
    assert context["ruleId"] == "R-DVT-PATHWAY"
    assert "F-ACTIVE-CANCER" in context["findings"]
    assert all(link.type == "absolute" for link in without.links)


# ----------------------------------------------------------------------------- data quality
def with_extraction(assessment: Assessment, **changes: Any) -> Assessment:
    extraction_: Extraction = replace(assessment.extraction, **changes)
    return replace(assessment, extraction=extraction_)


def test_unreadable_resources_give_one_data_quality_card_last_without_a_topic() -> None:
    assessment = with_extraction(
        evaluate(extraction(f("F-COMPARTMENT"))),
        unreadable=(Unreadable("Observation/o7", "valueQuantity.value", "is not a number"),),
    )

    cards = build_cards(assessment, CardRequest())

    quality = cards[-1]
    assert (quality.rule_id, quality.source.topic, quality.indicator) == (None, None, "info")
    assert quality.summary == "1 resource could not be read: red flags may be missing"
    assert "- Observation/o7: valueQuantity.value is not a number" in quality.detail


@pytest.mark.parametrize(
    ("request_", "summary"),
    [
        pytest.param(
            {"unsatisfied_prefetch": ("conditions",)},
            "Data not available (conditions): red flags may be missing",
            id="prefetch",
        ),
        pytest.param(
            {"incomplete_queries": (QueryCut("observations", CUT_PAGE_CAP, 5),)},
            "Data fetch incomplete (observations): red flags may be missing",
            id="fetch",
        ),
    ],
)
def test_data_not_available_or_incomplete_is_named(request_: dict[str, Any], summary: str) -> None:
    cards = build_cards(evaluate(extraction(f("F-CALF-PAIN"))), CardRequest(**request_))

    assert cards[-1].summary == summary


def test_a_query_cut_short_says_why_and_how_much_was_read() -> None:
    cuts = (QueryCut("observations", CUT_PAGE_CAP, 1), QueryCut("conditions", CUT_NOT_FETCHED))
    request = CardRequest(incomplete_queries=cuts, unsatisfied_prefetch=("patient",))

    card = build_cards(evaluate(extraction()), request)[-1]

    assert card.extension.incomplete_prefetch == ("observations", "conditions")
    assert card.extension.unsatisfied_prefetch == ("patient",)
    assert card.extension.unreadable == 0
    assert card.summary == "Data not available (patient): red flags may be missing"
    lines = card.detail.splitlines()
    assert (
        "- Query observations incomplete (the page limit was reached; 1 page read): red flags "
        "may be missing."
    ) in lines
    assert (
        "- Query conditions incomplete (later pages not fetched: no FHIR server this service may "
        "read): red flags may be missing."
    ) in lines


def test_entries_without_a_resource_are_reported_by_their_index() -> None:
    assessment = with_extraction(evaluate(extraction()), skipped_entries=("observations entry 2",))

    (card,) = build_cards(assessment, CardRequest())

    assert card.summary == "1 Bundle entry had no resource: red flags may be missing"
    assert "observations entry 2" in card.detail


def test_an_entry_that_is_not_a_bundle_entry_is_named_without_a_gap() -> None:
    assessment = with_extraction(
        evaluate(extraction()), unreadable=(Unreadable("entry 3", "", "is not a Bundle entry"),)
    )

    (card,) = build_cards(assessment, CardRequest())

    assert "- entry 3: is not a Bundle entry" in card.detail.splitlines()


def test_no_data_quality_card_when_everything_was_read() -> None:
    assert [c.rule_id for c in cards_for(f("F-COMPARTMENT"))] == ["R-COMPARTMENT"]


def test_a_card_that_fails_to_build_is_replaced_by_a_minimal_card_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(planned: Any, assessment: Assessment, request: CardRequest) -> Card:
        if planned.rule_id == "R-DVT-PATHWAY":
            raise RuntimeError("boom")
        return build_rule_card(planned, assessment, request)

    assessment = evaluate(extraction(*DVT, f("F-PE-SYMPTOM", code="267036007")))
    with caplog.at_level(logging.ERROR):
        cards = build_cards(assessment, CardRequest(patient_id="p1"), build=failing)

    assert [c.rule_id for c in cards] == ["R-PE-SUSPECTED", "R-DVT-PATHWAY"]
    minimal = cards[1]
    assert minimal.indicator == "warning"
    assert minimal.summary.startswith("Deep vein thrombosis pathway: review now")
    assert minimal.source.topic is not None
    assert minimal.source.topic.code == "R-DVT-PATHWAY"
    assert "R-DVT-PATHWAY" not in minimal.summary + minimal.detail
    assert any(getattr(r, "rule_id", None) == "R-DVT-PATHWAY" for r in caplog.records)


# ----------------------------------------------------------------------------- every variant
@pytest.mark.parametrize(("rule_id", "variant"), sorted(wording.SUMMARIES), ids=lambda v: str(v))
def test_every_summary_template_fits_with_long_substitutions(rule_id: str, variant: str) -> None:
    """§7.1: every template fits 140 characters with the longest realistic substitution."""
    template = wording.SUMMARIES[(rule_id, variant)]
    longest = {
        "{side}": "side not recorded",
        "{sign}": "SpO2 88 % and 4 more",
        "{leg}": "recent DVT or PE",
        "{calf symptom}": "ankle swelling",
        "{Calf symptom}": "Ankle swelling",
        "{symptom}": "spinal claudication",
        "{Sign}": "Cold, pale leg",
        "{deficit}": "numbness and weakness",
        "{Spinal}": "Back pain",
        "{pregnancy}": "in pregnancy",
        "{n}": "9",
        "{value}": "12,000 ng/mL FEU",
        "{fever}": "fever 39.5 °C",
        "{ddimer}": "D-dimer 650 ng/mL FEU, below age-adjusted 800",
        "{reason}": "heart rate 108/min",
        "{electrolyte}": "magnesium",
        "{abi}": "0.95",
        "{Evidence}": "PAD on record",
        "{evidence}": "rhabdomyolysis on record",
        "{muscle}": "muscle pain",
        "{cause}": "potassium 3.1 mmol/L and 3 more",
        "{treatment}": "anticoagulation with paediatric haematology",
        "{date}": "on 2026-11-25",
        "{items}": "11 items",
        "{Test}": "Temperature",
        "{unit}": "mmol/L(abcde",
    }
    rule = next(r for r in RULES if r.id == rule_id)
    routes = [rule.route, *(v.route for v in rule.variants if v.route)]
    longest["{route}"] = max(
        (PROFILES[p][key].card_text(priority) for p in PROFILES for key in routes
         for priority in (None, "stat", "urgent")),
        key=len,
    )  # fmt: skip
    text = template
    for key, value in longest.items():
        text = text.replace(key, value)
    if rule_id == "R-NO-RED-FLAG-DATA":
        text = text.replace("12,000 ng/mL FEU", "123456789012")
    assert "{" not in text
    assert len(text) < SUMMARY_LIMIT, (len(text), text)


def test_every_rule_card_of_a_busy_record_is_clean() -> None:
    records = [
        *DVT, f("F-COMPARTMENT"), f("F-VARICOSE"), f("F-RADICULAR"), f("F-ACTIVE-CANCER"),
        f("F-FEVER", value=39, unit="Cel", analyte="temperature"), f("F-CRAMP"), f("F-CRAMP-CAUSE"),
        f("F-CLAUDICATION"), f("F-MYOSITIS-DX"),
    ]  # fmt: skip

    cards = cards_for(*records)

    assert len(cards) >= 8
    for card in cards:
        assert len(card.summary) < SUMMARY_LIMIT
        assert not re.search(r"\b[FR]-[A-Z]", card.summary + card.detail), card.rule_id
        assert sections(card)[0] == "What to do next"


# ----------------------------------------------------------------------------- uuids
def test_uuids_are_version_7_of_the_issue_time_and_sort_in_issue_order() -> None:
    before = time.time_ns() // 1_000_000
    source = time_ordered_uuids()
    first = next(source)
    time.sleep(0.002)
    second = next(source)
    after = time.time_ns() // 1_000_000

    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert before <= int(first.replace("-", "")[:12], 16) <= after
    assert first < second
    assert len({next(source) for _ in range(2000)}) == 2000


def test_every_card_and_suggestion_gets_its_own_uuid() -> None:
    cards = cards_for(*DVT, f("F-PE-SYMPTOM", code="267036007"), f("F-VARICOSE"))

    uuids = [c.uuid for c in cards] + [s.uuid for c in cards for s in c.suggestions]
    assert len(uuids) == len(set(uuids))


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("Observation/obs-12", "Observation/obs-12", id="plain-reference-unchanged"),
        pytest.param("[x](javascript:y)", "\\[x\\](javascript:y)", id="link"),
        pytest.param("a_b*c`d", "a\\_b\\*c\\`d", id="emphasis-and-code"),
        pytest.param("<img>#|\\", "\\<img\\>\\#\\|\\\\", id="html-heading-table-backslash"),
        pytest.param(
            "obs\n\nStop\n=====\r\n1. Give", "obs Stop ===== 1. Give", id="setext-heading-and-list"
        ),
        pytest.param("a\u2028b\x1b[2Jc\x85d", "a b \\[2Jc d", id="other-line-breaks-and-controls"),
        pytest.param("dose\u202e01 gm", "dose 01 gm", id="bidi-override"),
    ],
)
def test_ehr_text_is_escaped_for_every_markdown_character(text: str, escaped: str) -> None:
    assert md(text) == escaped
