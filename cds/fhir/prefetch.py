"""Prefetch: the templates discovery advertises, and reading the values an EHR sends.

cds-hooks.md "Request" and "Missing prefetch": a key that is missing, an OperationOutcome, or a
value that is not a FHIR resource at all is *unsatisfied*; `null` is "no data" (satisfied, never
refetched); a Bundle's entries and a single resource are read. Malformed content inside a present
value is left for the reader to skip and count per resource; a prefetch Bundle whose `entry` is
not a list is unsatisfied (named on the card) rather than a 400, so a red flag in another key is
never lost for it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from ..core.findings import LOCAL_FINDING_SYSTEM_SUFFIX, LOINC, SNOMED, observation_codes
from ..core.model import CUT_FAILED, CUT_NOT_FETCHED, QueryCut
from ..core.policy import Policy
from . import elements as el
from .bundle import BundleError, Flattened, NotAResource, flatten

if TYPE_CHECKING:  # httpx stays unimported until a fetch is wired in (cds.create_app)
    from .fetch import FetchOutcome

log = logging.getLogger(__name__)

PATIENT, OBSERVATIONS, CONDITIONS = "patient", "observations", "conditions"
PREFETCH_KEYS = (PATIENT, OBSERVATIONS, CONDITIONS)
CLINICAL_KEYS = (OBSERVATIONS, CONDITIONS)
CLINICAL_RESOURCE_TYPES = frozenset({"Observation", "Condition"})
# A query the service makes for the later pages of a prefetched Bundle: "<key>#next".
NEXT_SUFFIX = "#next"
# Many gateways cut URLs at 2,048 characters; a template stays within this (README, integrators).
TEMPLATE_LIMIT = 2000


def prefetch_templates(
    policy: Policy, extra_observation_codes: tuple[str, ...] = ()
) -> dict[str, str]:
    """The three prefetch templates discovery advertises (and the fetch path asks for).

    The observations template must fit an EHR's URL limits (TEMPLATE_LIMIT) while no catalog
    code becomes unfetchable. Named with their systems, the catalog's codes take some 5,500
    characters; named without (`code=8310-5,300954003,...`, token equality as the CDS Hooks
    prefetch examples write it), about 1,700, and a FHIR server matches each in any system. The
    EHR may return a few more Observations (an equal code in another system); the reader keeps
    only catalog system|code pairs, so they change nothing. Not chosen: a query by category
    (an uncategorised red-flag Observation would never be sent) and `code:in=<ValueSet>` (few
    EHRs expand a ValueSet in a search). Newest first (`_sort=-date`), so a page cap cuts the
    oldest results; R4 Condition has no `date` search parameter, so no `_sort` there.
    """
    return dict(_templates(policy, extra_observation_codes))


@functools.lru_cache(maxsize=16)
def _templates(
    policy: Policy, extra_observation_codes: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    codes = ",".join(observation_search_codes(policy, extra_observation_codes))
    templates = (
        (PATIENT, "Patient/{{context.patientId}}"),
        (OBSERVATIONS, f"Observation?patient={{{{context.patientId}}}}&code={codes}&_sort=-date"),
        (CONDITIONS, "Condition?patient={{context.patientId}}"),
    )
    for name, template in templates:
        if len(template) > TEMPLATE_LIMIT:
            log.warning(
                "prefetch template %s is %d characters, over %d: some gateways will cut it "
                "(check CDS_EXTRA_OBSERVATION_CODES and the configured extra codes)",
                name,
                len(template),
                TEMPLATE_LIMIT,
            )
    return templates


def observation_search_codes(
    policy: Policy, extra_observation_codes: tuple[str, ...] = ()
) -> list[str]:
    """The `code` values of the observations query, one for every catalog code: LOINC, SNOMED CT
    and calf-cds's own finding codes without their system, any other `system|code` as is."""
    bare_systems = {LOINC, SNOMED, policy.base + LOCAL_FINDING_SYSTEM_SUFFIX}
    out: dict[str, None] = {}
    for wire in observation_codes(policy, extra_observation_codes):
        system, bar, code = wire.rpartition("|")
        out[code if not bar or system in bare_systems else wire] = None
    return list(out)


