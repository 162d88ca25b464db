"""Terse builders for core.model.Finding and Extraction in the clinical-core tests.

`f("F-CALF-PAIN", side=L)` is a present, in-window left calf pain recorded a day before `NOW`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cds.core.model import Code, Extraction, Finding, Measurement, PatientFacts, Side

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
    analyte: str = "",
    comparator: str | None = None,
    basis: str | None = None,
    tags: Iterable[str] = (),
    code: str = "",
    name: str = "",
    interpretable: bool = True,
    reference: str | None = None,
    subject: str | None = "Patient/p1",
    resource_type: str = "Observation",
    status: str = "final",
    flag: str | None = None,
) -> Finding:
    """One record; `days_ago=None` makes it undated; `value` makes it a measurement."""
    n = next(_ids)
    measurement = None
    if value is not None:
        measurement = Measurement(
            analyte or finding_id.lower().removeprefix("f-"),
            value,
            unit,
            comparator,
            sent_value=value,
            sent_unit=unit,
            basis=basis,
        )
    return Finding(
        finding_id=finding_id,
        present=present,
        reference=reference or f"{resource_type}/{finding_id.lower().removeprefix('f-')}-{n}",
        name=name or finding_id.removeprefix("F-").replace("-", " ").capitalize(),
        code=Code(SNOMED, code or f"code-{finding_id.lower()}", name),
        when=None if days_ago is None else NOW - timedelta(days=days_ago),
        in_window=in_window,
        side=side,
        measurement=measurement,
        interpretable=interpretable,
        tags=frozenset(tags),
        resource_type=resource_type,
        subject=subject,
        status=status,
        flag=flag,
    )


def extraction(*findings: Finding, age: int | None = 60) -> Extraction:
    return Extraction(
        findings=tuple(findings),
        patient=PatientFacts(reference="Patient/p1", age_years=age),
        evaluated_at=NOW,
    )
