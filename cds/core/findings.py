"""The finding catalog of clinical-rules.md §3 as data: codes, body sites, windows, analytes.

Pure (stdlib only). The reader (`cds.fhir.reading` through `core.statements`) maps codings
through these tables; the prefetch query, the CodeSystems and docs/rules.md are generated from
them. Indexes are built once at import and the catalog's invariants are checked there too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

from .i18n import N_
from .model import (
    TAG_AT_ANY_SITE,
    TAG_BLADDER,
    TAG_BOWEL,
    TAG_COLD,
    TAG_MOTOR,
    TAG_NOT_DEEP_VEIN,
    TAG_PAIN_OUT_OF_PROPORTION,
    TAG_PALLOR,
    TAG_POSTPARTUM,
    TAG_SADDLE,
    TAG_SENSORY,
    TAG_SUPERFICIAL_CORD,
    TAG_SUPPORTING,
)
from .policy import Policy

LOCAL_FINDING_SYSTEM_SUFFIX = "/CodeSystem/finding"

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NUCC = "http://nucc.org/provider-taxonomy"
# Local codes are stored under this sentinel system; matching accepts the configured
# `<fhir_base>/CodeSystem/finding` and any system ending in that suffix (lenient = conservative).
LOCAL = "local:finding"

# Confidence marks of clinical-rules.md (preamble): V verified, V2 several implementations,
# U unverified. LOCAL_MARK: a code this service defines itself (nothing to verify).
V, V2, U, LOCAL_MARK = "V", "V2", "U", "local"
CONFIDENCE_MARKS = frozenset({V, V2, U, LOCAL_MARK})

# Body-site requirements (§2 "Body sites").
SITE_CALF = "calf"  # +calf: calf, lower leg or lower limb
SITE_LEG = "leg"  # +leg: +calf, ankle or foot
SITE_NOT_LEG = "not-leg"  # counts only WITHOUT a leg site (3415004 as F-PE-SYMPTOM)
CALF_SITE_CODES = frozenset({"53840002", "30021000", "61685007"})
LEG_SITE_CODES = CALF_SITE_CODES | {"344001", "56459004"}

# Laterality (§2 "Laterality"), SNOMED.
LEFT_CODE, RIGHT_CODE, BILATERAL_CODE = "7771000", "24028007", "51440002"

# Presence values (§2 "Presence").
NO_CODE, YES_CODE = "373067005", "373066001"
POSITIVE_CODE, NEGATIVE_CODE = "10828004", "260385009"

# Generic Observation codes whose value carries the finding (§2 "Presence").
GENERIC_OBSERVATION_CODES: tuple[tuple[str, str, str, str], ...] = (
    (LOINC, "75325-1", "Symptom", U),
    (SNOMED, "418799008", "Finding reported by subject or history provider", U),
    (LOINC, "82810-3", "Pregnancy status", V2),
)

# Window classes (§2 "Time windows").
WINDOW_SYMPTOM = "symptom"  # symptoms, signs, acute disorders: window_symptom_days
WINDOW_LAB = "lab"  # labs and vitals: window_lab_hours
WINDOW_TSH = "tsh"  # window_tsh_days
WINDOW_ABI = "abi"  # window_abi_days
WINDOW_HISTORY = "history"  # no limit
WINDOW_CHRONIC = "chronic"  # active Condition: any date; Observation: chronic window
WINDOW_PREGNANCY = "pregnancy"  # active Condition: any date; Observation: pregnancy window
WINDOW_14_DAYS = "14-days"  # fixed 14 days (F-BLADDER-BOWEL-FLAG; F-DVT-DX vs F-PREVIOUS-DVT)
WINDOW_POSTPARTUM = "postpartum"  # 42 days from onset or effective date, else recorded date
WINDOW_CLASSES = frozenset(
    {
        WINDOW_POSTPARTUM,
        WINDOW_SYMPTOM,
        WINDOW_LAB,
        WINDOW_TSH,
        WINDOW_ABI,
        WINDOW_HISTORY,
        WINDOW_CHRONIC,
        WINDOW_PREGNANCY,
        WINDOW_14_DAYS,
    }
)
FOURTEEN_DAYS = timedelta(days=14)
POSTPARTUM_WINDOW = timedelta(days=42)  # 6 weeks (§1.5, §2)

# Analytes of the measurement table (units.py converts each).
TEMPERATURE = "temperature"
SPO2 = "spo2"
HEART_RATE = "heart-rate"
D_DIMER = "d-dimer"
CK = "ck"
ABI = "abi"
TSH = "tsh"
POTASSIUM = "potassium"
MAGNESIUM = "magnesium"
CALCIUM = "calcium"
CALF_CIRCUMFERENCE = "calf-circumference"


@dataclass(frozen=True)
class CodeDef:
    """One code of a finding, with the spec's confidence mark and qualifiers (§2, §3).

    site: None, SITE_CALF / SITE_LEG (the code needs such a bodySite), or SITE_NOT_LEG.
    off_site_tags: tags of the Finding made when the site requirement is not met; None = make
    no Finding (another catalog entry takes the record). indexed=False: listed for the
    catalog and documentation only, the record reaches the finding through another rule.
    """

    system: str
    code: str
    display: str
    confidence: str
    site: str | None = None
    tags: frozenset[str] = frozenset()
    off_site_tags: frozenset[str] | None = frozenset({TAG_SUPPORTING})
    bilateral: bool = False
    window_class: str | None = None  # overrides the finding's window class
    indexed: bool = True
    note: str = ""
    term: str = ""  # clinician term for this code (N_-marked); "" = the finding's name

    @property
    def is_local(self) -> bool:
        return self.system == LOCAL

    def system_url(self, fhir_base: str | None = None) -> str:
        """The wire system: local codes live in `<fhir_base>/CodeSystem/finding`."""
        if self.is_local:
            base = (fhir_base or "http://calf-cds.example/fhir").rstrip("/")
            return base + LOCAL_FINDING_SYSTEM_SUFFIX
        return self.system


@dataclass(frozen=True)
class FindingDef:
    """A finding id of §3 with its presence codes and window class.

    Measured codes (temperature, D-dimer, ...) live in MEASUREMENTS and are listed in
    `measured_by` for documentation.
    """

    finding_id: str
    name: str
    window_class: str
    codes: tuple[CodeDef, ...]
    supporting_only: bool = False
    measured_by: tuple[str, ...] = ()  # analyte names from MEASUREMENTS
    note: str = ""


@dataclass(frozen=True)
class MeasurementDef:
    """A threshold analyte code (§2 "Quantities", §3 rows with cut-offs)."""

    system: str
    code: str
    display: str
    confidence: str
    analyte: str
    unit: str  # canonical UCUM unit the value is converted to (units.py)
    window_class: str
    finding_ids: tuple[str, ...]
    dimer_basis: str | None = None  # "FEU" | "DDU" for D-dimer codes


@dataclass(frozen=True)
class CatalogEntry:
    """One (finding, code) pair as the reading index returns it."""

    finding: FindingDef
    code: CodeDef


def _c(
    code: str,
    display: str,
    confidence: str,
    *,
    system: str = SNOMED,
    **qualifiers: object,
) -> CodeDef:
    return CodeDef(system, code, display, confidence, **qualifiers)  # type: ignore[arg-type]


def _local(code: str, display: str, **qualifiers: object) -> CodeDef:
    """A local code; its display is our own clinical wording, so cards name it by it."""
    qualifiers.setdefault("term", display)
    return CodeDef(LOCAL, code, display, LOCAL_MARK, **qualifiers)  # type: ignore[arg-type]


_SUPPORTING = frozenset({TAG_SUPPORTING})

# DVT and PE codes: F-DVT-DX when active and within 14 days, else F-PREVIOUS-DVT (§2, §3).
_DVT_PE: tuple[tuple[str, str], ...] = (
    ("128053003", "Deep venous thrombosis"),
    ("404223003", "Deep venous thrombosis of lower extremity"),
    ("132281000119108", "Acute deep venous thrombosis"),
    ("59282003", "Pulmonary embolism"),
    ("706870000", "Acute pulmonary embolism"),
)

_FINDING_LIST: tuple[FindingDef, ...] = (
    FindingDef(
        "F-CALF-PAIN",
        N_("Calf pain"),
        WINDOW_SYMPTOM,
        (
            _c("300954003", "Pain in calf", V, term=N_("Calf pain")),
            _c(
                "1264028004",
                "Pain in muscle of lower leg",
                U,
                term=N_("Calf muscle pain"),
                note="one IG (HL7 BE)",
            ),
            _c("10601006", "Pain in lower limb", V, term=N_("Leg pain")),
            _c(
                "68962001",
                "Muscle pain",
                V,
                term=N_("Muscle pain"),
                site=SITE_CALF,
                off_site_tags=frozenset({TAG_SUPPORTING, TAG_AT_ANY_SITE}),
            ),
        ),
    ),
    FindingDef(
        "F-LEG-SWELLING",
        N_("Leg swelling"),
        WINDOW_SYMPTOM,
        (
            _c("449615005", "Swelling of lower leg", V, term=N_("Lower leg swelling")),
            _c("449614009", "Swelling of lower limb", V, term=N_("Leg swelling")),
            _c("449707004", "Edema of lower leg", V, term=N_("Lower leg oedema")),
            _c("102572006", "Edema of lower extremity", V, term=N_("Leg oedema")),
            _c(
                "762898005",
                "Swelling of bilateral lower limbs",
                V,
                term=N_("Swelling of both legs"),
                bilateral=True,
            ),
        ),
    ),
    FindingDef(
        "F-ANKLE-SWELLING",
        N_("Ankle swelling"),
        WINDOW_SYMPTOM,
        (
            _c("267039000", "Swollen ankle", V, term=N_("Ankle swelling")),
            _c("26237000", "Ankle edema", V, term=N_("Ankle oedema")),
        ),
    ),
    FindingDef(
        "F-CALF-SWELLING-3CM",
        N_("Calf swelling of 3 cm or more"),
        WINDOW_SYMPTOM,
        (_local("calf-swelling-3cm", N_("Calf swelling ≥ 3 cm compared with the other side")),),
        measured_by=(CALF_CIRCUMFERENCE,),
    ),
    FindingDef(
        "F-ENTIRE-LEG-SWOLLEN",
        N_("Entire leg swollen"),
        WINDOW_SYMPTOM,
        (_local("entire-leg-swollen", N_("Entire leg swollen")),),
    ),
    FindingDef(
        "F-PITTING-EDEMA",
        N_("Pitting oedema"),
        WINDOW_SYMPTOM,
        (
            _c("284521000", "Pitting edema", U, site=SITE_LEG),
            _local(
                "pitting-edema-symptomatic-leg",
                N_("Pitting oedema confined to the symptomatic leg"),
            ),
        ),
        note="counts when unilateral or side unknown, never when bilateral (engine)",
    ),
    FindingDef(
        "F-DEEP-VEIN-TENDERNESS",
        N_("Tenderness along the deep veins"),
        WINDOW_SYMPTOM,
        (
            _local(
                "deep-vein-tenderness",
                N_("Localised tenderness along the deep venous system"),
                term=N_("Tenderness along the deep veins"),
            ),
            _c(
                "247348008",
                "Tenderness",
                V,
                term=N_("Calf tenderness"),
                site=SITE_CALF,
                tags=frozenset({TAG_NOT_DEEP_VEIN}),
            ),
        ),
    ),
    FindingDef(
        "F-COLLATERAL-VEINS",
        N_("Collateral superficial veins"),
        WINDOW_SYMPTOM,
        (
            _local(
                "collateral-superficial-veins", N_("Collateral superficial veins (non-varicose)")
            ),
        ),
    ),
    FindingDef("F-ERYTHEMA", N_("Erythema"), WINDOW_SYMPTOM, (_c("247441003", "Erythema", V),)),
    FindingDef(
        "F-WARMTH",
        N_("Warmth of the leg"),
        WINDOW_SYMPTOM,
        (_local("leg-warmth", N_("Leg warmth")),),
    ),
    FindingDef(
        "F-CYANOSIS",
        N_("Cyanosis of the leg"),
        WINDOW_SYMPTOM,
        # Without a leg site the record is F-PE-SYMPTOM instead (no supporting F-CYANOSIS).
        (_c("3415004", "Cyanosis", V, site=SITE_LEG, off_site_tags=None, term=N_("Leg cyanosis")),),
    ),
    FindingDef(
        "F-ANTICOAGULATED",
        N_("On anticoagulant"),
        WINDOW_SYMPTOM,
        (_local("on-anticoagulant", N_("On anticoagulant treatment")),),
    ),
    FindingDef(
        "F-SKIN-DISCOLOURATION",
        N_("Skin discolouration"),
        WINDOW_SYMPTOM,
        (_c("3253007", "Discoloration of skin", V, site=SITE_CALF, tags=_SUPPORTING),),
        supporting_only=True,
    ),
    FindingDef(
        "F-FEVER",
        N_("Fever"),
        WINDOW_SYMPTOM,
        (_c("386661006", "Fever", V),),
        measured_by=(TEMPERATURE,),
    ),
    FindingDef(
        "F-MALAISE",
        N_("Malaise"),
        WINDOW_SYMPTOM,
        (_c("367391008", "Malaise", V), _c("84229001", "Fatigue", V)),
    ),
    FindingDef(
        "F-UNABLE-WEIGHT-BEAR",
        N_("Unable to bear weight"),
        WINDOW_SYMPTOM,
        (_c("285674009", "Unable to weight-bear", V),),
    ),
    FindingDef(
        "F-PE-SYMPTOM",
        N_("Symptom or sign of pulmonary embolism"),
        WINDOW_SYMPTOM,
        (
            _c("267036007", "Dyspnea", V2, term=N_("Breathlessness")),
            _c("29857009", "Chest pain", V2, term=N_("Chest pain")),
            _c("66857006", "Hemoptysis", V2, term=N_("Haemoptysis")),
            _c("271594007", "Syncope", V2, term=N_("Syncope")),
            _c(
                "3415004", "Cyanosis", V, site=SITE_NOT_LEG, off_site_tags=None, term=N_("Cyanosis")
            ),
        ),
        measured_by=(SPO2, HEART_RATE),
    ),
    FindingDef(
        "F-ACTIVE-CANCER",
        N_("Active cancer"),
        WINDOW_HISTORY,
        (_c("363346000", "Malignant neoplastic disease", V),),
        note="deployments add codes with CDS_EXTRA_CANCER_CODES",
    ),
    FindingDef(
        "F-PREVIOUS-DVT",
        N_("Previous DVT or PE"),
        WINDOW_HISTORY,
        (
            *(
                _c(code, display, V, indexed=False, note="via F-DVT-DX: inactive or > 14 days")
                for code, display in _DVT_PE
            ),
            _c("161508001", "History of deep vein thrombosis", V),
        ),
    ),
    FindingDef(
        "F-PARESIS-OR-CAST",
        N_("Paresis or recent plaster immobilisation of the leg"),
        WINDOW_SYMPTOM,
        (
            _c("102568007", "Paresis of lower extremity", V),
            _local("recent-plaster-immobilisation", N_("Recent plaster immobilisation of the leg")),
        ),
    ),
    FindingDef(
        "F-BEDRIDDEN-OR-SURGERY",
        N_("Bedridden 3 days or major surgery within 12 weeks"),
        WINDOW_SYMPTOM,
        (
            _local(
                "bedridden-3-days-or-major-surgery-12-weeks",
                N_("Bedridden ≥ 3 days or major surgery within 12 weeks"),
            ),
        ),
    ),
    FindingDef(
        "F-ALTERNATIVE-DX-LIKELY",
        N_("Alternative diagnosis at least as likely as DVT"),
        WINDOW_SYMPTOM,
        (
            _local(
                "alternative-diagnosis-as-likely", N_("Alternative diagnosis at least as likely")
            ),
        ),
    ),
    FindingDef(
        "F-PREGNANT",
        N_("Pregnant"),
        WINDOW_PREGNANCY,
        (_c("77386006", "Pregnant", U),),
        note="as Condition, Observation code, or value of LOINC 82810-3 Pregnancy status",
    ),
    FindingDef(
        "F-D-DIMER",
        N_("D-dimer"),
        WINDOW_LAB,
        (),
        measured_by=(D_DIMER,),
        note="qualitative 10828004 Positive (U) or interpretation POS is positive",
    ),
    FindingDef(
        "F-DVT-DX",
        N_("Diagnosed DVT or PE (active, within 14 days)"),
        WINDOW_14_DAYS,
        tuple(_c(code, display, V) for code, display in _DVT_PE),
    ),
    FindingDef(
        "F-SVT",
        N_("Superficial vein thrombosis"),
        WINDOW_SYMPTOM,
        (
            _c("2477008", "Superficial thrombophlebitis", V),
            _c("40283005", "Thrombophlebitis of superficial veins of lower extremity", V),
            _c("275517008", "Superficial thrombophlebitis of leg", V),
            _c("64156001", "Thrombophlebitis", V),
            _local(
                "superficial-vein-cord",
                N_("Palpable cord along a superficial vein"),
                tags=frozenset({TAG_SUPERFICIAL_CORD}),
            ),
        ),
    ),
    FindingDef(
        "F-VARICOSE",
        N_("Varicose veins or chronic venous insufficiency"),
        WINDOW_CHRONIC,
        (
            _c("72866009", "Varicose veins of lower extremity", V),
            _c("297713002", "Varicose veins of leg", V),
            _c("128060009", "Varicose veins of lower limb", V),
            _c("20696009", "Chronic venous insufficiency", V),
        ),
    ),
    FindingDef(
        "F-BLEEDING-VARICOSITY",
        N_("Bleeding varicose vein"),
        WINDOW_SYMPTOM,
        (_local("bleeding-varicose-vein", N_("Bleeding from a varicose vein")),),
    ),
    FindingDef(
        "F-EVENING-PAIN",
        N_("Pain worse in the evening"),
        WINDOW_SYMPTOM,
        (_local("pain-worse-in-evening", N_("Leg pain worse in the evening")),),
    ),
    FindingDef(
        "F-CLAUDICATION",
        N_("Intermittent claudication"),
        WINDOW_SYMPTOM,
        (_c("63491006", "Intermittent claudication", V),),
        note="never 16973004 (Limping)",
    ),
    FindingDef(
        "F-CALF-ATROPHY",
        N_("Calf muscle atrophy"),
        WINDOW_SYMPTOM,
        (
            _c("1119440005", "Atrophy of muscle of lower leg", V),
            _c("88092000", "Muscle atrophy", V, site=SITE_CALF),
        ),
    ),
    FindingDef(
        "F-TROPHIC-SKIN",
        N_("Trophic skin changes"),
        WINDOW_SYMPTOM,
        (
            _c("16386004", "Dry skin", V, site=SITE_LEG),
            _c("56317004", "Alopecia", V, site=SITE_LEG),
            _c("414941008", "Onychomycosis", V, note="counts as +leg without a bodySite"),
        ),
    ),
    FindingDef(
        "F-GANGRENE",
        N_("Gangrene"),
        WINDOW_SYMPTOM,
        (_c("372070002", "Gangrenous disorder", V), _c("49176002", "Gangrene", V)),
    ),
    FindingDef(
        "F-REST-PAIN",
        N_("Ischaemic rest pain"),
        WINDOW_SYMPTOM,
        (
            _c("428171009", "Peripheral vascular disease with rest pain", V),
            _local("ischaemic-rest-pain", N_("Ischaemic rest pain")),
        ),
    ),
    FindingDef("F-ABI", N_("Ankle-brachial index"), WINDOW_ABI, (), measured_by=(ABI,)),
    FindingDef(
        "F-PAD-DX",
        N_("Peripheral arterial disease"),
        WINDOW_CHRONIC,
        (
            _c("840580004", "Peripheral arterial disease", V2),
            _c("399957001", "Peripheral arterial occlusive disease", V),
            _c("400047006", "Peripheral vascular disease", V),
            _c("51274000", "Arteriosclerosis of arteries of the extremities", V),
        ),
    ),
    FindingDef(
        "F-CLTI-DX",
        N_("Chronic limb-threatening ischaemia"),
        WINDOW_CHRONIC,
        (_c("233962007", "Critical lower limb ischemia", V),),
    ),
    FindingDef(
        "F-COLD-LIMB",
        N_("Cold or pale leg"),
        WINDOW_SYMPTOM,
        (
            _c(
                "771542000",
                "Cold extremity",
                V,
                term=N_("Cold leg"),
                tags=frozenset({TAG_COLD}),
                site=SITE_LEG,
            ),
            _c(
                "771545003",
                "Painful and cold lower limb",
                V,
                term=N_("Painful, cold leg"),
                tags=frozenset({TAG_COLD}),
            ),
            _local(
                "pallor-of-leg",
                N_("Pallor of the leg"),
                tags=frozenset({TAG_PALLOR}),
                term=N_("Pale leg"),
            ),
        ),
    ),
    FindingDef(
        "F-PAINFUL-COLD-LIMB",
        N_("Painful and cold leg"),
        WINDOW_SYMPTOM,
        (_c("771545003", "Painful and cold lower limb", V),),
    ),
    FindingDef(
        "F-PULSELESS",
        N_("Absent foot pulses"),
        WINDOW_SYMPTOM,
        (
            _c("54518005", "Absent pulse", U, site=SITE_LEG),
            _local("absent-foot-pulses", N_("Absent foot pulses")),
        ),
    ),
    FindingDef(
        "F-SENSORY-MOTOR-LOSS",
        N_("Sensory or motor loss"),
        WINDOW_SYMPTOM,
        (
            _c(
                "91019004",
                "Paresthesia",
                V,
                term=N_("Paraesthesia of the leg"),
                tags=frozenset({TAG_SENSORY}),
            ),
            _c(
                "309537005",
                "Numbness of lower limb",
                V,
                term=N_("Numbness of the leg"),
                tags=frozenset({TAG_SENSORY}),
            ),
            _c(
                "102568007",
                "Paresis of lower extremity",
                V,
                tags=frozenset({TAG_MOTOR}),
                term=N_("Leg weakness (paresis)"),
            ),
            _c(
                "713514005",
                "Muscle weakness of limb",
                V,
                tags=frozenset({TAG_MOTOR}),
                term=N_("Muscle weakness of the leg"),
            ),
        ),
    ),
    FindingDef(
        "F-ALI-DX",
        N_("Acute limb ischaemia"),
        WINDOW_SYMPTOM,
        (
            _c("1230182004", "Acute lower limb ischemia", V),
            _c("312378004", "Lower limb arterial embolus", V),
            _c("90958004", "Acute limb ischemia", V),
        ),
    ),
    FindingDef(
        "F-LOW-BACK-PAIN",
        N_("Low back pain"),
        WINDOW_SYMPTOM,
        (_c("279039007", "Low back pain", V), _c("278860009", "Chronic low back pain", V)),
    ),
    FindingDef(
        "F-RADICULAR",
        N_("Radicular pain"),
        WINDOW_SYMPTOM,
        (
            _c("23056005", "Sciatica", V, term=N_("Sciatica")),
            _c("128196005", "Lumbar radiculopathy", V),
            _c("2415007", "Lumbosacral radiculopathy", V),
            _c("202735001", "Lumbar disc prolapse with radiculopathy", V),
            _local(
                "shooting-pain-on-movement", N_("Pain shooting into the calf on starting to move")
            ),
            _local("straight-leg-raise-positive", N_("Straight leg raise test positive")),
        ),
    ),
    FindingDef(
        "F-LUMBAR-DISC-DISEASE",
        N_("Lumbar disc disease"),
        WINDOW_CHRONIC,
        (
            _c("202708005", "Prolapsed lumbar intervertebral disc", V, tags=_SUPPORTING),
            _c("26538006", "Degeneration of lumbar intervertebral disc", V, tags=_SUPPORTING),
        ),
        supporting_only=True,
    ),
    FindingDef(
        "F-NEUROGENIC-CLAUDICATION",
        N_("Neurogenic claudication"),
        WINDOW_CHRONIC,
        (
            _c("303081002", "Neurogenic claudication", V),
            _c("18347007", "Spinal stenosis of lumbar region", V),
        ),
    ),
    FindingDef(
        "F-CAUDA-EQUINA-DX",
        N_("Cauda equina syndrome"),
        WINDOW_SYMPTOM,
        (
            _c(
                "192970008",
                "Cauda equina syndrome with neurogenic bladder",
                V,
                term=N_("Cauda equina syndrome"),
            ),
            _c("12454008", "Cauda equina syndrome", V, term=N_("Cauda equina syndrome")),
            _local(
                "saddle-anaesthesia",
                N_("Saddle anaesthesia"),
                tags=frozenset({TAG_SADDLE}),
                term=N_("Saddle anaesthesia"),
            ),
        ),
    ),
    FindingDef(
        "F-BLADDER-BOWEL-FLAG",
        N_("New bladder or bowel dysfunction"),
        WINDOW_14_DAYS,
        (
            _c(
                "267064002",
                "Retention of urine",
                V,
                term=N_("Urinary retention"),
                tags=frozenset({TAG_BLADDER}),
            ),
            _c(
                "72042002",
                "Incontinence of feces",
                V,
                term=N_("Faecal incontinence"),
                tags=frozenset({TAG_BOWEL}),
            ),
            _c(
                "165232002",
                "Urinary incontinence",
                V,
                term=N_("Urinary incontinence"),
                tags=frozenset({TAG_BLADDER}),
            ),
        ),
    ),
    FindingDef(
        "F-COMPARTMENT",
        N_("Compartment syndrome"),
        WINDOW_SYMPTOM,
        (
            _c("111245009", "Compartment syndrome", V),
            _local(
                "pain-out-of-proportion",
                N_("Pain out of proportion to the injury"),
                tags=frozenset({TAG_PAIN_OUT_OF_PROPORTION}),
            ),
            _local("pain-on-passive-stretch", N_("Pain on passive stretch of the calf muscles")),
        ),
    ),
    FindingDef(
        "F-CELLULITIS",
        N_("Cellulitis"),
        WINDOW_SYMPTOM,
        (
            _c("449711005", "Cellulitis of lower leg", V),
            _c("287001000", "Cellulitis of lower limb", V),
        ),
    ),
    FindingDef(
        "F-NECROTISING",
        N_("Necrotising fasciitis"),
        WINDOW_SYMPTOM,
        (_c("52486002", "Necrotizing fasciitis", V),),
    ),
    FindingDef(
        "F-EXERTION",
        N_("Recent strenuous exertion or muscle strain"),
        WINDOW_SYMPTOM,
        (
            _local("recent-strenuous-exertion", N_("Recent strenuous or unaccustomed exertion")),
            _c("48532005", "Muscle strain", V),
        ),
    ),
    FindingDef(
        "F-CRAMP",
        N_("Muscle cramp"),
        WINDOW_SYMPTOM,
        (
            _c("55300003", "Cramp", V),
            _c("449918009", "Cramp in lower leg", V),
            _c("102549009", "Muscle cramp of lower limb", V),
        ),
    ),
    FindingDef(
        "F-CRAMP-CAUSE",
        N_("Secondary cause of cramps"),
        WINDOW_SYMPTOM,
        (
            _c(
                "40930008",
                "Hypothyroidism",
                V,
                term=N_("Hypothyroidism"),
                window_class=WINDOW_CHRONIC,
            ),
            _c(
                "83664006",
                "Idiopathic atrophic hypothyroidism",
                U,
                window_class=WINDOW_CHRONIC,
                term=N_("Hypothyroidism"),
            ),
            _c("34095006", "Dehydration", V, term=N_("Dehydration")),
            _c("43339004", "Hypokalemia", V, term=N_("Hypokalaemia")),
            _c("190855004", "Hypomagnesemia", V, term=N_("Hypomagnesaemia")),
            _c("5291005", "Hypocalcemia", V, term=N_("Hypocalcaemia")),
        ),
        measured_by=(TSH, POTASSIUM, MAGNESIUM, CALCIUM),
    ),
    FindingDef(
        "F-SEVERE-ELECTROLYTE",
        N_("Severe electrolyte disturbance"),
        WINDOW_LAB,
        (),
        measured_by=(POTASSIUM, MAGNESIUM, CALCIUM),
    ),
    FindingDef("F-CK", N_("Creatine kinase"), WINDOW_LAB, (), measured_by=(CK,)),
    FindingDef(
        "F-MYOSITIS-DX",
        N_("Myositis"),
        WINDOW_SYMPTOM,
        (
            _c("26889001", "Myositis", V),
            _c("31384009", "Polymyositis", V),
            _c("396230008", "Dermatomyositis", V),
            _c("72315009", "Inclusion body myositis", V),
        ),
    ),
    FindingDef(
        "F-RHABDO",
        N_("Rhabdomyolysis"),
        WINDOW_SYMPTOM,
        (
            _c("240131006", "Rhabdomyolysis", V, term=N_("Rhabdomyolysis")),
            _local("dark-urine", N_("Dark (cola-coloured) urine"), term=N_("Dark urine")),
        ),
        note="local dark-urine counts with a calf symptom or 68962001 at any site (engine)",
    ),
    FindingDef(
        "F-FIBROMYALGIA",
        N_("Fibromyalgia"),
        WINDOW_CHRONIC,
        (_c("203082005", "Fibromyalgia", V2),),
    ),
    FindingDef(
        "F-ACHILLES-RUPTURE",
        N_("Achilles tendon rupture"),
        WINDOW_SYMPTOM,
        (_c("429513001", "Rupture of Achilles tendon", V),),
    ),
)

# Analyte codes decided by thresholds (§2 "Quantities", §3).
_ELECTROLYTE = ("F-CRAMP-CAUSE", "F-SEVERE-ELECTROLYTE")
MEASUREMENT_LIST: tuple[MeasurementDef, ...] = (
    MeasurementDef(
        LOINC, "8310-5", "Body temperature", V, TEMPERATURE, "Cel", WINDOW_LAB, ("F-FEVER",)
    ),
    MeasurementDef(
        LOINC, "8331-1", "Oral temperature", V, TEMPERATURE, "Cel", WINDOW_LAB, ("F-FEVER",)
    ),
    MeasurementDef(
        LOINC, "8328-7", "Axillary temperature", U, TEMPERATURE, "Cel", WINDOW_LAB, ("F-FEVER",)
    ),
    MeasurementDef(
        LOINC,
        "8333-7",
        "Tympanic membrane temperature",
        U,
        TEMPERATURE,
        "Cel",
        WINDOW_LAB,
        ("F-FEVER",),
    ),
    MeasurementDef(
        LOINC,
        "59408-5",
        "Oxygen saturation by pulse oximetry",
        U,
        SPO2,
        "%",
        WINDOW_LAB,
        ("F-PE-SYMPTOM",),
    ),
    MeasurementDef(
        LOINC,
        "2708-6",
        "Oxygen saturation in arterial blood",
        U,
        SPO2,
        "%",
        WINDOW_LAB,
        ("F-PE-SYMPTOM",),
    ),
    MeasurementDef(
        LOINC, "8867-4", "Heart rate", U, HEART_RATE, "/min", WINDOW_LAB, ("F-PE-SYMPTOM",)
    ),
    MeasurementDef(
        LOINC, "48065-7", "D-dimer FEU", U, D_DIMER, "ng/mL", WINDOW_LAB, ("F-D-DIMER",), "FEU"
    ),
    MeasurementDef(
        LOINC, "48066-5", "D-dimer DDU", U, D_DIMER, "ng/mL", WINDOW_LAB, ("F-D-DIMER",), "DDU"
    ),
    MeasurementDef(
        LOINC,
        "48058-2",
        "D-dimer DDU (immunoassay)",
        U,
        D_DIMER,
        "ng/mL",
        WINDOW_LAB,
        ("F-D-DIMER",),
        "DDU",
    ),
    MeasurementDef(LOINC, "2157-6", "Creatine kinase", U, CK, "U/L", WINDOW_LAB, ("F-CK",)),
    MeasurementDef(LOINC, "77194-9", "Ankle-brachial index", V2, ABI, "1", WINDOW_ABI, ("F-ABI",)),
    MeasurementDef(
        SNOMED, "446841001", "Ankle brachial pressure index", V, ABI, "1", WINDOW_ABI, ("F-ABI",)
    ),
    MeasurementDef(
        LOINC, "3016-3", "Thyrotropin (TSH)", U, TSH, "mIU/L", WINDOW_TSH, ("F-CRAMP-CAUSE",)
    ),
    MeasurementDef(
        LOINC,
        "2823-3",
        "Potassium in serum or plasma",
        U,
        POTASSIUM,
        "mmol/L",
        WINDOW_LAB,
        _ELECTROLYTE,
    ),
    MeasurementDef(
        LOINC, "6298-4", "Potassium in blood", U, POTASSIUM, "mmol/L", WINDOW_LAB, _ELECTROLYTE
    ),
    MeasurementDef(
        LOINC,
        "2601-3",
        "Magnesium in serum or plasma (mmol/L)",
        U,
        MAGNESIUM,
        "mmol/L",
        WINDOW_LAB,
        _ELECTROLYTE,
    ),
    MeasurementDef(
        LOINC,
        "19123-9",
        "Magnesium in serum or plasma (mg/dL)",
        U,
        MAGNESIUM,
        "mg/dL",
        WINDOW_LAB,
        _ELECTROLYTE,
    ),
    MeasurementDef(
        LOINC,
        "17861-6",
        "Calcium in serum or plasma",
        U,
        CALCIUM,
        "mg/dL",
        WINDOW_LAB,
        _ELECTROLYTE,
    ),
    MeasurementDef(
        LOCAL,
        "calf-circumference-difference",
        "Calf circumference difference between legs",
        LOCAL_MARK,
        CALF_CIRCUMFERENCE,
        "cm",
        WINDOW_SYMPTOM,
        ("F-CALF-SWELLING-3CM",),
    ),
)


def _build_findings(items: Iterable[FindingDef]) -> Mapping[str, FindingDef]:
    table: dict[str, FindingDef] = {}
    for item in items:
        if item.finding_id in table:
            raise ValueError(f"duplicate finding id {item.finding_id}")
        table[item.finding_id] = item
    return MappingProxyType(table)


FINDINGS: Mapping[str, FindingDef] = _build_findings(_FINDING_LIST)
MEASUREMENTS: Mapping[tuple[str, str], MeasurementDef] = MappingProxyType(
    {(m.system, m.code): m for m in MEASUREMENT_LIST}
)


def check_catalog(
    findings: Mapping[str, FindingDef] = FINDINGS,
    measurements: Iterable[MeasurementDef] = MEASUREMENT_LIST,
) -> list[str]:
    """Every broken invariant of the catalog, as readable messages (empty = sound)."""
    problems: list[str] = []
    presence_codes = {(c.system, c.code) for f in findings.values() for c in f.codes}
    for finding in findings.values():
        where = finding.finding_id
        if not where.startswith("F-"):
            problems.append(f"finding id {where} must start with F-")
        if finding.window_class not in WINDOW_CLASSES:
            problems.append(f"{where}: unknown window class {finding.window_class}")
        if not finding.codes and not finding.measured_by:
            problems.append(f"{where} has neither codes nor measurements")
        for code in finding.codes:
            at = f"{where} {code.code}"
            if code.confidence not in CONFIDENCE_MARKS:
                problems.append(f"{at}: confidence mark {code.confidence!r} unknown")
            if (code.confidence == LOCAL_MARK) != code.is_local:
                problems.append(f"{at}: only local codes carry the local mark")
            if code.system not in {SNOMED, LOINC, LOCAL}:
                problems.append(f"{at}: system {code.system} unexpected")
            if code.site not in {None, SITE_CALF, SITE_LEG, SITE_NOT_LEG}:
                problems.append(f"{at}: site {code.site!r} unknown")
            if code.window_class is not None and code.window_class not in WINDOW_CLASSES:
                problems.append(f"{at}: unknown window class {code.window_class}")
            if not code.display:
                problems.append(f"{at}: display missing")
    seen: set[tuple[str, str]] = set()
    analytes = {a for f in findings.values() for a in f.measured_by}
    for item in measurements:
        key = (item.system, item.code)
        if key in seen:
            problems.append(f"duplicate measurement code {item.code}")
        seen.add(key)
        if item.analyte not in analytes:
            problems.append(f"measurement {item.code}: no finding lists analyte {item.analyte}")
        problems.extend(
            f"measurement {item.code}: unknown finding {finding_id}"
            for finding_id in item.finding_ids
            if finding_id not in findings
        )
        if item.analyte == D_DIMER and item.dimer_basis not in {"FEU", "DDU"}:
            problems.append(f"measurement {item.code}: D-dimer needs FEU or DDU")
        if key in presence_codes:
            problems.append(f"measurement {item.code} is also a presence code")
    return problems


def _build_index(
    findings: Mapping[str, FindingDef],
) -> Mapping[tuple[str, str], tuple[CatalogEntry, ...]]:
    index: dict[tuple[str, str], list[CatalogEntry]] = {}
    for finding in findings.values():
        for code in finding.codes:
            if code.indexed:
                index.setdefault((code.system, code.code), []).append(CatalogEntry(finding, code))
    return MappingProxyType({key: tuple(entries) for key, entries in index.items()})


_PROBLEMS = check_catalog()
if _PROBLEMS:
    raise ValueError("invalid finding catalog: " + "; ".join(_PROBLEMS))
CODE_INDEX: Mapping[tuple[str, str], tuple[CatalogEntry, ...]] = _build_index(FINDINGS)
GENERIC_KEYS = frozenset((system, code) for system, code, _, _ in GENERIC_OBSERVATION_CODES)


# Spellings of the two standard systems that EHRs send (OIDs from HL7 v3/CDA-derived feeds,
# https, a trailing slash). Matching them all is the conservative choice: a red flag coded
# with the OID is still a red flag.
_SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "https://snomed.info/sct": SNOMED,
    "http://snomed.info/sct/": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "https://loinc.org": LOINC,
    "http://loinc.org/": LOINC,
}


# Bounded: the systems come from requests. Every coding read is normalised, usually to one of
# a handful of strings, so the cache turns the suffix test and alias lookup into one hit.
@functools.lru_cache(maxsize=256)
def normalise_system(system: str | None) -> str:
    """`…/CodeSystem/finding` URLs -> the LOCAL sentinel; known aliases of SNOMED CT and LOINC
    (OIDs, https, trailing slash) -> their canonical URL; other systems unchanged."""
    if not system:
        return ""
    system = system.strip()  # a `uri` has no surrounding spaces; one typed with them still reads
    if system.endswith(LOCAL_FINDING_SYSTEM_SUFFIX):
        return LOCAL
    return _SYSTEM_ALIASES.get(system, system)


def parse_configured_code(raw: str) -> tuple[str, str]:
    """A configured code: a bare code is SNOMED CT, else `system|code`."""
    system, sep, code = raw.strip().rpartition("|")
    return (normalise_system(system) if sep and system else SNOMED), code.strip()


def _configured(
    codes: tuple[str, ...], finding_id: str, display: str, **qualifiers: object
) -> dict[tuple[str, str], CatalogEntry]:
    finding = FINDINGS[finding_id]
    entries: dict[tuple[str, str], CatalogEntry] = {}
    for raw in codes:
        system, code = parse_configured_code(raw)
        if code:
            definition = CodeDef(system, code, display, U, note="configured", **qualifiers)  # type: ignore[arg-type]
            entries[(system, code)] = CatalogEntry(finding, definition)
    return entries


@dataclass(frozen=True)
class Catalog:
    """The catalog under one deployment's configured codes (cancer, thyroid, postpartum)."""

    extra: Mapping[tuple[str, str], tuple[CatalogEntry, ...]]
    code_strings: frozenset[str]  # every code string a lookup can match, whatever the system

    def lookup(self, system: str | None, code: str | None) -> tuple[CatalogEntry, ...]:
        """Catalog entries for one coding (local systems matched leniently); () when unknown."""
        if not code or code not in self.code_strings:
            return ()
        key = (normalise_system(system), code)
        found = CODE_INDEX.get(key, ())
        more = self.extra.get(key)
        return found + more if more else found

    def measurement(self, system: str | None, code: str | None) -> MeasurementDef | None:
        """The threshold analyte of one coding, or None."""
        if not code or code not in self.code_strings:
            return None
        return MEASUREMENTS.get((normalise_system(system), code))

    def knows(self, system: str | None, code: str | None) -> bool:
        """Whether a coding names any finding, analyte or generic code (the relevance screen)."""
        if not code or code not in self.code_strings:
            return False
        key = (normalise_system(system), code)
        return key in CODE_INDEX or key in MEASUREMENTS or key in GENERIC_KEYS or key in self.extra


