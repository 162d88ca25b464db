"""UCUM conversion (clinical-rules.md §2 "Quantities")."""

from __future__ import annotations

import pytest

from cds.core import units
from cds.core.findings import (
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
)


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "target", "expected"),
    [
        pytest.param(TEMPERATURE, 38.2, "Cel", "Cel", 38.2, id="Cel"),
        pytest.param(TEMPERATURE, 38.2, "°C", "Cel", 38.2, id="degree-sign-C"),
        pytest.param(TEMPERATURE, 38.2, "C", "Cel", 38.2, id="C"),
        pytest.param(TEMPERATURE, 38.2, "degC", "Cel", 38.2, id="degC"),
        pytest.param(TEMPERATURE, 100.4, "[degF]", "Cel", 38.0, id="ucum-degF"),
        pytest.param(TEMPERATURE, 212, "°F", "Cel", 100.0, id="degree-sign-F"),
        pytest.param(TEMPERATURE, 98.6, "degF", "Cel", 37.0, id="degF"),
        pytest.param(TEMPERATURE, 38.0, "Cel", "[degF]", 100.4, id="Cel-to-degF"),
        pytest.param(MAGNESIUM, 1.7, "mg/dL", "mmol/L", 0.69945, id="Mg-mg/dL-to-mmol/L"),
        pytest.param(MAGNESIUM, 0.7, "mmol/L", "mg/dL", 1.70135, id="Mg-mmol/L-to-mg/dL"),
        pytest.param(CALCIUM, 2.12, "mmol/L", "mg/dL", 8.49654, id="Ca-mmol/L-to-mg/dL"),
        pytest.param(CALCIUM, 8.5, "mg/dL", "mmol/L", 2.12086, id="Ca-mg/dL-to-mmol/L"),
        pytest.param(POTASSIUM, 3.1, "mmol/L", "mmol/L", 3.1, id="K-mmol/L"),
        pytest.param(POTASSIUM, 3.1, "meq/L", "mmol/L", 3.1, id="K-meq/L"),
        pytest.param(POTASSIUM, 3.1, "mEq/L", "mmol/L", 3.1, id="K-mEq/L"),
        pytest.param(CK, 950, "U/L", "U/L", 950, id="CK-U/L"),
        pytest.param(CK, 950, "IU/L", "U/L", 950, id="CK-IU/L"),
        pytest.param(CK, 950, "[IU]/L", "U/L", 950, id="CK-[IU]/L"),
        pytest.param(ABI, 0.8, None, "1", 0.8, id="ABI-no-unit"),
        pytest.param(ABI, 0.8, "1", "1", 0.8, id="ABI-1"),
        pytest.param(ABI, 0.8, "{ratio}", "1", 0.8, id="ABI-ratio-annotation"),
        pytest.param(D_DIMER, 620, "ng/mL", "ng/mL", 620, id="dimer-ng/mL"),
        pytest.param(D_DIMER, 0.62, "ug/mL", "ng/mL", 620, id="dimer-ug/mL"),
        pytest.param(D_DIMER, 0.62, "µg/mL", "ng/mL", 620, id="dimer-micro-sign"),
        pytest.param(D_DIMER, 0.62, "mg/L", "ng/mL", 620, id="dimer-mg/L"),
        pytest.param(D_DIMER, 620, "ug/L", "ng/mL", 620, id="dimer-ug/L"),
        pytest.param(D_DIMER, 620, "ng/mL{FEU}", "ng/mL", 620, id="dimer-annotated-FEU"),
        pytest.param(D_DIMER, 0.62, "mg/L{FEU}", "ng/mL", 620, id="dimer-mg/L-FEU"),
        pytest.param(D_DIMER, 310, "ng/mL{DDU}", "ng/mL", 310, id="dimer-annotated-DDU"),
        pytest.param(SPO2, 91, "%", "%", 91, id="SpO2"),
        pytest.param(HEART_RATE, 110, "/min", "/min", 110, id="HR-per-min"),
        pytest.param(HEART_RATE, 110, "{beats}/min", "/min", 110, id="HR-beats-annotation"),
        pytest.param(TSH, 6.1, "m[IU]/L", "mIU/L", 6.1, id="TSH-m[IU]/L"),
        pytest.param(TSH, 6.1, "mIU/L", "mIU/L", 6.1, id="TSH-mIU/L"),
        pytest.param(TSH, 6.1, "u[IU]/mL", "mIU/L", 6.1, id="TSH-u[IU]/mL"),
        pytest.param(TSH, 6.1, "uIU/mL", "mIU/L", 6.1, id="TSH-uIU/mL"),
        pytest.param(CALF_CIRCUMFERENCE, 3.5, "cm", "cm", 3.5, id="cm"),
        pytest.param(CALF_CIRCUMFERENCE, 35, "mm", "cm", 3.5, id="mm"),
        pytest.param(CALF_CIRCUMFERENCE, 1.5, "[in_i]", "cm", 3.81, id="inch"),
    ],
)
def test_accepted_spelling_converts_to_the_canonical_unit(
    analyte: str, value: float, unit: str | None, target: str, expected: float
) -> None:
    result = units.convert(analyte, value, unit, target)

    assert result == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [
        pytest.param(TEMPERATURE, "K", id="kelvin-temperature"),
        pytest.param(TEMPERATURE, None, id="temperature-without-unit"),
        pytest.param(D_DIMER, "ng/dL", id="dimer-ng/dL"),
        pytest.param(D_DIMER, "mg/dL", id="dimer-mg/dL"),
        pytest.param(POTASSIUM, "mg/dL", id="potassium-mass"),
        pytest.param(CK, "ukat/L", id="ck-katal"),
        pytest.param(MAGNESIUM, "mEq/L", id="magnesium-equivalents-not-guessed"),
        pytest.param(ABI, "mm[Hg]", id="abi-pressure"),
        pytest.param(SPO2, "{fraction}", id="spo2-fraction"),
        pytest.param(CALF_CIRCUMFERENCE, "furlong", id="nonsense"),
    ],
)
def test_unknown_unit_is_not_converted(analyte: str, unit: str | None) -> None:
    assert units.convert(analyte, 1.0, unit, _target(analyte)) is None


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        pytest.param("ng/mL{FEU}", "FEU", id="FEU"),
        pytest.param("mg/L{ddu}", "DDU", id="lower-case-DDU"),
        pytest.param("ng/mL", None, id="none"),
        pytest.param("ng/mL{D-dimer}", None, id="other-annotation"),
        pytest.param(None, None, id="no-unit"),
        pytest.param("mg/L FEU", "FEU", id="basis-word-after-a-space"),
        pytest.param("ug/mL (DDU)", "DDU", id="basis-word-in-brackets"),
    ],
)
def test_dimer_annotation_is_read_from_the_unit(unit: str | None, expected: str | None) -> None:
    assert units.dimer_annotation(unit) == expected


