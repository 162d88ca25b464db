"""Scores (clinical-rules.md §5, 2026.2): the two-level DVT Wells score and D-dimer results.

Pure. Wells items are *present*, *absent* (an explicit, dated absence, or a dated measurement
short of its threshold) or *not recorded*. "Unlikely" only when every item is recorded
(principle 4). A D-dimer is *positive*, *negative* (only as §5 defines it) or *unusable*, each
with the reason a card gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .findingset import FindingSet, dated_in_the_future, selected, timestamp
from .i18n import N_, Translator
from .measurements import D_DIMER_DDU_NG_ML, D_DIMER_FEU_NG_ML, d_dimer_cutoff
from .model import (
    FLAG_ABNORMAL,
    FLAG_HIGH,
    FLAG_NEGATIVE,
    FLAG_NORMAL,
    FLAG_POSITIVE,
    TAG_NOT_DEEP_VEIN,
    Finding,
)
from .rules import WELLS_FINDINGS, WELLS_ITEMS, Present, Unilateral

WELLS_MAX = sum(points for _, _, points in WELLS_ITEMS if points > 0)

PRESENT, ABSENT, NOT_RECORDED = "present", "absent", "not-recorded"
LIKELY, UNLIKELY, INCOMPLETE = "likely", "unlikely", "incomplete"


@dataclass(frozen=True)
class WellsItem:
    finding_id: str
    label: str
    points: int
    status: str  # present | absent | not-recorded
    evidence: tuple[Finding, ...] = ()
    provisional: bool = False  # 247348008 calf tenderness: +1 provisionally, confirm


@dataclass(frozen=True)
class WellsResult:
    """The two-level Wells score (§5): counted points, the reachable range, the class."""

    items: tuple[WellsItem, ...]
    score: int
    low: int
    high: int
    classification: str  # likely | unlikely | incomplete

    @property
    def not_recorded(self) -> tuple[WellsItem, ...]:
        return tuple(item for item in self.items if item.status == NOT_RECORDED)

    @property
    def counted(self) -> tuple[WellsItem, ...]:
        return tuple(item for item in self.items if item.status == PRESENT)

    @property
    def alternative(self) -> WellsItem:
        return self.items[-1]

    def as_data(self, t: Translator) -> dict[str, object]:
        """The card extension's `wells` object, its item labels in `t`'s language."""
        return {
            "score": self.score,
            "range": [self.low, self.high],
            "classification": self.classification,
            "items": [
                {
                    "finding": i.finding_id,
                    "label": t.gettext(i.label),
                    "status": i.status,
                    "points": i.points,
                    **({"provisional": True} if i.provisional else {}),
                }
                for i in self.items
            ],
        }


_SELECTORS: dict[str, Present] = {
    finding_id: Unilateral(finding_id) if finding_id == "F-PITTING-EDEMA" else Present(finding_id)
    for finding_id in WELLS_FINDINGS
}


def _item(fs: FindingSet, finding_id: str, label: str, points: int) -> WellsItem:
    standing = fs.standing(_SELECTORS[finding_id])
    if finding_id == "F-PREVIOUS-DVT":
        # §2: the DVT that F-DVT-DX counts is not also a Wells "previous DVT".
        current = {r.reference for r in fs.records("F-DVT-DX")}
        standing = tuple(r for r in standing if r.reference not in current)
    if standing:
        provisional = all(TAG_NOT_DEEP_VEIN in r.tags for r in standing)
        return WellsItem(finding_id, label, points, PRESENT, standing, provisional)
    # An undated absence fills nothing, nor does one the finding's site rule leaves as
    # supporting only (§2 "Body sites": an unsited +leg code does not count as the finding).
    absences = tuple(
        r
        for r in fs.records(finding_id)
        if r.in_window
        and r.interpretable
        and not r.present
        and r.when is not None
        and selected(r, _SELECTORS[finding_id])
    )
    if absences:
        return WellsItem(finding_id, label, points, ABSENT, absences)
    return WellsItem(finding_id, label, points, NOT_RECORDED)


def wells(fs: FindingSet) -> WellsResult:
    """The two-level DVT Wells score (§5; NICE NG158 table 1). Likely when present items reach
    2; unlikely only when every item is recorded and the total is ≤ 1; else incomplete."""
    items = tuple(_item(fs, finding_id, label, points) for finding_id, label, points in WELLS_ITEMS)
    score = sum(item.points for item in items if item.status == PRESENT)
    missing = [item for item in items if item.status == NOT_RECORDED]
    alt = items[-1]
    low = score - 2 if alt.status == NOT_RECORDED else score
    high = score + sum(max(item.points, 0) for item in missing)
    if score >= 2:
        classification = LIKELY
    elif not missing:
        classification = UNLIKELY
    else:
        classification = INCOMPLETE
    return WellsResult(items, score, low, high, classification)


# ----------------------------------------------------------------------------- D-dimer
POSITIVE, NEGATIVE, UNUSABLE = "positive", "negative", "unusable"
_FINAL = frozenset({"final", "amended", "corrected"})
_LAB_POSITIVE = frozenset({FLAG_HIGH, FLAG_POSITIVE})
_FLAGGED_POSITIVE = {
    FLAG_ABNORMAL: N_("flagged abnormal by the lab"),
    FLAG_NORMAL: N_("at or over the cut-off, though flagged normal by the lab"),
    FLAG_NEGATIVE: N_("at or over the cut-off, though flagged negative by the lab"),
}
_LAB_NEGATIVE = {
    FLAG_NORMAL: N_("flagged normal by the lab"),
    FLAG_NEGATIVE: N_("flagged negative by the lab"),
}
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class DDimerResult:
    """One in-window D-dimer: its state, the cut-off used, and why it cannot exclude DVT."""

    record: Finding
    state: str  # positive | negative | unusable
    cutoff: float | None = None  # ng/mL in the record's basis, when a value was compared
    age_adjusted: bool = False
    # Why it is not negative (an N_ message id); for a negative, the lab flag that made it
    # one, else "".
    reason: str = ""


@dataclass(frozen=True)
class DDimers:
    """The D-dimers of one request (§5)."""

    results: tuple[DDimerResult, ...]

    @property
    def positive(self) -> tuple[DDimerResult, ...]:
        return tuple(r for r in self.results if r.state == POSITIVE)

    @property
    def negative(self) -> tuple[DDimerResult, ...]:
        return tuple(r for r in self.results if r.state == NEGATIVE)

    @property
    def all_negative(self) -> bool:
        """At least one D-dimer in the window, and every one negative (§4 R-DVT-UNLIKELY)."""
        return bool(self.results) and all(r.state == NEGATIVE for r in self.results)


def _cutoff(record: Finding, age_years: int | None, over_flag: bool) -> tuple[float, bool]:
    """The cut-off a value is compared with to be negative (§5)."""
    m = record.measurement
    if m is not None and m.basis == "DDU":
        return D_DIMER_DDU_NG_ML, False  # never age-adjusted
    # A lab flag (H, POS, or A) keeps the plain cut-off unless the deployment says otherwise.
    flagged = record.flag in _LAB_POSITIVE or record.flag == FLAG_ABNORMAL
    if flagged and not over_flag:
        return D_DIMER_FEU_NG_ML, False
    return d_dimer_cutoff(age_years)


def d_dimers(
    fs: FindingSet,
    *,
    age_years: int | None,
    symptoms_from: datetime | None,
    now: datetime,
    over_flag: bool = False,
) -> DDimers:
    """Each in-window D-dimer, judged as §5 says. `symptoms_from` is the time of the first
    in-window record of the triggering calf symptom or sign (None: no trigger); `now` the
    evaluation time."""
    results: list[DDimerResult] = []
    for record in fs.records("F-D-DIMER"):
        if not record.in_window:
            continue
        results.append(_judge(record, age_years, symptoms_from, now, over_flag))
    return DDimers(tuple(results))


def _judge(
    record: Finding,
    age_years: int | None,
    symptoms_from: datetime | None,
    now: datetime,
    over_flag: bool,
) -> DDimerResult:
    m = record.measurement
    if not record.interpretable:
        state = POSITIVE if record.present else UNUSABLE
        return DDimerResult(record, state, reason=N_("not interpretable"))
    if record.flag in _LAB_POSITIVE and not over_flag:
        reason = (
            N_("flagged high by the lab")
            if record.flag == FLAG_HIGH
            else N_("flagged positive by the lab")
        )
        return DDimerResult(record, POSITIVE, reason=reason)
    if record.flag in _LAB_NEGATIVE and not record.present:
        # §5: interpretation N or NEG is negative. A value the lab's range (or, without one,
        # the default cut-off) still calls raised is positive by §5's value clause as well:
        # the two disagree, so it is judged by its value as an unflagged one (conservative).
        usable = _usable(record, symptoms_from, now, None, False)
        if usable.state == NEGATIVE:
            return replace(usable, reason=_LAB_NEGATIVE[record.flag])
        return usable
    if m is None or m.value is None:  # a coded result without a number
        if record.present:
            return DDimerResult(record, POSITIVE, reason=N_("positive"))
        return _usable(record, symptoms_from, now, None, False)
    default_cut = D_DIMER_DDU_NG_ML if m.basis == "DDU" else D_DIMER_FEU_NG_ML
    if record.present and m.value < default_cut and record.flag not in _LAB_POSITIVE:
        # Positive below the default cut-off: the lab's flag A or its own reference range said
        # so, and neither is ever read as a negative (conservative).
        if record.flag == FLAG_ABNORMAL:
            return DDimerResult(record, POSITIVE, reason=N_("flagged abnormal by the lab"))
        return DDimerResult(record, POSITIVE, reason=N_("above the lab's reference range"))
    cutoff, adjusted = _cutoff(record, age_years, over_flag)
    if m.value >= cutoff:
        # The line says why a flag did not decide it: A keeps the plain cut-off; N or NEG is
        # overruled by the value (§5 "Display": the cut-off used, or why).
        reason = _FLAGGED_POSITIVE.get(record.flag or "", N_("positive"))
        return DDimerResult(record, POSITIVE, cutoff, adjusted, reason=reason)
    usable = _usable(record, symptoms_from, now, cutoff, adjusted)
    if usable.state != NEGATIVE and record.present:
        # From 500 to below the age-adjusted cut-off, and not usable as a negative.
        return DDimerResult(record, POSITIVE, cutoff, adjusted, reason=usable.reason)
    return usable


def _usable(
    record: Finding,
    symptoms_from: datetime | None,
    now: datetime,
    cutoff: float | None,
    adjusted: bool,
) -> DDimerResult:
    """A value below its cut-off (or coded negative) is negative only when dated, final,
    amended or corrected, and taken no earlier than 24 h before the leg symptoms (§5). §5
    bounds the date from below only; one dated after the evaluation time (beyond a minute of
    clock difference) is a date error, and a date error never excludes DVT (conservative)."""
    if record.when is None:
        return DDimerResult(record, UNUSABLE, cutoff, adjusted, N_("undated"))
    if dated_in_the_future(record.when, now):
        return DDimerResult(record, UNUSABLE, cutoff, adjusted, N_("dated in the future"))
    if record.status not in _FINAL:
        return DDimerResult(record, UNUSABLE, cutoff, adjusted, N_("preliminary"))
    if symptoms_from is not None and timestamp(record.when) < timestamp(symptoms_from - DAY):
        return DDimerResult(record, UNUSABLE, cutoff, adjusted, N_("taken before the leg symptoms"))
    return DDimerResult(record, NEGATIVE, cutoff, adjusted)


def first_dated(records: tuple[Finding, ...], now: datetime) -> datetime:
    """The time of the first in-window record among `records`; an undated one counts as now."""
    times = [r.when if r.when is not None else now for r in records if r.in_window]
    return min(times, key=timestamp) if times else now
