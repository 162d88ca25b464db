"""The exception tree. Each HTTP-facing error knows its status and FHIR issue type.

CdsError
├── ConfigurationError               (startup: a CDS_* setting is invalid)
├── ServiceError                     (answered as an OperationOutcome)
│   ├── BadRequest            400 invalid     malformed JSON or envelope
│   │   ├── InvalidFields     400 invalid     envelope fields, each "path: message"
│   │   └── TooDeep           400 structure   JSON nesting deeper than the limit
│   ├── Unauthorized          401 security    body says only "unauthorized"
│   ├── NotFound              404 not-found   unknown service or path
│   ├── MethodNotAllowed      405 not-supported
│   ├── PrefetchUnsatisfiable 412 incomplete  neither observations nor conditions
│   ├── TooLarge              413 too-costly  body or Bundle entries over the limit
│   ├── UnsupportedMediaType  415 not-supported
│   └── StoreUnavailable      503 transient   feedback/reports while the store is down
└── (anything else)           500 exception   bugs only; no stack trace in the body
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from .core.i18n import ENGLISH, N_, Translator


class CdsError(Exception):
    """Root of calf-cds's own errors."""


class ConfigurationError(CdsError):
    """A CDS_* setting is missing or malformed; raised at startup, never per request."""


class ServiceError(CdsError):
    """`diagnostics` is English text; raised as a message id (marked `N_`) with its
    `{placeholders}` given as keyword values, it is answered in the request's language too."""

    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"

    def __init__(
        self, diagnostics: str, *, headers: dict[str, str] | None = None, **values: object
    ) -> None:
        self.message = diagnostics
        self.values = values
        self.diagnostics = diagnostics.format(**values) if values else diagnostics
        super().__init__(self.diagnostics)
        self.headers = headers or {}

    def translated(self, translator: Translator) -> str:
        """The diagnostics in `translator`'s language (English when the text is no message id)."""
        text = translator.gettext(self.message)
        return text.format(**self.values) if self.values else text

    def outcome(self, translator: Translator = ENGLISH) -> dict[str, Any]:
        return operation_outcome(self.issue_code, self.translated(translator))


class BadRequest(ServiceError):
    status = 400
    issue_code = "invalid"


class InvalidFields(BadRequest):
    """Fields the envelope schema refused: each `(path, message id)` is answered as
    "path: message", joined by "; "; the paths are data and stay as sent, the messages are
    answered in the request's language."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__(_joined(self.problems, ENGLISH))

    def translated(self, translator: Translator) -> str:
        return _joined(self.problems, translator)


def _joined(problems: Sequence[tuple[str, str]], translator: Translator) -> str:
    return "; ".join(
        f"{where}: {translator.gettext(message)}" if where else translator.gettext(message)
        for where, message in problems
    )


class TooDeep(BadRequest):
    issue_code = "structure"


class Unauthorized(ServiceError):
    """The reason is logged by the caller; the body never explains it."""

    status = 401
    issue_code = "security"

    def __init__(self, reason: str) -> None:
        super().__init__(N_("unauthorized"))
        self.reason = reason


class NotFound(ServiceError):
    status = 404
    issue_code = "not-found"


class MethodNotAllowed(ServiceError):
    status = 405
    issue_code = "not-supported"


class PrefetchUnsatisfiable(ServiceError):
    status = 412
    issue_code = "incomplete"


class TooLarge(ServiceError):
    status = 413
    issue_code = "too-costly"


class UnsupportedMediaType(ServiceError):
    status = 415
    issue_code = "not-supported"


class StoreUnavailable(ServiceError):
    status = 503
    issue_code = "transient"

    def __init__(
        self,
        diagnostics: str = N_("the feedback store is unavailable; retry later"),
        *,
        retry_after_s: int = 30,
        **values: object,
    ) -> None:
        super().__init__(diagnostics, headers={"Retry-After": str(retry_after_s)}, **values)


def operation_outcome(issue_code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """A minimal FHIR R4 OperationOutcome (CDS Hooks errors, cds-hooks.md "Errors")."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": issue_code, "diagnostics": diagnostics}],
    }
