"""Terse builders for model.Finding and model.Extraction in the clinical-core tests.

`f("F-CALF-PAIN", side=L)` is a present, in-window left calf pain recorded a day before `NOW`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cds.model import (
    Code,
    Extraction,
    Finding,
    Measurement,
    PatientFacts,
    Side,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
L, R, B, U = Side.LEFT, Side.RIGHT, Side.BILATERAL, Side.UNKNOWN
SNOMED = "http://snomed.info/sct"
_ids = itertools.count(1)


def f(
    finding_id: str,
    *,
    present: bool = True,
    side: Side = Side.UNKNOWN,
    days_ago: float | None = 1,
    in_window: bool = True,
    value: float | None = None,
    unit: str = "",
    comparator: str | None = None,
    original: str = "",
    tags: Iterable[str] = (),
    code: str = "",
    display: str = "",
    interpretable: bool = True,
    reference: str | None = None,
    subject: str | None = "Patient/p1",
    resource_type: str = "Observation",
) -> Finding:
    """One record; `days_ago=None` makes it undated."""
    n = next(_ids)
    return Finding(
        finding_id=finding_id,
        present=present,
        reference=reference or f"{resource_type}/{finding_id.lower().removeprefix('f-')}-{n}",
        code=Code(SNOMED, code or f"code-{finding_id.lower()}", display),
        when=None if days_ago is None else NOW - timedelta(days=days_ago),
        in_window=in_window,
        side=side,
        measurement=None
        if value is None
        else Measurement(value=value, unit=unit, comparator=comparator, original=original),
        interpretable=interpretable,
        tags=frozenset(tags),
        resource_type=resource_type,
        subject=subject,
        label=display,
    )


def extraction(
    *findings: Finding,
    age: int | None = 60,
    unreadable: int = 0,
    notes: tuple[str, ...] = (),
) -> Extraction:
    return Extraction(
        findings=tuple(findings),
        patient=PatientFacts(reference="Patient/p1", age_years=age),
        evaluated_at=NOW,
        unreadable=unreadable,
        unreadable_notes=notes,
    )
