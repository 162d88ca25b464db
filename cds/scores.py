"""Scores (clinical-rules.md §5): two-level DVT Wells, D-dimer cut-offs, CK multiples. Pure.

Wells items are *present*, *absent* (an explicit, dated absence) or *not recorded*. "Unlikely" is
only ever stated when every item is recorded (principle 4); under principle 5 (minor, pregnant,
anticoagulated) no likely/unlikely and no age-adjusted D-dimer is stated at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import TAG_DDU, TAG_NOT_DEEP_VEIN, Finding, Side
from .rules import Present, Unilateral

if TYPE_CHECKING:  # engine imports scores; scores only needs FindingSet's type
    from .engine import FindingSet

# NICE NG158 table 1 (two-level DVT Wells score): (finding id, label, points).
WELLS_ITEMS: tuple[tuple[str, str, int], ...] = (
    ("F-ACTIVE-CANCER", "Active cancer", 1),
    ("F-PARESIS-OR-CAST", "Paralysis, paresis or recent plaster immobilisation of the legs", 1),
    ("F-BEDRIDDEN-OR-SURGERY", "Bedridden 3 days or more, or major surgery within 12 weeks", 1),
    ("F-DEEP-VEIN-TENDERNESS", "Localised tenderness along the deep venous system", 1),
    ("F-ENTIRE-LEG-SWOLLEN", "Entire leg swollen", 1),
    ("F-CALF-SWELLING-3CM", "Calf swelling at least 3 cm larger than the other side", 1),
    ("F-PITTING-EDEMA", "Pitting oedema confined to the symptomatic leg", 1),
    ("F-COLLATERAL-VEINS", "Collateral superficial veins (non-varicose)", 1),
    ("F-PREVIOUS-DVT", "Previously documented DVT", 1),
    ("F-ALTERNATIVE-DX-LIKELY", "An alternative diagnosis at least as likely as DVT", -2),
)
ALTERNATIVE_DX = "F-ALTERNATIVE-DX-LIKELY"
_ALTERNATIVE_DX_AT = [finding_id for finding_id, _, _ in WELLS_ITEMS].index(ALTERNATIVE_DX)
# §3: pitting oedema counts when unilateral or side unknown, never bilateral.
_SELECTORS: dict[str, Present] = {
    finding_id: Unilateral(finding_id) if finding_id == "F-PITTING-EDEMA" else Present(finding_id)
    for finding_id, _, _ in WELLS_ITEMS
}
WELLS_MAX = sum(points for _, _, points in WELLS_ITEMS if points > 0)

PRESENT, ABSENT, NOT_RECORDED = "present", "absent", "not-recorded"
LIKELY, UNLIKELY, INCOMPLETE, NOT_APPLICABLE = "likely", "unlikely", "incomplete", "not-applicable"

# NICE NG158 1.1.3 / 1.1.4 next steps.
STEP_LIKELY = (
    "Proximal leg vein ultrasound within 4 hours; if that is not possible, D-dimer, interim "
    "anticoagulation and a scan within 24 hours (NICE NG158 1.1.3)."
)
STEP_UNLIKELY = (
    "D-dimer with the result within 4 hours (if not possible, interim anticoagulation); if "
    "positive, proximal leg vein ultrasound within 4 hours (NICE NG158 1.1.4)."
)
STEP_D_DIMER_POSITIVE = (
    "D-dimer positive: proximal leg vein ultrasound within 4 hours; if that is not possible, "
    "interim anticoagulation and a scan within 24 hours (NICE NG158 1.1.4)."
)
STEP_NOT_APPLICABLE = (
    "Validated scores do not apply; assess clinically. Proximal leg vein ultrasound is the "
    "imaging test (NICE NG158)."
)

D_DIMER_FEU_CUTOFF = 500.0  # ng/mL FEU (§5)
D_DIMER_DDU_CUTOFF = 250.0  # ng/mL DDU (§5)
AGE_ADJUSTED_FROM = 50  # over 50 years: age x 10 ng/mL FEU (Righini 2014)


@dataclass(frozen=True)
class WellsItem:
    finding_id: str
    label: str
    points: int
    status: str  # present | absent | not-recorded
    evidence: tuple[Finding, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class WellsResult:
    """The two-level Wells score as the card states it (§5)."""

    items: tuple[WellsItem, ...]
    score: int  # from present items only
    low: int  # lowest reachable: -2 more while the judgement item is unrecorded
    high: int  # highest reachable: + every unrecorded 1-point item
    classification: str  # likely | unlikely | incomplete | not-applicable
    statement: str  # the sentence for the card
    next_step: str

    @property
    def not_recorded(self) -> tuple[str, ...]:
        return tuple(item.label for item in self.items if item.status == NOT_RECORDED)

    def as_wire(self) -> dict[str, object]:
        """The card extension's `wells` object (no empty fields)."""
        out: dict[str, object] = {
            "score": self.score,
            "range": [self.low, self.high],
            "classification": self.classification,
            "statement": self.statement,
            "items": [
                {"finding": i.finding_id, "status": i.status, "points": i.points}
                for i in self.items
            ],
        }
        if self.not_recorded:
            out["notRecorded"] = list(self.not_recorded)
        return out


