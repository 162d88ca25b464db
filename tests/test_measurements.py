"""Clinical judgement on measured values (clinical-rules.md §2 "Quantities", §3 cut-offs, §5).

`judge(measurement code, lab result, policy)` says which findings one value records, present or
absent: the observation's own interpretation first, then its referenceRange, then the default
cut-off; a unit the service cannot convert is never guessed.
"""

from __future__ import annotations

import pytest

from cds.core import findings as cat
from cds.core.measurements import (
    Judgement,
    LabResult,
    Quantity,
    d_dimer_cutoff,
    decimals_for,
    judge,
)
from cds.core.model import (
    FLAG_ABNORMAL,
    FLAG_HIGH,
    FLAG_LOW,
    FLAG_NEGATIVE,
    FLAG_POSITIVE,
    TAG_CODED_RESULT,
    TAG_HEART_RATE,
    TAG_MEASURED,
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_SPO2,
    Side,
)
from cds.core.policy import Policy

POLICY = Policy()
CATALOG = cat.catalog_for(POLICY)
TEMPERATURE = "8310-5"
SPO2 = "59408-5"
HEART_RATE = "8867-4"
D_DIMER_FEU = "48065-7"
D_DIMER_DDU = "48066-5"
CK = "2157-6"
ABI = "77194-9"
TSH = "3016-3"
POTASSIUM = "2823-3"
MAGNESIUM_MMOL = "2601-3"
MAGNESIUM_MG = "19123-9"
CALCIUM = "17861-6"


def judged(
    code: str,
    value: float | None = None,
    unit: str | None = None,
    *,
    comparator: str | None = None,
    interpretation: frozenset[str] = frozenset(),
    high: tuple[Quantity, ...] = (),
    low: tuple[Quantity, ...] = (),
    coded: bool | None = None,
    policy: Policy = POLICY,
) -> dict[str, Judgement]:
    """finding id -> the judgement one value of a LOINC code gives."""
    system = cat.LOCAL if code == "calf-circumference-difference" else cat.LOINC
    mdef = CATALOG.measurement(system, code)
    assert mdef is not None, code
    quantity = None if value is None else Quantity(value, unit, comparator)
    result = LabResult(
        quantity=quantity,
        coded=coded,
        interpretation=interpretation,
        reference_high=high,
        reference_low=low,
    )
    judgements = judge(mdef, result, policy)
    by_finding = {j.finding_id: j for j in judgements}
    assert len(by_finding) == len(judgements)
    return by_finding


def present(code: str, value: float | None = None, unit: str | None = None, **kw: object) -> bool:
    """Whether the value records its finding as present (electrolytes: the cramp cause)."""
    found = judged(code, value, unit, **kw)  # type: ignore[arg-type]
    found.pop("F-SEVERE-ELECTROLYTE", None)
    (judgement,) = found.values()
    assert judgement.interpretable
    return judgement.present


