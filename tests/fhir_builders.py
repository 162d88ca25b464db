"""Builders of raw FHIR R4 JSON (dicts) for tests: Observation, Condition, Patient, Bundle.

`observation("300954003", site="53840002", side="left")` is a final Observation of calf pain
on the left calf, dated a day before `NOW`. Every builder returns a fresh dict.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
YESTERDAY = "2026-11-24T12:00:00Z"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL = "http://calf-cds.example/fhir/CodeSystem/finding"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SIDES = {"left": "7771000", "right": "24028007", "both": "51440002"}
CALF, LOWER_LEG, LOWER_LIMB, ANKLE, FOOT = "53840002", "30021000", "61685007", "344001", "56459004"

_ids = itertools.count(1)
_UNSET: Any = object()


def coding(code: str, system: str = SNOMED, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(code: str, system: str = SNOMED, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(code, system, display)]}


def body_site(site: str | None = None, side: str | None = None) -> dict[str, Any]:
    """A bodySite CodeableConcept: a site code and/or a laterality coding (left/right/both)."""
    codings = []
    if site:
        codings.append(coding(site))
    if side:
        codings.append(coding(SIDES[side]))
    return {"coding": codings}


def quantity(
    value: float | str,
    unit: str | None = "Cel",
    *,
    code: str | None = _UNSET,
    comparator: str | None = None,
) -> dict[str, Any]:
    """A valueQuantity; `code` defaults to `unit` (UCUM); pass code=None to send `unit` only."""
    out: dict[str, Any] = {"value": value}
    if unit is not None:
        out["unit"] = unit
    ucum_code = unit if code is _UNSET else code
    if ucum_code is not None:
        out["code"] = ucum_code
        out["system"] = UCUM
    if comparator:
        out["comparator"] = comparator
    return out


def interpretation(*codes: str) -> list[dict[str, Any]]:
    return [concept(code, INTERPRETATION) for code in codes]


def observation(
    code: str,
    system: str = SNOMED,
    *,
    id: str | None = _UNSET,
    status: str = "final",
    when: str | None = YESTERDAY,
    site: str | None = None,
    side: str | None = None,
    subject: str | None = "Patient/p1",
    **fields: Any,
) -> dict[str, Any]:
    """An Observation; extra FHIR fields are passed through (valueQuantity=..., issued=...)."""
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": concept(code, system),
    }
    out["id"] = f"obs-{next(_ids)}" if id is _UNSET else id
    if out["id"] is None:
        del out["id"]
    if subject:
        out["subject"] = {"reference": subject}
    if when:
        out["effectiveDateTime"] = when
    if site or side:
        out["bodySite"] = body_site(site, side)
    out.update(fields)
    return out


def measurement(loinc: str, value: float | str, unit: str | None, **fields: Any) -> dict[str, Any]:
    """A LOINC Observation with a valueQuantity in `unit`."""
    return observation(loinc, LOINC, valueQuantity=quantity(value, unit), **fields)


def condition(
    code: str,
    system: str = SNOMED,
    *,
    id: str | None = _UNSET,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    onset: str | None = YESTERDAY,
    recorded: str | None = None,
    site: str | None = None,
    side: str | None = None,
    subject: str = "Patient/p1",
    **fields: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "code": concept(code, system),
        "subject": {"reference": subject},
    }
    out["id"] = f"cond-{next(_ids)}" if id is _UNSET else id
    if out["id"] is None:
        del out["id"]
    if clinical:
        out["clinicalStatus"] = concept(
            clinical, "http://terminology.hl7.org/CodeSystem/condition-clinical"
        )
    if verification:
        out["verificationStatus"] = concept(
            verification, "http://terminology.hl7.org/CodeSystem/condition-ver-status"
        )
    if onset:
        out["onsetDateTime"] = onset
    if recorded:
        out["recordedDate"] = recorded
    if site or side:
        out["bodySite"] = [body_site(site, side)]
    out.update(fields)
    return out


def patient(id: str = "p1", birth_date: str | None = "1970-01-01") -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": id}
    if birth_date:
        out["birthDate"] = birth_date
    return out


def bundle(resources: Iterable[dict[str, Any]], type: str = "collection") -> dict[str, Any]:
    """A Bundle whose entries carry `urn:uuid:` fullUrls."""
    return {
        "resourceType": "Bundle",
        "type": type,
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{index:012d}", "resource": resource}
            for index, resource in enumerate(resources)
        ],
    }
