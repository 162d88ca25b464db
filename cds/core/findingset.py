"""One request's findings with the aggregation semantics of clinical-rules.md §2.

Pure. Conflicting records of a coded finding: the latest wins, at equal times present wins; an
undated presence is current and an undated absence cancels nothing. Thresholds: any in-window
crossing counts. Laterality: a one-sided record stands whatever bilateral records say.
`core.engine` and `core.scores` both read findings through this class.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from .model import TAG_AT_ANY_SITE, TAG_MEASURED, TAG_SUPPORTING, Finding, Side
from .rules import Present, Unilateral


def timestamp(when: datetime) -> float:
    """Naive datetimes are read as UTC so that mixed inputs never raise mid-evaluation."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


# A record dated later than the evaluation time by more than this is a date error: it never
# speaks against a red flag (an absence fills nothing, a D-dimer excludes nothing).
CLOCK_SKEW = timedelta(minutes=1)


def dated_in_the_future(when: datetime | None, now: datetime) -> bool:
    return when is not None and timestamp(when) > timestamp(now + CLOCK_SKEW)


EVIDENCE_CAP = 10  # records a card cites (Why, reasonReference); the rest are counted


def cited(evidence: Iterable[Finding]) -> tuple[list[Finding], int]:
    """The records a card cites, one per resource: all of them, or the EVIDENCE_CAP most recent
    (undated ones first: they count as current); and how many there were in all."""
    by_resource: dict[str, Finding] = {}
    for record in evidence:
        by_resource.setdefault(record.reference, record)
    records = list(by_resource.values())
    if len(records) > EVIDENCE_CAP:
        records.sort(key=lambda r: timestamp(r.when) if r.when else float("inf"), reverse=True)
    return records[:EVIDENCE_CAP], len(records)


@functools.lru_cache(maxsize=1024)
def plain_selector(finding_id: str, with_tags: tuple[str, ...] = ()) -> Present:
    """The selector of a finding id by name (cards and scores ask ~30 a request): built once."""
    return Present(finding_id, with_tags=with_tags)


def _covers(absence: Side, presence: Side) -> bool:
    """A side-unknown or bilateral absence ("no leg swelling") covers every side; a one-sided
    absence covers only its side (it says nothing about a side-unknown record: conservative)."""
    return absence in (Side.UNKNOWN, Side.BILATERAL) or absence is presence


def selected(record: Finding, selector: Present) -> bool:
    """Does a record pass a selector's narrowing (tags, codes, site)?"""
    tags = record.tags
    if TAG_AT_ANY_SITE in tags:
        # 68962001 with no calf site: "muscle pain" only (§4), never F-CALF-PAIN itself.
        if not selector.any_site:
            return False
    elif TAG_SUPPORTING in tags:
        return False
    if selector.with_tags and not all(t in tags for t in selector.with_tags):
        return False
    if selector.without_tags and any(t in tags for t in selector.without_tags):
        return False
    if selector.codes and record.code.code not in selector.codes:
        return False
    return not (selector.without_codes and record.code.code in selector.without_codes)


