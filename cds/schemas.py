"""marshmallow schemas for the CDS Hooks 2.0 envelopes (the only marshmallow importer).

Requests are validated here and turned into plain dataclasses; responses are described here
for OpenAPI. Unknown fields are kept, not rejected: clients extend the envelope
(cds-hooks.md "Request").
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from .core.i18n import N_
from .errors import BadRequest, InvalidFields
from .jsonio import NOT_A_REQUEST

USER_REFERENCE_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")


# A UUID's string form (RFC 9562 §4): 36 characters, hex digits in either case. CDS Hooks asks
# for a UUID; `uuid.UUID` would also pass `urn:uuid:`, braces and hyphens anywhere, hundreds of
# characters long.
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
FHIR_ID_MAX_LENGTH = 64  # FHIR R4 §2.24.0.1 id: 1-64 characters

# marshmallow's own messages (marshmallow 4: its fields' and schemas' `default_error_messages`)
# marked as message ids, so `make messages` extracts them and `InvalidFields` answers each
# "path: message" in the request's language. The validators here pass fixed texts (`error=`),
# never marshmallow's formatted ones, so every message a request schema answers is an id
# (tests/test_i18n_http.py checks both against the installed marshmallow).
MARSHMALLOW_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Not a valid URL."),
    N_("Not a valid mapping type."),
    N_("Not a valid list."),
    N_("Not a valid boolean."),
    N_("Invalid type."),
    N_("Invalid input type."),
    N_("Unknown field."),
)


def _validate_uuid(value: str) -> None:
    if not _UUID_TEXT.fullmatch(value):
        raise ValidationError(
            N_("must be a UUID in its 36-character form, e.g. d1577c69-dfbe-44ad-ba6d-3e05e953b2ea")
        )


def _validate_user_reference(value: str) -> None:
    resource_type, _, resource_id = value.partition("/")
    if resource_type not in USER_REFERENCE_TYPES or not _is_id(resource_id):
        # The types are USER_REFERENCE_TYPES, the length FHIR_ID_MAX_LENGTH (a test holds them).
        raise ValidationError(
            N_(
                "must be a reference like Practitioner/123 (one of Practitioner, "
                "PractitionerRole, Patient, RelatedPerson, an id of at most 64 characters)"
            )
        )


def _validate_bearer(value: str) -> None:
    # RFC 6749 §7.1: the token type is case-insensitive; servers commonly answer "bearer".
    if value.lower() != "bearer":
        raise ValidationError(N_("Must be equal to Bearer."))


def _validate_fhir_server(value: str) -> None:
    """An http(s) URL with a host. Any host name: internal DNS names may hold underscores,
    which a strict URL grammar refuses; the allowlist decides what is ever contacted."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or not value.isprintable()
        or " " in value
    ):
        raise ValidationError(N_("Not a valid URL."))


def _is_id(value: str) -> bool:
    return bool(value.strip()) and "/" not in value and len(value) <= FHIR_ID_MAX_LENGTH


def _validate_id(value: str) -> None:
    if not _is_id(value):
        raise ValidationError(N_("must be a FHIR resource id (no '/', at most 64 characters)"))


def _validate_optional_id(value: str) -> None:
    if value:
        _validate_id(value)


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class _WholeNumber(fields.Integer):
    """A strict integer; also one written with a fraction of zero (`300.0`) or too long for
    64 bits (which the body parser reads as a float): accepted as the whole number it
    stands for, not refused as "not a valid integer"."""

    def _validated(self, value: Any) -> int:
        if type(value) is float and value.is_integer():
            return int(value)
        return super()._validated(value)


class FhirAuthorizationSchema(_Open):
    """CDS Hooks 2.0 §fhirAuthorization."""

    access_token = fields.String(
        required=True, validate=validate.Length(min=1, error=N_("Shorter than minimum length 1."))
    )
    token_type = fields.String(required=True, validate=_validate_bearer)
    expires_in = _WholeNumber(required=True, strict=True)
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String()