@functools.lru_cache(maxsize=16)
def catalog_for(policy: Policy) -> Catalog:
    """The catalog with the policy's configured codes added (built once per policy)."""
    extra: dict[tuple[str, str], list[CatalogEntry]] = {}
    configured = (
        _configured(policy.extra_cancer_codes, "F-ACTIVE-CANCER", "Configured cancer code"),
        _configured(
            policy.extra_thyroid_codes,
            "F-CRAMP-CAUSE",
            "Configured thyroid code",
            window_class=WINDOW_CHRONIC,
            term=N_("Hypothyroidism"),
        ),
        _configured(
            policy.postpartum_codes,
            "F-PREGNANT",
            "Configured postpartum code",
            window_class=WINDOW_POSTPARTUM,
            tags=frozenset({TAG_POSTPARTUM}),
            term=N_("Postpartum"),
        ),
    )
    for entries in configured:
        for key, entry in entries.items():
            extra.setdefault(key, []).append(entry)
    strings = frozenset(
        [code for _, code in CODE_INDEX]
        + [code for _, code in MEASUREMENTS]
        + [code for _, code in GENERIC_KEYS]
        + [code for _, code in extra]
    )
    frozen = MappingProxyType({key: tuple(value) for key, value in extra.items()})
    return Catalog(frozen, strings)


