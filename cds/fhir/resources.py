"""FHIR resources calf-cds builds or checks, through fhir.resources (R4B models).

Every resource the service writes is built and validated by the library here: the draft
ServiceRequest of a suggestion, the four CodeSystems, and whole-resource validation for
`calf-cds validate` (full R4 validity, unlike the hook's reading path, which decodes only the
elements the rules read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from ..core.model import Code, Referral


def _concept(code: Code) -> CodeableConcept:
    coding = Coding(system=code.system, code=code.code, display=code.display or None)
    return CodeableConcept(coding=[coding])


def service_request(referral: Referral) -> dict[str, Any]:
    """The draft ServiceRequest of a suggestion (§7.1), as R4 JSON. Optional elements that do
    not apply are left out, never sent empty; R4 requires the subject."""
    request = ServiceRequest(
        status="draft",
        intent="proposal",
        priority=referral.priority,
        category=[_concept(referral.category)],
        code=_concept(referral.code),
        subject=Reference(reference=referral.subject),
        performerType=_concept(referral.performer) if referral.performer else None,
        reasonReference=[Reference(reference=r) for r in referral.reasons] or None,
    )
    return request.model_dump(mode="json", exclude_none=True)


def problems(resource: Mapping[str, Any]) -> list[str]:
    """Every R4 validity problem of one resource, as "path: message"; [] when valid."""
    resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(resource_type, str):
        return ["resourceType: missing"]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return [f"resourceType: {resource_type!r} is not a FHIR resource type"]
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        return [
            f"{'.'.join(str(part) for part in error['loc']) or '(resource)'}: {error['msg']}"
            for error in exc.errors()
        ]
    return []


def validate_resource(resource: Mapping[str, Any]) -> None:
    """Raise ValueError naming the resource type and every failing element."""
    found = problems(resource)
    if found:
        raise ValueError(f"{resource.get('resourceType')}: " + "; ".join(found))
