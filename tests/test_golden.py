"""Golden tests: every `fhir_samples/` request posted over real HTTP to its service.

The expectations below are written from the clinical rules (rule set 2026.2: §4 rule table and
variants, §6 routes, §8 composing), never from running the code. Each sample's expected cards
are listed in card order as "rule-id variant [covered|merged]"; the plan's suggestion, priority
and cover follow from the spec tables. A sample carries its own reference time, so the answers
are the same with the service's clock 0, 30 and 400 days after the samples' dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import SAMPLES, load_json, prefetch_as_bundle, serving

from cds import create_app
from cds.fhir.resources import problems

CDS_BASE = "http://calf-cds.example/fhir"
RULE_SYSTEM = f"{CDS_BASE}/CodeSystem/rule"
REFERRAL_SYSTEM = f"{CDS_BASE}/CodeSystem/referral"
SCT = "http://snomed.info/sct"
SAMPLE_TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)
SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}

# §4 tier and §6 route of each rule (default profile), with the variants that change them.
TIER: dict[str, str] = {
    "R-PE-SUSPECTED": "E", "R-PHLEGMASIA": "E", "R-ALI": "E", "R-CAUDA-EQUINA": "E",
    "R-COMPARTMENT": "E", "R-NECROTISING": "E", "R-RHABDO": "E", "R-SEVERE-ELECTROLYTE": "E",
    "R-BLEEDING-VARICOSE": "E", "R-DVT-PATHWAY": "U", "R-PE-SIGN": "U", "R-ISCHAEMIA-SIGN": "U",
    "R-SVT": "U", "R-CLTI": "U", "R-CELLULITIS": "U", "R-CALF-PAIN-FEVER": "U",
    "R-RADICULAR-DEFICIT": "U", "R-SPINAL-RED-FLAG": "U", "R-MYOSITIS": "U", "R-ACHILLES": "U",
    "R-DVT-UNLIKELY": "R", "R-PAD": "R", "R-PAD-WORKUP": "R", "R-RADICULOPATHY": "R",
    "R-VARICOSE": "R", "R-CRAMP-SECONDARY": "R", "R-FIBROMYALGIA": "R", "R-REST": "S",
    "R-CRAMP-SELFCARE": "S", "R-NO-RED-FLAG-DATA": "S",
}  # fmt: skip
ROUTE: dict[str, str] = {
    "R-PE-SUSPECTED": "emergency", "R-PHLEGMASIA": "emergency", "R-ALI": "emergency",
    "R-CAUDA-EQUINA": "emergency", "R-COMPARTMENT": "emergency", "R-NECROTISING": "emergency",
    "R-RHABDO": "emergency", "R-SEVERE-ELECTROLYTE": "emergency",
    "R-BLEEDING-VARICOSE": "emergency", "R-DVT-PATHWAY": "dvt-pathway", "R-PE-SIGN": "none",
    "R-ISCHAEMIA-SIGN": "none", "R-SVT": "phlebology-urgent", "R-CLTI": "vascular-urgent",
    "R-CELLULITIS": "primary-care-same-day", "R-CALF-PAIN-FEVER": "primary-care-same-day",
    "R-RADICULAR-DEFICIT": "spinal-urgent", "R-SPINAL-RED-FLAG": "mscc",
    "R-MYOSITIS": "rheumatology-urgent", "R-ACHILLES": "orthopaedics-urgent",
    "R-DVT-UNLIKELY": "none", "R-PAD": "vascular", "R-PAD-WORKUP": "abi-workup",
    "R-RADICULOPATHY": "neurology", "R-VARICOSE": "phlebology", "R-CRAMP-SECONDARY": "primary-care",
    "R-FIBROMYALGIA": "rheumatology", "R-REST": "self-care", "R-CRAMP-SELFCARE": "self-care",
    "R-NO-RED-FLAG-DATA": "none",
}  # fmt: skip
# (rule, variant) -> (tier, route, priority) where §4 and §6 set them for a variant.
VARIANT_OVERRIDES: dict[tuple[str, str], tuple[str | None, str | None, str | None]] = {
    ("R-SPINAL-RED-FLAG", "cancer-neuro"): ("E", None, "stat"),
    ("R-SPINAL-RED-FLAG", "fever"): (None, "emergency", "urgent"),
    ("R-SPINAL-RED-FLAG", "fever-cancer"): (None, "emergency", "urgent"),
    ("R-PAD", "no-abi"): (None, "abi-workup", None),
    ("R-PAD", "abi-not-low"): (None, "abi-exercise", None),
    ("R-PAD-WORKUP", "borderline"): (None, "abi-exercise", None),
    ("R-PAD-WORKUP", "non-compressible"): (None, "tbi", None),
}
# §6 default profile: route key -> (code system, code, performerType code or None).
REFERRAL: dict[str, tuple[str, str, str | None]] = {
    "emergency": (SCT, "183660001", "394576009"),
    "dvt-pathway": (SCT, "431883007", "202K00000X"),
    "phlebology-urgent": (SCT, "183858000", "202K00000X"),
    "phlebology": (SCT, "183858000", "202K00000X"),
    "vascular": (SCT, "306934005", "408463005"),
    "vascular-urgent": (SCT, "306934005", "408463005"),
    "abi-workup": (SCT, "401221002", None),
    "abi-exercise": (REFERRAL_SYSTEM, "exercise-abi", None),
    "tbi": (REFERRAL_SYSTEM, "toe-brachial-index", None),
    "neurology": (SCT, "183521007", "394591006"),
    "spinal-urgent": (SCT, "183546007", "394610002"),
    "mscc": (REFERRAL_SYSTEM, "mscc-coordinator", "394593009"),
    "orthopaedics-urgent": (REFERRAL_SYSTEM, "referral-orthopaedics", "394801008"),
    "rheumatology": (SCT, "306127007", "394810000"),
    "rheumatology-urgent": (SCT, "306127007", "394810000"),
    "primary-care": (SCT, "183561008", "394814009"),
    "primary-care-same-day": (SCT, "183561008", "394814009"),
}
INDICATOR = {"E": "critical", "U": "warning", "R": "info", "S": "info"}
PRIORITY = {"E": "stat", "U": "urgent", "R": "routine", "S": None}
PRIORITY_RANK = {"stat": 0, "urgent": 1, "routine": 2}


@dataclass(frozen=True)
class Golden:
    """What one sample must answer: its cards ("rule variant [covered|merged]; ...", "none",
    "data-quality" for the card without a rule) and regexes its cards' text must (not) match."""

    cards: str
    text: dict[str, tuple[str, ...]] = field(default_factory=dict)
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)