# --- default cut-offs (§3; §5 for D-dimer) --------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "expected"),
    [
        pytest.param(TEMPERATURE, 38.0, "Cel", True, id="fever-at-38.0"),
        pytest.param(TEMPERATURE, 37.9, "Cel", False, id="no-fever-at-37.9"),
        pytest.param(TEMPERATURE, 100.4, "[degF]", True, id="fever-at-100.4-degF"),
        pytest.param(TEMPERATURE, 100.2, "°F", False, id="no-fever-at-100.2-degF"),
        pytest.param(SPO2, 91, "%", True, id="spo2-below-92"),
        pytest.param(SPO2, 92, "%", False, id="spo2-at-92"),
        pytest.param(HEART_RATE, 101, "/min", True, id="heart-rate-over-100"),
        pytest.param(HEART_RATE, 100, "/min", False, id="heart-rate-at-100"),
        pytest.param(D_DIMER_FEU, 500, "ng/mL", True, id="feu-at-500"),
        pytest.param(D_DIMER_FEU, 499, "ng/mL", False, id="feu-below-500"),
        pytest.param(D_DIMER_FEU, 0.5, "mg/L", True, id="feu-0.5-mg/L"),
        pytest.param(D_DIMER_DDU, 250, "ng/mL", True, id="ddu-at-250"),
        pytest.param(D_DIMER_DDU, 249, "ng/mL", False, id="ddu-below-250"),
        pytest.param(TSH, 4.6, "mIU/L", True, id="tsh-over-4.5"),
        pytest.param(TSH, 4.5, "mIU/L", False, id="tsh-at-4.5"),
        pytest.param(MAGNESIUM_MMOL, 0.69, "mmol/L", True, id="mg-below-0.7-mmol"),
        pytest.param(MAGNESIUM_MMOL, 0.7, "mmol/L", False, id="mg-at-0.7-mmol"),
        pytest.param(MAGNESIUM_MG, 1.6, "mg/dL", True, id="mg-below-1.7-mg"),
        pytest.param(MAGNESIUM_MG, 1.7, "mg/dL", False, id="mg-at-1.7-mg"),
        pytest.param(CALCIUM, 8.4, "mg/dL", True, id="ca-below-8.5"),
        pytest.param(CALCIUM, 2.11, "mmol/L", True, id="ca-2.11-mmol-is-below-8.5-mg"),
        pytest.param(CALCIUM, 2.2, "mmol/L", False, id="ca-2.2-mmol"),
        # §3 states both units: a value at the stated cut-off is not below it after conversion
        pytest.param(CALCIUM, 2.12, "mmol/L", False, id="ca-at-2.12-mmol"),
        pytest.param(MAGNESIUM_MMOL, 1.7, "mg/dL", False, id="mg-at-1.7-mg-under-the-mmol-code"),
        pytest.param(MAGNESIUM_MG, 0.7, "mmol/L", False, id="mg-at-0.7-mmol-under-the-mg-code"),
        pytest.param(MAGNESIUM_MG, 0.69, "mmol/L", True, id="mg-0.69-mmol-under-the-mg-code"),
        pytest.param("calf-circumference-difference", 3.0, "cm", True, id="calf-3-cm"),
        pytest.param("calf-circumference-difference", 29, "mm", False, id="calf-29-mm"),
        pytest.param("calf-circumference-difference", -3.2, "cm", True, id="calf-negative"),
    ],
)
def test_default_cut_off_decides_presence(
    code: str, value: float, unit: str, expected: bool
) -> None:
    assert present(code, value, unit) is expected


@pytest.mark.parametrize(
    ("code", "value", "unit", "comparator", "expected"),
    [
        pytest.param(HEART_RATE, 100, "/min", ">", True, id="heart-rate-over-100"),
        pytest.param(SPO2, 92, "%", "<", True, id="spo2-under-92"),
        pytest.param(TSH, 4.5, "mIU/L", ">", True, id="tsh-over-4.5"),
        pytest.param(D_DIMER_FEU, 500, "ng/mL", ">=", True, id="dimer-at-least-500"),
        pytest.param(HEART_RATE, 100, "/min", "<", False, id="under-is-not-over"),
    ],
)
def test_a_comparator_at_a_strict_limit_counts_as_crossing_it(
    code: str, value: float, unit: str, comparator: str, expected: bool
) -> None:
    assert present(code, value, unit, comparator=comparator) is expected


@pytest.mark.parametrize(
    ("value", "cause", "severe"),
    [
        pytest.param(3.6, False, False, id="normal"),
        pytest.param(3.4, True, False, id="low-cramp-cause"),
        pytest.param(2.4, True, True, id="below-2.5-severe"),
    ],
)
def test_potassium_records_a_cramp_cause_and_a_severe_disturbance(
    value: float, cause: bool, severe: bool
) -> None:
    found = judged(POTASSIUM, value, "mmol/L")

    assert found["F-CRAMP-CAUSE"].present is cause
    assert found["F-SEVERE-ELECTROLYTE"].present is severe
    assert found["F-CRAMP-CAUSE"].measurement is not None
    assert found["F-CRAMP-CAUSE"].measurement.value == pytest.approx(value)


