"""The store: issued cards, clinician feedback, JWT jti records (SQLAlchemy only in here).

records.py: the plain dataclasses the rest of calf-cds builds and reads (no SQLAlchemy);
schema.py: the tables (mirroring migrations/); engine.py: URLs, connection set-up, fork safety;
guard.py: the circuit breaker and the one mapping of failures to StoreUnavailable; store.py:
the Store; report.py: the alert-fatigue report's queries. Importing the package or its records
does not import SQLAlchemy: `Store`, `METADATA` and `normalise_url` load it on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .records import FeedbackEntry as FeedbackEntry
from .records import FeedbackResult as FeedbackResult
from .records import IssuedCard as IssuedCard
from .records import OverrideReason as OverrideReason
from .records import ReasonCount as ReasonCount
from .records import RuleReport as RuleReport
from .records import RuleReportRow as RuleReportRow

if TYPE_CHECKING:
    from .engine import normalise_url as normalise_url
    from .schema import METADATA as METADATA
    from .store import Store as Store

_LAZY = {"Store": "store", "METADATA": "schema", "normalise_url": "engine"}


def __getattr__(name: str) -> Any:
    """`from cds.store import Store` imports SQLAlchemy only then (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
