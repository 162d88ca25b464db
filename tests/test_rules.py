"""The rule table (clinical-rules.md §4, rule set 2026.2): one firing case and one near-miss per
rule; the table's invariants as data."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from finding_factory import B, L, R, U, extraction, f

from cds.core import findings, rules, wording
from cds.core.engine import evaluate
from cds.core.model import (
    TAG_AT_ANY_SITE,
    TAG_COLD,
    TAG_HEART_RATE,
    TAG_MOTOR,
    TAG_PAIN_OUT_OF_PROPORTION,
    TAG_SENSORY,
    TAG_SUPERFICIAL_CORD,
    TAG_SUPPORTING,
    Finding,
    Tier,
)
from cds.core.routes import ROUTE_KEYS
from cds.core.rules import (
    RULES,
    RULES_BY_ID,
    AllOf,
    Always,
    AnyOf,
    DDimer,
    Group,
    Measure,
    NoRuleOfTiers,
    Not,
    NotInterpretable,
    Present,
    Recorded,
    RecordedClear,
    RuleFires,
    SameSide,
    SelfCareAllowed,
    Source,
    Wells,
    check_table,
    dependencies,
    evaluation_order,
    walk,
)

SPEC_TIERS = {
    "E": {"R-PE-SUSPECTED", "R-PHLEGMASIA", "R-ALI", "R-CAUDA-EQUINA", "R-COMPARTMENT",
          "R-NECROTISING", "R-RHABDO", "R-SEVERE-ELECTROLYTE", "R-BLEEDING-VARICOSE"},
    "U": {"R-DVT-PATHWAY", "R-PE-SIGN", "R-ISCHAEMIA-SIGN", "R-SVT", "R-CLTI", "R-CELLULITIS",
          "R-CALF-PAIN-FEVER", "R-RADICULAR-DEFICIT", "R-SPINAL-RED-FLAG", "R-MYOSITIS",
          "R-ACHILLES"},
    "R": {"R-DVT-UNLIKELY", "R-PAD", "R-PAD-WORKUP", "R-RADICULOPATHY", "R-VARICOSE",
          "R-CRAMP-SECONDARY", "R-FIBROMYALGIA"},
    "S": {"R-REST", "R-CRAMP-SELFCARE", "R-NO-RED-FLAG-DATA"},
}  # fmt: skip
SPEC_RULE_IDS = set().union(*SPEC_TIERS.values())
SPEC_ROUTES = {
    "R-PE-SUSPECTED": "emergency", "R-PHLEGMASIA": "emergency", "R-ALI": "emergency",
    "R-CAUDA-EQUINA": "emergency", "R-COMPARTMENT": "emergency", "R-NECROTISING": "emergency",
    "R-RHABDO": "emergency", "R-SEVERE-ELECTROLYTE": "emergency",
    "R-BLEEDING-VARICOSE": "emergency", "R-DVT-PATHWAY": "dvt-pathway", "R-PE-SIGN": "none",
    "R-ISCHAEMIA-SIGN": "none", "R-SVT": "phlebology-urgent", "R-CLTI": "vascular-urgent",
    "R-CELLULITIS": "primary-care-same-day", "R-CALF-PAIN-FEVER": "primary-care-same-day",
    "R-RADICULAR-DEFICIT": "spinal-urgent", "R-SPINAL-RED-FLAG": "mscc",
    "R-MYOSITIS": "rheumatology-urgent", "R-ACHILLES": "orthopaedics-urgent",
    "R-DVT-UNLIKELY": "none", "R-PAD": "vascular", "R-PAD-WORKUP": "abi-workup",
    "R-RADICULOPATHY": "neurology", "R-VARICOSE": "phlebology",
    "R-CRAMP-SECONDARY": "primary-care", "R-FIBROMYALGIA": "rheumatology", "R-REST": "self-care",
    "R-CRAMP-SELFCARE": "self-care", "R-NO-RED-FLAG-DATA": "none",
}  # fmt: skip
# §7.4 variant selection: every rule's variants, in selection order.
SPEC_VARIANTS = {
    "R-PE-SUSPECTED": ["pregnant", "under-18", "anticoagulated", "hypoxic", "standard"],
    "R-ALI": ["threatened", "painful-cold"],
    "R-RHABDO": ["ck", "no-ck"],
    "R-DVT-PATHWAY": ["diagnosed", "pregnant", "under-18", "anticoagulated", "likely",
                      "incomplete", "unlikely-ddimer-positive", "unlikely-ddimer-blocked",
                      "unlikely"],
    "R-ISCHAEMIA-SIGN": ["cold", "pulseless", "deficit"],
    "R-SPINAL-RED-FLAG": ["cancer-neuro", "fever-cancer", "fever", "cancer"],
    "R-MYOSITIS": ["ck", "diagnosed"],
    "R-PAD": ["abi-low", "no-abi", "abi-not-low", "abi-not-low", "abi-not-low"],
    "R-PAD-WORKUP": ["non-compressible", "borderline", "no-abi"],
    "R-REST": ["examined", "unexamined"],
    "R-NO-RED-FLAG-DATA": ["unreadable", "clear"],
}  # fmt: skip


def wells_absent(**kwargs: Any) -> list[Finding]:
    """Every Wells item but tenderness recorded absent, dated (§5): with tenderness, Wells 1."""
    items = (
        "F-ACTIVE-CANCER", "F-PARESIS-OR-CAST", "F-BEDRIDDEN-OR-SURGERY", "F-ENTIRE-LEG-SWOLLEN",
        "F-CALF-SWELLING-3CM", "F-PITTING-EDEMA", "F-COLLATERAL-VEINS", "F-PREVIOUS-DVT",
        "F-ALTERNATIVE-DX-LIKELY",
    )  # fmt: skip
    return [f(item, present=False, **kwargs) for item in items]


def d_dimer(value: float, **kwargs: Any) -> Finding:
    present = value >= 500
    return f(
        "F-D-DIMER",
        value=value,
        unit="ng/mL",
        analyte="d-dimer",
        basis="FEU",
        present=present,
        days_ago=0.1,
        **kwargs,
    )


def ck(multiple: float) -> Finding:
    return f("F-CK", value=multiple, unit="xULN")


def abi(ratio: float, **kwargs: Any) -> Finding:
    return f("F-ABI", value=ratio, unit="{ratio}", **kwargs)


MOTOR = {"tags": {TAG_MOTOR}, "code": "102568007"}

# One case per rule: the findings that make it fire (clinical-rules.md §4, row by row).
FIRING: list[Any] = [
    pytest.param("R-PE-SUSPECTED", [f("F-DVT-DX"), f("F-PE-SYMPTOM")], id="pe-dvt-dx-dyspnoea"),
    pytest.param(
        "R-PE-SUSPECTED",
        [f("F-CALF-PAIN", side=L), f("F-LEG-SWELLING", side=L), f("F-PE-SYMPTOM")],
        id="pe-after-dvt-pathway",
    ),
    pytest.param(
        "R-PHLEGMASIA", [f("F-LEG-SWELLING", side=L), f("F-CYANOSIS", side=L)], id="phlegmasia"
    ),
    pytest.param(
        "R-PHLEGMASIA",
        [f("F-ENTIRE-LEG-SWOLLEN", side=R), f("F-CYANOSIS", side=U)],
        id="phlegmasia-entire-leg-side-unknown-cyanosis",
    ),
    pytest.param("R-ALI", [f("F-ALI-DX")], id="ali-dx"),
    pytest.param("R-ALI", [f("F-PAINFUL-COLD-LIMB")], id="ali-painful-cold-limb-alone"),
    pytest.param(
        "R-ALI",
        [f("F-COLD-LIMB", side=R, tags={TAG_COLD}), f("F-CALF-PAIN", side=R)],
        id="ali-derived-painful-cold-limb-2026-2",
    ),
    pytest.param(
        "R-ALI",
        [f("F-COLD-LIMB", side=B, tags={TAG_COLD}), f("F-CALF-PAIN", side=L)],
        id="ali-bilateral-cold-matches-either-side",
    ),
    pytest.param(
        "R-ALI", [f("F-COLD-LIMB", side=L), f("F-PULSELESS", side=L)], id="ali-cold-pulse"
    ),
    pytest.param(
        "R-ALI",
        [f("F-COLD-LIMB", side=L), f("F-SENSORY-MOTOR-LOSS", side=U)],
        id="ali-cold-numb-side-unknown",
    ),
    pytest.param(
        "R-ALI",
        [f("F-PULSELESS", side=R), f("F-SENSORY-MOTOR-LOSS", side=R, **MOTOR)],
        id="ali-pulseless-motor",
    ),
    pytest.param("R-CAUDA-EQUINA", [f("F-CAUDA-EQUINA-DX")], id="ces-dx"),
    pytest.param(
        "R-CAUDA-EQUINA",
        [f("F-BLADDER-BOWEL-FLAG"), f("F-LOW-BACK-PAIN")],
        id="ces-bladder-back-pain",
    ),
    pytest.param(
        "R-CAUDA-EQUINA",
        [f("F-RADICULAR", side=L), f("F-RADICULAR", side=R)],
        id="ces-bilateral-radicular-left-and-right",
    ),
    pytest.param(
        "R-CAUDA-EQUINA",
        [f("F-SENSORY-MOTOR-LOSS", side=B, **MOTOR), f("F-LOW-BACK-PAIN")],
        id="ces-bilateral-motor-loss",
    ),
    pytest.param("R-COMPARTMENT", [f("F-COMPARTMENT")], id="compartment"),
    pytest.param("R-NECROTISING", [f("F-NECROTISING")], id="necrotising-dx"),
    pytest.param(
        "R-NECROTISING",
        [
            f("F-ERYTHEMA"),
            f("F-WARMTH"),
            f("F-COMPARTMENT", tags={TAG_PAIN_OUT_OF_PROPORTION}, code="pain-out-of-proportion"),
        ],
        id="necrotising-erythema-warmth-pain-out-of-proportion",
    ),
    pytest.param("R-RHABDO", [f("F-RHABDO", code="240131006")], id="rhabdo-dx"),
    pytest.param("R-RHABDO", [ck(41)], id="rhabdo-ck-over-40x"),
    pytest.param(
        "R-RHABDO",
        [
            f("F-RHABDO", code="dark-urine"),
            f("F-CALF-PAIN", tags={TAG_AT_ANY_SITE, TAG_SUPPORTING}),
        ],
        id="rhabdo-dark-urine-muscle-pain-any-site",
    ),
    pytest.param("R-SEVERE-ELECTROLYTE", [f("F-SEVERE-ELECTROLYTE")], id="electrolyte"),
    pytest.param("R-BLEEDING-VARICOSE", [f("F-BLEEDING-VARICOSITY")], id="bleeding-varicose"),
    pytest.param(
        "R-DVT-PATHWAY", [f("F-CALF-PAIN"), f("F-LEG-SWELLING", side=L)], id="dvt-unilateral"
    ),
    pytest.param(
        "R-DVT-PATHWAY", [f("F-CALF-PAIN"), f("F-ANKLE-SWELLING", side=U)], id="dvt-side-unknown"
    ),
    pytest.param("R-DVT-PATHWAY", [f("F-CRAMP"), f("F-D-DIMER")], id="dvt-d-dimer-positive"),
    pytest.param(
        "R-DVT-PATHWAY", [f("F-CALF-PAIN"), f("F-DEEP-VEIN-TENDERNESS")], id="dvt-tenderness"
    ),
    pytest.param(
        "R-DVT-PATHWAY", [f("F-CALF-PAIN"), f("F-PE-SYMPTOM", code="267036007")], id="dvt-dyspnoea"
    ),
    pytest.param(
        "R-DVT-UNLIKELY",
        [
            f("F-CALF-PAIN", side=L),
            f("F-DEEP-VEIN-TENDERNESS", side=L),
            *wells_absent(),
            d_dimer(300),
        ],
        id="dvt-unlikely-complete-wells-1-negative-d-dimer",
    ),
    pytest.param(
        "R-PE-SIGN",
        [f("F-CALF-PAIN"), f("F-PE-SYMPTOM", tags={TAG_HEART_RATE}, value=108, unit="/min")],
        id="pe-sign-heart-rate-alone",
    ),
    pytest.param(
        "R-ISCHAEMIA-SIGN", [f("F-CLAUDICATION"), f("F-COLD-LIMB", side=L)], id="ischaemia-cold"
    ),
    pytest.param(
        "R-ISCHAEMIA-SIGN",
        [f("F-CALF-PAIN", side=R), f("F-PULSELESS", side=R)],
        id="ischaemia-pulseless",
    ),
    pytest.param(
        "R-ISCHAEMIA-SIGN",
        [f("F-CALF-PAIN", side=L), f("F-SENSORY-MOTOR-LOSS", side=L, tags={TAG_SENSORY})],
        id="ischaemia-deficit-without-sciatica",
    ),
    pytest.param("R-SVT", [f("F-SVT")], id="svt"),
    pytest.param(
        "R-SVT",
        [f("F-ERYTHEMA"), f("F-SVT", tags={TAG_SUPERFICIAL_CORD}, code="superficial-vein-cord")],
        id="svt-erythema-cord",
    ),
    pytest.param("R-CLTI", [abi(0.35)], id="clti-abi"),
    pytest.param("R-CLTI", [f("F-GANGRENE")], id="clti-gangrene"),
    pytest.param("R-CELLULITIS", [f("F-CELLULITIS")], id="cellulitis-dx"),
    pytest.param(
        "R-CELLULITIS", [f("F-ERYTHEMA"), f("F-WARMTH"), f("F-FEVER")], id="cellulitis-signs"
    ),
    pytest.param("R-CALF-PAIN-FEVER", [f("F-CALF-PAIN"), f("F-FEVER")], id="calf-pain-fever"),
    pytest.param(
        "R-RADICULAR-DEFICIT",
        [f("F-RADICULAR"), f("F-SENSORY-MOTOR-LOSS", **MOTOR)],
        id="radicular-deficit",
    ),
    pytest.param(
        "R-SPINAL-RED-FLAG", [f("F-LOW-BACK-PAIN"), f("F-ACTIVE-CANCER")], id="spinal-cancer"
    ),
    pytest.param("R-SPINAL-RED-FLAG", [f("F-RADICULAR"), f("F-FEVER")], id="spinal-fever"),
    pytest.param("R-MYOSITIS", [f("F-MYOSITIS-DX")], id="myositis-dx"),
    pytest.param("R-MYOSITIS", [ck(12), f("F-CALF-PAIN")], id="myositis-ck-calf-pain"),
    pytest.param(
        "R-MYOSITIS",
        [ck(12), f("F-CALF-PAIN", tags={TAG_AT_ANY_SITE, TAG_SUPPORTING}, code="68962001")],
        id="myositis-ck-muscle-pain-any-site",
    ),
    pytest.param(
        "R-MYOSITIS",
        [ck(12), f("F-SENSORY-MOTOR-LOSS", tags={TAG_MOTOR}, code="713514005")],
        id="myositis-ck-weakness",
    ),
    pytest.param("R-ACHILLES", [f("F-ACHILLES-RUPTURE")], id="achilles-dx"),
    pytest.param(
        "R-ACHILLES", [f("F-CALF-PAIN"), f("F-UNABLE-WEIGHT-BEAR")], id="achilles-weight-bearing"
    ),
    pytest.param("R-PAD", [f("F-CLAUDICATION")], id="pad-claudication"),
    pytest.param("R-PAD", [f("F-CALF-PAIN"), abi(0.9)], id="pad-abi-0.90"),
    pytest.param("R-PAD", [f("F-RADICULAR"), f("F-PAD-DX")], id="pad-dx-leg-symptom"),
    pytest.param(
        "R-PAD-WORKUP", [f("F-CALF-PAIN"), f("F-CALF-ATROPHY")], id="pad-workup-trophic-no-abi"
    ),
    pytest.param(
        "R-PAD-WORKUP",
        [f("F-CALF-PAIN"), f("F-TROPHIC-SKIN"), abi(1.1, in_window=False, days_ago=400)],
        id="pad-workup-abi-outside-window",
    ),
    pytest.param("R-PAD-WORKUP", [f("F-CALF-PAIN"), abi(0.95)], id="pad-workup-borderline-abi"),
    pytest.param("R-PAD-WORKUP", [f("F-CALF-PAIN"), abi(1.5)], id="pad-workup-incompressible"),
    pytest.param("R-RADICULOPATHY", [f("F-RADICULAR")], id="radiculopathy"),
    pytest.param(
        "R-RADICULOPATHY",
        [f("F-NEUROGENIC-CLAUDICATION"), f("F-CRAMP")],
        id="radiculopathy-neurogenic-claudication",
    ),
    pytest.param("R-VARICOSE", [f("F-CALF-PAIN"), f("F-VARICOSE")], id="varicose"),
    pytest.param(
        "R-VARICOSE",
        [f("F-CALF-PAIN"), f("F-ANKLE-SWELLING", side=B), f("F-EVENING-PAIN")],
        id="varicose-evening-ankle-swelling",
    ),
    pytest.param("R-CRAMP-SECONDARY", [f("F-CRAMP"), f("F-CRAMP-CAUSE")], id="cramp-secondary"),
    pytest.param("R-FIBROMYALGIA", [f("F-FIBROMYALGIA"), f("F-CALF-PAIN")], id="fibromyalgia"),
    pytest.param("R-REST", [f("F-CALF-PAIN"), f("F-EXERTION")], id="rest"),
    pytest.param("R-CRAMP-SELFCARE", [f("F-CRAMP")], id="cramp-selfcare"),
    pytest.param("R-NO-RED-FLAG-DATA", [f("F-CALF-PAIN")], id="no-red-flag-data"),
]

# One near-miss per rule: close to the row, but §4 (or §1-§2) says it must not fire.
NEAR_MISS: list[Any] = [
    pytest.param("R-PE-SUSPECTED", [f("F-PE-SYMPTOM")], id="pe-symptom-without-thrombosis"),
    pytest.param(
        "R-PHLEGMASIA",
        [f("F-LEG-SWELLING", side=L), f("F-CYANOSIS", side=R)],
        id="phlegmasia-opposite-sides",
    ),
    pytest.param(
        "R-PHLEGMASIA",
        [f("F-LEG-SWELLING", side=B), f("F-CYANOSIS", side=L)],
        id="phlegmasia-bilateral-swelling-is-not-unilateral",
    ),
    pytest.param(
        "R-ALI", [f("F-COLD-LIMB", side=L), f("F-PULSELESS", side=R)], id="ali-opposite-sides"
    ),
    pytest.param(
        "R-ALI",
        [f("F-COLD-LIMB", side=L), f("F-CALF-PAIN", side=R)],
        id="ali-cold-and-pain-opposite-sides",
    ),
    pytest.param(
        "R-ALI",
        [f("F-PULSELESS", side=L), f("F-SENSORY-MOTOR-LOSS", side=L, code="91019004")],
        id="ali-pulseless-with-sensory-only",
    ),
    pytest.param(
        "R-CAUDA-EQUINA",
        [f("F-RADICULAR", side=L), f("F-LOW-BACK-PAIN")],
        id="ces-unilateral-radicular",
    ),
    pytest.param("R-CAUDA-EQUINA", [f("F-BLADDER-BOWEL-FLAG")], id="ces-bladder-alone"),
    pytest.param(
        "R-COMPARTMENT",
        [f("F-COMPARTMENT", in_window=False, days_ago=30)],
        id="compartment-outside-window",
    ),
    pytest.param(
        "R-NECROTISING",
        [f("F-CELLULITIS"), f("F-COMPARTMENT", code="pain-on-passive-stretch")],
        id="necrotising-needs-pain-out-of-proportion",
    ),
    pytest.param("R-RHABDO", [ck(40)], id="rhabdo-ck-exactly-40x"),
    pytest.param("R-RHABDO", [f("F-RHABDO", code="dark-urine")], id="rhabdo-dark-urine-alone"),
    pytest.param(
        "R-SEVERE-ELECTROLYTE", [f("F-SEVERE-ELECTROLYTE", present=False)], id="electrolyte-absent"
    ),
    pytest.param(
        "R-BLEEDING-VARICOSE",
        [f("F-BLEEDING-VARICOSITY", tags={TAG_SUPPORTING})],
        id="bleeding-supporting-only",
    ),
    pytest.param(
        "R-DVT-PATHWAY",
        [f("F-CALF-PAIN"), f("F-LEG-SWELLING", side=B)],
        id="dvt-bilateral-swelling",
    ),
    pytest.param(
        "R-DVT-PATHWAY",
        [f("F-CALF-PAIN"), f("F-PE-SYMPTOM", tags={TAG_HEART_RATE}, value=110, unit="/min")],
        id="dvt-heart-rate-alone",
    ),
    pytest.param(
        "R-DVT-PATHWAY",
        [f("F-CALF-PAIN"), f("F-PITTING-EDEMA", side=B)],
        id="dvt-bilateral-pitting-oedema",
    ),
    pytest.param("R-DVT-PATHWAY", [f("F-DEEP-VEIN-TENDERNESS")], id="dvt-needs-calf-symptom"),
    pytest.param(
        "R-DVT-UNLIKELY",
        [
            f("F-CALF-PAIN", side=L),
            f("F-DEEP-VEIN-TENDERNESS", side=L),
            *wells_absent(),
            d_dimer(300),
            f("F-PE-SYMPTOM", tags={TAG_HEART_RATE}, value=108, unit="/min"),
        ],
        id="dvt-unlikely-never-beside-a-pe-sign",
    ),
    pytest.param(
        "R-PE-SIGN",
        [
            f("F-CALF-PAIN", side=L),
            f("F-LEG-SWELLING", side=L),
            f("F-PE-SYMPTOM", code="267036007"),
        ],
        id="pe-sign-not-when-pe-suspected-fires",
    ),
    pytest.param(
        "R-ISCHAEMIA-SIGN",
        [
            f("F-CALF-PAIN", side=L),
            f("F-SENSORY-MOTOR-LOSS", side=L, tags={TAG_SENSORY}),
            f("F-RADICULAR", side=L),
        ],
        id="ischaemia-deficit-with-sciatica-is-radicular",
    ),
    pytest.param("R-SVT", [f("F-ERYTHEMA")], id="svt-erythema-alone"),
    pytest.param("R-CLTI", [abi(0.40)], id="clti-abi-0.40"),
    pytest.param("R-CELLULITIS", [f("F-ERYTHEMA"), f("F-WARMTH")], id="cellulitis-no-fever"),
    pytest.param(
        "R-CALF-PAIN-FEVER",
        [f("F-CALF-PAIN"), f("F-FEVER"), f("F-CELLULITIS")],
        id="calf-pain-fever-other-urgent-rule",
    ),
    pytest.param(
        "R-RADICULAR-DEFICIT",
        [f("F-RADICULAR"), f("F-SENSORY-MOTOR-LOSS", code="91019004")],
        id="radicular-with-paresthesia-only",
    ),
    pytest.param(
        "R-SPINAL-RED-FLAG",
        [f("F-LOW-BACK-PAIN"), f("F-ACTIVE-CANCER", present=False)],
        id="spinal-cancer-absent",
    ),
    pytest.param("R-MYOSITIS", [ck(10), f("F-CALF-PAIN")], id="myositis-ck-exactly-10x"),
    pytest.param("R-MYOSITIS", [ck(15)], id="myositis-ck-without-muscle-symptom"),
    pytest.param("R-ACHILLES", [f("F-UNABLE-WEIGHT-BEAR")], id="achilles-no-calf-symptom"),
    pytest.param("R-PAD", [f("F-CALF-PAIN"), abi(0.91)], id="pad-abi-0.91"),
    pytest.param("R-PAD", [abi(0.5)], id="pad-abi-without-leg-symptom"),
    pytest.param(
        "R-PAD-WORKUP",
        [f("F-CALF-PAIN"), f("F-CALF-ATROPHY"), abi(1.1)],
        id="pad-workup-normal-abi-in-window",
    ),
    pytest.param("R-PAD-WORKUP", [f("F-CALF-PAIN"), abi(1.4)], id="pad-workup-abi-1.40"),
    pytest.param(
        "R-RADICULOPATHY",
        [f("F-NEUROGENIC-CLAUDICATION")],
        id="radiculopathy-stenosis-without-calf-symptom",
    ),
    pytest.param(
        "R-RADICULOPATHY",
        [f("F-LUMBAR-DISC-DISEASE"), f("F-CALF-PAIN")],
        id="radiculopathy-disc-disease-is-supporting-only",
    ),
    pytest.param(
        "R-VARICOSE",
        [f("F-CALF-PAIN"), f("F-ANKLE-SWELLING", side=B)],
        id="varicose-ankle-swelling-without-evening-pain",
    ),
    pytest.param("R-CRAMP-SECONDARY", [f("F-CRAMP-CAUSE")], id="cramp-cause-without-cramp"),
    pytest.param(
        "R-FIBROMYALGIA",
        [f("F-FIBROMYALGIA"), f("F-CALF-PAIN"), f("F-FEVER")],
        id="fibromyalgia-with-urgent-rule",
    ),
    pytest.param(
        "R-REST", [f("F-CALF-PAIN"), f("F-EXERTION"), f("F-MALAISE")], id="rest-with-malaise"
    ),
    pytest.param(
        "R-REST",
        [
            f("F-CALF-PAIN"),
            f("F-EXERTION"),
            f(
                "F-D-DIMER",
                interpretable=False,
                present=False,
                tags={"blocks-self-care"},
                value=3,
                unit="U/L",
            ),
        ],
        id="rest-never-beside-a-not-interpretable-d-dimer-principle-7",
    ),
    pytest.param(
        "R-CRAMP-SELFCARE",
        [f("F-CRAMP"), f("F-LEG-SWELLING", side=L)],
        id="cramp-selfcare-one-sided-swelling",
    ),
    pytest.param(
        "R-NO-RED-FLAG-DATA",
        [f("F-CALF-PAIN", tags={TAG_AT_ANY_SITE, TAG_SUPPORTING}, code="68962001")],
        id="no-red-flag-muscle-pain-elsewhere-is-not-a-calf-symptom",
    ),
    pytest.param(
        "R-NO-RED-FLAG-DATA", [f("F-CALF-PAIN"), f("F-EXERTION")], id="no-red-flag-when-rest-fires"
    ),
]


@pytest.mark.parametrize(("rule_id", "records"), FIRING)
def test_rule_fires_on_its_spec_case(rule_id: str, records: list[Finding]) -> None:
    assessment = evaluate(extraction(*records))

    assert rule_id in assessment.rule_ids
    fired = assessment.fired_rule(rule_id)
    assert fired is not None
    assert fired.evidence, "a fired rule names the findings that made it fire"


@pytest.mark.parametrize(("rule_id", "records"), NEAR_MISS)
def test_rule_does_not_fire_on_its_near_miss(rule_id: str, records: list[Finding]) -> None:
    assessment = evaluate(extraction(*records))

    assert rule_id not in assessment.rule_ids


def test_every_rule_has_a_firing_case_and_a_near_miss() -> None:
    firing = {p.values[0] for p in FIRING}
    near = {p.values[0] for p in NEAR_MISS}

    assert firing == SPEC_RULE_IDS
    assert near == SPEC_RULE_IDS


# ----------------------------------------------------------------------------- table as data
def test_table_holds_exactly_the_30_rules_of_rule_set_2026_2() -> None:
    assert len(RULES) == 30
    assert {rule.id for rule in RULES} == SPEC_RULE_IDS
    assert rules.RULE_SET_VERSION == "2026.2"


@pytest.mark.parametrize("tier", ["E", "U", "R", "S"])
def test_rule_tiers_match_the_spec(tier: str) -> None:
    assert {r.id for r in RULES if r.tier.value == tier} == SPEC_TIERS[tier]


def test_rule_routes_match_the_spec() -> None:
    assert {r.id: r.route for r in RULES} == SPEC_ROUTES


def test_variants_are_the_spec_ones_in_selection_order_ending_in_one_that_always_holds() -> None:
    for rule in RULES:
        names = [v.name for v in rule.variants]
        assert names == SPEC_VARIANTS.get(rule.id, ["standard"]), rule.id
        assert isinstance(rule.variants[-1].condition, Always), rule.id


def test_variants_set_tier_route_priority_and_source_where_section_4_says() -> None:
    spinal = RULES_BY_ID["R-SPINAL-RED-FLAG"]
    assert (spinal.variant("cancer-neuro").tier, spinal.variant("cancer-neuro").priority) == (
        Tier.EMERGENCY,
        "stat",
    )
    assert (spinal.variant("fever").route, spinal.variant("fever").priority) == (
        "emergency",
        "urgent",
    )
    assert spinal.variant("fever").source.label == "NICE NG59"  # type: ignore[union-attr]
    assert spinal.source.label == "NICE NG234"
    assert RULES_BY_ID["R-DVT-PATHWAY"].variant("pregnant").source.label == "RCOG GTG 37b"  # type: ignore[union-attr]
    assert RULES_BY_ID["R-RADICULOPATHY"].recommended is False


def test_every_rule_variant_has_a_summary_and_next_steps() -> None:
    for rule in RULES:
        for variant in rule.variants:
            assert (rule.id, variant.name) in wording.SUMMARIES, (rule.id, variant.name)
            assert wording.NEXT_STEPS[(rule.id, variant.name)], (rule.id, variant.name)


def test_table_invariants_hold() -> None:
    assert check_table(RULES) == []


def test_table_is_listed_by_tier_then_id() -> None:
    assert list(RULES) == sorted(RULES, key=lambda r: (r.tier.rank, r.id))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_row_is_complete(rule: rules.Rule) -> None:
    assert rule.source.label
    assert not rule.source.url or rule.source.url.startswith("https://")
    assert rule.route in ROUTE_KEYS
    assert rule.topic in rules.TOPICS
    assert rule.findings_used


VOCABULARY = (
    Present, Recorded, Measure, SameSide, AllOf, AnyOf, Not, RuleFires, NoRuleOfTiers,
    SelfCareAllowed, Group, Wells, DDimer, NotInterpretable, RecordedClear, Always,
)  # fmt: skip


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_conditions_are_data_made_of_the_vocabulary(rule: rules.Rule) -> None:
    for condition in (rule.condition, *(v.condition for v in rule.variants)):
        for node in walk(condition):
            assert isinstance(node, VOCABULARY)
            assert dataclasses.is_dataclass(node)
        hash(condition)  # frozen all the way down


def test_rule_rows_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES[0].tier = Tier.SELF_CARE  # type: ignore[misc]


def test_finding_ids_in_conditions_exist_in_the_catalog() -> None:
    used = {f for rule in RULES for f in rule.findings_used}

    assert used <= set(findings.FINDINGS)


def test_dependent_rules_are_evaluated_after_their_dependencies() -> None:
    order = [r.id for r in rules.EVALUATION_ORDER]

    for rule in RULES:
        assert all(order.index(dep) < order.index(rule.id) for dep in dependencies(rule, RULES)), (
            rule.id
        )
    assert order[-1] == "R-NO-RED-FLAG-DATA"
    assert (
        order.index("R-DVT-UNLIKELY") < order.index("R-DVT-PATHWAY") < order.index("R-PE-SUSPECTED")
    )
    assert order.index("R-PE-SUSPECTED") < order.index("R-PE-SIGN")


def test_a_dependency_cycle_is_refused() -> None:
    a = dataclasses.replace(RULES_BY_ID["R-SVT"], id="R-A", condition=RuleFires(("R-B",)))
    b = dataclasses.replace(RULES_BY_ID["R-SVT"], id="R-B", condition=RuleFires(("R-A",)))

    with pytest.raises(ValueError, match="cycle"):
        evaluation_order((a, b))


def broken(**changes: Any) -> tuple[rules.Rule, ...]:
    return (*RULES[1:], dataclasses.replace(RULES[0], **changes))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        pytest.param((*RULES, RULES[0]), "duplicate rule id", id="duplicate-id"),
        pytest.param(broken(source=Source("")), "no source", id="no-source"),
        pytest.param(broken(route="somewhere"), "unknown route key", id="unknown-route"),
        pytest.param(broken(topic="elbow"), "unknown topic", id="unknown-topic"),
        pytest.param(
            broken(condition=Present("F-NOPE")), "unknown finding id", id="unknown-finding"
        ),
        pytest.param(
            broken(condition=RuleFires(("R-NOPE",))), "unknown rule", id="unknown-dependency"
        ),
        pytest.param(
            broken(variants=(rules.Variant("x", Present("F-FEVER")),)),
            "the last variant must always hold",
            id="variant-without-fallback",
        ),
    ],
)
def test_check_table_names_a_broken_invariant(table: tuple[rules.Rule, ...], problem: str) -> None:
    assert any(problem in message for message in check_table(table))


def test_no_card_text_says_lactic_acid() -> None:
    text = json.dumps([list(wording.SUMMARIES.values()), list(wording.NEXT_STEPS.values())]).lower()

    assert "lactic acid" not in text
