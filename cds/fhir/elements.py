"""Typed models of exactly the FHIR R4 elements the rules read (msgspec Structs).

msgspec decodes and type-checks these few elements straight from the request bytes, skipping
every element no rule reads without building it (docs/architecture.md explains the choice).
A resource normally decodes in one go; when one of its elements is malformed, `decode_resource`
decodes it element by element into the same model, leaving the malformed element unset and
naming it, so the reader can apply clinical-rules.md §2 "What makes a resource unreadable".
"""

from __future__ import annotations

from typing import Any, get_type_hints

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from ..core.i18n import N_

__all__ = [
    "UNSET",
    "CodeableConcept",
    "Coding",
    "Component",
    "Entry",
    "Extension",
    "Link",
    "Malformed",
    "NamedCoding",
    "NamedConcept",
    "Period",
    "Quantity",
    "Range",
    "Raw",
    "RawBundle",
    "RawEntry",
    "Reference",
    "Resource",
    "UnsetType",
    "Value",
    "decode_concept",
    "decode_resource",
    "decoder",
    "problem",
]


class Coding(Struct, frozen=True, gc=False):
    system: str = ""
    code: str = ""
    extension: tuple[Extension, ...] = ()


class CodeableConcept(Struct, frozen=True, gc=False):
    coding: tuple[Coding, ...] = ()
    extension: tuple[Extension, ...] = ()


# Words are read only where codes may not tell the side: an ABI component's code (§2).
class NamedCoding(Coding, frozen=True, gc=False):
    display: str = ""


class NamedConcept(CodeableConcept, frozen=True, gc=False):
    coding: tuple[NamedCoding, ...] = ()
    text: str = ""


class Extension(Struct, frozen=True, gc=False):
    """An extension that may carry a laterality code (§2 "Laterality")."""

    valueCodeableConcept: CodeableConcept | UnsetType = UNSET
    valueCoding: Coding | UnsetType = UNSET


class Quantity(Struct, frozen=True, gc=False):
    value: float | UnsetType = UNSET
    unit: str | UnsetType = UNSET
    code: str | UnsetType = UNSET
    comparator: str | UnsetType = UNSET


class Range(Struct, frozen=True, gc=False):
    low: Quantity | UnsetType = UNSET
    high: Quantity | UnsetType = UNSET


class Period(Struct, frozen=True, gc=False):
    start: str | UnsetType = UNSET
    end: str | UnsetType = UNSET


class Reference(Struct, frozen=True, gc=False):
    reference: str | UnsetType = UNSET


class Component(Struct, frozen=True, gc=False):
    code: NamedConcept | UnsetType = UNSET
    valueQuantity: Quantity | UnsetType = UNSET
    valueCodeableConcept: CodeableConcept | UnsetType = UNSET
    valueString: str | UnsetType = UNSET
    valueBoolean: bool | UnsetType = UNSET
    valueInteger: int | UnsetType = UNSET
    dataAbsentReason: Raw | UnsetType = UNSET
    interpretation: list[CodeableConcept] | UnsetType = UNSET
    referenceRange: list[Range] | UnsetType = UNSET
    extension: tuple[Extension, ...] = ()


class Resource(Struct, frozen=True, gc=False):
    """Observation, Condition and Patient elements the rules read (§2)."""

    resourceType: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    code: CodeableConcept | UnsetType = UNSET
    subject: Reference | UnsetType = UNSET
    effectiveDateTime: str | UnsetType = UNSET
    effectiveInstant: str | UnsetType = UNSET
    effectivePeriod: Period | UnsetType = UNSET
    issued: str | UnsetType = UNSET
    valueQuantity: Quantity | UnsetType = UNSET
    valueCodeableConcept: CodeableConcept | UnsetType = UNSET
    valueString: str | UnsetType = UNSET
    valueBoolean: bool | UnsetType = UNSET
    valueInteger: int | UnsetType = UNSET
    dataAbsentReason: Raw | UnsetType = UNSET
    interpretation: list[CodeableConcept] | UnsetType = UNSET
    referenceRange: list[Range] | UnsetType = UNSET
    # Observation.bodySite is one concept, Condition.bodySite a list: read by the reader.
    bodySite: Raw | UnsetType = UNSET
    component: list[Component] | UnsetType = UNSET
    clinicalStatus: CodeableConcept | UnsetType = UNSET
    verificationStatus: CodeableConcept | UnsetType = UNSET
    onsetDateTime: str | UnsetType = UNSET
    onsetPeriod: Period | UnsetType = UNSET
    recordedDate: str | UnsetType = UNSET
    birthDate: str | UnsetType = UNSET
    # No rule reads these: the red-flag check app's banner shows them as the EHR wrote them.
    name: Raw | UnsetType = UNSET
    gender: Raw | UnsetType = UNSET


