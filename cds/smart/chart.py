"""The patient's record on the EHR: read it as the hook would, write the check back.

Reading uses the service's own fetching (`cds.fhir.fetch`: the allowlist, one time budget, no
redirects, size caps) with the discovery prefetch queries, so the form is pre-filled, and the
cards re-evaluated, from exactly what a hook call would read. Writing POSTs one transaction
Bundle and checks the EHR's answer entry by entry: what was saved, what was not and why.
Nothing here logs a URL path, an id or a resource: origins, counts and statuses only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import msgspec

from ..config import Settings
from ..core.i18n import ENGLISH, N_, Translator
from ..core.model import Extraction
from ..fhir import reading
from ..fhir.bundle import Flattened
from ..fhir.elements import UNSET, UnsetType
from ..fhir.fetch import (
    ACCEPTED_CONTENT_TYPES,
    FHIR_JSON,
    fetch_queries,
    normalise_origin,
    render_template,
)
from ..fhir.prefetch import CONDITIONS, prefetch_templates
from .answers import Statement
from .errors import EhrUnavailable

log = logging.getLogger("cds.smart")

# A write waits longer than the prefetch budget: the clinician pressed Save and is watching.
WRITE_TIMEOUT_S = 15.0
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Chart:
    """The patient's resources as the hook's prefetch queries return them."""

    flattened: Flattened
    incomplete: tuple[str, ...] = ()  # query keys cut short by the page cap
    unreadable: tuple[str, ...] = ()  # query keys the EHR would not answer (conditions only)

    def read(self, settings: Settings, now: datetime) -> Extraction:
        """The findings, through the reader the hook uses."""
        return reading.read(self.flattened, policy=settings.policy, now=now)

    @property
    def patient(self) -> dict[str, Any] | None:
        """The Patient's banner elements as the EHR wrote them."""
        found = next(
            (i.resource for i in self.flattened.items if i.resource.resourceType == "Patient"),
            None,
        )
        if found is None:
            return None
        return {
            "name": _as_written(found.name),
            "birthDate": found.birthDate if isinstance(found.birthDate, str) else None,
            "gender": _as_written(found.gender),
        }


def _as_written(raw: msgspec.Raw | UnsetType) -> Any:
    return None if raw is UNSET else msgspec.json.decode(raw)


def read_chart(iss: str, patient_id: str, access_token: str, settings: Settings) -> Chart:
    """Fetch the patient, their Observations and Conditions with the hook's queries.

    The patient and the Observations are needed (EhrUnavailable without them). Conditions are
    read too, as the hook reads them (a cancer or an earlier DVT is usually a Condition); when
    the EHR refuses them the chart says so and the page warns rather than stopping."""
    templates = prefetch_templates(settings.policy, settings.extra_observation_codes)
    context = {"patientId": patient_id}
    queries = {key: render_template(template, context) for key, template in templates.items()}
    outcomes = fetch_queries(iss, queries, access_token=access_token, settings=settings)
    read = Flattened()
    incomplete: list[str] = []
    unreadable: list[str] = []
    for key, outcome in outcomes.items():
        if outcome.flattened is None:
            log.warning(
                "SMART chart read failed",
                extra={"prefetch_key": key, "reason": outcome.reason, "origin": _origin(iss)},
            )
            if key != CONDITIONS:
                raise EhrUnavailable(N_("The patient's record could not be read from the EHR."))
            unreadable.append(key)
            continue
        read.extend(outcome.flattened)
        if outcome.truncated:
            incomplete.append(key)
    return Chart(read, tuple(incomplete), tuple(unreadable))


@dataclass(frozen=True)
class Why:
    """Why a statement was not saved: our words (a message id, shown in the page's language)
    and the EHR's own, as it sent them."""

    message: str = ""
    ehr_text: str = ""

    def text(self, t: Translator = ENGLISH) -> str:
        ours = t.gettext(self.message) if self.message else ""
        if ours and self.ehr_text:
            return f"{ours} ({self.ehr_text})"
        return ours or self.ehr_text


