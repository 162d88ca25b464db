"""The rule catalog and the service's own CodeSystems (clinical-rules.md §2 "Local codes")."""

from __future__ import annotations

from flask import Blueprint, Response

from ..core.describe import rules_document
from ..core.i18n import N_
from ..errors import NotFound
from ..fhir.codesystems import code_systems
from .jsonout import json_response
from .language import request_translator
from .runtime import runtime

blueprint = Blueprint("catalog", __name__)


@blueprint.get("/rules")
def rules() -> Response:
    """Names, criteria and variants in the request's language (`lang`, Accept-Language,
    CDS_LANGUAGE), said in Content-Language; ids, codes and displays as they are."""
    base = runtime().settings.fhir_base
    t = request_translator()
    response = json_response(rules_document(t, base))
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