class FindingSet:
    """The findings of one request, grouped by finding id, with the §2 semantics."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        grouped: dict[str, list[Finding]] = {}
        for finding in findings:
            grouped.setdefault(finding.finding_id, []).append(finding)
        self.by_id: dict[str, tuple[Finding, ...]] = {k: tuple(v) for k, v in grouped.items()}
        self._standing: dict[Present, tuple[Finding, ...]] = {}
        self._not_interpretable: tuple[Finding, ...] | None = None

    def records(self, finding_id: str) -> tuple[Finding, ...]:
        """Every record of a finding id, whatever its window, tags or interpretability."""
        return self.by_id.get(finding_id, ())

    def standing(self, selector: Present) -> tuple[Finding, ...]:
        """The present records of `selector` that count.

        In-window and selected; a not-interpretable record only when the reader kept it present
        (the lab flagged it); not cancelled by a later dated absence covering its side.
        """
        if selector.finding not in self.by_id:
            return ()  # most selectors name a finding the request never recorded: skip the hash
        found = self._standing.get(selector)
        if found is None:
            found = self._standing[selector] = self._compute(selector)
        return found

    def _compute(self, selector: Present) -> tuple[Finding, ...]:
        unilateral = isinstance(selector, Unilateral)
        presences: list[Finding] = []
        absences: list[tuple[float, Side]] = []
        for record in self.by_id.get(selector.finding, ()):
            if not record.in_window or not selected(record, selector):
                continue
            if record.present:
                if not (unilateral and record.side is Side.BILATERAL):
                    presences.append(record)
            elif (
                record.interpretable and record.when is not None and TAG_MEASURED not in record.tags
            ):
                absences.append((timestamp(record.when), record.side))
        return tuple(r for r in presences if not self._cancelled(r, absences))

    @staticmethod
    def _cancelled(record: Finding, absences: list[tuple[float, Side]]) -> bool:
        if record.when is None or TAG_MEASURED in record.tags or not absences:
            return False
        at = timestamp(record.when)
        return any(when > at and _covers(side, record.side) for when, side in absences)

    def standing_present(self, finding_id: str) -> tuple[Finding, ...]:
        """The standing records of a finding, unnarrowed."""
        return self.standing(plain_selector(finding_id))

    def present(self, finding_id: str, *, with_tags: tuple[str, ...] = ()) -> bool:
        return bool(self.standing(plain_selector(finding_id, with_tags)))

    def measured(self, finding_id: str) -> list[Finding]:
        """In-window interpretable records with a value (present or not: thresholds decide)."""
        return [
            r
            for r in self.by_id.get(finding_id, ())
            if r.in_window
            and r.interpretable
            and r.measurement is not None
            and r.measurement.value is not None
            and TAG_SUPPORTING not in r.tags
        ]

    def lowest(self, finding_id: str) -> Finding | None:
        """The lowest in-window value (ABI: §2 "the lowest component")."""
        values = self.measured(finding_id)
        return min(values, key=_value) if values else None

    def highest(self, finding_id: str) -> Finding | None:
        values = self.measured(finding_id)
        return max(values, key=_value) if values else None

    def recorded(self, finding_id: str) -> bool:
        """Any in-window interpretable, non-supporting record, present or absent."""
        return any(
            r.in_window and r.interpretable and TAG_SUPPORTING not in r.tags
            for r in self.by_id.get(finding_id, ())
        )

    def checked(self, finding_id: str, *, with_tags: tuple[str, ...] = ()) -> bool:
        """Recorded for a red-flag checklist: any in-window interpretable record (supporting ones
        too) except an undated absence, which does not count as a check (§5, conservative)."""
        return any(
            r.in_window
            and r.interpretable
            and (r.present or r.when is not None)
            and all(t in r.tags for t in with_tags)
            for r in self.by_id.get(finding_id, ())
        )

    def not_interpretable(self) -> tuple[Finding, ...]:
        """In-window values whose unit or value could not be used (named on every card, so
        worked out once)."""
        if self._not_interpretable is None:
            self._not_interpretable = tuple(
                r
                for records in self.by_id.values()
                for r in records
                if not r.interpretable and r.in_window
            )
        return self._not_interpretable

    def also_noted(self, finding_ids: Iterable[str]) -> tuple[Finding, ...]:
        """Records named beside a card's evidence (§2 "Also noted"): the latest out-of-window
        record that would have counted (present) and in-window supporting-only presences."""
        noted: list[Finding] = []
        for finding_id in finding_ids:
            old: list[Finding] = []
            for record in self.by_id.get(finding_id, ()):
                if not record.present:
                    continue
                if not record.in_window:
                    old.append(record)
                elif TAG_SUPPORTING in record.tags:
                    noted.append(record)
            if old:
                noted.append(_latest(old))
        return tuple(noted)

    @functools.cached_property
    def noted_anywhere(self) -> tuple[Finding, ...]:
        """`also_noted` over every finding of the request (worked out once)."""
        return self.also_noted(self.by_id)


def _latest(records: list[Finding]) -> Finding:
    dated = [r for r in records if r.when is not None]
    return max(dated, key=lambda r: timestamp(r.when)) if dated else records[0]  # type: ignore[arg-type]


def _value(record: Finding) -> float:
    assert record.measurement is not None
    assert record.measurement.value is not None
    return record.measurement.value