def _item(fs: FindingSet, finding_id: str, label: str, points: int) -> WellsItem:
    standing = fs.standing(_SELECTORS[finding_id])
    if finding_id == "F-PREVIOUS-DVT":
        # §2: the DVT that F-DVT-DX counts is not also a Wells "previous DVT".
        current = {r.reference for r in fs.records("F-DVT-DX")}
        if current:
            standing = tuple(r for r in standing if r.reference not in current)
    if standing:
        note = ""
        if any(TAG_NOT_DEEP_VEIN in r.tags for r in standing):
            note = "tenderness not localised to the deep veins"
        return WellsItem(finding_id, label, points, PRESENT, standing, note)
    counted = [r for r in fs.records(finding_id) if r.in_window and r.interpretable]
    if not counted:
        return _UNRECORDED[finding_id]
    dated_absences = tuple(r for r in counted if not r.present and r.when is not None)
    if dated_absences:
        return WellsItem(finding_id, label, points, ABSENT, dated_absences)
    note = ""
    if any(not r.present and r.when is None for r in counted):
        note = "undated absence does not fill the item"
    elif any(r.present and r.side is Side.BILATERAL for r in counted):
        # Bilateral pitting oedema is not "confined to the symptomatic leg", but it does not
        # record that leg either: left unrecorded (conservative; §5 is silent).
        note = "bilateral oedema recorded; the symptomatic leg alone is not"
    return WellsItem(finding_id, label, points, NOT_RECORDED, (), note)


# Most items have no in-window record at all; the item is then the same (immutable) value
# every time.
_UNRECORDED: dict[str, WellsItem] = {
    finding_id: WellsItem(finding_id, label, points, NOT_RECORDED)
    for finding_id, label, points in WELLS_ITEMS
}


