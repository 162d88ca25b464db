"""`POST /cds-services/<id>/feedback`: card outcomes from the EHR (cds-hooks.md "Feedback").

Parse (schemas.load_feedback) -> store.record_feedback (one transaction) -> a small summary.
Any invalid entry is a 400 naming it and nothing is stored; the store down is a 503 with
Retry-After and nothing is half-written.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

from flask import Blueprint, Response, g, request

from ..core.cards import override_reasons
from ..core.i18n import ENGLISH, N_
from ..errors import StoreUnavailable, TooLarge
from ..registry import SERVICES
from ..schemas import FeedbackItem, load_feedback
from ..store import FeedbackEntry, OverrideReason
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
    offered = offered_reasons(current.settings.policy.base)
    result = current.store.record_feedback([to_entry(item, offered) for item in items])
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


@functools.lru_cache(maxsize=8)  # one base per deployment: built once, not per request
def offered_reasons(base: str) -> Mapping[tuple[str, str], str]:
    """(system, code) -> display of the override reasons this service's cards offer."""
    return {(c.system, c.code): c.display for c in override_reasons(base, ENGLISH)}


def to_entry(item: FeedbackItem, offered: Mapping[tuple[str, str], str]) -> FeedbackEntry:
    """The store's record of one validated wire entry. A reason the cards offered is stored
    with the display they offered, so no caller can reword it in the alert-fatigue report."""
    has_reason = any((item.reason_system, item.reason_code, item.reason_display))
    display = offered.get((item.reason_system or "", item.reason_code or ""))
    return FeedbackEntry(
        card_uuid=item.card,
        outcome="accepted" if item.outcome == "accepted" else "overridden",
        outcome_timestamp=item.outcome_timestamp,
        accepted_suggestions=item.accepted_suggestions,
        override_reason=(
            OverrideReason(item.reason_system, item.reason_code, display or item.reason_display)
            if has_reason
            else None
        ),
        user_comment=item.user_comment,
    )