DVT = "R-DVT-PATHWAY"
GOLDEN: dict[str, Golden] = {
    # tier E
    "pe-suspected-dvt-with-dyspnoea": Golden(
        "R-PE-SUSPECTED standard; R-DVT-PATHWAY incomplete covered",
        text={
            "R-PE-SUSPECTED": ("breathlessness", "CTPA"),
            DVT: ("Covered by the emergency referral", "proximal leg-vein ultrasound there"),
        },
    ),
    "phlegmasia-swollen-cyanotic-left-leg": Golden(
        "R-PHLEGMASIA standard; R-DVT-PATHWAY incomplete covered",
        text={"R-PHLEGMASIA": ("vascular surgeon", r"\(left\)")},
    ),
    "acute-limb-ischaemia-cold-pulseless-right-foot": Golden(
        "R-ALI threatened", text={"R-ALI": (r"\(right\)", "heparin", r"\*\*Transfer\*\*")}
    ),
    "cauda-equina-saddle-anaesthesia-urinary-retention": Golden(
        "R-CAUDA-EQUINA standard", text={"R-CAUDA-EQUINA": ("MRI", "post-void residual")}
    ),
    "compartment-syndrome-after-exertion": Golden(
        "R-COMPARTMENT standard",
        text={"R-COMPARTMENT": ("Fasciotomy", "heart level", "Pain on passive stretch")},
    ),
    "necrotising-fasciitis-diagnosis": Golden("R-NECROTISING standard"),
    "soft-tissue-infection-pain-out-of-proportion": Golden(
        "R-COMPARTMENT standard; R-NECROTISING standard merged; "
        "R-CELLULITIS standard covered; R-DVT-PATHWAY incomplete covered",
        text={
            "R-NECROTISING": ("Included in the emergency referral on the card: Compartment",),
            "R-CELLULITIS": ("sepsis risk on arrival",),
            DVT: ("ask for a venous duplex there",),
        },
    ),
    "rhabdomyolysis-dark-urine-muscle-pain": Golden(
        "R-RHABDO no-ck", text={"R-RHABDO": ("dark urine",)}
    ),
    "rhabdomyolysis-ck-over-40x-uln": Golden(
        "R-RHABDO ck; R-MYOSITIS ck covered",
        text={"R-RHABDO": (r"CK 60 × ULN",), "R-MYOSITIS": ("rheumatology follow-up",)},
    ),
    "severe-hypokalaemia-cramps": Golden(
        "R-SEVERE-ELECTROLYTE standard; R-CRAMP-SECONDARY standard covered",
        text={"R-SEVERE-ELECTROLYTE": ("potassium", r"2\.3 mmol/L")},
    ),
    "bleeding-varicose-vein": Golden(
        "R-BLEEDING-VARICOSE standard", text={"R-BLEEDING-VARICOSE": ("elevat", "pressure")}
    ),
    # tier U
    "dvt-unilateral-swelling-wells-likely": Golden(
        "R-DVT-PATHWAY likely",
        text={DVT: (r"DVT likely \(Wells 2\)", "Counted:", "within 4 h")},
        absent={DVT: ("DVT unlikely",)},
    ),
    "dvt-wells-complete-unlikely": Golden(
        "R-DVT-PATHWAY unlikely", text={DVT: (r"DVT unlikely \(Wells 1", "D-dimer within 4 h")}
    ),
    "dvt-d-dimer-positive-mg-per-l-feu": Golden(
        "R-DVT-PATHWAY incomplete", text={DVT: (r"0\.90 mg/L FEU", "positive")}
    ),
    "dvt-pregnant-scores-do-not-apply": Golden(
        "R-DVT-PATHWAY pregnant",
        text={DVT: ("in pregnancy", "LMWH", "Validated scores do not apply", "RCOG")},
        absent={DVT: ("Wells incomplete", "DVT unlikely")},
    ),
    "svt-superficial-vein-cord": Golden("R-SVT standard", text={"R-SVT": ("within 24 h",)}),
    "clti-rest-pain-abi-0-35": Golden("R-CLTI standard", text={"R-CLTI": (r"0\.40",)}),
    "cellulitis-erythema-warmth-fever": Golden("R-CELLULITIS standard"),
    "calf-pain-fever": Golden(
        "R-CALF-PAIN-FEVER standard", text={"R-CALF-PAIN-FEVER": (r"fever 38\.6 °C",)}
    ),
    "units-fahrenheit-fever": Golden("R-CALF-PAIN-FEVER standard"),
    "units-fahrenheit-afebrile": Golden("R-NO-RED-FLAG-DATA clear"),
    "radicular-deficit-sciatica-leg-weakness": Golden(
        "R-RADICULAR-DEFICIT standard; R-RADICULOPATHY standard covered",
        text={"R-RADICULOPATHY": ("Covered by the urgent referral",)},
    ),
    "spinal-red-flag-back-pain-active-cancer": Golden(
        "R-SPINAL-RED-FLAG cancer", text={"R-SPINAL-RED-FLAG": ("MSCC", "NICE NG234")}
    ),
    "myositis-ck-over-10x-reference-range": Golden("R-MYOSITIS ck"),
    "achilles-calf-pain-unable-to-weight-bear": Golden("R-ACHILLES standard"),
    "pe-suspected-recent-dvt-condition-chest-pain": Golden(
        "R-PE-SUSPECTED standard", text={"R-PE-SUSPECTED": ("recent DVT or PE", "chest pain")}
    ),
    "dvt-previous-dvt-resolved-condition-wells-likely": Golden("R-DVT-PATHWAY likely"),
    "dvt-d-dimer-ddu-positive": Golden("R-DVT-PATHWAY incomplete", text={DVT: ("DDU",)}),
    "dvt-d-dimer-interpretation-high": Golden(
        "R-DVT-PATHWAY incomplete", text={DVT: ("flagged high by the lab",)}
    ),
    "dvt-under-18-scores-do-not-apply": Golden(
        "R-DVT-PATHWAY under-18",
        text={DVT: ("under 18", "paediatric")},
        absent={DVT: ("DVT unlikely", "age-adjusted")},
    ),
    "dvt-anticoagulated-scores-do-not-apply": Golden(
        "R-DVT-PATHWAY anticoagulated", text={DVT: ("adherence", "INR < 2")}
    ),
    "dvt-age-unknown-no-birth-date": Golden(
        "R-DVT-PATHWAY incomplete", text={DVT: ("Age unknown", r"\b500\b")}
    ),
    # tier R
    "pad-intermittent-claudication": Golden(
        "R-PAD no-abi", text={"R-PAD": ("no ABI in 12 months",)}
    ),
    "pad-workup-trophic-signs-no-abi": Golden("R-PAD-WORKUP no-abi"),
    "pad-workup-borderline-abi-0-95": Golden(
        "R-PAD-WORKUP borderline", text={"R-PAD-WORKUP": (r"0\.95", "exercise ABI")}
    ),
    "radiculopathy-shooting-pain-back-pain": Golden(
        "R-RADICULOPATHY standard", text={"R-RADICULOPATHY": ("if not settling",)}
    ),
    "varicose-veins-evening-ache": Golden("R-VARICOSE standard"),
    "varicose-bilateral-ankle-swelling-evening-pain": Golden("R-VARICOSE standard"),
    "cramps-secondary-hypothyroidism": Golden(
        "R-CRAMP-SECONDARY standard", text={"R-CRAMP-SECONDARY": ("hypothyroidism",)}
    ),
    "units-magnesium-mg-per-dl-cramps": Golden(
        "R-CRAMP-SECONDARY standard", text={"R-CRAMP-SECONDARY": (r"magnesium 1\.5 mg/dL",)}
    ),
    "fibromyalgia-calf-pain": Golden("R-FIBROMYALGIA standard"),
    # tier S
    "rest-post-exercise-calf-soreness": Golden(
        "R-REST unexamined", text={"R-REST": ("elevat", "Examine both legs")}
    ),
    "cramps-self-care-normal-potassium": Golden(
        "R-CRAMP-SELFCARE standard", text={"R-CRAMP-SELFCARE": ("quinine",)}
    ),
    "calf-pain-no-red-flag-data": Golden(
        "R-NO-RED-FLAG-DATA clear",
        text={"R-NO-RED-FLAG-DATA": ("No red flags found in the recorded data", "Not recorded")},
    ),
    "calf-pain-tachycardia-only": Golden(
        "R-PE-SIGN standard",
        text={"R-PE-SIGN": ("heart rate 108/min", "repeat vital signs")},
        absent={"R-PE-SIGN": ("No red flags",)},
    ),
    # reading semantics, envelope and prefetch
    "no-symptoms-routine-review": Golden("none"),
    "negation-explicit-absence": Golden("none"),
    "old-data-outside-window": Golden(
        "R-NO-RED-FLAG-DATA clear",
        text={"R-NO-RED-FLAG-DATA": ("Also noted", "outside its time window")},
    ),
    "undated-swelling-counts-as-current": Golden(
        "R-DVT-PATHWAY incomplete", text={DVT: ("undated",)}
    ),
    "units-d-dimer-not-interpretable-blocks-rest": Golden(
        "R-NO-RED-FLAG-DATA unreadable",
        text={"R-NO-RED-FLAG-DATA": ("could not be interpreted", "U/L")},
        absent={"R-NO-RED-FLAG-DATA": ("No red flags",)},
    ),
    "conflict-latest-record-wins-no-calf-pain": Golden("none"),
    "conflict-equal-times-present-wins": Golden("R-NO-RED-FLAG-DATA clear"),
    "fever-yesterday-not-cancelled-by-normal-today": Golden("R-CALF-PAIN-FEVER standard"),
    "units-fahrenheit-exactly-100-4": Golden("R-CALF-PAIN-FEVER standard"),
    "dvt-d-dimer-exactly-500-feu": Golden("R-DVT-PATHWAY incomplete"),
    "pad-abi-exactly-0-90": Golden("R-PAD abi-low", text={"R-PAD": (r"ABI 0\.90",)}),
    "condition-without-clinical-status-counts-active": Golden("R-CLTI standard"),
    "condition-resolved-cellulitis-not-acute": Golden("R-NO-RED-FLAG-DATA clear"),
    "pe-suspected-cyanosis-without-leg-site": Golden(
        "R-PE-SUSPECTED standard; R-DVT-PATHWAY incomplete covered",
        text={"R-PE-SUSPECTED": ("cyanosis",)},
    ),
    "phlegmasia-near-miss-cyanosis-other-side": Golden("R-DVT-PATHWAY incomplete"),
    "ali-near-miss-cold-and-pulseless-on-opposite-sides": Golden(
        "R-ALI painful-cold",
        # §1.7: the absent left foot pulses are named on a card too (no rule cites them).
        text={"R-ALI": (r"Cold, painful leg \(right\)", r"Absent foot pulses, left")},
    ),
    "laterality-bilateral-oedema-no-dvt": Golden("R-NO-RED-FLAG-DATA clear"),
    "laterality-side-unknown-swelling-dvt": Golden(
        "R-DVT-PATHWAY incomplete", text={DVT: (r"side not recorded \(counted as one-sided\)",)}
    ),
    "laterality-new-left-swelling-over-bilateral-oedema": Golden("R-DVT-PATHWAY incomplete"),
    "entered-in-error-ignored": Golden("R-NO-RED-FLAG-DATA clear"),
    "encounter-start-calf-pain-deep-vein-tenderness": Golden("R-DVT-PATHWAY incomplete"),
    "malformed-neighbours-red-flag-still-fires": Golden(
        "R-COMPARTMENT standard; data-quality",
        text={"data-quality": (r"3 resources could not be read", "valueQuantity.value")},
    ),
    "prefetch-null-conditions": Golden("R-PAD no-abi"),
    "prefetch-null-patient-red-flag-still-fires": Golden("R-ALI threatened"),
    "prefetch-operation-outcome-conditions": Golden(
        "R-DVT-PATHWAY incomplete; data-quality", text={"data-quality": ("conditions",)}
    ),
    # rule set 2026.2: new rules, variants, cover and merge
    "pe-suspected-pregnant-chest-pain": Golden(
        "R-PE-SUSPECTED pregnant; R-DVT-PATHWAY pregnant covered",
        text={"R-PE-SUSPECTED": ("in pregnancy", "no D-dimer or PE Wells", "RCOG GTG 37b")},
    ),
    "pe-suspected-under-18-haemoptysis": Golden(
        "R-PE-SUSPECTED under-18; R-DVT-PATHWAY under-18 covered",
        text={"R-PE-SUSPECTED": ("under 18", "haemoptysis")},
    ),
    "pe-suspected-anticoagulated-syncope": Golden(
        "R-PE-SUSPECTED anticoagulated; R-DVT-PATHWAY anticoagulated covered",
        text={"R-PE-SUSPECTED": ("while anticoagulated", "syncope")},
    ),
    "pe-suspected-hypoxic-spo2-88": Golden(
        "R-PE-SUSPECTED hypoxic; R-DVT-PATHWAY incomplete covered",
        text={"R-PE-SUSPECTED": ("SpO2 88 %", "oxygen")},
    ),
    "dvt-diagnosed-recent-dvt-calf-pain": Golden(
        "R-DVT-PATHWAY diagnosed", text={DVT: ("DVT or PE recorded on 2026-11-20",)}
    ),
    "dvt-unlikely-negative-d-dimer": Golden(
        "R-DVT-UNLIKELY standard",
        text={"R-DVT-UNLIKELY": (r"DVT unlikely \(Wells 1; D-dimer 300 ng/mL FEU, below 500\)",)},
    ),
    "dvt-unlikely-d-dimer-positive": Golden(
        "R-DVT-PATHWAY unlikely-ddimer-positive", text={DVT: (r"D-dimer positive \(900",)}
    ),
    "dvt-unlikely-d-dimer-blocked-by-leg-cyanosis": Golden(
        "R-DVT-PATHWAY unlikely-ddimer-blocked", text={DVT: (r"not usable \(leg cyanosis\)",)}
    ),
    "dvt-unlikely-preliminary-d-dimer-not-negative": Golden(
        "R-DVT-PATHWAY unlikely", text={DVT: (r"cannot exclude DVT \(preliminary\)",)}
    ),
    "dvt-unlikely-age-adjusted-d-dimer-650-at-80": Golden(
        "R-DVT-UNLIKELY standard",
        text={
            "R-DVT-UNLIKELY": (
                "below age-adjusted 800",  # the summary's {cut-off} (§7.4)
                "negative, below the age-adjusted cut-off, 800 ng/mL FEU",  # §5's Display
            )
        },
    ),
    "ischaemia-sign-cold-leg-with-claudication": Golden(
        "R-ISCHAEMIA-SIGN cold; R-PAD no-abi",
        text={"R-ISCHAEMIA-SIGN": (r"Cold leg \(left\) with claudication",)},
    ),
    "ischaemia-sign-absent-pulses-calf-pain": Golden(
        "R-ISCHAEMIA-SIGN pulseless", text={"R-ISCHAEMIA-SIGN": ("Doppler",)}
    ),
    "ischaemia-sign-numb-leg-calf-pain": Golden(
        "R-ISCHAEMIA-SIGN deficit", text={"R-ISCHAEMIA-SIGN": (r"Leg numbness \(left\)",)}
    ),
    "spinal-mscc-cancer-leg-weakness": Golden(
        "R-SPINAL-RED-FLAG cancer-neuro",
        text={"R-SPINAL-RED-FLAG": ("possible MSCC", "within 24 h", r"\*\*Transfer\*\*")},
    ),
    "spinal-fever-back-pain-calf-pain": Golden(
        "R-SPINAL-RED-FLAG fever; R-CALF-PAIN-FEVER standard covered",
        text={"R-SPINAL-RED-FLAG": ("spinal infection", "same-day hospital assessment")},
    ),
    "spinal-fever-cancer-sciatica": Golden(
        "R-SPINAL-RED-FLAG fever-cancer; R-RADICULOPATHY standard covered",
        text={"R-SPINAL-RED-FLAG": ("tell MSCC coordinator today",)},
    ),
    "cauda-equina-with-sciatica-and-weakness": Golden(
        "R-CAUDA-EQUINA standard; R-RADICULAR-DEFICIT standard covered; "
        "R-RADICULOPATHY standard covered",
        text={"R-RADICULOPATHY": (r"Covered by the emergency referral \(card: Cauda equina",)},
    ),
    "myositis-diagnosed-calf-pain": Golden(
        "R-MYOSITIS diagnosed", text={"R-MYOSITIS": ("Myositis on record",)}
    ),
    "pad-claudication-abi-1-05": Golden(
        "R-PAD abi-not-low", text={"R-PAD": (r"ABI 1\.05", "exercise ABI")}
    ),
    "pad-workup-non-compressible-abi-1-5": Golden(
        "R-PAD-WORKUP non-compressible", text={"R-PAD-WORKUP": ("toe-brachial index",)}
    ),
    "rest-examined-post-exercise-soreness": Golden(
        "R-REST examined", text={"R-REST": ("post-exertion muscle soreness", "3–7 days")}
    ),
    "svt-and-varicose-veins-one-referral": Golden(
        "R-SVT standard; R-VARICOSE standard merged",
        text={"R-VARICOSE": ("Included in the urgent referral on the card: Superficial vein",)},
    ),
}