class PatientViewContextSchema(_Open):
    """patient-view context (CDS Hooks Library STU1)."""

    userId = fields.String(required=True, validate=_validate_user_reference)
    patientId = fields.String(required=True, validate=_validate_id)
    # Optional here and never read: an empty or null one is no reason to refuse the call.
    encounterId = fields.String(allow_none=True, validate=_validate_optional_id)


class EncounterStartContextSchema(PatientViewContextSchema):
    """encounter-start context: encounterId is required too."""

    encounterId = fields.String(required=True, validate=_validate_id)


CONTEXT_SCHEMAS: dict[str, type[Schema]] = {
    "patient-view": PatientViewContextSchema,
    "encounter-start": EncounterStartContextSchema,
}


class HookRequestSchema(_Open):
    """The service call body (CDS Hooks 2.0 §HTTP Request)."""

    hook = fields.String(required=True)
    hookInstance = fields.String(
        required=True, validate=_validate_uuid, metadata={"format": "uuid"}
    )
    # null: absent. No fhirServer: nothing can be fetched; no fhirAuthorization: no token sent.
    fhirServer = fields.String(
        allow_none=True, validate=_validate_fhir_server, metadata={"format": "uri"}
    )
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, allow_none=True)
    context = fields.Dict(required=True)
    prefetch = fields.Dict(
        keys=fields.String(), values=fields.Raw(allow_none=True), allow_none=True
    )

    @validates_schema
    def _fhir_server_with_authorization(self, data: Mapping[str, Any], **_: Any) -> None:
        if data.get("fhirAuthorization") is not None and data.get("fhirServer") is None:
            raise ValidationError(
                N_("fhirServer is required when fhirAuthorization is present"), "fhirServer"
            )


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict[str, Any]
    # key -> the value: decoded for the reader (one pass, cds.hook_body_fast; None for null)
    # or still undecoded (msgspec.Raw)
    prefetch: dict[str, Any] | None = None
    fhir_server: str | None = None
    access_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])


