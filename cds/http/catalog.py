"""The rule catalog and the service's own CodeSystems (clinical-rules.md §2 "Local codes")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from ..core.describe import RuleDescription, catalog
from ..core.findings import wire_system
from ..core.i18n import N_
from ..core.rules import RULE_SET_VERSION
from ..errors import NotFound
from ..fhir.codesystems import code_systems
from .jsonout import json_response
from .language import request_translator
from .runtime import runtime

blueprint = Blueprint("catalog", __name__)


def rule_json(rule: RuleDescription, fhir_base: str) -> dict[str, Any]:
    """One rule as `GET /rules` describes it (schemas.RuleCatalogEntrySchema)."""
    source: dict[str, str] = {"label": rule.source}
    if rule.url:
        source["url"] = rule.url
    return {
        "id": rule.id,
        "name": rule.name,
        "tier": rule.tier,
        "routes": list(rule.routes),
        "topic": rule.topic,
        "criteria": rule.criteria,
        "variants": [{"name": name, "when": when} for name, when in rule.variants],
        "source": source,
        "codes": [
            {
                "finding": f,
                "system": wire_system(system, fhir_base),
                "code": code,
                "display": display,
            }
            for f, system, code, display in rule.codes
        ],
    }


@blueprint.get("/rules")
def rules() -> Response:
    """Names, criteria and variants in the request's language (`lang`, Accept-Language,
    CDS_LANGUAGE), said in Content-Language; ids, codes and displays as they are."""
    base = runtime().settings.fhir_base
    t = request_translator()
    response = json_response(
        {
            "ruleSet": f"calf-cds {RULE_SET_VERSION}",
            "rules": [rule_json(d, base) for d in catalog(t)],
        }
    )
    response.headers["Content-Language"] = t.language
    return response


@blueprint.get("/fhir/CodeSystem/<name>")
def code_system(name: str) -> Response:
    systems = code_systems(runtime().settings.fhir_base)
    if name not in systems:
        raise NotFound(
            N_("unknown CodeSystem '{name}'; known: {known}"),
            name=name,
            known=", ".join(sorted(systems)),
        )
    return json_response(systems[name], mimetype="application/fhir+json")
