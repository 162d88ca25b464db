"""Seeded, Synthea-like patient-view requests for the benchmark (and for tests).

`patient_view_request(observations=200, seed=8)` is a CDS Hooks 2.0 patient-view call whose
prefetch holds a Patient, an Observation searchset Bundle and a Condition searchset Bundle, shaped
like the Synthea bundles in `tests/data/synthea` (uuid ids, `meta.tag`, `category`, display and
text, `subject`/`encounter` references, `effectiveDateTime` plus `issued`, UCUM quantities).

Of the Observations, `relevant` (30 by default) carry codes the rules use as presence codes or
analytes that are not routine (symptoms and signs in every position the reader accepts, D-dimer,
CK, an ABI with right/left components); the rest are the common vitals and labs a primary-care
record holds. Several of those common ones are catalog analytes too (heart rate, temperature,
SpO2, potassium, calcium), exactly as in real data, so they go through the full reading path.
Of the Conditions, a few are catalog codes (varicose veins, an old DVT, hypothyroidism).

Everything is derived from `random.Random(seed)` and `now`, so one seed gives one body, byte for
byte. Run `python bench/generate.py --observations 200 > body.json` to write one.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL = "http://calf-cds.example/fhir/CodeSystem/finding"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
TAG = {"system": "https://smarthealthit.org/tags", "code": "synthea-5-2019"}
LEFT, RIGHT = "7771000", "24028007"
CALF = "53840002"

# Common vitals and labs (LOINC code, display, UCUM unit, low, high, category). Five of them are
# catalog analytes the rules read (heart rate, temperature, SpO2, potassium, calcium): the issue's
# request keeps them out of "the rest" (its 30 rule-code Observations are the only ones the rules
# use); the `analytes_in_routine` variant mixes them back in, as a chart heavy with vitals would.
ROUTINE_ANALYTE_CODES = frozenset({"8867-4", "8310-5", "59408-5", "6298-4", "17861-6"})
ROUTINE: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("8302-2", "Body Height", "cm", 150.0, 195.0, "vital-signs"),
    ("29463-7", "Body Weight", "kg", 50.0, 120.0, "vital-signs"),
    ("39156-5", "Body Mass Index", "kg/m2", 18.0, 38.0, "vital-signs"),
    ("8867-4", "Heart rate", "/min", 55.0, 110.0, "vital-signs"),
    ("9279-1", "Respiratory rate", "/min", 12.0, 20.0, "vital-signs"),
    ("8310-5", "Body temperature", "Cel", 36.1, 38.4, "vital-signs"),
    (
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        91.0,
        99.0,
        "vital-signs",
    ),
    (
        "72514-3",
        "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        "{score}",
        0.0,
        7.0,
        "survey",
    ),
    (
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        "10*3/uL",
        4.0,
        11.0,
        "laboratory",
    ),
    (
        "789-8",
        "Erythrocytes [#/volume] in Blood by Automated count",
        "10*6/uL",
        4.0,
        5.8,
        "laboratory",
    ),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.5, 17.0, "laboratory"),
    (
        "4544-3",
        "Hematocrit [Volume Fraction] of Blood by Automated count",
        "%",
        35.0,
        50.0,
        "laboratory",
    ),
    ("787-2", "MCV [Entitic volume] by Automated count", "fL", 80.0, 100.0, "laboratory"),
    (
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        "10*3/uL",
        150.0,
        400.0,
        "laboratory",
    ),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70.0, 140.0, "laboratory"),
    ("6299-2", "Urea nitrogen [Mass/volume] in Blood", "mg/dL", 7.0, 20.0, "laboratory"),
    ("38483-4", "Creatinine [Mass/volume] in Blood", "mg/dL", 0.6, 1.3, "laboratory"),
    ("2947-0", "Sodium [Moles/volume] in Blood", "mmol/L", 135.0, 145.0, "laboratory"),
    ("6298-4", "Potassium [Moles/volume] in Blood", "mmol/L", 3.3, 5.1, "laboratory"),
    ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.3, 10.3, "laboratory"),
    ("2069-3", "Chloride [Moles/volume] in Blood", "mmol/L", 98.0, 107.0, "laboratory"),
    (
        "20565-8",
        "Carbon dioxide, total [Moles/volume] in Blood",
        "mmol/L",
        22.0,
        29.0,
        "laboratory",
    ),
    ("2093-3", "Total Cholesterol", "mg/dL", 150.0, 260.0, "laboratory"),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.0, 7.5, "laboratory"),
)
_ROUTINE_UNUSED = tuple(row for row in ROUTINE if row[0] not in ROUTINE_ANALYTE_CODES)
# Symptoms and signs the rules use (SNOMED unless local), with whether a calf site fits.
SYMPTOMS: tuple[tuple[str, str, str, bool], ...] = (
    (SNOMED, "300954003", "Pain in calf", True),
    (SNOMED, "449615005", "Swelling of lower leg", True),
    (SNOMED, "284521000", "Pitting edema", True),
    (SNOMED, "386661006", "Fever", False),
    (SNOMED, "267036007", "Dyspnea", False),
    (SNOMED, "29857009", "Chest pain", False),
    (SNOMED, "449918009", "Cramp in lower leg", True),
    (SNOMED, "247441003", "Erythema", True),
    (SNOMED, "84229001", "Fatigue", False),
    (SNOMED, "63491006", "Intermittent claudication", False),
    (SNOMED, "279039007", "Low back pain", False),
    (LOCAL, "deep-vein-tenderness", "Localised tenderness along the deep veins", True),
    (LOCAL, "leg-warmth", "Leg warmth", True),
)
GENERIC = ((LOINC, "75325-1", "Symptom"), (SNOMED, "418799008", "Finding reported by subject"))
# Conditions (SNOMED code, display, catalog code?).
CONDITIONS: tuple[tuple[str, str, bool], ...] = (
    ("59621000", "Essential hypertension", False),
    ("15777000", "Prediabetes", False),
    ("44054006", "Diabetes", False),
    ("55822004", "Hyperlipidemia", False),
    ("162864005", "Body mass index 30+ - obesity", False),
    ("195662009", "Acute viral pharyngitis", False),
    ("10509002", "Acute bronchitis", False),
    ("444814009", "Viral sinusitis", False),
    ("40055000", "Chronic sinusitis", False),
    ("233678006", "Childhood asthma", False),
    ("271737000", "Anemia", False),
    ("68496003", "Polyp of colon", False),
    ("128613002", "Seizure disorder", False),
    ("230690007", "Stroke", False),
    ("53741008", "Coronary Heart Disease", False),
    ("239873007", "Osteoarthritis of knee", False),
    ("69896004", "Rheumatoid arthritis", False),
    ("38341003", "Hypertensive disorder", False),
    ("128053003", "Deep venous thrombosis", True),
    ("40930008", "Hypothyroidism", True),
    ("20696009", "Chronic venous insufficiency", True),
    ("72866009", "Varicose veins of lower extremity", True),
)


class _Ids:
    """uuid4-shaped ids drawn from the seeded generator (never from the OS)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _issued(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+00:00"


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _base(
    ids: _Ids, patient_ref: str, encounter: str, when: datetime, category: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ids(),
        "status": "final",
        "category": [_concept(CATEGORY, category, category)],
        "code": {},
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter},
        "effectiveDateTime": _stamp(when),
        "issued": _issued(when),
        "meta": {"tag": [dict(TAG)]},
    }


