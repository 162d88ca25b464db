"""CDS Hooks endpoints: discovery, service calls, and the testers' plain-Bundle evaluation."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from ..errors import BadRequest, NotFound
from ..registry import DEFAULT_SERVICE_ID, SERVICES, ServiceDef
from ..schemas import load_hook_request
from ..service import HookAnswer, evaluate_bundle, run_hook
from .body import read_json
from .jsonout import json_response
from .runtime import runtime

log = logging.getLogger("cds.http")
blueprint = Blueprint("hooks", __name__)


@blueprint.get("/cds-services", strict_slashes=False)
def discovery() -> Response:
    settings = runtime().settings
    return jsonify({"services": [service.discovery(settings) for service in SERVICES.values()]})


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    service = _service(service_id)
    body = read_json(request, runtime().settings)
    hook_request = load_hook_request(body, expected_hook=service.hook)
    g.service_id = service.id
    g.hook_instance = hook_request.hook_instance
    return _respond(run_hook(service, hook_request, runtime().deps))


@blueprint.post("/evaluate")
def evaluate() -> Response:
    service = _service(request.args.get("service", DEFAULT_SERVICE_ID))
    body = read_json(request, runtime().settings)
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise BadRequest(
            "POST /evaluate takes a FHIR Bundle (searchset, collection, transaction or batch); "
            "post a CDS Hooks request to /cds-services/<id> instead"
        )
    g.service_id = service.id
    return _respond(evaluate_bundle(service, body, runtime().deps))


def _service(service_id: str) -> ServiceDef:
    service = SERVICES.get(service_id)
    if service is None:
        raise NotFound(f"unknown service '{service_id}'; known: {', '.join(sorted(SERVICES))}")
    return service


def _respond(answer: HookAnswer) -> Response:
    g.rule_ids = answer.rule_ids
    g.patient_hash = answer.patient_hash
    payload: dict[str, Any] = answer.body()
    return json_response(payload)