def wells(fs: FindingSet, *, scores_apply: bool = True) -> WellsResult:
    """The two-level DVT Wells score over a FindingSet (§5; NICE NG158 table 1).

    Likely when present items reach 2; unlikely only when every item is recorded and the total
    is <= 1; otherwise incomplete with the "likely" next step. `scores_apply=False` (principle 5)
    states no classification.
    """
    found: list[WellsItem] = []
    score = unrecorded = missing_points = 0
    for finding_id, label, points in WELLS_ITEMS:
        item = _item(fs, finding_id, label, points)
        found.append(item)
        if item.status == PRESENT:
            score += points
        elif item.status == NOT_RECORDED:
            unrecorded += 1
            missing_points += max(points, 0)
    items = tuple(found)
    alt = items[_ALTERNATIVE_DX_AT]
    low = score - 2 if alt.status == NOT_RECORDED else score
    high = score + missing_points
    if not scores_apply:
        return WellsResult(
            items,
            score,
            low,
            high,
            NOT_APPLICABLE,
            f"Wells: {score} points recorded; validated scores do not apply; assess clinically.",
            STEP_NOT_APPLICABLE,
        )
    if score >= 2:
        alt_word = "absent" if alt.status == ABSENT else "not recorded"
        if alt.status == PRESENT:
            alt_word = "present (counted)"
        statement = (
            f"DVT likely: Wells {score} (alternative-diagnosis item {alt_word}; "
            f"range {low} to {high})."
        )
        return WellsResult(items, score, low, high, LIKELY, statement, STEP_LIKELY)
    if not unrecorded:
        statement = f"DVT unlikely: Wells {score}, every item recorded."
        step = STEP_D_DIMER_POSITIVE if fs.present("F-D-DIMER") else STEP_UNLIKELY
        return WellsResult(items, score, low, high, UNLIKELY, statement, step)
    statement = (
        f"Wells incomplete: {score} points recorded, up to {high} "
        f"(range {low} to {high}; {unrecorded} items not recorded)."
    )
    step = "Until the items are completed, follow the 'likely' step: " + STEP_LIKELY
    return WellsResult(items, score, low, high, INCOMPLETE, statement, step)


@dataclass(frozen=True)
class DDimerNote:
    """What the DVT card says about D-dimer (§5); it never suppresses the card."""

    cutoff_ng_ml: float  # FEU cut-off used for this patient
    age_adjusted: bool
    statement: str
    results: tuple[Finding, ...] = ()  # in-window D-dimer records


def d_dimer_cutoff(age_years: int | None, *, scores_apply: bool = True) -> tuple[float, bool]:
    """(FEU cut-off in ng/mL, age-adjusted?). Over 50: age x 10 (FEU only, Righini 2014);
    unknown age: 500 (adult); principle 5: never age-adjusted."""
    if scores_apply and age_years is not None and age_years > AGE_ADJUSTED_FROM:
        return float(age_years * 10), True
    return D_DIMER_FEU_CUTOFF, False


def d_dimer_note(fs: FindingSet, *, age_years: int | None, scores_apply: bool) -> DDimerNote:
    """The D-dimer sentence for the DVT card, with the cut-off that applies to this patient."""
    cutoff, adjusted = d_dimer_cutoff(age_years, scores_apply=scores_apply)
    results = tuple(r for r in fs.records("F-D-DIMER") if r.in_window)
    if not scores_apply:
        statement = (
            "D-dimer: no age-adjusted cut-off (validated scores do not apply; assess clinically)."
        )
    elif adjusted:
        statement = (
            f"Age-adjusted D-dimer cut-off {cutoff:.0f} ng/mL FEU (age {age_years} x 10): below "
            "it DVT can be excluded only when the Wells score is complete and unlikely "
            "(NICE NG158; Righini 2014). FEU results only; DDU results use 250 ng/mL DDU."
        )
    elif age_years is None:
        statement = "Age unknown: treated as an adult; D-dimer cut-off 500 ng/mL FEU (250 DDU)."
    else:
        statement = "D-dimer cut-off 500 ng/mL FEU (250 ng/mL DDU)."
    notes = []
    for record in results:
        m = record.measurement
        feu = record.interpretable and TAG_DDU not in record.tags
        if adjusted and feu and m is not None and D_DIMER_FEU_CUTOFF <= m.value < cutoff:
            notes.append(
                f"{m.value:g} ng/mL FEU is below the age-adjusted cut-off: it excludes DVT "
                "only with a complete, unlikely Wells score."
            )
    if notes:
        statement = statement + " " + " ".join(notes)
    return DDimerNote(cutoff, adjusted, statement, results)


def ck_multiple(
    value_u_per_l: float, uln_u_per_l: float | None, default_uln: float = 200.0
) -> float:
    """CK as a multiple of the upper limit of normal (§3: referenceRange.high, else default)."""
    uln = uln_u_per_l if uln_u_per_l and uln_u_per_l > 0 else default_uln
    return value_u_per_l / uln
