"""The rule engine: `evaluate(Extraction) -> Assessment` (clinical-rules.md §2 semantics, §4 rules).

Pure and stdlib-only. `FindingSet` gives the §2 aggregation semantics over one request's findings
(conflicts, thresholds, laterality, windows); `evaluate` interprets the condition vocabulary of
`cds.rules` in dependency order and returns the fired rules ordered by tier (E, U, R, S), then id,
each with the findings that made it fire, plus the assessment-level facts every card needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import scores
from .model import (
    TAG_AT_ANY_SITE,
    TAG_BLOCKS_SELF_CARE,
    TAG_MEASURED,
    TAG_SUPPORTING,
    Extraction,
    Finding,
    PatientFacts,
    Side,
)
from .rules import (
    EMERGENCY,
    ROUTINE,
    RULES,
    RULES_BY_ID,
    SELF_CARE_BLOCKING_SWELLING,
    URGENT,
    AllOf,
    AnyOf,
    Bilateral,
    Condition,
    Measure,
    NoRuleOfTiers,
    Not,
    Present,
    Recorded,
    Rule,
    RuleFires,
    SameSide,
    SelfCareAllowed,
    Unilateral,
)
from .rules import EVALUATION_ORDER as _ORDER

_SELF_CARE_BLOCKERS = tuple(Unilateral(f) for f in SELF_CARE_BLOCKING_SWELLING)
_PE_SIGN = Present("F-PE-SYMPTOM")
_E_U_R = (EMERGENCY, URGENT, ROUTINE)


def _timestamp(when: datetime) -> float:
    # Naive datetimes are read as UTC so that mixed inputs never raise mid-evaluation.
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _same_side(a: Side, b: Side) -> bool:
    """§2 "same side": the same side or either unknown; a bilateral record includes both sides."""
    return a is b or Side.UNKNOWN in (a, b) or Side.BILATERAL in (a, b)


def _covers(absence: Side, presence: Side) -> bool:
    """Does a later explicit absence on `absence` side cancel a presence on `presence` side?

    A side-unknown or bilateral absence ("no leg swelling") covers every side; a one-sided absence
    covers only that side (it says nothing about a side-unknown record: conservative).
    """
    return absence in (Side.UNKNOWN, Side.BILATERAL) or absence is presence


class FindingSet:
    """One request's findings with the §2 aggregation semantics.

    - Only in-window, non-supporting records count toward firing; a not-interpretable record only
      when the reader kept it present (the lab's own flag), and its value is never compared.
    - Coded records: the latest wins, at equal times present wins; an undated presence is current
      (never cancelled) and an undated absence cancels nothing (conservative, §2 and §5).
    - Thresholds (TAG_MEASURED): any in-window crossing counts; a measured normal value never
      cancels a crossing or a coded presence.
    - Laterality: each present record stands unless a later absence covers its side, so a
      one-sided record stands whatever bilateral records say.
    """

    __slots__ = ("_by_id", "_standing")

    def __init__(self, findings: Iterable[Finding]) -> None:
        self._by_id: dict[str, list[Finding]] = {}
        for finding in findings:
            self._by_id.setdefault(finding.finding_id, []).append(finding)
        self._standing: dict[Present, tuple[Finding, ...]] = {}

    # -- raw access -------------------------------------------------------------------------
    def records(self, finding_id: str) -> tuple[Finding, ...]:
        """Every record of a finding id, whatever its window, tags or interpretability."""
        return tuple(self._by_id.get(finding_id, ()))

    def finding_ids(self) -> tuple[str, ...]:
        """The finding ids with at least one record, in first-seen order."""
        return tuple(self._by_id)

    def all(self) -> Iterable[Finding]:
        for records in self._by_id.values():
            yield from records

    # -- §2 semantics ---------------------------------------------------------------------------
    def standing(self, selector: Present) -> tuple[Finding, ...]:
        """The present records of `selector` that count (see the class docstring)."""
        cached = self._standing.get(selector)
        if cached is not None:
            return cached
        # A not-interpretable value never fires *our* cut-off, but the reader keeps it present
        # when the lab itself flagged it (interpretation H/POS): that flag is a red flag too.
        candidates = [
            r
            for r in self._by_id.get(selector.finding, ())
            if r.in_window and (r.interpretable or r.present) and _selected(r, selector)
        ]
        absences = [
            (_timestamp(r.when), r.side)
            for r in candidates
            if not r.present
            and r.when is not None
            and r.interpretable
            and TAG_MEASURED not in r.tags
        ]
        standing: list[Finding] = []
        for record in candidates:
            if not record.present:
                continue
            if isinstance(selector, Unilateral) and record.side is Side.BILATERAL:
                continue
            if record.when is not None and TAG_MEASURED not in record.tags and absences:
                at = _timestamp(record.when)
                if any(when > at and _covers(side, record.side) for when, side in absences):
                    continue
            standing.append(record)
        result = tuple(standing)
        self._standing[selector] = result
        return result

    def present(self, finding_id: str) -> bool:
        return bool(self.standing(Present(finding_id)))

    def bilateral(self, selector: Present) -> tuple[Finding, ...]:
        """Records showing the finding bilateral: a bilateral record, or both left and right."""
        records = self.standing(_as_present(selector))
        both = [r for r in records if r.side is Side.BILATERAL]
        if both:
            return tuple(both)
        left = [r for r in records if r.side is Side.LEFT]
        right = [r for r in records if r.side is Side.RIGHT]
        return tuple(left + right) if left and right else ()

    def measured(self, finding_id: str) -> list[Finding]:
        """In-window interpretable records with a value (present or not: thresholds decide)."""
        return [
            r
            for r in self._by_id.get(finding_id, ())
            if r.in_window
            and r.interpretable
            and r.measurement is not None
            and TAG_SUPPORTING not in r.tags
        ]

    def lowest(self, finding_id: str) -> Finding | None:
        """The lowest in-window value (ABI: §2 "the lowest component"; lowest value wins)."""
        values = self.measured(finding_id)
        return min(values, key=_value) if values else None

    def recorded(self, finding_id: str) -> bool:
        """Any in-window interpretable record, present or absent ("an ABI within 12 months")."""
        return any(
            r.in_window and r.interpretable and TAG_SUPPORTING not in r.tags
            for r in self._by_id.get(finding_id, ())
        )

    def recorded_for_check(self, finding_id: str) -> bool:
        """Recorded for the red-flag checklist: any in-window interpretable record (supporting
        ones too) except an undated absence, which does not count as a check (§5, conservative)."""
        return any(
            r.in_window and r.interpretable and (r.present or r.when is not None)
            for r in self._by_id.get(finding_id, ())
        )

    def not_interpretable(self) -> tuple[Finding, ...]:
        """In-window values whose unit could not be converted (named on every card)."""
        return tuple(r for r in self.all() if not r.interpretable and r.in_window)

    def outside_window(self, finding_id: str) -> Finding | None:
        """The latest record outside its window ("last recorded <date>, outside the window")."""
        old = [r for r in self._by_id.get(finding_id, ()) if not r.in_window]
        dated = [r for r in old if r.when is not None]
        if dated:
            return max(dated, key=lambda r: _timestamp(r.when))  # type: ignore[arg-type]
        return old[0] if old else None


def _value(record: Finding) -> float:
    assert record.measurement is not None
    return record.measurement.value


def _as_present(selector: Present) -> Present:
    """The same selection as a plain Present (Bilateral reads every standing record)."""
    return Present(
        selector.finding,
        selector.with_tags,
        selector.without_tags,
        selector.codes,
        selector.without_codes,
        selector.any_site,
    )


def _selected(record: Finding, selector: Present) -> bool:
    tags = record.tags
    if TAG_AT_ANY_SITE in tags:
        # 68962001 with no calf site: "muscle pain" only (§4), never F-CALF-PAIN itself. The
        # reader may also mark it supporting; for muscle pain it counts all the same.
        if not selector.any_site:
            return False
    elif TAG_SUPPORTING in tags:
        return False
    if selector.with_tags and not all(t in tags for t in selector.with_tags):
        return False
    if selector.without_tags and any(t in tags for t in selector.without_tags):
        return False
    if selector.codes and record.code.code not in selector.codes:
        return False
    return not (selector.without_codes and record.code.code in selector.without_codes)


def _compare(record: Finding, op: str, threshold: float) -> bool:
    """§2: a `>`/`>=` comparator counts as at least the value; `>40` crosses "> 40"."""
    assert record.measurement is not None
    value = record.measurement.value
    comparator = record.measurement.comparator
    if op == ">":
        return value > threshold or (value == threshold and comparator == ">")
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold or (value == threshold and comparator == "<")
    if op == "<=":
        return value <= threshold
    raise ValueError(f"unknown comparison {op!r}")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class FiredRule:
    """One fired rule: its row, the records that made it fire, and related records.

    `evidence`: the records the condition matched (undated ones included; the card says so).
    `related`: records of the rule's findings that did not count but are worth naming: supporting-
    only, outside the window (latest per finding), or undated records not already in evidence.
    """

    rule: Rule
    evidence: tuple[Finding, ...]
    related: tuple[Finding, ...] = ()
    wells: scores.WellsResult | None = None
    d_dimer: scores.DDimerNote | None = None

    @property
    def rule_id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class Assessment:
    """Everything the cards need from one evaluation (no FHIR, no wire format)."""

    fired: tuple[FiredRule, ...]
    patient: PatientFacts = field(default_factory=PatientFacts)
    not_interpretable: tuple[Finding, ...] = ()
    blocks_self_care: bool = False
    unreadable: int = 0
    unreadable_notes: tuple[str, ...] = ()
    pe_signs: tuple[Finding, ...] = ()  # F-PE-SYMPTOM present, e.g. a heart rate > 100 alone
    not_recorded: tuple[str, ...] = ()  # red-flag checklist items with no record (§4)
    caveats: tuple[str, ...] = ()  # principle 5 and age-unknown notes, card-ready sentences
    scores_apply: bool = True  # False under principle 5 (minor, pregnant, anticoagulated)
    age_unknown: bool = False
    evaluated_at: datetime | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(f.rule.id for f in self.fired)

    def fired_rule(self, rule_id: str) -> FiredRule | None:
        return next((f for f in self.fired if f.rule.id == rule_id), None)


# Red-flag checklist of §4 (R-NO-RED-FLAG-DATA): label -> findings any record of which counts.
RED_FLAG_CHECKLIST: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "leg swelling",
        (
            "F-LEG-SWELLING",
            "F-ANKLE-SWELLING",
            "F-ENTIRE-LEG-SWOLLEN",
            "F-CALF-SWELLING-3CM",
            "F-PITTING-EDEMA",
        ),
    ),
    ("skin colour", ("F-ERYTHEMA", "F-CYANOSIS", "F-SKIN-DISCOLOURATION")),
    ("skin warmth", ("F-WARMTH", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB")),
    ("foot pulses", ("F-PULSELESS",)),
    ("back pain", ("F-LOW-BACK-PAIN",)),
    ("bladder/bowel symptoms", ("F-BLADDER-BOWEL-FLAG",)),
    ("fever (temperature)", ("F-FEVER",)),
)
_SWELLING = RED_FLAG_CHECKLIST[0][1]


# --------------------------------------------------------------------------- interpreter
class _Run:
    """One evaluation: the finding set, what has fired so far, and per-node memo."""

    __slots__ = ("blocks_self_care", "fired", "fs", "memo")

    def __init__(self, fs: FindingSet, blocks_self_care: bool) -> None:
        self.fs = fs
        self.fired: dict[str, FiredRule] = {}
        self.memo: dict[int, tuple[bool, tuple[Finding, ...]]] = {}
        self.blocks_self_care = blocks_self_care

    def check(self, node: Condition, rule: Rule) -> tuple[bool, tuple[Finding, ...]]:
        """(holds, evidence). Finding-level nodes are memoised; rule-level ones are not (they
        depend on the asking rule and on what fired before it)."""
        memo = self.memo.get(id(node))  # only finding-level nodes are ever stored
        if memo is not None:
            return memo
        if isinstance(node, AllOf):
            evidence: list[Finding] = []
            for item in node.items:
                ok, found = self.check(item, rule)
                if not ok:
                    return False, ()
                evidence.extend(found)
            return True, tuple(evidence)
        if isinstance(node, AnyOf):
            # Every branch that holds contributes evidence: the card names all of it.
            evidence = []
            hit = False
            for item in node.items:
                ok, found = self.check(item, rule)
                if ok:
                    hit = True
                    evidence.extend(found)
            return hit, tuple(evidence)
        if isinstance(node, Not):
            ok, _ = self.check(node.item, rule)
            return not ok, ()
        if isinstance(node, RuleFires):
            hits = [self.fired[i] for i in node.rule_ids if i in self.fired]
            return bool(hits), tuple(r for hit in hits for r in hit.evidence)
        if isinstance(node, NoRuleOfTiers):
            return not self._other_fired(rule, node.tiers), ()
        if isinstance(node, SelfCareAllowed):
            return self._self_care_allowed(rule), ()
        memo = self._finding_node(node)
        self.memo[id(node)] = memo
        return memo

    def _finding_node(self, node: Condition) -> tuple[bool, tuple[Finding, ...]]:
        fs = self.fs
        if isinstance(node, Bilateral):
            found = fs.bilateral(node)
            return bool(found), found
        if isinstance(node, Present):  # Unilateral is handled by FindingSet.standing
            found = fs.standing(node)
            return bool(found), found
        if isinstance(node, Recorded):
            return fs.recorded(node.finding), ()
        if isinstance(node, Measure):
            if node.lowest:
                low = fs.lowest(node.finding)
                return (
                    (True, (low,))
                    if low and _compare(low, node.op, node.threshold)
                    else (
                        False,
                        (),
                    )
                )
            hits = tuple(
                r for r in fs.measured(node.finding) if _compare(r, node.op, node.threshold)
            )
            return bool(hits), hits
        if isinstance(node, SameSide):
            firsts = [r for sel in node.first for r in self.check(sel, _NO_RULE)[1]]
            seconds = [r for sel in node.second for r in self.check(sel, _NO_RULE)[1]]
            matched: dict[int, Finding] = {}
            for a in firsts:
                for b in seconds:
                    if _same_side(a.side, b.side):
                        matched.setdefault(id(a), a)
                        matched.setdefault(id(b), b)
            return bool(matched), tuple(matched.values())
        raise TypeError(f"unknown condition node {type(node).__name__}")

    def _other_fired(self, rule: Rule, tiers: Sequence[object]) -> bool:
        return any(f.rule.tier in tiers for i, f in self.fired.items() if i != rule.id)

    def _self_care_allowed(self, rule: Rule) -> bool:
        """§1.3: no E/U/R rule, no one-sided or side-unknown swelling, no blocking value."""
        if self.blocks_self_care or self._other_fired(rule, _E_U_R):
            return False
        return not any(_one_sided_swelling(self.fs, sel) for sel in _SELF_CARE_BLOCKERS)


def _one_sided_swelling(fs: FindingSet, selector: Unilateral) -> bool:
    if fs.standing(selector):
        return True
    # A supporting-only swelling record still blocks self-care (conservative: §1.3 speaks of any
    # swelling present within its window).
    return any(
        r.present and r.in_window and r.side is not Side.BILATERAL and TAG_SUPPORTING in r.tags
        for r in fs.records(selector.finding)
    )


_NO_RULE = RULES[0]  # finding-level nodes never read the asking rule


def _related(fs: FindingSet, rule: Rule, evidence: tuple[Finding, ...]) -> tuple[Finding, ...]:
    seen = {id(r) for r in evidence}
    related: list[Finding] = []
    for finding_id in fs.finding_ids() if rule.related_all else rule.findings_used:
        for record in fs.records(finding_id):
            if id(record) in seen or not record.present:
                continue
            if record.in_window and (TAG_SUPPORTING in record.tags or record.when is None):
                related.append(record)
                seen.add(id(record))
        old = fs.outside_window(finding_id)
        if old is not None and id(old) not in seen:
            related.append(old)
            seen.add(id(old))
    return tuple(related)


def _unique(records: Iterable[Finding]) -> tuple[Finding, ...]:
    seen: dict[int, Finding] = {}
    for record in records:
        seen.setdefault(id(record), record)
    return tuple(seen.values())


def _caveats(fs: FindingSet, patient: PatientFacts) -> tuple[tuple[str, ...], bool]:
    """Principle 5 reasons (card sentences) and whether validated scores apply."""
    reasons: list[str] = []
    if patient.age_years is not None and patient.age_years < 18:
        reasons.append(f"under 18 (age {patient.age_years})")
    if fs.present("F-PREGNANT"):
        reasons.append("pregnant")
    if fs.present("F-ANTICOAGULATED"):
        reasons.append("on an anticoagulant")
    caveats = []
    if reasons:
        caveats.append(
            "Patient is "
            + ", ".join(reasons)
            + ": validated scores do not apply; assess clinically."
        )
    if patient.age_years is None:
        caveats.append("Age unknown: treated as an adult; D-dimer cut-off 500 ng/mL FEU used.")
    return tuple(caveats), not reasons


def _not_recorded(fs: FindingSet) -> tuple[str, ...]:
    missing = [
        label
        for label, finding_ids in RED_FLAG_CHECKLIST
        if not any(fs.recorded_for_check(f) for f in finding_ids)
    ]
    swelling = [r for f in _SWELLING for r in fs.standing(Present(f))]
    if swelling and all(r.side is Side.UNKNOWN for r in swelling):
        missing.insert(1, "side of the swelling")
    return tuple(missing)


def evaluate(extraction: Extraction) -> Assessment:
    """Evaluate every rule of `cds.rules` over one extraction (pure; never raises on data).

    Rules run in dependency order (R-PE-SUSPECTED after the thrombosis rules; the "no other
    rule" and self-care rules last); the result lists fired rules by tier (E, U, R, S), then id.
    """
    fs = FindingSet(extraction.findings)
    not_interpretable = fs.not_interpretable()
    blocks = any(TAG_BLOCKS_SELF_CARE in r.tags for r in not_interpretable)
    caveats, scores_apply = _caveats(fs, extraction.patient)
    run = _Run(fs, blocks)
    for rule in _ORDER:
        ok, evidence = run.check(rule.condition, rule)
        if not ok:
            continue
        evidence = _unique(evidence)
        wells = d_dimer = None
        if rule.wells:
            wells = scores.wells(fs, scores_apply=scores_apply)
            d_dimer = scores.d_dimer_note(
                fs, age_years=extraction.patient.age_years, scores_apply=scores_apply
            )
        run.fired[rule.id] = FiredRule(
            rule=rule,
            evidence=evidence,
            related=_related(fs, rule, evidence),
            wells=wells,
            d_dimer=d_dimer,
        )
    fired = tuple(run.fired[r.id] for r in RULES if r.id in run.fired)
    return Assessment(
        fired=fired,
        patient=extraction.patient,
        not_interpretable=not_interpretable,
        blocks_self_care=blocks,
        unreadable=extraction.unreadable,
        unreadable_notes=extraction.unreadable_notes,
        pe_signs=fs.standing(_PE_SIGN),
        not_recorded=_not_recorded(fs),
        caveats=caveats,
        scores_apply=scores_apply,
        age_unknown=extraction.patient.age_years is None,
        evaluated_at=extraction.evaluated_at,
    )


__all__ = ["RULES_BY_ID", "Assessment", "FindingSet", "FiredRule", "evaluate"]
