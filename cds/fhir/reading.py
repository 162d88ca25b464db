"""FHIR R4 resources -> an `Extraction` of findings (clinical-rules.md §2 "Reading FHIR").

The one reading path. Each flattened resource is decoded once into `elements.Resource`,
screened by catalog code, and only then are the elements the rules read decoded, one by one:
- unreadable (skipped, counted, named) only for a malformed `code`, `status`, or a
  measurement's `value[x]` (an ABI's right/left component values);
- a malformed date makes the resource undated, a malformed `bodySite` its side unknown;
- any other malformed element is ignored and named under the card's caveats;
- elements no rule reads are never decoded.
The clinical meaning of what was read lives in `cds.core` (statements, measurements).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from ..core import findings as cat
from ..core.i18n import N_
from ..core.measurements import INTERPRETATION_SYSTEMS, LabResult
from ..core.measurements import Quantity as LabQuantity
from ..core.model import Caveat, Extraction, Finding, PatientFacts, Side, Unreadable
from ..core.policy import Policy
from ..core.statements import LATERALITY, Coding, Statement, StatementReader, side_of
from . import elements as el
from .bundle import Item
from .dates import age_on, parse_birth_date, parse_when

log = logging.getLogger(__name__)

COUNTED_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
IGNORED_OBSERVATION_STATUSES = frozenset({"entered-in-error", "cancelled", "registered", "unknown"})
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
INACTIVE_CLINICAL = frozenset({"inactive", "remission", "resolved"})
EXCLUDED_VERIFICATION = frozenset({"entered-in-error", "refuted"})
READ_TYPES = frozenset({"Observation", "Condition", "Patient"})
_POSITIVE_WORDS = frozenset({"positive", "pos", "pos.", "+", "detected"})
_COMPARATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "\u2264": "<=", "\u2265": ">="}

# Messages a card shows after an element path (translated there).
IS_MISSING = N_("is missing")
IS_MALFORMED = N_("is malformed")
NO_READABLE_CODING = N_("has no readable coding")
UNKNOWN_STATUS = N_("is not a known status")
NOT_A_RESOURCE = N_("is not a FHIR resource")
UNKNOWN_TYPE = N_("is not a FHIR resource type")
IGNORED = N_("is malformed: ignored")
UNDATED = N_("is malformed: the record counts as undated")
SIDE_UNKNOWN = N_("is malformed: side unknown")
AGE_UNKNOWN = N_("is malformed: age unknown")
READ_AS_ABSENT = N_("is malformed: read as absent")
for _message in ("is not a number", "is not a whole number", "is not a string", "is not true or false", "is not a list", "is not an object"):
    N_(_message)


@functools.lru_cache(maxsize=512)
def known_resource_type(name: str) -> bool:
    """Whether fhir.resources knows `name` as an R4 resource type."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(name)
    except (KeyError, ValueError):
        return False
    return issubclass(model, Resource)


class _Unreadable(Exception):
    """Raised inside the reader when an element that decides a finding is malformed."""

    def __init__(self, element: str, problem: str) -> None:
        super().__init__(element)
        self.element = element
        self.problem = problem


def _decode(raw: el.Raw | el.UnsetType, kind: type, element: str) -> object:
    """Decode one element; raise _Unreadable naming the element path on failure."""
    if raw is el.UNSET:
        return el.UNSET
    try:
        return el.decoder(kind).decode(raw)  # type: ignore[arg-type]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        sub, problem = el.problem(exc)
        raise _Unreadable(f"{element}.{sub}" if sub else element, problem) from exc


@dataclass
class _Resource:
    """One resource being read: its elements, its name, and the caveats it collects."""

    elements: el.Resource
    reference: str
    caveats: list[Caveat] = field(default_factory=list)

    def strict(self, name: str, kind: type) -> object:
        return _decode(getattr(self.elements, name), kind, name)

    def lenient(self, name: str, kind: type, problem: str = IGNORED) -> object:
        """Decode an element that decides nothing on its own: malformed = UNSET + a caveat."""
        try:
            return _decode(getattr(self.elements, name), kind, name)
        except _Unreadable as exc:
            self.caveats.append(Caveat(self.reference, exc.element, problem))
            return el.UNSET


