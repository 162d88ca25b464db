"""Clinical judgement on measured values (clinical-rules.md §2 "Quantities", §3 cut-offs, §5).

Pure. The FHIR reader hands over a `LabResult` (value, unit, interpretation, reference range as
sent) and gets back `Judgement`s: which finding the value records, present or absent, with the
value normalised by `core.units`. The observation's own interpretation and reference range are
preferred over the default cut-offs; a unit that cannot be converted is never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import units
from .findings import (
    ABI,
    CALCIUM,
    CALF_CIRCUMFERENCE,
    CK,
    D_DIMER,
    HEART_RATE,
    MAGNESIUM,
    POTASSIUM,
    SPO2,
    TEMPERATURE,
    TSH,
    MeasurementDef,
)
from .i18n import N_
from .model import (
    FLAG_ABNORMAL,
    FLAG_HIGH,
    FLAG_LOW,
    FLAG_NEGATIVE,
    FLAG_NORMAL,
    FLAG_POSITIVE,
    TAG_CODED_RESULT,
    TAG_HEART_RATE,
    TAG_MEASURED,
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_SPO2,
    Measurement,
    Side,
)
from .policy import Policy

# Default cut-offs (§3; §5 for D-dimer).
FEVER_CEL = 38.0
SPO2_LOW_PERCENT = 92.0
HEART_RATE_HIGH_PER_MIN = 100.0
D_DIMER_FEU_NG_ML = 500.0
D_DIMER_DDU_NG_ML = 250.0
D_DIMER_AGE_ADJUSTED_FROM = 50  # over 50: age x 10 ng/mL FEU (NICE NG158; Schouten 2013)
TSH_HIGH_MIU_L = 4.5
POTASSIUM_LOW_MMOL_L = 3.5
POTASSIUM_SEVERE_MMOL_L = 2.5
# §3 gives these cut-offs in both units; a value is compared in the unit it was sent in, so
# one sent at the stated cut-off (Ca 2.12 mmol/L) is not pushed below it by the conversion.
MAGNESIUM_LOW = {"mmol/l": 0.7, "mg/dl": 1.7}
CALCIUM_LOW = {"mg/dl": 8.5, "mmol/l": 2.12}
_LOW_IN_EACH_UNIT = {MAGNESIUM: MAGNESIUM_LOW, CALCIUM: CALCIUM_LOW}
CALF_DIFFERENCE_CM = 3.0

# Interpretation codes (HL7 v3 ObservationInterpretation; v2 table 0078 spells them the same).
INTERPRETATION_SYSTEMS = frozenset(
    {
        "",
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "http://hl7.org/fhir/v3/ObservationInterpretation",
        "http://terminology.hl7.org/CodeSystem/v2-0078",
        "http://hl7.org/fhir/v2/0078",
    }
)
_HIGH = frozenset({"H", "HH", "HU"})
_LOW = frozenset({"L", "LL", "LU"})
_ABNORMAL = frozenset({"A", "AA"})
_POSITIVE = frozenset({"POS", "DET"})
_NEGATIVE = frozenset({"NEG", "ND"})
_NORMAL = frozenset({"N"})
CRITICAL = frozenset({"LL", "HH", "LU", "HU"})

# Analytes whose red flag is a high value (the others: a low value; ABI has no direction).
_HIGH_ANALYTES = frozenset({TEMPERATURE, HEART_RATE, D_DIMER, CK, TSH, CALF_CIRCUMFERENCE})
# Labs whose referenceRange is preferred over the default cut-off. A vital sign's range is a
# normal range, not the spec's red-flag cut-off, so it is not used.
_RANGE_ANALYTES = frozenset({D_DIMER, CK, TSH, POTASSIUM, MAGNESIUM, CALCIUM})
# A not-interpretable value of these blocks self-care and is named on every card (§2).
BLOCKING_ANALYTES = frozenset({D_DIMER, CK, POTASSIUM, TEMPERATURE})

ANALYTE_NAMES = {
    TEMPERATURE: N_("Temperature"),
    SPO2: N_("SpO2"),
    HEART_RATE: N_("Heart rate"),
    D_DIMER: N_("D-dimer"),
    CK: N_("CK"),
    ABI: N_("ABI"),
    TSH: N_("TSH"),
    POTASSIUM: N_("Potassium"),
    MAGNESIUM: N_("Magnesium"),
    CALCIUM: N_("Calcium"),
    CALF_CIRCUMFERENCE: N_("Calf circumference difference"),
}

# Decimals shown on cards (§7.2.3): ABI and D-dimer in mg/L or ug/mL 2; temperature, K, Mg,
# Ca, TSH and CK multiples below 10 one; everything else whole numbers. TSH and the calf
# circumference keep one decimal: "TSH 7.2 mIU/L" (§7.4) and a 2.6 cm difference read as
# "3 cm" would hide that it is short of the 3 cm threshold.
_ONE_DECIMAL = frozenset({TEMPERATURE, POTASSIUM, MAGNESIUM, CALCIUM, TSH, CALF_CIRCUMFERENCE})


def decimals_for(analyte: str, shown_unit: str | None) -> int:
    """How many decimals a card shows for a value of `analyte` in `shown_unit`."""
    if analyte == ABI or (analyte == D_DIMER and shown_unit in {"mg/L", "µg/mL"}):
        return 2
    return 1 if analyte in _ONE_DECIMAL else 0


# §4: R-MYOSITIS above 10 × ULN, R-RHABDO above 40 × ULN.
CK_MYOSITIS_ULN, CK_RHABDO_ULN = 10.0, 40.0
# §4: ABI below 0.40 (CLTI), at most 0.90 (PAD), below 1.00 (borderline), above 1.40
# (incompressible).
ABI_CLTI, ABI_PAD, ABI_NORMAL, ABI_INCOMPRESSIBLE = 0.40, 0.90, 1.00, 1.40

# The cut-offs a value is judged against (§3, §4, §5), in the analyte's canonical unit, each
# with the side a value exactly at it lies on (True: the upper side, as for ">=" and "<").
Cut = tuple[float, bool]
_JUDGED_AT: dict[str, tuple[Cut, ...]] = {
    TEMPERATURE: ((FEVER_CEL, True),),
    SPO2: ((SPO2_LOW_PERCENT, True),),
    HEART_RATE: ((HEART_RATE_HIGH_PER_MIN, False),),
    POTASSIUM: ((POTASSIUM_LOW_MMOL_L, True), (POTASSIUM_SEVERE_MMOL_L, True)),
    TSH: ((TSH_HIGH_MIU_L, False),),
    CALF_CIRCUMFERENCE: ((CALF_DIFFERENCE_CM, True),),
    ABI: ((ABI_CLTI, True), (ABI_PAD, False), (ABI_NORMAL, True), (ABI_INCOMPRESSIBLE, False)),
}
_CK_CUTS: tuple[Cut, ...] = ((CK_MYOSITIS_ULN, False), (CK_RHABDO_ULN, False))
# FEU: 500 ng/mL, and age x 10 over 50 (§5), for any age a patient can have; negative below.
_FEU_CUTS: tuple[Cut, ...] = (
    (D_DIMER_FEU_NG_ML, True),
    *((float(age * 10), True) for age in range(51, 121)),
)


def shown_number(m: Measurement, shown_unit: str | None) -> tuple[float, int]:
    """The sent value as a card shows it, and its decimals: §7.2.3's, more (never over 2)
    where those would put it on the other side of a cut-off it is judged against, and at 2
    rounded toward its own side if even that would. Spec-silent, conservative: SpO2 91.6 %
    reads "91.6 %", 91.996 % "91.99 %", never "92 %" beside "ambulance if SpO2 < 92 %"."""
    assert m.sent_value is not None
    return _rounded(m.sent_value, decimals_for(m.analyte, shown_unit), lambda s: _crossing(m, s))


def shown_multiple(multiple: float) -> tuple[float, int]:
    """A CK multiple of ULN as shown: one decimal below 10, else none (§7.2.3), or more where
    that would land on or across 10 or 40 ("40.04 × ULN" fires R-RHABDO; "40" would not)."""
    return _rounded(
        multiple, 1 if multiple < 10 else 0, lambda shown: _crossed(multiple, shown, _CK_CUTS)
    )


def _rounded(value: float, decimals: int, crossing: Callable[[float], int]) -> tuple[float, int]:
    places, side = decimals, 0
    for places in range(decimals, max(decimals, 2) + 1):
        shown = float(f"{value:.{places}f}")
        side = crossing(shown)
        if not side:
            return shown, places
    step = 10.0**-places  # the values rise with the sent number in every unit
    return (math.floor(value / step) if side < 0 else math.ceil(value / step)) * step, places


def _crossing(m: Measurement, shown: float) -> int:
    """0 when `shown` is on the value's side of every cut-off it is judged against; else the
    value's side of the cut-off crossed (-1 below, 1 above)."""
    sent = m.sent_value
    assert sent is not None
    low_by_unit = _LOW_IN_EACH_UNIT.get(m.analyte)
    if low_by_unit is not None:  # compared in the unit sent (§3 gives both); unit-less: either
        parsed = units.parse_unit(m.sent_unit)
        cuts = tuple(low_by_unit.values()) if parsed is None else (low_by_unit.get(parsed.base),)
        return _crossed(sent, shown, tuple((cut, True) for cut in cuts if cut is not None))
    cuts_of = _cuts_of(m)
    if not cuts_of:  # CK's multiples are shown apart (shown_multiple)
        return 0
    if m.sent_unit is None:  # a unit-less value is read in the analyte's own unit
        return _crossed(sent, shown, cuts_of)
    shown_value = units.convert(m.analyte, shown, m.sent_unit, m.unit)
    if m.value is None or shown_value is None:
        return 0
    return _crossed(m.value, shown_value, cuts_of)