def _expected(cards: str) -> list[tuple[str, str, str]]:
    """ "R-X v covered; R-Y w" -> [(rule, variant, status)], status "" | covered | merged."""
    if cards == "none":
        return []
    out = []
    for part in cards.split(";"):
        words = part.split()
        if words == ["data-quality"]:
            out.append(("data-quality", "", ""))
        else:
            out.append((words[0], words[1], words[2] if len(words) > 2 else ""))
    return out


def _observed(card: dict[str, Any]) -> tuple[str, str, str]:
    ext = card["extension"]["example.calf-cds"]
    if not ext.get("ruleId"):
        return ("data-quality", "", "")
    status = "covered" if "coveredBy" in ext else "merged" if "mergedInto" in ext else ""
    return (ext["ruleId"], ext["variant"], status)


def sample_names() -> list[str]:
    return sorted(path.stem for path in SAMPLES.glob("*.json"))


# --- the service, served over real HTTP at three clock readings -----------------------------


@pytest.fixture(scope="module", params=[0, 30, 400], ids=lambda days: f"clock+{days}d")
def answers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Every sample's answer from one served app whose clock reads `days` after the samples."""
    now = SAMPLE_TIME + timedelta(days=request.param)
    db = tmp_path_factory.mktemp("golden") / "calf-cds.sqlite3"
    app = create_app({"database_url": f"sqlite:///{db}", "auth_mode": "off", "clock": lambda: now})
    app.extensions["calf-cds"].store.upgrade()
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        found: dict[str, Any] = {}
        for name in sample_names():
            body = load_json(SAMPLES / f"{name}.json")
            response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
            assert response.status_code == 200, (name, response.text)
            found[name] = response.json()["cards"]
        yield found
    app.extensions["calf-cds"].store.close()


