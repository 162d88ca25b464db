"""Raw FHIR R4 JSON -> Extraction (clinical-rules.md §2 "Reading FHIR into findings").

The only module importing fhir.resources (R4B models). Each resource is validated on its
own; one that fails is skipped and counted in `unreadable` with a PHI-free note, never
raised, so a malformed neighbour never hides a red flag (§1.1).
"""

from __future__ import annotations

import calendar
import functools
import logging
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Required

from annotated_types import MinLen
from fhir.resources.R4B import fhirtypes, get_fhir_model_class
from fhir_core import types as ft
from pydantic import AfterValidator, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import core_schema
from typing_extensions import TypedDict

from . import findings as cat
from . import units
from .config import Settings
from .model import (
    LOCAL_FINDING_SYSTEM_SUFFIX,
    TAG_ACTIVE_CONDITION,
    TAG_BLOCKS_SELF_CARE,
    TAG_DDU,
    TAG_HEART_RATE,
    TAG_MEASURED,
    Code,
    Extraction,
    Finding,
    Measurement,
    PatientFacts,
    Side,
)

log = logging.getLogger(__name__)

READ_TYPES = frozenset({"Observation", "Condition", "Patient"})
_ABSENT = object()  # a key not sent at all (unlike an explicit JSON null)
_NO_CODINGS: list[object] = []  # a CodeableConcept without `coding` (never written to)
COUNTED_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
IGNORED_OBSERVATION_STATUSES = frozenset({"entered-in-error", "cancelled", "registered", "unknown"})
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
INACTIVE_CLINICAL = frozenset({"inactive", "remission", "resolved"})
EXCLUDED_VERIFICATION = frozenset({"entered-in-error", "refuted"})

# Interpretation codes (HL7 v3 ObservationInterpretation; v2 0078 spells them the same).
INTERPRETATION_SYSTEMS = frozenset(
    {
        "",
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "http://hl7.org/fhir/v3/ObservationInterpretation",
        "http://terminology.hl7.org/CodeSystem/v2-0078",
        "http://hl7.org/fhir/v2/0078",
    }
)
_HIGH = frozenset({"H", "HH", "HU"})
_LOW = frozenset({"L", "LL", "LU"})
_ABNORMAL = frozenset({"A", "AA"})
_POSITIVE = frozenset({"POS", "DET"})
_NEGATIVE = frozenset({"NEG", "ND"})
_CRITICAL = frozenset({"LL", "HH", "LU", "HU"})

# Analytes whose red flag is a high value (the rest: a low value); ABI has no direction.
_HIGH_ANALYTES = frozenset(
    {cat.TEMPERATURE, cat.HEART_RATE, cat.D_DIMER, cat.CK, cat.TSH, cat.CALF_CIRCUMFERENCE}
)
# Analytes whose referenceRange is preferred over the default cut-off (labs). Vital-sign
# reference ranges are normal ranges, not the spec's red-flag cut-offs, so they are not used.
_RANGE_ANALYTES = frozenset(
    {cat.D_DIMER, cat.CK, cat.TSH, cat.POTASSIUM, cat.MAGNESIUM, cat.CALCIUM}
)
_BLOCKING_ANALYTES = frozenset({cat.D_DIMER, cat.CK, cat.POTASSIUM, cat.TEMPERATURE})
_ANALYTE_LABEL = {
    cat.TEMPERATURE: "Temperature",
    cat.SPO2: "SpO2",
    cat.HEART_RATE: "Heart rate",
    cat.D_DIMER: "D-dimer",
    cat.CK: "CK",
    cat.ABI: "ABI",
    cat.TSH: "TSH",
    cat.POTASSIUM: "Potassium",
    cat.MAGNESIUM: "Magnesium",
    cat.CALCIUM: "Calcium",
    cat.CALF_CIRCUMFERENCE: "Calf circumference difference",
}
_SIDE_TEXT = {Side.LEFT: "left", Side.RIGHT: "right", Side.BILATERAL: "both legs"}
_LATERALITY = {
    cat.LEFT_CODE: Side.LEFT,
    cat.RIGHT_CODE: Side.RIGHT,
    cat.BILATERAL_CODE: Side.BILATERAL,
}

_NUMBER = re.compile(r"^\s*(<=|>=|<|>|\u2264|\u2265)?\s*([+-]?\d+(?:\.\d+)?)\s*(.*?)\s*$")
_COMPARATOR_SPELLING = {"\u2264": "<=", "\u2265": ">="}
_POSITIVE_WORDS = frozenset({"positive", "pos", "pos.", "+", "detected"})
_NAIVE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_NO_SECONDS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})$")
_DATE_FIELDS = (
    "effectiveDateTime",
    "effectiveInstant",
    "issued",
    "onsetDateTime",
    "recordedDate",
    "abatementDateTime",
)
_PERIOD_FIELDS = ("effectivePeriod", "onsetPeriod", "abatementPeriod")


class _BundleResource(dict[str, Any]):
    """A Bundle entry's resource that remembers the entry's fullUrl (for id-less resources)."""

    full_url: str | None = None


def bundle_resources(bundle: Mapping[str, Any]) -> list[object]:
    """The entries' `resource` values of a Bundle (any type), in order; never raises.

    A dict resource comes back as a dict that also carries the entry's fullUrl, so a resource
    without an id can still be referenced on a card. An entry that is not a JSON object comes
    back as it is, so `extract` counts it unreadable (§1.1); an entry with no `resource` (a
    search outcome) is left out.
    """
    entries = bundle.get("entry") if isinstance(bundle, Mapping) else None
    if not isinstance(entries, list):
        return []
    out: list[object] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            out.append(entry)  # not an entry at all: counted unreadable, as in a prefetch
            continue
        if "resource" not in entry:
            continue
        resource = entry["resource"]
        full_url = entry.get("fullUrl")
        if isinstance(resource, dict) and isinstance(full_url, str) and full_url:
            wrapped = _BundleResource(resource)
            wrapped.full_url = full_url
            out.append(wrapped)
        else:
            out.append(resource)
    return out


def validate_resource(resource: Mapping[str, Any]) -> None:
    """Validate any R4 resource by its resourceType with the R4B models.

    Raises ValueError naming the resource type and the failing fields.
    """
    if not isinstance(resource, Mapping):
        raise ValueError("not a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise ValueError("resourceType missing")
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError as exc:
        raise ValueError(f"unknown resourceType {resource_type!r}") from exc
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(resource)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"{resource_type}: {problems}") from exc


