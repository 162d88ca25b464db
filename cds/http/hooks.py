"""CDS Hooks endpoints: discovery, service calls, and the testers' plain-Bundle evaluation."""

from __future__ import annotations

import logging

import msgspec
from flask import Blueprint, Response, g, request

from .. import wire
from ..core.i18n import N_
from ..errors import BadRequest, NotFound
from ..hook_body_fast import hook_members
from ..jsonio import json_object, string_member
from ..registry import DEFAULT_SERVICE_ID, SERVICES, ServiceDef
from ..request_extension import EXTENSION_KEY
from ..schemas import load_hook_request
from ..service import HookAnswer, evaluate_bundle, run_hook
from ..smart.registration import registration
from .body import read_body
from .jsonout import json_response
from .presentation import presentation
from .runtime import runtime

log = logging.getLogger("cds.http")
blueprint = Blueprint("hooks", __name__)


@blueprint.get("/cds-services", strict_slashes=False)
def discovery() -> Response:
    settings = runtime().settings
    services = [service.discovery(settings) for service in SERVICES.values()]
    app = registration(settings, request.host_url)
    if app is not None:  # the red-flag check app's smart links
        for entry in services:
            entry["extension"] = {EXTENSION_KEY: {"smartApp": app}}
    return json_response({"services": services})


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    service = _service(service_id)
    settings = runtime().settings
    members = hook_members(read_body(request, settings), settings)
    hook_request = load_hook_request(members, expected_hook=service.hook)
    g.service_id = service.id
    g.hook_instance = hook_request.hook_instance
    shown = presentation(request, settings, hook_request.extra.get("extension"))
    return _respond(run_hook(service, hook_request, runtime().deps, shown))


@blueprint.post("/evaluate")
def evaluate() -> Response:
    service = _service(request.args.get("service", DEFAULT_SERVICE_ID))
    settings = runtime().settings
    document = json_object(
        read_body(request, settings),
        settings,
        not_an_object=N_("request body must be a JSON object (a FHIR Bundle)"),
    )
    if string_member(document.members, "resourceType") != "Bundle":
        raise BadRequest(
            N_(
                "POST /evaluate takes a FHIR Bundle (searchset, collection, transaction or "
                "batch); post a CDS Hooks request to /cds-services/<id> instead"
            )
        )
    g.service_id = service.id
    shown = presentation(request, settings, None)
    answer = evaluate_bundle(service, msgspec.Raw(document.raw), runtime().deps, shown)
    return _respond(answer)


def _service(service_id: str) -> ServiceDef:
    service = SERVICES.get(service_id)
    if service is None:
        raise unknown_service(service_id)
    return service


def unknown_service(service_id: str) -> NotFound:
    """The 404 for a service id the registry does not hold; the ids stay as they are."""
    return NotFound(
        N_("unknown service '{service}'; known: {known}"),
        service=service_id,
        known=", ".join(sorted(SERVICES)),
    )


def _respond(answer: HookAnswer) -> Response:
    g.rule_ids = answer.rule_ids
    g.patient_hash = answer.patient_hash
    return json_response(wire.cards(answer.cards))
