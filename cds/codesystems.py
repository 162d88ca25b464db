"""The service's four CodeSystems as R4 JSON, and the rule catalog (clinical-rules.md §2, §4).

`<fhir_base>/CodeSystem/{finding,rule,override-reason,referral}`: status active, content
complete, every concept with a display. Pure; built from the rule table, the finding catalog and
the route table, never typed by hand twice.
"""

from __future__ import annotations

from typing import Any

from . import findings
from .cards import OVERRIDE_REASONS
from .config import RULE_SET_VERSION, Settings
from .routes import LOCAL_REFERRAL_CODES
from .rules import RULE_SET_LABEL, RULES, Rule

__all__ = ["CODE_SYSTEM_NAMES", "RULE_SET_LABEL", "code_system", "code_systems", "rule_catalog"]

CODE_SYSTEM_NAMES: tuple[str, ...] = ("finding", "rule", "override-reason", "referral")

_TITLES = {
    "finding": ("CalfCdsFinding", "calf-cds local finding codes"),
    "rule": ("CalfCdsRule", "calf-cds rule identifiers"),
    "override-reason": ("CalfCdsOverrideReason", "calf-cds card override reasons"),
    "referral": ("CalfCdsReferral", "calf-cds local referral codes"),
}
_DESCRIPTIONS = {
    "finding": "Findings of the calf-pain rule set with no verified standard code "
    "(clinical-rules.md §3); code = the finding's local name.",
    "rule": "Rules of the calf-pain rule set (clinical-rules.md §4); code = the rule id verbatim.",
    "override-reason": "Reasons a clinician may give for overriding a calf-cds card.",
    "referral": "Referral codes calf-cds uses where no standard code is verified "
    "(clinical-rules.md §6).",
}


def _concepts(name: str) -> list[dict[str, str]]:
    if name == "finding":
        return [{"code": c.code, "display": c.display} for c in findings.local_finding_codes()]
    if name == "rule":
        return [{"code": rule.id, "display": rule.name} for rule in RULES]
    if name == "override-reason":
        return [{"code": code, "display": display} for code, display in OVERRIDE_REASONS]
    if name == "referral":
        return [
            {"code": code, "display": display} for code, display in LOCAL_REFERRAL_CODES.items()
        ]
    raise KeyError(name)


def code_system(name: str, *, fhir_base: str) -> dict[str, Any]:
    """One CodeSystem as a valid R4 JSON dict. Raises KeyError for an unknown name."""
    machine_name, title = _TITLES[name]
    concepts = _concepts(name)
    return {
        "resourceType": "CodeSystem",
        "id": f"calf-cds-{name}",
        "url": f"{fhir_base.rstrip('/')}/CodeSystem/{name}",
        "version": RULE_SET_VERSION,
        "name": machine_name,
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": "calf-cds",
        "description": _DESCRIPTIONS[name],
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def code_systems(settings: Settings) -> dict[str, dict[str, Any]]:
    """All four CodeSystems by name, under the deployment's `fhir_base`."""
    return {name: code_system(name, fhir_base=settings.fhir_base) for name in CODE_SYSTEM_NAMES}


def _catalog_row(rule: Rule) -> dict[str, Any]:
    source: dict[str, str] = {"label": rule.source.label}
    if rule.source.url:
        source["url"] = rule.source.url
    return {
        "id": rule.id,
        "name": rule.name,
        "tier": rule.tier.value,
        "route": rule.route,
        "source": source,
        "summary": rule.summary,
        "findings": list(rule.findings_used),
    }


_CATALOG: tuple[dict[str, Any], ...] = tuple(_catalog_row(rule) for rule in RULES)


def rule_catalog() -> list[dict[str, Any]]:
    """Every rule (tier, then id): id, name, tier, route, source {label, url}, summary template,
    and the finding ids its condition reads (derived from the condition expression)."""
    return [
        {**row, "source": dict(row["source"]), "findings": list(row["findings"])}
        for row in _CATALOG
    ]
