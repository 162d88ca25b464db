"""Composing the answer (clinical-rules.md §8, rule set 2026.2): cover, merge, one safety net,
order. Each cover pair of the §8.1 table and each merge of equal referrals has a case."""

from __future__ import annotations

from dataclasses import replace

import pytest
from finding_factory import NOW, extraction, f

from cds.core.compose import COVERS, Planned, compose, covers
from cds.core.engine import FiredRule, evaluate
from cds.core.policy import Policy
from cds.core.routes import PROFILES
from cds.core.rules import RULES, RULES_BY_ID


def fired(rule_id: str, variant: str | None = None) -> FiredRule:
    rule = RULES_BY_ID[rule_id]
    chosen = rule.variant(variant) if variant else rule.variants[-1]
    return FiredRule(rule, chosen, (f("F-CALF-PAIN", reference=f"Observation/{rule_id}"),))


def plan(*rules: FiredRule, profile: str = "default") -> dict[str, Planned]:
    base = evaluate(extraction(), policy=Policy(route_profile=profile))
    assessment = replace(base, fired=tuple(rules), policy=Policy(route_profile=profile))
    return {p.rule_id: p for p in compose(assessment)}


def ordered(*rules: FiredRule) -> list[str]:
    base = evaluate(extraction())
    return [p.rule_id for p in compose(replace(base, fired=tuple(rules)))]


COVER_PAIRS = [
    pytest.param(row.covering, variant, covered, id=f"{row.covering}-{variant or 'any'}-{covered}")
    for row in COVERS
    for variant in (row.variants or (None,))
    for covered in row.covered
]


@pytest.mark.parametrize(("covering", "variant", "covered"), COVER_PAIRS)
def test_each_cover_pair_takes_the_suggestion_and_names_the_cover(
    covering: str, variant: str | None, covered: str
) -> None:
    result = plan(fired(covering, variant), fired(covered))

    assert result[covered].suggestion is False
    assert result[covered].cover is not None
    assert result[covered].cover.rule_id == covering
    assert result[covered].covered_by is not None
    assert result[covering].suggestion is True
    assert result[covered].covered_by.rule_id == covering


@pytest.mark.parametrize("emergency", [r.id for r in RULES if r.tier.value == "E"])
def test_every_emergency_card_covers_calf_pain_with_fever(emergency: str) -> None:
    assert covers(fired(emergency), fired("R-CALF-PAIN-FEVER"))


def test_a_variant_row_covers_only_for_its_variants() -> None:
    assert covers(fired("R-SPINAL-RED-FLAG", "cancer-neuro"), fired("R-RADICULAR-DEFICIT"))
    assert not covers(fired("R-SPINAL-RED-FLAG", "cancer"), fired("R-RADICULAR-DEFICIT"))
    assert covers(fired("R-SPINAL-RED-FLAG", "fever"), fired("R-CALF-PAIN-FEVER"))
    assert not covers(fired("R-SPINAL-RED-FLAG", "cancer"), fired("R-CALF-PAIN-FEVER"))


def test_rules_outside_the_table_are_not_covered() -> None:
    assert not covers(fired("R-PE-SUSPECTED"), fired("R-VARICOSE"))
    assert not covers(fired("R-ALI"), fired("R-ISCHAEMIA-SIGN"))  # never co-fire (2026.2)
    assert not covers(fired("R-BLEEDING-VARICOSE"), fired("R-SVT"))  # off that row (2026.2)


def test_in_a_chain_the_highest_tier_cover_that_keeps_a_suggestion_is_named() -> None:
    result = plan(
        fired("R-CAUDA-EQUINA"), fired("R-SPINAL-RED-FLAG", "cancer"), fired("R-RADICULOPATHY")
    )

    assert result["R-SPINAL-RED-FLAG"].covered_by is not None
    assert result["R-SPINAL-RED-FLAG"].covered_by.rule_id == "R-CAUDA-EQUINA"
    assert result["R-RADICULOPATHY"].covered_by is not None
    assert result["R-RADICULOPATHY"].covered_by.rule_id == "R-CAUDA-EQUINA"


def test_a_cover_that_lost_its_referral_to_a_merge_points_at_the_card_holding_it() -> None:
    # PE and cauda equina both draft the emergency referral: it merges onto R-CAUDA-EQUINA
    # (first by tier, then id); the DVT card covered by PE names the card that holds it.
    result = plan(fired("R-PE-SUSPECTED"), fired("R-CAUDA-EQUINA"), fired("R-DVT-PATHWAY"))

    assert result["R-PE-SUSPECTED"].merged_into is not None
    assert result["R-PE-SUSPECTED"].merged_into.rule_id == "R-CAUDA-EQUINA"
    assert result["R-DVT-PATHWAY"].cover is not None
    assert result["R-DVT-PATHWAY"].cover.rule_id == "R-PE-SUSPECTED"
    assert result["R-DVT-PATHWAY"].covered_by is not None
    assert result["R-DVT-PATHWAY"].covered_by.rule_id == "R-CAUDA-EQUINA"


