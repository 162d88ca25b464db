"""Settings: defaults, `CDS_*` environment overrides, and test overrides by dict.

Every setting is documented in README.md ("Configuration"); `SETTINGS_DOC` below is the
single source of that table (a test checks the README lists each variable).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from .core.policy import Policy
from .errors import ConfigurationError


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected on/off, got {raw!r}")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse_datetime(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-11-25T12:00:00Z")
    return parsed


@dataclass(frozen=True)
class Settings(Policy):
    """The service's configuration: the clinical policy the pure core reads (the fields of
    `Policy`) and how the service is served, secured and stored. Field `x_y` is read from
    `CDS_X_Y`."""

    database_url: str = "sqlite:///calf-cds.sqlite3"
    language: str = "en"
    auth_mode: str = "off"
    trusted_issuers: str = ""
    public_base_url: str = ""
    cors_origins: tuple[str, ...] = ("*",)
    console: bool = True
    fhir_server_allowlist: tuple[str, ...] = ()
    fhir_timeout_s: float = 3.0
    fhir_page_cap: int = 5
    fhir_page_size: int = 100
    max_body_bytes: int = 5 * 1024 * 1024
    max_buffered_bytes: int = 64 * 1024 * 1024
    max_entries: int = 10_000
    max_json_depth: int = 64
    patient_hash_salt: str = ""
    log_level: str = "INFO"
    evaluation_time: datetime | None = None
    extra_observation_codes: tuple[str, ...] = ()
    jwks_cache_ttl_s: float = 3600.0
    max_token_lifetime_s: float = 300.0
    smart_client_id: str = ""
    smart_session_s: float = 900.0
    smart_session_dir: str = ""
    smart_secret_key: str = ""
    smart_dev_ehr_url: str = ""
    port: int = 8080
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then `CDS_*` variables from `environ` (default os.environ), then `overrides`.

        Raises ConfigurationError naming the variable when a value cannot be parsed.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name == "extra":
                continue
            raw = env.get(f"CDS_{spec.name.upper()}")
            if raw is not None:
                values[spec.name] = _coerce(spec.name, spec.type, raw)
        known = {spec.name for spec in fields(cls)}
        extra: dict[str, Any] = {}
        for key, value in (overrides or {}).items():
            if key in known:
                values[key] = (
                    _coerce(key, _field_type(cls, key), value) if isinstance(value, str) else value
                )
            else:
                extra[key] = value
        if "console" not in values and values.get("auth_mode") == "required":
            values["console"] = False  # a browser's console calls carry no JWT
        settings = cls(**values, extra=extra)
        settings.check()
        return settings

    @functools.cached_property
    def policy(self) -> Policy:
        """The clinical settings the pure core reads."""
        return Policy(**{spec.name: getattr(self, spec.name) for spec in fields(Policy)})

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def check(self) -> None:
        if self.route_profile not in ROUTE_PROFILES:
            raise ConfigurationError(
                f"CDS_ROUTE_PROFILE must be one of {', '.join(ROUTE_PROFILES)}, "
                f"got {self.route_profile!r}"
            )
        from .i18n import LANGUAGES  # Babel is only imported where languages are checked

        if self.language not in LANGUAGES:
            raise ConfigurationError(
                f"CDS_LANGUAGE must be one of {', '.join(LANGUAGES)}, got {self.language!r}"
            )
        if self.auth_mode not in {"required", "off"}:
            raise ConfigurationError(
                f"CDS_AUTH_MODE must be 'required' or 'off', got {self.auth_mode!r}"
            )
        if (
            self.fhir_timeout_s <= 0
            or self.max_body_bytes <= 0
            or self.max_buffered_bytes <= 0
            or self.max_entries <= 0
            or self.max_token_lifetime_s <= 0
            or self.smart_session_s <= 0
        ):
            raise ConfigurationError("timeouts and limits must be positive")
        if self.max_buffered_bytes < self.max_body_bytes:
            raise ConfigurationError(
                "CDS_MAX_BUFFERED_BYTES must be at least CDS_MAX_BODY_BYTES (a body of the "
                "largest accepted size must fit)"
            )
        if self.fhir_page_cap <= 0 or self.fhir_page_size <= 0:
            raise ConfigurationError("CDS_FHIR_PAGE_CAP and CDS_FHIR_PAGE_SIZE must be positive")
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"CDS_PORT must be a TCP port (1-65535), got {self.port}")


ROUTE_PROFILES = ("default", "nice")


def misspelled_settings(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, the setting it is probably meant to be) for each CDS_* variable that is no
    setting but nearly spells one (`CDS_LANGUGE`): a typo would otherwise be ignored in silence.
    Other CDS_* names (a deployment's own, e.g. CDS_IMAGE in Compose) are not guessed at."""
    known = list(SETTINGS_DOC)
    found = []
    for name in sorted(environ):
        if name.startswith("CDS_") and name not in SETTINGS_DOC:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if near:
                found.append((name, near[0]))
    return found


def _field_type(cls: type[Settings], name: str) -> Any:
    return next(spec.type for spec in fields(cls) if spec.name == name)


def _coerce(name: str, type_name: Any, raw: str) -> Any:
    parsers: dict[str, Any] = {
        "str": str,
        "bool": _parse_bool,
        "int": int,
        "float": float,
        "tuple[str, ...]": _parse_list,
        "datetime | None": _parse_datetime,
    }
    parser = parsers.get(str(type_name))
    if parser is None:
        raise ConfigurationError(f"CDS_{name.upper()} cannot be set from the environment")
    try:
        return parser(raw)
    except ValueError as exc:
        raise ConfigurationError(f"CDS_{name.upper()}: {exc}") from exc


