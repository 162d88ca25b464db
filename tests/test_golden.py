"""Golden tests: every `fhir_samples/` request posted over real HTTP to its service.

The expectations below are written from `clinical-rules.md` (§4 rule table: tier and route; §6
default route profile; §5 Wells wording; §7 card content), never from running the code. Each
sample's expected rule ids are listed in card order (tier E, U, R, S, then rule id); indicator,
ServiceRequest code and priority follow from each rule's tier and route as the spec tables say.
A new sample without a row here fails `test_every_sample_has_expectations`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SAMPLES, load_json

from cds.fhir_input import validate_resource

SCT = "http://snomed.info/sct"
CDS_BASE = "http://calf-cds.example/fhir"
RULE_SYSTEM = f"{CDS_BASE}/CodeSystem/rule"
REFERRAL_SYSTEM = f"{CDS_BASE}/CodeSystem/referral"
OVERRIDE_SYSTEM = f"{CDS_BASE}/CodeSystem/override-reason"
SOURCE_LABEL = "calf-cds rules 2026.1"
SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}

# clinical-rules.md §4: rule id -> (tier, route key).
RULES: dict[str, tuple[str, str]] = {
    "R-PE-SUSPECTED": ("E", "emergency"),
    "R-PHLEGMASIA": ("E", "emergency"),
    "R-ALI": ("E", "emergency"),
    "R-CAUDA-EQUINA": ("E", "emergency"),
    "R-COMPARTMENT": ("E", "emergency"),
    "R-NECROTISING": ("E", "emergency"),
    "R-RHABDO": ("E", "emergency"),
    "R-SEVERE-ELECTROLYTE": ("E", "emergency"),
    "R-BLEEDING-VARICOSE": ("E", "emergency"),
    "R-DVT-PATHWAY": ("U", "dvt-pathway"),
    "R-SVT": ("U", "phlebology-urgent"),
    "R-CLTI": ("U", "vascular-urgent"),
    "R-CELLULITIS": ("U", "primary-care-same-day"),
    "R-CALF-PAIN-FEVER": ("U", "primary-care-same-day"),
    "R-RADICULAR-DEFICIT": ("U", "spinal-urgent"),
    "R-SPINAL-RED-FLAG": ("U", "spinal-urgent"),
    "R-MYOSITIS": ("U", "rheumatology-urgent"),
    "R-ACHILLES": ("U", "orthopaedics-urgent"),
    "R-PAD": ("R", "vascular"),
    "R-PAD-WORKUP": ("R", "abi-workup"),
    "R-RADICULOPATHY": ("R", "neurology"),
    "R-VARICOSE": ("R", "phlebology"),
    "R-CRAMP-SECONDARY": ("R", "primary-care"),
    "R-FIBROMYALGIA": ("R", "rheumatology"),
    "R-REST": ("S", "self-care"),
    "R-CRAMP-SELFCARE": ("S", "self-care"),
    "R-NO-RED-FLAG-DATA": ("S", "none"),
}

# clinical-rules.md §1.2: tier -> (card indicator, ServiceRequest.priority).
TIERS: dict[str, tuple[str, str | None]] = {
    "E": ("critical", "stat"),
    "U": ("warning", "urgent"),
    "R": ("info", "routine"),
    "S": ("info", None),
}


@dataclass(frozen=True)
class Route:
    """§6 default profile: ServiceRequest code, category and performerType for a route key."""

    system: str
    code: str
    performer: str | None
    category: str = "3457005"  # Patient referral


_REFERRAL_ROUTES = {
    "emergency": Route(SCT, "183660001", "394576009"),
    "dvt-pathway": Route(SCT, "431883007", "202K00000X"),
    "phlebology-urgent": Route(SCT, "183858000", "202K00000X"),
    "phlebology": Route(SCT, "183858000", "202K00000X"),
    "vascular": Route(SCT, "306934005", "408463005"),
    "vascular-urgent": Route(SCT, "306934005", "408463005"),
    "abi-workup": Route(SCT, "401221002", None, category="103693007"),
    "neurology": Route(SCT, "183521007", "394591006"),
    "spinal-urgent": Route(SCT, "183546007", "394610002"),
    "orthopaedics-urgent": Route(REFERRAL_SYSTEM, "referral-orthopaedics", "394801008"),
    "rheumatology": Route(SCT, "306127007", "394810000"),
    "rheumatology-urgent": Route(SCT, "306127007", "394810000"),
    "primary-care": Route(SCT, "183561008", "394814009"),
    "primary-care-same-day": Route(SCT, "183561008", "394814009"),
}
ROUTES: dict[str, Route | None] = {**_REFERRAL_ROUTES, "self-care": None, "none": None}
# §4 sources that are not a published guideline: a source.url is not expected.
NO_GUIDELINE_URL = {"R-ACHILLES", "R-SEVERE-ELECTROLYTE", "R-NO-RED-FLAG-DATA"}
OVERRIDE_REASONS = {
    "already-referred",
    "patient-declined",
    "alternative-diagnosis-more-likely",
    "not-clinically-relevant",
}

LIKELY = r"\blikely\b"  # the whole word, so "unlikely" does not match
INCOMPLETE = r"incomplete"
UNLIKELY = r"\bunlikely\b"
AGE_ADJUSTED_VALUE = r"age-adjusted[^.\n]{0,40}\d+ ng/mL"  # an age-adjusted cut-off with its value


@dataclass(frozen=True)
class Golden:
    """What one sample must answer.

    rules: rule ids (source.topic.code) of the rule cards, in card order.
    info: None = no card without a rule topic; else regexes the one info card's text must match.
    text: rule id -> regexes (case-insensitive) that card's summary + detail must match.
    absent: rule id -> regexes that card's summary + detail must not match.
    """

    rules: tuple[str, ...]
    info: tuple[str, ...] | None = None
    text: dict[str, tuple[str, ...]] = field(default_factory=dict)
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)


DVT = "R-DVT-PATHWAY"
GOLDEN: dict[str, Golden] = {
    # tier E
    "pe-suspected-dvt-with-dyspnoea.json": Golden(
        ("R-PE-SUSPECTED", DVT), text={DVT: ("wells", INCOMPLETE)}
    ),
    "phlegmasia-swollen-cyanotic-left-leg.json": Golden(
        ("R-PHLEGMASIA", DVT), text={"R-PHLEGMASIA": ("vascular",)}
    ),
    "acute-limb-ischaemia-cold-pulseless-right-foot.json": Golden(("R-ALI",)),
    "cauda-equina-saddle-anaesthesia-urinary-retention.json": Golden(("R-CAUDA-EQUINA",)),
    "compartment-syndrome-after-exertion.json": Golden(("R-COMPARTMENT",)),
    "necrotising-fasciitis-diagnosis.json": Golden(("R-NECROTISING",)),
    "soft-tissue-infection-pain-out-of-proportion.json": Golden(
        ("R-COMPARTMENT", "R-NECROTISING", "R-CELLULITIS", DVT)
    ),
    "rhabdomyolysis-dark-urine-muscle-pain.json": Golden(("R-RHABDO",)),
    "rhabdomyolysis-ck-over-40x-uln.json": Golden(("R-RHABDO", "R-MYOSITIS")),
    "severe-hypokalaemia-cramps.json": Golden(("R-SEVERE-ELECTROLYTE", "R-CRAMP-SECONDARY")),
    "bleeding-varicose-vein.json": Golden(
        ("R-BLEEDING-VARICOSE",), text={"R-BLEEDING-VARICOSE": ("elevat", "pressure")}
    ),
    # tier U
    "dvt-unilateral-swelling-wells-likely.json": Golden(
        (DVT,), text={DVT: ("wells", LIKELY, "dvt clinic")}, absent={DVT: ("dvt unlikely",)}
    ),
    "dvt-wells-complete-unlikely.json": Golden((DVT,), text={DVT: ("wells", UNLIKELY)}),
    "dvt-d-dimer-positive-mg-per-l-feu.json": Golden(
        (DVT,), text={DVT: ("wells", "d-dimer", INCOMPLETE)}, absent={DVT: ("dvt unlikely",)}
    ),
    "dvt-pregnant-scores-do-not-apply.json": Golden(
        (DVT,), text={DVT: ("validated scores do not apply",)}, absent={DVT: (UNLIKELY,)}
    ),
    "pe-suspected-recent-dvt-condition-chest-pain.json": Golden(("R-PE-SUSPECTED",)),
    "dvt-previous-dvt-resolved-condition-wells-likely.json": Golden(
        (DVT,), text={DVT: ("wells", LIKELY)}, absent={DVT: ("dvt unlikely",)}
    ),
    "dvt-d-dimer-ddu-positive.json": Golden((DVT,)),
    "dvt-d-dimer-interpretation-high.json": Golden((DVT,)),
    "dvt-under-18-scores-do-not-apply.json": Golden(
        (DVT,),
        text={DVT: ("validated scores do not apply",)},
        absent={DVT: (UNLIKELY, AGE_ADJUSTED_VALUE)},
    ),
    "dvt-anticoagulated-scores-do-not-apply.json": Golden(
        (DVT,),
        text={DVT: ("validated scores do not apply",)},
        absent={DVT: (UNLIKELY, AGE_ADJUSTED_VALUE)},
    ),
    "dvt-age-unknown-no-birth-date.json": Golden(
        (DVT,), text={DVT: (r"\b500\b", r"age (is )?(unknown|not (known|recorded))|unknown age")}
    ),
    "svt-superficial-vein-cord.json": Golden(("R-SVT",)),
    "clti-rest-pain-abi-0-35.json": Golden(("R-CLTI",), text={"R-CLTI": (r"0\.40?\b",)}),
    "cellulitis-erythema-warmth-fever.json": Golden(("R-CELLULITIS",)),
    "calf-pain-fever.json": Golden(("R-CALF-PAIN-FEVER",)),
    "units-fahrenheit-fever.json": Golden(("R-CALF-PAIN-FEVER",)),
    "radicular-deficit-sciatica-leg-weakness.json": Golden(
        ("R-RADICULAR-DEFICIT", "R-RADICULOPATHY")
    ),
    "spinal-red-flag-back-pain-active-cancer.json": Golden(("R-SPINAL-RED-FLAG",)),
    "myositis-ck-over-10x-reference-range.json": Golden(("R-MYOSITIS",)),
    "achilles-calf-pain-unable-to-weight-bear.json": Golden(("R-ACHILLES",)),
    # tier R
    "pad-intermittent-claudication.json": Golden(("R-PAD",)),
    "pad-workup-trophic-signs-no-abi.json": Golden(("R-PAD-WORKUP",)),
    "pad-workup-borderline-abi-0-95.json": Golden(("R-PAD-WORKUP",)),
    "radiculopathy-shooting-pain-back-pain.json": Golden(("R-RADICULOPATHY",)),
    "varicose-veins-evening-ache.json": Golden(("R-VARICOSE",)),
    "varicose-bilateral-ankle-swelling-evening-pain.json": Golden(("R-VARICOSE",)),
    "cramps-secondary-hypothyroidism.json": Golden(("R-CRAMP-SECONDARY",)),
    "units-magnesium-mg-per-dl-cramps.json": Golden(("R-CRAMP-SECONDARY",)),
    "fibromyalgia-calf-pain.json": Golden(("R-FIBROMYALGIA",)),
    # tier S
    "rest-post-exercise-calf-soreness.json": Golden(("R-REST",), text={"R-REST": ("elevat",)}),
    "cramps-self-care-normal-potassium.json": Golden(
        ("R-CRAMP-SELFCARE",), text={"R-CRAMP-SELFCARE": ("quinine",)}
    ),
    "calf-pain-no-red-flag-data.json": Golden(
        ("R-NO-RED-FLAG-DATA",),
        text={"R-NO-RED-FLAG-DATA": ("no red flags found in the recorded data",)},
    ),
    "calf-pain-tachycardia-only.json": Golden(
        ("R-NO-RED-FLAG-DATA",), text={"R-NO-RED-FLAG-DATA": ("heart rate",)}
    ),
    "units-fahrenheit-afebrile.json": Golden(("R-NO-RED-FLAG-DATA",)),
    # reading semantics, envelope and prefetch
    "no-symptoms-routine-review.json": Golden(()),
    "negation-explicit-absence.json": Golden(()),
    "old-data-outside-window.json": Golden(
        ("R-NO-RED-FLAG-DATA",),
        # §2 "Time windows": the swelling (20 days) and the fever and D-dimer (5 days, labs 72 h)
        # are ignored and, being relevant red-flag data, named with their dates.
        text={"R-NO-RED-FLAG-DATA": ("outside the window", "2026-11-05", "2026-11-20")},
    ),
    "undated-swelling-counts-as-current.json": Golden((DVT,), text={DVT: ("undated",)}),
    "units-d-dimer-not-interpretable-blocks-rest.json": Golden(
        ("R-NO-RED-FLAG-DATA",), text={"R-NO-RED-FLAG-DATA": ("not interpretable",)}
    ),
    "conflict-latest-record-wins-no-calf-pain.json": Golden(()),
    "conflict-equal-times-present-wins.json": Golden(("R-NO-RED-FLAG-DATA",)),
    "fever-yesterday-not-cancelled-by-normal-today.json": Golden(("R-CALF-PAIN-FEVER",)),
    "units-fahrenheit-exactly-100-4.json": Golden(("R-CALF-PAIN-FEVER",)),
    "dvt-d-dimer-exactly-500-feu.json": Golden((DVT,)),
    "pad-abi-exactly-0-90.json": Golden(("R-PAD",)),
    "condition-without-clinical-status-counts-active.json": Golden(("R-CLTI",)),
    "condition-resolved-cellulitis-not-acute.json": Golden(("R-NO-RED-FLAG-DATA",)),
    "pe-suspected-cyanosis-without-leg-site.json": Golden(("R-PE-SUSPECTED", DVT)),
    "phlegmasia-near-miss-cyanosis-other-side.json": Golden((DVT,)),
    "ali-near-miss-cold-and-pulseless-on-opposite-sides.json": Golden(("R-NO-RED-FLAG-DATA",)),
    "laterality-bilateral-oedema-no-dvt.json": Golden(("R-NO-RED-FLAG-DATA",)),
    "laterality-side-unknown-swelling-dvt.json": Golden(
        (DVT,),
        text={DVT: ("wells", INCOMPLETE, r"side[^.\n]{0,20}(unknown|not recorded)")},
        absent={DVT: ("dvt unlikely",)},
    ),
    "laterality-new-left-swelling-over-bilateral-oedema.json": Golden((DVT,)),
    "entered-in-error-ignored.json": Golden(("R-NO-RED-FLAG-DATA",)),
    "encounter-start-calf-pain-deep-vein-tenderness.json": Golden((DVT,)),
    "malformed-neighbours-red-flag-still-fires.json": Golden(
        ("R-COMPARTMENT",), info=(r"\b3\b", "could not be read")
    ),
    "prefetch-null-conditions.json": Golden(("R-PAD",)),
    "prefetch-null-patient-red-flag-still-fires.json": Golden(("R-ALI",)),
    "prefetch-operation-outcome-conditions.json": Golden((DVT,), info=("conditions",)),
}

# Files whose Observations are deliberately dated before 2026-11-23 (windows of §2).
OLDER_DATA = {
    "old-data-outside-window.json",  # the point of the sample
    "laterality-new-left-swelling-over-bilateral-oedema.json",  # oedema 5 days ago, in window
    "pad-workup-borderline-abi-0-95.json",  # ABI window is 12 months
}


NO_BIRTH_DATE = {"dvt-age-unknown-no-birth-date.json"}  # §1 principle 5: age unknown
NO_PATIENT = {"prefetch-null-patient-red-flag-still-fires.json"}  # §1 principle 1


def sample_files() -> list[str]:
    return sorted(path.name for path in SAMPLES.glob("*.json"))


def rule_id(card: dict[str, Any]) -> str | None:
    return (card.get("source", {}).get("topic") or {}).get("code")


def card_text(card: dict[str, Any]) -> str:
    return f"{card.get('summary', '')}\n{card.get('detail', '')}"


def tier_order(rules: tuple[str, ...]) -> list[str]:
    return sorted(rules, key=lambda rule: ("EURS".index(RULES[rule][0]), rule))


# --- the table itself ---------------------------------------------------------------------------


def test_every_sample_has_expectations() -> None:
    assert sample_files(), "fhir_samples/ is empty"
    assert set(sample_files()) == set(GOLDEN), (
        "samples without expectations: "
        f"{sorted(set(sample_files()) - set(GOLDEN))}; "
        f"expectations without a sample: {sorted(set(GOLDEN) - set(sample_files()))}"
    )


def test_every_rule_of_the_spec_has_a_sample() -> None:
    fired = {rule for golden in GOLDEN.values() for rule in golden.rules}
    assert sorted(set(RULES) - fired) == []
    assert len(RULES) == 27


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_expected_rules_are_in_card_order(name: str) -> None:
    golden = GOLDEN[name]
    assert list(golden.rules) == tier_order(golden.rules)
    assert set(golden.text) | set(golden.absent) <= set(golden.rules)


# --- the samples are what the README says they are -------------------------------------------


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_samples", REPO / "scripts" / "make_samples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_samples_are_regenerated_from_the_script(tmp_path: Path) -> None:
    _load_generator().write_all(tmp_path)
    generated = sorted(path.name for path in tmp_path.iterdir())
    assert generated == sorted([*sample_files(), "README.md"])
    for name in generated:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), (
            f"{name} differs from scripts/make_samples.py output: regenerate fhir_samples/"
        )


def test_readme_has_a_line_per_sample() -> None:
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for name in sample_files():
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", sample_files())
def test_sample_is_a_complete_cds_hooks_request(name: str) -> None:
    body = load_json(SAMPLES / name)
    assert body["hook"] in SERVICE_FOR_HOOK
    uuid.UUID(body["hookInstance"])
    assert body["fhirServer"] == "https://ehr.example.org/fhir"
    assert "fhirAuthorization" not in body
    context = body["context"]
    assert context["userId"] == "Practitioner/example"
    if body["hook"] == "encounter-start":
        assert context["encounterId"]
    patient = body["prefetch"]["patient"]
    if name in NO_PATIENT:
        assert patient is None
    else:
        assert patient["resourceType"] == "Patient"
        assert patient["id"] == context["patientId"]
        if name not in NO_BIRTH_DATE:
            assert patient["birthDate"]
    assert set(body["prefetch"]) == {"patient", "observations", "conditions"}
    observations = [
        entry["resource"]
        for entry in body["prefetch"]["observations"]["entry"]
        if isinstance(entry["resource"], dict) and "code" in entry["resource"]
    ]
    assert observations
    for observation in observations:
        when = observation.get("effectiveDateTime", "")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+Z", when):
            continue  # the deliberately unreadable neighbours
        assert when <= "2026-11-25T11:00:00Z", (name, observation["id"])
        if name not in OLDER_DATA:
            assert when >= "2026-11-23", (name, observation["id"])
        for coding in observation["code"]["coding"]:
            assert coding["system"] in {
                SCT,
                "http://loinc.org",
                f"{CDS_BASE}/CodeSystem/finding",
            }


# --- over real HTTP --------------------------------------------------------------------------


@pytest.mark.requirement(
    "cds-hooks_2.0:28",
    "cds-hooks_2.0:74",
    "cds-hooks_2.0:83",
    "cds-hooks_2.0:87",
    "cds-hooks_2.0:88",
    "cds-hooks_2.0:90",
    "cds-hooks_2.0:93",
    "cds-hooks_2.0:96",
    "cds-hooks_2.0:98",
    "cds-hooks_2.0:100",
    "cds-hooks_2.0:105",
    "cds-hooks_2.0:117",
    "cds-hooks_2.0:119",
    "cds-hooks_2.0:124",
    "cds-hooks_2.0:127",
    "cds-hooks_2.0:128",
    "cds-hooks_2.0:130",
    "cds-hooks_2.0:131",
    "cds-hooks_2.0:136",
    "cds-hooks_2.0:219",
)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_sample_over_http(live_server: Any, name: str) -> None:
    golden = GOLDEN[name]
    body = load_json(SAMPLES / name)
    service = SERVICE_FOR_HOOK[body["hook"]]

    with live_server.client() as http:
        response = http.post(f"/cds-services/{service}", json=body)

    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert isinstance(cards, list)
    rule_cards = [card for card in cards if rule_id(card)]
    info_cards = [card for card in cards if not rule_id(card)]
    assert [rule_id(card) for card in rule_cards] == list(golden.rules), _explain(cards)

    for card in cards:
        _check_every_card(card)
    references = _request_references(body)
    for card in rule_cards:
        _check_rule_card(card, patient_id=body["context"]["patientId"], golden=golden)
        for suggestion in card.get("suggestions", []):
            service_request = suggestion["actions"][0]["resource"]
            validate_resource(service_request)  # a valid R4 ServiceRequest (issue 2, item 5)
            for reason in service_request["reasonReference"]:
                assert reason["reference"] in references, (rule_id(card), reason)

    if golden.info is None:
        assert info_cards == [], _explain(info_cards)
    else:
        assert len(info_cards) == 1, _explain(cards)
        assert info_cards[0]["indicator"] == "info"
        for pattern in golden.info:
            assert re.search(pattern, card_text(info_cards[0]), re.IGNORECASE), (
                pattern,
                card_text(info_cards[0]),
            )


def _request_references(body: dict[str, Any]) -> set[str]:
    """`Type/id` and fullUrl of every resource the request carried."""
    references: set[str] = set()
    for value in body["prefetch"].values():
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        for entry in value.get("entry", []):
            resource = entry.get("resource")
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                references.add(f"{resource['resourceType']}/{resource['id']}")
            if entry.get("fullUrl"):
                references.add(entry["fullUrl"])
    return references


def _explain(cards: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            {"rule": rule_id(c), "indicator": c.get("indicator"), "summary": c.get("summary")}
            for c in cards
        ],
        indent=1,
    )


def _check_every_card(card: dict[str, Any]) -> None:
    """clinical-rules.md §7 and cds-hooks.md "Response": what every card carries."""
    uuid.UUID(card["uuid"])
    assert isinstance(card["summary"], str)
    assert 0 < len(card["summary"]) < 140, card["summary"]
    assert card["indicator"] in {"info", "warning", "critical"}
    assert card["source"]["label"] == SOURCE_LABEL
    assert "Decision support only" in card["detail"]
    assert "lactic acid" not in card_text(card).lower()  # §1 principle 6
    for key, value in card.items():
        assert value not in (None, "", [], {}), f"optional field {key} sent empty"


def _check_rule_card(card: dict[str, Any], *, patient_id: str, golden: Golden) -> None:
    rule = rule_id(card)
    assert rule is not None
    tier, route_key = RULES[rule]
    indicator, priority = TIERS[tier]
    topic = card["source"]["topic"]
    assert topic["system"] == RULE_SYSTEM
    assert topic.get("display")
    if rule not in NO_GUIDELINE_URL:
        assert card["source"].get("url"), f"{rule}: source.url (the guideline) missing"
    assert card["indicator"] == indicator, rule

    reasons = card.get("overrideReasons", [])
    assert {reason["code"] for reason in reasons} == OVERRIDE_REASONS, rule
    for reason in reasons:
        assert reason["system"] == OVERRIDE_SYSTEM
        assert reason["display"]

    route = ROUTES[route_key]
    if route is None:
        assert "suggestions" not in card, f"{rule}: route {route_key} creates no ServiceRequest"
    else:
        _check_suggestion(card, rule, route, priority, patient_id)

    text = card_text(card)
    # §7: why (each finding with its resource reference), and a safety-net line.
    assert re.search(r"\b(Observation|Condition)/", card["detail"]), f"{rule}: no evidence"
    assert re.search(r"safety[- ]net", card["detail"], re.IGNORECASE), f"{rule}: no safety net"
    for pattern in golden.text.get(rule, ()):
        assert re.search(pattern, text, re.IGNORECASE), f"{rule}: /{pattern}/ not in:\n{text}"
    for pattern in golden.absent.get(rule, ()):
        assert not re.search(pattern, text, re.IGNORECASE), f"{rule}: /{pattern}/ in:\n{text}"

    extension = card.get("extension", {}).get("example.calf-cds", {})
    assert extension.get("ruleId", rule) == rule
    if rule == DVT:
        # §5: the DVT card carries the Wells score; its fields are the engine's to define.
        assert re.search("wells", card["detail"], re.IGNORECASE)
        assert isinstance(extension.get("wells"), dict)
        assert extension["wells"]


def _check_suggestion(
    card: dict[str, Any], rule: str, route: Route, priority: str | None, patient_id: str
) -> None:
    suggestions = card.get("suggestions")
    assert isinstance(suggestions, list)
    assert len(suggestions) == 1, f"{rule}: one suggestion"
    assert card.get("selectionBehavior") in {"at-most-one", "any"}
    suggestion = suggestions[0]
    uuid.UUID(suggestion["uuid"])
    assert suggestion["label"]
    (action,) = suggestion["actions"]
    assert action["type"] == "create"
    assert action.get("description")
    request = action["resource"]
    assert request["resourceType"] == "ServiceRequest"
    assert request["status"] == "draft"
    assert request["intent"] == "proposal"
    assert request["priority"] == priority, rule
    codes = {(c.get("system"), c.get("code")) for c in request["code"]["coding"]}
    assert (route.system, route.code) in codes, f"{rule}: {codes}"
    categories = {c.get("code") for cat in request.get("category", []) for c in cat["coding"]}
    assert route.category in categories, f"{rule}: category {categories}"
    performers = {c.get("code") for c in (request.get("performerType") or {}).get("coding", [])}
    if route.performer is None:
        assert "performerType" not in request, rule
    else:
        assert route.performer in performers, f"{rule}: performerType {performers}"
    assert request["subject"]["reference"] == f"Patient/{patient_id}"
    assert request.get("reasonReference"), f"{rule}: reasonReference the triggering resources"