def test_every_sample_has_expectations() -> None:
    assert sample_names(), "fhir_samples/ is empty"
    assert set(sample_names()) == set(GOLDEN), (
        f"samples without expectations: {sorted(set(sample_names()) - set(GOLDEN))}; "
        f"expectations without a sample: {sorted(set(GOLDEN) - set(sample_names()))}"
    )


def test_the_samples_readme_states_each_samples_expected_cards() -> None:
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for name, golden in GOLDEN.items():
        row = next(
            (line for line in readme.splitlines() if line.startswith(f"| `{name}.json`")), ""
        )
        assert row.rstrip().endswith(f"| {golden.cards} |"), name


def test_the_samples_readme_says_how_the_samples_stay_true() -> None:
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    assert '`extension["example.calf-cds"].evaluationTime` = 2026-11-25T12:00:00Z' in readme
    assert "clock 0, 30 and 400 days after that time" in readme
    assert "clinical-rules.md" not in readme  # not in this repository: docs/rules.md is


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_sample_gives_its_documented_cards_at_any_clock(answers: dict[str, Any], name: str) -> None:
    assert [_observed(card) for card in answers[name]] == _expected(GOLDEN[name].cards)


def _effective(rule: str, variant: str) -> tuple[str, str, str | None]:
    tier, route, priority = VARIANT_OVERRIDES.get((rule, variant), (None, None, None))
    tier = tier or TIER[rule]
    return tier, route or ROUTE[rule], priority or PRIORITY[tier]


