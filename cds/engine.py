"""The rule engine: `evaluate(Extraction) -> Assessment` (clinical-rules.md §2 semantics, §4 rules).

Pure and stdlib-only. `FindingSet` gives the §2 aggregation semantics over one request's findings
(conflicts, thresholds, laterality, windows); `evaluate` runs the conditions of `cds.rules`
(compiled once, at import, from the declarative table) in dependency order and returns the fired
rules ordered by tier (E, U, R, S), then id, each with the findings that made it fire, plus the
assessment-level facts every card needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import product
from typing import Any

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
    walk,
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


def _cancelled(record: Finding, absences: list[tuple[float, Side]]) -> bool:
    """Is a present record cancelled by a later explicit absence covering its side?"""
    if record.when is None or TAG_MEASURED in record.tags:
        return False
    at = _timestamp(record.when)
    return any(when > at and _covers(side, record.side) for when, side in absences)


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

    __slots__ = ("_by_id", "_candidates", "_related", "_standing")

    def __init__(self, findings: Iterable[Finding]) -> None:
        self._by_id: dict[str, list[Finding]] = {}
        for finding in findings:
            self._by_id.setdefault(finding.finding_id, []).append(finding)
        self._standing: dict[Present, tuple[Finding, ...]] = {}
        self._related: dict[str, tuple[Finding, ...]] = {}
        self._candidates: dict[str, tuple[list[Finding], list[Finding]]] | None = None

    # -- raw access -------------------------------------------------------------------------
    def records(self, finding_id: str) -> tuple[Finding, ...]:
        """Every record of a finding id, whatever its window, tags or interpretability."""
        return tuple(self._by_id.get(finding_id, ()))

    # -- §2 semantics ---------------------------------------------------------------------------
    def standing(self, selector: Present) -> tuple[Finding, ...]:
        """The present records of `selector` that count (see the class docstring)."""
        records = self._by_id.get(selector.finding)
        if records is None:  # the usual case: cheaper than hashing the selector for the cache
            return ()
        cached = self._standing.get(selector)
        if cached is not None:
            return cached
        return self._compute_standing(selector, records)

    def _compute_standing(self, selector: Present, records: list[Finding]) -> tuple[Finding, ...]:
        """standing() past its cache look-up (the engine's memo already knows it is a miss)."""
        # An untagged record passes a selector that narrows nothing: skip the full test.
        plain = not (
            selector.with_tags or selector.without_tags or selector.codes or selector.without_codes
        )
        unilateral = isinstance(selector, Unilateral)
        presences: list[Finding] = []
        absences: list[tuple[float, Side]] = []
        for r in records:
            if not r.in_window or ((r.tags or not plain) and not _selected(r, selector)):
                continue
            if r.present:
                # A not-interpretable value never fires *our* cut-off, but the reader keeps it
                # present when the lab itself flagged it (interpretation H/POS): a red flag too.
                if not (unilateral and r.side is Side.BILATERAL):
                    presences.append(r)
            elif r.interpretable and r.when is not None and TAG_MEASURED not in r.tags:
                absences.append((_timestamp(r.when), r.side))
        if absences:
            presences = [r for r in presences if not _cancelled(r, absences)]
        result = tuple(presences)
        self._standing[selector] = result
        return result

    def present(self, finding_id: str) -> bool:
        return bool(self.standing(_plain(finding_id)))

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
        for r in self._by_id.get(finding_id, ()):
            if r.in_window and r.interpretable and (r.present or r.when is not None):
                return True
        return False

    def not_interpretable(self) -> tuple[Finding, ...]:
        """In-window values whose unit could not be converted (named on every card)."""
        return tuple(
            [
                r
                for records in self._by_id.values()
                for r in records
                if not r.interpretable and r.in_window
            ]
        )

    def related(self, finding_id: str) -> tuple[Finding, ...]:
        """The records of a finding a fired rule names beside its evidence: in-window present
        records that are supporting-only or undated, then the latest record outside the window."""
        cached = self._related.get(finding_id)
        if cached is None:
            named, old = self.related_candidates().get(finding_id, ([], []))
            # Only now: vital signs bring long out-of-window runs that no fired rule may name.
            cached = (*named, _latest(old)) if old else tuple(named)
            self._related[finding_id] = cached
        return cached

    def related_candidates(self) -> dict[str, tuple[list[Finding], list[Finding]]]:
        """The finding ids (first-seen order) with records to name beside evidence: per id, the
        in-window ones named as they are and those outside the window. One pass, on first use."""
        if self._candidates is None:
            self._candidates = {}
            for finding_id, records in self._by_id.items():
                for r in records:
                    if not r.in_window:
                        self._candidates.setdefault(finding_id, ([], []))[1].append(r)
                    elif r.present and (r.when is None or TAG_SUPPORTING in r.tags):
                        self._candidates.setdefault(finding_id, ([], []))[0].append(r)
        return self._candidates


def _latest(records: list[Finding]) -> Finding:
    """The latest dated record, else the first (undated) one."""
    dated = [r for r in records if r.when is not None]
    if len(dated) > 1:
        return max(dated, key=_record_timestamp)
    return dated[0] if dated else records[0]


def _record_timestamp(record: Finding) -> float:
    assert record.when is not None
    return _timestamp(record.when)


def _value(record: Finding) -> float:
    assert record.measurement is not None
    return record.measurement.value


@lru_cache(maxsize=256)
def _plain(finding_id: str) -> Present:
    # Building a frozen dataclass costs about a microsecond; the finding ids are a fixed catalog.
    return Present(finding_id)


def _both_sides(records: tuple[Finding, ...]) -> tuple[Finding, ...]:
    both = [r for r in records if r.side is Side.BILATERAL]
    if both:
        return tuple(both)
    left = [r for r in records if r.side is Side.LEFT]
    right = [r for r in records if r.side is Side.RIGHT]
    return tuple(left + right) if left and right else ()


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


# --------------------------------------------------------------------------- compiled rule table
# The rule table is data; interpreting its trees node by node on every request costs more than
# the findings do. So each condition is compiled once, at import, into nested closures. A compiled
# condition returns its evidence when it holds (possibly empty) and None when it does not.
Evidence = tuple[Finding, ...] | None
_Check = Callable[["_Run"], Evidence]
_UNSET = object()  # a memo slot not computed yet (None already means "does not hold")


class _Run:
    """One evaluation: the finding set, what has fired so far, and the finding-level memo."""

    __slots__ = ("blocks_self_care", "by_id", "fired", "fs", "memo", "recorded")

    def __init__(self, fs: FindingSet, blocks_self_care: bool) -> None:
        self.fs = fs
        self.by_id = fs._by_id
        self.recorded = 0  # the bits (_FINDING_BITS) of the findings with any record
        for finding_id in self.by_id:
            self.recorded |= _FINDING_BITS.get(finding_id, 0)
        self.fired: dict[str, FiredRule] = {}
        # Any: each slot holds _UNSET or what one finding-level node found (see _Compiler).
        self.memo: list[Any] = [_UNSET] * len(_COMPILER.slots)
        self.blocks_self_care = blocks_self_care


_FIRED_ONLY = (NoRuleOfTiers, SelfCareAllowed)  # rule-level nodes that never have evidence


def _is_finding_level(node: Condition) -> bool:
    """Does the node read findings only? Then its outcome is fixed for the whole evaluation;
    nodes reading fired rules depend on the asking rule and on the evaluation order."""
    return not any(isinstance(n, (RuleFires, NoRuleOfTiers, SelfCareAllowed)) for n in walk(node))


class _Compiler:
    """Turns condition trees into closures; each distinct finding-level node (equal nodes are
    one node, so the shared "calf symptom" is computed once per evaluation) gets a memo slot."""

    def __init__(self) -> None:
        self.slots: dict[object, int] = {}
        self._shared: dict[object, _Check] = {}

    def rule(self, rule: Rule) -> _Check:
        condition = rule.condition
        # A rule's own condition runs once per evaluation: a memo slot would only cost.
        if _is_finding_level(condition):
            return self._finding_node(condition)
        return self._node(condition, rule)

    def _node(self, node: Condition, rule: Rule) -> _Check:
        if _is_finding_level(node):
            return self._memoised(node, lambda: self._finding_node(node))
        if isinstance(node, AllOf):
            # "No other rule fired" and "self-care allowed" are cheap, usually fail and add no
            # evidence: first, they spare the findings. Neither the outcome nor the evidence (nor
            # its order) depends on where they stand.
            items = sorted(node.items, key=lambda item: not isinstance(item, _FIRED_ONLY))
            return _all_of(self._items(tuple(items), rule))
        if isinstance(node, AnyOf):
            return _any_of(self._items(node.items, rule))
        if isinstance(node, Not):
            return _not(self._node(node.item, rule))
        if isinstance(node, RuleFires):
            return _rule_fires(node.rule_ids)
        if isinstance(node, NoRuleOfTiers):
            return _no_other_fired(_other_rules(rule, node.tiers))
        if isinstance(node, SelfCareAllowed):
            swelling = self._memoised("self-care swelling", lambda: _one_sided_swelling)
            return _self_care_allowed(_other_rules(rule, _E_U_R), swelling)
        raise TypeError(f"unknown condition node {type(node).__name__}")

    def _items(self, items: tuple[Condition, ...], rule: Rule) -> _Items:
        return tuple((_leaf_finding(item), self._node(item, rule)) for item in items)

    def _memoised(self, key: object, build: Callable[[], _Check]) -> _Check:
        """The one memoised closure for `key` (a leaf memoises itself)."""
        shared = self._shared.get(key)
        if shared is None:
            leaf = isinstance(key, (Present, Recorded, Measure))
            shared = build() if leaf else _memo_slot(self._slot(key), build())
            self._shared[key] = shared
        return shared

    def _slot(self, key: object) -> int:
        return self.slots.setdefault(key, len(self.slots))

    def _finding_node(self, node: Condition) -> _Check:
        if isinstance(node, Bilateral):
            return _leaf(self._slot(node), node.finding, _read_bilateral, _as_present(node))
        if isinstance(node, Present):  # Unilateral is handled by FindingSet.standing
            return _leaf(self._slot(node), node.finding, _read_standing, node)
        if isinstance(node, Recorded):
            return _leaf(self._slot(node), node.finding, _read_recorded, node.finding)
        if isinstance(node, Measure) and node.lowest:
            # The four ABI nodes share one memo slot for the lowest value.
            lowest = self._slot(("lowest", node.finding))
            return _leaf(self._slot(node), node.finding, _read_lowest_crosses, (lowest, node))
        if isinstance(node, Measure):
            return _leaf(self._slot(node), node.finding, _read_crossings, node)
        if isinstance(node, (AllOf, AnyOf)):
            items = self._items(node.items, _NO_RULE)
            return _all_of(items) if isinstance(node, AllOf) else _any_of(items)
        if isinstance(node, Not):
            return _not(self._node(node.item, _NO_RULE))
        if isinstance(node, SameSide):
            firsts = tuple(self._node(sel, _NO_RULE) for sel in node.first)
            seconds = tuple(self._node(sel, _NO_RULE) for sel in node.second)
            return _same_side_check(firsts, seconds)
        raise TypeError(f"unknown condition node {type(node).__name__}")


_Clauses = tuple[frozenset[str], ...]


def _needs(node: Condition) -> _Clauses:
    """What a node needs to hold: clauses that must all be met, each met when any of its finding
    ids has a record at all. Empty when the node may hold with no record (Not, rule-level)."""
    if isinstance(node, (Present, Recorded, Measure)):
        return (frozenset((node.finding,)),)
    if isinstance(node, SameSide):
        return _needs(AnyOf(*node.first)) + _needs(AnyOf(*node.second))
    if isinstance(node, AllOf):
        return _simplest(clause for item in node.items for clause in _needs(item))
    if isinstance(node, AnyOf):
        branches = [_needs(item) for item in node.items]
        if not all(branches):
            return ()
        # (a and b) or c = (a or c) and (b or c): one clause per combination of branch clauses.
        return _simplest(frozenset().union(*combo) for combo in product(*branches))
    return ()


def _simplest(clauses: Iterable[frozenset[str]]) -> _Clauses:
    """The clauses without repeats and without any clause implied by a narrower one."""
    kept: list[frozenset[str]] = []
    for clause in sorted(set(clauses), key=lambda c: (len(c), sorted(c))):
        if not any(narrower <= clause for narrower in kept):
            kept.append(clause)
    return tuple(kept)


def _masks(clauses: _Clauses) -> tuple[int, ...]:
    """The clauses as bit masks over _FINDING_BITS (one small int each, cheap to test)."""
    for finding_id in sorted({f for clause in clauses for f in clause}):
        _FINDING_BITS.setdefault(finding_id, 1 << len(_FINDING_BITS))
    return tuple(sum(_FINDING_BITS[f] for f in clause) for clause in clauses)


def _memo_slot(slot: int, compute: _Check) -> _Check:
    def check(run: _Run) -> Evidence:
        found: Evidence = run.memo[slot]
        if found is _UNSET:
            found = run.memo[slot] = compute(run)
        return found

    return check


def _leaf(slot: int, finding: str, read: Callable[[_Run, Any], Evidence], arg: object) -> _Check:
    """A memoised leaf reading one finding's records (`read(run, arg)` once per evaluation)."""

    def check(run: _Run) -> Evidence:
        if finding not in run.by_id:  # most findings have no record at all
            return None
        found: Evidence = run.memo[slot]
        if found is _UNSET:
            found = run.memo[slot] = read(run, arg)
        return found

    return check


def _leaf_finding(node: Condition) -> str | None:
    """The one finding a leaf reads (None for other nodes): no record, the leaf cannot hold."""
    return node.finding if isinstance(node, (Present, Recorded, Measure)) else None


# (leaf finding or None, check) per item: a leaf whose finding has no record is not even called.
_Items = tuple[tuple[str | None, _Check], ...]


def _all_of(items: _Items) -> _Check:
    def check(run: _Run) -> Evidence:
        by_id = run.by_id
        evidence: tuple[Finding, ...] = ()
        for finding, item in items:
            found = None if finding is not None and finding not in by_id else item(run)
            if found is None:
                return None
            evidence += found
        return evidence

    return check


def _any_of(items: _Items) -> _Check:
    # Every branch that holds contributes evidence (the card names all of it), so no short cut.
    def check(run: _Run) -> Evidence:
        by_id = run.by_id
        evidence: Evidence = None
        for finding, item in items:
            if finding is not None and finding not in by_id:
                continue
            found = item(run)
            if found is not None:
                evidence = found if evidence is None else evidence + found
        return evidence

    return check


def _not(item: _Check) -> _Check:
    def check(run: _Run) -> Evidence:
        return () if item(run) is None else None

    return check


# What a leaf reads once its finding is known to have records (shared functions, not closures:
# one per leaf would be a few hundred more objects for every evaluation to walk through).
def _read_standing(run: _Run, selector: Present) -> Evidence:
    # Equal leaves share one memo slot, so the cache would miss: skipping the look-up saves
    # hashing the selector (a dataclass hash, in Python) once more. Should another caller have
    # asked first, the same value is only computed again.
    return run.fs._compute_standing(selector, run.by_id[selector.finding]) or None


def _read_bilateral(run: _Run, every_side: Present) -> Evidence:
    return _both_sides(run.fs.standing(every_side)) or None


def _read_recorded(run: _Run, finding: str) -> Evidence:
    return () if run.fs.recorded(finding) else None


def _read_lowest_crosses(run: _Run, arg: tuple[int, Measure]) -> Evidence:
    slot, node = arg
    low = run.memo[slot]  # the lowest value itself (a Finding or None), shared by its nodes
    if low is _UNSET:
        low = run.memo[slot] = run.fs.lowest(node.finding)
    return (low,) if low is not None and _compare(low, node.op, node.threshold) else None


def _read_crossings(run: _Run, node: Measure) -> Evidence:
    hits = tuple(r for r in run.fs.measured(node.finding) if _compare(r, node.op, node.threshold))
    return hits or None


def _same_side_check(firsts: tuple[_Check, ...], seconds: tuple[_Check, ...]) -> _Check:
    def check(run: _Run) -> Evidence:
        a_side = [r for item in firsts for r in item(run) or ()]
        if not a_side:
            return None
        b_side = [r for item in seconds for r in item(run) or ()]
        matched: dict[int, Finding] = {}
        for a in a_side:
            for b in b_side:
                if _same_side(a.side, b.side):
                    matched.setdefault(id(a), a)
                    matched.setdefault(id(b), b)
        return tuple(matched.values()) or None

    return check


def _rule_fires(rule_ids: tuple[str, ...]) -> _Check:
    def check(run: _Run) -> Evidence:
        fired = run.fired
        hits = [fired[i] for i in rule_ids if i in fired]
        return tuple(r for hit in hits for r in hit.evidence) if hits else None

    return check


def _other_rules(rule: Rule, tiers: Sequence[object]) -> frozenset[str]:
    return frozenset(r.id for r in RULES if r.tier in tiers and r.id != rule.id)


def _no_other_fired(others: frozenset[str]) -> _Check:
    def check(run: _Run) -> Evidence:
        return () if others.isdisjoint(run.fired) else None

    return check


def _self_care_allowed(others: frozenset[str], swelling: _Check) -> _Check:
    """§1.3: no E/U/R rule, no one-sided or side-unknown swelling, no blocking value."""

    def check(run: _Run) -> Evidence:
        if run.blocks_self_care or not others.isdisjoint(run.fired):
            return None
        return () if swelling(run) is None else None

    return check


def _one_sided_swelling(run: _Run) -> Evidence:
    """() when a one-sided or side-unknown swelling stands (it blocks self-care), else None."""
    fs = run.fs
    for selector in _SELF_CARE_BLOCKERS:
        if selector.finding not in run.by_id:
            continue
        if fs.standing(selector):
            return ()
        # A supporting-only swelling record still blocks self-care (conservative: §1.3 speaks
        # of any swelling present within its window).
        if any(
            r.present and r.in_window and r.side is not Side.BILATERAL and TAG_SUPPORTING in r.tags
            for r in run.by_id[selector.finding]
        ):
            return ()
    return None


_NO_RULE = RULES[0]  # finding-level nodes never read the asking rule
_COMPILER = _Compiler()
_FINDING_BITS: dict[str, int] = {}  # finding id -> its bit in _Run.recorded (set by _masks)
# Per rule, in dependency order: what it needs (_needs) as masks, and its compiled condition.
_PLAN: tuple[tuple[Rule, tuple[int, ...], _Check], ...] = tuple(
    (rule, _masks(_needs(rule.condition)), _COMPILER.rule(rule)) for rule in _ORDER
)
_DISPLAY_RANK = {rule.id: rank for rank, rule in enumerate(RULES)}


def _related(fs: FindingSet, rule: Rule, evidence: tuple[Finding, ...]) -> tuple[Finding, ...]:
    candidates = fs.related_candidates()
    if not candidates:
        return ()
    finding_ids = (
        candidates if rule.related_all else [f for f in rule.findings_used if f in candidates]
    )
    seen: set[int] | None = None
    related: list[Finding] = []
    for finding_id in finding_ids:
        for record in fs.related(finding_id):
            if seen is None:
                seen = {id(r) for r in evidence}
            if id(record) not in seen:
                related.append(record)
                seen.add(id(record))
    return tuple(related)


def _unique(records: tuple[Finding, ...]) -> tuple[Finding, ...]:
    if len(set(map(id, records))) == len(records):  # the usual case, checked at C speed
        return records
    # First-seen order; a repeated id is the very same record, so keeping the last value is fine.
    return tuple({id(record): record for record in records}.values())


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
    by_id = fs._by_id
    missing: list[str] = []
    for label, finding_ids in RED_FLAG_CHECKLIST:
        for finding_id in finding_ids:
            if finding_id in by_id and fs.recorded_for_check(finding_id):
                break
        else:
            missing.append(label)
    swelling = [r for f in _SWELLING if f in by_id for r in fs.standing(_plain(f))]
    if swelling and all(r.side is Side.UNKNOWN for r in swelling):
        missing.insert(1, "side of the swelling")
    return tuple(missing)


def _fire(
    run: _Run, rule: Rule, found: tuple[Finding, ...], patient: PatientFacts, scores_apply: bool
) -> None:
    # Only here, for the few rules that fire, are evidence, related records and scores built.
    fs = run.fs
    evidence = _unique(found)
    wells = d_dimer = None
    if rule.wells:
        wells = scores.wells(fs, scores_apply=scores_apply)
        d_dimer = scores.d_dimer_note(fs, age_years=patient.age_years, scores_apply=scores_apply)
    run.fired[rule.id] = FiredRule(
        rule=rule,
        evidence=evidence,
        related=_related(fs, rule, evidence),
        wells=wells,
        d_dimer=d_dimer,
    )


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
    recorded = run.recorded
    for rule, needs, check in _PLAN:
        for mask in needs:
            if not mask & recorded:
                break  # no record of any finding in a clause the rule needs: it cannot hold
        else:
            found = check(run)
            if found is not None:
                _fire(run, rule, found, extraction.patient, scores_apply)
    fired = tuple(sorted(run.fired.values(), key=lambda f: _DISPLAY_RANK[f.rule.id]))
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
