"""Composing the answer (clinical-rules.md §8, rule set 2026.2): fired rules -> one plan.

Pure, driven by data. §8.1 cover: a fired covering rule takes the suggestion off the rules it
covers, which keep their card and name the cover. §8.2 merge: equal referrals become one, at
the highest priority, on the first card. §8.3 one safety net per answer. §8.4 order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .engine import Assessment, FiredRule
from .model import Tier
from .routes import route_for

PRIORITY_RANK = {"stat": 0, "urgent": 1, "routine": 2}


@dataclass(frozen=True)
class Cover:
    """One row of the §8.1 cover table; `variants` narrows the covering rule's variants."""

    covering: str
    covered: tuple[str, ...]
    variants: tuple[str, ...] = ()


COVERS: tuple[Cover, ...] = (
    Cover("R-PE-SUSPECTED", ("R-DVT-PATHWAY", "R-SVT", "R-CELLULITIS")),
    Cover("R-PHLEGMASIA", ("R-DVT-PATHWAY", "R-SVT", "R-CELLULITIS", "R-ISCHAEMIA-SIGN")),
    Cover("R-ALI", ("R-CLTI", "R-PAD", "R-PAD-WORKUP", "R-DVT-PATHWAY")),
    Cover("R-COMPARTMENT", ("R-ACHILLES", "R-MYOSITIS", "R-DVT-PATHWAY", "R-CELLULITIS")),
    Cover("R-NECROTISING", ("R-CELLULITIS", "R-DVT-PATHWAY", "R-SVT")),
    Cover("R-RHABDO", ("R-MYOSITIS", "R-CRAMP-SECONDARY")),
    Cover("R-SEVERE-ELECTROLYTE", ("R-CRAMP-SECONDARY",)),
    Cover("R-BLEEDING-VARICOSE", ("R-VARICOSE",)),
    Cover("R-CAUDA-EQUINA", ("R-RADICULAR-DEFICIT", "R-SPINAL-RED-FLAG", "R-RADICULOPATHY")),
    Cover("R-SPINAL-RED-FLAG", ("R-RADICULAR-DEFICIT", "R-RADICULOPATHY"), ("cancer-neuro",)),
    Cover("R-SPINAL-RED-FLAG", ("R-RADICULOPATHY",), ("cancer",)),
    Cover("R-SPINAL-RED-FLAG", ("R-RADICULOPATHY", "R-CALF-PAIN-FEVER"), ("fever", "fever-cancer")),
    Cover("R-RADICULAR-DEFICIT", ("R-RADICULOPATHY",)),
    Cover("R-CLTI", ("R-PAD", "R-PAD-WORKUP")),
)
# §8.1 last row: every E card covers R-CALF-PAIN-FEVER.
COVERED_BY_EVERY_EMERGENCY = ("R-CALF-PAIN-FEVER",)


def _variants_by_pair(
    rows: tuple[Cover, ...],
) -> dict[tuple[str, str], tuple[tuple[str, ...], ...]]:
    """The COVERS table keyed by (covering, covered) rule id: each row's `variants` for that pair
    (an empty tuple: any variant), so judging a pair reads its own rows only."""
    pairs: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {}
    for row in rows:
        for covered in row.covered:
            key = (row.covering, covered)
            pairs[key] = (*pairs.get(key, ()), row.variants)
    return pairs


_COVER_VARIANTS = _variants_by_pair(COVERS)


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Planned:
    """One card of the plan: whether it keeps its suggestion, and why not."""

    fired: FiredRule
    suggestion: bool
    priority: str | None  # the suggestion's priority (the highest of a merge)
    reasons: tuple[str, ...]  # reasonReference: the triggering resources (a merge's union)
    covered_by: FiredRule | None = None  # the card holding the referral that covers this one
    cover: FiredRule | None = None  # the covering rule whose concern and handover apply
    merged_into: FiredRule | None = None
    merged_priority: str | None = None
    safety_net: tuple[str, ...] = ()  # topics of the answer's one safety net, on one card

    @property
    def rule_id(self) -> str:
        return self.fired.rule_id


