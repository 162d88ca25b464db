"""What a resource's coded and valued elements say, as the rules read them: codings, value[x],
interpretation flags, reference ranges and body sites (clinical-rules.md §2 "Presence",
"Quantities", "Laterality"). Pure functions over `cds.fhir.elements`; `cds.fhir.reading`
decides what is read and what is unreadable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core import findings as cat
from ..core.measurements import INTERPRETATION_SYSTEMS
from ..core.measurements import Quantity as LabQuantity
from ..core.model import Side
from ..core.statements import LATERALITY, Coding, combined_side
from ..core.units import display_unit
from . import elements as el

_POSITIVE_WORDS = frozenset({"positive", "pos", "pos.", "+", "detected"})
COMPARATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "\u2264": "<=", "\u2265": ">="}


def codings(concept: el.CodeableConcept | el.UnsetType) -> tuple[Coding, ...]:
    """The concept's codings with a code. FHIR's `code` and `uri` have no surrounding spaces;
    one sent with them is read without them, never left unrecognised (a red flag is never
    dropped for a typing slip)."""
    if concept is el.UNSET:
        return ()
    return tuple(
        Coding(cat.normalise_system(c.system), c.code.strip())
        for c in concept.coding
        if c.code and not c.code.isspace()
    )


def lab_quantity(q: el.Quantity) -> LabQuantity:
    code = q.code.strip() if isinstance(q.code, str) and q.code.strip() else None
    unit = q.unit.strip() if isinstance(q.unit, str) and q.unit.strip() else None
    # The UCUM code is preferred; the human unit when the code is missing or unknown.
    chosen = code if code is not None and (unit is None or display_unit(code) is not None) else unit
    comparator = COMPARATORS.get(q.comparator.strip()) if isinstance(q.comparator, str) else None
    value = q.value if isinstance(q.value, float) else None
    return LabQuantity(value, chosen, comparator)


def string_value(text: str) -> LabQuantity | bool | None:
    """A valueString: a number with a comparator and unit (">20000 ng/mL"), "Positive", or None."""
    stripped = text.strip()
    comparator = None
    for sign in (">=", "<=", "\u2265", "\u2264", ">", "<"):
        if stripped.startswith(sign):
            comparator, stripped = COMPARATORS[sign], stripped[len(sign) :].strip()
            break
    number, _, unit = stripped.partition(" ")
    try:
        value = float(number)
    except ValueError:
        return True if text.strip().lower() in _POSITIVE_WORDS else None
    return LabQuantity(value, unit.strip() or None, comparator)


def interpretation_codes(concepts: list[el.CodeableConcept] | el.UnsetType) -> frozenset[str]:
    if concepts is el.UNSET:
        return frozenset()
    return frozenset(
        c.code.strip().upper()
        for concept in concepts
        for c in concept.coding
        if c.system.strip() in INTERPRETATION_SYSTEMS
    )


def reference_ranges(
    ranges: list[el.Range] | el.UnsetType,
) -> tuple[tuple[LabQuantity, ...], tuple[LabQuantity, ...]]:
    if ranges is el.UNSET:
        return (), ()
    highs = tuple(lab_quantity(r.high) for r in ranges if isinstance(r.high, el.Quantity))
    lows = tuple(lab_quantity(r.low) for r in ranges if isinstance(r.low, el.Quantity))
    return highs, lows


def extension_sides(extensions: Sequence[el.Extension], codes: set[str]) -> None:
    for ext in extensions:
        if isinstance(ext.valueCoding, el.Coding):
            codes.add(ext.valueCoding.code.strip())
        if isinstance(ext.valueCodeableConcept, el.CodeableConcept):
            codes.update(c.code.strip() for c in ext.valueCodeableConcept.coding)


@dataclass(frozen=True)
class BodySite:
    codes: frozenset[str] | None  # SNOMED site codes, laterality included; None: malformed
    side: Side
    # One concept coded with two lateralities (left and right, or one side and both): its
    # codings contradict each other (one CodeableConcept is one site), so the side is unknown,
    # counted as one-sided (§2).
    contradictory: bool = False


NO_BODY_SITE = BodySite(frozenset(), Side.UNKNOWN)
MALFORMED_BODY_SITE = BodySite(None, Side.UNKNOWN)


def body_site(concepts: list[el.CodeableConcept]) -> BodySite:
    """The site codes and side of bodySite (codings and extensions, §2 "Laterality"). Several
    concepts (a Condition's list) may name both legs; one concept names one site."""
    codes: set[str] = set()
    sides: set[Side] = set()
    contradictory = False
    for concept in concepts:
        lateral: set[str] = set()
        for coding in concept.coding:
            if cat.normalise_system(coding.system) in (cat.SNOMED, ""):
                code = coding.code.strip()
                codes.add(code)
                if code in LATERALITY:
                    lateral.add(code)
            extension_sides(coding.extension, lateral)
        extension_sides(concept.extension, lateral)
        named = {LATERALITY[code] for code in lateral if code in LATERALITY}
        contradictory = contradictory or len(named) > 1  # left and right, or one and both
        sides |= named
    if contradictory:
        return BodySite(frozenset(codes), Side.UNKNOWN, contradictory=True)
    return BodySite(frozenset(codes), combined_side(sides))


@dataclass
class Values:
    """value[x] of an Observation or component, as the rules read it."""

    quantity: LabQuantity | None = None
    coded: bool | None = None
    codes: tuple[Coding, ...] = ()
    boolean: bool | None = None
    absent_reason: bool = False


def values_of(part: el.Resource | el.Component, codes: tuple[Coding, ...]) -> Values:
    """`part`'s value[x]; `codes` are its valueCodeableConcept's readable codings."""
    out = Values(codes=codes)
    if isinstance(part.valueQuantity, el.Quantity):
        out.quantity = lab_quantity(part.valueQuantity)
    if isinstance(part.valueString, str):
        parsed = string_value(part.valueString)
        if isinstance(parsed, LabQuantity):
            out.quantity = out.quantity or parsed
        elif parsed is True:
            out.coded = True
    if isinstance(part.valueInteger, int) and not isinstance(part.valueInteger, bool):
        out.quantity = out.quantity or LabQuantity(float(part.valueInteger), None, None)
    if isinstance(part.valueBoolean, bool):
        out.boolean = part.valueBoolean
    if codes:
        keys = {(c.system, c.code) for c in codes}
        if (cat.SNOMED, cat.POSITIVE_CODE) in keys:
            out.coded = True
        elif (cat.SNOMED, cat.NEGATIVE_CODE) in keys:
            out.coded = False
    out.absent_reason = part.dataAbsentReason is not el.UNSET
    return out


def negated(values: Values, interpretation: frozenset[str]) -> bool:
    """Explicit absence (§2 "Presence"): valueBoolean false, SNOMED 373067005 No, or NEG."""
    if values.boolean is False:
        return True
    if any(c.code == cat.NO_CODE and c.system == cat.SNOMED for c in values.codes):
        return True
    return "NEG" in interpretation
