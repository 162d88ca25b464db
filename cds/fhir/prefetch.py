"""Prefetch: the templates discovery advertises, and reading the values an EHR sends.

cds-hooks.md "Request" and "Missing prefetch": a key that is missing, an OperationOutcome, or a
value that is not a FHIR resource at all is *unsatisfied*; `null` is "no data" (satisfied, never
refetched); a Bundle's entries and a single resource are read. Malformed content inside a present
value is left for the reader to skip and count per resource; a prefetch Bundle whose `entry` is
not a list is unsatisfied (named on the card) rather than a 400, so a red flag in another key is
never lost for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from ..core.findings import observation_codes
from ..core.policy import Policy
from . import elements as el
from .bundle import BundleError, Flattened, NotAResource, flatten

PATIENT, OBSERVATIONS, CONDITIONS = "patient", "observations", "conditions"
PREFETCH_KEYS = (PATIENT, OBSERVATIONS, CONDITIONS)
CLINICAL_KEYS = (OBSERVATIONS, CONDITIONS)


def prefetch_templates(
    policy: Policy, extra_observation_codes: tuple[str, ...] = ()
) -> dict[str, str]:
    """The three prefetch templates; the Observation code list comes from the finding catalog."""
    codes = ",".join(observation_codes(policy, extra_observation_codes))
    return {
        PATIENT: "Patient/{{context.patientId}}",
        OBSERVATIONS: "Observation?patient={{context.patientId}}&code=" + codes,
        # R4 Condition has no `date` search parameter: no _sort=-date here.
        CONDITIONS: "Condition?patient={{context.patientId}}",
    }


@dataclass
class PrefetchRead:
    """What one request's prefetch holds."""

    flattened: Flattened = field(default_factory=Flattened)
    unsatisfied: list[str] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return self.flattened.entries

    @property
    def next_links(self) -> dict[str, str]:
        return self.flattened.next_links

    def add(self, key: str, raw: msgspec.Raw) -> bool:
        """Add a prefetched or fetched value; False when it is not a usable FHIR value."""
        try:
            if _resource_type(raw) == "OperationOutcome":
                return False
            flatten(raw, key, self.flattened)
        except (NotAResource, BundleError):
            return False
        return True


def _resource_type(raw: msgspec.Raw) -> str | None:
    try:
        head: _Head = el.decoder(_Head).decode(raw)
        return head.resourceType
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise NotAResource(str(exc)) from exc


class _Head(msgspec.Struct):
    resourceType: str | None = None


def is_null(raw: msgspec.Raw) -> bool:
    return bytes(raw).strip() == b"null"


def read_prefetch(prefetch: Mapping[str, msgspec.Raw] | None) -> PrefetchRead:
    """Flatten every prefetch value into resources; name our keys that are unsatisfied.

    Values under keys we did not ask for are read too: more data can only reveal a red flag.
    """
    read = PrefetchRead()
    prefetch = prefetch or {}
    for key in PREFETCH_KEYS:
        raw = prefetch.get(key)
        if raw is None or (not is_null(raw) and not read.add(key, raw)):
            read.unsatisfied.append(key)
    for key, raw in prefetch.items():
        if key not in PREFETCH_KEYS and not is_null(raw):
            read.add(key, raw)
    return read