def routine_observation(
    rng: random.Random,
    ids: _Ids,
    patient_ref: str,
    encounter: str,
    when: datetime,
    *,
    analytes: bool = False,
) -> dict[str, Any]:
    """One common vital or lab (Synthea shapes; blood pressure carries two components)."""
    if rng.random() < 0.08:
        resource = _base(ids, patient_ref, encounter, when, "vital-signs")
        resource["code"] = _concept(LOINC, "55284-4", "Blood Pressure")
        resource["component"] = [
            {
                "code": _concept(LOINC, "8480-6", "Systolic Blood Pressure"),
                "valueQuantity": _quantity(round(rng.uniform(105, 160), 1), "mm[Hg]"),
            },
            {
                "code": _concept(LOINC, "8462-4", "Diastolic Blood Pressure"),
                "valueQuantity": _quantity(round(rng.uniform(60, 100), 1), "mm[Hg]"),
            },
        ]
        return resource
    if rng.random() < 0.03:
        resource = _base(ids, patient_ref, encounter, when, "survey")
        resource["code"] = _concept(LOINC, "72166-2", "Tobacco smoking status NHIS")
        resource["valueCodeableConcept"] = _concept(SNOMED, "266919005", "Never smoker")
        return resource
    pool = ROUTINE if analytes else _ROUTINE_UNUSED
    code, display, unit, low, high, category = rng.choice(pool)
    resource = _base(ids, patient_ref, encounter, when, category)
    resource["code"] = _concept(LOINC, code, display)
    resource["valueQuantity"] = _quantity(round(rng.uniform(low, high), 2), unit)
    return resource


