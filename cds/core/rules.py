"""The rule table (clinical-rules.md §4, rule set 2026.2): one frozen row per rule id, as data.

This module owns the *declaration* of rules: the condition vocabulary (frozen dataclasses, no
lambdas), the 30 rows with their variants (§7.4 variant selection), routes (§6), topics (§7.5)
and sources, and the table's invariants, checked when the module is imported and tested as data.
`core.engine` owns the *meaning* of each vocabulary term; `core.wording` the card texts.
Where §4 is silent a row chooses the conservative reading (never suppress a red flag).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from . import findings as catalog
from .i18n import N_
from .measurements import (
    ABI_CLTI,
    ABI_INCOMPRESSIBLE,
    ABI_NORMAL,
    ABI_PAD,
    CK_MYOSITIS_ULN,
    CK_RHABDO_ULN,
)
from .model import (
    TAG_HEART_RATE,
    TAG_MOTOR,
    TAG_OUTSIDE_LEG,
    TAG_PAIN_OUT_OF_PROPORTION,
    TAG_SENSORY,
    TAG_SPO2,
    TAG_SUPERFICIAL_CORD,
    Tier,
)
from .routes import PROFILES, ROUTE_KEYS

RULE_SET_VERSION = "2026.2"


# --------------------------------------------------------------------------- vocabulary
@dataclass(frozen=True)
class Present:
    """The finding is present within its window (§2: latest record wins, equal times present).

    Records out of window, not interpretable (unless the lab flagged them) or supporting-only
    never count. `with_tags`/`without_tags`/`codes`/`without_codes` narrow the records;
    `any_site` also counts 68962001 muscle pain without a calf site ("muscle pain", §4).
    """

    finding: str
    with_tags: tuple[str, ...] = ()
    without_tags: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    without_codes: tuple[str, ...] = ()
    any_site: bool = False


@dataclass(frozen=True)
class Unilateral(Present):
    """Present on one side only, or with the side unknown (§2: unknown counts as unilateral)."""


@dataclass(frozen=True)
class Bilateral(Present):
    """Recorded on both sides: a bilateral record, or standing records of left and right."""


@dataclass(frozen=True)
class Recorded:
    """Any interpretable, non-supporting record within the window, present or absent."""

    finding: str


@dataclass(frozen=True)
class Measure:
    """A comparison on a measured finding (F-ABI ratio, F-CK multiples of ULN).

    `lowest=True` compares the lowest in-window value (ABI, §2); otherwise any in-window value
    that satisfies the comparison counts (§2 thresholds).
    """

    finding: str
    op: str  # "<", "<=", ">", ">="
    threshold: float
    lowest: bool = False


@dataclass(frozen=True)
class SameSide:
    """A record matching any of `first` and one matching any of `second` on the same side (§2:
    the same side, or either unknown; a bilateral record is on both sides)."""

    first: tuple[Present, ...]
    second: tuple[Present, ...]


@dataclass(frozen=True, init=False)
class AllOf:
    items: tuple[Condition, ...]

    def __init__(self, *items: Condition) -> None:
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True, init=False)
class AnyOf:
    items: tuple[Condition, ...]

    def __init__(self, *items: Condition) -> None:
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class RuleFires:
    """Any of these rules fires (they are evaluated first)."""

    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class NoRuleOfTiers:
    """No *other* rule of these tiers fires (evaluated after all of them)."""

    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class SelfCareAllowed:
    """Principles 3 and 7 (§1): no E, U or R rule fires; no unilateral or side-unknown leg or
    ankle swelling within its window; no principle-7 sign."""


@dataclass(frozen=True)
class Group:
    """A principle-5 group (§1.5): `pregnant` (pregnancy or postpartum up to 6 weeks),
    `under-18`, `anticoagulated`, or `any` of them."""

    name: str


# The findings that put a patient in a principle-5 group (§1.5; under-18 is the age).
GROUP_FINDINGS: dict[str, tuple[str, ...]] = {
    "pregnant": ("F-PREGNANT",),
    "anticoagulated": ("F-ANTICOAGULATED",),
    "under-18": (),
    "any": ("F-PREGNANT", "F-ANTICOAGULATED"),
}

# The items the Wells node reads: NICE NG158 table 1 (two-level DVT Wells score),
# as (finding id, label, points).
WELLS_ITEMS: tuple[tuple[str, str, int], ...] = (
    ("F-ACTIVE-CANCER", N_("active cancer"), 1),
    ("F-PARESIS-OR-CAST", N_("paralysis, paresis or recent leg cast"), 1),
    ("F-BEDRIDDEN-OR-SURGERY", N_("bedridden 3 days or major surgery within 12 weeks"), 1),
    ("F-DEEP-VEIN-TENDERNESS", N_("tenderness along the deep veins"), 1),
    ("F-ENTIRE-LEG-SWOLLEN", N_("entire leg swollen"), 1),
    ("F-CALF-SWELLING-3CM", N_("calf swelling 3 cm or more"), 1),
    ("F-PITTING-EDEMA", N_("pitting oedema of the symptomatic leg"), 1),
    ("F-COLLATERAL-VEINS", N_("collateral superficial veins"), 1),
    ("F-PREVIOUS-DVT", N_("previous DVT"), 1),
    ("F-ALTERNATIVE-DX-LIKELY", N_("alternative diagnosis as likely"), -2),
)
WELLS_FINDINGS = tuple(finding_id for finding_id, _, _ in WELLS_ITEMS)
D_DIMER_FINDING = "F-D-DIMER"


@dataclass(frozen=True)
class Wells:
    """The two-level DVT Wells score (§5) is `likely`, `incomplete` or `unlikely` (complete
    and 1 or less)."""

    classification: str


@dataclass(frozen=True)
class DDimer:
    """D-dimer state within its window (§5): `raised` (a record at or over the default cut-off
    or flagged by the lab: it triggers the pathway), `positive` (a result judged positive),
    `negative` (a usable negative), `all-negative` (at least one, and every one negative)."""

    state: str


@dataclass(frozen=True)
class NotInterpretable:
    """A not-interpretable value of a self-care-blocking analyte (D-dimer, CK, K, temperature)."""


@dataclass(frozen=True)
class RecordedClear:
    """Each group of findings is recorded within its window, and none of them is present
    (R-REST "examined": swelling, skin colour, warmth and temperature recorded normal)."""

    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Always:
    """Holds without evidence (the last variant of a rule)."""


Condition = (
    Present
    | Recorded
    | Measure
    | SameSide
    | AllOf
    | AnyOf
    | Not
    | RuleFires
    | NoRuleOfTiers
    | SelfCareAllowed
    | Group
    | Wells
    | DDimer
    | NotInterpretable
    | RecordedClear
    | Always
)


# --------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Source:
    # The guideline, without section numbers (§7.1): a published title stays as published in
    # every language; a local policy's label (no page) is marked N_ and translated.
    label: str
    url: str = ""  # its public page; "" for local policy


@dataclass(frozen=True)
class Variant:
    """One §7.4 variant: selected when `condition` holds (the first that does wins). Overrides
    the rule's tier, route, priority (§6) or source (§7.1) where §4 sets them."""

    name: str
    condition: Condition
    tier: Tier | None = None
    route: str | None = None
    priority: str | None = None
    source: Source | None = None


