"""Every error answer is an OperationOutcome with the status cds-hooks.md "Errors" lists."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest

SERVICE = "/cds-services/calf-pain-triage"


def hook_request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"},
            "observations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
            "conditions": None,
        },
    }
    body.update(changes)
    return body


def assert_outcome(response: Any, status: int, issue_code: str, *fragments: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["code"] == issue_code
    for fragment in fragments:
        assert fragment in issue["diagnostics"]
    assert "Traceback" not in response.get_data(as_text=True)
    return str(issue["diagnostics"])


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(b"{not json", "malformed JSON", id="broken-json"),
        pytest.param(b"", "empty", id="empty-body"),
        pytest.param(b'{"hook": NaN}', "malformed JSON", id="nan"),
        pytest.param(b"\xff\xfe{}", "UTF-8", id="bad-utf8"),
        pytest.param(b"[]", "JSON object", id="array-body"),
    ],
)
def test_malformed_body_is_400_invalid(client: Any, raw: bytes, fragment: str) -> None:
    response = client.post(SERVICE, data=raw, content_type="application/json")
    assert_outcome(response, 400, "invalid", fragment)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        pytest.param({"hook": "order-sign"}, ["hook", "patient-view"], id="wrong-hook"),
        pytest.param({"hookInstance": "not-a-uuid"}, ["hookInstance", "UUID"], id="bad-uuid"),
        pytest.param(
            {"context": {"userId": "Practitioner/x"}}, ["context.patientId"], id="no-patient"
        ),
        pytest.param(
            {"context": {"userId": "Device/x", "patientId": "p1"}},
            ["context.userId"],
            id="bad-user",
        ),
        pytest.param({"context": "p1"}, ["context"], id="context-not-object"),
        pytest.param(
            {
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "x",
                    "subject": "s",
                }
            },
            ["fhirServer"],
            id="authorization-without-server",
        ),
        pytest.param({"prefetch": "everything"}, ["prefetch"], id="prefetch-not-object"),
    ],
)
def test_bad_envelope_is_400_naming_the_field(
    client: Any, changes: dict[str, Any], fragments: list[str]
) -> None:
    response = client.post(SERVICE, json=hook_request(**changes))
    assert_outcome(response, 400, "invalid", *fragments)


def test_missing_hook_field_is_400(client: Any) -> None:
    body = hook_request()
    del body["hook"]
    assert_outcome(client.post(SERVICE, json=body), 400, "invalid", "hook")


def test_encounter_start_needs_encounter_id(client: Any) -> None:
    body = hook_request(hook="encounter-start")
    response = client.post("/cds-services/calf-pain-triage-encounter", json=body)
    assert_outcome(response, 400, "invalid", "context.encounterId")


def test_unknown_extra_fields_are_kept_not_rejected(client: Any) -> None:
    body = hook_request(extension={"com.example": 1})
    body["context"]["com.example.tab"] = "summary"
    assert client.post(SERVICE, json=body).status_code == 200


@pytest.mark.requirement("cds-hooks_2.0:14", "cds-hooks_2.0:76")
def test_unknown_service_is_404(client: Any) -> None:
    response = client.post("/cds-services/nope", json=hook_request())
    assert_outcome(response, 404, "not-found", "nope")


def test_unknown_path_is_404(client: Any) -> None:
    assert_outcome(client.get("/no/such/path"), 404, "not-found")


@pytest.mark.requirement("cds-hooks_2.0:14", "cds-hooks_2.0:76")
def test_wrong_method_is_405(client: Any) -> None:
    response = client.get(SERVICE)
    assert_outcome(response, 405, "not-supported")
    assert "POST" in response.headers["Allow"]


@pytest.mark.requirement("cds-hooks_2.0:54")
def test_no_observations_and_no_conditions_is_412_naming_the_keys(client: Any) -> None:
    body = hook_request(prefetch={"patient": {"resourceType": "Patient", "id": "p1"}})
    assert_outcome(client.post(SERVICE, json=body), 412, "incomplete", "observations", "conditions")


@pytest.mark.requirement("cds-hooks_2.0:52")
def test_operation_outcome_prefetch_values_are_unsatisfied(client: Any) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    body = hook_request(prefetch={"observations": outcome, "conditions": "no"})
    assert_outcome(client.post(SERVICE, json=body), 412, "incomplete")


def test_one_clinical_key_is_enough_and_the_gap_is_named(client: Any) -> None:
    body = hook_request(prefetch={"conditions": None})
    response = client.post(SERVICE, json=body)
    assert response.status_code == 200
    assert isinstance(response.get_json()["cards"], list)


def test_body_over_the_limit_is_413(app_config: dict[str, Any]) -> None:
    from cds import create_app

    app = create_app({**app_config, "max_body_bytes": 1000})
    body = json.dumps(hook_request(padding="x" * 2000))
    response = app.test_client().post(SERVICE, data=body, content_type="application/json")
    assert_outcome(response, 413, "too-costly", "1000")


def test_too_many_bundle_entries_is_413(app_config: dict[str, Any]) -> None:
    from cds import create_app

    app = create_app({**app_config, "max_entries": 3})
    entries = [{"resource": {"resourceType": "Observation"}} for _ in range(4)]
    body = hook_request()
    body["prefetch"]["observations"]["entry"] = entries
    response = app.test_client().post(SERVICE, json=body)
    assert_outcome(response, 413, "too-costly", "entries")


@pytest.mark.parametrize(("count", "status"), [(3, 200), (4, 413)])
def test_the_entry_limit_counts_bundle_entries_not_the_patient_resource(
    app_config: dict[str, Any], count: int, status: int
) -> None:
    from cds import create_app

    app = create_app({**app_config, "max_entries": 3})
    body = hook_request()  # its prefetch holds the Patient as a single resource
    entries = [{"resource": {"resourceType": "Observation"}} for _ in range(count)]
    body["prefetch"]["observations"]["entry"] = entries
    response = app.test_client().post(SERVICE, json=body)
    if status == 413:
        assert_outcome(response, 413, "too-costly", "prefetch holds 4 entries; the limit is 3")
    else:
        assert response.status_code == 200, response.get_json()


def test_lone_resources_under_other_keys_count_toward_the_entry_limit(
    app_config: dict[str, Any],
) -> None:
    from cds import create_app

    app = create_app({**app_config, "max_entries": 3})
    body = hook_request()
    for n in range(4):  # keys the service never asked for, one Observation each
        body["prefetch"][f"extra{n}"] = {"resourceType": "Observation", "id": f"o{n}"}
    response = app.test_client().post(SERVICE, json=body)
    assert_outcome(response, 413, "too-costly", "prefetch holds 4 entries; the limit is 3")


def test_nesting_deeper_than_the_limit_is_400_structure(client: Any) -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    response = client.post(SERVICE, json=hook_request(extra=deep))
    assert_outcome(response, 400, "structure", "nesting")


def test_extremely_deep_nesting_does_not_crash(client: Any) -> None:
    raw = b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = client.post(SERVICE, data=raw, content_type="application/json")
    assert_outcome(response, 400, "structure")


@pytest.mark.requirement("cds-hooks_2.0:1", "cds-hooks_2.0:14", "cds-hooks_2.0:76")
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(client: Any, content_type: str) -> None:
    response = client.post(SERVICE, data=json.dumps(hook_request()), content_type=content_type)
    assert_outcome(response, 415, "not-supported", content_type)


@pytest.mark.parametrize("encoding", ["gzip", "deflate, gzip"])
def test_a_compressed_body_is_415_naming_the_encoding(client: Any, encoding: str) -> None:
    body = gzip.compress(json.dumps(hook_request()).encode())
    response = client.post(
        SERVICE,
        data=body,
        content_type="application/json",
        headers={"Content-Encoding": encoding},
    )
    assert_outcome(response, 415, "not-supported", f"Content-Encoding {encoding}", "uncompressed")


def test_identity_content_encoding_is_accepted(client: Any) -> None:
    response = client.post(SERVICE, json=hook_request(), headers={"Content-Encoding": "identity"})
    assert response.status_code == 200


def test_fhir_json_content_type_is_accepted(client: Any) -> None:
    response = client.post(
        SERVICE, data=json.dumps(hook_request()), content_type="application/fhir+json"
    )
    assert response.status_code == 200


@pytest.mark.requirement("cds-hooks_2.0:14", "cds-hooks_2.0:76")
def test_a_bug_is_500_without_a_stack_trace(app: Any) -> None:
    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_url_rule("/broken", "broken", broken)
    response = app.test_client().get("/broken")
    diagnostics = assert_outcome(response, 500, "exception")
    assert "secret" not in diagnostics


def test_evaluate_refuses_a_non_bundle(client: Any) -> None:
    response = client.post("/evaluate", json=hook_request())
    assert_outcome(response, 400, "invalid", "Bundle")


def test_evaluate_reads_the_resource_type_as_json_not_as_bytes(client: Any) -> None:
    # "Bundl\u0065" is the string "Bundle": an escape is JSON, not a different type.
    body = b'{"resourceType": "Bundl\\u0065", "type": "collection", "entry": []}'
    response = client.post("/evaluate", data=body, content_type="application/json")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"cards": []}


def test_evaluate_unknown_service_is_404(client: Any) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    response = client.post("/evaluate?service=nope", json=bundle)
    assert_outcome(response, 404, "not-found")