def _crossed(value: float, shown: float, cuts: tuple[Cut, ...]) -> int:
    for cut, at_is_upper in cuts:
        side = _side(value, cut, at_is_upper)
        if side != _side(shown, cut, at_is_upper):
            return side
    return 0


def _side(value: float, cut: float, at_is_upper: bool) -> int:
    return 1 if value > cut or (value == cut and at_is_upper) else -1


def _cuts_of(m: Measurement) -> tuple[Cut, ...]:
    if m.analyte != D_DIMER:
        return _JUDGED_AT.get(m.analyte, ())
    return ((D_DIMER_DDU_NG_ML, True),) if m.basis == "DDU" else _FEU_CUTS


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Quantity:
    """A value as the EHR sent it."""

    value: float | None
    unit: str | None  # the UCUM code, else the human unit
    comparator: str | None = None
    text: str | None = None  # a value that is no number, as sent (not interpretable)


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class LabResult:
    """What one Observation (or component) says about an analyte, FHIR-free."""

    quantity: Quantity | None = None
    coded: bool | None = None  # a qualitative result: True Positive, False Negative
    absent_reason: bool = False  # dataAbsentReason: not done, not available
    interpretation: frozenset[str] = frozenset()  # upper-case codes of the known systems
    reference_high: tuple[Quantity, ...] = ()
    reference_low: tuple[Quantity, ...] = ()
    components: tuple[tuple[Quantity, Side], ...] = ()  # an ABI's right/left values