STANDARD = (Variant("standard", Always()),)

GROUPS = frozenset({"pregnant", "under-18", "anticoagulated", "any"})
DDIMER_STATES = frozenset({"raised", "positive", "negative", "all-negative"})
TOPICS = ("venous", "arterial", "spinal", "infection", "muscle", "cramp", "general")


@dataclass(frozen=True)
class Rule:
    """One row of §4."""

    id: str
    name: str  # the rule's name (source.topic.display; clinician-facing, translated)
    tier: Tier
    route: str
    source: Source
    condition: Condition
    topic: str
    variants: tuple[Variant, ...] = STANDARD
    lateral: bool = False  # venous or arterial topic, or R-CELLULITIS: sides shown (§7.2.4)
    recommended: bool = True  # the suggestion's isRecommended (§4: R-RADICULOPATHY false)
    # A DVT card (§5): a Score block with Wells and the D-dimer, and "Why" cites every record
    # the Wells score counted, not only the trigger's (§7.3: "each finding").
    scored: bool = False
    # Self-care and "no red flags" cards name old or supporting records of *every* finding
    # under "Also noted" (an old fever matters beside "no red flags"), not only their own.
    notes_all: bool = False
    findings_used: tuple[str, ...] = field(default=(), compare=False)
    # What "Also noted" may name (§2: a record that would have counted in its window): the
    # findings of every rule of the same topic, so an old bladder symptom is named beside a
    # radiculopathy card though only cauda equina reads it.
    findings_of_topic: tuple[str, ...] = field(default=(), compare=False)

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


# --------------------------------------------------------------------------- shorthands
def _p(finding: str) -> Present:
    return Present(finding)


