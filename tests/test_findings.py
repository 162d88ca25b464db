"""The finding catalog as data (clinical-rules.md §3): invariants, index, prefetch codes, docs."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest

from cds.core import findings as cat
from cds.core.model import TAG_AT_ANY_SITE, TAG_MOTOR, TAG_POSTPARTUM, TAG_SUPPORTING
from cds.core.policy import Policy

TERMINOLOGY = Path(__file__).resolve().parents[1] / "docs" / "terminology.md"


def test_the_terminology_doc_and_the_catalog_name_the_same_findings() -> None:
    # Coded findings have rows in the findings table; measured ones (F-ABI, F-CK, ...) are
    # named in the measurements table. No finding id may be documented but missing, or back.
    documented = set(re.findall(r"\bF-[A-Z0-9]+(?:-[A-Z0-9]+)*\b", TERMINOLOGY.read_text()))

    assert documented == set(cat.FINDINGS)


CATALOG = cat.catalog_for(Policy())

# The finding ids of the §3 table (rule set 2026.2 added none).
SPEC_FINDING_IDS = frozenset({
    "F-CALF-PAIN", "F-LEG-SWELLING", "F-ANKLE-SWELLING", "F-CALF-SWELLING-3CM",
    "F-ENTIRE-LEG-SWOLLEN", "F-PITTING-EDEMA", "F-DEEP-VEIN-TENDERNESS", "F-COLLATERAL-VEINS",
    "F-ERYTHEMA", "F-WARMTH", "F-CYANOSIS", "F-ANTICOAGULATED", "F-SKIN-DISCOLOURATION", "F-FEVER",
    "F-MALAISE", "F-UNABLE-WEIGHT-BEAR", "F-PE-SYMPTOM", "F-ACTIVE-CANCER", "F-PREVIOUS-DVT",
    "F-PARESIS-OR-CAST", "F-BEDRIDDEN-OR-SURGERY", "F-ALTERNATIVE-DX-LIKELY", "F-PREGNANT",
    "F-D-DIMER", "F-DVT-DX", "F-SVT", "F-VARICOSE", "F-BLEEDING-VARICOSITY", "F-EVENING-PAIN",
    "F-CLAUDICATION", "F-CALF-ATROPHY", "F-TROPHIC-SKIN", "F-GANGRENE", "F-REST-PAIN", "F-ABI",
    "F-PAD-DX", "F-CLTI-DX", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB", "F-PULSELESS",
    "F-SENSORY-MOTOR-LOSS", "F-ALI-DX", "F-LOW-BACK-PAIN", "F-RADICULAR", "F-LUMBAR-DISC-DISEASE",
    "F-NEUROGENIC-CLAUDICATION", "F-CAUDA-EQUINA-DX", "F-BLADDER-BOWEL-FLAG", "F-COMPARTMENT",
    "F-CELLULITIS", "F-NECROTISING", "F-EXERTION", "F-CRAMP", "F-CRAMP-CAUSE",
    "F-SEVERE-ELECTROLYTE", "F-CK", "F-MYOSITIS-DX", "F-RHABDO", "F-FIBROMYALGIA",
    "F-ACHILLES-RUPTURE",
})  # fmt: skip


def finding_codes(finding_id: str) -> set[str]:
    return {code.code for code in cat.FINDINGS[finding_id].codes}


def test_every_finding_of_the_spec_catalog_is_defined() -> None:
    assert len(SPEC_FINDING_IDS) == 60
    assert set(cat.FINDINGS) == SPEC_FINDING_IDS


def test_the_shipped_catalog_breaks_no_invariant() -> None:
    assert cat.check_catalog() == []


def test_every_code_carries_a_known_confidence_mark() -> None:
    marks = {code.confidence for f in cat.FINDINGS.values() for code in f.codes}
    marks |= {m.confidence for m in cat.MEASUREMENT_LIST}

    assert marks <= cat.CONFIDENCE_MARKS


def test_a_duplicate_finding_id_is_rejected() -> None:
    calf = cat.FINDINGS["F-CALF-PAIN"]

    with pytest.raises(ValueError, match="duplicate finding id F-CALF-PAIN"):
        cat._build_findings([calf, calf])


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        pytest.param({"confidence": ""}, "confidence mark '' unknown", id="missing-mark"),
        pytest.param({"confidence": "maybe"}, "confidence mark 'maybe' unknown", id="unknown-mark"),
        pytest.param({"site": "arm"}, "site 'arm' unknown", id="unknown-site"),
        pytest.param({"display": ""}, "display missing", id="missing-display"),
        pytest.param({"window_class": "forever"}, "unknown window class", id="unknown-window"),
        pytest.param({"confidence": cat.LOCAL_MARK}, "only local codes", id="local-mark"),
    ],
)
def test_a_code_that_breaks_an_invariant_is_reported_with_its_finding(
    broken: dict[str, str], problem: str
) -> None:
    calf = cat.FINDINGS["F-CALF-PAIN"]
    bad_code = dataclasses.replace(calf.codes[0], **broken)
    bad = dataclasses.replace(calf, codes=(bad_code,))

    problems = cat.check_catalog({"F-CALF-PAIN": bad}, ())

    assert len(problems) == 1
    assert problems[0].startswith("F-CALF-PAIN 300954003: ")
    assert problem in problems[0]


def test_a_measurement_for_an_unknown_finding_is_reported() -> None:
    item = dataclasses.replace(cat.MEASUREMENT_LIST[0], finding_ids=("F-NOPE",))

    problems = cat.check_catalog(cat.FINDINGS, [item])

    assert problems == ["measurement 8310-5: unknown finding F-NOPE"]


def test_a_d_dimer_code_without_feu_or_ddu_is_reported() -> None:
    (feu,) = [m for m in cat.MEASUREMENT_LIST if m.code == "48065-7"]

    problems = cat.check_catalog(cat.FINDINGS, [dataclasses.replace(feu, dimer_basis=None)])

    assert problems == ["measurement 48065-7: D-dimer needs FEU or DDU"]


@pytest.mark.parametrize(
    ("finding_id", "codes"),
    [
        pytest.param("F-CALF-PAIN", {"300954003", "1264028004", "10601006", "68962001"}, id="calf"),
        pytest.param("F-ANKLE-SWELLING", {"267039000", "26237000"}, id="ankle"),
        pytest.param("F-CLTI-DX", {"233962007"}, id="clti"),
        pytest.param("F-ALI-DX", {"1230182004", "312378004", "90958004"}, id="ali"),
        pytest.param(
            "F-CAUDA-EQUINA-DX", {"192970008", "12454008", "saddle-anaesthesia"}, id="cauda"
        ),
        pytest.param(
            "F-COMPARTMENT",
            {"111245009", "pain-out-of-proportion", "pain-on-passive-stretch"},
            id="compartment",
        ),
        pytest.param(
            "F-CRAMP-CAUSE",
            {"40930008", "83664006", "34095006", "43339004", "190855004", "5291005"},
            id="cramp-cause-2026.2",
        ),
    ],
)
def test_finding_codes_are_those_of_the_spec_table(finding_id: str, codes: set[str]) -> None:
    assert finding_codes(finding_id) == codes


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("300954003", {"F-CALF-PAIN"}, id="calf-pain"),
        pytest.param("771545003", {"F-COLD-LIMB", "F-PAINFUL-COLD-LIMB"}, id="painful-cold-both"),
        pytest.param("102568007", {"F-PARESIS-OR-CAST", "F-SENSORY-MOTOR-LOSS"}, id="paresis-both"),
        pytest.param("3415004", {"F-CYANOSIS", "F-PE-SYMPTOM"}, id="cyanosis-site-decides"),
        pytest.param("128053003", {"F-DVT-DX"}, id="dvt-read-as-dx-then-aged"),
        pytest.param("161508001", {"F-PREVIOUS-DVT"}, id="history-of-dvt"),
        pytest.param("77386006", {"F-PREGNANT"}, id="pregnant"),
        pytest.param("16973004", set(), id="limping-never-claudication"),
        pytest.param("306206005", set(), id="generic-referral-is-no-finding"),
    ],
)
def test_lookup_returns_every_finding_a_code_counts_for(code: str, expected: set[str]) -> None:
    entries = CATALOG.lookup(cat.SNOMED, code)

    assert {e.finding.finding_id for e in entries} == expected


@pytest.mark.parametrize(
    "system",
    [
        pytest.param("urn:oid:2.16.840.1.113883.6.96", id="oid"),
        pytest.param("https://snomed.info/sct", id="https"),
        pytest.param("http://snomed.info/sct/", id="trailing-slash"),
    ],
)
def test_snomed_is_recognised_in_the_spellings_ehrs_send(system: str) -> None:
    assert [e.finding.finding_id for e in CATALOG.lookup(system, "300954003")] == ["F-CALF-PAIN"]


@pytest.mark.parametrize(
    "system",
    [
        pytest.param("http://calf-cds.example/fhir/CodeSystem/finding", id="default-base"),
        pytest.param("https://ehr.example.org/cds/CodeSystem/finding", id="other-base"),
    ],
)
def test_local_codes_match_any_finding_codesystem_url(system: str) -> None:
    entries = CATALOG.lookup(system, "entire-leg-swollen")

    assert [e.finding.finding_id for e in entries] == ["F-ENTIRE-LEG-SWOLLEN"]


def test_local_code_under_another_system_does_not_match() -> None:
    assert CATALOG.lookup("http://example.org/other", "entire-leg-swollen") == ()
    assert not CATALOG.knows("http://example.org/other", "entire-leg-swollen")


def test_motor_codes_carry_the_motor_tag() -> None:
    motor = {c.code for c in cat.FINDINGS["F-SENSORY-MOTOR-LOSS"].codes if TAG_MOTOR in c.tags}

    assert motor == {"102568007", "713514005"}


def test_muscle_pain_without_calf_site_is_supporting_at_any_site() -> None:
    (entry,) = CATALOG.lookup(cat.SNOMED, "68962001")

    assert entry.code.site == cat.SITE_CALF
    assert entry.code.off_site_tags == {TAG_SUPPORTING, TAG_AT_ANY_SITE}


def test_tenderness_of_the_calf_is_marked_not_along_the_deep_veins() -> None:
    (entry,) = CATALOG.lookup(cat.SNOMED, "247348008")

    # §3 (2026.2): counts +1 provisionally, and the card says so.
    assert entry.finding.finding_id == "F-DEEP-VEIN-TENDERNESS"
    assert entry.code.site == cat.SITE_CALF
    assert "not-deep-vein" in entry.code.tags


def test_bilateral_swelling_is_bilateral_by_code() -> None:
    (entry,) = CATALOG.lookup(cat.SNOMED, "762898005")

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
    measurement = CATALOG.measurement(cat.LOINC, loinc)

    assert measurement is not None
    assert measurement.analyte == cat.D_DIMER
    assert measurement.dimer_basis == basis


@pytest.mark.parametrize(
    ("code", "analyte", "window_class"),
    [
        pytest.param("8310-5", cat.TEMPERATURE, cat.WINDOW_LAB, id="temperature"),
        pytest.param("8867-4", cat.HEART_RATE, cat.WINDOW_LAB, id="heart-rate"),
        pytest.param("2157-6", cat.CK, cat.WINDOW_LAB, id="ck"),
        pytest.param("3016-3", cat.TSH, cat.WINDOW_TSH, id="tsh-90-days"),
        pytest.param("77194-9", cat.ABI, cat.WINDOW_ABI, id="abi-12-months"),
    ],
)
def test_measurement_codes_name_their_analyte_and_window(
    code: str, analyte: str, window_class: str
) -> None:
    measurement = CATALOG.measurement(cat.LOINC, code)

    assert measurement is not None
    assert (measurement.analyte, measurement.window_class) == (analyte, window_class)


@pytest.mark.parametrize(
    ("finding_id", "window_class"),
    [
        pytest.param("F-CALF-PAIN", cat.WINDOW_SYMPTOM, id="symptom"),
        pytest.param("F-ACTIVE-CANCER", cat.WINDOW_HISTORY, id="cancer-history"),
        pytest.param("F-PREVIOUS-DVT", cat.WINDOW_HISTORY, id="previous-dvt-history"),
        pytest.param("F-PAD-DX", cat.WINDOW_CHRONIC, id="pad-chronic"),
        pytest.param("F-VARICOSE", cat.WINDOW_CHRONIC, id="varicose-chronic"),
        pytest.param("F-FIBROMYALGIA", cat.WINDOW_CHRONIC, id="fibromyalgia-chronic"),
        pytest.param("F-PREGNANT", cat.WINDOW_PREGNANCY, id="pregnancy"),
        pytest.param("F-BLADDER-BOWEL-FLAG", cat.WINDOW_14_DAYS, id="bladder-bowel-14-days"),
        pytest.param("F-D-DIMER", cat.WINDOW_LAB, id="d-dimer-lab"),
    ],
)
def test_each_finding_has_the_window_class_of_section_2(finding_id: str, window_class: str) -> None:
    assert cat.FINDINGS[finding_id].window_class == window_class


@pytest.mark.parametrize("code", ["40930008", "83664006"])
def test_hypothyroidism_codes_count_as_a_cramp_cause_with_the_chronic_window(code: str) -> None:
    (entry,) = CATALOG.lookup(cat.SNOMED, code)

    assert entry.finding.finding_id == "F-CRAMP-CAUSE"
    assert entry.code.window_class == cat.WINDOW_CHRONIC


def test_extra_cancer_codes_accept_bare_snomed_and_system_code_pairs() -> None:
    policy = Policy(extra_cancer_codes=("254637007", "http://hl7.org/fhir/sid/icd-10|C34.1"))

    catalog = cat.catalog_for(policy)

    assert set(catalog.extra) == {
        (cat.SNOMED, "254637007"),
        ("http://hl7.org/fhir/sid/icd-10", "C34.1"),
    }
    for system, code in catalog.extra:
        (entry,) = catalog.lookup(system, code)
        assert entry.finding.finding_id == "F-ACTIVE-CANCER"
    assert CATALOG.lookup(cat.SNOMED, "254637007") == ()  # only where configured


def test_configured_thyroid_codes_count_as_a_cramp_cause_with_the_chronic_window() -> None:
    catalog = cat.catalog_for(Policy(extra_thyroid_codes=("http://hl7.org/fhir/sid/icd-10|E03.9",)))

    (entry,) = catalog.lookup("http://hl7.org/fhir/sid/icd-10", "E03.9")

    assert entry.finding.finding_id == "F-CRAMP-CAUSE"
    assert entry.code.window_class == cat.WINDOW_CHRONIC


def test_configured_postpartum_codes_are_pregnancy_with_the_postpartum_window() -> None:
    policy = Policy(postpartum_codes=("86569001", "http://hl7.org/fhir/sid/icd-10|O90.9"))
    catalog = cat.catalog_for(policy)

    for system, code in ((cat.SNOMED, "86569001"), ("http://hl7.org/fhir/sid/icd-10", "O90.9")):
        (entry,) = catalog.lookup(system, code)
        assert entry.finding.finding_id == "F-PREGNANT"
        assert entry.code.window_class == cat.WINDOW_POSTPARTUM
        assert TAG_POSTPARTUM in entry.code.tags
    # §2 (2026.2): 6 weeks from onset, as a Condition or an Observation.
    assert cat.windows(policy)[(cat.WINDOW_POSTPARTUM, True)] == timedelta(days=42)
    assert cat.windows(policy)[(cat.WINDOW_POSTPARTUM, False)] == timedelta(days=42)


def test_no_postpartum_code_is_configured_by_default() -> None:
    assert CATALOG.extra == {}
    assert all(
        code.window_class != cat.WINDOW_POSTPARTUM for code in cat.FINDINGS["F-PREGNANT"].codes
    )


def test_observation_codes_cover_findings_generic_measurement_local_and_extra_codes() -> None:
    policy = Policy(fhir_base="https://cds.example.org/fhir", extra_cancer_codes=("254637007",))

    codes = cat.observation_codes(policy, ("http://example.org/lab|XYZ",))

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
    assert not any(c.startswith(("local:", "http://calf-cds.example/")) for c in codes)


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
        pytest.param(cat.WINDOW_POSTPARTUM, True, 42 * 24.0, id="postpartum-6-weeks"),
        pytest.param(cat.WINDOW_HISTORY, False, None, id="history-no-limit"),
        pytest.param(cat.WINDOW_14_DAYS, False, 14 * 24.0, id="fixed-14-days"),
    ],
)
def test_window_classes_follow_the_policy(
    window_class: str, condition: bool, expected: float | None
) -> None:
    window = cat.windows(Policy())[(window_class, condition)]

    assert (None if window is None else window.total_seconds() / 3600) == expected


def test_configured_windows_change_the_symptom_and_lab_windows_only() -> None:
    policy = Policy(window_symptom_days=7, window_lab_hours=24)

    table = cat.windows(policy)
    assert table[(cat.WINDOW_SYMPTOM, False)] == timedelta(days=7)
    assert table[(cat.WINDOW_LAB, False)] == timedelta(hours=24)
    assert table[(cat.WINDOW_14_DAYS, False)] == timedelta(days=14)


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