def test_a_pe_sign_from_a_measurement_says_which_vital_sign_it_was() -> None:
    (heart,) = judged(HEART_RATE, 110, "/min").values()
    (spo2,) = judged(SPO2, 88, "%").values()

    assert heart.finding_id == spo2.finding_id == "F-PE-SYMPTOM"
    assert heart.tags == {TAG_MEASURED, TAG_HEART_RATE}
    assert spo2.tags == {TAG_MEASURED, TAG_SPO2}


def test_the_measurement_keeps_what_the_ehr_sent() -> None:
    (judgement,) = judged(TEMPERATURE, 101.3, "[degF]").values()

    assert judgement.measurement is not None
    assert judgement.measurement.value == pytest.approx(38.5)
    assert judgement.measurement.unit == "Cel"
    assert (judgement.measurement.sent_value, judgement.measurement.sent_unit) == (101.3, "[degF]")


# --- the observation's own interpretation (preferred over the cut-offs) -------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "interpretation", "expected", "flag"),
    [
        pytest.param(TEMPERATURE, 37.4, "Cel", {"H"}, True, FLAG_HIGH, id="fever-flagged-high"),
        # N is not in §2's list (H, HH, L, LL, A, POS): a value past the cut-off still counts.
        pytest.param(TEMPERATURE, 38.4, "Cel", {"N"}, True, "normal", id="n-not-decisive"),
        pytest.param(TEMPERATURE, 37.2, "Cel", {"N"}, False, "normal", id="normal-says-normal"),
        pytest.param(D_DIMER_FEU, 300, "ng/mL", {"H"}, True, FLAG_HIGH, id="dimer-high-flag"),
        pytest.param(D_DIMER_FEU, 300, "ng/mL", {"POS"}, True, FLAG_POSITIVE, id="dimer-pos"),
        pytest.param(D_DIMER_FEU, 300, "ng/mL", {"A"}, True, FLAG_ABNORMAL, id="dimer-abnormal"),
        # NEG, like N, decides nothing beside a number: 5000 ng/mL FEU is raised.
        pytest.param(D_DIMER_FEU, 5000, "ng/mL", {"NEG"}, True, FLAG_NEGATIVE, id="dimer-neg-5000"),
        pytest.param(D_DIMER_FEU, 300, "ng/mL", {"NEG"}, False, FLAG_NEGATIVE, id="dimer-neg-300"),
        pytest.param(D_DIMER_FEU, 5000, None, {"NEG"}, True, FLAG_NEGATIVE, id="dimer-neg-no-unit"),
        pytest.param(SPO2, 94, "%", {"L"}, True, FLAG_LOW, id="spo2-flagged-low"),
        pytest.param(SPO2, 90, "%", {"N"}, True, "normal", id="spo2-n-not-decisive"),
        pytest.param(SPO2, 90, "%", {"H"}, False, FLAG_HIGH, id="spo2-said-high"),
        pytest.param(POTASSIUM, 3.6, "mmol/L", {"L"}, True, FLAG_LOW, id="potassium-low-flag"),
        pytest.param(TSH, 3.0, "mIU/L", {"H"}, True, FLAG_HIGH, id="tsh-high-flag"),
        pytest.param(HEART_RATE, 120, "/min", {"X"}, True, None, id="unknown-code-ignored"),
    ],
)
def test_the_lab_interpretation_comes_before_the_default_cut_off(
    code: str,
    value: float,
    unit: str | None,
    interpretation: set[str],
    expected: bool,
    flag: str | None,
) -> None:
    found = judged(code, value, unit, interpretation=frozenset(interpretation))

    assert {j.present for j in found.values() if j.finding_id != "F-SEVERE-ELECTROLYTE"} == {
        expected
    }
    assert {j.flag for j in found.values()} == {flag}