CALF_PAIN = Present("F-CALF-PAIN")
# §4 "calf symptom" = F-CALF-PAIN, F-LEG-SWELLING, F-ANKLE-SWELLING or F-CRAMP.
CALF_SYMPTOM = AnyOf(CALF_PAIN, _p("F-LEG-SWELLING"), _p("F-ANKLE-SWELLING"), _p("F-CRAMP"))
# §4 "leg symptom" = a calf symptom, F-RADICULAR, F-CLAUDICATION or F-NEUROGENIC-CLAUDICATION.
LEG_SYMPTOM = AnyOf(
    CALF_SYMPTOM, _p("F-RADICULAR"), _p("F-CLAUDICATION"), _p("F-NEUROGENIC-CLAUDICATION")
)
# §4 "muscle pain" = F-CALF-PAIN or 68962001 at any site.
MUSCLE_PAIN = Present("F-CALF-PAIN", any_site=True)
MOTOR_LOSS = Present("F-SENSORY-MOTOR-LOSS", with_tags=(TAG_MOTOR,))
SENSORY_LOSS = Present("F-SENSORY-MOTOR-LOSS", with_tags=(TAG_SENSORY,))
ERYTHEMA_WITH_WARMTH = AllOf(_p("F-ERYTHEMA"), _p("F-WARMTH"))
THROMBOSIS_RULES = ("R-DVT-PATHWAY", "R-PHLEGMASIA", "R-SVT")
# Leg cyanosis is F-CYANOSIS; cyanosis without a leg site is an F-PE-SYMPTOM code (§3).
LEG_DEFICIT = Present("F-SENSORY-MOTOR-LOSS", without_tags=(TAG_OUTSIDE_LEG,))
SPO2_LOW = Present("F-PE-SYMPTOM", with_tags=(TAG_SPO2,))
# §3 F-PAINFUL-COLD-LIMB (2026.2): coded, or F-COLD-LIMB with F-CALF-PAIN on the same side.
PAINFUL_COLD_LIMB = AnyOf(
    _p("F-PAINFUL-COLD-LIMB"), SameSide((Present("F-COLD-LIMB"),), (CALF_PAIN,))
)
ABI_LOW = Measure("F-ABI", "<=", ABI_PAD, lowest=True)
ABI_NON_COMPRESSIBLE = Measure("F-ABI", ">", ABI_INCOMPRESSIBLE, lowest=True)
ABI_BORDERLINE = AllOf(
    Measure("F-ABI", ">", ABI_PAD, lowest=True), Measure("F-ABI", "<", ABI_NORMAL, lowest=True)
)
CK_OVER_10 = Measure("F-CK", ">", CK_MYOSITIS_ULN)
CK_OVER_40 = Measure("F-CK", ">", CK_RHABDO_ULN)
# §4 R-DVT-PATHWAY's trigger (shared with R-DVT-UNLIKELY).
DVT_TRIGGER = AllOf(
    CALF_SYMPTOM,
    AnyOf(
        Unilateral("F-LEG-SWELLING"),
        Unilateral("F-ANKLE-SWELLING"),
        _p("F-CALF-SWELLING-3CM"),
        _p("F-ENTIRE-LEG-SWOLLEN"),
        # §3: pitting oedema counts when unilateral or side unknown, never bilateral.
        Unilateral("F-PITTING-EDEMA"),
        _p("F-DEEP-VEIN-TENDERNESS"),
        _p("F-COLLATERAL-VEINS"),
        ERYTHEMA_WITH_WARMTH,
        _p("F-CELLULITIS"),
        DDimer("raised"),
        _p("F-DVT-DX"),
        _p("F-CYANOSIS"),
        Present("F-PE-SYMPTOM", without_tags=(TAG_HEART_RATE,)),
    ),
)
SWELLING: tuple[str, ...] = (
    "F-LEG-SWELLING",
    "F-ANKLE-SWELLING",
    "F-ENTIRE-LEG-SWOLLEN",
    "F-CALF-SWELLING-3CM",
    "F-PITTING-EDEMA",
)

EMERGENCY = Tier.EMERGENCY
URGENT = Tier.URGENT
ROUTINE = Tier.ROUTINE
SELF_CARE = Tier.SELF_CARE

NG158 = Source("NICE NG158", "https://www.nice.org.uk/guidance/ng158")
RCOG_37B = Source(
    "RCOG GTG 37b",
    "https://www.rcog.org.uk/guidance/browse-all-guidance/green-top-guidelines/"
    "thrombosis-and-embolism-during-pregnancy-and-the-puerperium-acute-management-green-top-"
    "guideline-no-37b/",
)
NG59 = Source("NICE NG59", "https://www.nice.org.uk/guidance/ng59")
NG234 = Source("NICE NG234", "https://www.nice.org.uk/guidance/ng234")
NG141 = Source("NICE NG141", "https://www.nice.org.uk/guidance/ng141")
NG51 = Source("NICE NG51", "https://www.nice.org.uk/guidance/ng51")
CG168 = Source("NICE CG168", "https://www.nice.org.uk/guidance/cg168")
CG147 = Source("NICE CG147", "https://www.nice.org.uk/guidance/cg147")
ESVS_2020 = Source("ESVS 2020 acute limb ischaemia", "https://doi.org/10.1016/j.ejvs.2019.09.006")
ESVS_2021 = Source("ESVS 2021 venous thrombosis", "https://doi.org/10.1016/j.ejvs.2020.09.023")
EAS_2015 = Source("EAS 2015", "https://doi.org/10.1093/eurheartj/ehv043")
CKS_CRAMPS = Source("CKS leg cramps", "https://cks.nice.org.uk/topics/leg-cramps/")
PRINCIPLE_5 = (
    Variant("pregnant", Group("pregnant"), source=RCOG_37B),
    Variant("under-18", Group("under-18")),
    Variant("anticoagulated", Group("anticoagulated")),
)

