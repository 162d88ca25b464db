"""The rule table (clinical-rules.md §4): one frozen row per rule id, conditions as data.

This module owns the *declaration* of rules: the condition vocabulary (frozen dataclasses, no
lambdas), the 27 rows, and the table's invariants, checked when the module is imported (and tested
as data). `cds.engine` owns the *meaning* of each vocabulary term (the §2 FindingSet semantics).
Where §4 is silent a row chooses the conservative reading (never suppress a red flag) and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from . import findings as _catalog
from .model import (
    TAG_HEART_RATE,
    TAG_MOTOR,
    TAG_PAIN_OUT_OF_PROPORTION,
    TAG_SUPERFICIAL_CORD,
    Tier,
)
from .routes import PROFILES, ROUTE_KEYS

RULE_SET_LABEL = "calf-cds rules 2026.1"
SUMMARY_LIMIT = 140  # CDS Hooks: summary < 140 characters

# clinical-rules.md §3, written down so the table can be checked before (and independently of)
# cds.findings. tests/test_rules.py also checks it against cds.findings once that module exists.
SPEC_FINDING_IDS: frozenset[str] = frozenset(
    {
        "F-CALF-PAIN", "F-LEG-SWELLING", "F-ANKLE-SWELLING", "F-CALF-SWELLING-3CM",
        "F-ENTIRE-LEG-SWOLLEN", "F-PITTING-EDEMA", "F-DEEP-VEIN-TENDERNESS", "F-COLLATERAL-VEINS",
        "F-ERYTHEMA", "F-WARMTH", "F-CYANOSIS", "F-ANTICOAGULATED", "F-SKIN-DISCOLOURATION",
        "F-FEVER", "F-MALAISE", "F-UNABLE-WEIGHT-BEAR", "F-PE-SYMPTOM", "F-ACTIVE-CANCER",
        "F-PREVIOUS-DVT", "F-PARESIS-OR-CAST", "F-BEDRIDDEN-OR-SURGERY", "F-ALTERNATIVE-DX-LIKELY",
        "F-PREGNANT", "F-D-DIMER", "F-DVT-DX", "F-SVT", "F-VARICOSE", "F-BLEEDING-VARICOSITY",
        "F-EVENING-PAIN", "F-CLAUDICATION", "F-CALF-ATROPHY", "F-TROPHIC-SKIN", "F-GANGRENE",
        "F-REST-PAIN", "F-ABI", "F-PAD-DX", "F-CLTI-DX", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB",
        "F-PULSELESS", "F-SENSORY-MOTOR-LOSS", "F-ALI-DX", "F-LOW-BACK-PAIN", "F-RADICULAR",
        "F-LUMBAR-DISC-DISEASE", "F-NEUROGENIC-CLAUDICATION", "F-CAUDA-EQUINA-DX",
        "F-BLADDER-BOWEL-FLAG", "F-COMPARTMENT", "F-CELLULITIS", "F-NECROTISING", "F-EXERTION",
        "F-CRAMP", "F-CRAMP-CAUSE", "F-SEVERE-ELECTROLYTE", "F-CK", "F-MYOSITIS-DX", "F-RHABDO",
        "F-FIBROMYALGIA", "F-ACHILLES-RUPTURE",
    }
)  # fmt: skip


# --------------------------------------------------------------------------- vocabulary
@dataclass(frozen=True)
class Present:
    """The finding is present within its window (§2: latest record wins, equal times present).

    Records that are out of window, not interpretable or supporting-only never count.
    `with_tags`/`without_tags`/`codes`/`without_codes` narrow the records that count.
    `any_site`: also count TAG_AT_ANY_SITE records (68962001 muscle pain with no calf site,
    which is "muscle pain" for R-MYOSITIS/F-RHABDO but not F-CALF-PAIN).
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
    """Recorded bilateral: a bilateral record, or standing records of both left and right."""


@dataclass(frozen=True)
class Recorded:
    """Any interpretable record within the window, present or absent (e.g. "an ABI within 12
    months")."""

    finding: str