@pytest.mark.parametrize(
    ("code", "value", "unit", "interpretation", "cause"),
    [
        pytest.param(POTASSIUM, 3.0, "mmol/L", "LL", True, id="potassium-LL"),
        pytest.param(CALCIUM, 8.0, "mg/dL", "LL", True, id="calcium-LL"),
        pytest.param(MAGNESIUM_MMOL, 1.6, "mmol/L", "HH", False, id="magnesium-HH"),
    ],
)
def test_a_critical_interpretation_on_an_electrolyte_is_a_severe_disturbance(
    code: str, value: float, unit: str, interpretation: str, cause: bool
) -> None:
    found = judged(code, value, unit, interpretation=frozenset({interpretation}))

    assert found["F-SEVERE-ELECTROLYTE"].present
    assert found["F-CRAMP-CAUSE"].present is cause  # a high magnesium causes no cramps


@pytest.mark.parametrize(
    ("interpretation", "coded", "expected", "flag"),
    [
        pytest.param({"POS"}, None, True, FLAG_POSITIVE, id="interpretation-POS"),
        pytest.param({"NEG"}, None, False, FLAG_NEGATIVE, id="interpretation-NEG"),
        pytest.param(set(), True, True, None, id="coded-Positive"),
        pytest.param(set(), False, False, None, id="coded-Negative"),
        pytest.param({"NEG"}, True, False, FLAG_NEGATIVE, id="interpretation-over-coded"),
    ],
)
def test_a_qualitative_d_dimer_is_decided_by_its_flag_or_coded_result(
    interpretation: set[str], coded: bool | None, expected: bool, flag: str | None
) -> None:
    (judgement,) = judged(
        D_DIMER_FEU, interpretation=frozenset(interpretation), coded=coded
    ).values()

    assert judgement.interpretable
    assert judgement.present is expected
    assert judgement.measurement is None
    assert TAG_CODED_RESULT in judgement.tags
    assert judgement.flag == flag


def test_a_result_with_no_value_and_nothing_coded_is_not_interpretable() -> None:
    (judgement,) = judged(D_DIMER_FEU).values()

    assert not judgement.interpretable
    assert not judgement.present
    assert TAG_NOT_INTERPRETABLE_BLOCKS in judgement.tags


def test_a_result_marked_not_done_records_nothing() -> None:
    mdef = CATALOG.measurement(cat.LOINC, D_DIMER_FEU)
    assert mdef is not None

    assert judge(mdef, LabResult(absent_reason=True), POLICY) == []


# --- reference ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "high", "low", "expected"),
    [
        pytest.param(
            D_DIMER_FEU, 400, "ng/mL", (Quantity(350, "ng/mL"),), (), True, id="dimer-over-range"
        ),
        pytest.param(
            D_DIMER_FEU, 600, "ng/mL", (Quantity(700, "ng/mL"),), (), False, id="dimer-in-range"
        ),
        pytest.param(
            D_DIMER_FEU, 0.4, "mg/L", (Quantity(0.35, None),), (), True, id="limit-in-value-unit"
        ),
        pytest.param(
            D_DIMER_FEU, 0.4, "mg/L", (Quantity(350, "ng/mL"),), (), True, id="limit-converted"
        ),
        pytest.param(TSH, 4.0, "mIU/L", (Quantity(3.5, "mIU/L"),), (), True, id="tsh-over-range"),
        pytest.param(TSH, 5.0, "mIU/L", (Quantity(6.0, "mIU/L"),), (), False, id="tsh-in-range"),
        pytest.param(
            CALCIUM, 2.15, "mmol/L", (), (Quantity(2.2, "mmol/L"),), True, id="calcium-below-range"
        ),
        pytest.param(
            D_DIMER_FEU, 600, "ng/mL", (Quantity(7, "furlong"),), (), True, id="bad-limit-ignored"
        ),
        pytest.param(
            TEMPERATURE, 37.5, "Cel", (Quantity(37.2, "Cel"),), (), False, id="vital-range-unused"
        ),
    ],
)
def test_the_reference_range_comes_before_the_default_cut_off(
    code: str,
    value: float,
    unit: str,
    high: tuple[Quantity, ...],
    low: tuple[Quantity, ...],
    expected: bool,
) -> None:
    assert present(code, value, unit, high=high, low=low) is expected