# --------------------------------------------------------------------------- the table (§4)
_ROWS: tuple[Rule, ...] = (
    # ---- E: emergency ---------------------------------------------------------------------
    Rule(
        id="R-PE-SUSPECTED",
        name=N_("Suspected pulmonary embolism"),
        tier=EMERGENCY,
        route="emergency",
        source=NG158,
        # Heart rate > 100 alone is an F-PE-SYMPTOM code (§3), so it counts here.
        condition=AllOf(AnyOf(_p("F-DVT-DX"), RuleFires(THROMBOSIS_RULES)), _p("F-PE-SYMPTOM")),
        topic="venous",
        variants=(*PRINCIPLE_5, Variant("hypoxic", SPO2_LOW), *STANDARD),
        lateral=True,
    ),
    Rule(
        id="R-PHLEGMASIA",
        name=N_("Phlegmasia (swollen blue leg)"),
        tier=EMERGENCY,
        route="emergency",
        source=ESVS_2021,
        condition=SameSide(
            (Unilateral("F-LEG-SWELLING"), Present("F-ENTIRE-LEG-SWOLLEN")),
            (Present("F-CYANOSIS"),),
        ),
        topic="venous",
        lateral=True,
    ),
    Rule(
        id="R-ALI",
        name=N_("Acute limb ischaemia"),
        tier=EMERGENCY,
        route="emergency",
        source=ESVS_2020,
        condition=AnyOf(
            _p("F-ALI-DX"),
            PAINFUL_COLD_LIMB,
            SameSide(
                (Present("F-COLD-LIMB"),),
                (Present("F-PULSELESS"), Present("F-SENSORY-MOTOR-LOSS")),
            ),
            SameSide((Present("F-PULSELESS"),), (MOTOR_LOSS,)),
        ),
        topic="arterial",
        variants=(
            Variant(
                "threatened",
                AnyOf(
                    _p("F-ALI-DX"),
                    SameSide(
                        (Present("F-COLD-LIMB"),),
                        (Present("F-PULSELESS"), Present("F-SENSORY-MOTOR-LOSS")),
                    ),
                    SameSide((Present("F-PULSELESS"),), (MOTOR_LOSS,)),
                ),
            ),
            Variant("painful-cold", Always()),
        ),
        lateral=True,
    ),
    Rule(
        id="R-CAUDA-EQUINA",
        name=N_("Cauda equina syndrome"),
        tier=EMERGENCY,
        route="emergency",
        source=Source(
            "GIRFT 2023 suspected cauda equina syndrome pathway",
            "https://gettingitrightfirsttime.co.uk/cauda-equina-syndrome-pathway/",
        ),
        condition=AnyOf(
            _p("F-CAUDA-EQUINA-DX"),
            AllOf(
                AnyOf(
                    _p("F-BLADDER-BOWEL-FLAG"),
                    Bilateral("F-RADICULAR"),
                    Bilateral("F-SENSORY-MOTOR-LOSS", with_tags=(TAG_MOTOR,)),
                ),
                AnyOf(_p("F-LOW-BACK-PAIN"), _p("F-RADICULAR")),
            ),
        ),
        topic="spinal",
    ),
    Rule(
        id="R-COMPARTMENT",
        name=N_("Compartment syndrome"),
        tier=EMERGENCY,
        route="emergency",
        source=Source("BOAST 10", "https://www.boa.ac.uk/resource/boast-10-pdf.html"),
        condition=_p("F-COMPARTMENT"),
        topic="muscle",
    ),
    Rule(
        id="R-NECROTISING",
        name=N_("Necrotising soft-tissue infection"),
        tier=EMERGENCY,
        route="emergency",
        source=NG141,
        # The pain out of proportion is the local code only, not pain on passive stretch.
        condition=AnyOf(
            _p("F-NECROTISING"),
            AllOf(
                AnyOf(_p("F-CELLULITIS"), ERYTHEMA_WITH_WARMTH),
                Present("F-COMPARTMENT", with_tags=(TAG_PAIN_OUT_OF_PROPORTION,)),
            ),
        ),
        topic="infection",
    ),
    Rule(
        id="R-RHABDO",
        name=N_("Rhabdomyolysis"),
        tier=EMERGENCY,
        route="emergency",
        source=EAS_2015,
        # §3: local dark-urine counts only with a calf symptom or 68962001 at any site.
        condition=AnyOf(
            Present("F-RHABDO", without_codes=("dark-urine",)),
            AllOf(
                Present("F-RHABDO", codes=("dark-urine",)),
                AnyOf(CALF_SYMPTOM, MUSCLE_PAIN),
            ),
            CK_OVER_40,
        ),
        topic="muscle",
        variants=(Variant("ck", Recorded("F-CK")), Variant("no-ck", Always())),
    ),
    Rule(
        id="R-SEVERE-ELECTROLYTE",
        name=N_("Severe electrolyte disturbance"),
        tier=EMERGENCY,
        route="emergency",
        source=Source(N_("local laboratory critical-value policy")),
        condition=_p("F-SEVERE-ELECTROLYTE"),
        topic="cramp",
    ),
    Rule(
        id="R-BLEEDING-VARICOSE",
        name=N_("Bleeding varicose vein"),
        tier=EMERGENCY,
        route="emergency",
        source=CG168,
        condition=_p("F-BLEEDING-VARICOSITY"),
        topic="venous",
    ),
    # ---- U: urgent ------------------------------------------------------------------------
    Rule(
        id="R-DVT-PATHWAY",
        name=N_("Deep vein thrombosis pathway"),
        tier=URGENT,
        route="dvt-pathway",
        source=NG158,
        condition=AllOf(DVT_TRIGGER, Not(RuleFires(("R-DVT-UNLIKELY",)))),
        topic="venous",
        scored=True,
        variants=(
            Variant("diagnosed", _p("F-DVT-DX")),
            *PRINCIPLE_5,
            Variant("likely", Wells("likely")),
            Variant("incomplete", Wells("incomplete")),
            Variant("unlikely-ddimer-positive", DDimer("positive")),
            Variant(
                "unlikely-ddimer-blocked",
                AllOf(DDimer("negative"), AnyOf(_p("F-PE-SYMPTOM"), _p("F-CYANOSIS"))),
            ),
            Variant("unlikely", Always()),
        ),
        lateral=True,
    ),
    Rule(
        id="R-PE-SIGN",
        name=N_("Sign of pulmonary embolism"),
        tier=URGENT,
        route="none",
        source=NG158,
        condition=AllOf(CALF_SYMPTOM, _p("F-PE-SYMPTOM"), Not(RuleFires(("R-PE-SUSPECTED",)))),
        topic="venous",
        lateral=True,
    ),
    Rule(
        id="R-ISCHAEMIA-SIGN",
        name=N_("Sign of limb ischaemia"),
        tier=URGENT,
        route="none",
        source=ESVS_2020,
        condition=AllOf(
            AnyOf(
                AllOf(LEG_SYMPTOM, _p("F-COLD-LIMB")),
                AllOf(
                    LEG_SYMPTOM,
                    _p("F-PULSELESS"),
                    # Pulses absent alone are known arterial disease when R-PAD or R-CLTI fires.
                    Not(RuleFires(("R-PAD", "R-CLTI"))),
                ),
                AllOf(CALF_SYMPTOM, LEG_DEFICIT, Not(_p("F-RADICULAR"))),
            ),
            Not(RuleFires(("R-ALI",))),
        ),
        topic="arterial",
        variants=(
            Variant("cold", _p("F-COLD-LIMB")),
            Variant("pulseless", _p("F-PULSELESS")),
            Variant("deficit", Always()),
        ),
        lateral=True,
    ),
    Rule(
        id="R-SVT",
        name=N_("Superficial vein thrombosis"),
        tier=URGENT,
        route="phlebology-urgent",
        source=Source(
            "BSH 2012 thrombosis at unusual sites",
            "https://doi.org/10.1111/j.1365-2141.2012.09249.x",
        ),
        # §3 puts local superficial-vein-cord in F-SVT; the second branch keeps §4's wording.
        condition=AnyOf(
            _p("F-SVT"),
            AllOf(_p("F-ERYTHEMA"), Present("F-SVT", with_tags=(TAG_SUPERFICIAL_CORD,))),
        ),
        topic="venous",
        lateral=True,
    ),
    Rule(
        id="R-CLTI",
        name=N_("Chronic limb-threatening ischaemia"),
        tier=URGENT,
        route="vascular-urgent",
        source=Source(
            "Global Vascular Guidelines 2019", "https://doi.org/10.1016/j.ejvs.2019.05.006"
        ),
        condition=AnyOf(
            _p("F-CLTI-DX"),
            _p("F-GANGRENE"),
            _p("F-REST-PAIN"),
            Measure("F-ABI", "<", ABI_CLTI, lowest=True),
        ),
        topic="arterial",
        lateral=True,
    ),
    Rule(
        id="R-CELLULITIS",
        name=N_("Cellulitis"),
        tier=URGENT,
        route="primary-care-same-day",
        source=NG141,
        condition=AnyOf(_p("F-CELLULITIS"), AllOf(ERYTHEMA_WITH_WARMTH, _p("F-FEVER"))),
        topic="infection",
        lateral=True,
    ),
    Rule(
        id="R-CALF-PAIN-FEVER",
        name=N_("Calf symptom with fever"),
        tier=URGENT,
        route="primary-care-same-day",
        source=NG51,
        condition=AllOf(
            CALF_SYMPTOM, _p("F-FEVER"), Not(RuleFires(("R-CELLULITIS", "R-NECROTISING")))
        ),
        topic="infection",
    ),
    Rule(
        id="R-RADICULAR-DEFICIT",
        name=N_("Sciatica with motor deficit"),
        tier=URGENT,
        route="spinal-urgent",
        source=NG59,
        condition=AllOf(_p("F-RADICULAR"), MOTOR_LOSS),
        topic="spinal",
    ),
    Rule(
        id="R-SPINAL-RED-FLAG",
        name=N_("Spinal red flag"),
        tier=URGENT,
        route="mscc",
        source=NG234,
        condition=AllOf(
            AnyOf(_p("F-LOW-BACK-PAIN"), _p("F-RADICULAR")),
            AnyOf(_p("F-ACTIVE-CANCER"), _p("F-FEVER")),
        ),
        topic="spinal",
        variants=(
            Variant(
                "cancer-neuro",
                AllOf(
                    _p("F-ACTIVE-CANCER"),
                    AnyOf(MOTOR_LOSS, SENSORY_LOSS, _p("F-BLADDER-BOWEL-FLAG")),
                ),
                tier=EMERGENCY,
                priority="stat",
            ),
            Variant(
                "fever-cancer",
                AllOf(_p("F-FEVER"), _p("F-ACTIVE-CANCER")),
                route="emergency",
                priority="urgent",
                source=NG59,
            ),
            Variant("fever", _p("F-FEVER"), route="emergency", priority="urgent", source=NG59),
            Variant("cancer", Always()),
        ),
    ),
    Rule(
        id="R-MYOSITIS",
        name=N_("Myositis"),
        tier=URGENT,
        route="rheumatology-urgent",
        source=EAS_2015,
        condition=AnyOf(
            _p("F-MYOSITIS-DX"),
            AllOf(
                CK_OVER_10,
                AnyOf(MUSCLE_PAIN, Present("F-SENSORY-MOTOR-LOSS", codes=("713514005",))),
            ),
        ),
        topic="muscle",
        variants=(
            Variant(
                "ck",
                AllOf(
                    CK_OVER_10,
                    AnyOf(MUSCLE_PAIN, Present("F-SENSORY-MOTOR-LOSS", codes=("713514005",))),
                ),
            ),
            Variant("diagnosed", Always()),
        ),
    ),
    Rule(
        id="R-ACHILLES",
        name=N_("Achilles or calf muscle rupture"),
        tier=URGENT,
        route="orthopaedics-urgent",
        source=Source(N_("calf-cds local policy")),
        condition=AnyOf(_p("F-ACHILLES-RUPTURE"), AllOf(CALF_SYMPTOM, _p("F-UNABLE-WEIGHT-BEAR"))),
        topic="muscle",
    ),
    # ---- R: routine -----------------------------------------------------------------------
    Rule(
        id="R-DVT-UNLIKELY",
        name=N_("DVT unlikely"),
        tier=ROUTINE,
        route="none",
        source=NG158,
        condition=AllOf(
            DVT_TRIGGER,
            Wells("unlikely"),
            DDimer("all-negative"),
            Not(_p("F-PE-SYMPTOM")),
            Not(_p("F-DVT-DX")),
            Not(_p("F-CYANOSIS")),
            Not(Group("any")),
        ),
        topic="venous",
        scored=True,
        lateral=True,
    ),
    Rule(
        id="R-PAD",
        name=N_("Peripheral arterial disease"),
        tier=ROUTINE,
        route="vascular",
        source=CG147,
        condition=AllOf(LEG_SYMPTOM, AnyOf(_p("F-CLAUDICATION"), _p("F-PAD-DX"), ABI_LOW)),
        topic="arterial",
        variants=(
            Variant("abi-low", ABI_LOW),
            Variant("no-abi", Not(Recorded("F-ABI")), route="abi-workup"),
            Variant("abi-not-low", ABI_NON_COMPRESSIBLE, route="tbi"),
            # A measure, not Always: the ABI that chose the variant is cited under Why (§7.3.2).
            Variant(
                "abi-not-low", Measure("F-ABI", ">", ABI_PAD, lowest=True), route="abi-exercise"
            ),
            Variant("abi-not-low", Always(), route="abi-exercise"),
        ),
        lateral=True,
    ),
    Rule(
        id="R-PAD-WORKUP",
        name=N_("Arterial work-up (ABI)"),
        tier=ROUTINE,
        route="abi-workup",
        source=CG147,
        # An ABI that is not interpretable is no usable ABI: the work-up still fires.
        condition=AllOf(
            CALF_SYMPTOM,
            AnyOf(
                AllOf(
                    AnyOf(_p("F-CALF-ATROPHY"), _p("F-TROPHIC-SKIN")),
                    Not(Recorded("F-ABI")),
                ),
                ABI_BORDERLINE,
                ABI_NON_COMPRESSIBLE,
            ),
        ),
        topic="arterial",
        variants=(
            Variant("non-compressible", ABI_NON_COMPRESSIBLE, route="tbi"),
            Variant("borderline", ABI_BORDERLINE, route="abi-exercise"),
            Variant("no-abi", Always()),
        ),
        lateral=True,
    ),
    Rule(
        id="R-RADICULOPATHY",
        name=N_("Lumbar radiculopathy"),
        tier=ROUTINE,
        route="neurology",
        source=NG59,
        condition=AnyOf(_p("F-RADICULAR"), AllOf(_p("F-NEUROGENIC-CLAUDICATION"), CALF_SYMPTOM)),
        topic="spinal",
        recommended=False,
    ),
    Rule(
        id="R-VARICOSE",
        name=N_("Venous disease (varicose veins)"),
        tier=ROUTINE,
        route="phlebology",
        source=CG168,
        condition=AllOf(
            CALF_SYMPTOM,
            AnyOf(_p("F-VARICOSE"), AllOf(_p("F-ANKLE-SWELLING"), _p("F-EVENING-PAIN"))),
        ),
        topic="venous",
        lateral=True,
    ),
    Rule(
        id="R-CRAMP-SECONDARY",
        name=N_("Secondary leg cramps"),
        tier=ROUTINE,
        route="primary-care",
        source=CKS_CRAMPS,
        condition=AllOf(_p("F-CRAMP"), _p("F-CRAMP-CAUSE")),
        topic="cramp",
    ),
    Rule(
        id="R-FIBROMYALGIA",
        name=N_("Fibromyalgia"),
        tier=ROUTINE,
        route="rheumatology",
        source=Source("EULAR 2016 fibromyalgia", "https://doi.org/10.1136/annrheumdis-2016-209724"),
        condition=AllOf(_p("F-FIBROMYALGIA"), CALF_SYMPTOM, NoRuleOfTiers((EMERGENCY, URGENT))),
        topic="muscle",
    ),
    # ---- S: self-care ---------------------------------------------------------------------
    Rule(
        id="R-REST",
        name=N_("Post-exertion muscle soreness"),
        tier=SELF_CARE,
        route="self-care",
        source=Source("Cheung 2003", "https://doi.org/10.2165/00007256-200333020-00005"),
        condition=AllOf(
            CALF_SYMPTOM,
            _p("F-EXERTION"),
            Not(_p("F-FEVER")),
            Not(_p("F-MALAISE")),
            Not(_p("F-UNABLE-WEIGHT-BEAR")),
            SelfCareAllowed(),
        ),
        notes_all=True,
        topic="muscle",
        variants=(
            Variant(
                "examined",
                RecordedClear(
                    (
                        SWELLING,
                        ("F-ERYTHEMA", "F-CYANOSIS", "F-SKIN-DISCOLOURATION"),
                        ("F-WARMTH",),
                        ("F-FEVER",),
                    )
                ),
            ),
            Variant("unexamined", Always()),
        ),
    ),
    Rule(
        id="R-CRAMP-SELFCARE",
        name=N_("Idiopathic leg cramps"),
        tier=SELF_CARE,
        route="self-care",
        source=CKS_CRAMPS,
        condition=AllOf(_p("F-CRAMP"), Not(_p("F-CRAMP-CAUSE")), SelfCareAllowed()),
        notes_all=True,
        topic="cramp",
    ),
    Rule(
        id="R-NO-RED-FLAG-DATA",
        name=N_("No red flags in the recorded data"),
        tier=SELF_CARE,
        route="none",
        source=Source(N_("calf-cds local policy")),
        condition=AllOf(CALF_SYMPTOM, NoRuleOfTiers((EMERGENCY, URGENT, ROUTINE, SELF_CARE))),
        notes_all=True,
        topic="general",
        variants=(Variant("unreadable", NotInterpretable()), Variant("clear", Always())),
    ),
)