def extract(resources: Iterable[object], *, now: datetime, settings: Settings) -> Extraction:
    """Read raw FHIR resources into Findings and PatientFacts (§2); never raises for bad data.

    Unparseable resources are counted in `unreadable` with notes; resources filtered by status
    or of other types are counted in `ignored`.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    reader = _Reader(now, settings)
    read, codes = reader.read, reader.codes
    passed_over = 0
    for index, resource in enumerate(resources):
        if _plainly_unrelated(resource, codes):
            passed_over += 1
        else:
            read(index, resource)
    reader.count += passed_over
    return Extraction(
        findings=tuple(reader.findings),
        patient=reader.patient or PatientFacts(),
        evaluated_at=now,
        unreadable=reader.unreadable,
        unreadable_notes=tuple(reader.notes),
        ignored=reader.ignored,
        resources_read=reader.count,
    )


def _plainly_unrelated(resource: object, codes: frozenset[str]) -> bool:
    """True only for a resource `_Reader.read` passes over without a trace, in its plainest
    shape: an Observation with a counted status and no component, or a Condition, whose
    concepts (`code`, and an Observation's `valueCodeableConcept`) are absent or plain dicts
    with a list of plain-dict codings whose code strings are not in `codes` (`_Reader.codes`).
    Anything else answers False and the reader decides.

    Most of a request's resources end here, so this is `read` + `_unrelated_observation`
    (or `_condition`'s first check) without their calls and generality;
    tests/test_prefilter.py checks it never says True where the reader would read, ignore or
    count something.
    """
    if type(resource) is not dict:
        return False
    resource_type = resource.get("resourceType")
    if resource_type == "Observation":
        status = resource.get("status")
        if type(status) is not str or status not in COUNTED_OBSERVATION_STATUSES:
            return False
        if "component" in resource:
            return False
        concepts: tuple[object, ...] = (
            resource.get("code"),
            resource.get("valueCodeableConcept"),
        )
    elif resource_type == "Condition":
        concepts = (resource.get("code"),)
    else:
        return False
    for concept in concepts:
        if concept is None:
            continue
        if type(concept) is not dict:
            return False
        coding = concept.get("coding", _NO_CODINGS)
        if type(coding) is not list:
            return False
        for item in coding:
            if type(item) is not dict:
                return False
            system = item.get("system", "")
            code = item.get("code", "")
            if type(system) is not str or type(code) is not str or code in codes:
                return False
    return True


# --------------------------------------------------------------------------- raw helpers


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _period_bounds(period: object) -> tuple[object, object]:
    """A raw Period's start and end (None for what is not there)."""
    if period is None:
        return None, None
    bounds = _as_dict(period)
    return bounds.get("start"), bounds.get("end")


def _as_dict(value: object) -> Mapping[str, Any]:
    return value if (type(value) is dict or isinstance(value, Mapping)) else {}


def _codings(concept: object) -> list[tuple[str, str, str]]:
    """(system, code, display) of a CodeableConcept (or Coding) already validated."""
    if type(concept) is not dict:
        if concept is None:
            return []
        concept = _as_dict(concept)
    if "coding" in concept:
        items = concept["coding"]
        if type(items) is not list:
            items = _as_list(items)
    elif "code" in concept:
        items = [concept]
    else:
        return []
    out = []
    for coding in items:
        if type(coding) is not dict:
            coding = _as_dict(coding)
        code = coding.get("code")
        if isinstance(code, str) and code:
            system = coding.get("system")
            display = coding.get("display")
            out.append(
                (
                    system if isinstance(system, str) else "",
                    code,
                    display if isinstance(display, str) else "",
                )
            )
    return out


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            return None
    else:
        # Decimal and friends
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return value if math.isfinite(value) else None


def _parse_when(raw: object) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime (§2).

    Naive times = UTC. A date without a time (a day, a month or a year) is read as the last
    second of that period in UTC: the latest moment it can mean, so a record is never pushed out
    of its window by the precision it was sent with (§2 is silent; conservative).
    """
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 12, 31, 23, 59, 59, tzinfo=UTC)
        if len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            last_day = calendar.monthrange(year, month)[1]
            return datetime(year, month, last_day, 23, 59, 59, tzinfo=UTC)
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(hour=23, minute=59, second=59, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_birth_date(raw: object) -> date | None:
    """birthDate; a partial date is read as its last day (youngest possible age, conservative)."""
    when = _parse_when(raw)
    return when.date() if when else None


def _fix_datetime(raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    if _NAIVE_DATETIME.match(raw):
        return (raw if raw.count(":") >= 2 else raw + ":00") + "Z"
    match = _NO_SECONDS.match(raw)
    if match:
        return f"{match.group(1)}:00{match.group(2)}"
    return raw


def _canonical_datetime(raw: str) -> bool:
    """True when `_fix_datetime` leaves `raw` as it is, decided without a regex for the usual
    shape: seconds present (a ':' at 16, where a second-less time has its zone) and a zone at
    the end ('Z', or an offset's sign 6 from the end, which a naive time never has there)."""
    return len(raw) > 16 and raw[16] == ":" and (raw[-1] == "Z" or raw[-6] in "+-")


def _normalise_dates(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The resource with its naive or second-less date-times given seconds and UTC.

    R4 rejects `2026-11-20T10:00:00`; §2 reads naive times as UTC, so they are repaired rather
    than losing the resource. A shallow copy when something is repaired (or the resource is
    not a plain dict); the resource itself when every date is already canonical (the common
    case: nothing downstream writes to it).
    """
    fixes: dict[str, Any] | None = None
    for name in _DATE_FIELDS:
        raw = resource.get(name)
        if isinstance(raw, str) and "T" in raw and not _canonical_datetime(raw):
            repaired = _fix_datetime(raw)
            if repaired != raw:
                fixes = fixes or {}
                fixes[name] = repaired
    for name in _PERIOD_FIELDS:
        period = resource.get(name)
        if type(period) is dict or isinstance(period, Mapping):
            copied = {key: _fix_datetime(value) for key, value in period.items()}
            if type(period) is not dict or copied != period:
                fixes = fixes or {}
                fixes[name] = copied
    if fixes is None and type(resource) is dict:
        return resource
    fixed = dict(resource)
    if fixes:
        fixed.update(fixes)
    return fixed


def _error_note(index: int, resource_type: str, exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ()}
    where = ".".join(str(part) for part in first.get("loc", ())) or "content"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"entry {index} ({resource_type}): {where} invalid{more}"


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


# --------------------------------------------------------------------------- the reader


@dataclass(slots=True)
class _Context:
    """What one resource contributes to each of its Findings."""

    reference: str
    resource_type: str
    subject: str | None
    when: datetime | None
    site_codes: frozenset[str]
    side: Side
    is_condition: bool = False
    active: bool = True


@dataclass
class _Reader:
    now: datetime
    settings: Settings
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    patient: PatientFacts | None = None
    unreadable: int = 0
    ignored: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        self.extra = cat.extra_cancer_entries(self.settings)
        self.codes = _catalog_codes(tuple(self.settings.extra_cancer_codes), self.extra)
        self._windows: dict[tuple[str, bool], timedelta | None] = {}

    def window(self, window_class: str, *, condition: bool) -> timedelta | None:
        """`cat.window_for` under this reader's settings, once per (class, condition)."""
        key = (window_class, condition)
        try:
            return self._windows[key]
        except KeyError:
            window = self._windows[key] = cat.window_for(
                window_class, self.settings, condition=condition
            )
            return window

    # -- dispatch ----------------------------------------------------------------------

    def read(self, index: int, resource: object) -> None:
        self.count += 1
        if not (type(resource) is dict or isinstance(resource, Mapping)):
            self._unreadable(f"entry {index}: not a JSON object")
            return
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or not resource_type:
            self._unreadable(f"entry {index}: resourceType missing")
            return
        if resource_type not in READ_TYPES:
            if _known_type(resource_type):
                self.ignored += 1
            else:
                self._unreadable(f"entry {index}: unknown resourceType")
            return
        try:
            if resource_type == "Observation":
                self._observation(index, resource)
            elif resource_type == "Condition":
                self._condition(index, resource)
            else:
                self._patient(index, resource)
        except Exception:  # §1.1: a reading bug in one resource must not drop the others
            log.exception("could not read entry %d (%s)", index, resource_type)
            self._unreadable(f"entry {index} ({resource_type}): could not be read")

    def _unreadable(self, note: str) -> None:
        self.unreadable += 1
        self.notes.append(note)

    def _validate(self, index: int, resource: Mapping[str, Any]) -> dict[str, Any] | None:
        """The resource (dates repaired) if the R4B model accepts it; None = counted unreadable.

        `fast_valid` first: it accepts only shapes the R4B model is known to accept (each value
        checked by the model's own field types), so the full model runs only for the rest.
        """
        resource_type = str(resource["resourceType"])
        if isinstance(resource, dict) and fast_valid(resource_type, resource):
            # Its dates are R4 dates (seconds and a zone whenever there is a time), which
            # _normalise_dates would leave as they are: no repair, no copy.
            return resource
        fixed = _normalise_dates(resource)
        if fixed is not resource and fast_valid(resource_type, fixed):
            return fixed
        try:
            get_fhir_model_class(resource_type).model_validate(fixed)
        except ValidationError as exc:
            self._unreadable(_error_note(index, resource_type, exc))
            return None
        return fixed

    # -- relevance pre-check -------------------------------------------------------------

    def _relevant(self, concepts: Iterable[object]) -> bool:
        """False only when each raw CodeableConcept is absent (None) or well formed and holds no
        catalog code. Anything unexpected answers True, so the full model decides (a usable
        resource is never skipped; only clean, unrelated resources skip validation)."""
        codes = self.codes
        for concept in concepts:
            if concept is None:
                continue
            if not (type(concept) is dict or isinstance(concept, Mapping)):
                return True
            coding = concept.get("coding", _NO_CODINGS)
            if not isinstance(coding, list):
                return True
            for item in coding:
                if not (type(item) is dict or isinstance(item, Mapping)):
                    return True
                system = item.get("system", "")
                code = item.get("code", "")
                if not isinstance(system, str) or not isinstance(code, str):
                    return True
                # Most codings are unrelated: a code string no catalog key holds cannot match
                # under any system, so the (system, code) lookup runs only for the rest.
                if code in codes and self._code_relevant(system, code):
                    return True
        return False

    def _code_relevant(self, system: str, code: str) -> bool:
        measure, entries = _dispatch(system, code)
        if measure is not None or entries:
            return True
        extra = self.extra
        return bool(extra and cat.lookup(system, code, extra))

    def _unrelated_observation(self, resource: Mapping[str, Any]) -> bool:
        """True only when every concept of the Observation (code, valueCodeableConcept and each
        component's) is well formed and holds no catalog code; any odd shape answers False, so
        the model decides. (`_plainly_unrelated` answers first for the plainest shapes.)"""
        components = resource.get("component", _ABSENT)
        if components is _ABSENT:
            return not self._relevant((resource.get("code"), resource.get("valueCodeableConcept")))
        if not isinstance(components, list):
            return False
        concepts = [resource.get("code"), resource.get("valueCodeableConcept")]
        for component in components:
            if not (type(component) is dict or isinstance(component, Mapping)):
                return False
            concepts.append(component.get("code"))
            concepts.append(component.get("valueCodeableConcept"))
        return not self._relevant(concepts)

    # -- Observation ---------------------------------------------------------------------

    def _observation(self, index: int, resource: Mapping[str, Any]) -> None:
        status = resource.get("status")
        if isinstance(status, str) and status in IGNORED_OBSERVATION_STATUSES:
            self.ignored += 1
            return
        if (
            isinstance(status, str)
            and status in COUNTED_OBSERVATION_STATUSES
            and self._unrelated_observation(resource)
        ):
            return  # well formed and unrelated to any finding: nothing to read
        data = self._validate(index, resource)
        if data is None:
            return
        if data.get("status") not in COUNTED_OBSERVATION_STATUSES:
            self._unreadable(f"entry {index} (Observation): status invalid")
            return
        body_site = data.get("bodySite")
        site_codes, side = _NO_SITE if body_site is None else _body_site([body_site])
        start, end = _period_bounds(data.get("effectivePeriod"))
        context = _Context(
            reference=_reference(resource, "Observation", index),
            resource_type="Observation",
            subject=_subject(data),
            when=_latest(
                data.get("effectiveDateTime"),
                start,
                end,
                data.get("effectiveInstant"),
                data.get("issued"),
            ),
            site_codes=site_codes,
            side=side,
        )
        made: dict[tuple[object, ...], Finding] = {}
        code_codings = _codings(data.get("code"))
        main_measure = _first_measurement_of(code_codings)
        if main_measure is not None and main_measure.analyte == cat.ABI:
            # The ABI's components are its right/left values, read by _abi, not statements.
            self._abi(data, main_measure, context, made)
            self._statement(data, code_codings, main_measure, context, made)
        else:
            self._statement(data, code_codings, main_measure, context, made)
            for component in _as_list(data.get("component")):
                part = _as_dict(component)
                part_codings = _codings(part.get("code"))
                measure = _first_measurement_of(part_codings)
                self._statement(part, part_codings, measure, context, made)
        self.findings.extend(made.values())

    def _statement(
        self,
        data: Mapping[str, Any],
        code_codings: list[tuple[str, str, str]],
        measure: cat.MeasurementDef | None,
        context: _Context,
        made: dict[tuple[object, ...], Finding],
    ) -> None:
        """Presence findings and (except the ABI, read apart) threshold findings of one part
        (the resource itself or a component): `code_codings` are `_codings(data["code"])`,
        `measure` the first analyte among them."""
        if measure is not None and measure.analyte != cat.ABI:
            for finding in self._measure(data, measure, context):
                made.setdefault(_key(finding), finding)
        value_concept = data.get("valueCodeableConcept")
        value_codings = _codings(value_concept) if value_concept is not None else []
        absent: bool | None = None  # `_negated` (pure) is asked once a code has an entry
        codes, extra = self.codes, self.extra
        for codings in (code_codings, value_codings):
            for system, code, display in codings:
                if code not in codes:
                    continue
                for entry in _lookup(system, code, extra):
                    if absent is None:
                        absent = _negated(data, value_codings)
                    record = self._presence(entry, display, not absent, context)
                    if record is not None:
                        made.setdefault(_key(record), record)

    # -- Condition -----------------------------------------------------------------------

    def _condition(self, index: int, resource: Mapping[str, Any]) -> None:
        if not self._relevant((resource.get("code"),)):
            return
        data = self._validate(index, resource)
        if data is None:
            return
        verification = {code for _, code, _ in _codings(data.get("verificationStatus"))}
        if verification & EXCLUDED_VERIFICATION:
            self.ignored += 1
            return
        clinical = {code for _, code, _ in _codings(data.get("clinicalStatus"))}
        # Absent or unrecognised clinicalStatus counts as active (R4 allows none; conservative).
        active = bool(clinical & ACTIVE_CLINICAL) or not (clinical & INACTIVE_CLINICAL)
        body_sites = data.get("bodySite")
        site_codes, side = _body_site(body_sites) if isinstance(body_sites, list) else _NO_SITE
        start, end = _period_bounds(data.get("onsetPeriod"))
        context = _Context(
            reference=_reference(resource, "Condition", index),
            resource_type="Condition",
            subject=_subject(data),
            when=_latest(data.get("onsetDateTime"), start, end, data.get("recordedDate")),
            site_codes=site_codes,
            side=side,
            is_condition=True,
            active=active,
        )
        made: dict[tuple[object, ...], Finding] = {}
        codes, extra = self.codes, self.extra
        for system, code, display in _codings(data.get("code")):
            if code not in codes:
                continue
            for entry in _lookup(system, code, extra):
                finding = self._presence(entry, display, True, context)
                if finding is not None:
                    made.setdefault(_key(finding), finding)
        self.findings.extend(made.values())

    # -- Patient -------------------------------------------------------------------------

    def _patient(self, index: int, resource: Mapping[str, Any]) -> None:
        data = self._validate(index, resource)
        if data is None or self.patient is not None:
            return
        birth = _parse_birth_date(data.get("birthDate"))
        age = None
        if birth is not None:
            today = self.now.date()
            age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        resource_id = data.get("id")
        self.patient = PatientFacts(
            reference=f"Patient/{resource_id}" if isinstance(resource_id, str) else None,
            birth_date=birth,
            age_years=age,
        )

    # -- presence rule -------------------------------------------------------------------

    def _presence(
        self, entry: cat.CatalogEntry, sent_display: str, present: bool, context: _Context
    ) -> Finding | None:
        """One catalog entry applied to one record: body site, history and window rules (§2)."""
        code_def = entry.code
        finding_id = entry.finding.finding_id
        tags = frozenset(code_def.tags)  # the same object when it is one already
        suffix = ""
        site = code_def.site
        if site is not None and not _site_ok(site, context.site_codes):
            if code_def.off_site_tags is None:
                return None
            tags |= code_def.off_site_tags
            suffix = " (no leg site)" if site == cat.SITE_LEG else " (no calf site)"
        window_class = code_def.window_class or entry.finding.window_class
        when, is_condition, active = context.when, context.is_condition, context.active
        if finding_id == "F-DVT-DX":
            # Inactive, or active but older than 14 days: history (F-PREVIOUS-DVT), §2.
            recent = when is None or self.now - when <= cat.FOURTEEN_DAYS
            if present and (not active or not recent):
                finding_id, window_class = "F-PREVIOUS-DVT", cat.WINDOW_HISTORY
        elif is_condition and not active and finding_id != "F-PREVIOUS-DVT":
            return None  # resolved/inactive Conditions count only as history (§2)
        current_condition = is_condition and active
        if current_condition:
            tags |= _ACTIVE_CONDITION_TAGS
        window = self.window(window_class, condition=current_condition)
        side = Side.BILATERAL if code_def.bilateral else context.side
        display = code_def.display or sent_display
        label = display + suffix + ("" if present else ": absent")
        if side in _SIDE_TEXT:
            label += f" ({_SIDE_TEXT[side]})"
        return _finding(
            {
                "finding_id": finding_id,
                "present": present,
                "reference": context.reference,
                "code": _wire_code(code_def.system, code_def.code, display, self.settings),
                "when": when,
                "in_window": self.in_window(when, window),
                "side": side,
                "measurement": None,
                "interpretable": True,
                "tags": tags,
                "resource_type": context.resource_type,
                "subject": context.subject,
                "label": label,
            }
        )

    def in_window(self, when: datetime | None, window: timedelta | None) -> bool:
        # Undated counts as current (conservative); a future date is inside the window.
        return window is None or when is None or self.now - when <= window

    # -- measurements --------------------------------------------------------------------

    def _measure(
        self, data: Mapping[str, Any], mdef: cat.MeasurementDef, context: _Context
    ) -> list[Finding]:
        """Threshold findings of one analyte value (§2 "Quantities", §3 cut-offs)."""
        reading = _read_value(data)
        if reading.absent_reason:
            return []  # not done / not available: the item stays "not recorded"
        interps = _interpretations(data)
        judge = _Judgement(
            reader=self,
            mdef=mdef,
            context=context,
            reading=reading,
            direction=_interpretation_direction(interps, mdef.analyte),
            critical=bool(interps & _CRITICAL),
        )
        # D-dimer: FEU/DDU from the LOINC code; a contradicting annotation is not interpretable.
        if mdef.analyte == cat.D_DIMER and reading.unit is not None:
            note = units.dimer_annotation(reading.unit)
            if note is not None and note != mdef.dimer_basis:
                return judge.not_interpretable(f"unit says {note}, code says {mdef.dimer_basis}")
        if reading.value is None:
            decided = judge.direction if judge.direction is not None else reading.coded
            if decided is None or mdef.analyte == cat.ABI:
                return judge.not_interpretable("no usable value")
            word = "positive" if decided else "negative"
            return judge.decided(decided, None, f"{judge.label}{judge.basis}: {word}")
        value = units.convert(mdef.analyte, reading.value, reading.unit, mdef.unit)
        if value is not None:
            return judge.numeric(data, value)
        if reading.unit is None and mdef.analyte != cat.ABI:
            # Every accepted unit gives the same number (CK U/L = IU/L, K mmol/L = meq/L):
            # nothing is guessed, so the value is read in full (ULN multiple, K < 2.5).
            same = {
                units.convert(mdef.analyte, reading.value, unit, mdef.unit)
                for unit in units.candidate_units(mdef.analyte)
            }
            if len(same) == 1 and (value := same.pop()) is not None:
                return judge.numeric(data, value)
            return judge.unitless()
        return judge.not_interpretable("unit not convertible")

    def crossed_by_default(
        self, mdef: cat.MeasurementDef, value: float, comparator: str | None
    ) -> bool:
        """The spec's default cut-off (§3); `>`/`<` at a strict limit counts as crossing."""
        analyte = mdef.analyte
        if analyte == cat.TEMPERATURE:
            return value >= cat.FEVER_CEL
        if analyte == cat.D_DIMER:
            cut = cat.D_DIMER_DDU_NG_ML if mdef.dimer_basis == "DDU" else cat.D_DIMER_FEU_NG_ML
            return value >= cut
        if analyte == cat.CALF_CIRCUMFERENCE:
            return abs(value) >= cat.CALF_DIFFERENCE_CM
        high_limits = {
            cat.HEART_RATE: cat.HEART_RATE_HIGH_PER_MIN,
            cat.CK: self.settings.ck_uln_u_per_l,
            cat.TSH: cat.TSH_HIGH_MIU_L,
        }
        if analyte in high_limits:
            return _above(value, high_limits[analyte], comparator)
        low_limits = {
            cat.SPO2: cat.SPO2_LOW_PERCENT,
            cat.POTASSIUM: cat.POTASSIUM_LOW_MMOL_L,
            cat.MAGNESIUM: cat.MAGNESIUM_LOW.get(mdef.unit, 0.7),
            cat.CALCIUM: cat.CALCIUM_LOW_MG_DL,
        }
        if analyte in low_limits:
            return _below(value, low_limits[analyte], comparator)
        return True  # ABI: always reported with its ratio

    def _abi(
        self,
        data: Mapping[str, Any],
        mdef: cat.MeasurementDef,
        context: _Context,
        made: dict[tuple[object, ...], Finding],
    ) -> None:
        """ABI: the resource's own value, or the lowest right/left component with its side (§2)."""
        best: tuple[float, Side, _Reading] | None = None
        for component in _as_list(data.get("component")):
            reading = _read_value(_as_dict(component))
            if reading.value is None:
                continue
            ratio = units.convert(cat.ABI, reading.value, reading.unit, "1")
            if ratio is None:
                continue  # e.g. an ankle pressure in mm[Hg]: not a ratio
            side = _component_side(_as_dict(component))
            if best is None or ratio < best[0]:
                best = (ratio, side, reading)
        if best is None:
            for finding in self._measure(data, mdef, context):
                made.setdefault(_key(finding), finding)
            return
        ratio, side, reading = best
        sided = replace(context, side=side if side is not Side.UNKNOWN else context.side)
        judge = _Judgement(self, mdef, sided, reading, None, False)
        text = f"ABI {_cmp(reading.comparator)}{_fmt(ratio)}"
        measurement = Measurement(round(ratio, 4), "1", reading.comparator, reading.original)
        finding = judge.make("F-ABI", True, measurement=measurement, text=text)
        made.setdefault(_key(finding), finding)


@dataclass(slots=True)  # never changed after construction (not frozen: cheaper to build)
class _Judgement:
    """One analyte value being turned into threshold Findings (§2 "Quantities")."""

    reader: _Reader
    mdef: cat.MeasurementDef
    context: _Context
    reading: _Reading
    direction: bool | None  # the observation's interpretation: True crossed, False normal
    critical: bool  # interpretation LL/HH (F-SEVERE-ELECTROLYTE)

    @property
    def label(self) -> str:
        return _ANALYTE_LABEL[self.mdef.analyte]

    @property
    def basis(self) -> str:
        return f" {self.mdef.dimer_basis}" if self.mdef.dimer_basis else ""

    def make(
        self,
        finding_id: str,
        present: bool,
        *,
        measurement: Measurement | None = None,
        interpretable: bool = True,
        text: str = "",
        extra_tags: Iterable[str] = (),
    ) -> Finding:
        mdef, context = self.mdef, self.context
        tags = {TAG_MEASURED, *extra_tags}
        if mdef.dimer_basis == "DDU":
            tags.add(TAG_DDU)
        if finding_id == "F-PE-SYMPTOM" and mdef.analyte == cat.HEART_RATE:
            tags.add(TAG_HEART_RATE)
        label = text or self.label
        if context.side in _SIDE_TEXT:
            label += f" ({_SIDE_TEXT[context.side]})"
        reader = self.reader
        window = reader.window(mdef.window_class, condition=False)
        return _finding(
            {
                "finding_id": finding_id,
                "present": present,
                "reference": context.reference,
                "code": _wire_code(mdef.system, mdef.code, mdef.display, reader.settings),
                "when": context.when,
                "in_window": reader.in_window(context.when, window),
                "side": context.side,
                "measurement": measurement,
                "interpretable": interpretable,
                "tags": frozenset(tags),
                "resource_type": context.resource_type,
                "subject": context.subject,
                "label": label,
            }
        )

    def _present_for(self, finding_id: str, present: bool) -> bool:
        return self.critical if finding_id == "F-SEVERE-ELECTROLYTE" else present

    def decided(self, present: bool, measurement: Measurement | None, text: str) -> list[Finding]:
        return [
            self.make(fid, self._present_for(fid, present), measurement=measurement, text=text)
            for fid in self.mdef.finding_ids
        ]

    def not_interpretable(self, reason: str) -> list[Finding]:
        """Unit or value unusable: shown, never fires a cut-off; the lab's own flag still counts."""
        tags = [TAG_BLOCKS_SELF_CARE] if self.mdef.analyte in _BLOCKING_ANALYTES else []
        sent = self.reading.original or "without a value"
        text = f"{self.label} {sent}{self.basis}: not interpretable ({reason})"
        flagged = self.direction is True and self.mdef.analyte != cat.ABI
        return [
            self.make(
                fid,
                self._present_for(fid, flagged),
                interpretable=False,
                text=text,
                extra_tags=tags,
            )
            for fid in self.mdef.finding_ids
        ]

    def unitless(self) -> list[Finding]:
        """No unit sent: decided only when every accepted unit gives the same answer."""
        value = self.reading.value
        assert value is not None
        if self.direction is not None:
            answers = {self.direction}
        else:
            answers = set()
            for unit in units.candidate_units(self.mdef.analyte):
                converted = units.convert(self.mdef.analyte, value, unit, self.mdef.unit)
                if converted is not None:
                    answers.add(
                        self.reader.crossed_by_default(
                            self.mdef, converted, self.reading.comparator
                        )
                    )
        if len(answers) != 1:
            return self.not_interpretable("no unit")
        text = f"{self.label} {self.reading.original} (no unit){self.basis}"
        return self.decided(answers.pop(), None, text)

    def numeric(self, data: Mapping[str, Any], value: float) -> list[Finding]:
        """Interpretation first, then the observation's own referenceRange, then the default."""
        mdef, reading, analyte = self.mdef, self.reading, self.mdef.analyte
        high_side = analyte in _HIGH_ANALYTES
        limit = None
        if analyte in _RANGE_ANALYTES:
            limit = _range_limit(data, mdef, reading.unit, high=high_side)
        if analyte == cat.CK:
            return [self._ck(value, limit)]
        measurement = Measurement(round(value, 4), mdef.unit, reading.comparator, reading.original)
        text = f"{self.label} {_cmp(reading.comparator)}{_fmt(value)} {_unit_text(mdef.unit)}"
        text = text.rstrip() + self.basis
        if reading.value is not None and abs(value - reading.value) > 1e-9:
            text += f" (sent as {reading.original})"  # converted: show what the EHR sent
        if reading.unit is None and analyte != cat.ABI:
            text += " (sent without a unit)"
        if analyte == cat.ABI:
            return [self.make("F-ABI", True, measurement=measurement, text=text)]
        if limit is not None:
            if analyte == cat.D_DIMER:
                by_range = value >= limit  # the D-dimer cut-off convention is >= (§5)
            elif high_side:
                by_range = _above(value, limit, reading.comparator)
            else:
                by_range = _below(value, limit, reading.comparator)
            present = self.direction is True or by_range
        elif self.direction is not None:
            present = self.direction
        else:
            present = self.reader.crossed_by_default(mdef, value, reading.comparator)
        severe = self.critical or (
            analyte == cat.POTASSIUM and _below(value, cat.POTASSIUM_SEVERE_MMOL_L, None)
        )
        return [
            self.make(
                fid,
                severe if fid == "F-SEVERE-ELECTROLYTE" else present,
                measurement=measurement,
                text=text,
            )
            for fid in mdef.finding_ids
        ]

    def _ck(self, value: float, limit: float | None) -> Finding:
        """CK as a multiple of ULN: referenceRange.high, else the configured ULN (§3)."""
        uln = limit if limit is not None and limit > 0 else self.reader.settings.ck_uln_u_per_l
        multiple = value / uln
        by_number = _above(multiple, 1.0, self.reading.comparator)
        if limit is not None:
            present = self.direction is True or by_number
        else:
            present = self.direction if self.direction is not None else by_number
        measurement = Measurement(
            round(multiple, 3), "xULN", self.reading.comparator, self.reading.original
        )
        text = f"CK {self.reading.original} ({_fmt(multiple)} x ULN {_fmt(uln)} U/L)"
        if self.reading.unit is None:
            text += " (sent without a unit)"
        return self.make("F-CK", present, measurement=measurement, text=text)


def _above(value: float, limit: float, comparator: str | None) -> bool:
    return value > limit or (comparator == ">" and value >= limit)


def _below(value: float, limit: float, comparator: str | None) -> bool:
    return value < limit or (comparator == "<" and value <= limit)


def _wire_system(system: str, settings: Settings) -> str:
    if system == cat.LOCAL:
        return settings.fhir_base.rstrip("/") + LOCAL_FINDING_SYSTEM_SUFFIX
    return system


# Code is frozen, so one instance per catalog code can serve every Finding (building one is
# ~0.5 us); keyed by what `_wire_system` reads. The catalog bounds it; the size check is a guard.
_WIRE_CODES: dict[tuple[str, str, str, str], Code] = {}


def _wire_code(system: str, code: str, display: str, settings: Settings) -> Code:
    """`Code(_wire_system(system, settings), code, display)`."""
    key = (system, code, display, settings.fhir_base)
    found = _WIRE_CODES.get(key)
    if found is None:
        if len(_WIRE_CODES) >= 10_000:
            _WIRE_CODES.clear()
        found = _WIRE_CODES[key] = Code(_wire_system(system, settings), code, display)
    return found


_ACTIVE_CONDITION_TAGS = frozenset({TAG_ACTIVE_CONDITION})
_new_object = object.__new__
_set_attribute = object.__setattr__


def _finding(values: dict[str, Any]) -> Finding:
    """`Finding(**values)` with every field given, in field order.

    A frozen dataclass's generated __init__ sets each field through object.__setattr__, and
    with 13 keywords it costs ~2.4 us, a large share of reading one record; filling the
    instance dict gives the same object (same fields and order; Finding has no
    __post_init__ and no slots, which tests/test_fhir_input.py checks) in ~0.9 us.
    """
    finding = _new_object(Finding)
    _set_attribute(finding, "__dict__", values)
    return finding


# --------------------------------------------------------------------------- value reading


@dataclass(slots=True)  # never changed after construction (not frozen: cheaper to build)
class _Reading:
    value: float | None = None
    unit: str | None = None
    comparator: str | None = None
    original: str = ""
    coded: bool | None = None  # qualitative result: True positive, False negative
    absent_reason: bool = False


def _read_value(data: Mapping[str, Any]) -> _Reading:
    quantity = data.get("valueQuantity")
    if type(quantity) is dict or isinstance(quantity, Mapping):
        value = _number(quantity.get("value"))
        code, unit = quantity.get("code"), quantity.get("unit")
        code = code if isinstance(code, str) and code.strip() else None
        unit = unit if isinstance(unit, str) and unit.strip() else None
        chosen = code
        # The UCUM code is preferred; the human `unit` is the fallback when the code is
        # missing or not a spelling we know.
        if chosen is None or (unit is not None and not _any_known(code) and _any_known(unit)):
            chosen = unit
        comparator = (
            quantity.get("comparator") if isinstance(quantity.get("comparator"), str) else None
        )
        shown = unit or code or ""
        original = f"{_cmp(comparator)}{quantity.get('value')} {shown}".strip()
        return _Reading(value, chosen, comparator, original)
    if isinstance(data.get("valueString"), str):
        text = data["valueString"]
        match = _NUMBER.match(text)
        if not match:
            # A qualitative result typed as text ("Positive", "POS") is positive, as the
            # coded Positive is (§3 F-D-DIMER); never dropped as unreadable (§1.1).
            positive = text.strip().lower() in _POSITIVE_WORDS
            return _Reading(original=text[:40], coded=True if positive else None)
        comparator = _COMPARATOR_SPELLING.get(match.group(1) or "", match.group(1))
        return _Reading(
            _number(match.group(2)), match.group(3) or None, comparator, text.strip()[:40]
        )
    if isinstance(data.get("valueInteger"), int) and not isinstance(data.get("valueInteger"), bool):
        return _Reading(float(data["valueInteger"]), None, None, str(data["valueInteger"]))
    concept = data.get("valueCodeableConcept")
    if concept is not None:
        codes = {(s, c) for s, c, _ in _codings(concept)}
        if (cat.SNOMED, cat.POSITIVE_CODE) in codes:
            return _Reading(coded=True, original="Positive")
        if (cat.SNOMED, cat.NEGATIVE_CODE) in codes:
            return _Reading(coded=False, original="Negative")
        return _Reading(original=str(_as_dict(concept).get("text", ""))[:40])
    if data.get("dataAbsentReason") is not None:
        return _Reading(absent_reason=True)
    return _Reading()


@functools.lru_cache(maxsize=4096)
def _any_known(unit: str | None) -> bool:
    """Whether any analyte accepts `unit` (pure; memoised, units repeat across records)."""
    return any(units.is_known_unit(analyte, unit) for analyte in units.ANALYTES) if unit else False


def _range_limit(
    data: Mapping[str, Any], mdef: cat.MeasurementDef, value_unit: str | None, *, high: bool
) -> float | None:
    """The observation's own upper (or lower) reference limit in the canonical unit, or None."""
    for item in _as_list(data.get("referenceRange")):
        bound = _as_dict(_as_dict(item).get("high" if high else "low"))
        number = _number(bound.get("value"))
        if number is None:
            continue
        unit = bound.get("code") or bound.get("unit") or value_unit
        converted = units.convert(
            mdef.analyte, number, unit if isinstance(unit, str) else None, mdef.unit
        )
        if converted is not None:
            return converted
    return None


def _interpretations(data: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for concept in _as_list(data.get("interpretation")):
        for system, code, _ in _codings(concept):
            if system in INTERPRETATION_SYSTEMS:
                out.add(code.upper())
    return out


def _interpretation_direction(codes: set[str], analyte: str) -> bool | None:
    """True: the observation flags the red-flag direction; False: it says normal/negative."""
    if not codes or analyte == cat.ABI:
        return None
    if analyte in _HIGH_ANALYTES:
        if codes & (_HIGH | _ABNORMAL | _POSITIVE):
            return True
        if codes & (_LOW | _NEGATIVE):
            return False
        return None
    if codes & (_LOW | _ABNORMAL):
        return True
    if codes & (_HIGH | _NEGATIVE):
        return False
    return None


def _negated(data: Mapping[str, Any], value_codings: list[tuple[str, str, str]]) -> bool:
    """Explicit absence (§2 "Presence"): valueBoolean false, SNOMED 373067005 No, or NEG
    (`value_codings` = `_codings(data["valueCodeableConcept"])`)."""
    if data.get("valueBoolean") is False:
        return True
    for system, code, _ in value_codings:
        if code == cat.NO_CODE and system == cat.SNOMED:
            return True
    return "interpretation" in data and "NEG" in _interpretations(data)


_CODES_CACHE: dict[tuple[str, ...], frozenset[str]] = {}


def _catalog_codes(
    raw_extra: tuple[str, ...], extra: Mapping[tuple[str, str], tuple[cat.CatalogEntry, ...]]
) -> frozenset[str]:
    """Every code string `_dispatch` or `cat.lookup(..., extra)` can match, whatever the system:
    a coding whose code is not in it has no analyte and no catalog entry (lookups match the
    code exactly; only the system is normalised). `extra` is the reader's extra cancer
    entries, built from `raw_extra` (settings.extra_cancer_codes)."""
    found = _CODES_CACHE.get(raw_extra)
    if found is None:
        found = frozenset(
            [code for _, code in cat.CODE_INDEX]
            + [code for _, code in cat.MEASUREMENTS]
            + [code for _, code in extra]
        )
        if len(_CODES_CACHE) < 16:  # settings rarely change; bound the cache anyway
            _CODES_CACHE[raw_extra] = found
    return found


# (system, code) -> (the analyte, the catalog entries) of the catalog alone (settings' extra
# cancer codes are added per reader by `_lookup`). Pure and bounded: codes repeat across
# records, so each is normalised and looked up once.
_Dispatch = tuple[cat.MeasurementDef | None, tuple[cat.CatalogEntry, ...]]
_DISPATCH: dict[tuple[str, str], _Dispatch] = {}


def _dispatch(system: str, code: str) -> _Dispatch:
    key = (system, code)
    found = _DISPATCH.get(key)
    if found is None:
        found = (cat.measurement_for(system, code), cat.lookup(system, code))
        if len(_DISPATCH) >= 100_000:
            _DISPATCH.clear()
        _DISPATCH[key] = found
    return found


def _lookup(
    system: str, code: str, extra: Mapping[tuple[str, str], tuple[cat.CatalogEntry, ...]]
) -> tuple[cat.CatalogEntry, ...]:
    """`cat.lookup(system, code, extra)`, the catalog part memoised."""
    if extra:
        return cat.lookup(system, code, extra)
    return _dispatch(system, code)[1]


def _first_measurement_of(codings: list[tuple[str, str, str]]) -> cat.MeasurementDef | None:
    for system, code, _ in codings:
        if code in _MEASUREMENT_CODES:
            found = _dispatch(system, code)[0]
            if found is not None:
                return found
    return None


# Code strings of the analytes: `cat.measurement_for` matches the code exactly.
_MEASUREMENT_CODES = frozenset(code for _, code in cat.MEASUREMENTS)


def _first_measurement(concept: object) -> cat.MeasurementDef | None:
    return _first_measurement_of(_codings(concept))


def _site_ok(site: str | None, site_codes: frozenset[str]) -> bool:
    if site is None:
        return True
    if site == cat.SITE_CALF:
        return bool(site_codes & cat.CALF_SITE_CODES)
    if site == cat.SITE_LEG:
        return bool(site_codes & cat.LEG_SITE_CODES)
    return not site_codes & cat.LEG_SITE_CODES  # SITE_NOT_LEG


def _side_of(codes: Iterable[tuple[str, str, str]], sides: set[Side]) -> None:
    for system, code, _ in codes:
        if system in (cat.SNOMED, "") and code in _LATERALITY:
            sides.add(_LATERALITY[code])


def _extension_sides(element: Mapping[str, Any], sides: set[Side]) -> None:
    for extension in _as_list(element.get("extension")):
        extension = _as_dict(extension)
        _side_of(_codings(extension.get("valueCodeableConcept")), sides)
        _side_of(_codings(extension.get("valueCoding")), sides)


def _body_site(concepts: Sequence[object]) -> tuple[frozenset[str], Side]:
    """SNOMED site codes and laterality of bodySite (coding or extension, §2 "Laterality")."""
    site_codes: set[str] = set()
    sides: set[Side] = set()
    for concept in concepts:
        if not (type(concept) is dict or isinstance(concept, Mapping)):
            continue
        codings = _codings(concept)
        site_codes.update(code for system, code, _ in codings if system in (cat.SNOMED, ""))
        _side_of(codings, sides)
        if "extension" in concept:
            _extension_sides(concept, sides)
        for coding in _as_list(concept.get("coding")):
            if (type(coding) is dict or isinstance(coding, Mapping)) and "extension" in coding:
                _extension_sides(coding, sides)
    return frozenset(site_codes), _combine_sides(sides)


_NO_SITE: tuple[frozenset[str], Side] = (frozenset(), Side.UNKNOWN)  # `_body_site` of no bodySite


def _combine_sides(sides: set[Side]) -> Side:
    if not sides:
        return Side.UNKNOWN
    if Side.BILATERAL in sides or {Side.LEFT, Side.RIGHT} <= sides:
        return Side.BILATERAL
    return next(iter(sides))


def _component_side(component: Mapping[str, Any]) -> Side:
    """Side of an ABI component: laterality codes, an extension, or the words left/right."""
    sides: set[Side] = set()
    code = _as_dict(component.get("code"))
    codings = _codings(code)
    _side_of(codings, sides)
    _extension_sides(component, sides)
    _extension_sides(code, sides)
    if not sides:
        words = " ".join([str(code.get("text", ""))] + [d for _, _, d in codings]).lower()
        if re.search(r"\bleft\b", words):
            sides.add(Side.LEFT)
        if re.search(r"\bright\b", words):
            sides.add(Side.RIGHT)
    return _combine_sides(sides)


def _latest(*values: object) -> datetime | None:
    """The latest of the dates given (the first of equal ones, as `max` keeps), or None."""
    latest = None
    for value in values:
        if value is not None:
            when = _parse_when(value)
            if when is not None and (latest is None or when > latest):
                latest = when
    return latest


def _reference(resource: Mapping[str, Any], resource_type: str, index: int) -> str:
    resource_id = resource.get("id")
    if isinstance(resource_id, str) and resource_id:
        return f"{resource_type}/{resource_id}"
    full_url = getattr(resource, "full_url", None)
    return full_url if isinstance(full_url, str) and full_url else f"{resource_type}/#{index}"


def _subject(data: Mapping[str, Any]) -> str | None:
    reference = _as_dict(data.get("subject")).get("reference")
    return reference if isinstance(reference, str) else None


def _key(finding: Finding) -> tuple[object, ...]:
    return (finding.finding_id, finding.present, finding.tags, finding.side)


def _cmp(comparator: str | None) -> str:
    return comparator or ""


def _unit_text(unit: str) -> str:
    return {"Cel": "°C", "1": ""}.get(unit, unit)


# --------------------------------------------------------------------------- fast validation
#
# Building the R4B pydantic model costs ~70-120 us per Observation (a dozen nested models,
# each with Python-level validators). `fast_valid` answers the same question for the shapes
# real records have, in a few microseconds, and is conservative: it says True only when the
# model would accept the resource, and False ("not sure") for anything else, which then goes
# through the full model exactly as before. It is derived from the R4B models themselves:
#
# - an element may hold only the keys listed in _FAST_ELEMENTS (a subset of the model's own
#   fields; any other key, a `_primitive` extension, `extension`, a null, an empty list or
#   object means "not sure");
# - each primitive value is checked with the model field's own annotated type (fhir_core's
#   String, Code, Uri, DateTime, Instant, Decimal, ... with their patterns and validators);
# - each complex value is checked the same way against the element its annotation names;
# - all of it is compiled into one pydantic-core validator (a TypedDict per element, extra keys
#   forbidden), built at import from the R4B model classes;
# - the model's required fields must be present and each choice group (value[x], effective[x],
#   onset[x], abatement[x]) holds at most one value, as the model's validators demand.
#
# tests/test_fhir_input.py checks, over the samples and systematic mutations of them, that
# every resource `fast_valid` accepts is accepted by the full model.

_FAST_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Observation": (
        "id",
        "meta",
        "status",
        "category",
        "code",
        "subject",
        "encounter",
        "effectiveDateTime",
        "effectivePeriod",
        "effectiveInstant",
        "issued",
        "valueQuantity",
        "valueCodeableConcept",
        "valueString",
        "valueBoolean",
        "valueInteger",
        "dataAbsentReason",
        "interpretation",
        "bodySite",
        "referenceRange",
        "component",
    ),
    "Condition": (
        "id",
        "meta",
        "clinicalStatus",
        "verificationStatus",
        "category",
        "severity",
        "code",
        "bodySite",
        "subject",
        "encounter",
        "onsetDateTime",
        "onsetPeriod",
        "onsetString",
        "abatementDateTime",
        "abatementPeriod",
        "abatementString",
        "recordedDate",
    ),
    "Patient": (
        "id",
        "meta",
        "active",
        "identifier",
        "name",
        "telecom",
        "gender",
        "birthDate",
        "deceasedBoolean",
        "deceasedDateTime",
        "address",
        "maritalStatus",
        "multipleBirthBoolean",
        "multipleBirthInteger",
        "communication",
    ),
    "Identifier": ("use", "type", "system", "value", "period"),
    "HumanName": ("use", "text", "family", "given", "prefix", "suffix", "period"),
    "ContactPoint": ("system", "value", "use", "rank", "period"),
    "Address": (
        "use",
        "type",
        "text",
        "line",
        "city",
        "district",
        "state",
        "postalCode",
        "country",
        "period",
    ),
    "PatientCommunication": ("language", "preferred"),
    "ObservationComponent": (
        "code",
        "valueQuantity",
        "valueCodeableConcept",
        "valueString",
        "valueBoolean",
        "valueInteger",
        "dataAbsentReason",
        "interpretation",
        "referenceRange",
    ),
    "ObservationReferenceRange": ("low", "high", "type", "text"),
    "CodeableConcept": ("coding", "text"),
    "Coding": ("system", "version", "code", "display", "userSelected"),
    "Quantity": ("value", "comparator", "unit", "system", "code"),
    "Reference": ("reference", "type", "display"),
    "Period": ("start", "end"),
    "Meta": ("versionId", "lastUpdated", "source", "profile", "tag", "security"),
}
_FAST_RESOURCES = ("Observation", "Condition", "Patient")


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(is a list, item annotation) of a field annotation, Optional removed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) != 1:
            raise RuntimeError(f"unexpected union {annotation!r}")
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return True, typing.get_args(annotation)[0]
    return False, annotation


# A date or date-time in the canonical shape, with a day valid in every year (29 February and
# 31st of short months are left to the full check), a 4-digit year from 1000, seconds, at most
# 6 decimals and a time zone: every such string is accepted by fhir_core's DateTime and Instant
# (their regex, then pydantic's datetime parser). Checked at Rust speed; any other string goes
# to the field's own validator, which still decides.
_CANON_DAY = (
    r"[1-9][0-9]{3}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_CANON_TIME = (
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)"
)
_CANON_PATTERNS = {
    "Instant": f"^{_CANON_DAY}{_CANON_TIME}$",
    "DateTime": f"^{_CANON_DAY}(?:{_CANON_TIME})?$",
}


@dataclass(frozen=True)
class _CanonicalFirst:
    """Annotated marker: a value the core `fast` schema accepts passes at once (Rust speed);
    anything else is validated by the annotated type's own schema, unchanged."""

    fast: Any

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.union_schema([self.fast, handler(source)], mode="left_to_right")


# A JSON number that is a (non-bool) int or a finite float: str() of either matches fhir_core
# Decimal's regex and decimal.Decimal() parses it, which is all that validator checks.
_CANON_DECIMAL = core_schema.union_schema(
    [
        core_schema.int_schema(strict=True),
        core_schema.float_schema(strict=True, allow_inf_nan=False),
    ],
    mode="left_to_right",
)


def _with_canonical_first(item: Any) -> Any:
    """`item` (a field's annotated primitive type) with a fast canonical-value check in front
    when it is fhir_core's DateTime, Instant or Decimal; otherwise `item` itself."""
    for meta in typing.get_args(item)[1:]:
        for kind in ("Instant", "DateTime"):  # Instant first: it is a DateTime subclass
            if isinstance(meta, getattr(ft, kind)):
                fast = core_schema.str_schema(pattern=_CANON_PATTERNS[kind], strict=True)
                return Annotated[item, _CanonicalFirst(fast)]
        if isinstance(meta, ft.Decimal):
            return Annotated[item, _CanonicalFirst(_CANON_DECIMAL)]
    return item


def _choice_check(groups: tuple[tuple[frozenset[str], bool], ...]) -> Callable[[Any], Any]:
    """The model's one-of-many rule: at most one key per choice group (one when required)."""

    def check(value: dict[str, Any]) -> dict[str, Any]:
        for members, required in groups:
            present = len(members & value.keys())
            if present > 1 or (required and present == 0):
                raise ValueError("choice group holds more than one value")
        return value

    return check


def _fast_type(name: str, built: dict[str, Any]) -> Any:
    """A TypedDict of the whitelisted fields of R4B element `name`, with the model's own field
    types for primitives, no extra keys, no nulls, no empty lists; required fields required."""
    if name in built:
        return built[name]
    model = get_fhir_model_class(name)
    required = {key for key, info in model.model_fields.items() if info.is_required()}
    required |= {key for key, _ in model.get_required_fields(None)}  # type: ignore[arg-type]
    required = {model.model_fields[key].alias or key for key in required}
    if not required <= set(_FAST_ELEMENTS[name]):
        raise RuntimeError(f"{name}: required {sorted(required)} not all whitelisted")
    fields: dict[str, Any] = {}
    for key in _FAST_ELEMENTS[name]:
        info = model.model_fields[key]
        if (info.alias or key) != key:
            raise RuntimeError(f"{name}.{key}: alias {info.alias!r}")
        many, item = _unwrap(info.annotation)
        type_name = getattr(item, "__name__", "")
        if getattr(item, "__module__", "") == "abc" and type_name.endswith("Type"):
            item = _fast_type(type_name[: -len("Type")], built)
        else:
            item = _with_canonical_first(item)
        annotation = Annotated[list[item], MinLen(1)] if many else item  # type: ignore[valid-type]
        fields[key] = Required[annotation] if key in required else annotation
    if name in _FAST_RESOURCES:
        fields["resourceType"] = Required[Literal[name]]
    shape = TypedDict(name + "Fast", fields, total=False)  # type: ignore[misc]
    shape.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    groups = tuple(
        (
            frozenset(members),
            bool(
                (model.model_fields[members[0]].json_schema_extra or {}).get(  # type: ignore[union-attr]
                    "one_of_many_required"
                )
            ),
        )
        for members in model.get_one_of_many_fields(None).values()  # type: ignore[arg-type]
    )
    result = Annotated[shape, AfterValidator(_choice_check(groups))] if groups else shape
    built[name] = result
    return result


def _fast_adapters() -> dict[str, TypeAdapter[Any]]:
    built: dict[str, Any] = {}
    return {name: TypeAdapter(_fast_type(name, built)) for name in _FAST_RESOURCES}


_FAST_ADAPTERS = _fast_adapters()
# The compiled validators themselves: TypeAdapter.validate_python adds ~0.3 us of Python per
# call around the same validator.
_FAST_VALIDATORS = {name: adapter.validator for name, adapter in _FAST_ADAPTERS.items()}


def fast_valid(resource_type: str, data: object) -> bool:
    """True only if the R4B model of `resource_type` would accept `data` (see above).

    One compiled pydantic-core validator per resource type checks the whole shape; False
    means "not sure", never "invalid".
    """
    validator = _FAST_VALIDATORS.get(resource_type)
    if validator is None or not isinstance(data, dict):
        return False
    try:
        validator.validate_python(data)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


# Names the R4B package knows (resources and data types); building a model class for an
# ignored type would import its module (slow), so only the name is checked.
_KNOWN_TYPES = frozenset(
    name[:-4] for name in dir(fhirtypes) if name.endswith("Type") and name[:1].isupper()
)


def _known_type(resource_type: str) -> bool:
    return resource_type in _KNOWN_TYPES


def _warm_up() -> None:
    """Build the three R4B validators at import so the first request does not pay ~150 ms."""
    for resource in (
        {"resourceType": "Observation", "status": "final", "code": {"text": "warm-up"}},
        {"resourceType": "Condition", "subject": {"reference": "Patient/warm-up"}},
        {"resourceType": "Patient"},
    ):
        get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)


_warm_up()
