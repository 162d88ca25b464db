"""What the store keeps and answers, as plain dataclasses (no SQLAlchemy here).

The service, the HTTP layer and the token checks build and read these without importing the
database layer. The length bounds are the store's columns' (cds/store/schema.py sizes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Outcome = Literal["accepted", "overridden"]
OUTCOMES: tuple[str, ...] = ("accepted", "overridden")

# The longest values the jti_records columns hold; a token naming longer ones is refused.
MAX_ISSUER_LENGTH = 512
MAX_JTI_LENGTH = 256


def is_storable_text(text: str) -> bool:
    """True when every database the store runs on keeps `text` as it is: no NUL (PostgreSQL
    text refuses it) and no lone surrogate (no UTF-8 form; a JSON `\\ud800` escape makes one)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(text: str | None, limit: int | None = None) -> str | None:
    """`text` as every database can store it in a column of `limit` characters: NUL and lone
    surrogates become U+FFFD, and text past the limit is cut to end in "…".

    For free text a clinician sent (override reasons, comments): stored with the damage
    marked rather than refused, since feedback is never thrown away.
    """
    if text is None:
        return None
    if not is_storable_text(text):
        text = text.replace("\x00", "\ufffd")
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


@dataclass(frozen=True)
class IssuedCard:
    """One card as answered to the EHR; no PHI (the patient id is a salted hash)."""

    card_uuid: str
    suggestion_uuids: Sequence[str]
    rule_id: str | None  # None for data-quality cards that belong to no rule
    rule_set_version: str
    service_id: str
    hook_instance: str | None  # None on the testers' POST /evaluate path
    patient_hash: str | None  # "" or None when the request named no patient
    indicator: str
    created_at: datetime


@dataclass(frozen=True)
class OverrideReason:
    """The Coding a clinician chose when overriding (all parts optional on the wire)."""

    system: str | None = None
    code: str | None = None
    display: str | None = None


@dataclass(frozen=True)
class FeedbackEntry:
    """One element of a feedback body (cds-hooks.md "Feedback"), already envelope-valid."""

    card_uuid: str
    outcome: Outcome
    outcome_timestamp: datetime  # aware
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None
    user_comment: str | None = None


@dataclass(frozen=True)
class FeedbackResult:
    """stored: new rows; duplicates: entries already stored (or repeated within the body);
    unmatched: of the stored rows, those naming a card the store never recorded."""

    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0


@dataclass(frozen=True)
class ReasonCount:
    system: str | None
    code: str | None  # None: overridden without a coded reason
    display: str | None
    count: int


@dataclass(frozen=True)
class RuleReportRow:
    """One rule's alert-fatigue numbers over the cards issued in the report window.

    accepted/overridden count distinct cards with at least one such outcome; override_rate is
    overridden / (accepted + overridden), None when no card of the rule has an outcome yet.
    rule_id None collects the data-quality cards.
    """

    rule_id: str | None
    issued: int
    accepted: int
    overridden: int
    override_rate: float | None
    top_override_reasons: tuple[ReasonCount, ...] = ()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RuleReport:
    """The per-rule rows plus the feedback that names no recorded card (reported apart)."""

    rows: tuple[RuleReportRow, ...]
    unmatched_feedback: int
    since: datetime | None = None
    generated_at: datetime = field(default_factory=_now)