@dataclass(frozen=True, slots=True)
class Judgement:
    """One finding a measured value records."""

    finding_id: str
    present: bool
    measurement: Measurement | None
    interpretable: bool = True
    tags: frozenset[str] = frozenset()
    flag: str | None = None
    side: Side | None = None  # an ABI component's side, when it has one


def flag_of(interpretation: frozenset[str]) -> str | None:
    """The lab's own interpretation as one flag (positive, high, low, abnormal, negative,
    normal)."""
    if interpretation & _POSITIVE:
        return FLAG_POSITIVE
    if interpretation & _HIGH:
        return FLAG_HIGH
    if interpretation & _LOW:
        return FLAG_LOW
    if interpretation & _ABNORMAL:
        return FLAG_ABNORMAL
    if interpretation & _NEGATIVE:
        return FLAG_NEGATIVE
    if interpretation & _NORMAL:
        return FLAG_NORMAL
    return None


def _direction(interpretation: frozenset[str], analyte: str) -> bool | None:
    """True: the lab flags the red-flag direction; False: it says normal; None: silent."""
    if not interpretation or analyte == ABI:
        return None
    # N is not decisive (§2 lists H, HH, L, LL, A, POS): a value past the cut-off flagged N
    # still counts (conservative).
    if analyte in _HIGH_ANALYTES:
        if interpretation & (_HIGH | _ABNORMAL | _POSITIVE):
            return True
        if interpretation & (_LOW | _NEGATIVE):
            return False
        return None
    if interpretation & (_LOW | _ABNORMAL):
        return True
    if interpretation & (_HIGH | _NEGATIVE):
        return False
    return None