@dataclass(frozen=True)
class Measure:
    """A numeric comparison on a measured finding (F-ABI ratio, F-CK multiples of ULN).

    `lowest=True` compares the lowest in-window value (ABI, §2 "the lowest component");
    otherwise any in-window value that satisfies the comparison counts (§2 thresholds).
    """

    finding: str
    op: str  # "<", "<=", ">", ">="
    threshold: float
    lowest: bool = False


@dataclass(frozen=True)
class SameSide:
    """A record matching any of `first` and one matching any of `second` on the same side.

    §2: "same side" = the same side, or either side unknown. A bilateral record includes both
    sides, so it matches either (conservative; §4 is silent on bilateral records here).
    """

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
    """Any of these rules fires (evaluated before the rule that asks)."""

    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class NoRuleOfTiers:
    """No *other* rule of these tiers fires (evaluated after all of them)."""

    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class SelfCareAllowed:
    """Principle 3 (§1): no E, U or R rule fires, no unilateral or side-unknown leg or ankle
    swelling within its window, and no not-interpretable value that blocks self-care."""


# The vocabulary as one type (Unilateral and Bilateral are Presents).
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
)

# Findings that make up principle 3's "leg or ankle swelling" (§1.3). §1 names leg and ankle
# swelling; the other swelling findings are leg swelling too, so they block as well (conservative).
SELF_CARE_BLOCKING_SWELLING: tuple[str, ...] = (
    "F-LEG-SWELLING",
    "F-ANKLE-SWELLING",
    "F-ENTIRE-LEG-SWOLLEN",
    "F-CALF-SWELLING-3CM",
    "F-PITTING-EDEMA",
)


@dataclass(frozen=True)
class Source:
    label: str
    url: str = ""  # omitted on the card when empty (local policy, consensus, safety net)


@dataclass(frozen=True)
class Rule:
    """One row of §4. `summary` may hold `{route}`: the route profile's wording (§6)."""

    id: str
    name: str
    tier: Tier
    route: str
    source: Source
    summary: str
    next_step: str
    condition: Condition
    safety_net: str = ""  # rule-specific safety-net advice; cards add the generic line
    wells: bool = False  # the card carries the Wells score (§5)
    lateral: bool = False  # thrombosis/ischaemia rule: side unknown counts and is named
    # Safety-net and self-care cards name out-of-window, supporting and undated records of
    # *every* finding (an old fever matters to "no red flags found"), not only their own.
    related_all: bool = False
    findings_used: tuple[str, ...] = field(default=(), compare=False)

    def render_summary(self, route_wording: str) -> str:
        return self.summary.format(route=route_wording)


# --------------------------------------------------------------------------- shorthands
def _p(finding: str) -> Present:
    return Present(finding)


CALF_PAIN = Present("F-CALF-PAIN")
# §4 "calf symptom" = F-CALF-PAIN, F-LEG-SWELLING, F-ANKLE-SWELLING or F-CRAMP present.
CALF_SYMPTOM = AnyOf(CALF_PAIN, _p("F-LEG-SWELLING"), _p("F-ANKLE-SWELLING"), _p("F-CRAMP"))
# §4 "leg symptom" = a calf symptom, F-RADICULAR, F-CLAUDICATION or F-NEUROGENIC-CLAUDICATION.
LEG_SYMPTOM = AnyOf(
    CALF_SYMPTOM, _p("F-RADICULAR"), _p("F-CLAUDICATION"), _p("F-NEUROGENIC-CLAUDICATION")
)
# §4 "muscle pain" = F-CALF-PAIN or 68962001 at any site.
MUSCLE_PAIN = Present("F-CALF-PAIN", any_site=True)
MOTOR_LOSS = Present("F-SENSORY-MOTOR-LOSS", with_tags=(TAG_MOTOR,))
ERYTHEMA_WITH_WARMTH = AllOf(_p("F-ERYTHEMA"), _p("F-WARMTH"))
THROMBOSIS_RULES = ("R-DVT-PATHWAY", "R-PHLEGMASIA", "R-SVT")

