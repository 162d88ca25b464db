"""Route profiles (clinical-rules.md §6): route key -> ServiceRequest code, category, performer.

Pure data. A rule names a route key; the deployment profile (`Settings.route_profile`,
`CDS_ROUTE_PROFILE`) decides which referral that key drafts and how the card words it.
`self-care` and `none` create no ServiceRequest. Never 306206005 (generic "Referral to service").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import Code

SNOMED = "http://snomed.info/sct"
NUCC = "http://nucc.org/provider-taxonomy"
# Local referral codes live in `<fhir_base>/CodeSystem/referral`; the base is configurable, so
# rows carry this marker as their system and `coding()` resolves it per deployment.
LOCAL_REFERRAL = "local:referral"
REFERRAL_CODESYSTEM_PATH = "/CodeSystem/referral"

# §6: every ServiceRequest is a Patient referral, except the ABI work-up (a diagnostic procedure).
CATEGORY_REFERRAL = Code(SNOMED, "3457005", "Patient referral")
CATEGORY_DIAGNOSTIC = Code(SNOMED, "103693007", "Diagnostic procedure")  # U

# Local referral codes published in the referral CodeSystem (code -> display).
LOCAL_REFERRAL_CODES: dict[str, str] = {
    "referral-orthopaedics": "Referral to trauma and orthopaedics service",
}

_A_AND_E = Code(SNOMED, "394576009", "Accident & emergency")
_PHLEBOLOGY = Code(NUCC, "202K00000X", "Phlebology")
_VASCULAR_SURGERY = Code(SNOMED, "408463005", "Vascular surgery")
_REFER_VASCULAR = Code(SNOMED, "306934005", "Referral to vascular surgery service")
_REFER_VARICOSE = Code(SNOMED, "183858000", "Referral to varicose vein clinic")
_GENERAL_PRACTICE = Code(SNOMED, "394814009", "General practice")
_REFER_GP = Code(SNOMED, "183561008", "Referral to general practitioner")
_RHEUMATOLOGY = Code(SNOMED, "394810000", "Rheumatology")
_REFER_RHEUMATOLOGY = Code(SNOMED, "306127007", "Referral to rheumatology service")


@dataclass(frozen=True)
class Route:
    """What one route key means in one profile.

    `code` None = no ServiceRequest (self-care, none). `wording` fills `{route}` in rule
    summaries, so it must stay short (summaries are checked < 140 chars for every profile).
    """

    key: str
    wording: str
    code: Code | None = None
    category: Code = CATEGORY_REFERRAL
    performer: Code | None = None
    note: str = ""  # extra "what to do next" text for the card, e.g. "duplex within 24 h"

    @property
    def creates_request(self) -> bool:
        return self.code is not None


ROUTE_KEYS: tuple[str, ...] = (
    "emergency",
    "dvt-pathway",
    "phlebology-urgent",
    "phlebology",
    "vascular",
    "vascular-urgent",
    "abi-workup",
    "neurology",
    "spinal-urgent",
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
        "the emergency department now",
        Code(SNOMED, "183660001", "Refer to accident and emergency department"),  # U display
        performer=_A_AND_E,
    ),
    "dvt-pathway": Route(
        "dvt-pathway",
        "phlebologist or DVT clinic in hospital, today",
        Code(SNOMED, "431883007", "Referral to DVT clinic"),
        performer=_PHLEBOLOGY,
    ),
    "phlebology-urgent": Route(
        "phlebology-urgent",
        "phlebologist (vein clinic) for duplex ultrasound within 24 h",
        _REFER_VARICOSE,
        performer=_PHLEBOLOGY,
        note="Duplex ultrasound within 24 hours (extent, distance from the deep veins).",
    ),
    "phlebology": Route(
        "phlebology", "phlebologist (vein clinic), routine", _REFER_VARICOSE, performer=_PHLEBOLOGY
    ),
    "vascular": Route(
        "vascular", "vascular surgery, routine", _REFER_VASCULAR, performer=_VASCULAR_SURGERY
    ),
    "vascular-urgent": Route(
        "vascular-urgent",
        "vascular surgery, urgently",
        _REFER_VASCULAR,
        performer=_VASCULAR_SURGERY,
    ),
    "abi-workup": Route(
        "abi-workup",
        "ankle-brachial index measurement",
        Code(SNOMED, "401221002", "Ankle brachial pressure index"),
        category=CATEGORY_DIAGNOSTIC,
        performer=None,  # §6: no performerType for the ABI work-up
    ),
    "neurology": Route(
        "neurology",
        "neurology, routine",
        Code(SNOMED, "183521007", "Referral to neurology service"),
        performer=Code(SNOMED, "394591006", "Neurology"),
    ),
    "spinal-urgent": Route(
        "spinal-urgent",
        "spinal surgery (neurosurgery), urgently",
        Code(SNOMED, "183546007", "Neurosurgical referral"),
        performer=Code(SNOMED, "394610002", "Neurosurgery"),
    ),
    "orthopaedics-urgent": Route(
        "orthopaedics-urgent",
        "trauma and orthopaedics, today",
        Code(
            LOCAL_REFERRAL, "referral-orthopaedics", LOCAL_REFERRAL_CODES["referral-orthopaedics"]
        ),
        performer=Code(SNOMED, "394801008", "Trauma & orthopaedics"),
    ),
    "rheumatology": Route(
        "rheumatology", "rheumatology, routine", _REFER_RHEUMATOLOGY, performer=_RHEUMATOLOGY
    ),
    "rheumatology-urgent": Route(
        "rheumatology-urgent",
        "rheumatology, urgently",
        _REFER_RHEUMATOLOGY,
        performer=_RHEUMATOLOGY,
    ),
    "primary-care": Route("primary-care", "GP follow-up", _REFER_GP, performer=_GENERAL_PRACTICE),
    "primary-care-same-day": Route(
        "primary-care-same-day",
        "GP assessment today",
        _REFER_GP,
        performer=_GENERAL_PRACTICE,
    ),
    "self-care": Route("self-care", "self-care with safety-net advice"),
    "none": Route("none", "no referral"),
}

# §6 `nice` profile: only dvt-pathway, phlebology(-urgent) and neurology differ.
_NICE_CHANGES: dict[str, Route] = {
    "dvt-pathway": Route(
        "dvt-pathway",
        "DVT pathway today",
        Code(SNOMED, "431883007", "Referral to DVT clinic"),
        performer=_A_AND_E,  # ambulatory emergency care
    ),
    "phlebology-urgent": Route(
        "phlebology-urgent",
        "vascular surgery for duplex ultrasound within 24 h",
        _REFER_VASCULAR,
        performer=_VASCULAR_SURGERY,
        note="Duplex ultrasound within 24 hours (extent, distance from the deep veins).",
    ),
    "phlebology": Route(
        "phlebology", "vascular service, routine", _REFER_VASCULAR, performer=_VASCULAR_SURGERY
    ),
    "neurology": Route(
        "neurology",
        "back pain clinic (NICE NG59 pathway)",
        Code(SNOMED, "183868005", "Referral to back pain clinic"),
        performer=_GENERAL_PRACTICE,
    ),
}

PROFILES: Mapping[str, Mapping[str, Route]] = {
    "default": _DEFAULT,
    "nice": {**_DEFAULT, **_NICE_CHANGES},
}


def route_for(key: str, profile: str = "default") -> Route:
    """The route a key means in a profile. Raises KeyError for an unknown key or profile."""
    return PROFILES[profile][key]


def coding(code: Code, fhir_base: str) -> dict[str, Any]:
    """A FHIR Coding dict, resolving local referral codes against the deployment's base URL."""
    system = (
        fhir_base.rstrip("/") + REFERRAL_CODESYSTEM_PATH
        if code.system == LOCAL_REFERRAL
        else code.system
    )
    out: dict[str, Any] = {"system": system, "code": code.code}
    if code.display:
        out["display"] = code.display
    return out


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


_check_profiles()
