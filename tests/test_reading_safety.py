"""§2 (2026.2) "What makes a resource unreadable", over real HTTP: a red flag never hides behind
an element no rule reads, and a resource is skipped only for its code, status or measured value.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import SAMPLES, LiveServer, load_json

ALI = "acute-limb-ischaemia-cold-pulseless-right-foot"
COMPARTMENT = "compartment-syndrome-after-exertion"


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_json(SAMPLES / f"{name}.json"))


def observations(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in body["prefetch"]["observations"]["entry"]]


def post(live_server: LiveServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    with live_server.client() as client:
        response = client.post("/cds-services/calf-pain-triage", json=body)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def card(cards: list[dict[str, Any]], rule: str | None) -> dict[str, Any]:
    return next(c for c in cards if c["extension"]["example.calf-cds"].get("ruleId") == rule)


@pytest.mark.parametrize(
    ("element", "value"),
    [
        pytest.param("somethingUnknown", {"deeply": [{"nested": True}]}, id="unknown-element"),
        pytest.param("issued", "2026-11-25", id="issued-as-a-date"),
        pytest.param("note", "not an Annotation list", id="malformed-note"),
        pytest.param("referenceRange", {"high": "nope"}, id="malformed-reference-range"),
        pytest.param("interpretation", "H", id="malformed-interpretation"),
        pytest.param("subject", ["Patient/x"], id="malformed-subject"),
        pytest.param("extension", [{"valueString": "no url"}], id="extension-without-url"),
    ],
)
def test_a_red_flag_fires_whatever_element_no_rule_reads_is_malformed(
    live_server: LiveServer, element: str, value: Any
) -> None:
    body = sample(ALI)
    for resource in observations(body):
        resource[element] = value

    cards = post(live_server, body)

    assert [c["extension"]["example.calf-cds"].get("ruleId") for c in cards] == ["R-ALI"]


def test_a_malformed_element_that_is_read_is_named_under_the_cards_caveats(
    live_server: LiveServer,
) -> None:
    body = sample(ALI)
    cold = next(r for r in observations(body) if r["code"]["coding"][0]["code"] == "771542000")
    cold["referenceRange"] = {"high": "nope"}

    detail = card(post(live_server, body), "R-ALI")["detail"]

    assert "**Caveats**" in detail
    assert f"Observation/{cold['id']}: referenceRange is malformed: ignored" in detail


def test_a_malformed_body_site_makes_the_side_unknown_and_the_red_flag_still_fires(
    live_server: LiveServer,
) -> None:
    body = sample(ALI)
    for resource in observations(body):
        resource["bodySite"] = "right foot"

    cards = post(live_server, body)

    ali = card(cards, "R-ALI")
    assert "(side not recorded)" in ali["summary"]
    assert "bodySite is malformed: side unknown" in ali["detail"]


def test_a_malformed_date_makes_the_record_undated_and_it_still_counts(
    live_server: LiveServer,
) -> None:
    body = sample(COMPARTMENT)
    for resource in observations(body):
        resource["effectiveDateTime"] = "last Tuesday"

    cards = post(live_server, body)

    detail = card(cards, "R-COMPARTMENT")["detail"]
    assert "undated" in detail
    assert "effectiveDateTime is malformed: the record counts as undated" in detail


def test_a_measured_value_that_is_not_a_number_is_unreadable_and_named(
    live_server: LiveServer,
) -> None:
    body = sample("calf-pain-fever")
    temperature = next(r for r in observations(body) if "valueQuantity" in r)
    temperature["valueQuantity"]["value"] = "38.6"

    cards = post(live_server, body)

    quality = card(cards, None)
    assert quality["summary"] == "1 resource could not be read: red flags may be missing"
    assert (
        f"Observation/{temperature['id']}: valueQuantity.value is not a number" in quality["detail"]
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("cramps-self-care-normal-potassium", "3,9", id="potassium-decimal-comma"),
        pytest.param(
            "rest-examined-post-exercise-soreness", "37,2", id="temperature-decimal-comma"
        ),
    ],
)
def test_a_blocking_lab_value_that_cannot_be_read_still_withholds_self_care(
    live_server: LiveServer, name: str, value: str
) -> None:
    # Spec-silent, conservative: sent but unreadable is no safer than not interpretable (§1.7).
    body = sample(name)
    lab = next(r for r in observations(body) if "valueQuantity" in r)
    lab["valueQuantity"]["value"] = value

    cards = post(live_server, body)

    rules = [c["extension"]["example.calf-cds"].get("ruleId") for c in cards]
    assert rules == ["R-NO-RED-FLAG-DATA", None]  # no R-REST, no R-CRAMP-SELFCARE
    analyte = "Potassium" if "potassium" in name else "Temperature"
    advice = card(cards, "R-NO-RED-FLAG-DATA")
    unit = "mmol/L" if analyte == "Potassium" else "Cel"
    assert advice["summary"].startswith(
        f"{analyte} result could not be interpreted ({value} {unit})"
    )
    assert f"{analyte} {value} {unit}: not interpretable, " in advice["detail"]
    assert analyte.lower() not in advice["detail"].split("**Not recorded**")[1].split("**")[0]
    quality = card(cards, None)["detail"].splitlines()
    assert f"- Observation/{lab['id']}: valueQuantity.value is not a number" in quality
    assert len([line for line in quality if f"{analyte} {value} {unit}: not" in line]) == 1


def test_any_other_lab_value_that_cannot_be_read_is_named_on_the_card_that_reads_it(
    live_server: LiveServer,
) -> None:
    body = sample("units-magnesium-mg-per-dl-cramps")
    magnesium = next(r for r in observations(body) if "valueQuantity" in r)
    magnesium["valueQuantity"]["value"] = "1,6"

    cards = post(live_server, body)

    caveats = [c["detail"].split("**Caveats**")[1] for c in cards if "**Caveats**" in c["detail"]]
    expected = f"Magnesium 1,6 mg/dL (Observation/{magnesium['id']}): not interpretable"
    assert any(expected in block for block in caveats)
    quality = card(cards, None)["detail"]
    assert f"Observation/{magnesium['id']}: valueQuantity.value is not a number" in quality


def test_a_code_with_one_bad_coding_is_read_by_its_good_one(live_server: LiveServer) -> None:
    body = sample(ALI)
    for resource in observations(body):
        resource["code"]["coding"].insert(0, {"system": 42, "code": ["x"]})

    cards = post(live_server, body)

    assert "R-ALI" in [c["extension"]["example.calf-cds"].get("ruleId") for c in cards]
    assert "code.coding[0] is malformed: ignored" in card(cards, "R-ALI")["detail"]


@pytest.mark.parametrize(
    ("element", "problem"),
    [
        pytest.param("status", "status is not a string", id="status"),
        pytest.param("code", "code is not an object", id="code"),
    ],
)
def test_a_malformed_code_or_status_makes_the_resource_unreadable(
    live_server: LiveServer, element: str, problem: str
) -> None:
    body = sample(COMPARTMENT)
    broken = observations(body)[0]
    broken[element] = 7

    cards = post(live_server, body)

    assert f"Observation/{broken['id']}: {problem}" in card(cards, None)["detail"]


def test_a_condition_with_a_malformed_clinical_status_counts_as_active(
    live_server: LiveServer,
) -> None:
    body = sample("necrotising-fasciitis-diagnosis")
    condition = body["prefetch"]["conditions"]["entry"][0]["resource"]
    condition["clinicalStatus"] = "resolved"

    cards = post(live_server, body)

    necrotising = card(cards, "R-NECROTISING")
    assert necrotising["indicator"] == "critical"
    assert (
        f"Condition/{condition['id']}: clinicalStatus is malformed: read as absent, the "
        "condition counted as active"
    ) in necrotising["detail"]


def test_a_malformed_birth_date_means_age_unknown(live_server: LiveServer) -> None:
    body = sample("dvt-unilateral-swelling-wells-likely")
    body["prefetch"]["patient"]["birthDate"] = 1961

    detail = card(post(live_server, body), "R-DVT-PATHWAY")["detail"]

    assert "Age unknown: treated as an adult; D-dimer cut-off 500 ng/mL FEU." in detail


@pytest.mark.parametrize(
    ("system", "code"),
    [
        pytest.param("http://snomed.info/sct", " 771542000", id="space-before-the-code"),
        pytest.param("http://snomed.info/sct", "771542000\t", id="tab-after-the-code"),
        pytest.param(" http://snomed.info/sct ", "771542000", id="spaces-around-the-system"),
    ],
)
def test_a_red_flag_code_typed_with_spaces_around_it_still_fires(
    live_server: LiveServer, system: str, code: str
) -> None:
    """FHIR's `code` and `uri` have no surrounding whitespace; a slip in typing one must not
    turn a cold leg into an unrecognised code (critical R-ALI into a warning)."""
    body = sample(ALI)
    cold = next(r for r in observations(body) if r["code"]["coding"][0]["code"] == "771542000")
    cold["code"]["coding"][0].update(system=system, code=code)

    cards = post(live_server, body)

    assert card(cards, "R-ALI")["indicator"] == "critical"


def test_a_bundle_nested_in_a_prefetch_bundle_is_named_not_skipped_in_silence(
    live_server: LiveServer,
) -> None:
    body = sample(ALI)
    searchset = body["prefetch"]["observations"]
    body["prefetch"]["observations"] = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"resource": searchset, "response": {"status": "200"}}],
    }

    cards = post(live_server, body)

    data_quality = card(cards, None)
    assert data_quality["summary"] == "1 resource could not be read: red flags may be missing"
    assert (
        "resourceType is a Bundle inside a Bundle: its entries are not read"
        in (data_quality["detail"])
    )


@pytest.mark.parametrize(
    "where",
    [pytest.param("site", id="body-site"), pytest.param("side", id="laterality")],
)
def test_a_body_site_typed_with_spaces_keeps_its_site_and_side(
    live_server: LiveServer, where: str
) -> None:
    body = sample(ALI)
    for resource in observations(body):
        site, side = resource["bodySite"]["coding"]
        (site if where == "site" else side)["code"] = (
            f" {(site if where == 'site' else side)['code']} "
        )

    cards = post(live_server, body)

    assert card(cards, "R-ALI")["indicator"] == "critical"


@pytest.mark.parametrize("flag", [" H", "POS ", " HH "])
def test_a_lab_flag_typed_with_spaces_still_says_the_d_dimer_is_raised(
    live_server: LiveServer, flag: str
) -> None:
    body = sample("dvt-unlikely-negative-d-dimer")
    (d_dimer,) = [r for r in observations(body) if r["code"]["coding"][0]["code"] == "48065-7"]
    d_dimer["interpretation"] = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": flag,
                }
            ]
        }
    ]

    rules = [c["extension"]["example.calf-cds"].get("ruleId") for c in post(live_server, body)]

    assert "R-DVT-UNLIKELY" not in rules
    assert "R-DVT-PATHWAY" in rules