SETTINGS_DOC: dict[str, str] = {
    "CDS_DATABASE_URL": "SQLAlchemy URL of the store; SQLite file by default, "
    "postgresql+psycopg://... in production",
    "CDS_ROUTE_PROFILE": "`default` (the source article's routes) or `nice` (NICE pathways)",
    "CDS_LANGUAGE": "language of cards and messages when a request names none it supports: "
    "`en` or `ru` (a request chooses with its `example.calf-cds` extension's `language`, then "
    "the `lang` query parameter, then `Accept-Language`)",
    "CDS_FHIR_BASE": "base of the service's CodeSystem canonical URLs",
    "CDS_AUTH_MODE": "`required` (verify the EHR's JWT) or `off` (development only)",
    "CDS_TRUSTED_ISSUERS": "JSON, or a path to a JSON file: trusted JWT issuers and their keys",
    "CDS_PUBLIC_BASE_URL": "external base URL used to check the JWT `aud` behind a proxy",
    "CDS_CORS_ORIGINS": "comma-separated allowed browser origins (`*` = any)",
    "CDS_CONSOLE": "`on`/`off`: the tester console at `/` (default off with "
    "CDS_AUTH_MODE=required, where its pages and calls need an EHR's JWT like every endpoint)",
    "CDS_FHIR_SERVER_ALLOWLIST": "comma-separated origins the service may fetch prefetch from",
    "CDS_FHIR_TIMEOUT_S": "wall-clock deadline in seconds for fetching missing prefetch "
    "(every query and page, DNS to last byte)",
    "CDS_FHIR_PAGE_CAP": "maximum Bundle pages followed per prefetch query; a query cut short "
    "is named on the info card",
    "CDS_FHIR_PAGE_SIZE": "`_count` the service asks for when it fetches a search itself",
    "CDS_MAX_BODY_BYTES": "largest accepted request body",
    "CDS_MAX_BUFFERED_BYTES": "most request bytes a `calf-cds serve` worker holds for requests "
    "still arriving (at least CDS_MAX_BODY_BYTES); past it the largest of them are closed (a "
    "flood of large bodies)",
    "CDS_MAX_ENTRIES": "largest accepted number of Bundle entries in one request",
    "CDS_MAX_JSON_DEPTH": "deepest accepted JSON nesting",
    "CDS_PATIENT_HASH_SALT": "secret salt for the patient-id hash in logs and the store; "
    "required with `CDS_AUTH_MODE=required`, at least 16 characters (empty: a random salt kept "
    "in the database, development only)",
    "CDS_LOG_LEVEL": "log level (DEBUG, INFO, WARNING, ...)",
    "CDS_EVALUATION_TIME": "fixed evaluation clock (ISO 8601 with offset) for demos and tests; "
    "empty = now",
    "CDS_WINDOW_SYMPTOM_DAYS": "time window for symptoms, signs and acute disorders",
    "CDS_WINDOW_LAB_HOURS": "time window for labs and vital signs",
    "CDS_WINDOW_TSH_DAYS": "time window for TSH",
    "CDS_WINDOW_ABI_DAYS": "time window for the ankle-brachial index",
    "CDS_WINDOW_CHRONIC_OBSERVATION_DAYS": "window for chronic disorders recorded as Observations",
    "CDS_WINDOW_PREGNANCY_OBSERVATION_DAYS": "window for pregnancy recorded as an Observation",
    "CDS_CK_ULN_U_PER_L": "CK upper limit of normal when the Observation has no referenceRange",
    "CDS_EXTRA_OBSERVATION_CODES": "extra `system|code` pairs added to the observations prefetch",
    "CDS_EXTRA_CANCER_CODES": "extra SNOMED codes (or `system|code`) counted as active cancer",
    "CDS_EXTRA_THYROID_CODES": "extra hypothyroidism codes (SNOMED, or `system|code`) counted "
    "as a cause of cramps, with the chronic window",
    "CDS_POSTPARTUM_CODES": "the deployment's delivery or puerperium codes (SNOMED, or "
    "`system|code`): F-PREGNANT for 6 weeks from onset (none by default)",
    "CDS_DDIMER_AGE_ADJUST_OVER_LAB_FLAG": "`on`: the age-adjusted D-dimer cut-off applies "
    "even to a value the lab flagged H or POS (default off)",
    "CDS_JWKS_CACHE_TTL_S": "seconds a fetched JWK Set is cached",
    "CDS_MAX_TOKEN_LIFETIME_S": "longest accepted EHR token lifetime in seconds, both `exp - iat` "
    "and `exp` - now (plus 60 s clock skew); replay records are kept no longer",
    "CDS_SMART_CLIENT_ID": "client id of the red-flag check SMART app as registered with the "
    "EHR; set, cards that list unrecorded items link to the app (empty = the app is off)",
    "CDS_SMART_SESSION_S": "lifetime in seconds of a red-flag check app session (its cookie and "
    "the access token kept on the server)",
    "CDS_SMART_SESSION_DIR": "directory of the app's server-side sessions, shared by the workers "
    "of one host (empty = `calf-cds-smart-<uid>` in the system temp directory)",
    "CDS_SMART_SECRET_KEY": "key that signs the app's session cookie; set the same value on "
    "every host (empty = a random key kept in the session directory)",
    "CDS_SMART_DEV_EHR_URL": "testers: base URL of a `calf-cds dev-ehr` through which the "
    "console launches the app from a card (empty = the console shows the link as text)",
    "CDS_PORT": "port `calf-cds serve` listens on (`--port` wins)",
}
