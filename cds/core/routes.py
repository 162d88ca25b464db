"""Route profiles (clinical-rules.md §6, 2026.2): route key -> ServiceRequest code, category,
performer and the card text that fills `{route}` and the `Referral:` line.

Pure data. A rule (or its variant) names a route key; the deployment profile
(`CDS_ROUTE_PROFILE`) decides which referral that key drafts and how the card words it.
`self-care` and `none` create no ServiceRequest and no `Referral:` line. Never 306206005.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .i18n import N_
from .model import Code

SNOMED = "http://snomed.info/sct"
NUCC = "http://nucc.org/provider-taxonomy"
# Local referral codes live in `<fhir_base>/CodeSystem/referral`; rows carry this marker as
# their system and `wire_code()` resolves it per deployment.
LOCAL_REFERRAL = "local:referral"
REFERRAL_CODESYSTEM_PATH = "/CodeSystem/referral"

CATEGORY_REFERRAL = Code(SNOMED, "3457005", "Patient referral")
CATEGORY_DIAGNOSTIC = Code(SNOMED, "103693007", "Diagnostic procedure")  # U

# Local referral codes published in the referral CodeSystem (code -> display).
LOCAL_REFERRAL_CODES: dict[str, str] = {
    "referral-orthopaedics": "Referral to trauma and orthopaedics service",
    "mscc-coordinator": "MSCC coordinator / acute oncology",
    "exercise-abi": "Exercise (treadmill) ankle-brachial index",
    "toe-brachial-index": "Toe-brachial index",
}


def _local(code: str) -> Code:
    return Code(LOCAL_REFERRAL, code, LOCAL_REFERRAL_CODES[code])


_A_AND_E = Code(SNOMED, "394576009", "Accident & emergency")
_PHLEBOLOGY = Code(NUCC, "202K00000X", "Phlebology")
_VASCULAR_SURGERY = Code(SNOMED, "408463005", "Vascular surgery")
_REFER_VASCULAR = Code(SNOMED, "306934005", "Referral to vascular surgery service")
_REFER_VARICOSE = Code(SNOMED, "183858000", "Referral to varicose vein clinic")
_REFER_DVT_CLINIC = Code(SNOMED, "431883007", "Referral to DVT clinic")
_GENERAL_PRACTICE = Code(SNOMED, "394814009", "General practice")
_REFER_GP = Code(SNOMED, "183561008", "Referral to general practitioner")
_RHEUMATOLOGY = Code(SNOMED, "394810000", "Rheumatology")
_REFER_RHEUMATOLOGY = Code(SNOMED, "306127007", "Referral to rheumatology service")


@dataclass(frozen=True)
class Route:
    """What one route key means in one profile.

    `code` None = no ServiceRequest (self-care, none). `text` is the card text (§6); a priority
    a variant sets may have its own (`emergency` at urgent, `mscc` at stat).
    """

    key: str
    text: str
    code: Code | None = None
    category: Code = CATEGORY_REFERRAL
    performer: Code | None = None
    text_at: Mapping[str, str] = field(default_factory=dict)

    @property
    def creates_request(self) -> bool:
        return self.code is not None

    def card_text(self, priority: str | None) -> str:
        return self.text_at.get(priority or "", self.text)


ROUTE_KEYS: tuple[str, ...] = (
    "emergency",
    "dvt-pathway",
    "phlebology-urgent",
    "phlebology",
    "vascular",
    "vascular-urgent",
    "abi-workup",
    "abi-exercise",
    "tbi",
    "neurology",
    "spinal-urgent",
    "mscc",
    "orthopaedics-urgent",
    "rheumatology",
    "rheumatology-urgent",
    "primary-care",
    "primary-care-same-day",
    "self-care",
    "none",
)

_DEFAULT: dict[str, Route] = {
    "emergency": Route(
        "emergency",
        N_("emergency assessment now (ED; inpatients: on-call team)"),
        Code(SNOMED, "183660001", "Refer to accident and emergency department"),  # U display
        performer=_A_AND_E,
        text_at={"urgent": N_("same-day hospital assessment (acute medical take or ED)")},
    ),
    "dvt-pathway": Route(
        "dvt-pathway",
        N_("phlebologist or hospital DVT clinic today, ultrasound within 4 h"),
        _REFER_DVT_CLINIC,
        performer=_PHLEBOLOGY,
    ),
    "phlebology-urgent": Route(
        "phlebology-urgent",
        N_("vein clinic (phlebologist), duplex within 24 h"),
        _REFER_VARICOSE,
        performer=_PHLEBOLOGY,
    ),
    "phlebology": Route(
        "phlebology",
        N_("vein clinic (phlebologist), routine"),
        _REFER_VARICOSE,
        performer=_PHLEBOLOGY,
    ),
    "vascular": Route(
        "vascular",
        N_("vascular service, routine"),
        _REFER_VASCULAR,
        performer=_VASCULAR_SURGERY,
    ),
    "vascular-urgent": Route(
        "vascular-urgent",
        N_("vascular service, urgent referral today"),
        _REFER_VASCULAR,
        performer=_VASCULAR_SURGERY,
    ),
    "abi-workup": Route(
        "abi-workup",
        N_("resting ABI measurement (routine)"),
        Code(SNOMED, "401221002", "Ankle brachial pressure index"),
        category=CATEGORY_DIAGNOSTIC,
    ),
    "abi-exercise": Route(
        "abi-exercise",
        N_("exercise ABI (routine)"),
        _local("exercise-abi"),
        category=CATEGORY_DIAGNOSTIC,
    ),
    "tbi": Route(
        "tbi",
        N_("toe-brachial index (routine)"),
        _local("toe-brachial-index"),
        category=CATEGORY_DIAGNOSTIC,
    ),
    "neurology": Route(
        "neurology",
        N_("neurology clinic, routine"),
        Code(SNOMED, "183521007", "Referral to neurology service"),
        performer=Code(SNOMED, "394591006", "Neurology"),
    ),
    "spinal-urgent": Route(
        "spinal-urgent",
        N_("spinal surgical team, urgent referral today"),
        Code(SNOMED, "183546007", "Neurosurgical referral"),
        performer=Code(SNOMED, "394610002", "Neurosurgery"),
    ),
    "mscc": Route(
        "mscc",
        N_("MSCC coordinator or acute oncology today"),
        _local("mscc-coordinator"),
        performer=Code(SNOMED, "394593009", "Medical oncology"),
        text_at={"stat": N_("MSCC coordinator now (emergency)")},
    ),
    "orthopaedics-urgent": Route(
        "orthopaedics-urgent",
        N_("orthopaedic assessment today"),
        _local("referral-orthopaedics"),
        performer=Code(SNOMED, "394801008", "Trauma & orthopaedics"),
    ),
    "rheumatology": Route(
        "rheumatology",
        N_("rheumatology clinic, routine"),
        _REFER_RHEUMATOLOGY,
        performer=_RHEUMATOLOGY,
    ),
    "rheumatology-urgent": Route(
        "rheumatology-urgent",
        N_("rheumatology, urgent referral"),
        _REFER_RHEUMATOLOGY,
        performer=_RHEUMATOLOGY,
    ),
    "primary-care": Route(
        "primary-care", N_("primary-care review"), _REFER_GP, performer=_GENERAL_PRACTICE
    ),
    "primary-care-same-day": Route(
        "primary-care-same-day",
        N_("same-day clinical assessment"),
        _REFER_GP,
        performer=_GENERAL_PRACTICE,
    ),
    "self-care": Route("self-care", ""),
    "none": Route("none", ""),
}

# §6 `nice` profile: the DVT pathway and SVT go to the DVT pathway (ambulatory emergency care),
# routine venous disease to the vascular service, radiculopathy to MSK physiotherapy.
_NICE_CHANGES: dict[str, Route] = {
    "dvt-pathway": Route(
        "dvt-pathway",
        N_("DVT pathway, ultrasound within 4 h"),
        _REFER_DVT_CLINIC,
        performer=_A_AND_E,
    ),
    "phlebology-urgent": Route(
        "phlebology-urgent",
        N_("DVT pathway, duplex within 24 h"),
        _REFER_DVT_CLINIC,
        performer=_A_AND_E,
    ),
    "phlebology": Route(
        "phlebology",
        N_("vascular service, routine"),
        _REFER_VASCULAR,
        performer=_VASCULAR_SURGERY,
    ),
    "neurology": Route(
        "neurology",
        N_("MSK physiotherapy (NICE NG59), routine"),
        Code(SNOMED, "306170007", "Physiotherapy referral"),  # V2
    ),
}

PROFILES: Mapping[str, Mapping[str, Route]] = {
    "default": _DEFAULT,
    "nice": {**_DEFAULT, **_NICE_CHANGES},
}


def route_for(key: str, profile: str = "default") -> Route:
    """The route a key means in a profile. Raises KeyError for an unknown key or profile."""
    return PROFILES[profile][key]


def wire_code(code: Code, fhir_base: str) -> Code:
    """The code as sent: local referral codes under `<fhir_base>/CodeSystem/referral`."""
    if code.system != LOCAL_REFERRAL:
        return code
    return Code(fhir_base.rstrip("/") + REFERRAL_CODESYSTEM_PATH, code.code, code.display)


def _check_profiles() -> None:
    """Invariants, checked at import: every profile maps every key; never 306206005."""
    for name, table in PROFILES.items():
        missing = set(ROUTE_KEYS) - set(table)
        if missing:
            raise ValueError(f"route profile {name} lacks {sorted(missing)}")
        for key, route in table.items():
            if route.key != key:
                raise ValueError(f"route profile {name}: {key} holds route {route.key}")
            codes = [c for c in (route.code, route.performer) if c is not None]
            if any(c.code == "306206005" for c in codes):
                raise ValueError("306206005 (generic referral to service) is never used (§6)")
            if (key in {"self-care", "none"}) == route.creates_request:
                raise ValueError(f"route {key}: only self-care and none create no request")
            if route.creates_request and not route.text:
                raise ValueError(f"route {key}: a referral needs its card text")


_check_profiles()
