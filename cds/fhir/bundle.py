"""Flattening FHIR values into resources, once, for every path (prefetch, fetched pages, Bundles).

A prefetch value or a posted Bundle becomes a list of `Item`s: each resource still undecoded,
with the name a card cites it by (`Type/id`; else the entry's fullUrl; else "<where> entry
<n>", the entry's own index). Entries without a resource are kept as their index, so they can
be reported; an `entry` that is not a list is a `BundleError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from .elements import UNSET, Bundle, Entry, Link, decoder


class BundleError(ValueError):
    """A Bundle whose structure cannot be read (e.g. `entry` is not a list)."""


@dataclass(frozen=True, slots=True)
class Item:
    raw: msgspec.Raw
    locator: str  # the fullUrl, or "<where> entry <n>"; the reader prefers Type/id
    where: str  # "observations", "Bundle"


@dataclass
class Flattened:
    items: list[Item] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "observations entry 2": no resource
    unreadable: list[str] = field(default_factory=list)  # entries that are not objects
    next_link: str | None = None


def _is_bundle(raw: msgspec.Raw) -> Bundle | None:
    try:
        head = decoder(Bundle).decode(raw)
    except msgspec.ValidationError as exc:
        if "`$.entry`" in str(exc):
            raise BundleError("entry must be a list of Bundle entries") from exc
        return None
    return head if head.resourceType == "Bundle" else None


def flatten(raw: msgspec.Raw, where: str, into: Flattened | None = None) -> Flattened:
    """The resources of one value: a Bundle's entries, or the value itself (a single resource).

    Raises BundleError when the value is a Bundle whose `entry` is not a list, and
    msgspec.DecodeError when it is not JSON at all.
    """
    out = into if into is not None else Flattened()
    bundle = _is_bundle(raw)
    if bundle is None:
        out.items.append(Item(raw, where, where))
        return out
    for link in bundle.link or ():
        try:
            parsed = decoder(Link).decode(link)
        except msgspec.ValidationError:
            continue
        if parsed.relation == "next" and parsed.url:
            out.next_link = parsed.url
    for index, entry_raw in enumerate(bundle.entry or ()):
        locator = f"{where} entry {index}"
        try:
            entry = decoder(Entry).decode(entry_raw)
        except msgspec.ValidationError:
            out.unreadable.append(locator)
            continue
        if entry.resource is UNSET:
            out.skipped.append(locator)
            continue
        out.items.append(Item(entry.resource, entry.fullUrl or locator, where))
    return out