def covers(covering: FiredRule, covered: FiredRule) -> bool:
    """Does `covering` cover `covered` (§8.1)?"""
    if covering is covered:
        return False
    if covered.rule_id in COVERED_BY_EVERY_EMERGENCY and covering.tier is Tier.EMERGENCY:
        return True
    rows = _COVER_VARIANTS.get((covering.rule_id, covered.rule_id))
    if rows is None:  # most pairs: no row of the table
        return False
    return any(not variants or covering.variant.name in variants for variants in rows)


def _rank(fired: FiredRule) -> tuple[int, str]:
    return (fired.tier.rank, fired.rule_id)


def _reasons(fired: FiredRule) -> tuple[str, ...]:
    # The records the card cites: 9,000 calf-pain records must not make a 9,000-reference order.
    shown, _ = fired.cited
    return tuple(r.reference for r in shown)


def compose(assessment: Assessment) -> tuple[Planned, ...]:
    """The plan for one answer (§8): cover, merge, one safety net, order."""
    fired = list(assessment.fired)
    profile = assessment.policy.route_profile
    covering = {f.rule_id: sorted((g for g in fired if covers(g, f)), key=_rank) for f in fired}

    # §8.2: the remaining referrals, grouped by ServiceRequest code, merge onto the first card.
    holders: dict[str, FiredRule] = {}
    merged_into: dict[str, FiredRule] = {}
    priority: dict[str, str | None] = {}
    reasons: dict[str, tuple[str, ...]] = {}
    for f in sorted(fired, key=_rank):
        route = route_for(f.route, profile)
        if covering[f.rule_id] or route.code is None:
            continue
        key = route.code.code
        first = holders.setdefault(key, f)
        if first is f:
            priority[f.rule_id], reasons[f.rule_id] = f.priority, _reasons(f)
            continue
        merged_into[f.rule_id] = first
        priority[first.rule_id] = min(
            (priority[first.rule_id], f.priority), key=lambda p: PRIORITY_RANK.get(p or "", 9)
        )
        reasons[first.rule_id] = tuple(dict.fromkeys((*reasons[first.rule_id], *_reasons(f))))
    keeps = {f.rule_id for f in holders.values()}

    def holder_of(card: FiredRule) -> FiredRule:
        """The card that holds the referral this card's referral went to."""
        if card.rule_id in keeps:
            return card
        if card.rule_id in merged_into:
            return holder_of(merged_into[card.rule_id])
        if covering[card.rule_id]:
            return holder_of(covering[card.rule_id][0])
        return card

    planned: list[Planned] = []
    for f in fired:
        covers_f = covering[f.rule_id]
        cover: FiredRule | None = next(
            (g for g in covers_f if g.rule_id in keeps), covers_f[0] if covers_f else None
        )
        merged = merged_into.get(f.rule_id)
        planned.append(
            Planned(
                fired=f,
                suggestion=f.rule_id in keeps,
                priority=priority.get(f.rule_id),
                reasons=reasons[f.rule_id] if f.rule_id in reasons else _reasons(f),
                covered_by=holder_of(cover) if cover is not None else None,
                cover=cover,
                merged_into=merged,
                merged_priority=priority.get(merged.rule_id) if merged else None,
            )
        )
    ordered = sorted(planned, key=lambda p: (p.fired.tier.rank, not p.suggestion, p.rule_id))
    return _with_safety_net(ordered)


def safety_net_topic(fired: FiredRule) -> str:
    return "rest" if fired.rule_id == "R-REST" else fired.rule.topic


def _with_safety_net(ordered: list[Planned]) -> tuple[Planned, ...]:
    """§8.3: one block, on the first card neither E nor covered by an E card, with the topics
    of every such card."""
    eligible = [
        p
        for p in ordered
        if p.fired.tier is not Tier.EMERGENCY
        and not (p.cover is not None and p.cover.tier is Tier.EMERGENCY)
    ]
    if not eligible:
        return tuple(ordered)
    topics = tuple(dict.fromkeys(safety_net_topic(p.fired) for p in eligible))
    first = eligible[0]
    return tuple(replace(p, safety_net=topics) if p is first else p for p in ordered)
