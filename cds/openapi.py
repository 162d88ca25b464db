"""The OpenAPI 3.1 document of every endpoint, generated from the marshmallow schemas (apispec).

Bodies come from `cds.schemas` through apispec's MarshmallowPlugin (this module never imports
marshmallow itself); paths, parameters, statuses and content types are declared here, next to
one another, so a reader (or schemathesis) sees the whole surface in one place. Every error
status an endpoint can answer is listed with the OperationOutcome body (cds-hooks.md "Errors").
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from . import schemas
from .config import Settings
from .core.rules import RULE_SET_VERSION
from .registry import DEFAULT_SERVICE_ID, SERVICES

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
FHIR_JSON = "application/fhir+json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
PROMETHEUS_TEXT = "text/plain"

# status -> when (the text of cds-hooks.md "Errors")
_ERRORS = {
    400: "malformed JSON or envelope (diagnostics name the field path), or nesting too deep",
    401: "authentication failed (CDS_AUTH_MODE=required); the body says only 'unauthorized'",
    404: "unknown service, CodeSystem, sample or path",
    405: "method not allowed on this path (the Allow header lists the allowed ones)",
    412: "prefetch unsatisfiable: neither observations nor conditions could be had",
    413: "body over CDS_MAX_BODY_BYTES, or more Bundle entries than CDS_MAX_ENTRIES",
    415: "the body is not JSON (send application/json or application/fhir+json)",
    500: "a bug; the body never carries a stack trace",
    503: "the feedback store is unavailable (Retry-After says when to retry)",
}

# (schema name, schema class) registered as components, in document order
_COMPONENTS: tuple[tuple[str, Any], ...] = (
    ("HookRequest", schemas.HookRequestSchema),
    ("HookResponse", schemas.HookResponseSchema),
    ("DiscoveryResponse", schemas.DiscoveryResponseSchema),
    ("FeedbackRequest", schemas.FeedbackRequestSchema),
    ("FeedbackResult", schemas.FeedbackResultSchema),
    ("FhirBundle", schemas.FhirBundleSchema),
    ("RuleCatalog", schemas.RuleCatalogSchema),
    ("CodeSystem", schemas.CodeSystemSchema),
    ("RuleReport", schemas.RuleReportSchema),
    ("HealthStatus", schemas.HealthStatusSchema),
    ("ConsoleSampleList", schemas.ConsoleSampleListSchema),
    ("OperationOutcome", schemas.OperationOutcomeSchema),
)


# The path parameter of the static-file routes (console and red-flag check).
_FILENAME_PARAMETER = {
    "name": "filename",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document as a JSON-ready dict (pure: same settings, same document)."""
    spec = APISpec(
        title="calf-cds",
        version=RULE_SET_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "CDS Hooks 2.0 service: red-flag triage of calf and lower-leg pain from FHIR R4 "
                "data. Every non-2xx answer is a FHIR OperationOutcome. In CDS_AUTH_MODE=required "
                "every path except /healthz, /readyz, /metrics, /openapi.json and CORS preflight "
                "needs the EHR's JWT as a Bearer token."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
    )
    for name, schema in _COMPONENTS:
        spec.components.schema(name, schema=schema)
    spec.components.security_scheme(
        "cdsHooksJwt",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "CDS Hooks 2.0 client JWT (only when CDS_AUTH_MODE=required)",
        },
    )
    for path, operations in _paths(settings).items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"cdsHooksJwt": []}, {}]  # required or off, by CDS_AUTH_MODE
    return document