def fetch_templates(
    policy: Policy, extra_observation_codes: tuple[str, ...], page_size: int
) -> dict[str, str]:
    """The queries the service sends itself for unsatisfied keys: the discovery templates, with
    the page size the service sets (`_count`) on the two searches."""
    templates = prefetch_templates(policy, extra_observation_codes)
    page = f"&_count={page_size}"
    return {
        key: template + page if key in CLINICAL_KEYS else template
        for key, template in templates.items()
    }


@dataclass
class PrefetchRead:
    """What one request's prefetch holds, and which queries were not read in full."""

    flattened: Flattened = field(default_factory=Flattened)
    unsatisfied: list[str] = field(default_factory=list)
    incomplete: dict[str, QueryCut] = field(default_factory=dict)

    def add_fetched(self, query_key: str, outcome: FetchOutcome) -> None:
        """Add what the service fetched for `query_key` (a key, or "<key>#next" for the later
        pages of a prefetched Bundle): its resources satisfy the key, a cut is remembered."""
        key = query_key.removesuffix(NEXT_SUFFIX)
        if outcome.flattened is None:
            if query_key.endswith(NEXT_SUFFIX):
                self.incomplete[key] = QueryCut(key, CUT_FAILED)
            return
        self.flattened.extend(outcome.flattened)
        if key in self.unsatisfied:
            self.unsatisfied.remove(key)
        if outcome.truncated:
            self.incomplete[key] = QueryCut(key, outcome.truncated_by or "", outcome.pages)

    @property
    def holds_clinical_resources(self) -> bool:
        """An Observation or Condition was read, under any key (ours or another)."""
        return any(
            item.resource.resourceType in CLINICAL_RESOURCE_TYPES for item in self.flattened.items
        )

    def pages_not_fetched(self) -> None:
        """The prefetched Bundles' later pages will not be fetched (no FHIR server to ask)."""
        for key in self.next_links:
            self.incomplete.setdefault(key, QueryCut(key, CUT_NOT_FETCHED))

    @property
    def entries(self) -> int:
        return self.flattened.entries

    @property
    def next_links(self) -> dict[str, str]:
        return self.flattened.next_links

    def add(self, key: str, value: msgspec.Raw | el.Value) -> bool:
        """Add a prefetched or fetched value; False when it is not a usable FHIR value."""
        try:
            flatten(value, key, self.flattened, refuse={"OperationOutcome"})
        except (NotAResource, BundleError):
            return False
        return True


PrefetchValue = msgspec.Raw | el.Value | None


def _data(value: PrefetchValue) -> msgspec.Raw | el.Value | None:
    """A prefetch value, or None for JSON null ("no data": satisfied, nothing to read)."""
    if isinstance(value, msgspec.Raw) and bytes(value).strip() == b"null":
        return None
    return value


def read_prefetch(prefetch: Mapping[str, PrefetchValue] | None) -> PrefetchRead:
    """Flatten every prefetch value into resources; name our keys that are unsatisfied.

    A value is decoded already (`el.Value`, None for null) when the request body was read in
    one pass (`cds.hook_body_fast`), else still raw. Values under keys we did not ask for are
    read too: more data can only reveal a red flag.
    """
    read = PrefetchRead()
    prefetch = prefetch or {}
    for key in PREFETCH_KEYS:
        if key not in prefetch:
            read.unsatisfied.append(key)
            continue
        value = _data(prefetch[key])
        if value is not None and not read.add(key, value):
            read.unsatisfied.append(key)
    for key, raw in prefetch.items():
        if key in PREFETCH_KEYS:
            continue
        value = _data(raw)
        if value is not None:
            read.add(key, value)
    return read