def _plan(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        c["extension"]["example.calf-cds"]["ruleId"]: c
        for c in cards
        if c["extension"]["example.calf-cds"].get("ruleId")
    }


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_each_card_follows_its_tier_route_and_the_plan(answers: dict[str, Any], name: str) -> None:
    cards = answers[name]
    by_rule = _plan(cards)
    held: dict[str, str] = {}  # ServiceRequest code -> rule holding it
    for rule, card in by_rule.items():
        ext = card["extension"]["example.calf-cds"]
        tier, route, priority = _effective(rule, ext["variant"])
        assert card["indicator"] == INDICATOR[tier], rule
        assert card["source"]["topic"] == {
            "system": RULE_SYSTEM,
            "code": rule,
            "display": card["source"]["topic"]["display"],
        }
        kept = "coveredBy" not in ext and "mergedInto" not in ext and route in REFERRAL
        assert ("suggestions" in card) == kept, rule
        if not kept:
            continue
        (suggestion,) = card["suggestions"]
        resource = suggestion["actions"][0]["resource"]
        system, code, performer = REFERRAL[route]
        assert resource["code"]["coding"][0]["system"] == system
        assert resource["code"]["coding"][0]["code"] == code
        assert resource.get("performerType", {}).get("coding", [{}])[0].get("code") == performer
        merged_in = [
            r
            for r, c in by_rule.items()
            if c["extension"]["example.calf-cds"].get("mergedInto") == rule
        ]
        priorities = [
            priority,
            *(
                _effective(r, by_rule[r]["extension"]["example.calf-cds"]["variant"])[2]
                for r in merged_in
            ),
        ]
        assert resource["priority"] == min(priorities, key=lambda p: PRIORITY_RANK[p or "routine"])
        assert resource["status"] == "draft"
        assert resource["intent"] == "proposal"
        assert code not in held, f"two suggestions with code {code}: {held.get(code)} and {rule}"
        held[code] = rule
    for rule, card in by_rule.items():
        ext = card["extension"]["example.calf-cds"]
        for key in ("coveredBy", "mergedInto"):
            if key in ext:
                assert "suggestions" in by_rule[ext[key]], (
                    f"{rule} {key} a card without the referral"
                )


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_card_text_says_what_the_spec_asks(answers: dict[str, Any], name: str) -> None:
    cards = answers[name]
    for rule, patterns in GOLDEN[name].text.items():
        card = next(c for c in cards if _observed(c)[0] == rule)
        text = f"{card['summary']}\n{card.get('detail', '')}"
        for pattern in patterns:
            assert re.search(pattern, text), f"{rule}: /{pattern}/ not in\n{text}"
    for rule, patterns in GOLDEN[name].absent.items():
        card = next(c for c in cards if _observed(c)[0] == rule)
        text = f"{card['summary']}\n{card.get('detail', '')}"
        for pattern in patterns:
            assert not re.search(pattern, text), f"{rule}: /{pattern}/ in\n{text}"


