"""Reading prefetch values per cds-hooks.md "Request" and "Missing prefetch"."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from cds.config import Settings
from cds.fhir_client import FetchOutcome, render_template
from cds.findings import observation_prefetch_codes
from cds.prefetch import TEMPLATE_LIMIT, fetch_templates, prefetch_templates, read_prefetch

OBSERVATION = {"resourceType": "Observation", "id": "o1"}


def bundle(*resources: Any, next_url: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        value["link"] = [{"relation": "next", "url": next_url}]
    return value


def test_missing_keys_are_unsatisfied() -> None:
    assert read_prefetch(None).unsatisfied == ["patient", "observations", "conditions"]


@pytest.mark.requirement("cds-hooks_2.0:28")
def test_null_means_no_data_and_is_satisfied() -> None:
    read = read_prefetch({"patient": None, "observations": None, "conditions": None})
    assert read.unsatisfied == []
    assert read.resources == []


@pytest.mark.requirement("cds-hooks_2.0:52")
@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"resourceType": "OperationOutcome", "issue": []}, id="operation-outcome"),
        pytest.param("Observation?patient=1", id="string"),
        pytest.param([OBSERVATION], id="bare-list"),
        pytest.param({"entry": []}, id="no-resource-type"),
    ],
)
def test_non_resources_and_operation_outcomes_are_unsatisfied(value: Any) -> None:
    read = read_prefetch({"patient": None, "observations": value, "conditions": None})
    assert read.unsatisfied == ["observations"]


@pytest.mark.requirement("cds-hooks_2.0:28")
def test_bundle_entries_and_single_resources_are_read() -> None:
    read = read_prefetch(
        {
            "patient": {"resourceType": "Patient", "id": "p"},
            "observations": bundle(OBSERVATION),
            "conditions": bundle(),
        }
    )
    assert read.unsatisfied == []
    assert read.resources == [{"resourceType": "Patient", "id": "p"}, OBSERVATION]
    assert read.entries == 2


def test_malformed_entries_are_passed_on_for_counting_not_dropped() -> None:
    value = bundle(OBSERVATION)
    value["entry"].append("garbage")
    value["entry"].append({"fullUrl": "urn:x"})
    read = read_prefetch({"observations": value})
    assert read.resources == [OBSERVATION, "garbage", None]


@pytest.mark.parametrize("position", [0, 1, 2])
def test_an_odd_entry_anywhere_leaves_the_others_read_once_in_order(position: int) -> None:
    """The plain-dict flattening falls back entry by entry, without repeating what it read."""
    other = {"resourceType": "Condition", "id": "c1"}
    value = bundle(OBSERVATION, other)
    value["entry"].insert(position, MappingProxyType({"resource": {"resourceType": "Patient"}}))
    value["entry"].append(["not", "an", "entry"])
    expected: list[Any] = [OBSERVATION, other]
    expected.insert(position, {"resourceType": "Patient"})
    expected.append(["not", "an", "entry"])

    read = read_prefetch({"observations": value, "conditions": bundle(other)})

    assert read.resources == [*expected, other]
    assert read.entries == 5


def test_a_single_entry_object_is_read_as_a_list_of_one() -> None:
    value = bundle()
    value["entry"] = {"resource": OBSERVATION}
    assert read_prefetch({"observations": value}).resources == [OBSERVATION]


def test_next_links_are_remembered_for_fetching() -> None:
    read = read_prefetch({"observations": bundle(OBSERVATION, next_url="https://ehr/next")})
    assert read.next_links == {"observations": "https://ehr/next"}


def test_extra_keys_are_read_too() -> None:
    read = read_prefetch({"labs": bundle(OBSERVATION)})
    assert OBSERVATION in read.resources


def token_matches(token: str, system: str, code: str) -> bool:
    """FHIR R4 token search: `code` matches in any system, `system|code` only in that system."""
    if "|" not in token:
        return token == code
    return token == f"{system}|{code}"


def search_tokens(template: str) -> list[str]:
    query = template.split("?", 1)[1]
    params = dict(part.split("=", 1) for part in query.split("&"))
    return params["code"].split(",")


@pytest.mark.requirement("cds-hooks_2.0:29", "cds-hooks_2.0:36", "cds-hooks_2.0:59")
def test_templates_are_generated_from_the_catalog() -> None:
    settings = Settings.load({"extra_observation_codes": "urn:x|extra-1"}, environ={})
    templates = prefetch_templates(settings)
    assert templates["patient"] == "Patient/{{context.patientId}}"
    # R4 Condition has no date search parameter: no _sort there.
    assert templates["conditions"] == "Condition?patient={{context.patientId}}"
    observations = templates["observations"]
    assert observations.startswith("Observation?patient={{context.patientId}}&code=")
    assert observations.endswith("&_sort=-date")
    tokens = search_tokens(observations)
    for token in (
        "75325-1",  # LOINC
        "418799008",  # SNOMED CT
        "82810-3",
        "300954003",
        "48065-7",
        "calf-swelling-3cm",  # calf-cds's own finding CodeSystem
        "urn:x|extra-1",  # a configured code of another system keeps it
    ):
        assert token in tokens
    assert [token for token in tokens if "|" in token] == ["urn:x|extra-1"]


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {"fhir_base": "https://cds.hospital.example/fhir", "extra_cancer_codes": "363346000"},
            id="own-base-and-extra-cancer-code",
        ),
    ],
)
def test_every_catalog_code_is_matched_by_the_observations_search(settings: dict[str, Any]) -> None:
    """Clinical safety: shortening the template must not make any catalog code unfetchable."""
    loaded = Settings.load(settings, environ={})
    tokens = search_tokens(prefetch_templates(loaded)["observations"])
    for wire in observation_prefetch_codes(loaded):
        system, _, code = wire.rpartition("|")
        assert any(token_matches(token, system, code) for token in tokens), wire


def test_every_template_in_discovery_fits_gateway_url_limits(client: Any) -> None:
    """Issue 15: many gateways cut URLs at 2,048 characters; every template in discovery stays
    within 2,000, and so does the query the service itself sends for it (with a 64-character
    id, FHIR's longest, and `_count`)."""
    response = client.get("/cds-services")
    assert response.status_code == 200
    fetched = fetch_templates(Settings.load(environ={}))
    lengths: dict[str, tuple[int, int]] = {}
    for service in response.get_json()["services"]:
        assert set(service["prefetch"]) == {"patient", "observations", "conditions"}
        for key, template in service["prefetch"].items():
            query = render_template(
                fetched[key], {"patientId": "p" * 64, "userId": "Practitioner/u"}
            )
            lengths[f"{service['id']} {key}"] = (len(template), len(query))
    too_long = {where: n for where, n in lengths.items() if max(n) > TEMPLATE_LIMIT}
    assert too_long == {}
    assert len(lengths) == 6


def test_the_fetch_path_asks_for_the_discovery_query_with_a_page_size() -> None:
    settings = Settings.load({"fhir_page_size": 50}, environ={})
    discovery = prefetch_templates(settings)
    fetched = fetch_templates(settings)
    assert fetched["patient"] == discovery["patient"]
    assert fetched["observations"] == discovery["observations"] + "&_count=50"
    assert fetched["conditions"] == "Condition?patient={{context.patientId}}&_count=50"


def test_a_template_over_the_limit_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    many = ",".join(f"urn:local:{'x' * 30}|code-{n}" for n in range(40))
    with caplog.at_level("WARNING", logger="cds.prefetch"):
        template = prefetch_templates(Settings.load({"extra_observation_codes": many}, environ={}))[
            "observations"
        ]
    assert len(template) > TEMPLATE_LIMIT
    assert [record.getMessage() for record in caplog.records] == [
        f"prefetch template observations is {len(template)} characters, over 2000: some "
        "gateways will cut it (check CDS_EXTRA_OBSERVATION_CODES and CDS_EXTRA_CANCER_CODES)"
    ]


# --- what the service fetched: satisfied keys and cuts named for the info card ---------------


def test_a_fetched_key_is_satisfied_and_a_cut_is_named() -> None:
    read = read_prefetch({"patient": None})
    read.add_fetched(
        "observations",
        FetchOutcome([OBSERVATION], pages=5, truncated=True, truncated_by="page_cap", note="cut"),
    )
    read.add_fetched("conditions", FetchOutcome(None, "HTTP 500 from https://ehr:443"))
    assert read.unsatisfied == ["conditions"]
    assert read.resources == [OBSERVATION]
    assert read.incomplete == {"observations": "cut"}


def test_later_pages_of_a_prefetched_bundle_that_fail_are_named() -> None:
    read = read_prefetch({"observations": bundle(OBSERVATION, next_url="https://ehr/next")})
    read.add_fetched("observations#next", FetchOutcome(None, "time budget of 3 s exhausted"))
    assert read.unsatisfied == ["patient", "conditions"]
    assert read.incomplete == {
        "observations": "later pages could not be fetched (time budget of 3 s exhausted)"
    }


def test_later_pages_not_fetched_at_all_are_named() -> None:
    read = read_prefetch({"observations": bundle(OBSERVATION, next_url="https://ehr/next")})
    read.pages_not_fetched("no fhirServer this service may read")
    assert read.incomplete == {
        "observations": "later pages were not fetched (no fhirServer this service may read)"
    }
