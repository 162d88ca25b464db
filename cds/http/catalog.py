"""The rule catalog and the service's own CodeSystems (clinical-rules.md §2 "Local codes")."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .. import codesystems
from ..errors import NotFound
from .runtime import runtime

blueprint = Blueprint("catalog", __name__)


@blueprint.get("/rules")
def rules() -> Response:
    return jsonify({"ruleSet": codesystems.RULE_SET_LABEL, "rules": codesystems.rule_catalog()})


@blueprint.get("/fhir/CodeSystem/<name>")
def code_system(name: str) -> Response:
    settings = runtime().settings
    systems = codesystems.code_systems(settings)
    if name not in systems:
        raise NotFound(f"unknown CodeSystem '{name}'; known: {', '.join(sorted(systems))}")
    response = jsonify(systems[name])
    response.mimetype = "application/fhir+json"
    return response
