"""The rule catalog and the service's own CodeSystems (clinical-rules.md §2 "Local codes")."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response

from ..core.describe import catalog
from ..core.rules import RULE_SET_VERSION
from ..errors import NotFound
from ..fhir.codesystems import code_systems
from .jsonout import json_response
from .runtime import runtime

blueprint = Blueprint("catalog", __name__)


@blueprint.get("/rules")
def rules() -> Response:
    return json_response(
        {"ruleSet": f"calf-cds {RULE_SET_VERSION}", "rules": [asdict(d) for d in catalog()]}
    )


@blueprint.get("/fhir/CodeSystem/<name>")
def code_system(name: str) -> Response:
    systems = code_systems(runtime().settings.fhir_base)
    if name not in systems:
        raise NotFound(f"unknown CodeSystem '{name}'; known: {', '.join(sorted(systems))}")
    return json_response(systems[name], mimetype="application/fhir+json")