@dataclass
class WriteResult:
    saved: list[tuple[Statement, str]] = field(default_factory=list)  # (statement, location)
    failed: list[tuple[Statement, Why]] = field(default_factory=list)
    response_saved: bool = False  # the QuestionnaireResponse

    @property
    def complete(self) -> bool:
        return not self.failed and self.response_saved


def post_transaction(
    iss: str,
    bundle: dict[str, Any],
    statements: tuple[Statement, ...],
    access_token: str,
    *,
    with_response: bool = True,
) -> WriteResult:
    """POST the transaction to `iss` and read the EHR's answer entry by entry.

    A refused transaction (non-2xx), no answer, or an answer that cannot be matched to what was
    sent means nothing is known saved: every statement is reported as not saved. A 2xx answer
    whose entries carry their own statuses (an EHR that applies entries one by one) reports
    each: 2xx saved, anything else not saved, with the EHR's reason.
    """
    headers = {
        "Content-Type": FHIR_JSON,
        "Accept": FHIR_JSON,
        "Authorization": f"Bearer {access_token}",
    }
    url = iss.rstrip("/")
    try:
        with httpx.Client(follow_redirects=False, timeout=WRITE_TIMEOUT_S) as client:
            response = client.post(url, content=json.dumps(bundle).encode(), headers=headers)
    except httpx.HTTPError as exc:
        log.warning(
            "SMART write failed: no answer",
            extra={"origin": _origin(iss), "error": type(exc).__name__},
        )
        return _all_failed(statements, Why(N_("the EHR did not answer")))
    body = _json_body(response)
    if not 200 <= response.status_code < 300:
        reason = _outcome_text(body) or f"HTTP {response.status_code}"
        log.warning(
            "SMART write refused",
            extra={"origin": _origin(iss), "status": response.status_code},
        )
        return _all_failed(statements, Why(N_("the EHR refused the write"), reason))
    entries = body.get("entry") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("resourceType") != "Bundle"
        or body.get("type") not in {"transaction-response", "batch-response"}
        or not isinstance(entries, list)
        or len(entries) != len(statements) + int(with_response)
    ):
        log.warning("SMART write unconfirmed", extra={"origin": _origin(iss)})
        return _all_failed(statements, Why(N_("the EHR's answer does not confirm the write")))
    result = WriteResult()
    for statement, entry in zip(statements, entries, strict=False):
        status, location, why = _entry_outcome(entry)
        if status.startswith("2"):
            result.saved.append((statement, location))
        else:
            # An entry refused without a word: its HTTP status says why.
            why = why if why.text() else Why("", f"HTTP {status or '?'}")
            result.failed.append((statement, why))
    result.response_saved = with_response and _entry_outcome(entries[-1])[0].startswith("2")
    log.info(
        "SMART write",
        extra={
            "origin": _origin(iss),
            "saved": len(result.saved),
            "failed": len(result.failed),
            "response_saved": result.response_saved,
        },
    )
    return result


def _all_failed(statements: tuple[Statement, ...], why: Why) -> WriteResult:
    return WriteResult(failed=[(statement, why) for statement in statements])


def _json_body(response: httpx.Response) -> Any:
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES or len(response.content) > MAX_ANSWER_BYTES:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _outcome_text(body: Any) -> str:
    """The first issue's text of an OperationOutcome, cut short (shown as text, escaped)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    issues = body.get("issue")
    if not isinstance(issues, list) or not issues or not isinstance(issues[0], dict):
        return ""
    issue = issues[0]
    details = issue.get("details")
    text = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None)
    return text[:200] if isinstance(text, str) else ""


def _entry_outcome(entry: Any) -> tuple[str, str, Why]:
    """(status code, location, reason) of one response entry."""
    response = entry.get("response") if isinstance(entry, dict) else None
    if not isinstance(response, dict):
        return "", "", Why(N_("no response for this entry"))
    status = str(response.get("status", "")).strip().split(" ")[0]
    location = response.get("location")
    return (
        status,
        location if isinstance(location, str) else "",
        Why("", _outcome_text(response.get("outcome"))),
    )


def _origin(url: str) -> str:
    return normalise_origin(url) or "(invalid URL)"
