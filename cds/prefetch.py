"""Prefetch: the templates discovery advertises, and reading the values an EHR sends.

cds-hooks.md "Request" and "Missing prefetch": a key that is missing, an OperationOutcome, or a
value that is not a FHIR resource at all is *unsatisfied*; `null` is "no data" (satisfied, never
refetched); a Bundle's entries and a single resource are read. Malformed content inside a present
value is left for `fhir_input` to skip and count per resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from .config import Settings
from .findings import observation_prefetch_codes

PATIENT, OBSERVATIONS, CONDITIONS = "patient", "observations", "conditions"
PREFETCH_KEYS = (PATIENT, OBSERVATIONS, CONDITIONS)
CLINICAL_KEYS = (OBSERVATIONS, CONDITIONS)

_TEMPLATE_CACHE: dict[tuple[str, ...], dict[str, str]] = {}


def prefetch_templates(settings: Settings) -> dict[str, str]:
    """The three prefetch templates; the Observation code list comes from the finding catalog."""
    key = (settings.fhir_base, *settings.extra_observation_codes)
    cached = _TEMPLATE_CACHE.get(key)
    if cached is None:
        codes = ",".join(observation_prefetch_codes(settings))
        cached = {
            PATIENT: "Patient/{{context.patientId}}",
            OBSERVATIONS: "Observation?patient={{context.patientId}}&code=" + codes,
            # R4 Condition has no `date` search parameter: no _sort=-date here.
            CONDITIONS: "Condition?patient={{context.patientId}}",
        }
        _TEMPLATE_CACHE[key] = cached
    return dict(cached)


@dataclass
class PrefetchRead:
    """What one request's prefetch holds."""

    resources: list[Any] = field(default_factory=list)
    unsatisfied: list[str] = field(default_factory=list)
    entries: int = 0
    next_links: dict[str, str] = field(default_factory=dict)  # key -> Bundle `next` URL

    def add_bundle_or_resource(self, key: str, value: Any) -> bool:
        """Add a fetched or prefetched value; False when it is not a usable FHIR value."""
        if not _is_resource(value) or value["resourceType"] == "OperationOutcome":
            return False
        if value["resourceType"] == "Bundle":
            entries = value.get("entry") or []
            if not isinstance(entries, list):
                entries = [entries]
            self.entries += len(entries)
            try:
                # Entries parsed from JSON are plain dicts: their resources at C speed.
                resources = list(map(dict.get, entries, repeat("resource")))
            except TypeError:  # an entry that is not a dict: passed on for counting
                resources = [
                    entry.get("resource") if isinstance(entry, Mapping) else entry
                    for entry in entries
                ]
            self.resources += resources
            next_url = _next_link(value)
            if next_url:
                self.next_links[key] = next_url
        else:
            self.entries += 1
            self.resources.append(value)
        return True


def read_prefetch(prefetch: Mapping[str, Any] | None) -> PrefetchRead:
    """Flatten every prefetch value into resources; name our keys that are unsatisfied.

    Values under keys we did not ask for are read too: more data can only reveal a red flag.
    """
    read = PrefetchRead()
    prefetch = prefetch or {}
    for key in PREFETCH_KEYS:
        if key not in prefetch or (
            prefetch[key] is not None and not read.add_bundle_or_resource(key, prefetch[key])
        ):
            read.unsatisfied.append(key)
    for key, value in prefetch.items():
        if key not in PREFETCH_KEYS and value is not None:
            read.add_bundle_or_resource(key, value)
    return read


def _is_resource(value: Any) -> bool:
    return (type(value) is dict or isinstance(value, Mapping)) and isinstance(
        value.get("resourceType"), str
    )


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None
