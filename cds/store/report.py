"""The alert-fatigue report's queries: per-rule counts, rates and reasons, unmatched feedback."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .records import ReasonCount, RuleReportRow
from .schema import FEEDBACK, ISSUED_CARDS


def rule_rows(connection: Connection, since: datetime | None) -> list[RuleReportRow]:
    """One row per rule id with cards issued at or after `since` (all when None), ordered by
    rule id, the data-quality cards (rule id None) last."""
    issued, feedback = ISSUED_CARDS, FEEDBACK
    window = [issued.c.created_at >= since] if since is not None else []

    issued_counts: dict[str | None, int] = dict(
        connection.execute(
            sa.select(issued.c.rule_id, sa.func.count()).where(*window).group_by(issued.c.rule_id)
        ).all()  # a Result has .keys(), so dict() would read it as a mapping
    )
    joined = feedback.join(issued, feedback.c.card_uuid == issued.c.card_uuid)
    outcome_counts: dict[tuple[str | None, str], int] = {
        (row["rule_id"], row["outcome"]): int(row["cards"])
        for row in connection.execute(
            sa.select(
                issued.c.rule_id,
                feedback.c.outcome,
                sa.func.count(sa.distinct(feedback.c.card_uuid)).label("cards"),
            )
            .select_from(joined)
            .where(*window)
            .group_by(issued.c.rule_id, feedback.c.outcome)
        ).mappings()
    }
    reasons: dict[str | None, list[ReasonCount]] = defaultdict(list)
    for row in connection.execute(
        sa.select(
            issued.c.rule_id,
            feedback.c.override_reason_system.label("system"),
            feedback.c.override_reason_code.label("code"),
            sa.func.max(feedback.c.override_reason_display).label("display"),
            # Cards, as the outcome counts are: one card overridden again is not a second vote.
            sa.func.count(sa.distinct(feedback.c.card_uuid)).label("cards"),
        )
        .select_from(joined)
        .where(feedback.c.outcome == "overridden", *window)
        .group_by(
            issued.c.rule_id,
            feedback.c.override_reason_system,
            feedback.c.override_reason_code,
        )
    ).mappings():
        reasons[row["rule_id"]].append(
            ReasonCount(row["system"], row["code"], row["display"], int(row["cards"]))
        )

    rows = []
    for rule_id in sorted(issued_counts, key=lambda r: (r is None, r or "")):
        accepted = int(outcome_counts.get((rule_id, "accepted"), 0))
        overridden = int(outcome_counts.get((rule_id, "overridden"), 0))
        answered = accepted + overridden
        top = sorted(reasons[rule_id], key=lambda r: (-r.count, r.code is None, r.code or ""))
        rows.append(
            RuleReportRow(
                rule_id=rule_id,
                issued=int(issued_counts[rule_id]),
                accepted=accepted,
                overridden=overridden,
                override_rate=round(overridden / answered, 4) if answered else None,
                top_override_reasons=tuple(top[:3]),
            )
        )
    return rows


def unmatched_count(connection: Connection, since: datetime | None) -> int:
    """Feedback naming no recorded card, whose outcome timestamp is at or after `since`."""
    # By join, not by the `matched` flag: the flag says whether the card was known when the
    # feedback arrived; the report says whether it is known now.
    feedback, issued = FEEDBACK, ISSUED_CARDS
    query = (
        sa.select(sa.func.count())
        .select_from(feedback.outerjoin(issued, feedback.c.card_uuid == issued.c.card_uuid))
        .where(issued.c.card_uuid.is_(None))
    )
    if since is not None:
        query = query.where(feedback.c.outcome_timestamp >= since)
    return int(connection.execute(query).scalar_one())