def _paths(settings: Settings) -> dict[str, dict[str, Any]]:
    service_ids = sorted(SERVICES)
    service_id = {
        "name": "service_id",
        "in": "path",
        "required": True,
        "description": f"a service id from discovery: {', '.join(service_ids)}",
        "schema": {"type": "string", "examples": service_ids},
    }
    public: dict[str, Any] = {"security": []}
    return {
        "/cds-services": {
            "get": _op(
                "discovery",
                "CDS Hooks discovery: the services, their hooks and prefetch templates",
                "cds-hooks",
                ok=_json("DiscoveryResponse", "the services"),
                errors=(401,),
            ),
            "options": _preflight(),
        },
        "/cds-services/{service_id}": {
            "post": _op(
                "callService",
                "Call a service with a CDS Hooks request; answers cards",
                "cds-hooks",
                parameters=[service_id],
                body=_json_body("HookRequest", "a CDS Hooks 2.0 request for the service's hook"),
                ok=_json("HookResponse", "the cards ([] when nothing applies)"),
                errors=(400, 401, 404, 412, 413, 415),
            ),
            "options": _preflight([service_id]),
        },
        "/cds-services/{service_id}/feedback": {
            "post": _op(
                "feedback",
                "Card outcomes (accepted / overridden); stored once each",
                "cds-hooks",
                parameters=[service_id],
                body=_json_body("FeedbackRequest", "CDS Hooks 2.0 feedback"),
                ok=_json("FeedbackResult", "how many entries were stored, duplicated, unmatched"),
                errors=(400, 401, 404, 413, 415, 503),
            ),
            "options": _preflight([service_id]),
        },
        "/evaluate": {
            "post": _op(
                "evaluateBundle",
                "Testers: a plain FHIR Bundle evaluated as the service's prefetch",
                "testers",
                parameters=[
                    {
                        "name": "service",
                        "in": "query",
                        "required": False,
                        "description": "the service whose answer to give",
                        "schema": {"type": "string", "default": DEFAULT_SERVICE_ID},
                    }
                ],
                body=_json_body("FhirBundle", "a searchset, collection, transaction or batch"),
                ok=_json("HookResponse", "the cards ([] when nothing applies)"),
                errors=(400, 401, 404, 413, 415),
            )
        },
        "/rules": {
            "get": _op(
                "ruleCatalog",
                "The rule catalog: id, tier, route and source of every rule",
                "catalog",
                ok=_json("RuleCatalog", "the rule set"),
                errors=(401,),
            )
        },
        "/fhir/CodeSystem/{name}": {
            "get": _op(
                "codeSystem",
                "One of the service's own CodeSystems (FHIR R4)",
                "catalog",
                parameters=[
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "examples": ["finding", "rule", "override-reason", "referral"],
                        },
                    }
                ],
                ok=_content("CodeSystem", "the CodeSystem", FHIR_JSON),
                errors=(401, 404),
            )
        },
        "/reports/rules": {
            "get": _op(
                "ruleReport",
                "Per rule: issued, accepted, overridden, override rate, top override reasons",
                "reports",
                parameters=[
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "description": "only cards issued from this day (00:00 UTC) on",
                        "schema": {"type": "string", "format": "date"},
                    }
                ],
                ok=_json("RuleReport", "the report"),
                errors=(400, 401, 503),
            )
        },
        "/": {
            "get": _op(
                "console",
                "Tester console (HTML; 404 when CDS_CONSOLE=off)",
                "console",
                ok=_html("the console page"),
                errors=(401, 404),
            )
        },
        "/console/rules": {
            "get": _op(
                "consoleRules",
                "Rule catalog and override-rate chart (HTML; 404 when CDS_CONSOLE=off)",
                "console",
                ok=_html("the rules page"),
                errors=(401, 404),
            )
        },
        "/console/samples": {
            "get": _op(
                "consoleSamples",
                "The names of the bundled fhir_samples/ files (404 when CDS_CONSOLE=off)",
                "console",
                ok=_json("ConsoleSampleList", "sample names"),
                errors=(401, 404),
            )
        },
        "/console/samples/{name}": {
            "get": _op(
                "consoleSample",
                "One bundled sample, a CDS Hooks request or a FHIR Bundle, by its file name",
                "console",
                parameters=[
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                    }
                ],
                ok={
                    "description": "the sample as stored",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                errors=(401, 404),
            )
        },
        "/console/static/{filename}": {
            "get": _op(
                "consoleStatic",
                "The console's script and stylesheet",
                "console",
                parameters=[_FILENAME_PARAMETER],
                ok={
                    "description": "the file",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}},
                        "text/css": {"schema": {"type": "string"}},
                    },
                },
                errors=(401, 404),
            )
        },
        **_smart_paths(),
        "/openapi.json": {
            "get": {
                **_op(
                    "openapi",
                    "This document",
                    "operations",
                    ok={
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    errors=(),
                ),
                **public,
            }
        },
        "/healthz": {
            "get": {
                **_op(
                    "healthz",
                    "Liveness: the process answers",
                    "operations",
                    ok=_json("HealthStatus", "up"),
                    errors=(),
                ),
                **public,
            }
        },
        "/readyz": {
            "get": {
                **_op(
                    "readyz",
                    "Readiness: the store is reachable",
                    "operations",
                    ok=_json("HealthStatus", "ready"),
                    errors=(503,),
                ),
                **public,
            }
        },
        "/metrics": {
            "get": {
                **_op(
                    "metrics",
                    "Prometheus metrics, summed over all workers",
                    "operations",
                    ok={
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {PROMETHEUS_TEXT: {"schema": {"type": "string"}}},
                    },
                    errors=(),
                ),
                **public,
            }
        },
    }


# The red-flag check app (cds.smart): browser pages. An error is a page for a browser
# (Accept: text/html) and an OperationOutcome for any other caller.
_SMART_ERRORS = {
    400: "launch refused: `iss` not on CDS_FHIR_SERVER_ALLOWLIST (nothing is fetched), no "
    "`launch`, a state mismatch, a failed CSRF check or answers not understood",
    401: "no session cookie, or the session expired (CDS_SMART_SESSION_S)",
    404: "the app is off (CDS_SMART_CLIENT_ID is not set)",
    502: "the EHR's SMART configuration, token endpoint or FHIR API failed; a write that fails "
    "shows the form again with the answers kept and the items not saved listed",
}