def test_potassium_below_its_range_is_a_cramp_cause_but_not_severe() -> None:
    found = judged(POTASSIUM, 3.6, "mmol/L", low=(Quantity(3.7, "mmol/L"),))

    assert found["F-CRAMP-CAUSE"].present
    assert not found["F-SEVERE-ELECTROLYTE"].present


def test_a_high_flag_wins_over_a_value_inside_the_range() -> None:
    assert present(
        D_DIMER_FEU, 300, "ng/mL", interpretation=frozenset({"H"}), high=(Quantity(500, "ng/mL"),)
    )


# --- CK as a multiple of the upper limit of normal ------------------------------------------


@pytest.mark.parametrize(
    ("value", "high", "policy", "multiple", "uln", "expected"),
    [
        pytest.param(950, (), POLICY, 4.75, 200.0, True, id="default-uln-200"),
        pytest.param(950, (Quantity(190, "U/L"),), POLICY, 5.0, 190.0, True, id="range-high"),
        pytest.param(150, (), POLICY, 0.75, 200.0, False, id="below-uln"),
        pytest.param(600, (), Policy(ck_uln_u_per_l=300), 2.0, 300.0, True, id="configured-uln"),
        pytest.param(400, (Quantity(0, "U/L"),), POLICY, 2.0, 200.0, True, id="zero-limit-unused"),
        pytest.param(8200, (Quantity(205, "IU/L"),), POLICY, 40.0, 205.0, True, id="40x"),
    ],
)
def test_ck_is_judged_as_a_multiple_of_the_upper_limit_of_normal(
    value: float,
    high: tuple[Quantity, ...],
    policy: Policy,
    multiple: float,
    uln: float,
    expected: bool,
) -> None:
    (judgement,) = judged(CK, value, "U/L", high=high, policy=policy).values()

    assert judgement.finding_id == "F-CK"
    assert judgement.present is expected
    assert judgement.measurement is not None
    assert judgement.measurement.value == pytest.approx(multiple)
    assert judgement.measurement.unit == "xULN"
    assert judgement.measurement.uln == pytest.approx(uln)


# --- D-dimer FEU and DDU --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        pytest.param(D_DIMER_FEU, "ng/mL{DDU}", id="feu-code-ddu-annotation"),
        pytest.param(D_DIMER_FEU, "mg/L DDU", id="feu-code-ddu-word"),
        pytest.param(D_DIMER_DDU, "mg/L{FEU}", id="ddu-code-feu-annotation"),
    ],
)
def test_a_d_dimer_annotation_that_contradicts_the_code_is_not_interpretable(
    code: str, unit: str
) -> None:
    (judgement,) = judged(code, 900, unit).values()

    assert not judgement.interpretable
    assert not judgement.present  # never fires a cut-off
    assert TAG_NOT_INTERPRETABLE_BLOCKS in judgement.tags
    assert judgement.measurement is not None
    assert judgement.measurement.value is None
    assert (judgement.measurement.sent_value, judgement.measurement.sent_unit) == (900, unit)


def test_a_contradicting_annotation_keeps_the_labs_own_high_flag() -> None:
    (judgement,) = judged(D_DIMER_FEU, 900, "ng/mL{DDU}", interpretation=frozenset({"H"})).values()

    assert not judgement.interpretable
    assert judgement.present  # the red flag the lab raised stays present


