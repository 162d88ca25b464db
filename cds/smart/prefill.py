"""What the record already says for each question, read by the hook's own reader.

Pure. The findings come from `cds.fhir.reading` over the patient's current Observations and
Conditions; this module picks, per question and leg, the record that stands with the semantics
of clinical-rules.md §2 the cards use: in its window, interpretable, not weaker evidence; the
latest wins, at equal times present wins; an undated presence is current and an undated absence
says nothing. A record without a side pre-fills no leg: a presence is shown as a note, and an
absence (which covers every side, §2) counts for both legs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..core.findingset import timestamp
from ..core.model import Finding, Side
from .checklist import WEAKENING_TAGS, Row


class Choice(StrEnum):
    """An answer to one question, as the form sends it."""

    PRESENT = "present"
    ABSENT = "absent"
    NOT_EXAMINED = "not-examined"


LEGS = (Side.LEFT, Side.RIGHT)


def field_name(row: Row, side: Side | None) -> str:
    """The form field of a question: the row key, with `:left` / `:right` for a leg."""
    return row.key if side is None else f"{row.key}:{side.value}"


def field_names(row: Row) -> tuple[str, ...]:
    return tuple(field_name(row, side) for side in LEGS) if row.sided else (row.key,)


@dataclass(frozen=True)
class Recorded:
    """The record that stands for one question, as the form shows it beside the answer."""

    present: bool
    when: datetime | None
    reference: str

    @property
    def choice(self) -> Choice:
        return Choice.PRESENT if self.present else Choice.ABSENT

    @property
    def date(self) -> str | None:
        return self.when.date().isoformat() if self.when else None


@dataclass(frozen=True)
class Prefill:
    recorded: Mapping[str, Recorded]  # field name -> the standing record
    without_side: Mapping[str, Recorded]  # row key -> a presence recorded without a side

    def choice(self, field: str) -> Choice:
        record = self.recorded.get(field)
        return record.choice if record else Choice.NOT_EXAMINED

    def choices(self) -> dict[str, str]:
        """field name -> the pre-filled answer (kept in the session to see what changed)."""
        return {field: record.choice.value for field, record in self.recorded.items()}


def _matches(row: Row, record: Finding) -> bool:
    if record.tags & WEAKENING_TAGS:
        return False
    return record.finding_id in row.whole or (record.finding_id, record.code.code) in row.sources


def _counts(record: Finding) -> bool:
    return record.in_window and record.interpretable and (record.present or record.when is not None)


def _rank(record: Finding) -> tuple[float, bool]:
    when = timestamp(record.when) if record.when is not None else float("inf")
    return (when, record.present)


def prefill(rows: Iterable[Row], findings: Iterable[Finding]) -> Prefill:
    """The standing record of each question (field name), from the reader's findings."""
    records = [record for record in findings if _counts(record)]
    recorded: dict[str, Recorded] = {}
    without_side: dict[str, Recorded] = {}
    for row in rows:
        mine = [record for record in records if _matches(row, record)]
        candidates: dict[str, list[Finding]] = {name: [] for name in field_names(row)}
        for record in mine:
            if not row.sided:
                candidates[row.key].append(record)
            elif record.side in LEGS:
                candidates[field_name(row, record.side)].append(record)
            elif record.side is Side.BILATERAL or not record.present:
                for side in LEGS:
                    candidates[field_name(row, side)].append(record)
            else:
                latest = without_side.get(row.key)
                if latest is None or _rank_of(latest) < _rank(record):
                    without_side[row.key] = _recorded(record)
        for name, found in candidates.items():
            if found:
                recorded[name] = _recorded(max(found, key=_rank))
    return Prefill(recorded, without_side)


def _recorded(record: Finding) -> Recorded:
    return Recorded(record.present, record.when, record.reference)


def _rank_of(recorded: Recorded) -> tuple[float, bool]:
    when = timestamp(recorded.when) if recorded.when is not None else float("inf")
    return (when, recorded.present)