def _page(
    operation_id: str,
    summary: str,
    ok: dict[str, dict[str, Any]],
    errors: tuple[int, ...],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One app page: its own answers (`ok`: status -> response), then its errors as pages or
    OperationOutcomes, and 405/500 as every operation."""
    responses: dict[str, Any] = dict(ok)
    for status in sorted({*errors, 405, 500}):
        content: dict[str, Any] = {JSON: {"schema": _ref("OperationOutcome")}}
        if status in _SMART_ERRORS:
            content[HTML] = {"schema": {"type": "string"}}
        responses[str(status)] = {
            "description": _SMART_ERRORS.get(status) or _ERRORS[status],
            "content": content,
        }
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["red-flag-check-app"],
        "security": [],  # its own sign-in: SMART on FHIR, then a session cookie
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = body
    return operation


def _query(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _redirect(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"Location": {"description": "where to", "schema": {"type": "string"}}},
    }


def _smart_paths() -> dict[str, dict[str, Any]]:
    page = {"200": _html("the page")}
    return {
        "/smart/launch": {
            "get": _page(
                "smartLaunch",
                "SMART EHR launch of the red-flag check (a card's smart link): reads the EHR's "
                "SMART configuration and redirects to its authorize endpoint (PKCE S256, state)",
                {"302": _redirect("to the EHR's authorize endpoint; sets the session cookie")},
                (400, 404, 502),
                parameters=[
                    _query("iss", "the EHR's FHIR base URL (its origin must be allowlisted)"),
                    _query("launch", "the EHR's launch id"),
                ],
            )
        },
        "/smart/callback": {
            "get": _page(
                "smartCallback",
                "The EHR's redirect back: checks state, exchanges the code (with the PKCE "
                "verifier) for a token kept on the server",
                {"303": _redirect("to the form")},
                (400, 401, 404, 502),
                parameters=[
                    _query("code", "the authorization code"),
                    _query("state", "the state sent to the authorize endpoint"),
                    _query("error", "the EHR's refusal, instead of a code"),
                ],
            )
        },
        "/smart/form": {
            "get": _page(
                "smartForm",
                "The red-flag check form, generated from the finding catalog and pre-filled "
                "from the patient's Observations",
                page,
                (401, 404, 502),
            ),
            "post": _page(
                "smartSubmit",
                "Save the answers: one transaction Bundle of Observations and a "
                "QuestionnaireResponse to the EHR",
                {
                    "200": _html("the form again: nothing new to save"),
                    "303": _redirect("to the result, once everything was saved"),
                },
                (400, 401, 404, 502),
                body={
                    "required": True,
                    "content": {
                        FORM: {
                            "schema": {
                                "type": "object",
                                "required": ["csrf"],
                                "properties": {"csrf": {"type": "string"}},
                                "additionalProperties": {
                                    "type": "string",
                                    "enum": ["present", "absent", "not-examined"],
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/smart/result": {
            "get": _page(
                "smartResult",
                "What was saved, and the cards re-evaluated from the updated record",
                page,
                (401, 404, 502),
            )
        },
        "/smart/static/{filename}": {
            "get": _op(
                "smartStatic",
                "The red-flag check's stylesheet",
                "red-flag-check-app",
                parameters=[_FILENAME_PARAMETER],
                ok={
                    "description": "the file",
                    "content": {"text/css": {"schema": {"type": "string"}}},
                },
                errors=(401, 404),
            )
        },
        "/fhir/Questionnaire/{questionnaire_id}": {
            "get": _op(
                "questionnaire",
                "The red-flag check's FHIR R4 Questionnaire (SDC observation extraction), "
                "generated from the finding catalog",
                "catalog",
                parameters=[
                    {
                        "name": "questionnaire_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "examples": ["calf-red-flag-check"]},
                    }
                ],
                ok={
                    "description": "the Questionnaire",
                    "content": {FHIR_JSON: {"schema": {"type": "object"}}},
                },
                errors=(401, 404),
            )
        },
    }


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}


def _op(
    operation_id: str,
    summary: str,
    tag: str,
    *,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    extra_responses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation: its 200, every listed error as an OperationOutcome, plus 405 and 500."""
    responses: dict[str, Any] = {"200": ok}
    for status in sorted({*errors, 405, 500}):
        error: dict[str, Any] = {
            "description": _ERRORS[status],
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
        }
        if status == 503:
            error["headers"] = _RETRY_AFTER
        if status == 405:
            error["headers"] = {
                "Allow": {"description": "the allowed methods", "schema": {"type": "string"}}
            }
        responses[str(status)] = error
    responses.update(extra_responses or {})
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = body
    return operation


def _preflight(parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": "CORS preflight (never needs a JWT)",
        "tags": ["cds-hooks"],
        "security": [],
        "responses": {
            "204": {"description": "preflight (Origin and Access-Control-Request-Method sent)"},
            "200": {"description": "a plain OPTIONS: the Allow header lists the methods"},
        },
    }
    if parameters:
        operation["parameters"] = parameters
    return operation


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(name: str, description: str, media_type: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": _ref(name)}}}


def _json(name: str, description: str) -> dict[str, Any]:
    return _content(name, description, JSON)


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}


def _json_body(name: str, description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {JSON: {"schema": _ref(name)}, FHIR_JSON: {"schema": _ref(name)}},
    }
