"""FHIR R4 resources -> an `Extraction` of findings (clinical-rules.md §2 "Reading FHIR").

The one reading path, over the typed elements of `cds.fhir.elements`. A resource is screened by
catalog code first; only a relevant one is read further. Per §2 "What makes a resource
unreadable", a resource is skipped, counted and named only when its `code`, its `status` or a
measurement's `value[x]` (an ABI's right/left component values) is malformed; a malformed date
makes it undated, a malformed `bodySite` its side unknown, and any other malformed element is
ignored and named under the card's caveats. The clinical meaning of what was read lives in
`cds.core` (statements, measurements).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeGuard

import msgspec

from ..core import findings as cat
from ..core.i18n import N_
from ..core.measurements import LabResult
from ..core.measurements import Quantity as LabQuantity
from ..core.model import Caveat, Extraction, Finding, PatientFacts, Side, Unreadable
from ..core.policy import Policy
from ..core.statements import Coding, Statement, StatementReader, side_of
from . import elements as el
from .bundle import Flattened, Item
from .dates import age_on, parse_birth_date, parse_when
from .values import (
    MALFORMED_BODY_SITE,
    NO_BODY_SITE,
    BodySite,
    Values,
    body_site,
    codings,
    extension_sides,
    interpretation_codes,
    lab_quantity,
    negated,
    reference_ranges,
    values_of,
)

log = logging.getLogger(__name__)

COUNTED_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
IGNORED_OBSERVATION_STATUSES = frozenset({"entered-in-error", "cancelled", "registered", "unknown"})
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
INACTIVE_CLINICAL = frozenset({"inactive", "remission", "resolved"})
EXCLUDED_VERIFICATION = frozenset({"entered-in-error", "refuted"})
_RECORDING_DATES = frozenset({"issued", "recordedDate"})  # when it was written, not when it began
_VALUE_ELEMENTS = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueInteger",
    "valueBoolean",
)

# Messages named after an element path on a card (translated there).
IS_MISSING = N_("is missing")
NO_READABLE_CODING = N_("has no readable coding")
UNKNOWN_STATUS = N_("is not a known status")
NOT_AN_ENTRY = N_("is not a Bundle entry")
UNKNOWN_TYPE = N_("is not a FHIR resource type")
COULD_NOT_BE_READ = N_("could not be read")
NESTED_BUNDLE = N_("is a Bundle inside a Bundle: its entries are not read")
ANOTHER_PATIENT = N_("names another patient: counted for a red flag, never against one")
# A literal reference to a Patient (relative, absolute, versioned): its id. Other forms (urn:uuid,
# contained, a Group) cannot be compared, so they are read as the hook's patient (conservative).
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")
IGNORED = N_("is malformed: ignored")
READ_AS_ACTIVE = N_("is malformed: read as absent, the condition counted as active")
READ_AS_COUNTED = N_("is malformed: read as absent, the condition counted")
UNDATED = N_("is malformed: the record counts as undated")
SIDE_UNKNOWN = N_("is malformed: side unknown")
LEFT_AND_RIGHT = N_("codes conflicting sides: side unknown")
AGE_UNKNOWN = N_("is malformed: age unknown")


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
    """An element that decides a finding is malformed: the resource is skipped (§2)."""

    def __init__(self, element: str, problem: str) -> None:
        super().__init__(element)
        self.element = element
        self.problem = problem


@dataclass(slots=True)
class _Resource:
    """One resource being read: its elements, its malformed elements by name (a copy of the
    item's), its name, the caveats it collects."""

    elements: el.Resource
    malformed: dict[str, el.Malformed]
    reference: str
    caveats: list[Caveat] = field(default_factory=list)

    def caveat(self, element: str, problem: str) -> None:
        self.caveats.append(Caveat(self.reference, element, problem))

    def ignore_malformed(self, *names: str, problem: str = IGNORED) -> None:
        if not self.malformed:
            return
        for name in names:
            if name in self.malformed:
                self.caveat(self.malformed[name].path, problem)

    def concept(self, name: str, *, strict: bool, problem: str = IGNORED) -> tuple[Coding, ...]:
        """A concept element's readable codings. A malformed concept keeps its readable
        codings (the bad ones are named); with none left it is unreadable when `strict`, else
        named with `problem`."""
        bad = self.malformed.get(name)
        if bad is None:
            return codings(getattr(self.elements, name))
        decoded = el.decode_concept(bad.raw)
        if decoded is None or not decoded[0].coding:
            if strict:
                raise _Unreadable(
                    bad.path if decoded is None else name,
                    bad.problem if decoded is None else NO_READABLE_CODING,
                )
            self.caveat(bad.path, problem)
            return ()
        concept, indexes = decoded
        for index in indexes:
            self.caveat(f"{name}.coding[{index}]", IGNORED)
        return codings(concept)


class Reader:
    """Reads flattened resources at one evaluation time under one policy."""

    def __init__(self, policy: Policy, now: datetime, patient_id: str | None = None) -> None:
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.patient_id = patient_id  # the hook's context.patientId, when there is one
        self._own_reference = f"Patient/{patient_id}"
        self.statements = StatementReader(policy, self.now)
        self.catalog = cat.catalog_for(policy)
        self.findings: list[Finding] = []
        self.unreadable: list[Unreadable] = []
        self.caveats: list[Caveat] = []
        self.patient: PatientFacts | None = None
        self.ignored = 0
        self._readers = {
            "Observation": self._observation,
            "Condition": self._condition,
            "Patient": self._patient,
        }

    def read(self, item: Item) -> None:
        """Read one resource; never raises for bad data (§1.1)."""
        if not item.malformed and self._passed_over(item.resource):
            return
        # A copy: reading names malformed components in it, and the item may be read again.
        malformed = dict(item.malformed) if item.malformed else item.malformed
        res = _Resource(item.resource, malformed, _reference(item))
        try:
            self._read(res)
        except _Unreadable as exc:
            self.unreadable.append(Unreadable(res.reference, exc.element, exc.problem))
        except Exception:  # §1.1: a reading bug in one resource must not drop the others
            log.exception("could not read a resource")
            self.unreadable.append(Unreadable(res.reference, "", COULD_NOT_BE_READ))

    def _passed_over(self, resource: el.Resource) -> bool:
        """The screen for the usual case, a well-formed Observation or Condition: True when it
        is ignored by status or names no finding, analyte or generic code (nothing more to
        read). One the reader counts unreadable (no status, no readable code) is read on."""
        if resource.resourceType == "Condition":
            code = resource.code
            return _has_readable_coding(code) and not any(
                self.catalog.knows(c.system, c.code.strip()) for c in code.coding
            )
        if resource.resourceType != "Observation":
            return False
        if resource.status in IGNORED_OBSERVATION_STATUSES:
            self.ignored += 1
            return True
        return (
            resource.status in COUNTED_OBSERVATION_STATUSES
            and _has_readable_coding(resource.code)
            and not _names_a_finding(resource, self.catalog)
        )

    def _read(self, res: _Resource) -> None:
        bad_type = res.malformed.get("resourceType")
        if bad_type is not None:
            raise _Unreadable(bad_type.path, bad_type.problem)
        resource_type = res.elements.resourceType
        if not isinstance(resource_type, str) or not resource_type:
            raise _Unreadable("resourceType", IS_MISSING)
        read = self._readers.get(resource_type)
        if read is None:
            if not known_resource_type(resource_type):
                raise _Unreadable("resourceType", UNKNOWN_TYPE)
            if resource_type == "Bundle":  # a batch-response, say: it may hold red flags
                raise _Unreadable("resourceType", NESTED_BUNDLE)
            self.ignored += 1
            return
        first = len(self.findings)
        if not read(res):
            return
        if resource_type != "Patient" and self._names_another_patient(res):
            # Its absences never speak against this patient's red flags; its presences still
            # count (a red flag is never dropped: the context id may be the wrong one), named.
            kept = [f for f in self.findings[first:] if f.present]
            del self.findings[first:]
            self.findings.extend(kept)
            res.caveat("subject", ANOTHER_PATIENT)
        self.caveats.extend(res.caveats)

    def _names_another_patient(self, res: _Resource) -> bool:
        """Does the subject name a Patient other than the hook's (context.patientId)?"""
        if self.patient_id is None:
            return False
        subject = _subject(res)
        if subject is None or subject == self._own_reference:  # the usual case, no regex
            return False
        found = _PATIENT_REFERENCE.search(subject)
        return found is not None and found.group(1) != self.patient_id

    # -- Observation ---------------------------------------------------------------------
    def _observation(self, res: _Resource) -> bool:
        status = self._status(res)
        if status is None:
            return False
        codes = self._code(res)
        value_codes = res.concept("valueCodeableConcept", strict=False)
        components = self._components(res)
        # A well-formed Observation passed the screen in `read`; one with a malformed element
        # is screened here, over the codings that could be read.
        if res.malformed and not self._relevant(codes, value_codes, components):
            return False
        measure = self.statements.first_measurement(codes)
        unreadable_value = None if measure is None else _unreadable_value(res, measure.analyte)
        if unreadable_value is not None:
            # Spec-silent, conservative: a value sent but not readable is also recorded as not
            # interpretable, so a D-dimer, CK, potassium or temperature still blocks self-care
            # (§1.7) and any other is named on the cards that read it.
            value_codes, components = (), []
        if measure is None:
            # A malformed value of a coded finding reads as present (conservative).
            res.ignore_malformed("valueQuantity", "valueString", "valueInteger", "valueBoolean")
        res.ignore_malformed("interpretation", "referenceRange", "subject", "dataAbsentReason")
        values = values_of(res.elements, value_codes) if unreadable_value is None else Values()
        interpretation = (
            interpretation_codes(res.elements.interpretation)
            if unreadable_value is None
            else frozenset()
        )
        when, effective = self._when(
            res, ("effectiveDateTime", "effectiveInstant", "issued"), "effectivePeriod"
        )
        site = self._body_site(res, many=False)
        lab = None
        if measure is not None:
            highs, lows = reference_ranges(res.elements.referenceRange)
            abi_parts = self._abi_components(res, components) if measure.analyte == "abi" else ()
            quantity = values.quantity if unreadable_value is None else _as_sent(res)
            lab = LabResult(
                quantity,
                values.coded,
                values.absent_reason,
                interpretation,
                highs,
                lows,
                abi_parts,
            )
        observation = Statement(
            reference=res.reference,
            resource_type="Observation",
            codes=codes,
            value_codes=values.codes,
            negated=negated(values, interpretation),
            lab=lab,
            when=when,
            anchor=effective,
            site_codes=site.codes,
            side=site.side,
            sides_conflict=site.contradictory,
            subject=_subject(res),
            status=status,
        )
        statements = [observation]
        if measure is None or measure.analyte != "abi":
            statements += [self._component(part, observation) for part in components]
        for statement in statements:
            self.findings.extend(self.statements.read(statement))
        if unreadable_value is not None:
            raise unreadable_value  # counted unreadable too, and named on the info card (§2)
        return True

    def _status(self, res: _Resource) -> str | None:
        bad = res.malformed.get("status")
        if bad is not None:
            raise _Unreadable(bad.path, bad.problem)
        status = res.elements.status
        if not isinstance(status, str):
            raise _Unreadable("status", IS_MISSING)
        if status in IGNORED_OBSERVATION_STATUSES:
            self.ignored += 1
            return None
        if status not in COUNTED_OBSERVATION_STATUSES:
            raise _Unreadable("status", UNKNOWN_STATUS)
        return status

    def _code(self, res: _Resource) -> tuple[Coding, ...]:
        if res.malformed.get("code") is None and res.elements.code is el.UNSET:
            raise _Unreadable("code", IS_MISSING)
        codes = res.concept("code", strict=True)
        if not codes:
            raise _Unreadable("code", NO_READABLE_CODING)
        return codes

    def _components(self, res: _Resource) -> list[el.Component]:
        bad = res.malformed.get("component")
        if bad is None:
            parts = res.elements.component
            return [] if parts is el.UNSET else parts
        try:
            raws = el.decoder(list[msgspec.Raw]).decode(bad.raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            res.caveat(bad.path, IGNORED)
            return []
        out: list[el.Component] = []
        for index, raw in enumerate(raws):
            try:
                out.append(el.decoder(el.Component).decode(raw))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                sub, problem = el.problem(exc)
                res.caveat(f"component[{index}]" + (f".{sub}" if sub else ""), IGNORED)
                res.malformed[f"component[{index}]"] = el.Malformed(
                    f"component[{index}].{sub}", problem, raw
                )
        return out

    def _relevant(
        self,
        codes: tuple[Coding, ...],
        value_codes: tuple[Coding, ...],
        components: list[el.Component],
    ) -> bool:
        """The screen of an Observation with a malformed element: does any readable coding
        name a finding, an analyte or a generic code?"""
        knows = self.catalog.knows
        if any(knows(c.system, c.code) for c in codes) or any(
            knows(c.system, c.code) for c in value_codes
        ):
            return True
        return any(
            knows(c.system, c.code)
            for part in components
            for c in (*codings(part.code), *codings(part.valueCodeableConcept))
        )

    def _component(self, part: el.Component, observation: Statement) -> Statement:
        """A component's statement: the Observation's, with the component's own codes, value
        and lab result in place of the Observation's."""
        codes = codings(part.code)
        measure = self.statements.first_measurement(codes)
        interpretation = interpretation_codes(part.interpretation)
        values = values_of(part, codings(part.valueCodeableConcept))
        lab = None
        if measure is not None:
            highs, lows = reference_ranges(part.referenceRange)
            lab = LabResult(
                values.quantity, values.coded, values.absent_reason, interpretation, highs, lows
            )
        return replace(
            observation,
            codes=codes,
            value_codes=values.codes,
            negated=negated(values, interpretation),
            lab=lab,
        )

    def _abi_components(
        self, res: _Resource, components: list[el.Component]
    ) -> tuple[tuple[LabQuantity, Side], ...]:
        """An ABI's right/left values decide it: a malformed one makes the resource unreadable."""
        for name, bad in res.malformed.items():
            if name.startswith("component"):
                raise _Unreadable(bad.path, bad.problem)
        out: list[tuple[LabQuantity, Side]] = []
        for part in components:
            if not isinstance(part.valueQuantity, el.Quantity):
                continue
            codes = codings(part.code)
            lateral = {c.code for c in codes}
            extension_sides(part.extension, lateral)
            side = side_of(lateral)
            if side is Side.UNKNOWN and isinstance(part.code, el.NamedConcept):
                named = part.code
                words = " " + " ".join(c.display for c in named.coding if c.code).lower()
                words += " " + named.text.lower()
                if " left" in words:
                    side = Side.LEFT
                elif " right" in words:
                    side = Side.RIGHT
            out.append((lab_quantity(part.valueQuantity), side))
        return tuple(out)

    def _when(
        self, res: _Resource, names: tuple[str, ...], period: str
    ) -> tuple[datetime | None, datetime | None]:
        """(the latest date the resource gives, its first onset or effective date), §2."""
        res.ignore_malformed(*names, period, problem=UNDATED)
        elements = res.elements
        texts = [(name, getattr(elements, name)) for name in names]
        span = getattr(elements, period)
        if isinstance(span, el.Period):
            texts += ((period, span.start), (period, span.end))
        latest: datetime | None = None
        first: datetime | None = None
        for name, text in texts:
            if not isinstance(text, str):
                continue
            parsed = parse_when(text)
            if parsed is None:
                res.caveat(name, UNDATED)
                continue
            if latest is None or parsed > latest:
                latest = parsed
            if first is None and name not in _RECORDING_DATES:
                first = parsed
        return latest, first

    def _body_site(self, res: _Resource, *, many: bool) -> BodySite:
        """The site codes and side; a malformed bodySite reads as side unknown, site unknown
        (codes None)."""
        raw = res.elements.bodySite
        if raw is el.UNSET:
            return NO_BODY_SITE
        kind = list[el.CodeableConcept] if many else el.CodeableConcept
        try:
            decoded = el.decoder(kind).decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            res.caveat("bodySite", SIDE_UNKNOWN)
            return MALFORMED_BODY_SITE
        site = body_site(decoded if many else [decoded])
        if site.contradictory:
            res.caveat("bodySite", LEFT_AND_RIGHT)
        return site

    # -- Condition -----------------------------------------------------------------------
    def _condition(self, res: _Resource) -> bool:
        codes = self._code(res)
        # A well-formed Condition passed the screen in `read`; one with a malformed element is
        # screened here, over the codings that could be read.
        if res.malformed and not any(self.catalog.knows(c.system, c.code) for c in codes):
            return False
        # A malformed clinical or verification status reads as absent: counted, active (§2).
        verification = {
            c.code for c in res.concept("verificationStatus", strict=False, problem=READ_AS_COUNTED)
        }
        if verification & EXCLUDED_VERIFICATION:
            self.ignored += 1
            return False
        clinical = {
            c.code for c in res.concept("clinicalStatus", strict=False, problem=READ_AS_ACTIVE)
        }
        active = bool(clinical & ACTIVE_CLINICAL) or not (clinical & INACTIVE_CLINICAL)
        res.ignore_malformed("subject")
        when, onset = self._when(res, ("onsetDateTime", "recordedDate"), "onsetPeriod")
        site = self._body_site(res, many=True)
        statement = Statement(
            reference=res.reference,
            resource_type="Condition",
            codes=codes,
            when=when,
            anchor=onset,
            site_codes=site.codes,
            side=site.side,
            sides_conflict=site.contradictory,
            subject=_subject(res),
            active=active,
        )
        self.findings.extend(self.statements.read(statement))
        return True

    # -- Patient -------------------------------------------------------------------------
    def _patient(self, res: _Resource) -> bool:
        if self.patient is not None:
            return False
        res.ignore_malformed("birthDate", problem=AGE_UNKNOWN)
        birth = None
        if isinstance(res.elements.birthDate, str):
            birth = parse_birth_date(res.elements.birthDate)
            if birth is None:
                res.caveat("birthDate", AGE_UNKNOWN)
        age = age_on(birth, self.now.date()) if birth else None
        reference = res.reference if isinstance(res.elements.id, str) else None
        self.patient = PatientFacts(reference, birth, age)
        return True


def _as_sent(res: _Resource) -> LabQuantity | None:
    """A malformed valueQuantity's value and unit as sent, for the card to show ("2,3
    mmol/L"); never compared with anything."""
    bad = res.malformed.get("valueQuantity")
    if bad is None:
        return None
    try:
        sent = el.decoder(dict[str, msgspec.Raw]).decode(bad.raw)
    except msgspec.DecodeError:  # ValidationError too: not an object
        return None
    value = sent.get("value")
    text = None
    if value is not None:
        decoded = msgspec.json.decode(value)
        if isinstance(decoded, str):
            text = decoded.strip() or None
        elif isinstance(decoded, int | float) and not isinstance(decoded, bool):
            text = bytes(value).decode()  # its JSON text: "1234567", not "1.23457e+06"
    unit = _string_as_sent(sent.get("unit")) or _string_as_sent(sent.get("code"))
    return LabQuantity(None, unit, text=text)


def _string_as_sent(raw: msgspec.Raw | None) -> str | None:
    decoded = None if raw is None else msgspec.json.decode(raw)
    return (decoded.strip() or None) if isinstance(decoded, str) else None


def _unreadable_value(res: _Resource, analyte: str) -> _Unreadable | None:
    """Why a measurement's value cannot be read (§2: the resource is then unreadable)."""
    for name in _VALUE_ELEMENTS:
        bad = res.malformed.get(name)
        if bad is not None:
            return _Unreadable(bad.path, bad.problem)
    quantity = res.elements.valueQuantity
    if isinstance(quantity, el.Quantity) and quantity.value is el.UNSET and analyte != "abi":
        return _Unreadable("valueQuantity.value", IS_MISSING)
    return None


def _has_readable_coding(code: el.CodeableConcept | el.UnsetType) -> TypeGuard[el.CodeableConcept]:
    """§2: a `code` with no coding that has a code string (text only, none at all) makes the
    resource unreadable, so the screen must not pass it over. A loop, not `any()`: this runs
    for every screened resource, and a generator per call is costly there."""
    if code is el.UNSET:
        return False
    for coding in code.coding:  # noqa: SIM110 (see the docstring)
        if coding.code:
            return True
    return False


def _names_a_finding(resource: el.Resource, catalog: cat.Catalog) -> bool:
    """Does any coding of a well-formed Observation (code, value, components) name a finding,
    an analyte or a generic code?"""
    concepts: tuple[el.CodeableConcept | el.UnsetType, ...] = (
        resource.code,
        resource.valueCodeableConcept,
    )
    if resource.component is not el.UNSET:
        concepts += tuple(
            concept
            for part in resource.component
            for concept in (part.code, part.valueCodeableConcept)
        )
    # Most screened codes are no catalog code string at all: one set lookup settles them
    # before the call to `knows` (which tests it again).
    strings = catalog.code_strings
    for concept in concepts:
        if concept is not el.UNSET:
            for coding in concept.coding:
                code = coding.code
                if code in strings:
                    if catalog.knows(coding.system, code):
                        return True
                elif code != code.strip():
                    return True  # read on: `codings` reads it without its spaces
    return False


def _subject(res: _Resource) -> str | None:
    subject = res.elements.subject
    if isinstance(subject, el.Reference) and isinstance(subject.reference, str):
        return subject.reference
    return None


# R4 `id`: what a card may cite as Type/id; any other text is no id (cited by its locator).
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _reference(item: Item) -> str:
    """`Type/id` when the resource names itself with a valid id, else the entry's fullUrl or
    locator."""
    resource = item.resource
    if (
        isinstance(resource.resourceType, str)
        and isinstance(resource.id, str)
        and _FHIR_ID.fullmatch(resource.id)
    ):
        return f"{resource.resourceType}/{resource.id}"
    return item.locator


def read(
    flattened: Flattened, *, policy: Policy, now: datetime, patient_id: str | None = None
) -> Extraction:
    """Read flattened resources into an Extraction (never raises for bad data). With the
    hook's `patient_id`, a record naming another patient counts only where it is present."""
    reader = Reader(policy, now, patient_id)
    for item in flattened.items:
        reader.read(item)
    unreadable = [Unreadable(locator, "", NOT_AN_ENTRY) for locator in flattened.unreadable]
    return Extraction(
        findings=tuple(reader.findings),
        patient=reader.patient or PatientFacts(),
        evaluated_at=reader.now,
        unreadable=tuple(unreadable + reader.unreadable),
        caveats=tuple(reader.caveats),
        ignored=reader.ignored,
        skipped_entries=tuple(flattened.skipped),
    )
