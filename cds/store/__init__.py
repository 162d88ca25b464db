"""The store: issued cards, clinician feedback, JWT jti records (SQLAlchemy only in here).

    records.py   plain dataclasses the rest of calf-cds builds and reads (no SQLAlchemy)
    schema.py    the tables (mirroring migrations/, Alembic)
    engine.py    URLs, connection set-up (SQLite WAL and busy timeout), fork safety
    guard.py     the circuit breaker, and the one mapping of failures to StoreUnavailable
    store.py     the Store
    report.py    the alert-fatigue report's queries

Importing the package or its records does not import SQLAlchemy; `Store` and the tables load
it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import (
    MAX_ISSUER_LENGTH,
    MAX_JTI_LENGTH,
    OUTCOMES,
    FeedbackEntry,
    FeedbackResult,
    IssuedCard,
    Outcome,
    OverrideReason,
    ReasonCount,
    RuleReport,
    RuleReportRow,
    is_storable_text,
    storable_text,
)

if TYPE_CHECKING:
    from .engine import normalise_url
    from .schema import FEEDBACK, ISSUED_CARDS, JTI_RECORDS, META, METADATA
    from .store import Store

__all__ = [
    "FEEDBACK",
    "ISSUED_CARDS",
    "JTI_RECORDS",
    "MAX_ISSUER_LENGTH",
    "MAX_JTI_LENGTH",
    "META",
    "METADATA",
    "OUTCOMES",
    "FeedbackEntry",
    "FeedbackResult",
    "IssuedCard",
    "Outcome",
    "OverrideReason",
    "ReasonCount",
    "RuleReport",
    "RuleReportRow",
    "Store",
    "is_storable_text",
    "normalise_url",
    "storable_text",
]

_LAZY = {
    "Store": "store",
    "normalise_url": "engine",
    "FEEDBACK": "schema",
    "ISSUED_CARDS": "schema",
    "JTI_RECORDS": "schema",
    "META": "schema",
    "METADATA": "schema",
}


def __getattr__(name: str) -> Any:
    """`from cds.store import Store` imports SQLAlchemy only then (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