def _codings(concept: el.CodeableConcept, element: str, res: _Resource) -> tuple[Coding, ...]:
    """The concept's readable codings; a malformed one is skipped and named."""
    out: list[Coding] = []
    for index, raw in enumerate(concept.coding):
        try:
            coding = el.decoder(el.Coding).decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            res.caveats.append(Caveat(res.reference, f"{element}.coding[{index}]", IGNORED))
            continue
        if coding.code:
            out.append(Coding(cat.normalise_system(coding.system), coding.code, coding.display))
    return tuple(out)


def _concept(raw: el.Raw | el.UnsetType, element: str, res: _Resource, *, strict: bool) -> tuple[Coding, ...]:
    if raw is el.UNSET:
        return ()
    try:
        concept = _decode(raw, el.CodeableConcept, element)
    except _Unreadable:
        if strict:
            raise
        res.caveats.append(Caveat(res.reference, element, IGNORED))
        return ()
    assert isinstance(concept, el.CodeableConcept)
    return _codings(concept, element, res)


def _when(res: _Resource, names: Iterable[str], period: str | None) -> tuple[datetime | None, datetime | None]:
    """(latest date the resource gives, its first onset/effective date) per §2."""
    dates: list[datetime] = []
    first: datetime | None = None
    for name in names:
        value = res.lenient(name, str, UNDATED)
        if isinstance(value, str):
            parsed = parse_when(value)
            if parsed is None:
                res.caveats.append(Caveat(res.reference, name, UNDATED))
            else:
                dates.append(parsed)
                first = first or parsed
    if period is not None:
        value = res.lenient(period, el.Period, UNDATED)
        if isinstance(value, el.Period):
            for part in (value.start, value.end):
                if isinstance(part, str):
                    parsed = parse_when(part)
                    if parsed is None:
                        res.caveats.append(Caveat(res.reference, period, UNDATED))
                    else:
                        dates.append(parsed)
    return (max(dates) if dates else None), first


def _sides_of_extensions(raws: list[el.Raw], sides: set[str]) -> None:
    for raw in raws:
        ext = el.decoder(el.Extension).decode(raw)
        for part in (ext.valueCodeableConcept, ext.valueCoding):
            if part is el.UNSET:
                continue
            if part is ext.valueCoding:
                coding = el.decoder(el.Coding).decode(part)
                sides.add(coding.code)
            else:
                concept = el.decoder(el.CodeableConcept).decode(part)
                sides.update(el.decoder(el.Coding).decode(c).code for c in concept.coding)


def _site(concepts: list[el.Raw]) -> tuple[frozenset[str], set[str]]:
    """SNOMED site codes and laterality codes of bodySite (codings and extensions, §2)."""
    codes: set[str] = set()
    lateral: set[str] = set()
    for raw in concepts:
        concept = el.decoder(el.CodeableConcept).decode(raw)
        for coding_raw in concept.coding:
            coding = el.decoder(el.Coding).decode(coding_raw)
            if cat.normalise_system(coding.system) in (cat.SNOMED, ""):
                codes.add(coding.code)
            _sides_of_extensions(coding.extension, lateral)
        _sides_of_extensions(concept.extension, lateral)
    return frozenset(codes), lateral | (codes & LATERALITY.keys())


def _body_site(res: _Resource, *, many: bool) -> tuple[frozenset[str] | None, Side]:
    """(site codes, side); a malformed bodySite reads as side unknown, site unknown (None)."""
    raw = res.elements.bodySite
    if raw is el.UNSET:
        return frozenset(), Side.UNKNOWN
    try:
        concepts = el.decoder(list[el.Raw]).decode(raw) if many else [raw]
        codes, lateral = _site(concepts)  # type: ignore[arg-type]
    except (msgspec.ValidationError, msgspec.DecodeError):
        res.caveats.append(Caveat(res.reference, "bodySite", SIDE_UNKNOWN))
        return None, Side.UNKNOWN
    return codes, side_of(lateral)


