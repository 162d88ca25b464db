"""`GET /reports/rules`: per-rule alert-fatigue numbers from the store.

`?since=YYYY-MM-DD` limits the report to cards issued from that day (00:00 UTC) on.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from flask import Blueprint, Response, request

from .. import wire
from ..core.i18n import N_
from ..errors import BadRequest, StoreUnavailable
from .jsonout import json_response
from .runtime import runtime

blueprint = Blueprint("reports", __name__)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@blueprint.get("/reports/rules")
def rules_report() -> Response:
    since = parse_since(request.args.get("since"))
    store = runtime().store
    if store is None:
        raise StoreUnavailable()
    return json_response(wire.report(store.report(since)))


def parse_since(raw: str | None) -> datetime | None:
    """`YYYY-MM-DD` -> that day at 00:00 UTC; None/empty -> None. BadRequest otherwise."""
    if raw is None or raw == "":
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(
            N_("{where}: expected a date YYYY-MM-DD, got {value}"), where="since", value=repr(raw)
        ) from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
