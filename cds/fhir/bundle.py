"""Flattening FHIR values into resources, once, for every path (prefetch, fetched pages, Bundles).

A prefetch value or a posted Bundle becomes a list of `Item`s, each a decoded resource with the
name a card cites it by (`Type/id`; else the entry's fullUrl; else "<where> entry <n>", the
entry's own index) and its malformed elements, if any. A value decodes in one go when it is
well formed; otherwise entry by entry and, for the entry at fault, element by element
(`elements.decode_resource`). Entries without a resource are kept by their locator, so they can
be reported; an `entry` that is not a list is a `BundleError` naming it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Set
from dataclasses import dataclass, field

import msgspec

from ..core.i18n import N_
from . import elements as el


class BundleError(ValueError):
    """A Bundle whose structure cannot be read (e.g. `entry` is not a list); its text is a
    message id (`N_`), which the caller translates."""


class NotAResource(ValueError):
    """A value that is not a FHIR resource at all (not an object, no resourceType)."""


class NotJson(NotAResource):
    """A value that is not even JSON text."""


class Item(msgspec.Struct, frozen=True, gc=False):
    """One resource of a value. A Struct like the elements it holds: made once per entry, and
    cheaper to build than a frozen dataclass."""

    resource: el.Resource
    locator: str  # the entry's fullUrl, else "<where> entry <n>", else <where>
    malformed: dict[str, el.Malformed] = {}  # copied per instance by msgspec


@dataclass
class Flattened:
    items: list[Item] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "observations entry 2": no resource
    unreadable: list[str] = field(default_factory=list)  # entries that are not objects
    next_links: dict[str, str] = field(default_factory=dict)  # where -> the `next` page URL
    lone_patients: int = 0  # values that are one Patient resource, not a Bundle

    def extend(self, other: Flattened) -> None:
        """Add another value's resources (a later page of the same query); its `next` link is
        the pager's to follow, not kept here."""
        self.items += other.items
        self.skipped += other.skipped
        self.unreadable += other.unreadable
        self.lone_patients += other.lone_patients

    @property
    def entries(self) -> int:
        """What CDS_MAX_ENTRIES limits: Bundle entries, and any other lone resource (the
        patient's own Patient is no entry)."""
        return len(self.items) + len(self.skipped) + len(self.unreadable) - self.lone_patients


def _string(raw: msgspec.Raw | el.UnsetType) -> str | None:
    """A member that should be a string, or None when it is absent or is not one."""
    if raw is el.UNSET:
        return None
    try:
        value = el.decoder(str).decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return value or None


def _resource_type(raw: msgspec.Raw) -> str | None:
    try:
        head = el.decoder(el.RawBundle).decode(raw)  # any object decodes; others raise
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: JSON, not an object
        raise NotAResource(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise NotJson(str(exc)) from exc
    return _string(head.resourceType)


def _admitted(resource_type: str | None, refuse: Set[str]) -> str:
    """The value's resourceType; NotAResource when it has none or is one of `refuse`."""
    if not resource_type:
        raise NotAResource("resourceType is missing or not a string")
    if resource_type in refuse:
        raise NotAResource(f"{resource_type} is not accepted here")
    return resource_type


def flatten(
    value: msgspec.Raw | el.Value,
    where: str,
    into: Flattened | None = None,
    *,
    refuse: Set[str] = frozenset(),
    first_entry: int = 0,
) -> Flattened:
    """The resources of one value, raw or already decoded: a Bundle's entries, or the value
    itself. A Bundle's entries are numbered from `first_entry` (a later page of a query
    continues its numbering).

    Raises NotJson for text that is not JSON, NotAResource for a value that is not a FHIR
    resource (not an object, or without a resourceType) or is of a type in `refuse`,
    BundleError for a Bundle whose `entry` is not a list of objects.
    """
    out = into if into is not None else Flattened()
    if isinstance(value, el.Value):
        _flatten_decoded(value, where, out, refuse, first_entry)
        return out
    try:
        # The usual value, a well-formed Bundle or resource, is decoded in one pass.
        decoded = el.decoder(el.Value).decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        resource_type = _admitted(_resource_type(value), refuse)
    else:
        _flatten_decoded(decoded, where, out, refuse, first_entry)
        return out
    if resource_type == "Bundle":
        _entry_by_entry(out, value, where, first_entry)
    else:
        _add(out, value, where)
        out.lone_patients += resource_type == "Patient"
    return out


def _flatten_decoded(
    value: el.Value, where: str, out: Flattened, refuse: Set[str], first_entry: int
) -> None:
    resource_type = value.resourceType if isinstance(value.resourceType, str) else None
    if _admitted(resource_type, refuse) != "Bundle":
        out.items.append(Item(value, where))
        out.lone_patients += resource_type == "Patient"
        return
    for index, entry in enumerate(value.entry or (), first_entry):
        if entry.resource is el.UNSET:
            out.skipped.append(f"{where} entry {index}")
        else:
            # Most entries carry a fullUrl: the locator string is made only without one.
            out.items.append(Item(entry.resource, entry.fullUrl or f"{where} entry {index}"))
    _next_link(out, where, value.link or [])


def _add(out: Flattened, raw: msgspec.Raw, locator: str) -> None:
    """One resource, in one go when it is well formed, else element by element; a value that
    is not even an object (or not valid JSON text) is an unreadable entry."""
    try:
        out.items.append(Item(el.decoder(el.Resource).decode(raw), locator))
        return
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    try:
        resource, malformed = el.decode_resource(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        out.unreadable.append(locator)
        return
    out.items.append(Item(resource, locator, malformed))


def _next_link(out: Flattened, where: str, links: list[el.Link]) -> None:
    for link in links:
        if link.relation == "next" and link.url:
            out.next_links[where] = link.url


def _entry_by_entry(out: Flattened, raw: msgspec.Raw, where: str, first_entry: int) -> None:
    try:
        bundle = el.decoder(el.RawBundle).decode(raw)
        entries = (
            [] if bundle.entry is el.UNSET else el.decoder(list[msgspec.Raw]).decode(bundle.entry)
        )
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BundleError(N_("must be a list of Bundle entries")) from exc
    for index, entry_raw in enumerate(entries, first_entry):
        locator = f"{where} entry {index}"
        try:
            entry = el.decoder(el.RawEntry).decode(entry_raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            out.unreadable.append(locator)
            continue
        if entry.resource is el.UNSET:
            out.skipped.append(locator)
            continue
        _add(out, entry.resource, _string(entry.fullUrl) or locator)
    if bundle.link is not el.UNSET:
        # A malformed paging link: the pages after it are not followed.
        with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
            _next_link(out, where, el.decoder(list[el.Link]).decode(bundle.link))