class Entry(Struct, frozen=True, gc=False):
    fullUrl: str | UnsetType = UNSET
    resource: Resource | UnsetType = UNSET


class Link(Struct, frozen=True, gc=False):
    relation: str = ""
    url: str = ""


class Value(Resource, frozen=True, gc=False):
    """A prefetch value or posted document: a Bundle (its entries and paging links) or one
    resource (the elements above), decoded alike, since neither has the other's members."""

    entry: list[Entry] | UnsetType = UNSET
    link: list[Link] | UnsetType = UNSET


# The same shapes with their members undecoded, for decoding one member at a time.
class RawEntry(Struct, frozen=True, gc=False):
    fullUrl: Raw | UnsetType = UNSET
    resource: Raw | UnsetType = UNSET


class RawBundle(Struct, frozen=True, gc=False):
    resourceType: Raw | UnsetType = UNSET
    entry: Raw | UnsetType = UNSET
    link: Raw | UnsetType = UNSET


_RESOURCE_FIELDS: dict[str, Any] = get_type_hints(Resource)
RawResource = msgspec.defstruct(
    "RawResource", [(name, Raw | UnsetType, UNSET) for name in _RESOURCE_FIELDS], frozen=True
)

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """One reusable decoder per type (msgspec decoders are thread-safe)."""
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = msgspec.json.Decoder(kind)
    return found


# What is wrong, by the type msgspec expected: message ids, translated on the card.
_WORDS = {
    "float": N_("is not a number"),
    "int": N_("is not a whole number"),
    "str": N_("is not a string"),
    "bool": N_("is not true or false"),
    "array": N_("is not a list"),
    "object": N_("is not an object"),
}
_MALFORMED = N_("is malformed")


def problem(error: Exception) -> tuple[str, str]:
    """(path below the element, what is wrong) of a decode error: ("value", "is not a number")."""
    message = str(error)
    path = ""
    if " - at `$" in message:
        message, _, where = message.partition(" - at `$")
        path = where.rstrip("`").lstrip(".")
    for word, text in _WORDS.items():
        if f"Expected `{word}" in message:
            return path, text
    return path, _MALFORMED


class Malformed(Struct, frozen=True):
    """A malformed element: where (a path like "valueQuantity.value"), what, and its bytes."""

    path: str
    problem: str
    raw: Raw


class LenientConcept(Struct, frozen=True, gc=False):
    coding: list[Raw] = []
    text: str | UnsetType = UNSET


def decode_resource(raw: Raw) -> tuple[Resource, dict[str, Malformed]]:
    """A resource decoded element by element: the model with its malformed elements unset, and
    those elements by name. Raises msgspec errors when `raw` is not a JSON object at all."""
    members = decoder(RawResource).decode(raw)
    values: dict[str, Any] = {}
    malformed: dict[str, Malformed] = {}
    for name, kind in _RESOURCE_FIELDS.items():
        member = getattr(members, name)
        if member is UNSET:
            continue
        try:
            values[name] = decoder(kind).decode(member)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            sub, text = problem(exc)
            malformed[name] = Malformed(f"{name}.{sub}" if sub else name, text, member)
    return Resource(**values), malformed


def decode_concept(raw: Raw) -> tuple[CodeableConcept, list[int]] | None:
    """A concept whose codings are decoded one by one: the readable ones, and the indexes of
    those that are not. None when it is not a concept at all."""
    try:
        loose = decoder(LenientConcept).decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    codings: list[Coding] = []
    bad: list[int] = []
    for index, item in enumerate(loose.coding):
        try:
            codings.append(decoder(Coding).decode(item))
        except (msgspec.ValidationError, msgspec.DecodeError):
            bad.append(index)
    return CodeableConcept(coding=tuple(codings)), bad
