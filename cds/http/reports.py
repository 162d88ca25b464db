"""`GET /reports/rules`: per-rule alert-fatigue numbers from the store.

`?since=YYYY-MM-DD` limits the report to cards issued from that day (00:00 UTC) on.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, request

from ..core.i18n import N_
from ..errors import BadRequest, StoreUnavailable
from ..store import RuleReport, RuleReportRow
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
    return json_response(report_to_wire(store.report(since)))


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


def report_to_wire(report: RuleReport) -> dict[str, Any]:
    """The JSON shape of a report (also `calf-cds report --format json`).

    `ruleId` null is the data-quality cards' row; `overrideRate` null means no outcome yet.
    """
    return {
        "rules": [row_to_wire(row) for row in report.rows],
        "unmatchedFeedback": report.unmatched_feedback,
        "since": report.since.date().isoformat() if report.since else None,
        "generatedAt": report.generated_at.isoformat(timespec="seconds"),
    }


def row_to_wire(row: RuleReportRow) -> dict[str, Any]:
    return {
        "ruleId": row.rule_id,
        "issued": row.issued,
        "accepted": row.accepted,
        "overridden": row.overridden,
        "overrideRate": row.override_rate,
        "topOverrideReasons": [
            {
                key: value
                for key, value in (
                    ("system", reason.system),
                    ("code", reason.code),
                    ("display", reason.display),
                    ("count", reason.count),
                )
                if value is not None
            }
            for reason in row.top_override_reasons
        ],
    }