EMERGENCY = Tier.EMERGENCY
URGENT = Tier.URGENT
ROUTINE = Tier.ROUTINE
SELF_CARE = Tier.SELF_CARE

NG158 = "https://www.nice.org.uk/guidance/ng158"
NG59 = "https://www.nice.org.uk/guidance/ng59"
NG141 = "https://www.nice.org.uk/guidance/ng141"
CG168 = "https://www.nice.org.uk/guidance/cg168"
CG147 = "https://www.nice.org.uk/guidance/cg147"
EAS_2015 = "https://doi.org/10.1093/eurheartj/ehv043"

# --------------------------------------------------------------------------- the table (§4)
_ROWS: tuple[Rule, ...] = (
    # ---- E: emergency ---------------------------------------------------------------------
    Rule(
        id="R-PE-SUSPECTED",
        name="Suspected pulmonary embolism",
        tier=EMERGENCY,
        route="emergency",
        source=Source("NICE NG158 1.1 (PE)", NG158),
        summary="Possible pulmonary embolism with signs of leg thrombosis: send to {route}",
        next_step="Emergency assessment for PE (NICE NG158 1.1): two-level PE Wells score, "
        "CT pulmonary angiography; do not wait for leg imaging.",
        # §4: (F-DVT-DX or a thrombosis rule fires) and F-PE-SYMPTOM. Heart rate > 100 alone is
        # an F-PE-SYMPTOM code (§3), so it counts here (unlike R-DVT-PATHWAY's trigger list).
        condition=AllOf(AnyOf(_p("F-DVT-DX"), RuleFires(THROMBOSIS_RULES)), _p("F-PE-SYMPTOM")),
        lateral=True,
    ),
    Rule(
        id="R-PHLEGMASIA",
        name="Phlegmasia (swollen cyanotic leg)",
        tier=EMERGENCY,
        route="emergency",
        source=Source(
            'ESVS 2021 venous thrombosis; source article "dark red and bluish skin"',
            "https://doi.org/10.1016/j.ejvs.2020.09.023",
        ),
        summary="Swollen blue leg (possible phlegmasia): call on-call vascular surgery; "
        "send to {route}",
        next_step="Call the on-call vascular surgeon now; urgent duplex ultrasound and "
        "anticoagulation (ESVS 2021).",
        condition=SameSide(
            (Unilateral("F-LEG-SWELLING"), Present("F-ENTIRE-LEG-SWOLLEN")),
            (Present("F-CYANOSIS"),),
        ),
        lateral=True,
    ),
    Rule(
        id="R-ALI",
        name="Acute limb ischaemia",
        tier=EMERGENCY,
        route="emergency",
        source=Source(
            "ESVS 2020 acute limb ischaemia (6 Ps)", "https://doi.org/10.1016/j.ejvs.2019.09.006"
        ),
        summary="Possible acute limb ischaemia: call on-call vascular surgery; send to {route}",
        next_step="Immediate vascular surgical assessment (ESVS 2020): heparin unless "
        "contraindicated; motor or sensory loss means the limb is immediately threatened.",
        condition=AnyOf(
            _p("F-ALI-DX"),
            _p("F-PAINFUL-COLD-LIMB"),
            SameSide(
                (Present("F-COLD-LIMB"),),
                (Present("F-PULSELESS"), Present("F-SENSORY-MOTOR-LOSS")),
            ),
            SameSide((Present("F-PULSELESS"),), (MOTOR_LOSS,)),
        ),
        lateral=True,
    ),
    Rule(
        id="R-CAUDA-EQUINA",
        name="Cauda equina syndrome",
        tier=EMERGENCY,
        route="emergency",
        source=Source("GIRFT 2023 suspected cauda equina pathway; NICE NG59", NG59),
        summary="Possible cauda equina syndrome: emergency MRI and spinal review; send to {route}",
        next_step="Emergency MRI of the lumbosacral spine and same-day spinal surgical review "
        "(GIRFT 2023 national suspected cauda equina pathway).",
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
    ),
    Rule(
        id="R-COMPARTMENT",
        name="Compartment syndrome",
        tier=EMERGENCY,
        route="emergency",
        source=Source(
            "BOAST 10 compartment syndrome of the limbs 2014",
            "https://www.boa.ac.uk/resources/boast-10-pdf.html",
        ),
        summary="Possible compartment syndrome: emergency orthopaedic review; send to {route}",
        next_step="Emergency orthopaedic assessment; remove constricting dressings or casts; "
        "fasciotomy decision without delay (BOAST).",
        condition=_p("F-COMPARTMENT"),
        lateral=True,
    ),
    Rule(
        id="R-NECROTISING",
        name="Necrotising soft-tissue infection",
        tier=EMERGENCY,
        route="emergency",
        source=Source("NICE NG141 cellulitis; NICE NG51 sepsis", NG141),
        summary="Possible necrotising infection: emergency surgical review; send to {route}",
        next_step="Emergency surgical assessment and sepsis screen (NICE NG51); do not wait "
        "for fever, which is not required.",
        # §4: the pain-out-of-proportion is the local code (TAG_PAIN_OUT_OF_PROPORTION on
        # F-COMPARTMENT), not pain on passive stretch.
        condition=AnyOf(
            _p("F-NECROTISING"),
            AllOf(
                AnyOf(_p("F-CELLULITIS"), ERYTHEMA_WITH_WARMTH),
                Present("F-COMPARTMENT", with_tags=(TAG_PAIN_OUT_OF_PROPORTION,)),
            ),
        ),
        lateral=True,
    ),
    Rule(
        id="R-RHABDO",
        name="Rhabdomyolysis",
        tier=EMERGENCY,
        route="emergency",
        source=Source("EAS consensus 2015 (statin-associated muscle symptoms)", EAS_2015),
        summary="Possible rhabdomyolysis: emergency assessment (renal function, fluids); "
        "send to {route}",
        next_step="Emergency assessment: renal function, potassium, urine myoglobin, IV fluids; "
        "stop statins and other myotoxic drugs (EAS 2015).",
        # §3: local dark-urine counts only with a calf symptom or 68962001 at any site; the rule
        # checks that itself so it holds whatever the reader emitted. CK > 40x ULN alone counts.
        condition=AnyOf(
            Present("F-RHABDO", without_codes=("dark-urine",)),
            AllOf(
                Present("F-RHABDO", codes=("dark-urine",)),
                AnyOf(CALF_SYMPTOM, MUSCLE_PAIN),
            ),
            Measure("F-CK", ">", 40.0),
        ),
    ),
    Rule(
        id="R-SEVERE-ELECTROLYTE",
        name="Severe electrolyte disturbance",
        tier=EMERGENCY,
        route="emergency",
        source=Source("local laboratory critical-value policy"),
        summary="Severe electrolyte disturbance: emergency assessment and ECG; send to {route}",
        next_step="Emergency assessment with ECG and cardiac monitoring; repeat and correct the "
        "electrolyte per local critical-value policy.",
        condition=_p("F-SEVERE-ELECTROLYTE"),
    ),
    Rule(
        id="R-BLEEDING-VARICOSE",
        name="Bleeding varicose vein",
        tier=EMERGENCY,
        route="emergency",
        source=Source("NICE CG168 1.2.1", CG168),
        summary="Bleeding varicose vein: elevate the leg and apply direct pressure; "
        "send to {route}",
        next_step="Elevate the leg and apply firm direct pressure over the bleeding point; "
        "refer immediately to a vascular service (NICE CG168 1.2.1).",
        condition=_p("F-BLEEDING-VARICOSITY"),
    ),
    # ---- U: urgent ------------------------------------------------------------------------
    Rule(
        id="R-DVT-PATHWAY",
        name="Deep vein thrombosis pathway",
        tier=URGENT,
        route="dvt-pathway",
        source=Source(
            'NICE NG158 1.1.1-1.1.4; source article "thrombosis and inflammation"', NG158
        ),
        summary="Possible DVT: refer to {route}; Wells score and next step on the card",
        next_step="Two-level DVT Wells score (NICE NG158 1.1.1-1.1.4); next step below.",
        condition=AllOf(
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
                _p("F-D-DIMER"),  # the reader sets present=True only when positive (§5)
                _p("F-DVT-DX"),
                _p("F-CYANOSIS"),
                # §4: "F-PE-SYMPTOM other than heart rate alone".
                Present("F-PE-SYMPTOM", without_tags=(TAG_HEART_RATE,)),
            ),
        ),
        wells=True,
        lateral=True,
    ),
    Rule(
        id="R-SVT",
        name="Superficial vein thrombosis",
        tier=URGENT,
        route="phlebology-urgent",
        source=Source(
            "BSH 2012 venous thrombosis at unusual sites; ESVS 2021",
            "https://doi.org/10.1111/j.1365-2141.2012.09249.x",
        ),
        summary="Possible superficial vein thrombosis: refer to {route}",
        next_step="Duplex ultrasound within 24 hours to measure the extent and exclude DVT "
        "(BSH 2012; ESVS 2021); consider prophylactic anticoagulation.",
        # §3 already puts local superficial-vein-cord in F-SVT, so the first branch covers
        # the cord alone; the second keeps §4's wording visible (and its evidence).
        condition=AnyOf(
            _p("F-SVT"),
            AllOf(_p("F-ERYTHEMA"), Present("F-SVT", with_tags=(TAG_SUPERFICIAL_CORD,))),
        ),
        lateral=True,
    ),
    Rule(
        id="R-CLTI",
        name="Chronic limb-threatening ischaemia",
        tier=URGENT,
        route="vascular-urgent",
        source=Source(
            "Global Vascular Guidelines on CLTI 2019", "https://doi.org/10.1016/j.jvs.2019.02.016"
        ),
        summary="Possible chronic limb-threatening ischaemia: refer to {route}",
        next_step="Urgent vascular assessment (GVG 2019). Threshold used: ABI < 0.40 (to be "
        "verified locally; GVG stages CLTI on ankle and toe pressures).",
        condition=AnyOf(
            _p("F-CLTI-DX"),
            _p("F-GANGRENE"),
            _p("F-REST-PAIN"),
            Measure("F-ABI", "<", 0.40, lowest=True),
        ),
        lateral=True,
    ),
    Rule(
        id="R-CELLULITIS",
        name="Cellulitis",
        tier=URGENT,
        route="primary-care-same-day",
        source=Source("NICE NG141 cellulitis", NG141),
        summary="Possible cellulitis: {route}; assess severity and treat (NICE NG141)",
        next_step="Same-day assessment: mark the margin, assess severity and sepsis risk, "
        "antibiotics per NICE NG141; DVT can coexist.",
        condition=AnyOf(_p("F-CELLULITIS"), AllOf(ERYTHEMA_WITH_WARMTH, _p("F-FEVER"))),
    ),
    Rule(
        id="R-CALF-PAIN-FEVER",
        name="Calf symptom with fever",
        tier=URGENT,
        route="primary-care-same-day",
        source=Source(
            "NICE NG141; NICE NG51 (infection, pyomyositis)",
            "https://www.nice.org.uk/guidance/ng51",
        ),
        summary="Calf symptom with fever (infection, pyomyositis?): {route}",
        next_step="Same-day assessment for infection (cellulitis, pyomyositis, osteomyelitis) "
        "and sepsis risk (NICE NG51).",
        condition=AllOf(CALF_SYMPTOM, _p("F-FEVER"), NoRuleOfTiers((EMERGENCY, URGENT))),
    ),
    Rule(
        id="R-RADICULAR-DEFICIT",
        name="Radicular pain with motor deficit",
        tier=URGENT,
        route="spinal-urgent",
        source=Source("NICE NG59; CKS sciatica", NG59),
        summary="Sciatica with motor weakness: refer to {route}",
        next_step="Urgent spinal assessment for a progressive motor deficit (NICE NG59; CKS "
        "sciatica); MRI if it will change management.",
        condition=AllOf(_p("F-RADICULAR"), MOTOR_LOSS),
    ),
    Rule(
        id="R-SPINAL-RED-FLAG",
        name="Spinal red flag",
        tier=URGENT,
        route="spinal-urgent",
        source=Source("NICE NG59 1.1.1", NG59),
        summary="Back or radicular pain with cancer or fever (spinal red flag): refer to {route}",
        next_step="Urgent assessment for metastatic spinal disease or spinal infection "
        "(NICE NG59 1.1.1): MRI and bloods.",
        condition=AllOf(
            AnyOf(_p("F-LOW-BACK-PAIN"), _p("F-RADICULAR")),
            AnyOf(_p("F-ACTIVE-CANCER"), _p("F-FEVER")),
        ),
    ),
    Rule(
        id="R-MYOSITIS",
        name="Myositis",
        tier=URGENT,
        route="rheumatology-urgent",
        source=Source("EAS 2015; EULAR/ACR 2017 myositis criteria", EAS_2015),
        summary="Possible myositis (muscle pain or weakness with raised CK): refer to {route}",
        next_step="Urgent rheumatology review: repeat CK, renal function, stop myotoxic drugs "
        "(EAS 2015); EULAR/ACR 2017 classification.",
        condition=AnyOf(
            _p("F-MYOSITIS-DX"),
            AllOf(
                Measure("F-CK", ">", 10.0),
                AnyOf(MUSCLE_PAIN, Present("F-SENSORY-MOTOR-LOSS", codes=("713514005",))),
            ),
        ),
    ),
    Rule(
        id="R-ACHILLES",
        name="Achilles or calf muscle rupture",
        tier=URGENT,
        route="orthopaedics-urgent",
        source=Source("clinical consensus"),
        summary="Possible Achilles or calf muscle rupture, or fracture: refer to {route}",
        next_step="Same-day orthopaedic assessment (Simmonds/Thompson test; imaging for fracture); "
        "immobilise in equinus if Achilles rupture is suspected.",
        condition=AnyOf(_p("F-ACHILLES-RUPTURE"), AllOf(CALF_SYMPTOM, _p("F-UNABLE-WEIGHT-BEAR"))),
    ),
    # ---- R: routine -----------------------------------------------------------------------
    Rule(
        id="R-PAD",
        name="Peripheral arterial disease",
        tier=ROUTINE,
        route="vascular",
        source=Source("ACC/AHA 2016 and 2024 PAD; ESC 2024; NICE CG147", CG147),
        summary="Possible peripheral arterial disease: risk factors and referral to {route}",
        next_step="Cardiovascular risk management and supervised exercise; refer to vascular "
        "services (NICE CG147; ACC/AHA 2024).",
        condition=AllOf(
            LEG_SYMPTOM,
            AnyOf(
                _p("F-CLAUDICATION"),
                _p("F-PAD-DX"),
                Measure("F-ABI", "<=", 0.90, lowest=True),
            ),
        ),
        lateral=True,
    ),
    Rule(
        id="R-PAD-WORKUP",
        name="Arterial work-up (ABI)",
        tier=ROUTINE,
        route="abi-workup",
        source=Source("NICE CG147 1.3; ACC/AHA 2024 PAD", CG147),
        summary="Calf symptom with possible arterial disease: arrange {route}",
        next_step="Measure the ankle-brachial index (NICE CG147 1.3); ABI 0.91-0.99: exercise "
        "ABI; ABI > 1.40: toe-brachial index (ACC/AHA 2024).",
        # "no ABI within 12 months": an ABI that is not interpretable is no usable ABI, so the
        # work-up still fires (conservative; §4 is silent).
        condition=AllOf(
            CALF_SYMPTOM,
            AnyOf(
                AllOf(
                    AnyOf(_p("F-CALF-ATROPHY"), _p("F-TROPHIC-SKIN")),
                    Not(Recorded("F-ABI")),
                ),
                AllOf(
                    Measure("F-ABI", ">", 0.90, lowest=True),
                    Measure("F-ABI", "<", 1.00, lowest=True),
                ),
                Measure("F-ABI", ">", 1.40, lowest=True),
            ),
        ),
    ),
    Rule(
        id="R-RADICULOPATHY",
        name="Lumbar radiculopathy",
        tier=ROUTINE,
        route="neurology",
        source=Source('NICE NG59; source article "spine pathology"', NG59),
        summary="Calf pain may come from the spine (radiculopathy): refer to {route}",
        next_step="Assess for lumbar radiculopathy or spinal stenosis (NICE NG59): "
        "analgesia, exercise, referral if not settling.",
        condition=AnyOf(_p("F-RADICULAR"), AllOf(_p("F-NEUROGENIC-CLAUDICATION"), CALF_SYMPTOM)),
    ),
    Rule(
        id="R-VARICOSE",
        name="Venous disease (varicose veins)",
        tier=ROUTINE,
        route="phlebology",
        source=Source('NICE CG168 1.2.2; source article "varicose veins"', CG168),
        summary="Calf symptoms with venous disease: refer to {route}",
        next_step="Refer symptomatic varicose veins for assessment and duplex ultrasound "
        "(NICE CG168 1.2.2).",
        condition=AllOf(
            CALF_SYMPTOM,
            AnyOf(_p("F-VARICOSE"), AllOf(_p("F-ANKLE-SWELLING"), _p("F-EVENING-PAIN"))),
        ),
    ),
    Rule(
        id="R-CRAMP-SECONDARY",
        name="Secondary leg cramps",
        tier=ROUTINE,
        route="primary-care",
        source=Source("CKS leg cramps; NICE NG145", "https://cks.nice.org.uk/topics/leg-cramps/"),
        summary="Leg cramps with a possible treatable cause: correct it; {route}",
        next_step="Treat the cause (electrolytes, thyroid, hydration, drugs) and review "
        "(CKS leg cramps; NICE NG145).",
        condition=AllOf(_p("F-CRAMP"), _p("F-CRAMP-CAUSE")),
    ),
    Rule(
        id="R-FIBROMYALGIA",
        name="Fibromyalgia",
        tier=ROUTINE,
        route="rheumatology",
        source=Source("EULAR 2016 fibromyalgia", "https://doi.org/10.1136/annrheumdis-2016-209724"),
        summary="Calf pain with fibromyalgia: review management; refer to {route}",
        next_step="Review fibromyalgia management (EULAR 2016: exercise first); refer if the "
        "pattern has changed.",
        condition=AllOf(_p("F-FIBROMYALGIA"), CALF_SYMPTOM, NoRuleOfTiers((EMERGENCY, URGENT))),
    ),
    # ---- S: self-care ---------------------------------------------------------------------
    Rule(
        id="R-REST",
        name="Post-exertion muscle soreness",
        tier=SELF_CARE,
        route="self-care",
        source=Source(
            'source article "physiological causes"; Cheung 2003',
            "https://doi.org/10.2165/00007256-200333020-00005",
        ),
        summary="Likely post-exertion muscle soreness: rest, elevate, safety-net advice",
        next_step="Rest with the legs elevated; warm up before exercise. Soreness after "
        "unaccustomed exertion is eccentric micro-injury and settles in days (Cheung 2003).",
        safety_net="Come back at once with one-sided swelling, redness, warmth, fever, "
        "breathlessness, or no improvement in 3-7 days.",
        related_all=True,
        condition=AllOf(
            CALF_SYMPTOM,
            _p("F-EXERTION"),
            Not(_p("F-FEVER")),
            Not(_p("F-MALAISE")),
            Not(_p("F-UNABLE-WEIGHT-BEAR")),
            SelfCareAllowed(),
        ),
    ),
    Rule(
        id="R-CRAMP-SELFCARE",
        name="Idiopathic leg cramps",
        tier=SELF_CARE,
        route="self-care",
        source=Source(
            'AAN 2010 muscle cramps; source article "seizure"',
            "https://doi.org/10.1212/WNL.0b013e3181d0ccca",
        ),
        summary="Leg cramps with no cause found: stretching and self-care, safety-net advice",
        next_step="Stretch and massage the calf, keep hydrated; quinine is not for routine use "
        "(AAN 2010; CKS leg cramps).",
        safety_net="Come back if cramps become frequent, or with swelling, weakness, numbness "
        "or dark urine.",
        related_all=True,
        condition=AllOf(_p("F-CRAMP"), Not(_p("F-CRAMP-CAUSE")), SelfCareAllowed()),
    ),
    Rule(
        id="R-NO-RED-FLAG-DATA",
        name="No red flags in recorded data",
        tier=SELF_CARE,
        route="none",
        source=Source("calf-cds safety net"),
        summary="No red flags found in the recorded data: complete the red-flag check",
        next_step="Complete the red-flag check for the items not recorded below and reassess.",
        related_all=True,
        condition=AllOf(CALF_SYMPTOM, NoRuleOfTiers((EMERGENCY, URGENT, ROUTINE, SELF_CARE))),
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


def findings_of(condition: Condition) -> tuple[str, ...]:
    """The finding ids a condition reads, in first-use order (SelfCareAllowed reads swelling)."""
    seen: dict[str, None] = {}
    for node in walk(condition):
        if isinstance(node, (Present, Recorded, Measure)):
            seen.setdefault(node.finding, None)
        elif isinstance(node, SelfCareAllowed):
            for finding in SELF_CARE_BLOCKING_SWELLING:
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
def check_table(
    rules: tuple[Rule, ...], finding_ids: frozenset[str] = SPEC_FINDING_IDS
) -> list[str]:
    """Every broken invariant of a rule table, as readable messages (empty = sound)."""
    problems: list[str] = []
    ids = [rule.id for rule in rules]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{dup}: duplicate rule id")
    known = set(ids)
    for rule in rules:
        if not rule.id.startswith("R-") or not rule.name:
            problems.append(f"{rule.id}: needs an R- id and a name")
        if not rule.source.label:
            problems.append(f"{rule.id}: no source")
        if rule.source.url and not rule.source.url.startswith("https://"):
            problems.append(f"{rule.id}: source url must be https")
        if rule.route not in ROUTE_KEYS:
            problems.append(f"{rule.id}: unknown route key {rule.route}")
        if not rule.next_step:
            problems.append(f"{rule.id}: no next step")
        for profile, table in PROFILES.items():
            if rule.route in table:
                length = len(rule.render_summary(table[rule.route].wording))
                if length >= SUMMARY_LIMIT:
                    problems.append(f"{rule.id}: summary is {length} chars in profile {profile}")
        for finding in findings_of(rule.condition):
            if finding not in finding_ids:
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
        text = " ".join((rule.name, rule.summary, rule.next_step, rule.safety_net)).lower()
        if "lactic acid" in text:  # §1.6
            problems.append(f"{rule.id}: mentions lactic acid")
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
            stuck = sorted(set(by_id) - done)
            raise ValueError(f"rule dependencies form a cycle among {stuck}")
        for rule in ready:
            ordered.append(rule)
            done.add(rule.id)
    return tuple(ordered)


def _build(rows: tuple[Rule, ...]) -> tuple[Rule, ...]:
    # A finding id must be in §3 (as written down here) and in the reader's catalog.
    problems = check_table(rows, SPEC_FINDING_IDS & frozenset(_catalog.FINDINGS))
    if problems:
        raise ValueError("invalid rule table: " + "; ".join(problems))
    built = (replace(row, findings_used=findings_of(row.condition)) for row in rows)
    return tuple(sorted(built, key=lambda r: (r.tier.rank, r.id)))


# Built once at import: display order (tier, id) and evaluation order (dependencies).
RULES: tuple[Rule, ...] = _build(_ROWS)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
EVALUATION_ORDER: tuple[Rule, ...] = evaluation_order(RULES)
RULE_DEPENDENCIES: dict[str, frozenset[str]] = {
    rule.id: dependencies(rule, RULES) for rule in RULES
}
