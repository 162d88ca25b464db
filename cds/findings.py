"""The finding catalog of clinical-rules.md §3 as data: codes, body sites, windows, analytes.

Pure (stdlib only). `fhir_input` reads FHIR through these tables; `prefetch` builds the
observations query from them; `codesystems` publishes `local_finding_codes()`. Indexes are
built once at import and the catalog's invariants are checked there too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

from .config import Settings
from .model import (
    LOCAL_FINDING_SYSTEM_SUFFIX,
    TAG_AT_ANY_SITE,
    TAG_MOTOR,
    TAG_NOT_DEEP_VEIN,
    TAG_PAIN_OUT_OF_PROPORTION,
    TAG_SUPERFICIAL_CORD,
    TAG_SUPPORTING,
)

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NUCC = "http://nucc.org/provider-taxonomy"
# Local codes are stored under this sentinel system; matching accepts the configured
# `<fhir_base>/CodeSystem/finding` and any system ending in that suffix (lenient = conservative).
LOCAL = "local:finding"
DEFAULT_LOCAL_SYSTEM = "http://calf-cds.example/fhir" + LOCAL_FINDING_SYSTEM_SUFFIX

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
WINDOW_CLASSES = frozenset(
    {
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
        "Calf pain",
        WINDOW_SYMPTOM,
        (
            _c("300954003", "Pain in calf", V),
            _c("1264028004", "Pain in muscle of lower leg", U, note="one IG (HL7 BE)"),
            _c("10601006", "Pain in lower limb", V),
            _c(
                "68962001",
                "Muscle pain",
                V,
                site=SITE_CALF,
                off_site_tags=frozenset({TAG_SUPPORTING, TAG_AT_ANY_SITE}),
            ),
        ),
    ),
    FindingDef(
        "F-LEG-SWELLING",
        "Leg swelling",
        WINDOW_SYMPTOM,
        (
            _c("449615005", "Swelling of lower leg", V),
            _c("449614009", "Swelling of lower limb", V),
            _c("449707004", "Edema of lower leg", V),
            _c("102572006", "Edema of lower extremity", V),
            _c("762898005", "Swelling of bilateral lower limbs", V, bilateral=True),
        ),
    ),
    FindingDef(
        "F-ANKLE-SWELLING",
        "Ankle swelling",
        WINDOW_SYMPTOM,
        (_c("267039000", "Swollen ankle", V), _c("26237000", "Ankle edema", V)),
    ),
    FindingDef(
        "F-CALF-SWELLING-3CM",
        "Calf swelling of 3 cm or more",
        WINDOW_SYMPTOM,
        (_local("calf-swelling-3cm", "Calf swelling >= 3 cm compared with the other side"),),
        measured_by=(CALF_CIRCUMFERENCE,),
    ),
    FindingDef(
        "F-ENTIRE-LEG-SWOLLEN",
        "Entire leg swollen",
        WINDOW_SYMPTOM,
        (_local("entire-leg-swollen", "Entire leg swollen"),),
    ),
    FindingDef(
        "F-PITTING-EDEMA",
        "Pitting oedema",
        WINDOW_SYMPTOM,
        (
            _c("284521000", "Pitting edema", U, site=SITE_LEG),
            _local(
                "pitting-edema-symptomatic-leg", "Pitting oedema confined to the symptomatic leg"
            ),
        ),
        note="counts when unilateral or side unknown, never when bilateral (engine)",
    ),
    FindingDef(
        "F-DEEP-VEIN-TENDERNESS",
        "Tenderness along the deep veins",
        WINDOW_SYMPTOM,
        (
            _local("deep-vein-tenderness", "Localised tenderness along the deep venous system"),
            _c(
                "247348008",
                "Tenderness",
                V,
                site=SITE_CALF,
                tags=frozenset({TAG_NOT_DEEP_VEIN}),
            ),
        ),
    ),
    FindingDef(
        "F-COLLATERAL-VEINS",
        "Collateral superficial veins",
        WINDOW_SYMPTOM,
        (_local("collateral-superficial-veins", "Collateral superficial veins (non-varicose)"),),
    ),
    FindingDef("F-ERYTHEMA", "Erythema", WINDOW_SYMPTOM, (_c("247441003", "Erythema", V),)),
    FindingDef(
        "F-WARMTH", "Warmth of the leg", WINDOW_SYMPTOM, (_local("leg-warmth", "Leg warmth"),)
    ),
    FindingDef(
        "F-CYANOSIS",
        "Cyanosis of the leg",
        WINDOW_SYMPTOM,
        # Without a leg site the record is F-PE-SYMPTOM instead (no supporting F-CYANOSIS).
        (_c("3415004", "Cyanosis", V, site=SITE_LEG, off_site_tags=None),),
    ),
    FindingDef(
        "F-ANTICOAGULATED",
        "On anticoagulant",
        WINDOW_SYMPTOM,
        (_local("on-anticoagulant", "On anticoagulant treatment"),),
    ),
    FindingDef(
        "F-SKIN-DISCOLOURATION",
        "Skin discolouration",
        WINDOW_SYMPTOM,
        (_c("3253007", "Discoloration of skin", V, site=SITE_CALF, tags=_SUPPORTING),),
        supporting_only=True,
    ),
    FindingDef(
        "F-FEVER",
        "Fever",
        WINDOW_SYMPTOM,
        (_c("386661006", "Fever", V),),
        measured_by=(TEMPERATURE,),
    ),
    FindingDef(
        "F-MALAISE",
        "Malaise",
        WINDOW_SYMPTOM,
        (_c("367391008", "Malaise", V), _c("84229001", "Fatigue", V)),
    ),
    FindingDef(
        "F-UNABLE-WEIGHT-BEAR",
        "Unable to bear weight",
        WINDOW_SYMPTOM,
        (_c("285674009", "Unable to weight-bear", V),),
    ),
    FindingDef(
        "F-PE-SYMPTOM",
        "Symptom or sign of pulmonary embolism",
        WINDOW_SYMPTOM,
        (
            _c("267036007", "Dyspnea", V2),
            _c("29857009", "Chest pain", V2),
            _c("66857006", "Hemoptysis", V2),
            _c("271594007", "Syncope", V2),
            _c("3415004", "Cyanosis", V, site=SITE_NOT_LEG, off_site_tags=None),
        ),
        measured_by=(SPO2, HEART_RATE),
    ),
    FindingDef(
        "F-ACTIVE-CANCER",
        "Active cancer",
        WINDOW_HISTORY,
        (_c("363346000", "Malignant neoplastic disease", V),),
        note="deployments add codes with CDS_EXTRA_CANCER_CODES",
    ),
    FindingDef(
        "F-PREVIOUS-DVT",
        "Previously documented DVT",
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
        "Paresis or recent plaster immobilisation of the leg",
        WINDOW_SYMPTOM,
        (
            _c("102568007", "Paresis of lower extremity", V),
            _local("recent-plaster-immobilisation", "Recent plaster immobilisation of the leg"),
        ),
    ),
    FindingDef(
        "F-BEDRIDDEN-OR-SURGERY",
        "Bedridden 3 days or major surgery within 12 weeks",
        WINDOW_SYMPTOM,
        (
            _local(
                "bedridden-3-days-or-major-surgery-12-weeks",
                "Bedridden >= 3 days or major surgery within 12 weeks",
            ),
        ),
    ),
    FindingDef(
        "F-ALTERNATIVE-DX-LIKELY",
        "Alternative diagnosis at least as likely as DVT",
        WINDOW_SYMPTOM,
        (_local("alternative-diagnosis-as-likely", "Alternative diagnosis at least as likely"),),
    ),
    FindingDef(
        "F-PREGNANT",
        "Pregnant",
        WINDOW_PREGNANCY,
        (_c("77386006", "Pregnant", U),),
        note="as Condition, Observation code, or value of LOINC 82810-3 Pregnancy status",
    ),
    FindingDef(
        "F-D-DIMER",
        "D-dimer",
        WINDOW_LAB,
        (),
        measured_by=(D_DIMER,),
        note="qualitative 10828004 Positive (U) or interpretation POS is positive",
    ),
    FindingDef(
        "F-DVT-DX",
        "Diagnosed DVT or PE (active, within 14 days)",
        WINDOW_14_DAYS,
        tuple(_c(code, display, V) for code, display in _DVT_PE),
    ),
    FindingDef(
        "F-SVT",
        "Superficial vein thrombosis",
        WINDOW_SYMPTOM,
        (
            _c("2477008", "Superficial thrombophlebitis", V),
            _c("40283005", "Thrombophlebitis of superficial veins of lower extremity", V),
            _c("275517008", "Superficial thrombophlebitis of leg", V),
            _c("64156001", "Thrombophlebitis", V),
            _local(
                "superficial-vein-cord",
                "Palpable cord along a superficial vein",
                tags=frozenset({TAG_SUPERFICIAL_CORD}),
            ),
        ),
    ),
    FindingDef(
        "F-VARICOSE",
        "Varicose veins or chronic venous insufficiency",
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
        "Bleeding varicose vein",
        WINDOW_SYMPTOM,
        (_local("bleeding-varicose-vein", "Bleeding from a varicose vein"),),
    ),
    FindingDef(
        "F-EVENING-PAIN",
        "Pain worse in the evening",
        WINDOW_SYMPTOM,
        (_local("pain-worse-in-evening", "Leg pain worse in the evening"),),
    ),
    FindingDef(
        "F-CLAUDICATION",
        "Intermittent claudication",
        WINDOW_SYMPTOM,
        (_c("63491006", "Intermittent claudication", V),),
        note="never 16973004 (Limping)",
    ),
    FindingDef(
        "F-CALF-ATROPHY",
        "Calf muscle atrophy",
        WINDOW_SYMPTOM,
        (
            _c("1119440005", "Atrophy of muscle of lower leg", V),
            _c("88092000", "Muscle atrophy", V, site=SITE_CALF),
        ),
    ),
    FindingDef(
        "F-TROPHIC-SKIN",
        "Trophic skin changes",
        WINDOW_SYMPTOM,
        (
            _c("16386004", "Dry skin", V, site=SITE_LEG),
            _c("56317004", "Alopecia", V, site=SITE_LEG),
            _c("414941008", "Onychomycosis", V, note="counts as +leg without a bodySite"),
        ),
    ),
    FindingDef(
        "F-GANGRENE",
        "Gangrene",
        WINDOW_SYMPTOM,
        (_c("372070002", "Gangrenous disorder", V), _c("49176002", "Gangrene", V)),
    ),
    FindingDef(
        "F-REST-PAIN",
        "Ischaemic rest pain",
        WINDOW_SYMPTOM,
        (
            _c("428171009", "Peripheral vascular disease with rest pain", V),
            _local("ischaemic-rest-pain", "Ischaemic rest pain"),
        ),
    ),
    FindingDef("F-ABI", "Ankle-brachial index", WINDOW_ABI, (), measured_by=(ABI,)),
    FindingDef(
        "F-PAD-DX",
        "Peripheral arterial disease",
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
        "Chronic limb-threatening ischaemia",
        WINDOW_CHRONIC,
        (_c("233962007", "Critical lower limb ischemia", V),),
    ),
    FindingDef(
        "F-COLD-LIMB",
        "Cold or pale leg",
        WINDOW_SYMPTOM,
        (
            _c("771542000", "Cold extremity", V, site=SITE_LEG),
            _c("771545003", "Painful and cold lower limb", V),
            _local("pallor-of-leg", "Pallor of the leg"),
        ),
    ),
    FindingDef(
        "F-PAINFUL-COLD-LIMB",
        "Painful and cold leg",
        WINDOW_SYMPTOM,
        (_c("771545003", "Painful and cold lower limb", V),),
    ),
    FindingDef(
        "F-PULSELESS",
        "Absent foot pulses",
        WINDOW_SYMPTOM,
        (
            _c("54518005", "Absent pulse", U, site=SITE_LEG),
            _local("absent-foot-pulses", "Absent foot pulses"),
        ),
    ),
    FindingDef(
        "F-SENSORY-MOTOR-LOSS",
        "Sensory or motor loss",
        WINDOW_SYMPTOM,
        (
            _c("91019004", "Paresthesia", V),
            _c("309537005", "Numbness of lower limb", V),
            _c("102568007", "Paresis of lower extremity", V, tags=frozenset({TAG_MOTOR})),
            _c("713514005", "Muscle weakness of limb", V, tags=frozenset({TAG_MOTOR})),
        ),
    ),
    FindingDef(
        "F-ALI-DX",
        "Acute limb ischaemia",
        WINDOW_SYMPTOM,
        (
            _c("1230182004", "Acute lower limb ischemia", V),
            _c("312378004", "Lower limb arterial embolus", V),
            _c("90958004", "Acute limb ischemia", V),
        ),
    ),
    FindingDef(
        "F-LOW-BACK-PAIN",
        "Low back pain",
        WINDOW_SYMPTOM,
        (_c("279039007", "Low back pain", V), _c("278860009", "Chronic low back pain", V)),
    ),
    FindingDef(
        "F-RADICULAR",
        "Radicular pain",
        WINDOW_SYMPTOM,
        (
            _c("23056005", "Sciatica", V),
            _c("128196005", "Lumbar radiculopathy", V),
            _c("2415007", "Lumbosacral radiculopathy", V),
            _c("202735001", "Lumbar disc prolapse with radiculopathy", V),
            _local("shooting-pain-on-movement", "Pain shooting into the calf on starting to move"),
            _local("straight-leg-raise-positive", "Straight leg raise test positive"),
        ),
    ),
    FindingDef(
        "F-LUMBAR-DISC-DISEASE",
        "Lumbar disc disease",
        WINDOW_CHRONIC,
        (
            _c("202708005", "Prolapsed lumbar intervertebral disc", V, tags=_SUPPORTING),
            _c("26538006", "Degeneration of lumbar intervertebral disc", V, tags=_SUPPORTING),
        ),
        supporting_only=True,
    ),
    FindingDef(
        "F-NEUROGENIC-CLAUDICATION",
        "Neurogenic claudication",
        WINDOW_CHRONIC,
        (
            _c("303081002", "Neurogenic claudication", V),
            _c("18347007", "Spinal stenosis of lumbar region", V),
        ),
    ),
    FindingDef(
        "F-CAUDA-EQUINA-DX",
        "Cauda equina syndrome",
        WINDOW_SYMPTOM,
        (
            _c("192970008", "Cauda equina syndrome with neurogenic bladder", V),
            _c("12454008", "Cauda equina syndrome", V),
            _local("saddle-anaesthesia", "Saddle anaesthesia"),
        ),
    ),
    FindingDef(
        "F-BLADDER-BOWEL-FLAG",
        "New bladder or bowel dysfunction",
        WINDOW_14_DAYS,
        (
            _c("267064002", "Retention of urine", V),
            _c("72042002", "Incontinence of feces", V),
            _c("165232002", "Urinary incontinence", V),
        ),
    ),
    FindingDef(
        "F-COMPARTMENT",
        "Compartment syndrome",
        WINDOW_SYMPTOM,
        (
            _c("111245009", "Compartment syndrome", V),
            _local(
                "pain-out-of-proportion",
                "Pain out of proportion to the injury",
                tags=frozenset({TAG_PAIN_OUT_OF_PROPORTION}),
            ),
            _local("pain-on-passive-stretch", "Pain on passive stretch of the calf muscles"),
        ),
    ),
    FindingDef(
        "F-CELLULITIS",
        "Cellulitis",
        WINDOW_SYMPTOM,
        (
            _c("449711005", "Cellulitis of lower leg", V),
            _c("287001000", "Cellulitis of lower limb", V),
        ),
    ),
    FindingDef(
        "F-NECROTISING",
        "Necrotising fasciitis",
        WINDOW_SYMPTOM,
        (_c("52486002", "Necrotizing fasciitis", V),),
    ),
    FindingDef(
        "F-EXERTION",
        "Recent strenuous exertion or muscle strain",
        WINDOW_SYMPTOM,
        (
            _local("recent-strenuous-exertion", "Recent strenuous or unaccustomed exertion"),
            _c("48532005", "Muscle strain", V),
        ),
    ),
    FindingDef(
        "F-CRAMP",
        "Muscle cramp",
        WINDOW_SYMPTOM,
        (
            _c("55300003", "Cramp", V),
            _c("449918009", "Cramp in lower leg", V),
            _c("102549009", "Muscle cramp of lower limb", V),
        ),
    ),
    FindingDef(
        "F-CRAMP-CAUSE",
        "Secondary cause of cramps",
        WINDOW_SYMPTOM,
        (
            _c("40930008", "Hypothyroidism", V, window_class=WINDOW_CHRONIC),
            _c("34095006", "Dehydration", V),
            _c("43339004", "Hypokalemia", V),
            _c("190855004", "Hypomagnesemia", V),
            _c("5291005", "Hypocalcemia", V),
        ),
        measured_by=(TSH, POTASSIUM, MAGNESIUM, CALCIUM),
    ),
    FindingDef(
        "F-SEVERE-ELECTROLYTE",
        "Severe electrolyte disturbance",
        WINDOW_LAB,
        (),
        measured_by=(POTASSIUM, MAGNESIUM, CALCIUM),
    ),
    FindingDef("F-CK", "Creatine kinase", WINDOW_LAB, (), measured_by=(CK,)),
    FindingDef(
        "F-MYOSITIS-DX",
        "Myositis",
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
        "Rhabdomyolysis",
        WINDOW_SYMPTOM,
        (
            _c("240131006", "Rhabdomyolysis", V),
            _local("dark-urine", "Dark (cola-coloured) urine"),
        ),
        note="local dark-urine counts with a calf symptom or 68962001 at any site (engine)",
    ),
    FindingDef(
        "F-FIBROMYALGIA",
        "Fibromyalgia",
        WINDOW_CHRONIC,
        (_c("203082005", "Fibromyalgia", V2),),
    ),
    FindingDef(
        "F-ACHILLES-RUPTURE",
        "Achilles tendon rupture",
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

# Default cut-offs (§3; §5 for D-dimer). The observation's own interpretation and
# referenceRange are preferred where fhir_input says so.
FEVER_CEL = 38.0
SPO2_LOW_PERCENT = 92.0
HEART_RATE_HIGH_PER_MIN = 100.0
D_DIMER_FEU_NG_ML = 500.0
D_DIMER_DDU_NG_ML = 250.0
TSH_HIGH_MIU_L = 4.5
POTASSIUM_LOW_MMOL_L = 3.5
POTASSIUM_SEVERE_MMOL_L = 2.5
MAGNESIUM_LOW = {"mmol/L": 0.7, "mg/dL": 1.7}
CALCIUM_LOW_MG_DL = 8.5
CALF_DIFFERENCE_CM = 3.0

# Other codes the service uses (docs/terminology.md lists them all): §2, §6, §7.
BODY_SITE_CODES: tuple[tuple[str, str, str], ...] = (
    ("53840002", "Calf of leg structure", U),
    ("30021000", "Lower leg structure", U),
    ("61685007", "Lower limb structure", U),
    ("344001", "Ankle region structure", U),
    ("56459004", "Foot structure", U),
)
LATERALITY_CODES: tuple[tuple[str, str, str], ...] = (
    (LEFT_CODE, "Left", U),
    (RIGHT_CODE, "Right", U),
    (BILATERAL_CODE, "Right and left", U),
)
VALUE_CODES: tuple[tuple[str, str, str, str], ...] = (
    (NO_CODE, "No", U, "explicit absence (§2)"),
    (YES_CODE, "Yes", U, "presence (§2)"),
    (POSITIVE_CODE, "Positive", U, "qualitative D-dimer positive (§3)"),
    (NEGATIVE_CODE, "Negative", U, "qualitative D-dimer negative (not in the spec; U)"),
)
EXCLUDED_CODES: tuple[tuple[str, str, str], ...] = (
    ("16973004", "Limping", "never counts as F-CLAUDICATION (§3)"),
    ("306206005", "Referral to service", "never used for neurology (§6)"),
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
) -> None:
    """Raise ValueError when an invariant of the catalog does not hold (run at import)."""
    for finding in findings.values():
        if not finding.finding_id.startswith("F-"):
            raise ValueError(f"finding id {finding.finding_id} must start with F-")
        if finding.window_class not in WINDOW_CLASSES:
            raise ValueError(f"{finding.finding_id}: unknown window class {finding.window_class}")
        if not finding.codes and not finding.measured_by:
            raise ValueError(f"{finding.finding_id} has neither codes nor measurements")
        for code in finding.codes:
            where = f"{finding.finding_id} {code.code}"
            if code.confidence not in CONFIDENCE_MARKS:
                raise ValueError(f"{where}: confidence mark {code.confidence!r} unknown")
            if (code.confidence == LOCAL_MARK) != code.is_local:
                raise ValueError(f"{where}: only local codes carry the local mark")
            if code.system not in {SNOMED, LOINC, LOCAL}:
                raise ValueError(f"{where}: system {code.system} unexpected")
            if code.site not in {None, SITE_CALF, SITE_LEG, SITE_NOT_LEG}:
                raise ValueError(f"{where}: site {code.site!r} unknown")
            if code.window_class is not None and code.window_class not in WINDOW_CLASSES:
                raise ValueError(f"{where}: unknown window class {code.window_class}")
            if not code.display:
                raise ValueError(f"{where}: display missing")
    seen: set[tuple[str, str]] = set()
    analytes = {a for f in findings.values() for a in f.measured_by}
    for item in measurements:
        key = (item.system, item.code)
        if key in seen:
            raise ValueError(f"duplicate measurement code {item.code}")
        seen.add(key)
        if item.confidence not in CONFIDENCE_MARKS:
            raise ValueError(f"measurement {item.code}: confidence mark missing")
        if item.analyte not in analytes:
            raise ValueError(f"measurement {item.code}: no finding lists analyte {item.analyte}")
        for finding_id in item.finding_ids:
            if finding_id not in findings:
                raise ValueError(f"measurement {item.code}: unknown finding {finding_id}")
        if item.window_class not in WINDOW_CLASSES:
            raise ValueError(f"measurement {item.code}: unknown window class")
        if item.analyte == D_DIMER and item.dimer_basis not in {"FEU", "DDU"}:
            raise ValueError(f"measurement {item.code}: D-dimer needs FEU or DDU")
        if (key[0], key[1]) in {(c.system, c.code) for f in findings.values() for c in f.codes}:
            raise ValueError(f"measurement {item.code} is also a presence code")


def _build_index(
    findings: Mapping[str, FindingDef],
) -> Mapping[tuple[str, str], tuple[CatalogEntry, ...]]:
    index: dict[tuple[str, str], list[CatalogEntry]] = {}
    for finding in findings.values():
        for code in finding.codes:
            if code.indexed:
                index.setdefault((code.system, code.code), []).append(CatalogEntry(finding, code))
    return MappingProxyType({key: tuple(entries) for key, entries in index.items()})


check_catalog()
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


def normalise_system(system: str | None) -> str:
    """Map `…/CodeSystem/finding` URLs to the LOCAL sentinel and known aliases of SNOMED CT and
    LOINC (OIDs, https, trailing slash) to their canonical URL; other systems unchanged."""
    if not system:
        return ""
    if system.endswith(LOCAL_FINDING_SYSTEM_SUFFIX):
        return LOCAL
    return _SYSTEM_ALIASES.get(system, system)


def _parse_extra_code(raw: str) -> tuple[str, str]:
    system, sep, code = raw.strip().rpartition("|")
    return (normalise_system(system) if sep and system else SNOMED), code.strip()


def extra_cancer_entries(settings: Settings) -> Mapping[tuple[str, str], tuple[CatalogEntry, ...]]:
    """Index entries for `settings.extra_cancer_codes` (bare code = SNOMED, or `system|code`)."""
    return _extra_cancer_entries(tuple(settings.extra_cancer_codes))


_EXTRA_CACHE: dict[tuple[str, ...], Mapping[tuple[str, str], tuple[CatalogEntry, ...]]] = {}


def _extra_cancer_entries(
    raw_codes: tuple[str, ...],
) -> Mapping[tuple[str, str], tuple[CatalogEntry, ...]]:
    cached = _EXTRA_CACHE.get(raw_codes)
    if cached is not None:
        return cached
    cancer = FINDINGS["F-ACTIVE-CANCER"]
    entries: dict[tuple[str, str], tuple[CatalogEntry, ...]] = {}
    for raw in raw_codes:
        system, code = _parse_extra_code(raw)
        if code:
            definition = CodeDef(system, code, "Configured cancer code", U, note="configured")
            entries[(system, code)] = (CatalogEntry(cancer, definition),)
    result: Mapping[tuple[str, str], tuple[CatalogEntry, ...]] = MappingProxyType(entries)
    if len(_EXTRA_CACHE) < 16:  # settings rarely change; bound the cache anyway
        _EXTRA_CACHE[raw_codes] = result
    return result


def lookup(
    system: str | None,
    code: str | None,
    extra: Mapping[tuple[str, str], tuple[CatalogEntry, ...]] | None = None,
) -> tuple[CatalogEntry, ...]:
    """Catalog entries for one coding (local systems matched leniently); () when unknown."""
    if not code:
        return ()
    key = (normalise_system(system), code)
    found = CODE_INDEX.get(key, ())
    if extra:
        more = extra.get(key)
        if more:
            found = found + more
    return found


def measurement_for(system: str | None, code: str | None) -> MeasurementDef | None:
    """The threshold analyte of one coding, or None."""
    if not code:
        return None
    return MEASUREMENTS.get((normalise_system(system), code))


def window_for(window_class: str, settings: Settings, *, condition: bool) -> timedelta | None:
    """The time window of a class (§2 "Time windows"); None = no limit.

    Chronic disorders and pregnancy have no limit as active Conditions.
    """
    if window_class == WINDOW_SYMPTOM:
        return timedelta(days=settings.window_symptom_days)
    if window_class == WINDOW_LAB:
        return timedelta(hours=settings.window_lab_hours)
    if window_class == WINDOW_TSH:
        return timedelta(days=settings.window_tsh_days)
    if window_class == WINDOW_ABI:
        return timedelta(days=settings.window_abi_days)
    if window_class == WINDOW_14_DAYS:
        return FOURTEEN_DAYS
    if window_class == WINDOW_CHRONIC:
        return None if condition else timedelta(days=settings.window_chronic_observation_days)
    if window_class == WINDOW_PREGNANCY:
        return None if condition else timedelta(days=settings.window_pregnancy_observation_days)
    return None  # WINDOW_HISTORY


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


def observation_prefetch_codes(settings: Settings) -> list[str]:
    """`system|code` of every code an Observation may carry for a finding (discovery prefetch).

    Finding codes, the generic codes, measurement codes, local codes (under the configured
    base), configured cancer codes and `settings.extra_observation_codes`, deduplicated.
    """
    local_system = settings.fhir_base.rstrip("/") + LOCAL_FINDING_SYSTEM_SUFFIX

    def wire(system: str, code: str) -> str:
        return f"{local_system if system == LOCAL else system}|{code}"

    out: dict[str, None] = {}
    for finding in FINDINGS.values():
        for code_def in finding.codes:
            out[wire(code_def.system, code_def.code)] = None
    for system, code, _, _ in GENERIC_OBSERVATION_CODES:
        out[wire(system, code)] = None
    for item in MEASUREMENT_LIST:
        out[wire(item.system, item.code)] = None
    for extra_system, extra_code in extra_cancer_entries(settings):
        out[wire(extra_system, extra_code)] = None
    for raw in settings.extra_observation_codes:
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