def relevant_observation(
    rng: random.Random, ids: _Ids, patient_ref: str, encounter: str, when: datetime
) -> dict[str, Any]:
    """One Observation the rules use: a symptom in any accepted position, or a rarer lab."""
    roll = rng.random()
    resource = _base(ids, patient_ref, encounter, when, "survey")
    if roll < 0.12:
        resource["category"] = [_concept(CATEGORY, "laboratory", "laboratory")]
        ddu = rng.random() < 0.3
        code = "48066-5" if ddu else "48065-7"
        resource["code"] = _concept(LOINC, code, "Fibrin D-dimer DDU" if ddu else "D-dimer FEU")
        resource["valueQuantity"] = _quantity(round(rng.uniform(100, 1500)), "ng/mL")
        return resource
    if roll < 0.2:
        resource["category"] = [_concept(CATEGORY, "laboratory", "laboratory")]
        resource["code"] = _concept(LOINC, "2157-6", "Creatine kinase")
        resource["valueQuantity"] = _quantity(round(rng.uniform(60, 900)), "U/L")
        resource["referenceRange"] = [{"high": _quantity(200, "U/L")}]
        return resource
    if roll < 0.25:
        resource["category"] = [_concept(CATEGORY, "exam", "exam")]
        resource["code"] = _concept(LOINC, "77194-9", "Ankle-brachial index")
        resource["component"] = [
            {
                "code": {
                    "coding": [
                        {"system": LOINC, "code": "77194-9", "display": "ABI"},
                        {"system": SNOMED, "code": side, "display": word},
                    ],
                    "text": f"{word} ankle-brachial index",
                },
                "valueQuantity": {"value": round(rng.uniform(0.5, 1.2), 2), "unit": "{ratio}"},
            }
            for side, word in ((RIGHT, "Right"), (LEFT, "Left"))
        ]
        return resource
    system, code, display, calf = rng.choice(SYMPTOMS)
    if roll < 0.45:
        generic = rng.choice(GENERIC)
        resource["code"] = _concept(*generic)
        resource["valueCodeableConcept"] = _concept(system, code, display)
    else:
        resource["code"] = _concept(system, code, display)
        if rng.random() < 0.15:
            resource["valueBoolean"] = False
    if calf:
        side = rng.choice((LEFT, RIGHT))
        resource["bodySite"] = {
            "coding": [
                {"system": SNOMED, "code": CALF, "display": "Calf"},
                {"system": SNOMED, "code": side, "display": "Left" if side == LEFT else "Right"},
            ]
        }
    return resource


def condition(
    rng: random.Random,
    ids: _Ids,
    patient_ref: str,
    encounter: str,
    onset: datetime,
    *,
    catalog: bool,
) -> dict[str, Any]:
    """A Synthea-shaped Condition; `catalog` picks one of the codes the rules use."""
    code, display, _ = rng.choice([row for row in CONDITIONS if row[2] == catalog])
    resolved = rng.random() < 0.3
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": ids(),
        "clinicalStatus": {
            "coding": [{"system": CLINICAL, "code": "resolved" if resolved else "active"}]
        },
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "code": _concept(SNOMED, code, display),
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter},
        "onsetDateTime": _stamp(onset),
        "recordedDate": _stamp(onset),
        "meta": {"tag": [dict(TAG)]},
    }
    if resolved:
        resource["abatementDateTime"] = _stamp(onset + timedelta(days=rng.randint(7, 60)))
    return resource