def test_every_suggested_service_request_is_valid_r4(answers: dict[str, Any]) -> None:
    checked = 0
    for cards in answers.values():
        for card in cards:
            for suggestion in card.get("suggestions", []):
                for action in suggestion["actions"]:
                    assert problems(action["resource"]) == []
                    checked += 1
    assert checked > 40


def test_one_safety_net_per_answer_and_never_on_an_emergency_card(answers: dict[str, Any]) -> None:
    for name, cards in answers.items():
        nets = [c for c in cards if "**Safety net**" in c.get("detail", "")]
        assert len(nets) <= 1, name
        for card in nets:
            assert card["indicator"] != "critical", name
        for card in cards:
            if card["indicator"] == "critical":
                assert "**Transfer**" in card["detail"], name


# --- text hygiene (issue 17.5) over every sample's answer ------------------------------------
INTERNAL_ID = re.compile(r"\b[FR]-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
PLURAL_DISAGREES = re.compile(
    r"\b1 (points|items|resources|records)\b|\b([02-9]|\d{2,}) (point|item|resource|record)\b"
)
TOO_MANY_DECIMALS = re.compile(r"\d\.\d{3,}")
GUIDELINE = re.compile(
    r"NICE|RCOG|ESVS|BSH|GIRFT|BOAST|EAS|EULAR|CKS|Cheung|Global Vascular|local|calf-cds"
)


def _all_cards(answers: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, cards in answers.items():
        for card in cards:
            yield name, card


def test_no_internal_ids_in_clinician_text(answers: dict[str, Any]) -> None:
    for name, card in _all_cards(answers):
        for text in (card["summary"], card.get("detail", "")):
            assert not INTERNAL_ID.search(text), (name, INTERNAL_ID.search(text))


def test_singular_and_plural_agree(answers: dict[str, Any]) -> None:
    for name, card in _all_cards(answers):
        text = f"{card['summary']}\n{card.get('detail', '')}"
        assert not PLURAL_DISAGREES.search(text), (name, PLURAL_DISAGREES.search(text))


def test_numbers_show_at_most_two_decimals(answers: dict[str, Any]) -> None:
    for name, card in _all_cards(answers):
        text = f"{card['summary']}\n{card.get('detail', '')}"
        assert not TOO_MANY_DECIMALS.search(text), (name, TOO_MANY_DECIMALS.search(text))


def test_no_line_repeats_within_a_card(answers: dict[str, Any]) -> None:
    for name, card in _all_cards(answers):
        lines = [line for line in card.get("detail", "").splitlines() if line.strip()]
        assert len(lines) == len(set(lines)), (
            name,
            [line for line in lines if lines.count(line) > 1],
        )


def test_no_sentence_repeats_within_a_card(answers: dict[str, Any]) -> None:
    # §7.2.5 "No line or sentence twice in a card": a sentence may end a step in one section
    # and a line in another.
    for name, card in _all_cards(answers):
        sentences = [
            sentence.strip(" -*_")
            for line in card.get("detail", "").splitlines()
            for sentence in re.split(r"(?<=[.!?])\s+", line)
            if len(sentence.strip(" -*_")) > 25
        ]
        repeated = [sentence for sentence in sentences if sentences.count(sentence) > 1]
        assert not repeated, (name, card["source"]["topic"]["code"], repeated)


def test_summaries_are_shorter_than_140_characters(answers: dict[str, Any]) -> None:
    for name, card in _all_cards(answers):
        assert len(card["summary"]) < 140, (name, card["summary"])


def test_every_source_label_names_its_guideline(answers: dict[str, Any]) -> None:
    for name, card in _all_cards(answers):
        assert (
            card["source"]["label"].endswith("(calf-cds 2026.2)")
            or card["source"]["label"] == "calf-cds 2026.2"
        ), name
        assert GUIDELINE.search(card["source"]["label"]), (name, card["source"]["label"])


def test_guideline_links_are_absolute_https(answers: dict[str, Any]) -> None:
    links = [link for _, card in _all_cards(answers) for link in card.get("links", [])]
    assert links
    for link in links:
        assert link["type"] == "absolute", link
        assert link["url"].startswith("https://"), link


def test_the_bundle_path_gives_the_same_rules(answers: dict[str, Any], live_server: Any) -> None:
    """`POST /evaluate` with each sample's prefetch as one Bundle fires the same rules."""
    with live_server.client() as client:
        for name in sample_names():
            body = load_json(SAMPLES / f"{name}.json")
            bundle = prefetch_as_bundle(body)
            response = client.post(
                "/evaluate",
                params={"service": SERVICE_FOR_HOOK[body["hook"]], "now": "2026-11-25T12:00:00Z"},
                json=bundle,
            )
            assert response.status_code == 200, (name, response.text)
            ours = [
                _observed(c)[0]
                for c in response.json()["cards"]
                if _observed(c)[0] != "data-quality"
            ]
            expected = [
                rule for rule, _, _ in _expected(GOLDEN[name].cards) if rule != "data-quality"
            ]
            assert ours == expected, name
