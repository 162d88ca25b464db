"""The one registry of CDS services: it drives discovery and routing (conventions habit 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import Settings
from .fhir.prefetch import prefetch_templates


@dataclass(frozen=True)
class ServiceDef:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str = ""

    def discovery(self, settings: Settings) -> dict[str, Any]:
        """This service's entry in `GET /cds-services` (CDS Hooks 2.0 §Discovery)."""
        entry: dict[str, Any] = {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": prefetch_templates(settings.policy, settings.extra_observation_codes),
        }
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


_DESCRIPTION = (
    "Red-flag triage of calf and lower-leg pain from the patient's Observations and Conditions "
    "(rule set 2026.2): thrombosis, acute limb ischaemia, cauda equina, compartment syndrome, "
    "arterial disease, radiculopathy, and self-care when only benign causes fit."
)
_USAGE = (
    "Send Observations and Conditions as prefetch or grant FHIR read access; "
    "decision support only, clinical judgement applies."
)

SERVICES: dict[str, ServiceDef] = {
    service.id: service
    for service in (
        ServiceDef(
            id="calf-pain-triage",
            hook="patient-view",
            title="Calf pain red-flag triage",
            description=_DESCRIPTION,
            usage_requirements=_USAGE,
        ),
        ServiceDef(
            id="calf-pain-triage-encounter",
            hook="encounter-start",
            title="Calf pain red-flag triage (encounter start)",
            description=_DESCRIPTION,
            usage_requirements=_USAGE,
        ),
    )
}
DEFAULT_SERVICE_ID = "calf-pain-triage"
