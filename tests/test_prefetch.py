"""Prefetch per cds-hooks.md "Request" and "Missing prefetch": the templates discovery advertises,
reading the values an EHR sends, and what the service fetched itself (satisfied keys, cuts)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from cds.config import Settings
from cds.core.findings import observation_codes
from cds.core.model import CUT_FAILED, CUT_NOT_FETCHED, CUT_PAGE_CAP, QueryCut
from cds.fhir.bundle import Flattened, flatten
from cds.fhir.fetch import FetchOutcome, render_template
from cds.fhir.prefetch import (
    TEMPLATE_LIMIT,
    PrefetchRead,
    fetch_templates,
    prefetch_templates,
    read_prefetch,
)

OBSERVATION = {"resourceType": "Observation", "id": "o1"}
CONDITION = {"resourceType": "Condition", "id": "c1"}


def bundle(*resources: Any, next_url: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        value["link"] = [{"relation": "next", "url": next_url}]
    return value


def read(prefetch: dict[str, Any] | None) -> PrefetchRead:
    """`read_prefetch` of JSON values, each passed raw as the request parser leaves them."""
    if prefetch is None:
        return read_prefetch(None)
    return read_prefetch({k: msgspec.Raw(json.dumps(v).encode()) for k, v in prefetch.items()})


def names(result: PrefetchRead) -> list[str]:
    return [f"{i.resource.resourceType}/{i.resource.id}" for i in result.flattened.items]


def test_missing_keys_are_unsatisfied() -> None:
    assert read(None).unsatisfied == ["patient", "observations", "conditions"]


@pytest.mark.requirement("cds-hooks_2.0:28")
def test_null_means_no_data_and_is_satisfied() -> None:
    result = read({"patient": None, "observations": None, "conditions": None})

    assert result.unsatisfied == []
    assert result.flattened.items == []


@pytest.mark.requirement("cds-hooks_2.0:52")
@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"resourceType": "OperationOutcome", "issue": []}, id="operation-outcome"),
        pytest.param("Observation?patient=1", id="string"),
        pytest.param([OBSERVATION], id="bare-list"),
        pytest.param({"entry": []}, id="no-resource-type"),
        pytest.param({"resourceType": "Bundle", "entry": "nope"}, id="entry-not-a-list"),
    ],
)
def test_non_resources_and_operation_outcomes_are_unsatisfied(value: Any) -> None:
    result = read({"patient": None, "observations": value, "conditions": None})

    assert result.unsatisfied == ["observations"]


@pytest.mark.requirement("cds-hooks_2.0:28")
def test_bundle_entries_and_single_resources_are_read() -> None:
    result = read(
        {
            "patient": {"resourceType": "Patient", "id": "p"},
            "observations": bundle(OBSERVATION),
            "conditions": bundle(),
        }
    )

    assert result.unsatisfied == []
    assert names(result) == ["Patient/p", "Observation/o1"]
    assert result.entries == 1  # Bundle entries (CDS_MAX_ENTRIES): the Patient is none


def test_entries_without_a_resource_are_kept_by_their_own_index() -> None:
    value = bundle(OBSERVATION, CONDITION)
    value["entry"].insert(1, {"fullUrl": "urn:x"})

    result = read({"observations": value})

    assert names(result) == ["Observation/o1", "Condition/c1"]
    assert result.flattened.skipped == ["observations entry 1"]
    assert result.entries == 3


def test_next_links_are_remembered_for_fetching() -> None:
    result = read({"observations": bundle(OBSERVATION, next_url="https://ehr/next")})

    assert result.next_links == {"observations": "https://ehr/next"}


def test_extra_keys_are_read_too() -> None:
    assert names(read({"labs": bundle(OBSERVATION)})) == ["Observation/o1"]


# --- the templates -------------------------------------------------------------------------


def token_matches(token: str, system: str, code: str) -> bool:
    """FHIR R4 token search: `code` matches in any system, `system|code` only in that system."""
    if "|" not in token:
        return token == code
    return token == f"{system}|{code}"


def search_tokens(template: str) -> list[str]:
    query = template.split("?", 1)[1]
    params = dict(part.split("=", 1) for part in query.split("&"))
    return params["code"].split(",")


def templates_for(settings: Settings) -> dict[str, str]:
    return prefetch_templates(settings.policy, settings.extra_observation_codes)


@pytest.mark.requirement("cds-hooks_2.0:29", "cds-hooks_2.0:36", "cds-hooks_2.0:59")
def test_templates_are_generated_from_the_catalog() -> None:
    templates = templates_for(
        Settings.load({"extra_observation_codes": "urn:x|extra-1"}, environ={})
    )

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
    tokens = search_tokens(templates_for(loaded)["observations"])

    for wire in observation_codes(loaded.policy, loaded.extra_observation_codes):
        system, _, code = wire.rpartition("|")
        assert any(token_matches(token, system, code) for token in tokens), wire


def test_every_template_in_discovery_fits_gateway_url_limits(client: Any) -> None:
    """Many gateways cut URLs at 2,048 characters; every template in discovery stays within
    2,000, and so does the query the service itself sends for it (with a 64-character id,
    FHIR's longest, and `_count`)."""
    settings = Settings.load(environ={})
    fetched = fetch_templates(
        settings.policy, settings.extra_observation_codes, settings.fhir_page_size
    )
    response = client.get("/cds-services")
    assert response.status_code == 200
    lengths: dict[str, tuple[int, int]] = {}
    for service in response.get_json()["services"]:
        assert set(service["prefetch"]) == {"patient", "observations", "conditions"}
        for key, template in service["prefetch"].items():
            query = render_template(
                fetched[key], {"patientId": "p" * 64, "userId": "Practitioner/u"}
            )
            lengths[f"{service['id']} {key}"] = (len(template), len(query))

    assert {where: n for where, n in lengths.items() if max(n) > TEMPLATE_LIMIT} == {}
    assert len(lengths) == 6


def test_the_fetch_path_asks_for_the_discovery_query_with_a_page_size() -> None:
    settings = Settings.load({"fhir_page_size": 50}, environ={})
    discovery = templates_for(settings)

    fetched = fetch_templates(settings.policy, settings.extra_observation_codes, 50)

    assert fetched["patient"] == discovery["patient"]
    assert fetched["observations"] == discovery["observations"] + "&_count=50"
    assert fetched["conditions"] == "Condition?patient={{context.patientId}}&_count=50"


def test_a_template_over_the_limit_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    many = ",".join(f"urn:local:{'x' * 30}|code-{n}" for n in range(40))
    settings = Settings.load({"extra_observation_codes": many}, environ={})

    with caplog.at_level("WARNING", logger="cds.fhir.prefetch"):
        template = templates_for(settings)["observations"]

    assert len(template) > TEMPLATE_LIMIT
    assert [record.getMessage() for record in caplog.records] == [
        f"prefetch template observations is {len(template)} characters, over 2000: some "
        "gateways will cut it (check CDS_EXTRA_OBSERVATION_CODES and the configured extra codes)"
    ]


# --- what the service fetched: satisfied keys and cuts named for the info card ---------------


def flattened(value: dict[str, Any], where: str) -> Flattened:
    """A fetched page's resources, as the fetcher hands them over."""
    return flatten(msgspec.Raw(msgspec.json.encode(value)), where)


def test_a_fetched_key_is_satisfied_and_a_cut_is_named() -> None:
    result = read({"patient": None})

    result.add_fetched(
        "observations",
        FetchOutcome(
            flattened(bundle(OBSERVATION), "observations"),
            pages=5,
            truncated=True,
            truncated_by=CUT_PAGE_CAP,
        ),
    )
    result.add_fetched("conditions", FetchOutcome(None, "HTTP 500 from https://ehr:443"))

    assert result.unsatisfied == ["conditions"]
    assert names(result) == ["Observation/o1"]
    assert result.incomplete == {"observations": QueryCut("observations", CUT_PAGE_CAP, 5)}


def test_a_patient_counts_as_no_entry_prefetched_or_fetched_and_searches_count() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    prefetched = read({"patient": patient, "observations": bundle(OBSERVATION)})
    fetched = read({"observations": bundle(OBSERVATION)})

    fetched.add_fetched("patient", FetchOutcome(flattened(patient, "patient")))
    fetched.add_fetched(
        "conditions", FetchOutcome(flattened(bundle(CONDITION, CONDITION), "conditions"))
    )

    assert prefetched.entries == 1
    assert fetched.entries == 3  # the Observation and the two Conditions found by the search
    assert sorted(names(fetched)) == ["Condition/c1", "Condition/c1", "Observation/o1", "Patient/p"]


def test_later_pages_of_a_prefetched_bundle_that_fail_are_named() -> None:
    result = read({"observations": bundle(OBSERVATION, next_url="https://ehr/next")})

    result.add_fetched("observations#next", FetchOutcome(None, "time budget of 3 s exhausted"))

    assert result.unsatisfied == ["patient", "conditions"]
    assert result.incomplete == {"observations": QueryCut("observations", CUT_FAILED)}


def test_later_pages_not_fetched_at_all_are_named() -> None:
    result = read({"observations": bundle(OBSERVATION, next_url="https://ehr/next")})

    result.pages_not_fetched()

    assert result.incomplete == {"observations": QueryCut("observations", CUT_NOT_FETCHED)}
