"""The service's four CodeSystems, built and validated with fhir.resources (§2 "Local codes").

`<fhir_base>/CodeSystem/{finding,rule,override-reason,referral}`: status active, content
complete, every concept with a display. Built from the finding catalog, the rule table, the
override reasons and the route table, never typed by hand twice.
"""

from __future__ import annotations

import functools
from typing import Any

from fhir.resources.R4B.codesystem import CodeSystem, CodeSystemConcept

from ..core import findings
from ..core.cards import OVERRIDE_REASONS
from ..core.routes import LOCAL_REFERRAL_CODES
from ..core.rules import RULE_SET_VERSION, RULES

CODE_SYSTEM_NAMES: tuple[str, ...] = ("finding", "rule", "override-reason", "referral")

_TITLES = {
    "finding": ("CalfCdsFinding", "calf-cds local finding codes"),
    "rule": ("CalfCdsRule", "calf-cds rule identifiers"),
    "override-reason": ("CalfCdsOverrideReason", "calf-cds card override reasons"),
    "referral": ("CalfCdsReferral", "calf-cds local referral codes"),
}
_DESCRIPTIONS = {
    "finding": "Findings of the calf-pain rule set with no verified standard code; "
    "code = the finding's local name.",
    "rule": "Rules of the calf-pain rule set; code = the rule id verbatim.",
    "override-reason": "Reasons a clinician may give for overriding a calf-cds card.",
    "referral": "Referral codes calf-cds uses where no standard code is verified.",
}


def _concepts(name: str) -> list[tuple[str, str]]:
    if name == "finding":
        return [(c.code, c.display) for c in findings.local_finding_codes()]
    if name == "rule":
        return [(rule.id, rule.name) for rule in RULES]
    if name == "override-reason":
        return list(OVERRIDE_REASONS)
    if name == "referral":
        return list(LOCAL_REFERRAL_CODES.items())
    raise KeyError(name)


@functools.lru_cache(maxsize=32)
def code_system(name: str, *, fhir_base: str) -> dict[str, Any]:
    """One CodeSystem as R4 JSON. Raises KeyError for an unknown name."""
    machine_name, title = _TITLES[name]
    concepts = _concepts(name)
    resource = CodeSystem(
        id=f"calf-cds-{name}",
        url=f"{fhir_base.rstrip('/')}/CodeSystem/{name}",
        version=RULE_SET_VERSION,
        name=machine_name,
        title=title,
        status="active",
        experimental=False,
        publisher="calf-cds",
        description=_DESCRIPTIONS[name],
        caseSensitive=True,
        content="complete",
        count=len(concepts),
        concept=[CodeSystemConcept(code=code, display=display) for code, display in concepts],
    )
    return resource.model_dump(mode="json", exclude_none=True)


def code_systems(fhir_base: str) -> dict[str, dict[str, Any]]:
    """All four CodeSystems by name, under the deployment's base."""
    return {name: code_system(name, fhir_base=fhir_base) for name in CODE_SYSTEM_NAMES}
