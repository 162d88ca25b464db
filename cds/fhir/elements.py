"""Typed models of exactly the FHIR R4 elements the rules read (msgspec Structs).

A resource is decoded once into `Resource`, whose elements stay undecoded (`msgspec.Raw`) until
the reader asks for one; each element is then decoded on its own, so a malformed element only
affects what that element decides (clinical-rules.md §2 "What makes a resource unreadable").
Elements no rule reads are skipped by the decoder and never validated. msgspec was chosen over
the full fhir.resources models for this path: it decodes and type-checks these few elements
straight from the request bytes without building the whole resource (docs/architecture.md).
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType


class Entry(Struct, frozen=True):
    """A Bundle entry: its resource stays undecoded until it is screened."""

    fullUrl: str | UnsetType = UNSET  # noqa: N815 - FHIR element names
    resource: Raw | UnsetType = UNSET


class Link(Struct, frozen=True):
    relation: str = ""
    url: str = ""


class Bundle(Struct, frozen=True):
    """The Bundle elements a reader follows: entries and paging links."""

    resourceType: str = ""  # noqa: N815
    entry: list[Raw] | UnsetType = UNSET
    link: list[Raw] | UnsetType = UNSET


class Resource(Struct, frozen=True):
    """Observation, Condition and Patient elements the rules read, each undecoded."""

    resourceType: Raw | UnsetType = UNSET  # noqa: N815
    id: Raw | UnsetType = UNSET
    status: Raw | UnsetType = UNSET
    code: Raw | UnsetType = UNSET
    subject: Raw | UnsetType = UNSET
    effectiveDateTime: Raw | UnsetType = UNSET  # noqa: N815
    effectiveInstant: Raw | UnsetType = UNSET  # noqa: N815
    effectivePeriod: Raw | UnsetType = UNSET  # noqa: N815
    issued: Raw | UnsetType = UNSET
    valueQuantity: Raw | UnsetType = UNSET  # noqa: N815
    valueCodeableConcept: Raw | UnsetType = UNSET  # noqa: N815
    valueString: Raw | UnsetType = UNSET  # noqa: N815
    valueBoolean: Raw | UnsetType = UNSET  # noqa: N815
    valueInteger: Raw | UnsetType = UNSET  # noqa: N815
    dataAbsentReason: Raw | UnsetType = UNSET  # noqa: N815
    interpretation: Raw | UnsetType = UNSET
    referenceRange: Raw | UnsetType = UNSET  # noqa: N815
    bodySite: Raw | UnsetType = UNSET  # noqa: N815
    component: Raw | UnsetType = UNSET
    clinicalStatus: Raw | UnsetType = UNSET  # noqa: N815
    verificationStatus: Raw | UnsetType = UNSET  # noqa: N815
    onsetDateTime: Raw | UnsetType = UNSET  # noqa: N815
    onsetPeriod: Raw | UnsetType = UNSET  # noqa: N815
    recordedDate: Raw | UnsetType = UNSET  # noqa: N815
    birthDate: Raw | UnsetType = UNSET  # noqa: N815


class Coding(Struct, frozen=True):
    system: str = ""
    code: str = ""
    display: str = ""
    extension: list[Raw] = []


class Extension(Struct, frozen=True):
    """An extension that may carry a laterality code (§2 "Laterality")."""

    valueCodeableConcept: Raw | UnsetType = UNSET  # noqa: N815
    valueCoding: Raw | UnsetType = UNSET  # noqa: N815


class CodeableConcept(Struct, frozen=True):
    coding: list[Raw] = []
    text: str = ""
    extension: list[Raw] = []


class Quantity(Struct, frozen=True):
    value: float | UnsetType = UNSET
    unit: str | UnsetType = UNSET
    code: str | UnsetType = UNSET
    comparator: str | UnsetType = UNSET


class Range(Struct, frozen=True):
    low: Quantity | UnsetType = UNSET
    high: Quantity | UnsetType = UNSET


class Period(Struct, frozen=True):
    start: str | UnsetType = UNSET
    end: str | UnsetType = UNSET


class Reference(Struct, frozen=True):
    reference: str | UnsetType = UNSET


class Component(Struct, frozen=True):
    code: Raw | UnsetType = UNSET
    valueQuantity: Raw | UnsetType = UNSET  # noqa: N815
    valueCodeableConcept: Raw | UnsetType = UNSET  # noqa: N815
    valueString: Raw | UnsetType = UNSET  # noqa: N815
    valueBoolean: Raw | UnsetType = UNSET  # noqa: N815
    valueInteger: Raw | UnsetType = UNSET  # noqa: N815
    dataAbsentReason: Raw | UnsetType = UNSET  # noqa: N815
    interpretation: Raw | UnsetType = UNSET
    referenceRange: Raw | UnsetType = UNSET  # noqa: N815
    extension: list[Raw] = []


# One decoder per type, built once (msgspec decoders are reusable and thread-safe).
DECODERS: dict[type, msgspec.json.Decoder] = {}  # type: ignore[type-arg]


def decoder(kind: type) -> msgspec.json.Decoder:  # type: ignore[type-arg]
    found = DECODERS.get(kind)
    if found is None:
        found = DECODERS[kind] = msgspec.json.Decoder(kind)
    return found


_WORDS = {
    "float": "is not a number",
    "int": "is not a whole number",
    "str": "is not a string",
    "bool": "is not true or false",
    "array": "is not a list",
    "object": "is not an object",
}


def problem(error: msgspec.ValidationError | msgspec.DecodeError) -> tuple[str, str]:
    """(sub-path, problem) of a decode error: ("value", "is not a number")."""
    message = str(error)
    path = ""
    if " - at `$" in message:
        message, _, where = message.partition(" - at `$")
        path = where.rstrip("`").lstrip(".")
    for word, text in _WORDS.items():
        if f"Expected `{word}" in message:
            return path, text
    return path, "is malformed"


__all__ = [
    "UNSET",
    "Bundle",
    "CodeableConcept",
    "Coding",
    "Component",
    "Entry",
    "Extension",
    "Link",
    "Period",
    "Quantity",
    "Range",
    "Raw",
    "Reference",
    "Resource",
    "decoder",
    "problem",
]