def _same_code_pairs(profile: str) -> list[tuple[str, str]]:
    """Rules whose routes draft the same ServiceRequest code in `profile` and cover nothing."""
    table = PROFILES[profile]
    routed = [
        r
        for r in RULES
        if table[r.route].code is not None and r.tier.value != "E" and len(r.variants) == 1
    ]
    pairs = []
    for a in routed:
        for b in routed:
            code_a, code_b = table[a.route].code, table[b.route].code
            assert code_a is not None
            assert code_b is not None
            unrelated = not covers(fired(a.id), fired(b.id)) and not covers(
                fired(b.id), fired(a.id)
            )
            if a.id < b.id and code_a.code == code_b.code and unrelated:
                pairs.append((a.id, b.id))
    return pairs


MERGES = [
    pytest.param(profile, a, b, id=f"{profile}-{a}-{b}")
    for profile in ("default", "nice")
    for a, b in _same_code_pairs(profile)
]


def test_the_merge_cases_include_the_spec_examples() -> None:
    found = {(p.values[1], p.values[2]) for p in MERGES if p.values[0] == "default"}

    assert ("R-SVT", "R-VARICOSE") in found
    assert ("R-CELLULITIS", "R-CALF-PAIN-FEVER") not in found  # a cover pair, not a merge


@pytest.mark.parametrize(("profile", "first", "second"), MERGES)
def test_equal_referrals_merge_onto_the_first_card_at_the_highest_priority(
    profile: str, first: str, second: str
) -> None:
    a, b = fired(first), fired(second)
    holder, other = sorted((a, b), key=lambda x: (x.tier.rank, x.rule_id))

    result = plan(a, b, profile=profile)

    assert result[holder.rule_id].suggestion is True
    assert result[other.rule_id].suggestion is False
    assert result[other.rule_id].merged_into is holder
    ranks = {"stat": 0, "urgent": 1, "routine": 2}
    best = min((holder.priority, other.priority), key=lambda p: ranks[p or "routine"])
    assert result[holder.rule_id].priority == best
    assert set(result[holder.rule_id].reasons) == {
        f"Observation/{holder.rule_id}",
        f"Observation/{other.rule_id}",
    }


def test_two_emergency_cards_keep_one_emergency_referral() -> None:
    result = plan(fired("R-COMPARTMENT"), fired("R-NECROTISING"))

    assert result["R-COMPARTMENT"].suggestion
    assert result["R-NECROTISING"].merged_into is not None
    assert result["R-NECROTISING"].merged_into.rule_id == "R-COMPARTMENT"
    assert result["R-NECROTISING"].merged_priority == "stat"


def test_one_safety_net_on_the_first_card_neither_emergency_nor_covered_by_one() -> None:
    result = plan(
        fired("R-PE-SUSPECTED"),
        fired("R-DVT-PATHWAY"),
        fired("R-VARICOSE"),
        fired("R-CRAMP-SECONDARY"),
    )

    nets = {rule: p.safety_net for rule, p in result.items() if p.safety_net}
    # Both routine with a referral: the first by rule id takes the net, with both topics.
    assert nets == {"R-CRAMP-SECONDARY": ("cramp", "venous")}


def test_no_safety_net_when_every_card_is_emergency_or_covered_by_one() -> None:
    result = plan(fired("R-CAUDA-EQUINA"), fired("R-RADICULOPATHY"))

    assert all(not p.safety_net for p in result.values())


def test_rest_brings_its_own_safety_net_line() -> None:
    assert plan(fired("R-REST", "examined"))["R-REST"].safety_net == ("rest",)


def test_order_is_tier_then_cards_with_a_suggestion_then_rule_id() -> None:
    result = ordered(
        fired("R-VARICOSE"),
        fired("R-PE-SIGN"),
        fired("R-SVT"),
        fired("R-ALI", "threatened"),
        fired("R-ISCHAEMIA-SIGN", "cold"),
        fired("R-REST", "examined"),
    )

    assert result == ["R-ALI", "R-SVT", "R-ISCHAEMIA-SIGN", "R-PE-SIGN", "R-VARICOSE", "R-REST"]


def test_the_spinal_mscc_emergency_variant_orders_with_the_emergency_cards() -> None:
    result = ordered(fired("R-SPINAL-RED-FLAG", "cancer-neuro"), fired("R-ACHILLES"))

    assert result == ["R-SPINAL-RED-FLAG", "R-ACHILLES"]
    assert NOW  # the plan needs no clock of its own