# --------------------------------------------------------------------------- walking conditions
def walk(condition: Condition) -> Iterator[Condition]:
    """Every node of a condition, depth first (the condition itself first)."""
    yield condition
    if isinstance(condition, (AllOf, AnyOf)):
        for item in condition.items:
            yield from walk(item)
    elif isinstance(condition, Not):
        yield from walk(condition.item)
    elif isinstance(condition, SameSide):
        for item in (*condition.first, *condition.second):
            yield from walk(item)


# Principle 3's "leg or ankle swelling" (§1.3); the other swelling findings are leg swelling
# too, so they block as well (conservative).
SELF_CARE_BLOCKING_SWELLING = SWELLING
# Principle 7 (§1.7): signs beside which no card says "no red flags" and no self-care fires.
PRINCIPLE_7_SIGNS = AnyOf(
    _p("F-COLD-LIMB"),
    _p("F-PULSELESS"),
    PAINFUL_COLD_LIMB,
    _p("F-CYANOSIS"),
    _p("F-PE-SYMPTOM"),
    AllOf(LEG_DEFICIT, Not(_p("F-RADICULAR"))),
    NotInterpretable(),
)


def findings_of(condition: Condition) -> tuple[str, ...]:
    """The finding ids a condition reads, in first-use order."""
    seen: dict[str, None] = {}
    for node in walk(condition):
        if isinstance(node, (Present, Recorded, Measure)):
            seen.setdefault(node.finding, None)
        elif isinstance(node, RecordedClear):
            for group in node.groups:
                for finding in group:
                    seen.setdefault(finding, None)
        elif isinstance(node, SelfCareAllowed):
            for finding in SELF_CARE_BLOCKING_SWELLING:
                seen.setdefault(finding, None)
        elif isinstance(node, DDimer):
            seen.setdefault(D_DIMER_FINDING, None)
        elif isinstance(node, Wells):
            for finding in WELLS_FINDINGS:
                seen.setdefault(finding, None)
        elif isinstance(node, Group):
            for finding in GROUP_FINDINGS[node.name]:
                seen.setdefault(finding, None)
    return tuple(seen)


