"""`POST /cds-services/<id>/feedback`: card outcomes from the EHR (cds-hooks.md "Feedback").

Parse (schemas.load_feedback) -> service.record_feedback (one transaction) -> a small summary.
Any invalid entry is a 400 naming it and nothing is stored; the store down is a 503 with
Retry-After and nothing is half-written.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, request

from ..core.i18n import N_
from ..errors import StoreUnavailable, TooLarge
from ..registry import SERVICES
from ..schemas import load_feedback
from ..service import record_feedback
from .body import read_json
from .hooks import unknown_service
from .jsonout import json_response
from .runtime import runtime

log = logging.getLogger("cds.http")
blueprint = Blueprint("feedback", __name__)


@blueprint.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise unknown_service(service_id)
    g.service_id = service_id
    current = runtime()
    items = load_feedback(read_json(request, current.settings))
    if len(items) > current.settings.max_entries:
        raise TooLarge(
            N_("feedback holds {entries} entries; the limit is {limit}"),
            entries=len(items),
            limit=current.settings.max_entries,
        )
    if current.store is None:
        raise StoreUnavailable()
    result = record_feedback(items, current.store, current.settings.policy.base)
    log.info(
        "feedback recorded",
        extra={
            "service": service_id,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "unmatched": result.unmatched,
        },
    )
    return json_response(
        {"stored": result.stored, "duplicates": result.duplicates, "unmatched": result.unmatched}
    )