@pytest.mark.parametrize(
    ("code", "unit", "basis"),
    [
        pytest.param(D_DIMER_FEU, "ng/mL{FEU}", "FEU", id="feu-agrees"),
        pytest.param(D_DIMER_DDU, "ug/L{ddu}", "DDU", id="ddu-agrees"),
        pytest.param(D_DIMER_DDU, "ng/mL", "DDU", id="no-annotation"),
    ],
)
def test_a_matching_or_missing_annotation_keeps_the_codes_basis(
    code: str, unit: str, basis: str
) -> None:
    (judgement,) = judged(code, 900, unit).values()

    assert judgement.interpretable
    assert judgement.present
    assert judgement.measurement is not None
    assert judgement.measurement.basis == basis


def test_feu_and_ddu_are_never_converted_into_each_other() -> None:
    # 300 ng/mL: positive as DDU (>= 250), negative as FEU (< 500).
    assert present(D_DIMER_DDU, 300, "ng/mL")
    assert not present(D_DIMER_FEU, 300, "ng/mL")


@pytest.mark.parametrize(
    ("age", "cutoff", "adjusted"),
    [
        pytest.param(80, 800.0, True, id="80-years"),
        pytest.param(51, 510.0, True, id="51-years"),
        pytest.param(50, 500.0, False, id="50-years"),
        pytest.param(30, 500.0, False, id="30-years"),
        pytest.param(None, 500.0, False, id="age-unknown-as-adult"),
    ],
)
def test_the_age_adjusted_d_dimer_cut_off_applies_over_50(
    age: int | None, cutoff: float, adjusted: bool
) -> None:
    assert d_dimer_cutoff(age) == (cutoff, adjusted)


# --- ABI --------------------------------------------------------------------------------------


def abi_components(*parts: tuple[float | None, str | None, Side]) -> list[Judgement]:
    mdef = CATALOG.measurement(cat.LOINC, ABI)
    assert mdef is not None
    components = tuple((Quantity(value, unit), side) for value, unit, side in parts)
    return judge(mdef, LabResult(components=components), POLICY)


def test_abi_components_give_the_lowest_ratio_with_its_side() -> None:
    (judgement,) = abi_components((1.02, "{ratio}", Side.RIGHT), (0.62, None, Side.LEFT))

    assert judgement.finding_id == "F-ABI"
    assert judgement.present
    assert judgement.side is Side.LEFT
    assert judgement.measurement is not None
    assert judgement.measurement.value == pytest.approx(0.62)


def test_an_abi_component_that_is_not_a_ratio_is_skipped() -> None:
    (judgement,) = abi_components((0.45, "mm[Hg]", Side.LEFT), (0.85, "1", Side.RIGHT))

    assert judgement.side is Side.RIGHT
    assert judgement.measurement is not None
    assert judgement.measurement.value == pytest.approx(0.85)


def test_abi_components_with_no_usable_ratio_are_not_interpretable() -> None:
    (judgement,) = abi_components((110, "mm[Hg]", Side.LEFT), (None, None, Side.RIGHT))

    assert not judgement.interpretable
    assert TAG_NOT_INTERPRETABLE_BLOCKS not in judgement.tags  # an ABI does not block self-care


@pytest.mark.parametrize(
    "unit", [pytest.param(None, id="no-unit"), "1", "{ratio}", pytest.param("", id="empty")]
)
def test_an_abi_is_a_ratio_with_or_without_a_unit(unit: str | None) -> None:
    (judgement,) = judged(ABI, 0.88, unit).values()

    assert judgement.interpretable
    assert judgement.present  # always recorded, the rules compare the ratio
    assert judgement.measurement is not None
    assert judgement.measurement.value == pytest.approx(0.88)


def test_an_abi_in_pressure_units_is_not_interpretable() -> None:
    (judgement,) = judged(ABI, 120, "mm[Hg]").values()

    assert not judgement.interpretable