def dependencies(rule: Rule, rules: tuple[Rule, ...]) -> frozenset[str]:
    """Rule ids whose outcome this rule's condition reads."""
    deps: set[str] = set()
    for node in walk(rule.condition):
        if isinstance(node, RuleFires):
            deps.update(node.rule_ids)
        elif isinstance(node, NoRuleOfTiers):
            deps.update(r.id for r in rules if r.tier in node.tiers and r.id != rule.id)
        elif isinstance(node, SelfCareAllowed):
            deps.update(
                r.id for r in rules if r.tier in (EMERGENCY, URGENT, ROUTINE) and r.id != rule.id
            )
    return frozenset(deps)


# --------------------------------------------------------------------------- invariants
def check_table(rules: tuple[Rule, ...]) -> list[str]:
    """Every broken invariant of a rule table, as readable messages (empty = sound)."""
    problems: list[str] = []
    ids = [rule.id for rule in rules]
    problems.extend(
        f"{dup}: duplicate rule id" for dup in sorted({i for i in ids if ids.count(i) > 1})
    )
    known = set(ids)
    for rule in rules:
        if not rule.id.startswith("R-") or not rule.name:
            problems.append(f"{rule.id}: needs an R- id and a name")
        if rule.topic not in TOPICS:
            problems.append(f"{rule.id}: unknown topic {rule.topic}")
        if not rule.variants or not isinstance(rule.variants[-1].condition, Always):
            problems.append(f"{rule.id}: the last variant must always hold")
        for source in (rule.source, *(v.source for v in rule.variants if v.source)):
            if not source.label:
                problems.append(f"{rule.id}: no source")
            if source.url and not source.url.startswith("https://"):
                problems.append(f"{rule.id}: source url must be https")
        for route in (rule.route, *(v.route for v in rule.variants if v.route)):
            if route not in ROUTE_KEYS:
                problems.append(f"{rule.id}: unknown route key {route}")
        for node in (n for v in rule.variants for n in walk(v.condition)):
            if isinstance(node, RuleFires):
                problems.append(f"{rule.id}: a variant may not read other rules")
        for finding in findings_of(rule.condition):
            if finding not in catalog.FINDINGS:
                problems.append(f"{rule.id}: unknown finding id {finding}")
        for node in walk(rule.condition):
            if isinstance(node, RuleFires):
                problems.extend(
                    f"{rule.id}: depends on unknown rule {dep}"
                    for dep in node.rule_ids
                    if dep not in known
                )
            if isinstance(node, Measure) and node.op not in {"<", "<=", ">", ">="}:
                problems.append(f"{rule.id}: unknown comparison {node.op}")
            if isinstance(node, Group) and node.name not in GROUPS:
                problems.append(f"{rule.id}: unknown group {node.name}")
            if isinstance(node, DDimer) and node.state not in DDIMER_STATES:
                problems.append(f"{rule.id}: unknown D-dimer state {node.state}")
    for profile in PROFILES:
        for rule in rules:
            if rule.route not in PROFILES[profile]:
                problems.append(f"{rule.id}: route {rule.route} missing in profile {profile}")
    return problems


