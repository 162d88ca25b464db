"""`GET /openapi.json`: a valid OpenAPI 3.1 document that covers every route the app serves,
and whose schemas describe the bodies the app really sends."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import SAMPLE_CLOCK, SAMPLES, load_json
from flask import Flask
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely.json"
ERROR_STATUSES = {"400", "401", "404", "405", "412", "413", "415", "500", "503"}


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)  # openapi-spec-validator picks the 3.1 validator from `openapi`

    assert document["openapi"] == "3.1.0"


def _documented_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_route_and_method_is_documented(app: Flask, document: dict[str, Any]) -> None:
    served = {
        (_documented_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"  # Flask's own /static (the console uses /console/static)
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }

    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert served <= documented
    assert {(path, method) for path, method in documented if method != "options"} <= served


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method != "options"
    ]


def test_every_error_status_has_an_operation_outcome_body(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status not in ERROR_STATUSES:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/OperationOutcome"}, (
                path,
                method,
                status,
            )


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        pytest.param("/cds-services/{service_id}", {"400", "404", "412", "413", "415"}, id="call"),
        pytest.param("/cds-services/{service_id}/feedback", {"400", "404", "503"}, id="feedback"),
        pytest.param("/evaluate", {"400", "404", "413", "415"}, id="evaluate"),
        pytest.param("/reports/rules", {"400", "503"}, id="reports"),
    ],
)
def test_documented_errors_match_the_spec_table(
    document: dict[str, Any], path: str, statuses: set[str]
) -> None:
    operation = next(iter(op for m, op in document["paths"][path].items() if m != "options"))

    assert statuses <= set(operation["responses"])


def test_request_bodies_name_their_required_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert {"hook", "hookInstance", "context"} <= set(schemas["HookRequest"]["required"])
    assert set(schemas["FeedbackRequest"]["required"]) == {"feedback"}
    assert {"card", "outcome", "outcomeTimestamp"} <= set(schemas["FeedbackItem"]["required"])
    assert "resourceType" in schemas["FhirBundle"]["required"]
    for path, method, operation in _operations(document):
        if method == "post":
            content = operation["requestBody"]["content"]
            if path == "/smart/form":  # the red-flag check app's HTML form posts its answers
                assert set(content) == {"application/x-www-form-urlencoded"}
                continue
            assert {"application/json", "application/fhir+json"} <= set(content), path


def test_public_operations_need_no_token(document: dict[str, Any]) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == []


def _check(document: dict[str, Any], name: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    OAS31Validator(schema).validate(instance)


def test_real_answers_match_their_documented_schemas(client: Any, document: dict[str, Any]) -> None:
    request = load_json(SAMPLES / DVT_SAMPLE)
    discovery = client.get("/cds-services").get_json()
    answer = client.post("/cds-services/calf-pain-triage", json=request).get_json()
    card = answer["cards"][0]
    feedback_body = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": SAMPLE_CLOCK,
            }
        ]
    }
    feedback = client.post("/cds-services/calf-pain-triage/feedback", json=feedback_body)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}

    _check(document, "HookRequest", request)
    _check(document, "DiscoveryResponse", discovery)
    _check(document, "HookResponse", answer)
    _check(document, "FeedbackRequest", feedback_body)
    _check(document, "FeedbackResult", feedback.get_json())
    _check(document, "FhirBundle", bundle)
    _check(document, "HookResponse", client.post("/evaluate", json=bundle).get_json())
    _check(document, "RuleCatalog", client.get("/rules").get_json())
    _check(document, "CodeSystem", client.get("/fhir/CodeSystem/finding").get_json())
    _check(document, "RuleReport", client.get("/reports/rules").get_json())
    _check(document, "HealthStatus", client.get("/healthz").get_json())
    _check(document, "HealthStatus", client.get("/readyz").get_json())
    _check(document, "ConsoleSampleList", client.get("/console/samples").get_json())
    _check(document, "OperationOutcome", client.get("/cds-services/nope/x").get_json())
    _check(document, "OperationOutcome", client.post("/cds-services/nope", json={}).get_json())


def test_documented_content_types_are_the_served_ones(client: Any) -> None:
    assert client.get("/fhir/CodeSystem/rule").mimetype == "application/fhir+json"
    assert client.get("/metrics").mimetype == "text/plain"
    assert client.get("/").mimetype == "text/html"
