"""The app's errors: each is shown as a page that says what happened and what to do (to a
browser), or as an OperationOutcome (to any other caller, as every calf-cds error).

CdsError (cds.errors)
└── SmartAppError              an HTML page, never a stack trace
    ├── LaunchRefused     400  bad launch parameters, `iss` not allowlisted, state mismatch
    ├── NoSession         401  no session cookie, or the session expired
    ├── EhrUnavailable    502  the EHR's configuration, token or FHIR endpoint failed
    └── AppDisabled       404  CDS_SMART_CLIENT_ID is not set

Titles and messages are message ids (marked `N_`) with `{placeholders}` given as keyword values,
so the page is shown in the request's language; `message` keeps the English text.
"""

from __future__ import annotations

from typing import ClassVar

from ..core.i18n import ENGLISH, N_, Translator
from ..errors import CdsError


class SmartAppError(CdsError):
    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"  # the OperationOutcome's, for a non-browser caller
    title: ClassVar[str] = N_("The red-flag check could not continue")

    def __init__(self, message: str, **values: object) -> None:
        self.template = message
        self.values = values
        self.message = message.format(**values) if values else message
        super().__init__(self.message)

    def translated(self, t: Translator = ENGLISH) -> tuple[str, str]:
        """(title, message) in `t`'s language."""
        message = t.gettext(self.template)
        return t.gettext(self.title), message.format(**self.values) if self.values else message


class LaunchRefused(SmartAppError):
    status = 400
    issue_code = "invalid"
    title = N_("This launch cannot be accepted")


class NoSession(SmartAppError):
    status = 401
    issue_code = "security"
    title = N_("Your session has ended")


class EhrUnavailable(SmartAppError):
    status = 502
    issue_code = "transient"
    title = N_("The EHR did not answer as expected")


class AppDisabled(SmartAppError):
    status = 404
    issue_code = "not-found"
    title = N_("The red-flag check is not enabled here")