def _above(value: float, limit: float, comparator: str | None) -> bool:
    return value > limit or (comparator == ">" and value >= limit)


def _below(value: float, limit: float, comparator: str | None) -> bool:
    return value < limit or (comparator == "<" and value <= limit)


def crosses_default(
    mdef: MeasurementDef,
    value: float,
    comparator: str | None,
    uln: float,
    sent: Quantity | None = None,
) -> bool:
    """The spec's default cut-off (§3); `>`/`<` at a strict limit counts as crossing. `value`
    is in the analyte's unit; `sent`, the quantity as sent, is compared where §3 gives the
    cut-off in its unit too."""
    analyte = mdef.analyte
    low_by_unit = _LOW_IN_EACH_UNIT.get(analyte)
    if low_by_unit is not None:
        parsed = units.parse_unit(sent.unit) if sent is not None else None
        if sent is not None and sent.value is not None and parsed and parsed.base in low_by_unit:
            return _below(sent.value, low_by_unit[parsed.base], comparator)
        return _below(value, low_by_unit[units.canonical_key(mdef.unit)], comparator)
    if analyte == TEMPERATURE:
        return value >= FEVER_CEL
    if analyte == D_DIMER:
        return value >= (D_DIMER_DDU_NG_ML if mdef.dimer_basis == "DDU" else D_DIMER_FEU_NG_ML)
    if analyte == CALF_CIRCUMFERENCE:
        return abs(value) >= CALF_DIFFERENCE_CM
    if analyte == HEART_RATE:
        return _above(value, HEART_RATE_HIGH_PER_MIN, comparator)
    if analyte == CK:
        return _above(value, uln, comparator)
    if analyte == TSH:
        return _above(value, TSH_HIGH_MIU_L, comparator)
    if analyte == SPO2:
        return _below(value, SPO2_LOW_PERCENT, comparator)
    if analyte == POTASSIUM:
        return _below(value, POTASSIUM_LOW_MMOL_L, comparator)
    return True  # ABI: always recorded with its ratio


def _range_limit(
    mdef: MeasurementDef, limits: tuple[Quantity, ...], value_unit: str | None
) -> float | None:
    """The first reference limit convertible to the analyte's unit (a limit may omit its unit)."""
    for limit in limits:
        if limit.value is None:
            continue
        converted = units.convert(mdef.analyte, limit.value, limit.unit or value_unit, mdef.unit)
        if converted is not None:
            return converted
    return None


