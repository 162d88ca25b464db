"""Reading prefetch values per cds-hooks.md "Request" and "Missing prefetch"."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from cds.prefetch import prefetch_templates, read_prefetch

from cds.config import Settings

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


@pytest.mark.requirement("cds-hooks_2.0:29", "cds-hooks_2.0:36", "cds-hooks_2.0:59")
def test_templates_are_generated_from_the_catalog() -> None:
    templates = prefetch_templates(Settings.load({"extra_observation_codes": "urn:x|extra-1"}))
    assert templates["patient"] == "Patient/{{context.patientId}}"
    assert templates["conditions"] == "Condition?patient={{context.patientId}}"
    observations = templates["observations"]
    assert observations.startswith("Observation?patient={{context.patientId}}&code=")
    for code in (
        "http://loinc.org|75325-1",
        "http://snomed.info/sct|418799008",
        "http://loinc.org|82810-3",
        "http://snomed.info/sct|300954003",
        "http://loinc.org|48065-7",
        "urn:x|extra-1",
    ):
        assert code in observations.split("code=", 1)[1].split(",")