def flatten_messages(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested error dict -> [("context.patientId", "Missing data ..."), ...]:
    each field path with one of its messages (a message id, see MARSHMALLOW_MESSAGES)."""
    if isinstance(messages, Mapping):
        out: list[tuple[str, str]] = []
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and key != "_schema" else (prefix or str(key))
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            out.extend(flatten_messages(value, path))
        return out
    if isinstance(messages, list):
        return [part for item in messages for part in flatten_messages(item, prefix)]
    return [(prefix, str(messages))]


_INSTANCES: dict[type[Schema], Schema] = {}


def _instance(schema: type[Schema]) -> Schema:
    """One shared instance per schema class: building one deep-copies every declared field,
    and `load` keeps no state on the instance, so it is reused across requests."""
    found = _INSTANCES.get(schema)
    if found is None:
        found = _INSTANCES[schema] = schema()
    return found


def load_hook_request(body: Any, *, expected_hook: str) -> HookRequest:
    """Validate a service call body; raise BadRequest naming every bad field path."""
    if not isinstance(body, Mapping):
        raise BadRequest(NOT_A_REQUEST)
    try:
        data = _instance(HookRequestSchema).load(body)
    except ValidationError as exc:
        raise InvalidFields(flatten_messages(exc.messages)) from exc
    if data["hook"] != expected_hook:
        raise BadRequest(
            N_("{where}: this service answers '{expected}', not '{given}'"),
            where="hook",
            expected=expected_hook,
            given=data["hook"],
        )
    context_schema = CONTEXT_SCHEMAS[expected_hook]
    try:
        context = _instance(context_schema).load(data["context"])
    except ValidationError as exc:
        raise InvalidFields(flatten_messages(exc.messages, "context")) from exc
    authorization = data.get("fhirAuthorization") or {}
    known = {"hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch"}
    return HookRequest(
        hook=data["hook"],
        hook_instance=data["hookInstance"],
        context=dict(context),
        prefetch=data.get("prefetch"),
        fhir_server=data.get("fhirServer"),
        access_token=authorization.get("access_token"),
        extra={key: value for key, value in data.items() if key not in known},
    )


# --- responses (documented for OpenAPI; cards are built by cds.core.cards) ---


class CodingSchema(_Open):
    """CDS Hooks 2.0 §Coding as the service sends it: `system` and `code` required."""

    system = fields.String(required=True)
    code = fields.String(required=True)
    display = fields.String()


class OverrideReasonCodingSchema(CodingSchema):
    """card.overrideReasons[]: the service MUST give each a human-readable `display`."""

    display = fields.String(required=True, validate=validate.Length(min=1))


class SourceSchema(_Open):
    label = fields.String(required=True)
    url = fields.Url()
    icon = fields.Url()
    topic = fields.Nested(CodingSchema)


class ActionSchema(_Open):
    type = fields.String(required=True, validate=validate.OneOf(["create", "update", "delete"]))
    description = fields.String(required=True)
    resource = fields.Dict()
    resourceId = fields.String()  # CDS Hooks 2.0 §Action: a string (relative reference)


class SuggestionSchema(_Open):
    label = fields.String(required=True)
    uuid = fields.String()
    isRecommended = fields.Boolean()
    actions = fields.List(fields.Nested(ActionSchema))


class LinkSchema(_Open):
    label = fields.String(required=True)
    url = fields.Url(
        required=True,
        metadata={
            "description": "absolute: the card's guideline; smart: the red-flag check app's "
            "launch URL (when CDS_SMART_CLIENT_ID is set), launched by the EHR with iss and launch"
        },
    )
    type = fields.String(required=True, validate=validate.OneOf(["absolute", "smart"]))
    appContext = fields.String(
        metadata={
            "description": "smart links only: a JSON string {hookInstance, ruleId, findings: "
            "[finding ids to complete], evaluationTime (only when the request set one), language "
            "(the card's: the app's pages speak it)}, passed back to the app in the token response"
        }
    )


class CardSchema(_Open):
    uuid = fields.String()
    summary = fields.String(required=True, validate=validate.Length(max=139))
    detail = fields.String()
    indicator = fields.String(
        required=True, validate=validate.OneOf(["info", "warning", "critical"])
    )
    source = fields.Nested(SourceSchema, required=True)
    suggestions = fields.List(fields.Nested(SuggestionSchema))
    selectionBehavior = fields.String(validate=validate.OneOf(["at-most-one", "any"]))
    overrideReasons = fields.List(fields.Nested(OverrideReasonCodingSchema))
    links = fields.List(fields.Nested(LinkSchema))
    extension = fields.Dict()


class HookResponseSchema(Schema):
    cards = fields.List(fields.Nested(CardSchema), required=True)


class ServiceDescriptionSchema(Schema):
    hook = fields.String(required=True)
    id = fields.String(required=True)
    title = fields.String()
    extension = fields.Dict(
        metadata={
            "description": 'extension["example.calf-cds"].smartApp, when the red-flag check app '
            "is enabled: how its smart card links launch it and what to register with the EHR"
        }
    )
    description = fields.String(required=True)
    prefetch = fields.Dict(keys=fields.String(), values=fields.String())
    usageRequirements = fields.String()


class DiscoveryResponseSchema(Schema):
    services = fields.List(fields.Nested(ServiceDescriptionSchema), required=True)


class OperationOutcomeIssueSchema(Schema):
    severity = fields.String(required=True)
    code = fields.String(required=True)
    diagnostics = fields.String()


class OperationOutcomeSchema(Schema):
    resourceType = fields.String(required=True, validate=validate.Equal("OperationOutcome"))
    issue = fields.List(fields.Nested(OperationOutcomeIssueSchema), required=True)


# --- feedback (cds-hooks.md "Feedback"; CDS Hooks 2.0 §Feedback) ---

# RFC 3339 date-time: seconds required, an offset required ("Z" or +hh:mm); fractions allowed.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:(?P<second>\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


class Rfc3339DateTime(fields.Field[datetime]):
    """An RFC 3339 timestamp with its offset, loaded as an aware datetime."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own class-level convention
        "invalid": N_("must be an RFC 3339 date-time with an offset, e.g. 2026-11-25T12:00:00Z"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        shape = _RFC3339.fullmatch(value) if isinstance(value, str) else None
        if shape is None:
            raise self.make_error("invalid")
        text = value.upper().replace("Z", "+00:00")
        # RFC 3339 allows a leap second (23:59:60); Python's datetime has none: read as the
        # instant after 23:59:59, as POSIX clocks do.
        leap = shape["second"] == "60"
        if leap:
            text = text[: shape.start("second")] + "59" + text[shape.end("second") :]
        try:
            moment = datetime.fromisoformat(text) + timedelta(seconds=leap)
            moment.astimezone(UTC)  # the store keeps UTC: 9999-12-31T23:59:59-01:00 has none
        except (ValueError, OverflowError) as exc:  # e.g. month 13: the date does not exist
            raise self.make_error("invalid") from exc
        return moment


class SuggestionId(fields.String):
    """A suggestion id; one that reads as a UUID (ours all do) is loaded in canonical form, so
    an EHR that upper-cases it still names the suggestion the service issued."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            return text


class AcceptedSuggestionSchema(_Open):
    id = SuggestionId(
        required=True,
        validate=validate.Length(min=1, max=128, error=N_("Length must be between 1 and 128.")),
    )


class FeedbackReasonCodingSchema(_Open):
    """The reason Coding an EHR sends back: read leniently (only `code` is required), since
    a clinician's feedback is never thrown away over a missing `system`."""

    system = fields.String()
    code = fields.String(required=True)
    display = fields.String()


class OverrideReasonSchema(_Open):
    reason = fields.Nested(FeedbackReasonCodingSchema)
    userComment = fields.String()


class CardUuid(fields.String):
    """A card uuid in any spelling `uuid.UUID` reads (upper case, braces, `urn:uuid:`), loaded
    in the canonical lower-case form the service issued, so the store can match it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text))
        except ValueError as exc:
            raise ValidationError(N_("must be a UUID")) from exc


class FeedbackItemSchema(_Open):
    """One card outcome."""

    card = CardUuid(required=True, metadata={"format": "uuid"})
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(
            ["accepted", "overridden"], error=N_("Must be one of: accepted, overridden.")
        ),
    )
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema))
    overrideReason = fields.Nested(OverrideReasonSchema)
    outcomeTimestamp = Rfc3339DateTime(required=True)

    @validates_schema
    def _accepted_names_suggestions(self, data: Mapping[str, Any], **_: Any) -> None:
        if data.get("outcome") == "accepted" and not data.get("acceptedSuggestions"):
            raise ValidationError(
                N_("required (at least one {id}) when the outcome is accepted"),
                "acceptedSuggestions",
            )


class FeedbackRequestSchema(_Open):
    """The feedback body: `{"feedback": [...]}`, at least one entry."""

    feedback = fields.List(
        fields.Nested(FeedbackItemSchema),
        required=True,
        validate=validate.Length(min=1, error=N_("Shorter than minimum length 1.")),
    )


@dataclass(frozen=True)
class FeedbackItem:
    """One validated feedback entry, in plain types (the store maps it to its own record)."""

    card: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: tuple[str, ...] = ()
    reason_system: str | None = None
    reason_code: str | None = None
    reason_display: str | None = None
    user_comment: str | None = None


def load_feedback(body: Any) -> list[FeedbackItem]:
    """Validate a feedback body; raise BadRequest naming each bad entry and field, e.g.
    `feedback[1].acceptedSuggestions: ...`. Entries keep the body's order (and index)."""
    if not isinstance(body, Mapping):
        raise BadRequest(N_("request body must be a JSON object with a 'feedback' array"))
    try:
        data = _instance(FeedbackRequestSchema).load(body)
    except ValidationError as exc:
        raise InvalidFields(flatten_messages(exc.messages)) from exc
    items = []
    for entry in data["feedback"]:
        override = entry.get("overrideReason") or {}
        reason = override.get("reason") or {}
        items.append(
            FeedbackItem(
                card=entry["card"],
                outcome=entry["outcome"],
                outcome_timestamp=entry["outcomeTimestamp"],
                accepted_suggestions=tuple(s["id"] for s in entry.get("acceptedSuggestions", [])),
                reason_system=reason.get("system"),
                reason_code=reason.get("code"),
                reason_display=reason.get("display"),
                user_comment=override.get("userComment"),
            )
        )
    return items


# --- bodies documented for OpenAPI (cds.openapi); the views build them as plain dicts ---


class FeedbackResultSchema(Schema):
    """`POST .../feedback` answer (cds-hooks.md "Feedback": a small JSON summary)."""

    stored = fields.Integer(required=True, metadata={"description": "new entries stored"})
    duplicates = fields.Integer(required=True, metadata={"description": "already stored"})
    unmatched = fields.Integer(
        required=True, metadata={"description": "stored, naming a card the store never issued"}
    )


class BundleEntrySchema(_Open):
    resource = fields.Dict(metadata={"description": "any FHIR R4 resource"})
    fullUrl = fields.String()


class FhirBundleSchema(_Open):
    """A FHIR R4 Bundle as `POST /evaluate` takes it (entries are judged one by one)."""

    resourceType = fields.String(required=True, validate=validate.Equal("Bundle"))
    type = fields.String(
        validate=validate.OneOf(["searchset", "collection", "transaction", "batch"])
    )
    entry = fields.List(fields.Nested(BundleEntrySchema))


class RuleSourceSchema(_Open):
    label = fields.String(required=True)
    url = fields.String()


class RuleVariantSchema(_Open):
    name = fields.String(required=True)
    when = fields.String(required=True)


class RuleCodeSchema(_Open):
    finding = fields.String(required=True)
    system = fields.String(required=True)
    code = fields.String(required=True)
    display = fields.String(required=True)


class RuleCatalogEntrySchema(_Open):
    """One rule of `GET /rules` (cds.core.describe): criteria in words, variants, codes."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    tier = fields.String(required=True, validate=validate.OneOf(["E", "U", "R", "S"]))
    routes = fields.List(fields.String(), required=True)
    topic = fields.String(required=True)
    criteria = fields.String(required=True)
    variants = fields.List(fields.Nested(RuleVariantSchema), required=True)
    source = fields.Nested(RuleSourceSchema, required=True)
    codes = fields.List(fields.Nested(RuleCodeSchema), required=True)


class RuleCatalogSchema(Schema):
    """`GET /rules`."""

    ruleSet = fields.String(required=True)
    rules = fields.List(fields.Nested(RuleCatalogEntrySchema), required=True)


class CodeSystemSchema(_Open):
    """One of the service's FHIR R4 CodeSystems (only the envelope is described)."""

    resourceType = fields.String(required=True, validate=validate.Equal("CodeSystem"))
    url = fields.String(required=True)
    status = fields.String(required=True)
    content = fields.String(required=True)
    concept = fields.List(fields.Dict())


class ReasonCountSchema(Schema):
    system = fields.String()
    code = fields.String()
    display = fields.String()
    count = fields.Integer(required=True)


class RuleReportRowSchema(Schema):
    ruleId = fields.String(required=True, allow_none=True)
    issued = fields.Integer(required=True)
    accepted = fields.Integer(required=True)
    overridden = fields.Integer(required=True)
    overrideRate = fields.Float(required=True, allow_none=True)
    topOverrideReasons = fields.List(fields.Nested(ReasonCountSchema), required=True)


class RuleReportSchema(Schema):
    """`GET /reports/rules` (cds.wire.report)."""

    rules = fields.List(fields.Nested(RuleReportRowSchema), required=True)
    unmatchedFeedback = fields.Integer(required=True)
    since = fields.String(required=True, allow_none=True)
    generatedAt = fields.String(required=True)


class HealthStatusSchema(Schema):
    """`GET /healthz`, `GET /readyz`."""

    status = fields.String(required=True)


class ConsoleSampleListSchema(Schema):
    """`GET /console/samples`: the bundled sample file names."""

    samples = fields.List(fields.String(), required=True)