@functools.lru_cache(maxsize=16)
def windows(policy: Policy) -> Mapping[tuple[str, bool], timedelta | None]:
    """The window of every (window class, is an active Condition) under a policy; None = no
    limit (built once per policy)."""
    by_class: dict[str, timedelta | None] = {
        WINDOW_SYMPTOM: timedelta(days=policy.window_symptom_days),
        WINDOW_LAB: timedelta(hours=policy.window_lab_hours),
        WINDOW_TSH: timedelta(days=policy.window_tsh_days),
        WINDOW_ABI: timedelta(days=policy.window_abi_days),
        WINDOW_14_DAYS: FOURTEEN_DAYS,
        WINDOW_POSTPARTUM: POSTPARTUM_WINDOW,
        WINDOW_HISTORY: None,
        WINDOW_CHRONIC: timedelta(days=policy.window_chronic_observation_days),
        WINDOW_PREGNANCY: timedelta(days=policy.window_pregnancy_observation_days),
    }
    table = {(name, False): window for name, window in by_class.items()}
    table.update({(name, True): window for name, window in by_class.items()})
    # Chronic disorders and pregnancy have no limit as active Conditions.
    table[(WINDOW_CHRONIC, True)] = table[(WINDOW_PREGNANCY, True)] = None
    return MappingProxyType(table)