def evaluation_order(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """Rules in dependency order (a rule after every rule it reads). Raises on a cycle."""
    by_id = {rule.id: rule for rule in rules}
    deps = {rule.id: dependencies(rule, rules) & set(by_id) for rule in rules}
    ordered: list[Rule] = []
    done: set[str] = set()
    while len(ordered) < len(rules):
        ready = [r for r in rules if r.id not in done and deps[r.id] <= done]
        if not ready:
            raise ValueError(f"rule dependencies form a cycle among {sorted(set(by_id) - done)}")
        for rule in ready:
            ordered.append(rule)
            done.add(rule.id)
    return tuple(ordered)


def _build(rows: tuple[Rule, ...]) -> tuple[Rule, ...]:
    problems = check_table(rows)
    if problems:
        raise ValueError("invalid rule table: " + "; ".join(problems))
    used = {row.id: findings_of(row.condition) for row in rows}
    by_topic: dict[str, dict[str, None]] = {}
    for row in rows:
        topic = by_topic.setdefault(row.topic, {})
        topic.update(dict.fromkeys(used[row.id]))
        for variant in row.variants:  # a postpartum record chooses the DVT card's variant
            topic.update(dict.fromkeys(findings_of(variant.condition)))
    built = [
        Rule(
            **{
                **row.__dict__,
                "findings_used": used[row.id],
                "findings_of_topic": tuple(by_topic[row.topic]),
            }
        )
        for row in rows
    ]
    return tuple(sorted(built, key=lambda r: (r.tier.rank, r.id)))


# Built once at import: display order (tier, id) and evaluation order (dependencies).
RULES: tuple[Rule, ...] = _build(_ROWS)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
EVALUATION_ORDER: tuple[Rule, ...] = evaluation_order(RULES)
