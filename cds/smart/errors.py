"""The app's errors: each is shown as a page that says what happened and what to do (to a
browser), or as an OperationOutcome (to any other caller, as every calf-cds error).

CdsError (cds.errors)
└── SmartAppError              an HTML page, never a stack trace
    ├── LaunchRefused     400  bad launch parameters, `iss` not allowlisted, state mismatch
    ├── NoSession         401  no session cookie, or the session expired
    ├── EhrUnavailable    502  the EHR's configuration, token or FHIR endpoint failed
    └── AppDisabled       404  CDS_SMART_CLIENT_ID is not set
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import CdsError


class SmartAppError(CdsError):
    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"  # the OperationOutcome's, for a non-browser caller
    title: ClassVar[str] = "The red-flag check could not continue"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LaunchRefused(SmartAppError):
    status = 400
    issue_code = "invalid"
    title = "This launch cannot be accepted"


class NoSession(SmartAppError):
    status = 401
    issue_code = "security"
    title = "Your session has ended"


class EhrUnavailable(SmartAppError):
    status = 502
    issue_code = "transient"
    title = "The EHR did not answer as expected"


class AppDisabled(SmartAppError):
    status = 404
    issue_code = "not-found"
    title = "The red-flag check is not enabled here"