@dataclass(frozen=True)
class _Judge:
    mdef: MeasurementDef
    result: LabResult
    policy: Policy

    @property
    def direction(self) -> bool | None:
        return _direction(self.result.interpretation, self.mdef.analyte)

    @property
    def beside_a_number(self) -> bool | None:
        """The lab's direction for a value with a number. NEG is a qualitative result's word
        (§5), not in §2's list (H, HH, L, LL, A, POS): beside a number, as N, it decides
        nothing (scores.py reads it for the D-dimer)."""
        return None if self.flag == FLAG_NEGATIVE else self.direction

    @property
    def flag(self) -> str | None:
        return flag_of(self.result.interpretation)

    def _tags(self, finding_id: str) -> frozenset[str]:
        tags = {TAG_MEASURED}
        if finding_id == "F-PE-SYMPTOM":
            tags.add(TAG_HEART_RATE if self.mdef.analyte == HEART_RATE else TAG_SPO2)
        return frozenset(tags)

    def _present_for(self, finding_id: str, present: bool, severe: bool) -> bool:
        return severe if finding_id == "F-SEVERE-ELECTROLYTE" else present

    def judged(
        self,
        present: bool,
        measurement: Measurement | None,
        *,
        severe: bool = False,
        extra_tags: frozenset[str] = frozenset(),
    ) -> list[Judgement]:
        return [
            Judgement(
                finding_id,
                self._present_for(finding_id, present, severe),
                measurement,
                tags=self._tags(finding_id) | extra_tags,
                flag=self.flag,
            )
            for finding_id in self.mdef.finding_ids
        ]

    def not_interpretable(self) -> list[Judgement]:
        """Unit or value unusable: shown, never fires a cut-off; the lab's own flag still
        counts (a red flag flagged H by the lab stays present)."""
        analyte = self.mdef.analyte
        blocking = (
            frozenset({TAG_NOT_INTERPRETABLE_BLOCKS})
            if analyte in BLOCKING_ANALYTES
            else frozenset()
        )
        flagged = self.direction is True and analyte != ABI
        quantity = self.result.quantity or Quantity(None, None)
        measurement = Measurement(
            analyte,
            None,
            self.mdef.unit,
            quantity.comparator,
            sent_value=quantity.value,
            sent_unit=quantity.unit,
            basis=self.mdef.dimer_basis,
            sent_text=quantity.text,
        )
        return [
            Judgement(
                finding_id,
                self._present_for(finding_id, flagged, severe=self.critical),
                measurement,
                interpretable=False,
                tags=self._tags(finding_id) | blocking,
                flag=self.flag,
            )
            for finding_id in self.mdef.finding_ids
        ]

    @property
    def critical(self) -> bool:
        return bool(self.result.interpretation & CRITICAL)

    def measurement(
        self, value: float, quantity: Quantity, uln: float | None = None
    ) -> Measurement:
        return Measurement(
            self.mdef.analyte,
            value,
            self.mdef.unit if uln is None else "xULN",
            quantity.comparator,
            sent_value=quantity.value,
            sent_unit=quantity.unit,
            basis=self.mdef.dimer_basis,
            uln=uln,
        )

    def numeric(self, value: float, quantity: Quantity) -> list[Judgement]:
        """Interpretation first, then the observation's own referenceRange, then the default."""
        mdef, analyte, comparator = self.mdef, self.mdef.analyte, quantity.comparator
        high_side = analyte in _HIGH_ANALYTES
        limit = None
        if analyte in _RANGE_ANALYTES:
            limits = self.result.reference_high if high_side else self.result.reference_low
            limit = _range_limit(mdef, limits, quantity.unit)
        if analyte == CK:
            return self.ck(value, quantity, limit)
        measurement = self.measurement(value, quantity)
        if analyte == ABI:
            return self.judged(True, measurement)
        direction = self.beside_a_number
        if limit is not None:
            if analyte == D_DIMER:
                by_range = value >= limit  # the D-dimer cut-off convention is >= (§5)
            elif high_side:
                by_range = _above(value, limit, comparator)
            else:
                by_range = _below(value, limit, comparator)
            present = direction is True or by_range
        elif direction is not None:
            present = direction
        else:
            present = crosses_default(
                mdef, value, comparator, self.policy.ck_uln_u_per_l, sent=quantity
            )
        severe = self.critical or (
            analyte == POTASSIUM and _below(value, POTASSIUM_SEVERE_MMOL_L, None)
        )
        return self.judged(present, measurement, severe=severe)

    def ck(self, value: float, quantity: Quantity, limit: float | None) -> list[Judgement]:
        """CK as a multiple of ULN: referenceRange.high, else the configured ULN (§3)."""
        uln = limit if limit is not None and limit > 0 else self.policy.ck_uln_u_per_l
        multiple = value / uln
        by_number = _above(multiple, 1.0, quantity.comparator)
        if limit is not None:
            present = self.beside_a_number is True or by_number
        else:
            direction = self.beside_a_number
            present = direction if direction is not None else by_number
        return self.judged(present, self.measurement(multiple, quantity, uln=uln))

    def unitless(self, quantity: Quantity) -> list[Judgement]:
        """No unit sent: read in full when every accepted unit gives the same number (CK U/L
        = IU/L), decided when they all give the same answer, else not interpretable."""
        assert quantity.value is not None
        mdef = self.mdef
        values = {
            units.convert(mdef.analyte, quantity.value, unit, mdef.unit)
            for unit in units.candidate_units(mdef.analyte)
        }
        if len(values) == 1 and (value := values.pop()) is not None:
            return self.numeric(value, quantity)
        if self.beside_a_number is not None:
            answers = {self.beside_a_number}
        else:
            answers = {
                crosses_default(
                    mdef,
                    converted,
                    quantity.comparator,
                    self.policy.ck_uln_u_per_l,
                    sent=Quantity(quantity.value, unit, quantity.comparator),
                )
                for unit in units.candidate_units(mdef.analyte)
                if (converted := units.convert(mdef.analyte, quantity.value, unit, mdef.unit))
                is not None
            }
        if len(answers) != 1:
            return self.not_interpretable()
        # Decided without a number in any one unit; the value is shown as sent (§5 "Display").
        sent = Measurement(
            mdef.analyte,
            None,
            mdef.unit,
            quantity.comparator,
            sent_value=quantity.value,
            basis=mdef.dimer_basis,
        )
        return self.judged(answers.pop(), sent)

    def coded_only(self) -> list[Judgement]:
        """A result without a number: the lab's flag or a coded Positive/Negative decides."""
        decided = self.direction if self.direction is not None else self.result.coded
        if decided is None or self.mdef.analyte == ABI:
            return self.not_interpretable()
        return self.judged(decided, None, extra_tags=frozenset({TAG_CODED_RESULT}))