@pytest.mark.parametrize(
    ("unit", "shown"),
    [
        pytest.param("Cel", "°C", id="Cel"),
        pytest.param("degC", "°C", id="degC"),
        pytest.param("[degF]", "°F", id="degF"),
        pytest.param("ug/mL", "µg/mL", id="micrograms"),
        pytest.param("µg/L", "µg/L", id="micro-sign"),
        pytest.param("mg/L{FEU}", "mg/L", id="annotation-dropped"),
        pytest.param("meq/L", "mmol/L", id="potassium-equivalents"),
        pytest.param("[IU]/L", "U/L", id="ck-international-units"),
        pytest.param("u[IU]/mL", "mIU/L", id="tsh-same-number"),
        pytest.param("{beats}/min", "/min", id="heart-rate-annotation"),
        pytest.param("{ratio}", "", id="abi-annotation-only"),
        pytest.param("1", "", id="abi-one"),
        pytest.param(None, "", id="no-unit"),
        pytest.param("furlong", None, id="unknown"),
    ],
)
def test_display_unit_is_the_unit_a_card_shows(unit: str | None, shown: str | None) -> None:
    assert units.display_unit(unit) == shown


@pytest.mark.parametrize(
    ("analyte", "unit", "known"),
    [
        pytest.param(ABI, None, True, id="abi-without-unit"),
        pytest.param(TEMPERATURE, None, False, id="temperature-without-unit"),
        pytest.param(TEMPERATURE, "°F", True, id="fahrenheit"),
        pytest.param(CK, "IU/L", True, id="ck-iu"),
        pytest.param(CK, "ukat/L", False, id="ck-katal"),
        pytest.param(D_DIMER, "mg/L FEU", True, id="dimer-basis-word"),
    ],
)
def test_known_units_are_those_convert_accepts(analyte: str, unit: str | None, known: bool) -> None:
    assert units.is_known_unit(analyte, unit) is known
    assert (units.convert(analyte, 1.0, unit, _target(analyte)) is not None) is known


def test_candidate_units_list_every_family_for_a_unitless_value() -> None:
    assert set(units.candidate_units(TEMPERATURE)) == {"Cel", "[degF]"}
    assert "mg/l" in units.candidate_units(D_DIMER)


def test_an_unknown_target_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no canonical unit"):
        units.convert(CK, 1.0, "U/L", "mmol/L")
    with pytest.raises(ValueError, match="no canonical unit"):
        units.convert(TEMPERATURE, 38.0, "Cel", "K")


def test_an_unknown_analyte_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown analyte 'glucose'"):
        units.convert("glucose", 5.0, "mmol/L", "mmol/L")


def _target(analyte: str) -> str:
    return {
        TEMPERATURE: "Cel",
        D_DIMER: "ng/mL",
        POTASSIUM: "mmol/L",
        CK: "U/L",
        MAGNESIUM: "mmol/L",
        ABI: "1",
        SPO2: "%",
        CALF_CIRCUMFERENCE: "cm",
    }[analyte]
