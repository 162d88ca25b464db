"""Every non-2xx answer as a FHIR OperationOutcome; no stack trace ever leaves the process.

The `diagnostics` text is in the request's language (cds.http.language); the issue codes are
the same in every language."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from ..core.i18n import N_
from ..errors import ServiceError, Unauthorized, operation_outcome
from .jsonout import json_response
from .language import request_translator

log = logging.getLogger("cds.http")

# werkzeug's own errors (routing, size) mapped onto the FHIR issue types of cds-hooks.md.
_HTTP_ISSUE_CODES = {
    400: "invalid",
    401: "security",
    404: "not-found",
    405: "not-supported",
    413: "too-costly",
    415: "not-supported",
}

_HTTP_DIAGNOSTICS = {
    404: N_("no such endpoint; see GET /cds-services"),
    405: N_("method not allowed on this endpoint"),
}
_INTERNAL_ERROR = N_("internal error; the incident was logged")


def outcome_response(status: int, issue_code: str, diagnostics: str) -> Response:
    response = json_response(operation_outcome(issue_code, diagnostics))
    response.status_code = status
    return response


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        if isinstance(error, Unauthorized):
            log.warning("unauthorized", extra={"reason": error.reason})
        diagnostics = error.translated(request_translator())
        response = outcome_response(error.status, error.issue_code, diagnostics)
        response.headers.update(error.headers)
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        ours = _HTTP_DIAGNOSTICS.get(status)
        diagnostics = (
            request_translator().gettext(ours) if ours else error.description or error.name
        )
        response = outcome_response(status, _HTTP_ISSUE_CODES.get(status, "exception"), diagnostics)
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _bug(error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        diagnostics = request_translator().gettext(_INTERNAL_ERROR)
        return outcome_response(500, "exception", diagnostics)
