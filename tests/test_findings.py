"""The finding catalog as data (clinical-rules.md §3): invariants, index, prefetch codes, docs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from cds import findings as cat
from cds.config import Settings
from cds.model import TAG_AT_ANY_SITE, TAG_MOTOR, TAG_SUPPORTING

TERMINOLOGY = Path(__file__).resolve().parents[1] / "docs" / "terminology.md"


def test_the_terminology_doc_and_the_catalog_name_the_same_findings() -> None:
    # Coded findings have rows in the findings table; measured ones (F-ABI, F-CK, ...) are
    # named in the measurements table. No finding id may be documented but missing, or back.
    documented = set(re.findall(r"\bF-[A-Z0-9]+(?:-[A-Z0-9]+)*\b", TERMINOLOGY.read_text()))

    assert documented == set(cat.FINDINGS)


def test_every_code_carries_a_known_confidence_mark() -> None:
    marks = {code.confidence for f in cat.FINDINGS.values() for code in f.codes}
    marks |= {m.confidence for m in cat.MEASUREMENT_LIST}

    assert marks <= cat.CONFIDENCE_MARKS


def test_catalog_invariants_hold_at_import() -> None:
    cat.check_catalog()


def test_a_duplicate_finding_id_is_rejected() -> None:
    calf = cat.FINDINGS["F-CALF-PAIN"]

    with pytest.raises(ValueError, match="duplicate finding id"):
        cat._build_findings([calf, calf])


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"confidence": ""}, id="missing-mark"),
        pytest.param({"confidence": "maybe"}, id="unknown-mark"),
        pytest.param({"site": "arm"}, id="unknown-site"),
        pytest.param({"display": ""}, id="missing-display"),
    ],
)
def test_a_code_that_breaks_an_invariant_is_rejected(broken: dict[str, str]) -> None:
    calf = cat.FINDINGS["F-CALF-PAIN"]
    bad_code = dataclasses.replace(calf.codes[0], **broken)
    bad = dataclasses.replace(calf, codes=(bad_code,))

    with pytest.raises(ValueError, match="F-CALF-PAIN"):
        cat.check_catalog({"F-CALF-PAIN": bad}, ())


def test_a_measurement_for_an_unknown_finding_is_rejected() -> None:
    item = dataclasses.replace(cat.MEASUREMENT_LIST[0], finding_ids=("F-NOPE",))

    with pytest.raises(ValueError, match="unknown finding"):
        cat.check_catalog(cat.FINDINGS, [item])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("300954003", {"F-CALF-PAIN"}, id="calf-pain"),
        pytest.param("771545003", {"F-COLD-LIMB", "F-PAINFUL-COLD-LIMB"}, id="painful-cold-both"),
        pytest.param("102568007", {"F-PARESIS-OR-CAST", "F-SENSORY-MOTOR-LOSS"}, id="paresis-both"),
        pytest.param("3415004", {"F-CYANOSIS", "F-PE-SYMPTOM"}, id="cyanosis-site-decides"),
        pytest.param("128053003", {"F-DVT-DX"}, id="dvt-read-as-dx-then-aged"),
        pytest.param("161508001", {"F-PREVIOUS-DVT"}, id="history-of-dvt"),
        pytest.param("16973004", set(), id="limping-never-claudication"),
    ],
)
def test_lookup_returns_every_finding_a_code_counts_for(code: str, expected: set[str]) -> None:
    entries = cat.lookup(cat.SNOMED, code)

    assert {e.finding.finding_id for e in entries} == expected


@pytest.mark.parametrize(
    "system",
    [
        pytest.param("http://calf-cds.example/fhir/CodeSystem/finding", id="default-base"),
        pytest.param("https://ehr.example.org/cds/CodeSystem/finding", id="other-base"),
    ],
)
def test_local_codes_match_any_finding_codesystem_url(system: str) -> None:
    entries = cat.lookup(system, "entire-leg-swollen")

    assert [e.finding.finding_id for e in entries] == ["F-ENTIRE-LEG-SWOLLEN"]


def test_local_code_under_another_system_does_not_match() -> None:
    assert cat.lookup("http://example.org/other", "entire-leg-swollen") == ()


def test_motor_codes_carry_the_motor_tag() -> None:
    motor = {c.code for c in cat.FINDINGS["F-SENSORY-MOTOR-LOSS"].codes if TAG_MOTOR in c.tags}

    assert motor == {"102568007", "713514005"}


def test_muscle_pain_without_calf_site_is_supporting_at_any_site() -> None:
    (entry,) = cat.lookup(cat.SNOMED, "68962001")

    assert entry.code.site == cat.SITE_CALF
    assert entry.code.off_site_tags == {TAG_SUPPORTING, TAG_AT_ANY_SITE}


def test_bilateral_swelling_is_bilateral_by_code() -> None:
    (entry,) = cat.lookup(cat.SNOMED, "762898005")

    assert entry.code.bilateral


@pytest.mark.parametrize(
    ("loinc", "basis"),
    [
        pytest.param("48065-7", "FEU", id="FEU"),
        pytest.param("48066-5", "DDU", id="DDU"),
        pytest.param("48058-2", "DDU", id="DDU-immunoassay"),
    ],
)
def test_d_dimer_basis_comes_from_the_loinc_code(loinc: str, basis: str) -> None:
    measurement = cat.measurement_for(cat.LOINC, loinc)

    assert measurement is not None
    assert measurement.dimer_basis == basis


def test_extra_cancer_codes_accept_bare_snomed_and_system_code_pairs() -> None:
    settings = Settings(extra_cancer_codes=("254637007", "http://hl7.org/fhir/sid/icd-10|C34.1"))

    extra = cat.extra_cancer_entries(settings)

    assert set(extra) == {(cat.SNOMED, "254637007"), ("http://hl7.org/fhir/sid/icd-10", "C34.1")}
    assert cat.lookup(cat.SNOMED, "254637007", extra)[0].finding.finding_id == "F-ACTIVE-CANCER"


def test_prefetch_codes_cover_findings_generic_measurement_local_and_extra_codes() -> None:
    settings = Settings(
        fhir_base="https://cds.example.org/fhir",
        extra_observation_codes=("http://example.org/lab|XYZ",),
        extra_cancer_codes=("254637007",),
    )

    codes = cat.observation_prefetch_codes(settings)

    for expected in (
        "http://snomed.info/sct|300954003",
        "http://loinc.org|75325-1",
        "http://snomed.info/sct|418799008",
        "http://loinc.org|82810-3",
        "http://loinc.org|48065-7",
        "http://loinc.org|8867-4",
        "https://cds.example.org/fhir/CodeSystem/finding|calf-circumference-difference",
        "https://cds.example.org/fhir/CodeSystem/finding|saddle-anaesthesia",
        "http://snomed.info/sct|254637007",
        "http://example.org/lab|XYZ",
    ):
        assert expected in codes
    assert len(codes) == len(set(codes))


def test_local_finding_codes_are_unique_and_include_the_circumference_code() -> None:
    codes = [c.code for c in cat.local_finding_codes()]

    assert len(codes) == len(set(codes))
    assert {"saddle-anaesthesia", "calf-circumference-difference", "on-anticoagulant"} <= set(codes)
    assert all(c.display for c in cat.local_finding_codes())


@pytest.mark.parametrize(
    ("window_class", "condition", "expected"),
    [
        pytest.param(cat.WINDOW_SYMPTOM, False, 14 * 24.0, id="symptom-14-days"),
        pytest.param(cat.WINDOW_LAB, False, 72.0, id="lab-72-hours"),
        pytest.param(cat.WINDOW_TSH, False, 90 * 24.0, id="tsh-90-days"),
        pytest.param(cat.WINDOW_ABI, False, 365 * 24.0, id="abi-12-months"),
        pytest.param(cat.WINDOW_CHRONIC, False, 365 * 24.0, id="chronic-observation"),
        pytest.param(cat.WINDOW_CHRONIC, True, None, id="chronic-condition-any-date"),
        pytest.param(cat.WINDOW_PREGNANCY, False, 274 * 24.0, id="pregnancy-observation"),
        pytest.param(cat.WINDOW_PREGNANCY, True, None, id="pregnancy-condition"),
        pytest.param(cat.WINDOW_HISTORY, False, None, id="history-no-limit"),
        pytest.param(cat.WINDOW_14_DAYS, False, 14 * 24.0, id="fixed-14-days"),
    ],
)
def test_window_classes_follow_the_settings(
    window_class: str, condition: bool, expected: float | None
) -> None:
    window = cat.window_for(window_class, Settings(), condition=condition)

    assert (None if window is None else window.total_seconds() / 3600) == expected


def test_terminology_doc_lists_every_catalog_code_with_its_mark() -> None:
    text = TERMINOLOGY.read_text()
    missing = []
    for _system, code, _display, mark in cat.all_catalog_codes():
        if not re.search(rf"\| `{re.escape(code)}` \|[^\n]*\| {re.escape(mark)} \|", text):
            missing.append(code)

    assert missing == []


def test_terminology_doc_flags_every_unverified_catalog_code() -> None:
    unverified_section = TERMINOLOGY.read_text().split("## Unverified codes", 1)[1]
    unverified = [code for _s, code, _d, mark in cat.all_catalog_codes() if mark == cat.U]

    assert unverified
    assert [c for c in unverified if f"`{c}`" not in unverified_section] == []
