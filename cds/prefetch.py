"""Prefetch: the templates discovery advertises, and reading the values an EHR sends.

cds-hooks.md "Request" and "Missing prefetch": a key that is missing, an OperationOutcome, or a
value that is not a FHIR resource at all is *unsatisfied*; `null` is "no data" (satisfied, never
refetched); a Bundle's entries and a single resource are read. Malformed content inside a present
value is left for `fhir_input` to skip and count per resource.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any

from .config import Settings
from .findings import LOINC, SNOMED, observation_prefetch_codes
from .model import LOCAL_FINDING_SYSTEM_SUFFIX

if TYPE_CHECKING:  # httpx stays unimported until a fetch is wired in (cds.create_app)
    from .fhir_client import FetchOutcome

log = logging.getLogger("cds.prefetch")

PATIENT, OBSERVATIONS, CONDITIONS = "patient", "observations", "conditions"
PREFETCH_KEYS = (PATIENT, OBSERVATIONS, CONDITIONS)
CLINICAL_KEYS = (OBSERVATIONS, CONDITIONS)
# A query the service makes for the later pages of a prefetched Bundle: "<key>#next".
NEXT_SUFFIX = "#next"
# Many gateways cut URLs at 2,048 characters; a template stays within this (README, integrators).
TEMPLATE_LIMIT = 2000

_TEMPLATE_CACHE: dict[tuple[str, ...], dict[str, str]] = {}


def prefetch_templates(settings: Settings) -> dict[str, str]:
    """The three prefetch templates discovery advertises (and the fetch path asks for).

    The observations template must fit an EHR's URL limits (TEMPLATE_LIMIT) while no catalog
    code becomes unfetchable. Named with their systems, the catalog's ~145 codes take some 5,500
    characters; named without (`code=8310-5,300954003,...`, token equality as the CDS Hooks
    prefetch subset shows it), about 1,700, and a FHIR server matches each in any system. The
    EHR may return a few more Observations (an equal code in another system); the reader keeps
    only catalog system|code pairs, so they change nothing. Not chosen: a query by category
    (an uncategorised red-flag Observation would never be sent) and `code:in=<ValueSet>` (few
    EHRs expand a ValueSet in a search). Newest first (`_sort=-date`), so a page cap cuts the
    oldest results; R4 Condition has no `date` search parameter, so no `_sort` there.
    """
    key = (settings.fhir_base, *settings.extra_observation_codes, *settings.extra_cancer_codes)
    cached = _TEMPLATE_CACHE.get(key)
    if cached is None:
        codes = ",".join(observation_search_codes(settings))
        cached = {
            PATIENT: "Patient/{{context.patientId}}",
            OBSERVATIONS: "Observation?patient={{context.patientId}}&code="
            + codes
            + "&_sort=-date",
            CONDITIONS: "Condition?patient={{context.patientId}}",
        }
        for name, template in cached.items():
            if len(template) > TEMPLATE_LIMIT:
                log.warning(
                    "prefetch template %s is %d characters, over %d: some gateways will cut it "
                    "(check CDS_EXTRA_OBSERVATION_CODES and CDS_EXTRA_CANCER_CODES)",
                    name,
                    len(template),
                    TEMPLATE_LIMIT,
                )
        _TEMPLATE_CACHE[key] = cached
    return dict(cached)


def observation_search_codes(settings: Settings) -> list[str]:
    """The `code` values of the observations query, one for every catalog code: LOINC, SNOMED CT
    and calf-cds's own finding codes without their system, any other `system|code` as is."""
    bare_systems = {LOINC, SNOMED, settings.fhir_base.rstrip("/") + LOCAL_FINDING_SYSTEM_SUFFIX}
    out: dict[str, None] = {}
    for wire in observation_prefetch_codes(settings):
        system, bar, code = wire.rpartition("|")
        out[code if not bar or system in bare_systems else wire] = None
    return list(out)


def fetch_templates(settings: Settings) -> dict[str, str]:
    """The queries the service sends itself for unsatisfied keys: the discovery templates, with
    the page size the service sets (`_count`) on the two searches."""
    templates = prefetch_templates(settings)
    page = f"&_count={settings.fhir_page_size}"
    return {
        key: template + page if key in CLINICAL_KEYS else template
        for key, template in templates.items()
    }


@dataclass
class PrefetchRead:
    """What one request's prefetch holds."""

    resources: list[Any] = field(default_factory=list)
    unsatisfied: list[str] = field(default_factory=list)
    entries: int = 0
    next_links: dict[str, str] = field(default_factory=dict)  # key -> Bundle `next` URL
    # key -> what was not read, in words for the info card (a query cut short)
    incomplete: dict[str, str] = field(default_factory=dict)

    def add_fetched(self, query_key: str, outcome: FetchOutcome) -> None:
        """Add what the service fetched for `query_key` (a key, or "<key>#next" for the later
        pages of a prefetched Bundle): its resources satisfy the key, a cut is remembered."""
        key = query_key.removesuffix(NEXT_SUFFIX)
        if outcome.resources is None:
            if query_key.endswith(NEXT_SUFFIX):
                self.incomplete[key] = f"later pages could not be fetched ({outcome.reason})"
            return
        self.resources.extend(outcome.resources)
        self.entries += len(outcome.resources)
        if key in self.unsatisfied:
            self.unsatisfied.remove(key)
        if outcome.truncated:
            self.incomplete[key] = outcome.note or "not every page was read"

    def pages_not_fetched(self, why: str) -> None:
        """The prefetched Bundles' later pages will not be fetched (`why`): name them."""
        for key in self.next_links:
            self.incomplete.setdefault(key, f"later pages were not fetched ({why})")

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
