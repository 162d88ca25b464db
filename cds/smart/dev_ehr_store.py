"""The development EHR's FHIR store: in memory, loaded from fhir_samples/.

Enough FHIR for the red-flag check and the hook: Patient and Observation read, Observation and
Condition search by patient (and code), Observation create, transaction Bundles (Observation and
QuestionnaireResponse creates, `urn:uuid:` references resolved, all or nothing), Questionnaire
read. Every resource created is validated with fhir.resources first, as a strict EHR would.
`write_fault` lets tests make writes fail, whole or in part.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..fhir.resources import problems

LOADED_TYPES = frozenset({"Patient", "Observation", "Condition", "Practitioner"})
CREATABLE_TYPES = frozenset({"Observation", "QuestionnaireResponse"})
WHOLE, PARTIAL = "whole", "partial"


class StoreError(Exception):
    """A request the store refuses: HTTP status, FHIR issue code, diagnostics."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


def outcome(code: str, diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def sample_resources(directory: Path) -> Iterator[dict[str, Any]]:
    """Every Patient, Observation and Condition (with an id) of the sample requests."""
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        values = (document.get("prefetch") or {}).values() if isinstance(document, dict) else ()
        for value in values:
            yield from _resources(value)


def sample_patients(directory: Path) -> dict[str, str]:
    """Patient id -> the name of the sample request about that patient (its file's stem)."""
    names: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        context = document.get("context") if isinstance(document, dict) else None
        patient = context.get("patientId") if isinstance(context, dict) else None
        if isinstance(patient, str):
            names.setdefault(patient, path.stem)
    return names


def _resources(value: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(value, dict):
        return
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or ():
            if isinstance(entry, dict):
                yield from _resources(entry.get("resource"))
    elif value.get("resourceType") in LOADED_TYPES and isinstance(value.get("id"), str):
        yield value


def _token_matches(resource: Mapping[str, Any], tokens: list[tuple[str | None, str]]) -> bool:
    """FHIR token search on `code`: `system|code`, `|code` or `code`; any token matches."""
    concept = resource.get("code")
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    for coding in codings:
        if not isinstance(coding, dict):
            continue
        for system, code in tokens:
            if coding.get("code") == code and (system is None or coding.get("system") == system):
                return True
    return False


def parse_tokens(raw: str) -> list[tuple[str | None, str]]:
    tokens: list[tuple[str | None, str]] = []
    for part in raw.split(","):
        system, sep, code = part.rpartition("|")
        tokens.append((system if sep else None, code))
    return tokens


@dataclass
class FhirStore:
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    write_fault: str | None = None  # tests: WHOLE refuses transactions, PARTIAL some entries
    reject_codes: frozenset[str] = frozenset()  # PARTIAL: Observation codes refused
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def load(self, resources: Iterable[dict[str, Any]]) -> int:
        count = 0
        with self._lock:
            for resource in resources:
                self.resources[(resource["resourceType"], resource["id"])] = resource
                count += 1
        return count

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.resources.get((resource_type, resource_id))

    def search(
        self, resource_type: str, patient: str, code: str | None = None
    ) -> list[dict[str, Any]]:
        """Resources of a type whose subject is Patient/<patient>, optionally by code."""
        reference = f"Patient/{patient}"
        tokens = parse_tokens(code) if code else None
        with self._lock:
            found = [
                r
                for (kind, _), r in self.resources.items()
                if kind == resource_type
                and isinstance(r.get("subject"), dict)
                and r["subject"].get("reference") == reference
                and (tokens is None or _token_matches(r, tokens))
            ]
        return found

    def observations_of(self, patient: str) -> list[dict[str, Any]]:
        return self.search("Observation", patient)

    def create(self, resource: Mapping[str, Any], patient: str) -> dict[str, Any]:
        """Store one new resource (validated, in the patient's compartment); returns it."""
        stored = self._checked(resource, patient)
        with self._lock:
            self.resources[(stored["resourceType"], stored["id"])] = stored
        return stored

    def transaction(self, bundle: Mapping[str, Any], patient: str) -> dict[str, Any]:
        """Apply a transaction Bundle: every entry validated before any is stored (all or
        nothing); returns the transaction-response. Under PARTIAL the entries are applied one by
        one, as an EHR that processes them separately would, and the refused ones say why."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise StoreError(400, "invalid", "POST [base] takes a transaction Bundle")
        if self.write_fault == WHOLE:
            raise StoreError(500, "exception", "the record is locked by another user")
        entries = bundle.get("entry")
        if not isinstance(entries, list) or not entries:
            raise StoreError(400, "invalid", "the transaction has no entries")
        prepared = [self._prepared(entry, patient) for entry in entries]
        ids = {full_url: f"{r['resourceType']}/{r['id']}" for full_url, r in prepared if full_url}
        responses = []
        with self._lock:
            for _full_url, resource in prepared:
                resolved = _resolve(resource, ids)
                if self.write_fault == PARTIAL and _token_matches(
                    resolved, [(None, c) for c in self.reject_codes]
                ):
                    responses.append(
                        {
                            "response": {
                                "status": "422 Unprocessable Entity",
                                "outcome": outcome("business-rule", "code not allowed here"),
                            }
                        }
                    )
                    continue
                self.resources[(resolved["resourceType"], resolved["id"])] = resolved
                responses.append(
                    {
                        "response": {
                            "status": "201 Created",
                            "location": f"{resolved['resourceType']}/{resolved['id']}/_history/1",
                        }
                    }
                )
        kind = "batch-response" if self.write_fault == PARTIAL else "transaction-response"
        return {"resourceType": "Bundle", "type": kind, "entry": responses}

    def _prepared(self, entry: Any, patient: str) -> tuple[str | None, dict[str, Any]]:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise StoreError(400, "invalid", "every transaction entry needs a resource")
        request = entry.get("request")
        resource = entry["resource"]
        kind = resource.get("resourceType")
        if not isinstance(request, dict) or request.get("method") != "POST":
            raise StoreError(400, "not-supported", "only POST (create) entries are supported")
        if request.get("url") != kind:
            raise StoreError(400, "invalid", "entry.request.url must be the resource type")
        full_url = entry.get("fullUrl")
        return (full_url if isinstance(full_url, str) else None), self._checked(resource, patient)

    def _checked(self, resource: Mapping[str, Any], patient: str) -> dict[str, Any]:
        kind = resource.get("resourceType")
        if kind not in CREATABLE_TYPES:
            raise StoreError(400, "not-supported", f"{kind} cannot be created here")
        found = problems(resource)
        if found:
            raise StoreError(400, "invalid", f"{kind} is not valid FHIR R4: {found[0]}")
        subject = resource.get("subject")
        if not isinstance(subject, dict) or subject.get("reference") != f"Patient/{patient}":
            raise StoreError(403, "forbidden", "the subject is not the patient of this token")
        stored = dict(resource)
        stored["id"] = uuid.uuid4().hex
        stored["meta"] = {
            "versionId": "1",
            "lastUpdated": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return stored


def _resolve(resource: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """The resource with its `urn:uuid:` references replaced by the ids just assigned."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    ids.get(item, item)
                    if key == "reference" and isinstance(item, str)
                    else walk(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    resolved: dict[str, Any] = walk(resource)
    return resolved
