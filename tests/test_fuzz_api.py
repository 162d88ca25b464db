"""Schemathesis against the served OpenAPI document: every operation, generated requests.

Every operation of `/openapi.json` gets schema-valid requests (positive mode); those that take a
body or query parameters also get schema-violating ones (negative mode). Properties: never a
5xx; every 4xx is a FHIR OperationOutcome (cds-hooks.md "Errors"); status codes, content types,
headers and bodies are the ones the document declares. The requests go to the real app in
process (WSGI), with a real SQLite store. Case counts: see tests/fuzzing.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import schemathesis.checks
from flask import Flask
from fuzzing import run_property
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from cds.config import Settings
from cds.openapi import build_openapi

pytestmark = pytest.mark.fuzz

DOCUMENT = build_openapi(Settings.load({}, environ={}))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
CI_EXAMPLES = 80


def _negatable(operation: Any) -> bool:
    """An operation whose input can violate the schema (a body or a query parameter)."""
    definition = operation.definition.raw
    parameters = [*definition.get("parameters", [])]
    return "requestBody" in definition or any(p.get("in") == "query" for p in parameters)


def _cases() -> list[Any]:
    """Every operation positive; negatable ones negative too; the service operations also with
    a real service id, so generated bodies reach the parser and the engine, not only the 404."""
    cases = []
    for operation in OPERATIONS:
        modes = [GenerationMode.POSITIVE]
        if _negatable(operation):
            modes.append(GenerationMode.NEGATIVE)
        services: list[str | None] = [None]
        if operation.method.upper() == "POST" and "{service_id}" in operation.path:
            services.append(SERVICE)
        for mode in modes:
            for service in services:
                label = f"{operation.label} {mode.value}" + (f" {service}" if service else "")
                cases.append(pytest.param(operation, mode, service, id=label))
    return cases


SERVICE = "calf-pain-triage"
CASES = _cases()


def assert_operation_outcome_for_errors(status: int, body: Any) -> None:
    """Every non-2xx answer is an OperationOutcome naming an issue type and what is wrong."""
    assert status < 500, body
    if status < 400:
        return
    assert isinstance(body, dict), body
    assert body.get("resourceType") == "OperationOutcome", body
    issue = body["issue"][0]
    for part in ("code", "diagnostics"):
        assert isinstance(issue.get(part), str), body
        assert issue[part], body


def test_the_fuzzed_document_is_the_one_served(client: Any) -> None:
    assert client.get("/openapi.json").get_json() == DOCUMENT


def test_every_operation_of_the_document_is_fuzzed() -> None:
    labels = {operation.label for operation in OPERATIONS}
    documented = {
        f"{method.upper()} {path}"
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete", "options", "head"}
    }
    assert labels == documented
    assert len(labels) >= 15


@pytest.mark.parametrize(("operation", "mode", "service"), CASES)
def test_generated_requests_never_get_a_5xx_and_errors_are_operation_outcomes(
    app: Flask,
    request: pytest.FixtureRequest,
    operation: Any,
    mode: GenerationMode,
    service: str | None,
) -> None:
    def check(case: Any) -> None:
        response = case.call(app=app)
        body = None
        if response.headers.get("content-type", [""])[0].startswith("application/json"):
            body = response.json()
        assert_operation_outcome_for_errors(response.status_code, body)
        case.validate_response(response, checks=CHECKS)

    path_parameters = {"service_id": service} if service else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    count = run_property(request, strategy, check, ci_examples=CI_EXAMPLES)
    assert count >= 1