def judge(mdef: MeasurementDef, result: LabResult, policy: Policy) -> list[Judgement]:
    """The findings one analyte result records (§2 "Quantities", §3 cut-offs)."""
    if result.absent_reason:
        return []  # not done or not available: the item stays "not recorded"
    judge_ = _Judge(mdef, result, policy)
    if mdef.analyte == ABI and result.components:
        return _abi_components(judge_, result.components)
    quantity = result.quantity
    # D-dimer: FEU or DDU comes from the LOINC code; a contradicting annotation is unusable.
    if mdef.analyte == D_DIMER and quantity is not None and quantity.unit is not None:
        note = units.dimer_annotation(quantity.unit)
        if note is not None and note != mdef.dimer_basis:
            return judge_.not_interpretable()
    if quantity is None or quantity.value is None:
        return judge_.coded_only()
    value = units.convert(mdef.analyte, quantity.value, quantity.unit, mdef.unit)
    if value is not None:
        return judge_.numeric(value, quantity)
    if quantity.unit is None and mdef.analyte != ABI:
        return judge_.unitless(quantity)
    return judge_.not_interpretable()


def _abi_components(
    judge_: _Judge, components: tuple[tuple[Quantity, Side], ...]
) -> list[Judgement]:
    """An ABI sent as right/left components: the lowest ratio, with its side (§2)."""
    best: tuple[float, Quantity, Side] | None = None
    for quantity, side in components:
        if quantity.value is None:
            continue
        ratio = units.convert(ABI, quantity.value, quantity.unit, "1")
        if ratio is None:
            continue  # e.g. an ankle pressure in mm[Hg]: not a ratio
        if best is None or ratio < best[0]:
            best = (ratio, quantity, side)
    if best is None:
        return judge_.not_interpretable()
    ratio, quantity, side = best
    return [
        Judgement(
            "F-ABI",
            True,
            judge_.measurement(ratio, quantity),
            tags=frozenset({TAG_MEASURED}),
            side=side,
        )
    ]


def d_dimer_cutoff(age_years: int | None) -> tuple[float, bool]:
    """(FEU cut-off in ng/mL for a negative result, age-adjusted?). Over 50: age x 10 (NICE
    NG158; Schouten 2013); unknown age: 500, as an adult (§1.5)."""
    if age_years is not None and age_years > D_DIMER_AGE_ADJUSTED_FROM:
        return float(age_years * 10), True
    return D_DIMER_FEU_NG_ML, False
