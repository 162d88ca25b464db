"""The engine: §2 aggregation semantics (FindingSet), ordering, principles 3 and 7, variants."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from finding_factory import B, L, R, U, extraction, f

from cds.core.engine import evaluate
from cds.core.findingset import FindingSet
from cds.core.model import (
    TAG_COLD,
    TAG_HEART_RATE,
    TAG_MEASURED,
    TAG_MOTOR,
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_OUTSIDE_LEG,
    TAG_POSTPARTUM,
    TAG_SENSORY,
    TAG_SIDES_CONFLICT,
    TAG_SPO2,
    TAG_SUPPORTING,
    Finding,
    Side,
)
from cds.core.rules import WELLS_FINDINGS, Present, Unilateral


def ids(*records: Finding, age: int | None = 60) -> tuple[str, ...]:
    return evaluate(extraction(*records, age=age)).rule_ids


# ----------------------------------------------------------------------------- conflicts (§2)
@pytest.mark.parametrize(
    ("records", "present"),
    [
        pytest.param(
            [f("F-FEVER", days_ago=5), f("F-FEVER", present=False, days_ago=1)],
            False,
            id="later-absence-wins",
        ),
        pytest.param(
            [f("F-FEVER", present=False, days_ago=5), f("F-FEVER", days_ago=1)],
            True,
            id="later-presence-wins",
        ),
        pytest.param(
            [f("F-FEVER", present=False, days_ago=2), f("F-FEVER", days_ago=2)],
            True,
            id="equal-times-present-wins",
        ),
        pytest.param(
            [f("F-FEVER", present=False, days_ago=1), f("F-FEVER", days_ago=None)],
            True,
            id="undated-presence-is-current",
        ),
        pytest.param(
            [f("F-FEVER", days_ago=3), f("F-FEVER", present=False, days_ago=None)],
            True,
            id="undated-absence-cancels-nothing",
        ),
        pytest.param(
            [
                f("F-FEVER", tags={TAG_MEASURED}, value=38.6, unit="Cel", days_ago=1),
                f(
                    "F-FEVER",
                    present=False,
                    tags={TAG_MEASURED},
                    value=36.9,
                    unit="Cel",
                    days_ago=0,
                ),
            ],
            True,
            id="threshold-yesterday-crossing-counts",
        ),
        pytest.param(
            [
                f("F-FEVER", tags={TAG_MEASURED}, value=38.6, unit="Cel", days_ago=2),
                f("F-FEVER", present=False, days_ago=0),
            ],
            True,
            id="threshold-crossing-not-cancelled-by-coded-absence",
        ),
        pytest.param(
            [f("F-FEVER", days_ago=20, in_window=False)],
            False,
            id="outside-window-ignored",
        ),
        pytest.param(
            [f("F-FEVER", tags={TAG_SUPPORTING})],
            False,
            id="supporting-never-counts",
        ),
        pytest.param(
            [f("F-FEVER", present=False, interpretable=False, value=1, unit="?")],
            False,
            id="not-interpretable-value-never-crosses-a-cut-off",
        ),
        pytest.param(
            [f("F-FEVER", interpretable=False, value=1, unit="?")],
            True,
            id="not-interpretable-but-flagged-by-the-lab-counts",
        ),
    ],
)
def test_conflicting_records_resolve_as_section_2_says(
    records: list[Finding], present: bool
) -> None:
    assert FindingSet(records).present("F-FEVER") is present


# ----------------------------------------------------------------------------- laterality
def test_new_one_sided_swelling_counts_whatever_older_bilateral_oedema_says() -> None:
    fs = FindingSet([f("F-LEG-SWELLING", side=B, days_ago=10), f("F-LEG-SWELLING", side=L)])

    assert [r.side for r in fs.standing(Unilateral("F-LEG-SWELLING"))] == [L]


def test_one_sided_swelling_stands_beside_a_later_bilateral_record() -> None:
    fs = FindingSet([f("F-LEG-SWELLING", side=L, days_ago=3), f("F-LEG-SWELLING", side=B)])

    assert fs.standing(Unilateral("F-LEG-SWELLING"))


def test_a_later_general_absence_cancels_a_one_sided_presence() -> None:
    fs = FindingSet(
        [f("F-LEG-SWELLING", side=L, days_ago=3), f("F-LEG-SWELLING", present=False, days_ago=1)]
    )

    assert not fs.present("F-LEG-SWELLING")


def test_an_absence_on_the_other_side_cancels_nothing() -> None:
    fs = FindingSet(
        [
            f("F-LEG-SWELLING", side=L, days_ago=3),
            f("F-LEG-SWELLING", side=U, days_ago=3),
            f("F-LEG-SWELLING", side=R, present=False, days_ago=1),
        ]
    )

    assert len(fs.standing(Unilateral("F-LEG-SWELLING"))) == 2


@pytest.mark.parametrize(
    ("cold", "pulse", "fires"),
    [
        pytest.param(L, L, True, id="left-left"),
        pytest.param(L, U, True, id="left-unknown"),
        pytest.param(U, R, True, id="unknown-right"),
        pytest.param(B, R, True, id="bilateral-includes-right"),
        pytest.param(L, R, False, id="left-right"),
    ],
)
def test_ali_needs_findings_on_the_same_side(cold: object, pulse: object, fires: bool) -> None:
    # No calf pain here: a cold leg with calf pain is a painful cold limb on its own (2026.2).
    result = ids(f("F-COLD-LIMB", side=cold), f("F-PULSELESS", side=pulse))  # type: ignore[arg-type]

    assert ("R-ALI" in result) is fires


@pytest.mark.parametrize(
    ("swelling", "cyanosis", "fires"),
    [
        pytest.param(("F-LEG-SWELLING", L), L, True, id="left-swelling-left-cyanosis"),
        pytest.param(("F-LEG-SWELLING", U), R, True, id="unknown-swelling-right-cyanosis"),
        pytest.param(("F-ENTIRE-LEG-SWOLLEN", R), R, True, id="entire-leg-right-right"),
        pytest.param(("F-LEG-SWELLING", L), R, False, id="left-swelling-right-cyanosis"),
        pytest.param(("F-LEG-SWELLING", B), L, False, id="bilateral-swelling-not-unilateral"),
    ],
)
def test_phlegmasia_needs_swelling_and_cyanosis_on_the_same_side(
    swelling: tuple[str, object], cyanosis: object, fires: bool
) -> None:
    result = ids(f(swelling[0], side=swelling[1]), f("F-CYANOSIS", side=cyanosis))  # type: ignore[arg-type]

    assert ("R-PHLEGMASIA" in result) is fires


def test_same_side_evidence_names_only_the_matching_records() -> None:
    cold_left, pulse_left, pulse_right = (
        f("F-COLD-LIMB", side=L),
        f("F-PULSELESS", side=L),
        f("F-PULSELESS", side=R),
    )
    fired = evaluate(extraction(cold_left, pulse_left, pulse_right)).fired_rule("R-ALI")

    assert fired is not None
    assert set(fired.evidence) == {cold_left, pulse_left}


def test_a_not_interpretable_value_is_never_compared() -> None:
    result = ids(f("F-CK", value=90, unit="xULN", interpretable=False, present=False))

    assert "R-RHABDO" not in result


def test_old_data_is_named_on_the_safety_net_card() -> None:
    old_fever = f("F-FEVER", days_ago=5, in_window=False)

    fired = evaluate(extraction(f("F-CALF-PAIN"), old_fever)).fired_rule("R-NO-RED-FLAG-DATA")

    assert fired is not None
    assert old_fever in fired.also_noted


def test_abi_uses_the_lowest_in_window_value() -> None:
    result = ids(f("F-ABI", value=1.1, unit="1"), f("F-ABI", value=0.35, unit="1", side=L))

    assert "R-CLTI" in result


def test_a_greater_than_comparator_counts_as_at_least_the_value() -> None:
    result = ids(f("F-CK", value=40, unit="xULN", comparator=">"))

    assert "R-RHABDO" in result


# ----------------------------------------------------------------------------- ordering
def test_fired_rules_are_ordered_by_tier_then_rule_id() -> None:
    records = [
        f("F-CALF-PAIN", side=L),
        f("F-LEG-SWELLING", side=L),
        f("F-COMPARTMENT"),
        f("F-BLEEDING-VARICOSITY"),
        f("F-VARICOSE"),
        f("F-RADICULAR"),
        f("F-ACTIVE-CANCER"),
    ]

    result = ids(*records)

    assert result == (
        "R-BLEEDING-VARICOSE",
        "R-COMPARTMENT",
        "R-DVT-PATHWAY",
        "R-SPINAL-RED-FLAG",
        "R-RADICULOPATHY",
        "R-VARICOSE",
    )


# ----------------------------------------------------------------------------- principle 3
EXERTION = [f("F-CALF-PAIN"), f("F-EXERTION")]


@pytest.mark.parametrize(
    ("extra", "blocker"),
    [
        pytest.param([f("F-COMPARTMENT")], "R-COMPARTMENT", id="emergency"),
        pytest.param(
            [f("F-LOW-BACK-PAIN"), f("F-ACTIVE-CANCER")], "R-SPINAL-RED-FLAG", id="urgent"
        ),
        pytest.param([f("F-VARICOSE")], "R-VARICOSE", id="routine"),
        pytest.param([f("F-LEG-SWELLING", side=L)], "R-DVT-PATHWAY", id="one-sided-swelling"),
    ],
)
def test_self_care_never_stands_beside_an_e_u_or_r_rule(extra: list[Finding], blocker: str) -> None:
    result = ids(*EXERTION, *extra)

    assert blocker in result
    assert "R-REST" not in result


def test_one_sided_swelling_blocks_self_care_even_when_it_fires_nothing_else() -> None:
    # A supporting-only swelling record fires no rule, yet principle 3 still holds it against
    # self-care; the safety net card takes its place.
    swelling = f("F-LEG-SWELLING", side=L, tags={TAG_SUPPORTING})

    result = ids(f("F-CRAMP"), swelling)

    assert "R-CRAMP-SELFCARE" not in result
    assert result == ("R-NO-RED-FLAG-DATA",)


def test_bilateral_swelling_does_not_block_self_care() -> None:
    result = ids(f("F-CRAMP"), f("F-ANKLE-SWELLING", side=B))

    assert "R-CRAMP-SELFCARE" in result


def test_a_not_interpretable_blocking_value_suppresses_self_care() -> None:
    d_dimer = f(
        "F-D-DIMER",
        present=False,  # the reader keeps it present only when the lab flagged it
        interpretable=False,
        value=3,
        unit="furlongs",
        tags={TAG_NOT_INTERPRETABLE_BLOCKS},
    )

    assessment = evaluate(extraction(*EXERTION, d_dimer))

    assert assessment.rule_ids == ("R-NO-RED-FLAG-DATA",)
    assert assessment.fired[0].variant.name == "unreadable"
    assert assessment.blocking_values == (d_dimer,)


def test_a_not_interpretable_non_blocking_value_is_named_but_does_not_block() -> None:
    tsh = f("F-CRAMP-CAUSE", present=False, interpretable=False, value=3, unit="odd")

    assessment = evaluate(extraction(f("F-CRAMP"), tsh))

    assert assessment.rule_ids == ("R-CRAMP-SELFCARE",)
    assert assessment.not_interpretable == (tsh,)


@pytest.mark.parametrize("finding", ["F-FEVER", "F-MALAISE", "F-UNABLE-WEIGHT-BEAR"])
def test_rest_needs_no_fever_malaise_or_inability_to_bear_weight(finding: str) -> None:
    assert "R-REST" not in ids(*EXERTION, f(finding))


def test_cramp_selfcare_needs_no_cramp_cause() -> None:
    assert ids(f("F-CRAMP"), f("F-CRAMP-CAUSE")) == ("R-CRAMP-SECONDARY",)


# ----------------------------------------------------------------------------- dependent rules
def test_pe_suspected_counts_heart_rate_over_100_once_a_thrombosis_rule_fires() -> None:
    hr = f("F-PE-SYMPTOM", tags={TAG_HEART_RATE}, value=112, unit="/min")

    result = ids(f("F-CALF-PAIN"), f("F-LEG-SWELLING", side=U), hr)

    assert result[:2] == ("R-PE-SUSPECTED", "R-DVT-PATHWAY")


def test_pe_suspected_evidence_includes_the_thrombosis_rule_evidence() -> None:
    swelling, dyspnoea = f("F-LEG-SWELLING", side=L), f("F-PE-SYMPTOM")

    fired = evaluate(extraction(f("F-CALF-PAIN"), swelling, dyspnoea)).fired_rule("R-PE-SUSPECTED")

    assert fired is not None
    assert swelling in fired.evidence
    assert dyspnoea in fired.evidence


def test_no_red_flag_data_fires_only_when_no_other_rule_fires() -> None:
    assert ids(f("F-CALF-PAIN")) == ("R-NO-RED-FLAG-DATA",)
    assert ids(f("F-CALF-PAIN"), f("F-VARICOSE")) == ("R-VARICOSE",)
    assert ids() == ()


# ----------------------------------------------------------------------------- principle 7 (2026.2)
@pytest.mark.parametrize(
    ("sign", "rule"),
    [
        pytest.param(f("F-COLD-LIMB", side=L, tags={TAG_COLD}), "R-ISCHAEMIA-SIGN", id="cold-leg"),
        pytest.param(f("F-PULSELESS", side=R), "R-ISCHAEMIA-SIGN", id="pulseless"),
        pytest.param(
            f("F-PE-SYMPTOM", tags={TAG_HEART_RATE, TAG_MEASURED}, value=108, unit="/min"),
            "R-PE-SIGN",
            id="heart-rate",
        ),
        pytest.param(
            f("F-SENSORY-MOTOR-LOSS", tags={TAG_SENSORY}), "R-ISCHAEMIA-SIGN", id="numbness"
        ),
    ],
)
def test_no_reassurance_and_no_self_care_beside_a_sign(sign: Finding, rule: str) -> None:
    # Calf pain on the left, so a cold left leg makes no painful cold limb (that is R-ALI).
    result = ids(f("F-CALF-PAIN", side=R), f("F-EXERTION"), sign)

    assert rule in result
    assert "R-REST" not in result
    assert "R-NO-RED-FLAG-DATA" not in result


def test_numbness_sited_outside_the_leg_is_not_a_leg_sign() -> None:
    numb_arm = f("F-SENSORY-MOTOR-LOSS", tags={TAG_SENSORY, TAG_OUTSIDE_LEG})

    assert ids(f("F-CALF-PAIN"), numb_arm) == ("R-NO-RED-FLAG-DATA",)


def test_pulses_absent_alone_are_no_ischaemia_sign_beside_pad() -> None:
    result = ids(f("F-CLAUDICATION"), f("F-PULSELESS", side=L))

    assert "R-PAD" in result
    assert "R-ISCHAEMIA-SIGN" not in result


@pytest.mark.parametrize(
    ("records", "rule"),
    [
        pytest.param(
            [f("F-CALF-PAIN", side=R), f("F-COLD-LIMB", side=R, tags={TAG_COLD})],
            "R-ALI",
            id="pulses-absent-on-the-other-side-of-a-painful-cold-limb",
        ),
        pytest.param([f("F-CLAUDICATION", side=L)], "R-PAD", id="pulses-absent-beside-pad"),
    ],
)
def test_a_sign_no_fired_rule_cites_is_named_on_the_first_card(
    records: list[Finding], rule: str
) -> None:
    # §1.7: each principle-7 sign is named on a card, even where §4 lets no rule fire on it
    # (R-ISCHAEMIA-SIGN never beside R-ALI, nor for absent pulses alone beside R-PAD).
    pulseless = f("F-PULSELESS", side=L)

    fired = evaluate(extraction(*records, pulseless)).fired

    assert [f.rule_id for f in fired] == [rule]
    assert fired[0].signs_noted == (pulseless,)
    assert pulseless not in fired[0].evidence


def test_a_sign_a_card_already_cites_is_not_named_again() -> None:
    fired = evaluate(extraction(f("F-CALF-PAIN", side=R), f("F-PULSELESS", side=R))).fired

    assert [(f.rule_id, f.signs_noted) for f in fired] == [("R-ISCHAEMIA-SIGN", ())]


# ----------------------------------------------------------------------------- variants (§7.4)
def variant(rule: str, *records: Finding, age: int | None = 60) -> str:
    fired = evaluate(extraction(*records, age=age)).fired_rule(rule)
    assert fired is not None, rule
    return fired.variant.name


DVT = [f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L)]


@pytest.mark.parametrize(
    ("records", "age", "expected"),
    [
        pytest.param([f("F-DVT-DX")], 60, "diagnosed", id="diagnosed-first"),
        pytest.param(
            [f("F-DVT-DX"), f("F-PREGNANT")], 30, "diagnosed", id="diagnosed-in-pregnancy"
        ),
        pytest.param([f("F-PREGNANT")], 30, "pregnant", id="pregnant"),
        pytest.param([f("F-PREGNANT", tags={TAG_POSTPARTUM})], 30, "pregnant", id="postpartum"),
        pytest.param([], 16, "under-18", id="under-18"),
        pytest.param([f("F-ANTICOAGULATED")], 70, "anticoagulated", id="anticoagulated"),
        pytest.param(
            [f("F-PITTING-EDEMA", side=L), f("F-PREVIOUS-DVT")], 60, "likely", id="likely"
        ),
        pytest.param([], 60, "incomplete", id="incomplete"),
    ],
)
def test_dvt_pathway_variant_is_the_first_that_matches(
    records: list[Finding], age: int, expected: str
) -> None:
    assert variant("R-DVT-PATHWAY", *DVT, *records, age=age) == expected


def test_a_d_dimer_over_500_is_timed_against_the_leg_symptoms_not_against_itself() -> None:
    # §5: negative only if dated no earlier than 24 h before the first record of the calf
    # symptom or sign that triggered the pathway. 650 ng/mL FEU at 80 is below the age-adjusted
    # cut-off and also a trigger itself; drawn 2.5 days before the leg was first recorded, it
    # cannot exclude DVT, so R-DVT-UNLIKELY must not fire.
    wells_absent = [f(item, present=False, days_ago=0.4) for item in WELLS_FINDINGS]
    leg = [f("F-CALF-PAIN", side=L, days_ago=0.4), f("F-LEG-SWELLING", side=L, days_ago=0.4)]
    d_dimer = f("F-D-DIMER", value=650, unit="ng/mL", analyte="d-dimer", basis="FEU", days_ago=2.5)

    assessment = evaluate(extraction(*leg, *wells_absent, d_dimer, age=80))

    assert "R-DVT-UNLIKELY" not in assessment.rule_ids
    (result,) = assessment.d_dimers.results
    assert result.reason == "taken before the leg symptoms"
    assert variant("R-DVT-PATHWAY", *leg, *wells_absent, d_dimer, age=80) == (
        "unlikely-ddimer-positive"
    )


def test_a_d_dimer_dated_after_the_evaluation_time_never_excludes_dvt() -> None:
    # §5 bounds a negative D-dimer's date from below only; a date in the future is a date
    # error, and a date error never gives "DVT unlikely" (conservative, as for "undated").
    wells_absent = [f(item, present=False, days_ago=0.4) for item in WELLS_FINDINGS]
    leg = [f("F-CALF-PAIN", side=L, days_ago=0.4), f("F-LEG-SWELLING", side=L, days_ago=0.4)]
    d_dimer = f(
        "F-D-DIMER",
        value=300,
        unit="ng/mL",
        analyte="d-dimer",
        basis="FEU",
        days_ago=-1,
        present=False,
    )

    assessment = evaluate(extraction(*leg, *wells_absent, d_dimer, age=40))

    assert "R-DVT-UNLIKELY" not in assessment.rule_ids
    (result,) = assessment.d_dimers.results
    assert result.reason == "dated in the future"
    assert variant("R-DVT-PATHWAY", *leg, *wells_absent, d_dimer, age=40) == "unlikely"


def test_a_dvt_card_cites_every_record_its_wells_score_counted() -> None:
    previous = f("F-PREVIOUS-DVT", days_ago=400)
    cast = f("F-PARESIS-OR-CAST", side=L)

    fired = evaluate(extraction(*DVT, previous, cast)).fired_rule("R-DVT-PATHWAY")

    assert fired is not None
    assert fired.variant.name == "likely"
    assert previous in fired.evidence
    assert cast in fired.evidence


def test_pe_variant_hypoxic_with_a_low_saturation() -> None:
    spo2 = f("F-PE-SYMPTOM", tags={TAG_SPO2, TAG_MEASURED}, value=88, unit="%")

    assert variant("R-PE-SUSPECTED", *DVT, spo2) == "hypoxic"


def test_ali_threatened_unless_the_painful_cold_limb_alone_fired_it() -> None:
    cold = f("F-COLD-LIMB", side=R, tags={TAG_COLD})

    assert variant("R-ALI", f("F-CALF-PAIN", side=R), cold) == "painful-cold"
    assert (
        variant("R-ALI", f("F-CALF-PAIN", side=R), cold, f("F-PULSELESS", side=R)) == "threatened"
    )


def test_spinal_cancer_with_weakness_is_the_emergency_mscc_variant() -> None:
    weakness = f("F-SENSORY-MOTOR-LOSS", side=L, tags={TAG_MOTOR})
    fired = evaluate(extraction(f("F-LOW-BACK-PAIN"), f("F-ACTIVE-CANCER"), weakness)).fired_rule(
        "R-SPINAL-RED-FLAG"
    )

    assert fired is not None
    assert (fired.variant.name, fired.tier.value, fired.priority) == ("cancer-neuro", "E", "stat")


def test_principle_5_groups_are_on_the_assessment() -> None:
    assessment = evaluate(
        extraction(f("F-CALF-PAIN"), f("F-PREGNANT"), f("F-ANTICOAGULATED"), age=17)
    )

    assert assessment.groups == ("pregnant", "under-18", "anticoagulated")


def test_unknown_age_is_said() -> None:
    assert evaluate(extraction(f("F-CALF-PAIN"), age=None)).age_unknown


def test_also_noted_names_supporting_and_outside_window_records_that_would_have_counted() -> None:
    old = f("F-FEVER", days_ago=30, in_window=False)
    old_normal = f("F-FEVER", present=False, days_ago=30, in_window=False)
    supporting = f("F-ERYTHEMA", tags={TAG_SUPPORTING})

    fired = evaluate(extraction(f("F-CELLULITIS"), old, old_normal, supporting)).fired_rule(
        "R-CELLULITIS"
    )

    assert fired is not None
    assert set(fired.also_noted) == {old, supporting}


def test_also_noted_names_an_old_record_another_rule_of_the_topic_reads() -> None:
    # An old bladder symptom would have counted for cauda equina; beside the radiculopathy
    # card (same spinal topic) it is named, though that rule does not read it.
    old_bladder = f("F-BLADDER-BOWEL-FLAG", days_ago=20, in_window=False)

    fired = evaluate(extraction(f("F-RADICULAR"), old_bladder)).fired_rule("R-RADICULOPATHY")

    assert fired is not None
    assert fired.also_noted == (old_bladder,)


def test_an_old_record_no_cards_topic_reads_is_named_once_on_the_first_card() -> None:
    # §2: it would have counted in its window; no card's rules read it, so the first card
    # names it, and only that card.
    old_cold_leg = f("F-COLD-LIMB", side=Side.LEFT, days_ago=20, in_window=False)
    dvt = [f("F-CALF-PAIN", side=Side.LEFT), f("F-LEG-SWELLING", side=Side.LEFT)]

    assessment = evaluate(extraction(*dvt, f("F-RADICULAR"), old_cold_leg))

    assert [fired.rule.id for fired in assessment.fired] == ["R-DVT-PATHWAY", "R-RADICULOPATHY"]
    assert [old_cold_leg in fired.also_noted for fired in assessment.fired] == [True, False]


def test_sciatica_whose_body_site_names_two_sides_counts_for_both_legs() -> None:
    # Side unknown for the one-sided rules; for a rule that asks for both legs, it may be both.
    sciatica = f("F-RADICULAR", tags={TAG_SIDES_CONFLICT})

    fired = evaluate(extraction(f("F-LOW-BACK-PAIN"), sciatica)).fired_rule("R-CAUDA-EQUINA")

    assert fired is not None
    assert sciatica in fired.evidence


def test_mixed_naive_and_aware_dates_never_raise() -> None:
    naive = replace(f("F-FEVER", present=False), when=datetime(2026, 11, 25, 11))

    assert FindingSet([f("F-FEVER", days_ago=2), naive]).present("F-FEVER") is False


def test_standing_results_are_cached_per_selector() -> None:
    fs = FindingSet([f("F-CALF-PAIN")])

    assert fs.standing(Present("F-CALF-PAIN")) is fs.standing(Present("F-CALF-PAIN"))