def local_finding_codes() -> list[CodeDef]:
    """Every local code (code + display) for the `finding` CodeSystem, in catalog order."""
    seen: dict[str, CodeDef] = {}
    for finding in FINDINGS.values():
        for code in finding.codes:
            if code.is_local and code.code not in seen:
                seen[code.code] = code
    for item in MEASUREMENT_LIST:
        if item.system == LOCAL and item.code not in seen:
            seen[item.code] = CodeDef(LOCAL, item.code, item.display, LOCAL_MARK)
    return list(seen.values())


def wire_system(system: str, base: str) -> str:
    """The system URL a code is sent with: local codes live under `<base>/CodeSystem/finding`."""
    return base.rstrip("/") + LOCAL_FINDING_SYSTEM_SUFFIX if system == LOCAL else system


def observation_codes(policy: Policy, extra_observation_codes: tuple[str, ...] = ()) -> list[str]:
    """`system|code` of every code an Observation may carry for a finding (prefetch query).

    Finding codes, the generic codes, measurement codes, local codes (under the configured
    base), configured codes and `extra_observation_codes`, deduplicated, in catalog order.
    """
    out: dict[str, None] = {}
    for finding in FINDINGS.values():
        for code_def in finding.codes:
            out[f"{wire_system(code_def.system, policy.base)}|{code_def.code}"] = None
    for system, code, _, _ in GENERIC_OBSERVATION_CODES:
        out[f"{system}|{code}"] = None
    for item in MEASUREMENT_LIST:
        out[f"{wire_system(item.system, policy.base)}|{item.code}"] = None
    for system, code in catalog_for(policy).extra:
        out[f"{wire_system(system, policy.base)}|{code}"] = None
    for raw in extra_observation_codes:
        if raw.strip():
            out[raw.strip()] = None
    return list(out)


def all_catalog_codes() -> list[tuple[str, str, str, str]]:
    """(system, code, display, confidence) of every finding and measurement code."""
    rows: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for finding in FINDINGS.values():
        for code in finding.codes:
            rows.setdefault(
                (code.system, code.code), (code.system, code.code, code.display, code.confidence)
            )
    for item in MEASUREMENT_LIST:
        rows.setdefault(
            (item.system, item.code), (item.system, item.code, item.display, item.confidence)
        )
    return list(rows.values())