def _interpretation(raw: el.Raw | el.UnsetType, element: str, res: _Resource) -> frozenset[str]:
    if raw is el.UNSET:
        return frozenset()
    try:
        concepts = el.decoder(list[el.CodeableConcept]).decode(raw)  # type: ignore[arg-type]
        codes = {
            coding.code.upper()
            for concept in concepts
            for coding in (el.decoder(el.Coding).decode(c) for c in concept.coding)
            if coding.system in INTERPRETATION_SYSTEMS
        }
    except (msgspec.ValidationError, msgspec.DecodeError):
        res.caveats.append(Caveat(res.reference, element, IGNORED))
        return frozenset()
    return frozenset(codes)


def _ranges(raw: el.Raw | el.UnsetType, element: str, res: _Resource) -> tuple[tuple[LabQuantity, ...], tuple[LabQuantity, ...]]:
    if raw is el.UNSET:
        return (), ()
    try:
        ranges = el.decoder(list[el.Range]).decode(raw)  # type: ignore[arg-type]
    except (msgspec.ValidationError, msgspec.DecodeError):
        res.caveats.append(Caveat(res.reference, element, IGNORED))
        return (), ()
    highs = tuple(_lab_quantity(r.high) for r in ranges if isinstance(r.high, el.Quantity))
    lows = tuple(_lab_quantity(r.low) for r in ranges if isinstance(r.low, el.Quantity))
    return highs, lows


def _lab_quantity(q: el.Quantity) -> LabQuantity:
    code = q.code.strip() if isinstance(q.code, str) and q.code.strip() else None
    unit = q.unit.strip() if isinstance(q.unit, str) and q.unit.strip() else None
    # The UCUM code is preferred; the human unit when the code is missing or unknown.
    from ..core.units import display_unit

    chosen = code if code is not None and (unit is None or display_unit(code) is not None) else unit
    comparator = _COMPARATORS.get(q.comparator) if isinstance(q.comparator, str) else None
    value = float(q.value) if isinstance(q.value, float) else None
    return LabQuantity(value, chosen, comparator)


def _string_value(text: str) -> LabQuantity | bool | None:
    """A valueString: a number with an optional comparator and unit (">20000 ng/mL"), a
    qualitative "Positive" (True), or None."""
    stripped = text.strip()
    comparator = None
    for sign in (">=", "<=", "\u2265", "\u2264", ">", "<"):
        if stripped.startswith(sign):
            comparator, stripped = _COMPARATORS[sign], stripped[len(sign) :].strip()
            break
    number, _, unit = stripped.partition(" ")
    try:
        value = float(number)
    except ValueError:
        return True if text.strip().lower() in _POSITIVE_WORDS else None
    return LabQuantity(value, unit.strip() or None, comparator)


@dataclass
class _Values:
    """The value[x] of an Observation or component, decoded strictly for measurements."""

    quantity: LabQuantity | None = None
    coded: bool | None = None
    codes: tuple[Coding, ...] = ()
    boolean: bool | None = None
    absent_reason: bool = False


def _values(part: el.Resource | el.Component, res: _Resource, prefix: str, *, measured: bool) -> _Values:
    """value[x]: strict for a measurement (a malformed value makes the resource unreadable),
    lenient otherwise (a malformed value of a coded finding reads as present, conservative)."""
    out = _Values()

    def read(name: str, kind: type) -> object:
        raw = getattr(part, name)
        try:
            return _decode(raw, kind, prefix + name)
        except _Unreadable:
            if measured:
                raise
            res.caveats.append(Caveat(res.reference, prefix + name, IGNORED))
            return el.UNSET

    quantity = read("valueQuantity", el.Quantity)
    if isinstance(quantity, el.Quantity):
        if quantity.value is el.UNSET and measured:
            raise _Unreadable(prefix + "valueQuantity.value", IS_MISSING)
        out.quantity = _lab_quantity(quantity)
    text = read("valueString", str)
    if isinstance(text, str):
        parsed = _string_value(text)
        if isinstance(parsed, LabQuantity):
            out.quantity = out.quantity or parsed
        elif parsed is True:
            out.coded = True
    integer = read("valueInteger", int)
    if isinstance(integer, int) and not isinstance(integer, bool):
        out.quantity = out.quantity or LabQuantity(float(integer), None, None)
    boolean = read("valueBoolean", bool)
    if isinstance(boolean, bool):
        out.boolean = boolean
    if part.valueCodeableConcept is not el.UNSET:
        out.codes = _concept(part.valueCodeableConcept, prefix + "valueCodeableConcept", res, strict=measured)
        keys = {(c.system, c.code) for c in out.codes}
        if (cat.SNOMED, cat.POSITIVE_CODE) in keys:
            out.coded = True
        elif (cat.SNOMED, cat.NEGATIVE_CODE) in keys:
            out.coded = False
    out.absent_reason = part.dataAbsentReason is not el.UNSET
    return out


