"""The pure domain vocabulary: findings read from FHIR, fired rules, and typed cards.

Standard library types only. `cds.fhir` reads resources into `Finding`s (clinical-rules.md §2),
`core.engine` fires rules over them (§4), `core.compose` turns the fired rules into one plan (§8)
and `core.cards` into `Card`s (§7); the wire format lives outside the core.

The records built per resource, per cited finding or per card (`Finding`, `Measurement`,
`EvidenceItem`, the statements and lab results they are read from, the fired rules and plan
entries of `core.engine` and `core.compose`, and the card models) are never changed once built,
but are not declared frozen: a frozen dataclass sets each field through `object.__setattr__`,
which makes building one several times slower, and a request builds hundreds. They compare by
value, and hash by value where their fields can (a card's `wells` is a dict). `Code` stays
frozen: cached instances are shared between findings and cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Side(StrEnum):
    """Laterality from bodySite (§2 "Laterality")."""

    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    UNKNOWN = "unknown"


def same_side(a: Side, b: Side) -> bool:
    """§2: the same side, or either unknown; a bilateral record is on both sides."""
    return a is b or Side.UNKNOWN in (a, b) or Side.BILATERAL in (a, b)


class Tier(StrEnum):
    """Urgency tiers, highest first (§1.2)."""

    EMERGENCY = "E"
    URGENT = "U"
    ROUTINE = "R"
    SELF_CARE = "S"

    # A StrEnum member is its value: the tables are keyed by it (no `.value` descriptor call).
    @property
    def rank(self) -> int:
        return _TIER_RANK[self]

    @property
    def indicator(self) -> str:
        return _TIER_INDICATOR[self]

    @property
    def priority(self) -> str | None:
        return _TIER_PRIORITY[self]


_TIER_RANK = {tier: rank for rank, tier in enumerate("EURS")}
_TIER_INDICATOR = {"E": "critical", "U": "warning", "R": "info", "S": "info"}
_TIER_PRIORITY = {"E": "stat", "U": "urgent", "R": "routine", "S": None}


@dataclass(frozen=True, slots=True)  # frozen: cached instances are shared (see above)
class Code:
    system: str
    code: str
    display: str = ""


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Measurement:
    """A value after UCUM normalisation, with what the EHR sent.

    `value` is in `unit` (the analyte's canonical unit; CK in multiples of ULN), None when the
    value could not be interpreted. `sent_value` and `sent_unit` are as sent, for the card.
    `basis` is FEU or DDU for a D-dimer.
    """

    analyte: str
    value: float | None
    unit: str
    comparator: str | None = None
    sent_value: float | None = None
    sent_unit: str | None = None
    basis: str | None = None
    uln: float | None = None  # CK: the upper limit of normal the multiple used
    sent_text: str | None = None  # a value sent that is no number ("2,3"), as sent


# Tags a Finding may carry (strings keep rows and tests readable).
TAG_MOTOR = "motor"  # F-SENSORY-MOTOR-LOSS 102568007, 713514005
TAG_SENSORY = "sensory"  # F-SENSORY-MOTOR-LOSS 91019004, 309537005
TAG_HEART_RATE = "heart-rate"  # F-PE-SYMPTOM from a heart rate over 100 alone
TAG_SPO2 = "spo2"  # F-PE-SYMPTOM from an oxygen saturation below 92 %
TAG_MEASURED = "measured"  # decided by a threshold, not by the presence rule
TAG_SUPPORTING = "supporting"  # supporting evidence only (no site, discolouration, ...)
TAG_NOT_DEEP_VEIN = "not-deep-vein"  # 247348008 tenderness, not documented along the deep veins
TAG_PAIN_OUT_OF_PROPORTION = "pain-out-of-proportion"
TAG_SUPERFICIAL_CORD = "superficial-vein-cord"
TAG_AT_ANY_SITE = "muscle-pain-any-site"  # 68962001 without a calf site: "muscle pain" only
TAG_ACTIVE_CONDITION = "active-condition"
TAG_NOT_INTERPRETABLE_BLOCKS = "blocks-self-care"  # a D-dimer, CK, potassium or temperature
TAG_OUTSIDE_LEG = "sited-outside-leg"  # a body site that is neither laterality nor +leg
TAG_PALLOR = "pallor"  # F-COLD-LIMB from the local pallor-of-leg code
TAG_COLD = "cold"  # F-COLD-LIMB from a cold code
TAG_POSTPARTUM = "postpartum"  # F-PREGNANT from a configured postpartum code
TAG_SADDLE = "saddle"  # F-CAUDA-EQUINA-DX from saddle-anaesthesia
TAG_BLADDER = "bladder"  # F-BLADDER-BOWEL-FLAG urinary codes
TAG_BOWEL = "bowel"  # F-BLADDER-BOWEL-FLAG faecal incontinence
TAG_CODED_RESULT = "coded-result"  # a qualitative lab result (Positive/Negative) without a value
TAG_SIDES_CONFLICT = "sides-conflict"  # bodySite coded with two sides: unknown, and both legs

# Flags from an Observation's `interpretation` (§2 "Quantities"; §5).
FLAG_HIGH = "high"
FLAG_LOW = "low"
FLAG_POSITIVE = "positive"
FLAG_NEGATIVE = "negative"
FLAG_NORMAL = "normal"
FLAG_ABNORMAL = "abnormal"  # A: abnormal, no direction


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Finding:
    """One resource's statement about one finding id of §3.

    `present=False` is an explicit absence (valueBoolean false, SNOMED 373067005 No, NEG) or a
    dated measurement short of its threshold. `in_window` is decided when reading; an undated
    record (`when` None) counts as current and the card says "undated". `interpretable=False`
    marks a value whose unit could not be converted: it never fires a cut-off.
    """

    finding_id: str
    present: bool
    reference: str  # "Observation/abc"; the entry's fullUrl when the resource has no id
    name: str  # the clinician term (an English message id, translated on the card)
    code: Code
    when: datetime | None
    in_window: bool
    side: Side = Side.UNKNOWN
    measurement: Measurement | None = None
    interpretable: bool = True
    tags: frozenset[str] = frozenset()
    resource_type: str = "Observation"
    subject: str | None = None  # "Patient/123" as the resource says
    status: str = "final"  # the Observation's status (a preliminary D-dimer is never negative)
    flag: str | None = None  # the lab's interpretation, as FLAG_*
    onset: datetime | None = None  # a Condition's onset (postpartum counts from it)

    @property
    def undated(self) -> bool:
        return self.when is None


@dataclass(frozen=True, slots=True)
class PatientFacts:
    reference: str | None = None  # "Patient/<id>"
    birth_date: date | None = None
    age_years: int | None = None  # at evaluation time; None = unknown


# Why a prefetch query was not read in full (the data-quality card says it in words).
CUT_PAGE_CAP, CUT_TIME, CUT_SIZE, CUT_ENTRIES, CUT_ERROR = (
    "page_cap", "budget", "size", "entries", "error"
)  # fmt: skip
CUT_NOT_FETCHED = "not_fetched"  # later pages of a prefetched Bundle, no FHIR server to ask
CUT_FAILED = "failed"  # later pages of a prefetched Bundle, the fetch failed


@dataclass(frozen=True, slots=True)
class QueryCut:
    """A prefetch query whose answer was not read in full: red flags in the rest may be missing."""

    key: str  # the prefetch key: "observations"
    cause: str  # one of the CUT_* values
    pages: int = 0  # pages read before the cut


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A resource skipped because an element that decides its finding is malformed (§2).

    Named on the data-quality card as "<reference>: <element> <problem>", e.g.
    "Observation/o7: valueQuantity.value is not a number" (element paths only, no values).
    """

    reference: str  # "Observation/o7", or "entry 3" when the resource names nothing
    element: str  # "valueQuantity.value"
    problem: str  # an English message id: "is not a number"


@dataclass(frozen=True, slots=True)
class Caveat:
    """A malformed element ignored while reading a resource that still counts (§2)."""

    reference: str
    element: str  # "referenceRange"
    problem: str  # an English message id: "is malformed: ignored"


@dataclass(frozen=True)
class Extraction:
    """Everything read from one request's FHIR data, ready for the engine."""

    findings: tuple[Finding, ...]
    patient: PatientFacts = field(default_factory=PatientFacts)
    evaluated_at: datetime | None = None
    unreadable: tuple[Unreadable, ...] = ()
    caveats: tuple[Caveat, ...] = ()
    ignored: int = 0  # filtered by status (entered-in-error, ...) or of another type
    skipped_entries: tuple[str, ...] = ()  # Bundle entries without a resource ("entry 2")


# ----------------------------------------------------------------------------- cards
@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class SourceRef:
    """A card's `source` (§7.1): label, guideline URL and the rule as a topic coding."""

    label: str
    url: str = ""
    topic: Code | None = None


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Referral:
    """A draft ServiceRequest (§6, §7.1), as data; `cds.fhir` builds the resource."""

    code: Code
    category: Code
    performer: Code | None
    priority: str | None
    subject: str  # "Patient/<id>" (R4 requires it: no subject, no suggestion)
    reasons: tuple[str, ...]  # references of the triggering resources


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Suggestion:
    uuid: str
    label: str
    referral: Referral
    is_recommended: bool = True


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class AppContext:
    """A smart link's appContext (sent as a JSON string): the hook call, the card's rule and
    the finding ids to complete, the evaluation time the request asked for (the app judges the
    record at the same instant), and the card's language (the app's pages speak it)."""

    hook_instance: str | None
    rule_id: str
    findings: tuple[str, ...]
    language: str
    evaluation_time: str | None = None


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Link:
    label: str
    url: str
    type: str = "absolute"  # absolute | smart
    app_context: AppContext | None = None  # smart links only


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class EvidenceItem:
    """One finding behind a card, for the card extension and the console."""

    finding_id: str
    name: str  # clinician-facing name of the finding, in the card's language
    reference: str
    date: str | None  # YYYY-MM-DD, or None when undated
    value: str | None  # "650 ng/mL FEU" as shown (≤ 2 decimals)
    side: str | None  # left | right | both | None (not recorded)
    present: bool
    raw_value: float | None = None
    unit: str | None = None
    # False: the value could not be interpreted (unit or value unusable); `value` and `unit`
    # are then as sent, and `present` only says whether the lab flagged it.
    interpretable: bool = True


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class CardExtension:
    """`extension["example.calf-cds"]` (§7.1): what the card says, as data."""

    rule_id: str | None
    tier: str | None
    route: str | None
    variant: str | None
    evidence: tuple[EvidenceItem, ...] = ()
    evidence_total: int = 0  # before the cap on listed evidence
    wells: dict[str, object] | None = None
    not_recorded: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    covered_by: str | None = None
    merged_into: str | None = None
    ddimer: tuple[str, ...] = ()  # the D-dimer lines of a DVT card's Score (§5)
    also_noted: tuple[str, ...] = ()  # §2: records outside their window or supporting only
    caveats: tuple[str, ...] = ()
    safety_net: tuple[str, ...] = ()
    transfer: str | None = None
    referral_line: str | None = None  # the next step the card's suggestion drafts
    missing_items: tuple[str, ...] = ()  # finding ids the red-flag check app can complete
    # The data-quality card's facts, for an EHR to act on without reading its text:
    unreadable: int = 0  # resources skipped as unreadable
    unsatisfied_prefetch: tuple[str, ...] = ()  # prefetch keys not available and not fetched
    incomplete_prefetch: tuple[str, ...] = ()  # prefetch keys whose query was cut short
    language: str = "en"
    evaluated_at: str | None = None


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Card:
    """One CDS Hooks card (CDS Hooks 2.0 §Card), typed; serialised once at the boundary."""

    uuid: str
    summary: str
    indicator: str
    detail: str
    source: SourceRef
    extension: CardExtension
    suggestions: tuple[Suggestion, ...] = ()
    override_reasons: tuple[Code, ...] = ()
    links: tuple[Link, ...] = ()

    @property
    def rule_id(self) -> str | None:
        return self.extension.rule_id
