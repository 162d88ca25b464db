"""The pure domain vocabulary shared by reading, rules, scores and cards (stdlib types only).

A `Finding` is one FHIR resource's statement about one finding id of the clinical spec §3
(clinical-rules.md). `fhir_input` makes them; `engine` reads them through `FindingSet`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Side(StrEnum):
    """Laterality from bodySite (clinical-rules.md §2 "Laterality")."""

    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    UNKNOWN = "unknown"

    @property
    def one_sided_or_unknown(self) -> bool:
        return self is not Side.BILATERAL


class Tier(StrEnum):
    """Urgency tiers, highest first (clinical-rules.md §1.2)."""

    EMERGENCY = "E"
    URGENT = "U"
    ROUTINE = "R"
    SELF_CARE = "S"

    @property
    def rank(self) -> int:
        return "EURS".index(self.value)

    @property
    def indicator(self) -> str:
        return {"E": "critical", "U": "warning", "R": "info", "S": "info"}[self.value]

    @property
    def priority(self) -> str | None:
        return {"E": "stat", "U": "urgent", "R": "routine", "S": None}[self.value]


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str = ""


@dataclass(frozen=True)
class Measurement:
    """A numeric value after UCUM normalisation (e.g. Cel, ng/mL, x ULN, ratio, cm)."""

    value: float
    unit: str
    comparator: str | None = None  # ">", ">=", "<", "<=" as sent; ">" counts as at least value
    original: str = ""  # what the EHR sent, for the card ("101.3 [degF]")


# Tags a Finding may carry (strings so that rows and tests stay readable).
TAG_MOTOR = "motor"  # F-SENSORY-MOTOR-LOSS codes 102568007, 713514005
TAG_HEART_RATE = "heart-rate"  # F-PE-SYMPTOM from heart rate > 100 only
TAG_MEASURED = "measured"  # decided by a threshold, not by the presence rule
TAG_SUPPORTING = "supporting"  # supporting evidence only (no site, discolouration, ...)
TAG_NOT_DEEP_VEIN = "not-deep-vein"  # 247348008 tenderness: not localised to the deep veins
TAG_PAIN_OUT_OF_PROPORTION = "pain-out-of-proportion"
TAG_SUPERFICIAL_CORD = "superficial-vein-cord"
TAG_AT_ANY_SITE = "muscle-pain-any-site"  # 68962001 with no calf site (muscle pain, F-RHABDO)
TAG_ACTIVE_CONDITION = "active-condition"
TAG_BLOCKS_SELF_CARE = "blocks-self-care"  # a not-interpretable D-dimer, CK, potassium, temperature
TAG_DDU = "ddu"  # D-dimer reported in D-dimer units (else FEU)
LOCAL_FINDING_SYSTEM_SUFFIX = "/CodeSystem/finding"


@dataclass(frozen=True)
class Finding:
    """One resource's record of one finding.

    present=False is an explicit absence (valueBoolean false, SNOMED 373067005 No, NEG).
    in_window is decided at reading time against the finding's window; an undated record
    (when is None) is in its window (conservative) and the card says "undated".
    interpretable=False: a measurement whose unit could not be converted; it never fires a
    threshold and is named on every card.
    """

    finding_id: str
    present: bool
    reference: str  # "Observation/abc"; a fullUrl when the resource has no id
    code: Code
    when: datetime | None
    in_window: bool
    side: Side = Side.UNKNOWN
    measurement: Measurement | None = None
    interpretable: bool = True
    tags: frozenset[str] = frozenset()
    resource_type: str = "Observation"
    subject: str | None = None  # "Patient/123" as the resource says
    label: str = ""  # short readable text for the card, e.g. "Pain in calf (left)"

    @property
    def undated(self) -> bool:
        return self.when is None


@dataclass(frozen=True)
class PatientFacts:
    reference: str | None = None  # "Patient/<id>"
    birth_date: date | None = None
    age_years: int | None = None  # at evaluation time; None = unknown


@dataclass(frozen=True)
class Extraction:
    """Everything read from one request's FHIR data, ready for the engine."""

    findings: tuple[Finding, ...]
    patient: PatientFacts = field(default_factory=PatientFacts)
    evaluated_at: datetime | None = None
    unreadable: int = 0  # resources that could not be parsed (skipped, counted)
    unreadable_notes: tuple[str, ...] = ()  # "entry 3 (Observation): invalid value" - no PHI
    ignored: int = 0  # resources filtered by status (entered-in-error, ...) or type
    resources_read: int = 0
