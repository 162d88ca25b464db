"""The rule engine: `evaluate(Extraction) -> Assessment` (clinical-rules.md §4 over §2 findings).

Pure. A small recursive evaluator walks each rule's condition (data from `core.rules`) over the
request's `FindingSet`, in dependency order, and returns the fired rules (display order: tier,
then id), each with the records that made it fire, its §7.4 variant, and what its card needs.
A condition node holds with its evidence (a tuple of records, possibly empty) or fails (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property

from . import scores
from .findingset import FindingSet, cited, plain_selector
from .model import (
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_SIDES_CONFLICT,
    Extraction,
    Finding,
    PatientFacts,
    Side,
    Tier,
    same_side,
)
from .policy import DEFAULT_POLICY, Policy
from .rules import (
    D_DIMER_FINDING,
    DVT_TRIGGER,
    EMERGENCY,
    EVALUATION_ORDER,
    GROUP_FINDINGS,
    PRINCIPLE_7_SIGNS,
    ROUTINE,
    RULES,
    SELF_CARE_BLOCKING_SWELLING,
    URGENT,
    AllOf,
    Always,
    AnyOf,
    Bilateral,
    Condition,
    DDimer,
    Group,
    Measure,
    NoRuleOfTiers,
    Not,
    NotInterpretable,
    Present,
    Recorded,
    RecordedClear,
    Rule,
    RuleFires,
    SameSide,
    SelfCareAllowed,
    Source,
    Unilateral,
    Variant,
    Wells,
)

Evidence = tuple[Finding, ...] | None
_DISPLAY_RANK = {rule.id: rank for rank, rule in enumerate(RULES)}


@dataclass(unsafe_hash=True)  # not frozen: see cds/core/model.py
class FiredRule:
    """One fired rule with its variant (§7.4) and the records behind it."""

    rule: Rule
    variant: Variant
    evidence: tuple[Finding, ...]
    also_noted: tuple[Finding, ...] = ()
    # Principle 7 signs no fired rule cites (absent pulses on the other leg beside a painful
    # cold limb): named on the first card so that each sign is named on a card (§1.7).
    signs_noted: tuple[Finding, ...] = ()

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @cached_property  # the card's "Why" and its draft referral's reasons cite the same records
    def cited(self) -> tuple[tuple[Finding, ...], int]:
        """The records the card cites and how many there were in all (`findingset.cited`)."""
        records, total = cited(self.evidence)
        return tuple(records), total

    @cached_property  # read by the card's checklist and by its safety net
    def legs(self) -> frozenset[Side]:
        """The legs the card's records name, whatever their finding: left, right, both
        (then both are named), or none known (§2 "same side")."""
        sides = {r.side for r in self.evidence} - {Side.UNKNOWN}
        if Side.BILATERAL in sides:
            return frozenset({Side.LEFT, Side.RIGHT})
        return frozenset(sides)

    @property
    def tier(self) -> Tier:
        return self.variant.tier or self.rule.tier

    @property
    def route(self) -> str:
        return self.variant.route or self.rule.route

    @property
    def priority(self) -> str | None:
        return self.variant.priority or self.rule.tier.priority

    @property
    def source(self) -> Source:
        return self.variant.source or self.rule.source


@dataclass(frozen=True)
class Assessment:
    """Everything the plan and the cards need from one evaluation (no FHIR, no wire format)."""

    fired: tuple[FiredRule, ...]
    findings: FindingSet
    patient: PatientFacts
    evaluated_at: datetime
    policy: Policy
    wells: scores.WellsResult
    d_dimers: scores.DDimers
    groups: tuple[str, ...]  # principle-5 groups that apply: pregnant, under-18, anticoagulated
    extraction: Extraction

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(f.rule.id for f in self.fired)

    def fired_rule(self, rule_id: str) -> FiredRule | None:
        return next((f for f in self.fired if f.rule.id == rule_id), None)

    @property
    def not_interpretable(self) -> tuple[Finding, ...]:
        return self.findings.not_interpretable()

    @property
    def blocking_values(self) -> tuple[Finding, ...]:
        """Not-interpretable D-dimer, CK, potassium or temperature values (§2), each once (a
        potassium records two findings)."""
        blocking: dict[tuple[str, str], Finding] = {}
        for record in self.not_interpretable:
            if TAG_NOT_INTERPRETABLE_BLOCKS in record.tags:
                blocking.setdefault((record.reference, record.name), record)
        return tuple(blocking.values())

    @property
    def age_unknown(self) -> bool:
        return self.patient.age_years is None


@dataclass
class _Run:
    """One evaluation: the findings, the rules fired so far, and lazily computed scores."""

    fs: FindingSet
    patient: PatientFacts
    policy: Policy
    now: datetime
    fired: dict[str, FiredRule] = field(default_factory=dict)
    current: Rule | None = None

    @cached_property
    def wells(self) -> scores.WellsResult:
        return scores.wells(self.fs)

    @cached_property
    def d_dimers(self) -> scores.DDimers:
        trigger = holds(DVT_TRIGGER, self)
        # §5: the D-dimer is timed against the first record of the calf symptom or sign that
        # triggered the pathway; a raised D-dimer is itself a trigger, never its own start.
        symptoms = tuple(r for r in trigger or () if r.finding_id != D_DIMER_FINDING)
        return scores.d_dimers(
            self.fs,
            age_years=self.patient.age_years,
            symptoms_from=scores.first_dated(symptoms, self.now) if trigger else None,
            now=self.now,
            over_flag=self.policy.ddimer_age_adjust_over_lab_flag,
        )

    @cached_property
    def groups(self) -> tuple[str, ...]:
        found = []
        if self.fs.standing(_GROUP_SELECTORS["pregnant"]):
            found.append("pregnant")
        if self.patient.age_years is not None and self.patient.age_years < 18:
            found.append("under-18")
        if self.fs.standing(_GROUP_SELECTORS["anticoagulated"]):
            found.append("anticoagulated")
        return tuple(found)


# The findings that put a patient in a principle-5 group (§1.5); under-18 is the age alone.
_GROUP_SELECTORS = {
    name: plain_selector(findings[0])
    for name, findings in GROUP_FINDINGS.items()
    if len(findings) == 1
}


def _compare(record: Finding, op: str, threshold: float) -> bool:
    """§2: a `>`/`>=` comparator counts as at least the value; `>40` crosses "> 40"."""
    assert record.measurement is not None
    assert record.measurement.value is not None
    value, comparator = record.measurement.value, record.measurement.comparator
    if op == ">":
        return value > threshold or (value == threshold and comparator == ">")
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold or (value == threshold and comparator == "<")
    return value <= threshold


def _both_sides(records: tuple[Finding, ...]) -> tuple[Finding, ...]:
    # A record whose bodySite names two sides may be about both legs (conservative).
    both = [r for r in records if r.side is Side.BILATERAL or TAG_SIDES_CONFLICT in r.tags]
    if both:
        return tuple(both)
    left = [r for r in records if r.side is Side.LEFT]
    right = [r for r in records if r.side is Side.RIGHT]
    return tuple(left + right) if left and right else ()


def _join(*parts: tuple[Finding, ...]) -> tuple[Finding, ...]:
    return tuple({id(r): r for part in parts for r in part}.values())


def holds(node: Condition, run: _Run) -> Evidence:
    """Evidence for `node` (a tuple, possibly empty) when it holds, else None.

    Not memoised: the standing records behind every leaf are cached by `FindingSet`, and a
    shared condition costs less to walk again than its (recursive) dataclass hash as a key.
    The cases are tried in order, the most frequent first: `Present` leaves (`Bilateral`, a
    subclass, ahead of its base class), then all-of and any-of.
    """
    fs = run.fs
    match node:
        case Bilateral():
            plain = Present(
                node.finding,
                node.with_tags,
                node.without_tags,
                node.codes,
                node.without_codes,
                node.any_site,
            )
            return _both_sides(fs.standing(plain)) or None
        case Present():  # Unilateral too: FindingSet.standing reads the selector's class
            return fs.standing(node) or None
        case AllOf():
            parts: list[tuple[Finding, ...]] = []
            for item in node.items:
                evidence = holds(item, run)
                if evidence is None:
                    return None
                parts.append(evidence)
            return _join(*parts)
        case AnyOf():
            # Every branch that holds adds evidence (the card names all of it).
            branches = []
            for item in node.items:
                evidence = holds(item, run)
                if evidence is not None:
                    branches.append(evidence)
            return _join(*branches) if branches else None
        case Recorded():
            return () if fs.recorded(node.finding) else None
        case Measure() if node.lowest:
            low = fs.lowest(node.finding)
            return (low,) if low is not None and _compare(low, node.op, node.threshold) else None
        case Measure():
            hits = tuple(
                r for r in fs.measured(node.finding) if _compare(r, node.op, node.threshold)
            )
            return hits or None
        case SameSide():
            return _same_side(node, run)
        case Not():
            return () if holds(node.item, run) is None else None
        case RuleFires():
            fired = [run.fired[i] for i in node.rule_ids if i in run.fired]
            return _join(*(rule.evidence for rule in fired)) if fired else None
        case NoRuleOfTiers():
            others = {r.id for r in RULES if r.tier in node.tiers and r is not run.current}
            return () if others.isdisjoint(run.fired) else None
        case SelfCareAllowed():
            return _self_care_allowed(run)
        case Group():
            wanted = run.groups if node.name == "any" else (node.name,)
            held = [name for name in wanted if name in run.groups]
            if not held:
                return None
            # The records that put the patient in the group (age has none): the card cites them.
            return _join(
                *(fs.standing(_GROUP_SELECTORS[name]) for name in held if name in _GROUP_SELECTORS)
            )
        case Wells():
            return () if run.wells.classification == node.classification else None
        case DDimer():
            return _d_dimer(node.state, run)
        case NotInterpretable():
            blocking = tuple(
                r for r in fs.not_interpretable() if TAG_NOT_INTERPRETABLE_BLOCKS in r.tags
            )
            return blocking or None
        case RecordedClear():
            for group in node.groups:
                if not any(fs.checked(f) for f in group) or any(fs.present(f) for f in group):
                    return None
            return ()
        case Always():
            return ()
    raise TypeError(f"unknown condition node {type(node).__name__}")


def _same_side(node: SameSide, run: _Run) -> Evidence:
    firsts = [r for item in node.first for r in holds(item, run) or ()]
    if not firsts:
        return None
    seconds = [r for item in node.second for r in holds(item, run) or ()]
    matched: dict[int, Finding] = {}
    for a in firsts:
        for b in seconds:
            if a is not b and same_side(a.side, b.side):
                matched.setdefault(id(a), a)
                matched.setdefault(id(b), b)
    return tuple(matched.values()) or None


# Principle 3's blockers, from the rule table once rather than per call.
_SELF_CARE_BLOCKING_RULES = frozenset(r.id for r in RULES if r.tier in (EMERGENCY, URGENT, ROUTINE))
_ONE_SIDED_SWELLING = tuple((f, Unilateral(f)) for f in SELF_CARE_BLOCKING_SWELLING)


def _self_care_allowed(run: _Run) -> Evidence:
    """Principles 3 and 7: no E, U or R rule; no one-sided or side-unknown swelling; no sign."""
    if not _SELF_CARE_BLOCKING_RULES.isdisjoint(run.fired):
        return None
    for finding, one_sided in _ONE_SIDED_SWELLING:
        if holds(one_sided, run) is not None:
            return None
        # A supporting-only one-sided swelling still blocks (§1.3 speaks of any swelling).
        if any(
            r.present and r.in_window and r.side is not Side.BILATERAL
            for r in run.fs.records(finding)
        ):
            return None
    return None if holds(PRINCIPLE_7_SIGNS, run) is not None else ()


def _d_dimer(state: str, run: _Run) -> Evidence:
    if state == "raised":
        return run.fs.standing(plain_selector("F-D-DIMER")) or None
    results = run.d_dimers
    if state == "positive":
        return tuple(r.record for r in results.positive) or None
    if state == "negative":
        return tuple(r.record for r in results.negative) or None
    return tuple(r.record for r in results.results) if results.all_negative else None


def _variant(rule: Rule, run: _Run) -> tuple[Variant, tuple[Finding, ...]]:
    """The first variant that holds, and its evidence: what selects a variant's steps (a
    pregnancy, an anticoagulant) is cited on the card beside what fired the rule (§7.3)."""
    for variant in rule.variants:
        evidence = holds(variant.condition, run)
        if evidence is not None:
            return variant, evidence
    raise ValueError(f"no variant of {rule.id} holds")  # the rule table ends each with Always


# The principle-7 signs (§1.7) by finding; a not-interpretable value is named on every card.
_SIGN_FINDINGS = frozenset(
    {
        "F-COLD-LIMB", "F-PULSELESS", "F-PAINFUL-COLD-LIMB", "F-CYANOSIS", "F-PE-SYMPTOM",
        "F-SENSORY-MOTOR-LOSS",
    }
)  # fmt: skip


def _name_every_sign(fired: tuple[FiredRule, ...], run: _Run) -> tuple[FiredRule, ...]:
    """Principle 7: each recorded sign is named on a card. A sign no fired rule cites goes on
    the first card (not-interpretable values are already named on every card's caveats)."""
    if not fired:
        return fired
    cited = {r.reference for f in fired for r in (*f.evidence, *f.also_noted)}
    signs = tuple(
        r
        for r in holds(PRINCIPLE_7_SIGNS, run) or ()
        if r.finding_id in _SIGN_FINDINGS and r.interpretable and r.reference not in cited
    )
    unnamed = tuple({r.reference: r for r in signs}.values())
    if not unnamed:
        return fired
    return (replace(fired[0], signs_noted=unnamed), *fired[1:])


def _note_every_old_record(fired: tuple[FiredRule, ...], run: _Run) -> tuple[FiredRule, ...]:
    """§2 "Also noted": an old record that would have counted in its window is named once in
    the answer; one that no card's topic reads (an old postpartum beside a spinal card, a cold
    leg three weeks ago beside a DVT card) goes on the first card."""
    if not fired:
        return fired
    named = {r.reference for f in fired for r in (*f.evidence, *f.also_noted, *f.signs_noted)}
    rest = {
        r.reference: r
        for r in run.fs.noted_anywhere
        if not r.in_window and r.reference not in named
    }
    if not rest:
        return fired
    first = fired[0]
    return (replace(first, also_noted=(*first.also_noted, *rest.values())), *fired[1:])


def evaluate(extraction: Extraction, *, policy: Policy = DEFAULT_POLICY) -> Assessment:
    """Evaluate every rule of `core.rules` over one extraction (pure; never raises on data).

    Rules run in dependency order (R-PE-SUSPECTED after the thrombosis rules; "no other rule"
    and self-care rules last); the result lists fired rules by tier (E, U, R, S), then id.
    """
    now = extraction.evaluated_at or datetime.now(UTC)
    run = _Run(FindingSet(extraction.findings), extraction.patient, policy, now)
    for rule in EVALUATION_ORDER:
        run.current = rule
        evidence = holds(rule.condition, run)
        if evidence is None:
            continue
        variant, variant_evidence = _variant(rule, run)
        evidence = _join(evidence, variant_evidence)
        if rule.scored and not run.groups:
            evidence = _join(evidence, *(item.evidence for item in run.wells.counted))
        also_noted = (
            run.fs.noted_anywhere if rule.notes_all else run.fs.also_noted(rule.findings_of_topic)
        )
        seen = {id(r) for r in evidence}
        run.fired[rule.id] = FiredRule(
            rule, variant, evidence, tuple(r for r in also_noted if id(r) not in seen)
        )
    fired = _note_every_old_record(
        _name_every_sign(
            tuple(sorted(run.fired.values(), key=lambda f: _DISPLAY_RANK[f.rule.id])), run
        ),
        run,
    )
    return Assessment(
        fired=fired,
        findings=run.fs,
        patient=extraction.patient,
        evaluated_at=now,
        policy=policy,
        wells=run.wells,
        d_dimers=run.d_dimers,
        groups=run.groups,
        extraction=extraction,
    )
