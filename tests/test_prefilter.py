"""No loss of safety for speed (issue 8): the raw-JSON pre-filter and the fast validation path
of cds.fhir_input never drop a resource a rule could use.

Each test hides one red flag among hundreds of unrelated Synthea-like resources (bench/generate.py)
in one of the positions §2 allows, and runs the request through the same code path as the HTTP
view (schemas + service.run_hook); the red-flag card must fire. A variant adds malformed
neighbours, which must be skipped and counted without hiding the red flag.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fhir_builders import LOINC, SNOMED

from cds import findings as cat
from cds.config import Settings
from cds.fhir_input import _normalise_dates, _plainly_unrelated, _Reader, extract, fast_valid
from cds.registry import DEFAULT_SERVICE_ID, SERVICES
from cds.schemas import load_hook_request
from cds.service import Deps, run_hook

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import generate  # noqa: E402

CAUDA_EQUINA = "12454008"  # F-CAUDA-EQUINA-DX -> R-CAUDA-EQUINA (emergency)
SETTINGS = Settings.load({"evaluation_time": generate.NOW.isoformat()}, environ={})
PATIENT_REF = "Patient/prefilter"
WHEN = "2026-11-24T09:30:00+00:00"


def _coding(system: str, code: str, display: str = "") -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _observation(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "red-flag",
        "meta": {"tag": [{"system": "https://smarthealthit.org/tags", "code": "synthea-5-2019"}]},
        "status": "final",
        "category": [{"coding": [_coding(generate.CATEGORY, "survey")]}],
        "subject": {"reference": PATIENT_REF},
        "effectiveDateTime": WHEN,
        "issued": "2026-11-24T09:30:00.123+00:00",
        **fields,
    }


def _generic(system: str, code: str, display: str) -> dict[str, Any]:
    return _observation(
        code={"coding": [_coding(system, code, display)], "text": display},
        valueCodeableConcept={
            "coding": [_coding(SNOMED, CAUDA_EQUINA, "Cauda equina syndrome")],
            "text": "Cauda equina syndrome",
        },
    )


def _abi_components() -> dict[str, Any]:
    def component(side: str, word: str, ratio: float) -> dict[str, Any]:
        return {
            "code": {
                "coding": [_coding(LOINC, "77194-9", "ABI"), _coding(SNOMED, side, word)],
                "text": f"{word} ankle-brachial index",
            },
            "valueQuantity": {"value": ratio, "unit": "{ratio}"},
        }

    return _observation(
        code={"coding": [_coding(LOINC, "77194-9", "Ankle-brachial index")]},
        component=[component("24028007", "Right", 1.02), component("7771000", "Left", 0.35)],
    )


RED_FLAGS: dict[str, tuple[dict[str, Any], str]] = {
    "Observation.code": (
        _observation(code={"coding": [_coding(SNOMED, CAUDA_EQUINA, "Cauda equina syndrome")]}),
        "R-CAUDA-EQUINA",
    ),
    "valueCodeableConcept of LOINC 75325-1 Symptom": (
        _generic(LOINC, "75325-1", "Symptom"),
        "R-CAUDA-EQUINA",
    ),
    "valueCodeableConcept of SNOMED 418799008 Finding reported by subject": (
        _generic(SNOMED, "418799008", "Finding reported by subject or history provider"),
        "R-CAUDA-EQUINA",
    ),
    "valueCodeableConcept of LOINC 82810-3 Pregnancy status": (
        _generic(LOINC, "82810-3", "Pregnancy status"),
        "R-CAUDA-EQUINA",
    ),
    "ABI right/left components": (_abi_components(), "R-CLTI"),
    "Condition.code": (
        {
            "resourceType": "Condition",
            "id": "red-flag",
            "clinicalStatus": {"coding": [_coding(generate.CLINICAL, "active")]},
            "verificationStatus": {"coding": [_coding(generate.VERIFICATION, "confirmed")]},
            "code": {"coding": [_coding(SNOMED, CAUDA_EQUINA, "Cauda equina syndrome")]},
            "subject": {"reference": PATIENT_REF},
            "onsetDateTime": WHEN,
            "recordedDate": WHEN,
        },
        "R-CAUDA-EQUINA",
    ),
}
MALFORMED: list[object] = [
    "not a resource",
    {"resourceType": "Observation", "status": "final", "code": "not a CodeableConcept"},
    {"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": 7}]}},
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [_coding(SNOMED, CAUDA_EQUINA)]},
        "effectiveDateTime": "yesterday",
    },
    {"resourceType": "Condition", "code": {"coding": [_coding(SNOMED, CAUDA_EQUINA)]}},
]


def _request(red_flag: dict[str, Any], *, extra: list[object] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    observations = generate.observations(300, relevant=0, seed=81, patient_ref=PATIENT_REF)
    conditions = generate.conditions(60, catalog=0, seed=81, patient_ref=PATIENT_REF)
    resources: list[object] = [*observations, *conditions]
    resources.insert(137, red_flag)  # in the middle of the crowd
    for offset, item in enumerate(extra):
        resources.insert(40 + 50 * offset, item)
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/bench", "patientId": "prefilter"},
        "prefetch": {
            "patient": generate.patient(generate.random.Random(81), "prefilter"),
            "observations": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": item} for item in resources],
            },
            "conditions": None,
        },
    }


def _rule_ids(body: dict[str, Any]) -> list[str]:
    service = SERVICES[DEFAULT_SERVICE_ID]
    raw = json.loads(json.dumps(body))  # wire-shaped: plain dicts and lists, as parsed
    answer = run_hook(service, load_hook_request(raw, expected_hook=service.hook), Deps(SETTINGS))
    return answer.rule_ids


@pytest.mark.parametrize("position", list(RED_FLAGS))
def test_red_flag_fires_from_every_allowed_position_among_unrelated_resources(
    position: str,
) -> None:
    red_flag, rule_id = RED_FLAGS[position]

    assert rule_id in _rule_ids(_request(copy.deepcopy(red_flag)))
    assert rule_id not in _rule_ids(_request({"resourceType": "Basic", "code": {}}))


@pytest.mark.parametrize("position", list(RED_FLAGS))
def test_red_flag_fires_beside_malformed_neighbours(position: str) -> None:
    red_flag, rule_id = RED_FLAGS[position]
    body = _request(copy.deepcopy(red_flag), extra=copy.deepcopy(MALFORMED))
    resources = [entry["resource"] for entry in body["prefetch"]["observations"]["entry"]]

    extraction = extract(resources, now=generate.NOW, settings=SETTINGS)

    assert extraction.unreadable == len(MALFORMED)
    assert rule_id in _rule_ids(body)


def test_red_flag_resources_take_the_fast_validation_path() -> None:
    """The positions above are validated without the full model (else the test proves less)."""
    for red_flag, _ in RED_FLAGS.values():
        fixed = _normalise_dates(red_flag)
        assert fast_valid(str(red_flag["resourceType"]), fixed), red_flag


# --------------------------------------------------------------------------- the shortcut
#
# `extract` passes over resources `_plainly_unrelated` accepts without calling the reader at
# all. That is safe only if the reader itself would leave no trace of each of them: no
# finding, no note, nothing counted unreadable or ignored. Checked here over generated
# records, the red flags and malformed resources above, and mutations of every part the
# shortcut looks at (type, status, component, each concept's shape, system and code).

EXTRA_CANCER = Settings.load(
    {
        "evaluation_time": generate.NOW.isoformat(),
        "extra_cancer_codes": "254637007,http://hl7.org/fhir/sid/icd-10|C34.1",
    },
    environ={},
)
_CONCEPTS: list[object] = [
    {"coding": [_coding(SNOMED, CAUDA_EQUINA, "Cauda equina syndrome")]},
    {"coding": [_coding("http://example.org/local", CAUDA_EQUINA)]},  # catalog code, odd system
    {"coding": [_coding(LOINC, "8867-4", "Heart rate")]},  # an analyte
    {"coding": [_coding(LOINC, "77194-9", "ABI")]},
    {"coding": [_coding(SNOMED, "254637007")]},  # an extra cancer code (settings)
    {"coding": [_coding("http://hl7.org/fhir/sid/icd-10", "C34.1")]},
    {"coding": [_coding("urn:oid:2.16.840.1.113883.6.96", CAUDA_EQUINA)]},  # SNOMED by OID
    {"coding": [_coding(LOINC, "8302-2", "Body height")]},  # unrelated
    {"coding": [_coding(LOINC, "8302-2"), _coding(SNOMED, CAUDA_EQUINA)]},
    {"coding": [{"system": 5, "code": "8302-2"}]},
    {"coding": [{"system": None, "code": "8302-2"}]},
    {"coding": [{"system": LOINC, "code": 8302}]},
    {"coding": [{"system": LOINC}]},
    {"coding": [{"code": "8302-2"}]},
    {"coding": ["8302-2"]},
    {"coding": {"system": LOINC, "code": "8302-2"}},
    {"coding": None},
    {"coding": []},
    {"text": "free text only"},
    "8302-2",
    [],
    None,
]


def _shortcut_candidates() -> list[object]:
    bases: list[object] = [
        *generate.observations(80, relevant=30, seed=5),
        *generate.observations(40, relevant=10, seed=6, analytes_in_routine=True),
        *generate.conditions(30, catalog=12, seed=5),
        *(copy.deepcopy(red_flag) for red_flag, _ in RED_FLAGS.values()),
        *copy.deepcopy(MALFORMED),
        generate.patient(generate.random.Random(5), "shortcut"),
        {"resourceType": "Basic", "code": {"coding": [_coding(SNOMED, CAUDA_EQUINA)]}},
    ]
    out: list[object] = list(bases)
    for base in bases:
        if not isinstance(base, dict):
            continue
        for resource_type in ("Observation", "Condition", "Patient", "observation", None):
            out.append({**base, "resourceType": resource_type})
        for status in ("final", "amended", "preliminary", "entered-in-error", "unknown", None, 5):
            out.append({**base, "status": status})
        for concept in _CONCEPTS:
            out.append({**base, "code": copy.deepcopy(concept)})
            out.append({**base, "valueCodeableConcept": copy.deepcopy(concept)})
            out.append({**base, "component": [{"code": copy.deepcopy(concept)}]})
        for components in ([], None, "x", [None]):
            out.append({**base, "component": components})
        out.append({key: value for key, value in base.items() if key != "code"})
    return out


@pytest.mark.parametrize("settings", [SETTINGS, EXTRA_CANCER], ids=["default", "extra-cancer"])
def test_plainly_unrelated_shortcut_passes_over_only_what_the_reader_would(
    settings: Settings,
) -> None:
    skipped = 0
    for candidate in _shortcut_candidates():
        reader = _Reader(generate.NOW, settings)
        if not _plainly_unrelated(candidate, reader.codes):
            continue
        skipped += 1
        reader.read(0, candidate)
        assert (reader.findings, reader.notes, reader.unreadable, reader.ignored) == (
            [],
            [],
            0,
            0,
        ), candidate
        assert reader.patient is None
    assert skipped > 150  # the shortcut is exercised, not vacuous


def test_catalog_code_strings_hold_every_code_a_lookup_can_match() -> None:
    """`_Reader.codes` lets a coding skip the (system, code) lookup when its code string is not
    in it: every key of the index, the analytes and the settings' extra codes must be."""
    codes = _Reader(generate.NOW, EXTRA_CANCER).codes
    keys = [*cat.CODE_INDEX, *cat.MEASUREMENTS, *cat.extra_cancer_entries(EXTRA_CANCER)]
    assert {code for _, code in keys} <= codes
    assert {"254637007", "C34.1"} <= codes
