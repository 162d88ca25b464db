"""Generate `fhir_samples/`: one CDS Hooks request per clinical scenario, plus its README.

Each scenario below is a compact definition (patient, Observations, Conditions, prefetch quirks);
this script expands it into a complete, EHR-shaped CDS Hooks 2.0 request (clinical-rules.md §2-§4,
cds-hooks.md "Request"). Output is deterministic (fixed UUIDs, ids and dates; sorted keys are not
used so that files read in FHIR order), so regenerating never produces a diff by itself:

    .venv/bin/python scripts/make_samples.py            # writes fhir_samples/
    .venv/bin/python scripts/make_samples.py OUT_DIR    # writes elsewhere (tests compare)

All data is synthetic. Each request carries its reference time (2026-11-25T12:00:00Z) in
`extension["example.calf-cds"].evaluationTime`; the golden tests check the cards at any clock.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FHIR_SERVER = "https://ehr.example.org/fhir"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL = "http://calf-cds.example/fhir/CodeSystem/finding"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
HOOK_NAMESPACE = uuid.UUID("6f1d8f0e-3c52-4c55-9a7e-2f3b0c1a2026")

# Body sites (clinical-rules.md §2 "Body sites") and laterality ("Laterality").
CALF = ("53840002", "Calf of leg")
LOWER_LEG = ("30021000", "Lower leg structure")
LOWER_LIMB = ("61685007", "Lower limb structure")
ANKLE = ("344001", "Ankle region structure")
FOOT = ("56459004", "Foot structure")
LEFT = ("7771000", "Left")
RIGHT = ("24028007", "Right")
BOTH = ("51440002", "Right and left")

EVALUATION_TIME = "2026-11-25T12:00:00Z"  # every sample's reference time
NOW = "2026-11-25T10:30:00Z"  # the default recording time: the morning of the reference time
YESTERDAY = "2026-11-24T16:45:00Z"


@dataclass(frozen=True)
class Obs:
    """One Observation. `value` is a ready FHIR value[x] dict, e.g. {"valueBoolean": False}."""

    system: str
    code: str
    display: str
    at: str | None = NOW
    site: tuple[str, str] | None = None
    side: tuple[str, str] | None = None
    value: dict[str, Any] = field(default_factory=dict)
    category: str = "exam"
    status: str = "final"
    interpretation: str | None = None
    reference_high: tuple[float, str] | None = None  # (value, unit) of referenceRange.high


@dataclass(frozen=True)
class Cond:
    """One Condition (problem-list item unless told)."""

    code: str
    display: str
    onset: str | None = None
    recorded: str = NOW
    clinical: str | None = "active"
    verification: str = "confirmed"
    site: tuple[str, str] | None = None
    side: tuple[str, str] | None = None
    category: str = "problem-list-item"


@dataclass(frozen=True)
class Scenario:
    name: str
    shows: str  # README: what the file shows
    expect: str  # README and golden tests: "R-X variant [covered|merged]; ...", or "none"
    birth: str | None = "1968-04-12"
    gender: str = "female"
    given: str = "Alex"
    observations: tuple[Any, ...] = ()  # Obs, or raw JSON (malformed neighbours)
    conditions: tuple[Any, ...] = ()
    hook: str = "patient-view"
    encounter: bool = False
    # prefetch values that replace the generated ones: None = JSON null, or a raw value
    override: dict[str, Any] = field(default_factory=dict)


def qty(value: float, unit: str, code: str | None = None, comparator: str | None = None) -> dict:
    quantity: dict[str, Any] = {"value": value, "unit": unit, "system": UCUM, "code": code or unit}
    if comparator:
        quantity = {"comparator": comparator, **quantity}
    return {"valueQuantity": quantity}


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


YES = {"valueCodeableConcept": concept(SCT, "373066001", "Yes")}
NO = {"valueCodeableConcept": concept(SCT, "373067005", "No")}
FALSE = {"valueBoolean": False}
TRUE = {"valueBoolean": True}


def sct(code: str, display: str, **kw: Any) -> Obs:
    return Obs(SCT, code, display, **kw)


def local(code: str, display: str, **kw: Any) -> Obs:
    return Obs(LOCAL, code, display, **kw)


def loinc(code: str, display: str, **kw: Any) -> Obs:
    return Obs(LOINC, code, display, **kw)


def symptom(code: str, display: str, **kw: Any) -> Obs:
    """The generic pattern: LOINC 75325-1 Symptom with the finding as value (§2 "Presence")."""
    return Obs(
        LOINC,
        "75325-1",
        "Symptom",
        value={"valueCodeableConcept": concept(SCT, code, display)},
        category="survey",
        **kw,
    )


def temperature(
    value: float, unit: str, code: str, at: str = NOW, loinc_code: str = "8310-5"
) -> Obs:
    names = {"8310-5": "Body temperature", "8331-1": "Oral temperature"}
    return loinc(
        loinc_code, names[loinc_code], at=at, category="vital-signs", value=qty(value, unit, code)
    )


CALF_PAIN_LEFT = sct("300954003", "Pain in calf", site=CALF, side=LEFT, category="survey")
CALF_PAIN_RIGHT = sct("300954003", "Pain in calf", site=CALF, side=RIGHT, category="survey")
CALF_PAIN_BOTH = sct("300954003", "Pain in calf", site=CALF, side=BOTH, category="survey")
CALF_PAIN = sct("300954003", "Pain in calf", category="survey")
LEG_SWELLING_LEFT = sct("449615005", "Swelling of lower leg", site=LOWER_LEG, side=LEFT)
LOW_BACK_PAIN = sct("279039007", "Low back pain", category="survey")


# Every Wells item but tenderness recorded absent (dated): with tenderness present, Wells 1,
# complete (clinical-rules.md §5).
WELLS_OTHERS_ABSENT: tuple[Obs, ...] = (
    sct("363346000", "Malignant neoplastic disease", value=NO, category="survey"),
    sct("102568007", "Paresis of lower extremity", value=FALSE),
    local("recent-plaster-immobilisation", "Recent plaster immobilisation", value=FALSE),
    local(
        "bedridden-3-days-or-major-surgery-12-weeks",
        "Bedridden 3 days or major surgery within 12 weeks",
        value=FALSE,
        category="survey",
    ),
    local("entire-leg-swollen", "Entire leg swollen", value=FALSE),
    local(
        "calf-circumference-difference",
        "Calf circumference difference",
        site=CALF,
        side=LEFT,
        value=qty(1.0, "cm"),
    ),
    local("pitting-edema-symptomatic-leg", "Pitting oedema in the symptomatic leg", value=FALSE),
    local("collateral-superficial-veins", "Collateral superficial veins", value=FALSE),
    sct("161508001", "History of deep vein thrombosis", value=FALSE, category="survey"),
    local(
        "alternative-diagnosis-as-likely", "Alternative diagnosis at least as likely", value=FALSE
    ),
)
TENDER_LEFT = local("deep-vein-tenderness", "Tenderness along the deep veins", site=CALF, side=LEFT)
PREGNANT = loinc(
    "82810-3",
    "Pregnancy status",
    category="social-history",
    value={"valueCodeableConcept": concept(SCT, "77386006", "Pregnant")},
    at="2026-11-23T09:00:00Z",
)
ACTIVE_CANCER = Cond("363346000", "Malignant neoplastic disease", onset="2025-06-10")


def d_dimer(value: float, unit: str = "ng/mL{FEU}", status: str = "final", **kw: Any) -> Obs:
    return loinc(
        "48065-7",
        "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
        category="laboratory",
        value=qty(value, unit),
        status=status,
        at=kw.pop("at", "2026-11-25T09:40:00Z"),
        **kw,
    )


def abi(value: float) -> Obs:
    return loinc(
        "77194-9",
        "Ankle-brachial index",
        category="exam",
        value=qty(value, "{ratio}"),
        at="2026-11-20T10:00:00Z",
    )


SCENARIOS: tuple[Scenario, ...] = (
    # --- tier E -------------------------------------------------------------------------------
    Scenario(
        "pe-suspected-dvt-with-dyspnoea",
        "one-sided calf pain and swelling (DVT pathway) with new breathlessness",
        "R-PE-SUSPECTED standard; R-DVT-PATHWAY incomplete covered",
        gender="male",
        given="Jordan",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            sct("267036007", "Dyspnea", category="survey", at="2026-11-25T09:50:00Z"),
        ),
    ),
    Scenario(
        "phlegmasia-swollen-cyanotic-left-leg",
        "whole left leg swollen and cyanotic (phlegmasia cerulea dolens)",
        "R-PHLEGMASIA standard; R-DVT-PATHWAY incomplete covered",
        birth="1957-09-30",
        given="Robin",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            local("entire-leg-swollen", "Entire leg swollen", site=LOWER_LIMB, side=LEFT),
            sct("3415004", "Cyanosis", site=LOWER_LIMB, side=LEFT),
        ),
    ),
    Scenario(
        "acute-limb-ischaemia-cold-pulseless-right-foot",
        "right calf pain with a cold right foot and absent right foot pulses",
        "R-ALI threatened",
        birth="1949-02-17",
        gender="male",
        given="Sam",
        observations=(
            CALF_PAIN_RIGHT,
            sct("771542000", "Cold extremity", site=FOOT, side=RIGHT),
            local("absent-foot-pulses", "Absent foot pulses", site=FOOT, side=RIGHT),
        ),
    ),
    Scenario(
        "cauda-equina-saddle-anaesthesia-urinary-retention",
        "back pain with saddle anaesthesia and urinary retention, calf pain",
        "R-CAUDA-EQUINA standard",
        birth="1979-06-02",
        given="Casey",
        observations=(
            CALF_PAIN,
            LOW_BACK_PAIN,
            local("saddle-anaesthesia", "Saddle anaesthesia", category="survey"),
            sct("267064002", "Retention of urine", category="survey"),
        ),
    ),
    Scenario(
        "compartment-syndrome-after-exertion",
        "calf pain on passive stretch and out of proportion after exertion (rest card suppressed)",
        "R-COMPARTMENT standard",
        birth="1996-11-08",
        gender="male",
        given="Taylor",
        observations=(
            CALF_PAIN_LEFT,
            local("recent-strenuous-exertion", "Recent strenuous exertion", at=YESTERDAY),
            local("pain-on-passive-stretch", "Pain on passive stretch", site=CALF, side=LEFT),
            local("pain-out-of-proportion", "Pain out of proportion", site=CALF, side=LEFT),
        ),
    ),
    Scenario(
        "necrotising-fasciitis-diagnosis",
        "calf pain with an active necrotising fasciitis Condition",
        "R-NECROTISING standard",
        birth="1963-01-21",
        given="Morgan",
        observations=(CALF_PAIN_RIGHT,),
        conditions=(
            Cond(
                "52486002",
                "Necrotizing fasciitis",
                onset="2026-11-25T07:00:00Z",
                category="encounter-diagnosis",
            ),
        ),
    ),
    Scenario(
        "soft-tissue-infection-pain-out-of-proportion",
        "red, warm, painful left calf with fever and pain out of proportion",
        "R-COMPARTMENT standard; R-NECROTISING standard merged; R-CELLULITIS standard covered; "
        "R-DVT-PATHWAY incomplete covered",
        birth="1958-05-05",
        gender="male",
        given="Drew",
        observations=(
            CALF_PAIN_LEFT,
            sct("247441003", "Erythema", site=LOWER_LEG, side=LEFT),
            local("leg-warmth", "Warmth of leg", site=LOWER_LEG, side=LEFT),
            local("pain-out-of-proportion", "Pain out of proportion", site=CALF, side=LEFT),
            temperature(38.9, "Cel", "Cel"),
        ),
    ),
    Scenario(
        "rhabdomyolysis-dark-urine-muscle-pain",
        "dark urine with muscle pain recorded without a body site (68962001 at any site)",
        "R-RHABDO no-ck",
        birth="1990-07-19",
        gender="male",
        given="Jamie",
        observations=(
            sct("68962001", "Muscle pain", category="survey"),
            local("dark-urine", "Dark urine", category="survey"),
        ),
    ),
    Scenario(
        "rhabdomyolysis-ck-over-40x-uln",
        "bilateral calf pain with CK 12,000 U/L (60 x ULN 200)",
        "R-RHABDO ck; R-MYOSITIS ck covered",
        birth="1985-12-01",
        given="Riley",
        observations=(
            CALF_PAIN_BOTH,
            loinc(
                "2157-6",
                "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma",
                category="laboratory",
                value=qty(12000, "U/L"),
                interpretation="HH",
                reference_high=(200, "U/L"),
                at="2026-11-25T09:15:00Z",
            ),
        ),
    ),
    Scenario(
        "severe-hypokalaemia-cramps",
        "calf cramps with potassium 2.3 mmol/L",
        "R-SEVERE-ELECTROLYTE standard; R-CRAMP-SECONDARY standard covered",
        birth="1952-03-09",
        given="Avery",
        observations=(
            sct("55300003", "Cramp", site=CALF, side=BOTH, category="survey"),
            loinc(
                "2823-3",
                "Potassium [Moles/volume] in Serum or Plasma",
                category="laboratory",
                value=qty(2.3, "mmol/L"),
                interpretation="LL",
            ),
        ),
    ),
    Scenario(
        "bleeding-varicose-vein",
        "a bleeding varicose vein at the left ankle in a patient with varicose veins",
        "R-BLEEDING-VARICOSE standard",
        birth="1944-10-23",
        given="Quinn",
        observations=(
            local("bleeding-varicose-vein", "Bleeding varicose vein", site=ANKLE, side=LEFT),
        ),
        conditions=(Cond("72866009", "Varicose veins of lower extremity", onset="2015-04-01"),),
    ),
    # --- tier U -------------------------------------------------------------------------------
    Scenario(
        "dvt-unilateral-swelling-wells-likely",
        "left calf pain and swelling, calf 3.5 cm larger, pitting oedema: Wells 2 = likely",
        "R-DVT-PATHWAY likely",
        birth="1961-03-14",
        gender="male",
        given="Charlie",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            local(
                "calf-circumference-difference",
                "Calf circumference difference",
                site=CALF,
                side=LEFT,
                value=qty(3.5, "cm"),
            ),
            local(
                "pitting-edema-symptomatic-leg",
                "Pitting oedema in the symptomatic leg",
                site=LOWER_LEG,
                side=LEFT,
            ),
        ),
    ),
    Scenario(
        "dvt-wells-complete-unlikely",
        "left calf pain and swelling, deep-vein tenderness, every other Wells item recorded absent",
        "R-DVT-PATHWAY unlikely",
        birth="1980-08-26",
        given="Kai",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            local("deep-vein-tenderness", "Tenderness along the deep veins", site=CALF, side=LEFT),
            sct("363346000", "Malignant neoplastic disease", value=NO, category="survey"),
            sct("102568007", "Paresis of lower extremity", value=FALSE),
            local("recent-plaster-immobilisation", "Recent plaster immobilisation", value=FALSE),
            local(
                "bedridden-3-days-or-major-surgery-12-weeks",
                "Bedridden 3 days or major surgery within 12 weeks",
                value=FALSE,
                category="survey",
            ),
            local("entire-leg-swollen", "Entire leg swollen", value=FALSE),
            local(
                "calf-circumference-difference",
                "Calf circumference difference",
                site=CALF,
                side=LEFT,
                value=qty(1.0, "cm"),
            ),
            local(
                "pitting-edema-symptomatic-leg",
                "Pitting oedema in the symptomatic leg",
                value=FALSE,
            ),
            local("collateral-superficial-veins", "Collateral superficial veins", value=FALSE),
            sct("161508001", "History of deep vein thrombosis", value=FALSE, category="survey"),
            local(
                "alternative-diagnosis-as-likely",
                "Alternative diagnosis at least as likely",
                value=FALSE,
            ),
        ),
    ),
    Scenario(
        "dvt-d-dimer-positive-mg-per-l-feu",
        "right calf pain with D-dimer 0.9 mg/L FEU (= 900 ng/mL FEU, positive), age 65",
        "R-DVT-PATHWAY incomplete",
        birth="1961-09-12",
        given="Rowan",
        observations=(
            CALF_PAIN_RIGHT,
            loinc(
                "48065-7",
                "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
                category="laboratory",
                value=qty(0.9, "mg/L{FEU}"),
                at="2026-11-25T09:40:00Z",
            ),
        ),
    ),
    Scenario(
        "dvt-pregnant-scores-do-not-apply",
        "pregnant patient (LOINC 82810-3 with 77386006) with one-sided calf pain and swelling",
        "R-DVT-PATHWAY pregnant",
        birth="1995-02-14",
        given="Ellis",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            loinc(
                "82810-3",
                "Pregnancy status",
                category="social-history",
                value={"valueCodeableConcept": concept(SCT, "77386006", "Pregnant")},
                at="2026-11-23T09:00:00Z",
            ),
        ),
    ),
    Scenario(
        "svt-superficial-vein-cord",
        "left calf pain with erythema over a tender superficial vein cord",
        "R-SVT standard",
        birth="1970-12-30",
        given="Parker",
        observations=(
            CALF_PAIN_LEFT,
            sct("247441003", "Erythema", site=CALF, side=LEFT),
            local("superficial-vein-cord", "Palpable superficial vein cord", site=CALF, side=LEFT),
        ),
    ),
    Scenario(
        "clti-rest-pain-abi-0-35",
        "ischaemic rest pain in the right foot with ABI 0.35",
        "R-CLTI standard",
        birth="1946-06-06",
        gender="male",
        given="Reese",
        observations=(
            local(
                "ischaemic-rest-pain",
                "Ischaemic rest pain",
                site=FOOT,
                side=RIGHT,
                category="survey",
            ),
            loinc(
                "77194-9",
                "Ankle-brachial index",
                category="procedure",
                value=qty(0.35, "{ratio}"),
                site=LOWER_LIMB,
                side=RIGHT,
                at="2026-11-24T11:00:00Z",
            ),
        ),
    ),
    Scenario(
        "cellulitis-erythema-warmth-fever",
        "red, warm left lower leg with a temperature of 38.4 Cel (no calf symptom recorded)",
        "R-CELLULITIS standard",
        birth="1966-04-04",
        given="Hayden",
        observations=(
            sct("247441003", "Erythema", site=LOWER_LEG, side=LEFT),
            local("leg-warmth", "Warmth of leg", site=LOWER_LEG, side=LEFT),
            temperature(38.4, "Cel", "Cel"),
        ),
    ),
    Scenario(
        "calf-pain-fever",
        "calf pain (LOINC 75325-1 Symptom pattern) with a temperature of 38.6 Cel",
        "R-CALF-PAIN-FEVER standard",
        birth="1988-10-10",
        given="Emerson",
        observations=(symptom("300954003", "Pain in calf"), temperature(38.6, "Cel", "Cel")),
    ),
    Scenario(
        "units-fahrenheit-fever",
        "calf pain with an oral temperature of 101.3 [degF] (38.5 Cel)",
        "R-CALF-PAIN-FEVER standard",
        birth="1975-01-31",
        gender="male",
        given="Finley",
        observations=(CALF_PAIN, temperature(101.3, "°F", "[degF]", loinc_code="8331-1")),
    ),
    Scenario(
        "units-fahrenheit-afebrile",
        "calf pain with a temperature of 99.5 °F (37.5 Cel): not a fever",
        "R-NO-RED-FLAG-DATA clear",
        birth="1975-01-31",
        given="Harper",
        observations=(CALF_PAIN, temperature(99.5, "°F", "[degF]")),
    ),
    Scenario(
        "radicular-deficit-sciatica-leg-weakness",
        "left sciatica with weakness of the left leg (motor deficit)",
        "R-RADICULAR-DEFICIT standard; R-RADICULOPATHY standard covered",
        birth="1972-08-08",
        gender="male",
        given="Logan",
        observations=(
            CALF_PAIN_LEFT,
            sct("713514005", "Muscle weakness of limb", site=LOWER_LIMB, side=LEFT),
        ),
        conditions=(
            Cond(
                "23056005",
                "Sciatica",
                onset="2026-11-20",
                site=LOWER_LIMB,
                side=LEFT,
                category="encounter-diagnosis",
            ),
        ),
    ),
    Scenario(
        "spinal-red-flag-back-pain-active-cancer",
        "low back pain and calf pain in a patient with active cancer",
        "R-SPINAL-RED-FLAG cancer",
        birth="1955-11-11",
        given="Blake",
        observations=(CALF_PAIN, LOW_BACK_PAIN),
        conditions=(Cond("363346000", "Malignant neoplastic disease", onset="2025-08-14"),),
    ),
    Scenario(
        "myositis-ck-over-10x-reference-range",
        "calf pain with CK 1,900 U/L and a reference range up to 170 (11 x ULN; default ULN 200"
        " would give 9.5 x)",
        "R-MYOSITIS ck",
        birth="1959-07-07",
        given="Cameron",
        observations=(
            CALF_PAIN_BOTH,
            loinc(
                "2157-6",
                "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma",
                category="laboratory",
                value=qty(1900, "U/L"),
                interpretation="H",
                reference_high=(170, "U/L"),
                at="2026-11-24T14:20:00Z",
            ),
        ),
    ),
    Scenario(
        "achilles-calf-pain-unable-to-weight-bear",
        "sudden right calf pain in sport (muscle strain) and unable to weight-bear",
        "R-ACHILLES standard",
        birth="1983-05-29",
        gender="male",
        given="Dakota",
        observations=(
            CALF_PAIN_RIGHT,
            sct("48532005", "Muscle strain", site=CALF, side=RIGHT),
            sct("285674009", "Unable to weight-bear", category="survey"),
        ),
    ),
    Scenario(
        "pe-suspected-recent-dvt-condition-chest-pain",
        "chest pain with an active DVT Condition recorded yesterday (onset 17 days ago): F-DVT-DX",
        "R-PE-SUSPECTED standard",
        birth="1969-03-03",
        gender="male",
        given="Ira",
        observations=(sct("29857009", "Chest pain", category="survey"),),
        conditions=(
            Cond(
                "128053003",
                "Deep venous thrombosis",
                onset="2026-11-08",
                recorded="2026-11-24T15:00:00Z",
                site=LOWER_LIMB,
                side=RIGHT,
                category="encounter-diagnosis",
            ),
        ),
    ),
    Scenario(
        "dvt-previous-dvt-resolved-condition-wells-likely",
        "left calf pain and swelling, pitting oedema, and a resolved DVT from 2019 (history):"
        " Wells 2 = likely",
        "R-DVT-PATHWAY likely",
        birth="1960-10-10",
        given="Jules",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            local(
                "pitting-edema-symptomatic-leg",
                "Pitting oedema in the symptomatic leg",
                site=LOWER_LEG,
                side=LEFT,
            ),
        ),
        conditions=(
            Cond(
                "128053003",
                "Deep venous thrombosis",
                onset="2019-06-01",
                recorded="2019-06-01T10:00:00Z",
                clinical="resolved",
                site=LOWER_LIMB,
                side=LEFT,
            ),
        ),
    ),
    Scenario(
        "dvt-d-dimer-ddu-positive",
        "right calf pain with D-dimer 300 ng/mL DDU (LOINC 48066-5): positive at >= 250 DDU",
        "R-DVT-PATHWAY incomplete",
        birth="1976-02-29",
        given="Kit",
        observations=(
            CALF_PAIN_RIGHT,
            loinc(
                "48066-5",
                "Fibrin D-dimer DDU [Mass/volume] in Platelet poor plasma",
                category="laboratory",
                value=qty(300, "ng/mL"),
                at="2026-11-25T09:40:00Z",
            ),
        ),
    ),
    Scenario(
        "dvt-d-dimer-interpretation-high",
        "right calf pain with D-dimer 430 ng/mL FEU flagged H by the lab (reference up to 400)",
        "R-DVT-PATHWAY incomplete",
        birth="1981-07-07",
        given="Lee",
        observations=(
            CALF_PAIN_RIGHT,
            loinc(
                "48065-7",
                "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
                category="laboratory",
                value=qty(430, "ng/mL{FEU}"),
                interpretation="H",
                reference_high=(400, "ng/mL{FEU}"),
                at="2026-11-25T09:40:00Z",
            ),
        ),
    ),
    Scenario(
        "dvt-under-18-scores-do-not-apply",
        "a 16-year-old with one-sided calf pain (SNOMED 418799008 pattern) and swelling",
        "R-DVT-PATHWAY under-18",
        birth="2010-05-01",
        given="Max",
        observations=(
            Obs(
                SCT,
                "418799008",
                "Finding reported by subject",
                value={"valueCodeableConcept": concept(SCT, "300954003", "Pain in calf")},
                site=CALF,
                side=LEFT,
                category="survey",
            ),
            LEG_SWELLING_LEFT,
        ),
    ),
    Scenario(
        "dvt-anticoagulated-scores-do-not-apply",
        "one-sided calf pain and swelling in a patient on an anticoagulant",
        "R-DVT-PATHWAY anticoagulated",
        birth="1950-12-05",
        gender="male",
        given="Nat",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            local("on-anticoagulant", "On anticoagulant", category="therapy", value=TRUE),
        ),
    ),
    Scenario(
        "dvt-age-unknown-no-birth-date",
        "one-sided calf pain and swelling, Patient without birthDate (age unknown)",
        "R-DVT-PATHWAY incomplete",
        birth=None,
        given="Oli",
        observations=(
            CALF_PAIN_RIGHT,
            sct("449615005", "Swelling of lower leg", site=LOWER_LEG, side=RIGHT),
        ),
    ),
    # --- tier R -------------------------------------------------------------------------------
    Scenario(
        "pad-intermittent-claudication",
        "calf pain on walking with intermittent claudication",
        "R-PAD no-abi",
        birth="1950-09-19",
        gender="male",
        given="Frankie",
        observations=(
            CALF_PAIN_RIGHT,
            sct("63491006", "Intermittent claudication", category="survey"),
        ),
    ),
    Scenario(
        "pad-workup-trophic-signs-no-abi",
        "calf pain with calf muscle atrophy and hair loss on the leg, no ABI on record",
        "R-PAD-WORKUP no-abi",
        birth="1953-02-02",
        given="Sage",
        observations=(
            CALF_PAIN_LEFT,
            sct("1119440005", "Atrophy of muscle of lower leg", site=LOWER_LEG, side=LEFT),
            sct("56317004", "Alopecia", site=LOWER_LEG, side=LEFT),
        ),
    ),
    Scenario(
        "pad-workup-borderline-abi-0-95",
        "calf pain with a borderline ABI of 0.95 (exercise ABI next)",
        "R-PAD-WORKUP borderline",
        birth="1956-03-03",
        gender="male",
        given="Jesse",
        observations=(
            CALF_PAIN_RIGHT,
            loinc(
                "77194-9",
                "Ankle-brachial index",
                category="procedure",
                value=qty(0.95, "{ratio}"),
                at="2026-10-02T10:00:00Z",
            ),
        ),
    ),
    Scenario(
        "radiculopathy-shooting-pain-back-pain",
        "low back pain with pain shooting into the right calf on moving and a positive SLR",
        "R-RADICULOPATHY standard",
        birth="1977-04-17",
        given="Micah",
        observations=(
            CALF_PAIN_RIGHT,
            LOW_BACK_PAIN,
            local(
                "shooting-pain-on-movement",
                "Pain shooting into the calf on moving",
                site=LOWER_LIMB,
                side=RIGHT,
                category="survey",
            ),
            local(
                "straight-leg-raise-positive",
                "Straight leg raise positive",
                site=LOWER_LIMB,
                side=RIGHT,
            ),
        ),
    ),
    Scenario(
        "varicose-veins-evening-ache",
        "calf ache worse in the evening with long-standing varicose veins (Condition from 2019)",
        "R-VARICOSE standard",
        birth="1962-06-21",
        given="Noel",
        observations=(
            CALF_PAIN_BOTH,
            local("pain-worse-in-evening", "Pain worse in the evening", category="survey"),
        ),
        conditions=(
            Cond(
                "72866009",
                "Varicose veins of lower extremity",
                onset="2019-03-11",
                recorded="2019-03-11T10:00:00Z",
            ),
        ),
    ),
    Scenario(
        "varicose-bilateral-ankle-swelling-evening-pain",
        "calf pain with swelling of both ankles and pain worse in the evening (no DVT trigger)",
        "R-VARICOSE standard",
        birth="1960-01-15",
        given="Oakley",
        observations=(
            CALF_PAIN_BOTH,
            sct("267039000", "Swollen ankle", site=ANKLE, side=BOTH),
            local("pain-worse-in-evening", "Pain worse in the evening", category="survey"),
        ),
    ),
    Scenario(
        "cramps-secondary-hypothyroidism",
        "calf cramps in a patient with active hypothyroidism (Condition from 2021)",
        "R-CRAMP-SECONDARY standard",
        birth="1964-09-09",
        given="Rory",
        observations=(sct("55300003", "Cramp", site=CALF, side=RIGHT, category="survey"),),
        conditions=(
            Cond("40930008", "Hypothyroidism", onset="2021-05-20", recorded="2021-05-20T09:00:00Z"),
        ),
    ),
    Scenario(
        "units-magnesium-mg-per-dl-cramps",
        "night cramps with magnesium 1.5 mg/dL sent on LOINC 2601-3 (0.62 mmol/L, low)",
        "R-CRAMP-SECONDARY standard",
        birth="1958-12-12",
        given="Shay",
        observations=(
            sct("449918009", "Nocturnal leg cramp", category="survey"),
            loinc(
                "2601-3",
                "Magnesium [Moles/volume] in Serum or Plasma",
                category="laboratory",
                value=qty(1.5, "mg/dL"),
            ),
        ),
    ),
    Scenario(
        "fibromyalgia-calf-pain",
        "calf pain in a patient with fibromyalgia and no red flag",
        "R-FIBROMYALGIA standard",
        birth="1974-02-28",
        given="Tatum",
        observations=(CALF_PAIN_BOTH,),
        conditions=(
            Cond("203082005", "Fibromyalgia", onset="2020-10-01", recorded="2020-10-01T09:00:00Z"),
        ),
    ),
    # --- tier S -------------------------------------------------------------------------------
    Scenario(
        "rest-post-exercise-calf-soreness",
        "calf soreness the day after a hard run, leg swelling recorded absent",
        "R-REST unexamined",
        birth="1992-04-30",
        given="Wren",
        observations=(
            CALF_PAIN_BOTH,
            local(
                "recent-strenuous-exertion",
                "Recent strenuous exertion",
                at=YESTERDAY,
                category="survey",
            ),
            sct("449615005", "Swelling of lower leg", value=FALSE),
        ),
    ),
    Scenario(
        "cramps-self-care-normal-potassium",
        "night calf cramps with a normal potassium (4.1 mmol/L)",
        "R-CRAMP-SELFCARE standard",
        birth="1969-11-30",
        given="Ari",
        observations=(
            sct("449918009", "Nocturnal leg cramp", category="survey"),
            loinc(
                "2823-3",
                "Potassium [Moles/volume] in Serum or Plasma",
                category="laboratory",
                value=qty(4.1, "mmol/L"),
            ),
        ),
    ),
    Scenario(
        "calf-pain-no-red-flag-data",
        "calf pain and nothing else recorded",
        "R-NO-RED-FLAG-DATA clear",
        birth="1986-08-18",
        given="Lane",
        observations=(CALF_PAIN_LEFT,),
    ),
    Scenario(
        "calf-pain-tachycardia-only",
        "calf pain with a heart rate of 108/min and nothing else (heart rate alone)",
        "R-PE-SIGN standard",
        birth="1987-03-23",
        gender="male",
        given="Reagan",
        observations=(
            CALF_PAIN_RIGHT,
            loinc("8867-4", "Heart rate", category="vital-signs", value=qty(108, "/min")),
        ),
    ),
    # --- reading semantics, envelope and prefetch ------------------------------------------------
    Scenario(
        "no-symptoms-routine-review",
        "a routine review: normal temperature, hypertension, no leg symptom",
        "none",
        birth="1971-07-14",
        given="Indigo",
        observations=(temperature(36.8, "Cel", "Cel"),),
        conditions=(
            Cond(
                "38341003",
                "Hypertensive disorder",
                onset="2018-02-02",
                recorded="2018-02-02T09:00:00Z",
            ),
        ),
    ),
    Scenario(
        "negation-explicit-absence",
        "calf pain, leg swelling and breathlessness all recorded as absent (false, No, NEG)",
        "none",
        birth="1982-01-09",
        given="Lennox",
        observations=(
            sct("300954003", "Pain in calf", value=FALSE, category="survey"),
            sct("449615005", "Swelling of lower leg", site=LOWER_LEG, side=LEFT, value=NO),
            sct("267036007", "Dyspnea", category="survey", interpretation="NEG"),
            Obs(
                LOINC,
                "75325-1",
                "Symptom",
                value={"valueCodeableConcept": concept(SCT, "55300003", "Cramp")},
                interpretation="NEG",
                category="survey",
            ),
        ),
    ),
    Scenario(
        "old-data-outside-window",
        "calf pain today; left leg swelling 20 days ago, fever and D-dimer 5 days ago",
        "R-NO-RED-FLAG-DATA clear",
        birth="1965-05-25",
        given="Marlowe",
        observations=(
            CALF_PAIN_LEFT,
            sct(
                "449615005",
                "Swelling of lower leg",
                site=LOWER_LEG,
                side=LEFT,
                at="2026-11-05T10:00:00Z",
            ),
            temperature(38.9, "Cel", "Cel", at="2026-11-20T08:00:00Z"),
            loinc(
                "48065-7",
                "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
                category="laboratory",
                value=qty(1400, "ng/mL{FEU}"),
                interpretation="H",
                at="2026-11-20T08:00:00Z",
            ),
        ),
    ),
    Scenario(
        "undated-swelling-counts-as-current",
        "calf pain with left leg swelling recorded without any date (counts, card says undated)",
        "R-DVT-PATHWAY incomplete",
        birth="1964-04-24",
        given="Pat",
        observations=(
            CALF_PAIN_LEFT,
            sct("449615005", "Swelling of lower leg", site=LOWER_LEG, side=LEFT, at=None),
        ),
    ),
    Scenario(
        "units-d-dimer-not-interpretable-blocks-rest",
        "calf soreness after exertion with a D-dimer in U/L (cannot be converted)",
        "R-NO-RED-FLAG-DATA unreadable",
        birth="1991-09-09",
        given="Quincy",
        observations=(
            CALF_PAIN_BOTH,
            local(
                "recent-strenuous-exertion",
                "Recent strenuous exertion",
                at=YESTERDAY,
                category="survey",
            ),
            loinc(
                "48065-7",
                "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
                category="laboratory",
                value=qty(300, "U/L"),
                at="2026-11-25T09:40:00Z",
            ),
        ),
    ),
    Scenario(
        "conflict-latest-record-wins-no-calf-pain",
        "calf pain recorded yesterday, recorded absent this morning: the latest record wins",
        "none",
        birth="1984-03-15",
        given="Ren",
        observations=(
            sct("300954003", "Pain in calf", category="survey", at=YESTERDAY),
            sct("300954003", "Pain in calf", category="survey", value=FALSE),
        ),
    ),
    Scenario(
        "conflict-equal-times-present-wins",
        "calf pain recorded present and absent at the same instant: present wins",
        "R-NO-RED-FLAG-DATA clear",
        birth="1984-03-16",
        given="Rene",
        observations=(
            sct("300954003", "Pain in calf", category="survey", value=FALSE),
            sct("300954003", "Pain in calf", category="survey", value=YES),
        ),
    ),
    Scenario(
        "fever-yesterday-not-cancelled-by-normal-today",
        "calf pain, 38.5 Cel yesterday and 36.9 Cel this morning (a threshold crossed counts)",
        "R-CALF-PAIN-FEVER standard",
        birth="1989-06-30",
        given="Shiloh",
        observations=(
            CALF_PAIN_RIGHT,
            temperature(38.5, "Cel", "Cel", at=YESTERDAY),
            temperature(36.9, "Cel", "Cel"),
        ),
    ),
    Scenario(
        "units-fahrenheit-exactly-100-4",
        "calf pain with a temperature of exactly 100.4 [degF] (= 38.0 Cel, the threshold)",
        "R-CALF-PAIN-FEVER standard",
        birth="1990-01-01",
        given="Sutton",
        observations=(CALF_PAIN, temperature(100.4, "[degF]", "[degF]")),
    ),
    Scenario(
        "dvt-d-dimer-exactly-500-feu",
        "left calf pain with D-dimer exactly 500 ng/mL FEU (>= 500 is positive), age 40",
        "R-DVT-PATHWAY incomplete",
        birth="1986-05-05",
        given="Teagan",
        observations=(
            CALF_PAIN_LEFT,
            loinc(
                "48065-7",
                "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
                category="laboratory",
                value=qty(500, "ng/mL{FEU}"),
                at="2026-11-25T09:40:00Z",
            ),
        ),
    ),
    Scenario(
        "pad-abi-exactly-0-90",
        "calf pain with an ABI of exactly 0.90 (<= 0.90 is PAD; no exercise ABI work-up)",
        "R-PAD abi-low",
        birth="1951-11-19",
        gender="male",
        given="Umber",
        observations=(
            CALF_PAIN_RIGHT,
            loinc(
                "77194-9",
                "Ankle-brachial index",
                category="procedure",
                value=qty(0.9, "1"),
                at="2026-11-24T11:00:00Z",
            ),
        ),
    ),
    Scenario(
        "condition-without-clinical-status-counts-active",
        "a critical limb ischaemia Condition with no clinicalStatus (R4 allows it: active)",
        "R-CLTI standard",
        birth="1945-08-08",
        gender="male",
        given="Vale",
        conditions=(
            Cond(
                "233962007",
                "Critical lower limb ischemia",
                onset="2026-11-20",
                clinical=None,
                category="encounter-diagnosis",
            ),
        ),
        observations=(temperature(36.7, "Cel", "Cel"),),
    ),
    Scenario(
        "condition-resolved-cellulitis-not-acute",
        "calf pain with a cellulitis Condition marked resolved (history only, not acute)",
        "R-NO-RED-FLAG-DATA clear",
        birth="1967-02-22",
        given="Wynn",
        observations=(CALF_PAIN_LEFT,),
        conditions=(
            Cond(
                "449711005",
                "Cellulitis of lower leg",
                onset="2026-11-10",
                clinical="resolved",
                recorded="2026-11-24T10:00:00Z",
                site=LOWER_LEG,
                side=LEFT,
            ),
        ),
    ),
    Scenario(
        "pe-suspected-cyanosis-without-leg-site",
        "left calf pain and swelling with cyanosis recorded without a leg site (a PE sign)",
        "R-PE-SUSPECTED standard; R-DVT-PATHWAY incomplete covered",
        birth="1962-12-12",
        given="Xan",
        observations=(CALF_PAIN_LEFT, LEG_SWELLING_LEFT, sct("3415004", "Cyanosis")),
    ),
    Scenario(
        "phlegmasia-near-miss-cyanosis-other-side",
        "left leg swelling with cyanosis of the right leg (not the same side)",
        "R-DVT-PATHWAY incomplete",
        birth="1957-09-29",
        given="Yael",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            sct("3415004", "Cyanosis", site=FOOT, side=RIGHT),
        ),
    ),
    Scenario(
        "ali-near-miss-cold-and-pulseless-on-opposite-sides",
        "calf pain; a cold right foot and absent left foot pulses (not the same side)",
        "R-ALI painful-cold",
        birth="1949-02-18",
        gender="male",
        given="Zeph",
        observations=(
            CALF_PAIN_RIGHT,
            sct("771542000", "Cold extremity", site=FOOT, side=RIGHT),
            local("absent-foot-pulses", "Absent foot pulses", site=FOOT, side=LEFT),
        ),
    ),
    Scenario(
        "laterality-bilateral-oedema-no-dvt",
        "calf pain with oedema of both legs (bilateral code and bodySite 51440002)",
        "R-NO-RED-FLAG-DATA clear",
        birth="1948-08-28",
        given="Nico",
        observations=(
            CALF_PAIN_BOTH,
            sct("762898005", "Swelling of bilateral lower limbs"),
            sct("102572006", "Edema of lower extremity", site=LOWER_LIMB, side=BOTH),
        ),
    ),
    Scenario(
        "laterality-side-unknown-swelling-dvt",
        "calf pain with leg swelling recorded without a side (counts as one-sided)",
        "R-DVT-PATHWAY incomplete",
        birth="1973-10-03",
        given="Perry",
        observations=(CALF_PAIN, sct("449615005", "Swelling of lower leg")),
    ),
    Scenario(
        "laterality-new-left-swelling-over-bilateral-oedema",
        "old oedema of both legs (5 days ago) and new left leg swelling today",
        "R-DVT-PATHWAY incomplete",
        birth="1947-12-24",
        given="Remy",
        observations=(
            CALF_PAIN_LEFT,
            sct(
                "102572006",
                "Edema of lower extremity",
                site=LOWER_LIMB,
                side=BOTH,
                at="2026-11-20T09:00:00Z",
            ),
            LEG_SWELLING_LEFT,
        ),
    ),
    Scenario(
        "entered-in-error-ignored",
        "calf pain; a cold pulseless foot and a DVT Condition both entered-in-error",
        "R-NO-RED-FLAG-DATA clear",
        birth="1951-04-14",
        given="Sasha",
        observations=(
            CALF_PAIN_RIGHT,
            sct("771542000", "Cold extremity", site=FOOT, side=RIGHT, status="entered-in-error"),
            local(
                "absent-foot-pulses",
                "Absent foot pulses",
                site=FOOT,
                side=RIGHT,
                status="entered-in-error",
            ),
        ),
        conditions=(
            Cond(
                "128053003",
                "Deep venous thrombosis",
                onset="2026-11-24",
                verification="entered-in-error",
            ),
        ),
    ),
    Scenario(
        "encounter-start-calf-pain-deep-vein-tenderness",
        "encounter-start hook: right calf pain with tenderness along the deep veins",
        "R-DVT-PATHWAY incomplete",
        birth="1967-07-27",
        gender="male",
        given="Toby",
        hook="encounter-start",
        encounter=True,
        observations=(
            CALF_PAIN_RIGHT,
            local("deep-vein-tenderness", "Tenderness along the deep veins", site=CALF, side=RIGHT),
        ),
    ),
    Scenario(
        "malformed-neighbours-red-flag-still-fires",
        "pain on passive stretch (compartment red flag) beside 3 entries that cannot be read",
        "R-COMPARTMENT standard; data-quality",
        birth="1994-06-16",
        gender="male",
        given="Vic",
        observations=(
            CALF_PAIN_LEFT,
            local("pain-on-passive-stretch", "Pain on passive stretch", site=CALF, side=LEFT),
            "Observation/garbage",
            {
                "resourceType": "Observation",
                "id": "hr-unreadable",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
                "effectiveDateTime": "yesterday morning",
                "valueQuantity": {"value": "fast", "unit": "/min"},
            },
        ),
        conditions=(
            {
                "resourceType": "Condition",
                "id": "condition-unreadable",
                "code": "DVT?",
                "subject": "Patient/unknown",
                "onsetDateTime": 20261124,
            },
        ),
    ),
    Scenario(
        "prefetch-null-conditions",
        "`conditions` prefetch is null (no data, not refetched); claudication in observations",
        "R-PAD no-abi",
        birth="1954-01-26",
        gender="male",
        given="Ash",
        observations=(
            CALF_PAIN_LEFT,
            sct("63491006", "Intermittent claudication", category="survey"),
        ),
        override={"conditions": None},
    ),
    Scenario(
        "prefetch-null-patient-red-flag-still-fires",
        "`patient` prefetch is null (no Patient: age unknown); a cold, pulseless right foot",
        "R-ALI threatened",
        given="Unknown",
        observations=(
            CALF_PAIN_RIGHT,
            sct("771542000", "Cold extremity", site=FOOT, side=RIGHT),
            sct("54518005", "Absent pulse", site=FOOT, side=RIGHT),
        ),
        override={"patient": None},
    ),
    Scenario(
        "prefetch-operation-outcome-conditions",
        "`conditions` prefetch is an OperationOutcome (unsatisfied, not fetchable from this"
        " fhirServer); one-sided ankle swelling in observations",
        "R-DVT-PATHWAY incomplete; data-quality",
        birth="1978-11-02",
        given="Bellamy",
        observations=(
            CALF_PAIN_LEFT,
            sct("26237000", "Ankle edema", site=ANKLE, side=LEFT),
        ),
        override={
            "conditions": {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "forbidden",
                        "diagnostics": "Condition search is not permitted for this client",
                    }
                ],
            }
        },
    ),
    # --- rule set 2026.2: new rules, variants, cover and merge ---------------------------------
    Scenario(
        "pe-suspected-pregnant-chest-pain",
        "pregnant, one-sided calf pain and swelling with chest pain",
        "R-PE-SUSPECTED pregnant; R-DVT-PATHWAY pregnant covered",
        birth="1993-05-20",
        given="Noor",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            PREGNANT,
            sct("29857009", "Chest pain", category="survey", at="2026-11-25T09:50:00Z"),
        ),
    ),
    Scenario(
        "pe-suspected-under-18-haemoptysis",
        "a 16-year-old with one-sided calf pain and swelling and haemoptysis",
        "R-PE-SUSPECTED under-18; R-DVT-PATHWAY under-18 covered",
        birth="2010-08-01",
        given="Lou",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            sct("66857006", "Hemoptysis", category="survey", at="2026-11-25T09:50:00Z"),
        ),
    ),
    Scenario(
        "pe-suspected-anticoagulated-syncope",
        "on an anticoagulant, one-sided calf pain and swelling and a syncope",
        "R-PE-SUSPECTED anticoagulated; R-DVT-PATHWAY anticoagulated covered",
        birth="1950-01-09",
        gender="male",
        given="Arne",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            local("on-anticoagulant", "On anticoagulant treatment", category="survey"),
            sct("271594007", "Syncope", category="survey", at="2026-11-25T09:50:00Z"),
        ),
    ),
    Scenario(
        "pe-suspected-hypoxic-spo2-88",
        "one-sided calf pain and swelling with an oxygen saturation of 88 %",
        "R-PE-SUSPECTED hypoxic; R-DVT-PATHWAY incomplete covered",
        birth="1972-04-04",
        given="Sasha",
        observations=(
            CALF_PAIN_LEFT,
            LEG_SWELLING_LEFT,
            loinc(
                "59408-5",
                "Oxygen saturation in Arterial blood by Pulse oximetry",
                category="vital-signs",
                value=qty(88, "%"),
                at="2026-11-25T10:00:00Z",
            ),
        ),
    ),
    Scenario(
        "dvt-diagnosed-recent-dvt-calf-pain",
        "left calf pain with an active DVT Condition diagnosed 5 days ago",
        "R-DVT-PATHWAY diagnosed",
        birth="1966-02-11",
        given="Billie",
        observations=(CALF_PAIN_LEFT,),
        conditions=(
            Cond(
                "404223003",
                "Deep venous thrombosis of lower extremity",
                onset="2026-11-20T08:00:00Z",
                recorded="2026-11-20T08:00:00Z",
                site=LOWER_LIMB,
                side=LEFT,
            ),
        ),
    ),
    Scenario(
        "dvt-unlikely-negative-d-dimer",
        "complete Wells of 1 (deep-vein tenderness) with a final D-dimer of 300 ng/mL FEU",
        "R-DVT-UNLIKELY standard",
        birth="1984-03-30",
        given="Dana",
        observations=(CALF_PAIN_LEFT, TENDER_LEFT, *WELLS_OTHERS_ABSENT, d_dimer(300)),
    ),
    Scenario(
        "dvt-unlikely-d-dimer-positive",
        "complete Wells of 1 (deep-vein tenderness) with a D-dimer of 900 ng/mL FEU",
        "R-DVT-PATHWAY unlikely-ddimer-positive",
        birth="1984-03-30",
        given="Eden",
        observations=(CALF_PAIN_LEFT, TENDER_LEFT, *WELLS_OTHERS_ABSENT, d_dimer(900)),
    ),
    Scenario(
        "dvt-unlikely-d-dimer-blocked-by-leg-cyanosis",
        "complete Wells of 1 and a negative D-dimer, but the left leg is cyanosed",
        "R-DVT-PATHWAY unlikely-ddimer-blocked",
        birth="1984-03-30",
        given="Fran",
        observations=(
            CALF_PAIN_LEFT,
            TENDER_LEFT,
            *WELLS_OTHERS_ABSENT,
            d_dimer(300),
            sct("3415004", "Cyanosis", site=LOWER_LEG, side=LEFT),
        ),
    ),
    Scenario(
        "dvt-unlikely-preliminary-d-dimer-not-negative",
        "complete Wells of 1 with a preliminary D-dimer of 300 ng/mL FEU (never negative)",
        "R-DVT-PATHWAY unlikely",
        birth="1984-03-30",
        given="Gale",
        observations=(
            CALF_PAIN_LEFT,
            TENDER_LEFT,
            *WELLS_OTHERS_ABSENT,
            d_dimer(300, status="preliminary"),
        ),
    ),
    Scenario(
        "dvt-unlikely-age-adjusted-d-dimer-650-at-80",
        "age 80, complete Wells of 1, D-dimer 650 ng/mL FEU: raised, but below age x 10",
        "R-DVT-UNLIKELY standard",
        birth="1946-06-01",
        given="Hale",
        observations=(CALF_PAIN_LEFT, TENDER_LEFT, *WELLS_OTHERS_ABSENT, d_dimer(650)),
    ),
    Scenario(
        "ischaemia-sign-cold-leg-with-claudication",
        "intermittent claudication with a cold left leg, no calf pain and no pulses recorded",
        "R-ISCHAEMIA-SIGN cold; R-PAD no-abi",
        birth="1951-07-07",
        gender="male",
        given="Ivo",
        observations=(
            sct("63491006", "Intermittent claudication", category="survey"),
            sct("771542000", "Cold extremity", site=FOOT, side=LEFT),
        ),
    ),
    Scenario(
        "ischaemia-sign-absent-pulses-calf-pain",
        "right calf pain with absent right foot pulses, nothing else",
        "R-ISCHAEMIA-SIGN pulseless",
        birth="1955-10-10",
        gender="male",
        given="Jude",
        observations=(
            CALF_PAIN_RIGHT,
            local("absent-foot-pulses", "Absent foot pulses", site=FOOT, side=RIGHT),
        ),
    ),
    Scenario(
        "ischaemia-sign-numb-leg-calf-pain",
        "left calf pain with numbness of the left leg and no sciatica",
        "R-ISCHAEMIA-SIGN deficit",
        birth="1977-12-12",
        given="Kit",
        observations=(
            CALF_PAIN_LEFT,
            sct("309537005", "Numbness of lower limb", site=LOWER_LIMB, side=LEFT),
        ),
    ),
    Scenario(
        "spinal-mscc-cancer-leg-weakness",
        "back pain and left leg weakness with active cancer "
        "(possible MSCC; one side: no cauda equina)",
        "R-SPINAL-RED-FLAG cancer-neuro",
        birth="1958-08-18",
        given="Lane",
        observations=(
            LOW_BACK_PAIN,
            sct("713514005", "Muscle weakness of limb", site=LOWER_LIMB, side=LEFT),
        ),
        conditions=(ACTIVE_CANCER,),
    ),
    Scenario(
        "spinal-fever-back-pain-calf-pain",
        "back pain with calf pain and a temperature of 38.6 Cel",
        "R-SPINAL-RED-FLAG fever; R-CALF-PAIN-FEVER standard covered",
        birth="1969-09-19",
        given="Mika",
        observations=(CALF_PAIN, LOW_BACK_PAIN, temperature(38.6, "Cel", "Cel")),
    ),
    Scenario(
        "spinal-fever-cancer-sciatica",
        "sciatica with active cancer and a temperature of 38.4 Cel",
        "R-SPINAL-RED-FLAG fever-cancer; R-RADICULOPATHY standard covered",
        birth="1961-11-21",
        gender="male",
        given="Nico",
        observations=(
            sct("23056005", "Sciatica", category="survey"),
            temperature(38.4, "Cel", "Cel"),
        ),
        conditions=(ACTIVE_CANCER,),
    ),
    Scenario(
        "cauda-equina-with-sciatica-and-weakness",
        "sciatica with leg weakness and urinary retention: cauda equina covers the spinal cards",
        "R-CAUDA-EQUINA standard; R-RADICULAR-DEFICIT standard covered; "
        "R-RADICULOPATHY standard covered",
        birth="1975-01-25",
        given="Oak",
        observations=(
            CALF_PAIN,
            sct("23056005", "Sciatica", category="survey"),
            sct("713514005", "Muscle weakness of limb", site=LOWER_LIMB, side=LEFT),
            sct("267064002", "Retention of urine", category="survey"),
        ),
    ),
    Scenario(
        "myositis-diagnosed-calf-pain",
        "calf pain with an active polymyositis Condition and no CK",
        "R-MYOSITIS diagnosed",
        birth="1974-04-14",
        given="Pat",
        observations=(CALF_PAIN,),
        conditions=(Cond("31384009", "Polymyositis", onset="2024-02-01"),),
    ),
    Scenario(
        "pad-claudication-abi-1-05",
        "intermittent claudication with a resting ABI of 1.05 (not low): exercise ABI next",
        "R-PAD abi-not-low",
        birth="1956-05-15",
        gender="male",
        given="Quill",
        observations=(sct("63491006", "Intermittent claudication", category="survey"), abi(1.05)),
    ),
    Scenario(
        "pad-workup-non-compressible-abi-1-5",
        "calf pain with an ABI of 1.5 (arteries may be incompressible): toe-brachial index",
        "R-PAD-WORKUP non-compressible",
        birth="1948-03-03",
        gender="male",
        given="Remy",
        observations=(CALF_PAIN, abi(1.5)),
    ),
    Scenario(
        "rest-examined-post-exercise-soreness",
        "calf soreness after exertion; swelling, redness and warmth recorded absent, 36.8 Cel",
        "R-REST examined",
        birth="1998-06-06",
        gender="male",
        given="Sol",
        observations=(
            CALF_PAIN_BOTH,
            local(
                "recent-strenuous-exertion",
                "Recent strenuous exertion",
                at=YESTERDAY,
                category="survey",
            ),
            sct("449615005", "Swelling of lower leg", site=LOWER_LEG, side=BOTH, value=FALSE),
            sct("247441003", "Erythema", site=LOWER_LEG, side=BOTH, value=FALSE),
            local("leg-warmth", "Warmth of leg", site=LOWER_LEG, side=BOTH, value=FALSE),
            temperature(36.8, "Cel", "Cel"),
        ),
    ),
    Scenario(
        "svt-and-varicose-veins-one-referral",
        "superficial thrombophlebitis in a patient with varicose veins: one vein-clinic referral",
        "R-SVT standard; R-VARICOSE standard merged",
        birth="1960-10-30",
        given="Tam",
        observations=(
            CALF_PAIN_LEFT,
            sct("275517008", "Superficial thrombophlebitis of leg", site=LOWER_LEG, side=LEFT),
        ),
        conditions=(Cond("72866009", "Varicose veins of lower extremity", onset="2012-04-01"),),
    ),
)


def _site(site: tuple[str, str] | None, side: tuple[str, str] | None) -> dict[str, Any] | None:
    codings = [
        {"system": SCT, "code": code, "display": name} for code, name in (site, side) if code
    ]
    if not codings:
        return None
    text = " ".join(name.lower() for _, name in (side, site) if name)
    return {"coding": codings, "text": text}


def _pair(value: tuple[str, str] | None) -> tuple[str, str]:
    return value if value is not None else ("", "")


def observation(obs: Obs, rid: str, patient_ref: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": obs.status,
        "category": [
            {"coding": [{"system": OBS_CATEGORY, "code": obs.category}], "text": obs.category}
        ],
        "code": concept(obs.system, obs.code, obs.display),
        "subject": {"reference": patient_ref},
    }
    if obs.at is not None:
        resource["effectiveDateTime"] = obs.at
        if obs.category == "laboratory":
            resource["issued"] = obs.at.replace("Z", ".000Z")
    resource.update(obs.value)
    if obs.interpretation:
        resource["interpretation"] = [
            {"coding": [{"system": INTERPRETATION, "code": obs.interpretation}]}
        ]
    site = _site(_pair(obs.site), _pair(obs.side)) if obs.site or obs.side else None
    if site:
        resource["bodySite"] = site
    if obs.reference_high:
        value, unit = obs.reference_high
        resource["referenceRange"] = [
            {"high": {"value": value, "unit": unit, "system": UCUM, "code": unit}}
        ]
    return resource


def condition(cond: Cond, rid: str, patient_ref: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Condition", "id": rid}
    if cond.clinical:
        resource["clinicalStatus"] = {"coding": [{"system": COND_CLINICAL, "code": cond.clinical}]}
    resource["verificationStatus"] = {
        "coding": [{"system": COND_VERIFICATION, "code": cond.verification}]
    }
    resource["category"] = [{"coding": [{"system": COND_CATEGORY, "code": cond.category}]}]
    resource["code"] = concept(SCT, cond.code, cond.display)
    site = _site(_pair(cond.site), _pair(cond.side)) if cond.site or cond.side else None
    if site:
        resource["bodySite"] = [site]
    resource["subject"] = {"reference": patient_ref}
    if cond.onset:
        resource["onsetDateTime"] = cond.onset
    resource["recordedDate"] = cond.recorded
    return resource


def searchset(resources: list[Any], resource_type: str, pid: str) -> dict[str, Any]:
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {}
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            entry["fullUrl"] = f"{FHIR_SERVER}/{resource['resourceType']}/{resource['id']}"
        entry["resource"] = resource
        entry["search"] = {"mode": "match"}
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{FHIR_SERVER}/{resource_type}?patient={pid}"}],
        "entry": entries,
    }


def patient_id(scenario: Scenario) -> str:
    return "calf-" + uuid.uuid5(HOOK_NAMESPACE, "patient:" + scenario.name).hex[:12]


def request(scenario: Scenario) -> dict[str, Any]:
    pid = patient_id(scenario)
    ref = f"Patient/{pid}"
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "https://ehr.example.org/mrn", "value": pid.upper()}],
        "name": [{"use": "official", "family": "Example", "given": [scenario.given]}],
        "gender": scenario.gender,
    }
    if scenario.birth:
        patient["birthDate"] = scenario.birth
    observations = [
        observation(obs, f"{pid}-obs-{n}", ref) if isinstance(obs, Obs) else obs
        for n, obs in enumerate(scenario.observations, start=1)
    ]
    conditions = [
        condition(cond, f"{pid}-cond-{n}", ref) if isinstance(cond, Cond) else cond
        for n, cond in enumerate(scenario.conditions, start=1)
    ]
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": pid}
    if scenario.encounter:
        context["encounterId"] = f"{pid}-enc-1"
    prefetch: dict[str, Any] = {
        "patient": patient,
        "observations": searchset(observations, "Observation", pid),
        "conditions": searchset(conditions, "Condition", pid),
    }
    prefetch.update(scenario.override)
    return {
        "hook": scenario.hook,
        "hookInstance": str(uuid.uuid5(HOOK_NAMESPACE, "hook:" + scenario.name)),
        "fhirServer": FHIR_SERVER,
        "context": context,
        "prefetch": prefetch,
        # The sample's own reference time: calf-cds evaluates it as of then while
        # authentication is off, so it gives its documented cards on any date.
        "extension": {"example.calf-cds": {"evaluationTime": EVALUATION_TIME}},
    }


def readme() -> str:
    lines = [
        "# fhir_samples",
        "",
        "One complete CDS Hooks 2.0 request per clinical scenario, generated by",
        "`scripts/make_samples.py` (edit the scenario there and regenerate; do not edit the JSON).",
        "Observations are dated 2026-11-23 to 2026-11-25T11:00Z unless the scenario is about",
        "time windows. Each request carries its reference time,",
        f'`extension["example.calf-cds"].evaluationTime` = {EVALUATION_TIME}, and calf-cds',
        "evaluates it as of then while authentication is off, so it gives the cards below on any",
        'date (`calf-cds evaluate --now` and the console\'s "as of" field evaluate it at another',
        "time). `tests/test_golden.py` posts each file to its service (patient-view ->",
        "`calf-pain-triage`, encounter-start -> `calf-pain-triage-encounter`) with the service's",
        "clock 0, 30 and 400 days after that time, and checks the cards against expectations",
        "written from the clinical rules (rule set 2026.2; [docs/rules.md](../docs/rules.md)).",
        "All names and identifiers are synthetic.",
        "",
        "| file | shows | expected cards (default route profile) |",
        "|---|---|---|",
    ]
    for scenario in sorted(SCENARIOS, key=lambda s: s.name):
        lines.append(f"| `{scenario.name}.json` | {scenario.shows} | {scenario.expect} |")
    return "\n".join(lines) + "\n"


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in SCENARIOS]
    if len(names) != len(set(names)):
        raise SystemExit("duplicate scenario names")
    written = []
    for scenario in SCENARIOS:
        path = out_dir / f"{scenario.name}.json"
        path.write_text(
            json.dumps(request(scenario), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        written.append(path)
    (out_dir / "README.md").write_text(readme(), encoding="utf-8")
    return written


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else REPO / "fhir_samples"
    written = write_all(out_dir)
    stale = sorted(set(out_dir.glob("*.json")) - set(written))
    for path in stale:
        print(f"not generated here (remove or add a scenario): {path.name}", file=sys.stderr)
    print(f"wrote {len(written)} samples and README.md to {out_dir}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