def _negated(values: _Values, interpretation: frozenset[str]) -> bool:
    """Explicit absence (§2 "Presence"): valueBoolean false, SNOMED 373067005 No, or NEG."""
    if values.boolean is False:
        return True
    if any(c.code == cat.NO_CODE and c.system == cat.SNOMED for c in values.codes):
        return True
    return "NEG" in interpretation


@dataclass
class Reader:
    """Reads flattened resources at one evaluation time under one policy."""

    policy: Policy
    now: datetime
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)
    patient: PatientFacts | None = None
    ignored: int = 0
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            self.now = self.now.replace(tzinfo=UTC)
        self.statements = StatementReader(self.policy, self.now)
        self.catalog = cat.catalog_for(self.policy)

    def read_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.read(item)

    def read(self, item: Item) -> None:
        """Read one resource; never raises for bad data (§1.1)."""
        try:
            elements = el.decoder(el.Resource).decode(item.raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            self.unreadable.append(Unreadable(item.locator, "", NOT_A_RESOURCE))
            return
        try:
            self._read(elements, item)
        except _Unreadable as exc:
            reference = _reference(elements, item)
            self.unreadable.append(Unreadable(reference, exc.element, exc.problem))
        except Exception:  # §1.1: a reading bug in one resource must not drop the others
            log.exception("could not read a resource", extra={"locator": item.where})
            self.unreadable.append(Unreadable(_reference(elements, item), "", IS_MALFORMED))

    def _read(self, elements: el.Resource, item: Item) -> None:
        resource_type = _decode(elements.resourceType, str, "resourceType")
        if not isinstance(resource_type, str) or not resource_type:
            raise _Unreadable("resourceType", IS_MISSING)
        if resource_type not in READ_TYPES:
            if not known_resource_type(resource_type):
                raise _Unreadable("resourceType", UNKNOWN_TYPE)
            self.ignored += 1
            return
        res = _Resource(elements, _reference(elements, item))
        if resource_type == "Observation":
            made = self._observation(res)
        elif resource_type == "Condition":
            made = self._condition(res)
        else:
            made = self._patient(res)
        if made:
            self.caveats.extend(res.caveats)

    # -- Observation ---------------------------------------------------------------------
    def _observation(self, res: _Resource) -> bool:
        status = res.strict("status", str)
        if status is el.UNSET:
            raise _Unreadable("status", IS_MISSING)
        assert isinstance(status, str)
        if status in IGNORED_OBSERVATION_STATUSES:
            self.ignored += 1
            return False
        if status not in COUNTED_OBSERVATION_STATUSES:
            raise _Unreadable("status", UNKNOWN_STATUS)
        codes = self._code(res)
        components = self._components(res)
        values_codes = _concept(res.elements.valueCodeableConcept, "valueCodeableConcept", res, strict=False)
        if not self._relevant(codes, values_codes, components):
            return False
        measure = self.statements.first_measurement(codes)
        values = _values(res.elements, res, "", measured=measure is not None)
        interpretation = _interpretation(res.elements.interpretation, "interpretation", res)
        highs, lows = _ranges(res.elements.referenceRange, "referenceRange", res) if measure else ((), ())
        when, effective = _when(res, ("effectiveDateTime", "effectiveInstant", "issued"), "effectivePeriod")
        site_codes, side = _body_site(res, many=False)
        subject = self._subject(res)
        abi_components: tuple[tuple[LabQuantity, Side], ...] = ()
        if measure is not None and measure.analyte == "abi":
            abi_components = self._abi_components(res, components)
        lab = None
        if measure is not None:
            lab = LabResult(
                quantity=values.quantity,
                coded=values.coded,
                absent_reason=values.absent_reason,
                interpretation=interpretation,
                reference_high=highs,
                reference_low=lows,
                components=abi_components,
            )
        base = dict(
            reference=res.reference,
            resource_type="Observation",
            when=when,
            anchor=effective,
            site_codes=site_codes,
            side=side,
            subject=subject,
            status=status,
        )
        statements = [
            Statement(
                codes=codes,
                value_codes=values.codes,
                negated=_negated(values, interpretation),
                lab=lab,
                **base,  # type: ignore[arg-type]
            )
        ]
        if measure is None or measure.analyte != "abi":
            for index, component in components:
                statements.append(self._component(res, index, component, base))
        for statement in statements:
            self.findings.extend(self.statements.read(statement))
        return True

    def _code(self, res: _Resource) -> tuple[Coding, ...]:
        if res.elements.code is el.UNSET:
            raise _Unreadable("code", IS_MISSING)
        codes = _concept(res.elements.code, "code", res, strict=True)
        if not codes:
            raise _Unreadable("code", NO_READABLE_CODING)
        return codes

    def _components(self, res: _Resource) -> list[tuple[int, el.Component]]:
        raw = res.elements.component
        if raw is el.UNSET:
            return []
        try:
            items = el.decoder(list[el.Raw]).decode(raw)  # type: ignore[arg-type]
        except (msgspec.ValidationError, msgspec.DecodeError):
            res.caveats.append(Caveat(res.reference, "component", IGNORED))
            return []
        out = []
        for index, item in enumerate(items):
            try:
                out.append((index, el.decoder(el.Component).decode(item)))
            except (msgspec.ValidationError, msgspec.DecodeError):
                res.caveats.append(Caveat(res.reference, f"component[{index}]", IGNORED))
        return out

    def _relevant(self, codes: tuple[Coding, ...], value_codes: tuple[Coding, ...], components: list[tuple[int, el.Component]]) -> bool:
        """The screen: does any coding name a finding, an analyte or a generic code?"""
        knows = self.catalog.knows
        if any(knows(c.system, c.code) for c in (*codes, *value_codes)):
            return True
        for _, component in components:
            for raw in (component.code, component.valueCodeableConcept):
                if raw is el.UNSET:
                    continue
                try:
                    concept = el.decoder(el.CodeableConcept).decode(raw)  # type: ignore[arg-type]
                    if any(
                        knows(coding.system, coding.code)
                        for coding in (el.decoder(el.Coding).decode(c) for c in concept.coding)
                    ):
                        return True
                except (msgspec.ValidationError, msgspec.DecodeError):
                    continue
        return False

    def _component(self, res: _Resource, index: int, component: el.Component, base: dict[str, object]) -> Statement:
        prefix = f"component[{index}]."
        try:
            codes = _concept(component.code, prefix + "code", res, strict=True)
            measure = self.statements.first_measurement(codes)
            values = _values(component, res, prefix, measured=measure is not None)
        except _Unreadable as exc:
            # A malformed component is ignored, not the resource that holds it (§2).
            res.caveats.append(Caveat(res.reference, exc.element, IGNORED))
            return Statement(codes=(), **base)  # type: ignore[arg-type]
        interpretation = _interpretation(component.interpretation, prefix + "interpretation", res)
        lab = None
        if measure is not None:
            highs, lows = _ranges(component.referenceRange, prefix + "referenceRange", res)
            lab = LabResult(
                quantity=values.quantity,
                coded=values.coded,
                absent_reason=values.absent_reason,
                interpretation=interpretation,
                reference_high=highs,
                reference_low=lows,
            )
        return Statement(
            codes=codes,
            value_codes=values.codes,
            negated=_negated(values, interpretation),
            lab=lab,
            **base,  # type: ignore[arg-type]
        )

    def _abi_components(self, res: _Resource, components: list[tuple[int, el.Component]]) -> tuple[tuple[LabQuantity, Side], ...]:
        """An ABI's right/left component values decide it: a malformed one is unreadable."""
        out: list[tuple[LabQuantity, Side]] = []
        for index, component in components:
            prefix = f"component[{index}]."
            quantity = _decode(component.valueQuantity, el.Quantity, prefix + "valueQuantity")
            if not isinstance(quantity, el.Quantity):
                continue
            codes = _concept(component.code, prefix + "code", res, strict=False)
            sides = {c.code for c in codes}
            try:
                _sides_of_extensions(component.extension, sides)
            except (msgspec.ValidationError, msgspec.DecodeError):
                res.caveats.append(Caveat(res.reference, prefix + "extension", IGNORED))
            side = side_of(sides)
            if side is Side.UNKNOWN:
                words = " ".join(c.display for c in codes).lower()
                if " left" in f" {words}":
                    side = Side.LEFT
                elif " right" in f" {words}":
                    side = Side.RIGHT
            out.append((_lab_quantity(quantity), side))
        return tuple(out)

    def _subject(self, res: _Resource) -> str | None:
        subject = res.lenient("subject", el.Reference)
        if isinstance(subject, el.Reference) and isinstance(subject.reference, str):
            return subject.reference
        return None

    # -- Condition -----------------------------------------------------------------------
    def _condition(self, res: _Resource) -> bool:
        codes = self._code(res)
        if not any(self.catalog.knows(c.system, c.code) for c in codes):
            return False
        verification = _concept(res.elements.verificationStatus, "verificationStatus", res, strict=False)
        if {c.code for c in verification} & EXCLUDED_VERIFICATION:
            self.ignored += 1
            return False
        clinical = {c.code for c in _concept(res.elements.clinicalStatus, "clinicalStatus", res, strict=False)}
        # An absent or unrecognised clinicalStatus counts as active (R4 allows none; conservative).
        active = bool(clinical & ACTIVE_CLINICAL) or not (clinical & INACTIVE_CLINICAL)
        when, onset = _when(res, ("onsetDateTime", "recordedDate"), "onsetPeriod")
        site_codes, side = _body_site(res, many=True)
        statement = Statement(
            reference=res.reference,
            resource_type="Condition",
            codes=codes,
            when=when,
            anchor=onset,
            site_codes=site_codes,
            side=side,
            subject=self._subject(res),
            active=active,
        )
        self.findings.extend(self.statements.read(statement))
        return True

    # -- Patient -------------------------------------------------------------------------
    def _patient(self, res: _Resource) -> bool:
        if self.patient is not None:
            return False
        birth = None
        text = res.lenient("birthDate", str, AGE_UNKNOWN)
        if isinstance(text, str):
            birth = parse_birth_date(text)
            if birth is None:
                res.caveats.append(Caveat(res.reference, "birthDate", AGE_UNKNOWN))
        age = age_on(birth, self.now.date()) if birth else None
        self.patient = PatientFacts(res.reference if "/" in res.reference else None, birth, age)
        return True

    def extraction(self) -> Extraction:
        return Extraction(
            findings=tuple(self.findings),
            patient=self.patient or PatientFacts(),
            evaluated_at=self.now,
            unreadable=tuple(self.unreadable),
            caveats=tuple(self.caveats),
            ignored=self.ignored,
            skipped_entries=tuple(self.skipped),
        )


def _reference(elements: el.Resource, item: Item) -> str:
    """`Type/id` when the resource names itself, else the entry's fullUrl or locator."""
    try:
        resource_type = el.decoder(str).decode(elements.resourceType) if elements.resourceType is not el.UNSET else ""  # type: ignore[arg-type]
        resource_id = el.decoder(str).decode(elements.id) if elements.id is not el.UNSET else ""  # type: ignore[arg-type]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return item.locator
    if resource_type and resource_id:
        return f"{resource_type}/{resource_id}"
    return item.locator


def read_items(items: Iterable[Item], *, policy: Policy, now: datetime, skipped: Iterable[str] = (), unreadable: Iterable[str] = ()) -> Extraction:
    """Read flattened resources into an Extraction (never raises for bad data)."""
    reader = Reader(policy, now)
    reader.skipped.extend(skipped)
    reader.unreadable.extend(Unreadable(locator, "", N_("is not a Bundle entry")) for locator in unreadable)
    reader.read_all(items)
    return reader.extraction()