# --- values sent without a unit ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "finding_id", "expected", "shown"),
    [
        pytest.param(CK, 9000, "F-CK", True, 45.0, id="ck-every-unit-agrees"),
        pytest.param(POTASSIUM, 2.3, "F-SEVERE-ELECTROLYTE", True, 2.3, id="potassium-agrees"),
        pytest.param(D_DIMER_FEU, 100000, "F-D-DIMER", True, None, id="dimer-every-unit-over"),
        pytest.param(D_DIMER_FEU, 0.1, "F-D-DIMER", False, None, id="dimer-every-unit-under"),
        pytest.param(TEMPERATURE, 102, "F-FEVER", True, None, id="temperature-fever-either-way"),
    ],
)
def test_a_unitless_value_is_read_when_every_accepted_unit_agrees(
    code: str, value: float, finding_id: str, expected: bool, shown: float | None
) -> None:
    judgement = judged(code, value, None)[finding_id]

    assert judgement.interpretable
    assert judgement.present is expected
    if shown is None:  # decided, but the number's unit stays unknown: shown as sent
        assert judgement.measurement is not None
        assert judgement.measurement.value is None
        assert judgement.measurement.sent_value == value
    else:
        assert judgement.measurement is not None
        assert judgement.measurement.value == pytest.approx(shown)


@pytest.mark.parametrize(
    ("code", "value"),
    [
        pytest.param(D_DIMER_FEU, 0.6, id="dimer-0.6-ng-or-mg"),
        pytest.param(TEMPERATURE, 38.5, id="temperature-celsius-or-fahrenheit"),
    ],
)
def test_a_unitless_value_whose_units_disagree_is_not_interpretable(
    code: str, value: float
) -> None:
    (judgement,) = judged(code, value, None).values()

    assert not judgement.interpretable
    assert not judgement.present
    assert TAG_NOT_INTERPRETABLE_BLOCKS in judgement.tags


def test_a_unitless_calcium_at_the_mmol_cut_off_is_not_interpretable() -> None:
    """2.12 mg/dL is low; 2.12 mmol/L is §3's stated cut-off itself, not below it."""
    judgements = judged(CALCIUM, 2.12, None)

    assert judgements
    assert all(not j.interpretable for j in judgements.values())


def test_a_unitless_value_the_lab_flagged_is_decided_by_the_flag() -> None:
    (judgement,) = judged(D_DIMER_FEU, 0.6, None, interpretation=frozenset({"H"})).values()

    assert judgement.interpretable
    assert judgement.present


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        pytest.param(TEMPERATURE, "K", id="kelvin"),
        pytest.param(POTASSIUM, "mg/dL", id="potassium-mass"),
        pytest.param(CK, "ukat/L", id="ck-katal"),
    ],
)
def test_a_unit_the_service_cannot_convert_is_never_guessed(code: str, unit: str) -> None:
    for judgement in judged(code, 1.0, unit).values():
        assert not judgement.interpretable
        assert not judgement.present
        assert TAG_NOT_INTERPRETABLE_BLOCKS in judgement.tags


@pytest.mark.parametrize(
    ("analyte", "unit", "decimals"),
    [
        pytest.param(cat.ABI, "", 2, id="abi"),
        pytest.param(cat.D_DIMER, "mg/L", 2, id="dimer-mg/L"),
        pytest.param(cat.D_DIMER, "µg/mL", 2, id="dimer-ug/mL"),
        pytest.param(cat.D_DIMER, "ng/mL", 0, id="dimer-ng/mL"),
        pytest.param(cat.TEMPERATURE, "°C", 1, id="temperature"),
        pytest.param(cat.POTASSIUM, "mmol/L", 1, id="potassium"),
        pytest.param(cat.HEART_RATE, "/min", 0, id="heart-rate"),
    ],
)
def test_cards_show_the_decimals_of_section_7_2(analyte: str, unit: str, decimals: int) -> None:
    assert decimals_for(analyte, unit) == decimals