def patient(rng: random.Random, patient_id: str) -> dict[str, Any]:
    birth = NOW.date().replace(year=NOW.year - rng.randint(25, 80))
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "meta": {"tag": [dict(TAG)]},
        "identifier": [
            {"system": "https://github.com/synthetichealth/synthea", "value": patient_id},
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "http://hospital.smarthealthit.org",
                "value": patient_id,
            },
        ],
        "name": [{"use": "official", "family": "Bench", "given": ["Synthetic"], "prefix": ["Mx."]}],
        "telecom": [{"system": "phone", "value": "555-000-0000", "use": "home"}],
        "gender": rng.choice(("female", "male")),
        "birthDate": birth.isoformat(),
        "address": [
            {
                "line": ["1 Example Road"],
                "city": "Springfield",
                "state": "MA",
                "postalCode": "01101",
                "country": "US",
            }
        ],
    }


def searchset(resources: list[dict[str, Any]], base: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def observations(
    count: int,
    *,
    relevant: int = 30,
    seed: int = 8,
    now: datetime = NOW,
    patient_ref: str = "Patient/bench",
    analytes_in_routine: bool = False,
) -> list[dict[str, Any]]:
    """`count` Observations, `relevant` of them with codes the rules use, the rest routine
    (codes no rule reads, unless `analytes_in_routine`)."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    encounters = [f"Encounter/{ids()}" for _ in range(max(1, count // 10))]
    out = []
    relevant_at = set(rng.sample(range(count), min(relevant, count)))
    for index in range(count):
        encounter = rng.choice(encounters)
        if index in relevant_at:
            when = now - timedelta(hours=rng.uniform(1, 24 * 10))
            out.append(relevant_observation(rng, ids, patient_ref, encounter, when))
        else:
            when = now - timedelta(hours=rng.uniform(1, 24 * 700))
            out.append(
                routine_observation(
                    rng, ids, patient_ref, encounter, when, analytes=analytes_in_routine
                )
            )
    return out


def conditions(
    count: int,
    *,
    catalog: int = 5,
    seed: int = 8,
    now: datetime = NOW,
    patient_ref: str = "Patient/bench",
) -> list[dict[str, Any]]:
    rng = random.Random(seed + 1)
    ids = _Ids(rng)
    catalog_at = set(rng.sample(range(count), min(catalog, count)))
    return [
        condition(
            rng,
            ids,
            patient_ref,
            f"Encounter/{ids()}",
            now - timedelta(days=rng.uniform(1, 3000)),
            catalog=index in catalog_at,
        )
        for index in range(count)
    ]


def patient_view_request(
    observation_count: int = 200,
    *,
    relevant: int = 30,
    condition_count: int = 40,
    seed: int = 8,
    now: datetime = NOW,
    analytes_in_routine: bool = False,
) -> dict[str, Any]:
    """A CDS Hooks patient-view request with the three prefetch keys filled (see module doc)."""
    rng = random.Random(seed)
    patient_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    ref = f"Patient/{patient_id}"
    base = "https://ehr.example.org/fhir"
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "context": {"userId": "Practitioner/bench", "patientId": patient_id},
        "prefetch": {
            "patient": patient(rng, patient_id),
            "observations": searchset(
                observations(
                    observation_count,
                    relevant=relevant,
                    seed=seed,
                    now=now,
                    patient_ref=ref,
                    analytes_in_routine=analytes_in_routine,
                ),
                base,
            ),
            "conditions": searchset(
                conditions(condition_count, seed=seed, now=now, patient_ref=ref), base
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--relevant", type=int, default=30)
    parser.add_argument("--conditions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    request = patient_view_request(
        args.observations, relevant=args.relevant, condition_count=args.conditions, seed=args.seed
    )
    json.dump(request, sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
