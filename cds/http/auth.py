"""The HTTP face of security: the JWT guard and CORS (cds-hooks.md "Security", endpoint table).

`create_app` calls `install_cors(app, settings)` then `install_auth(app, settings, store)`.
In `required` mode every request needs a valid client JWT except CORS preflight (any OPTIONS),
`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, the red-flag check app's `/smart/` pages
(which sign in with SMART on FHIR) and its Questionnaire, and a path with no page (404 or 405,
also the console's while it is off). A failure is a 401 OperationOutcome that
says only "unauthorized", with `WWW-Authenticate: Bearer`; the reason goes to the log, never
the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from flask import Flask, Request, Response, g, request

from ..auth import Clock, JwtVerifier, bearer_token, check_required_mode
from ..config import Settings
from ..errors import Unauthorized
from ..service import Store
from .errors import outcome_response

log = logging.getLogger("cds.http.auth")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
# The red-flag Questionnaire, the canonical the app's QuestionnaireResponses name: an EHR
# resolves it by URL, and it holds a definition, never patient data.
PUBLIC_PREFIXES = ("/fhir/Questionnaire/",)
# The red-flag check app (cds.smart) is a browser app with its own SMART sign-in: a clinician's
# browser carries no CDS Hooks JWT.
SMART_APP_PREFIX = "/smart/"
CORS_ALLOW_METHODS = "GET, POST, OPTIONS"
CORS_ALLOW_HEADERS = "Authorization, Content-Type"
CORS_EXPOSE_HEADERS = "Retry-After, WWW-Authenticate"
CORS_MAX_AGE_S = 600


def audience_url(settings: Settings, req: Request) -> str:
    """The URL the client called, which the JWT `aud` must name.

    CDS_PUBLIC_BASE_URL + path when set (behind a proxy the request URL is the proxy's view,
    and its Host header is the client's to choose); else the request URL without its query.
    """
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + req.path
    return req.base_url


def install_auth(
    app: Flask, settings: Settings, store: Store | None, *, clock: Clock = time.time
) -> None:
    """Register the JWT guard (a before_request hook) for CDS_AUTH_MODE=required.

    `store` supplies `claim_jti(issuer, jti, expires_at) -> bool` (None: per-process replay
    cache only). Raises ConfigurationError at startup in `required` mode for malformed or
    empty trusted issuers, or no CDS_PATIENT_HASH_SALT (`auth.check_required_mode`). In `off`
    mode it logs one WARNING and registers nothing.
    """
    if settings.auth_mode != "required":
        log.warning(
            "CDS_AUTH_MODE=off: requests are NOT authenticated; any caller can use this "
            "service. Development only: set CDS_AUTH_MODE=required and CDS_TRUSTED_ISSUERS."
        )
        return
    check_required_mode(settings)
    claim_jti = _store_claim(store, clock) if store is not None else None
    verifier = JwtVerifier.from_settings(settings, claim_jti=claim_jti, clock=clock)
    if not settings.public_base_url:
        log.warning(
            "CDS_PUBLIC_BASE_URL is not set: the JWT audience is checked against the request "
            "URL as this process sees it (set it behind a proxy or load balancer)"
        )
    log.info("JWT authentication required; trusted issuers: %s", ", ".join(verifier.issuers))

    @app.before_request
    def _require_jwt() -> Response | None:
        if (
            request.method == "OPTIONS"
            or request.url_rule is None  # no such page: its 404 (or 405) needs no token
            # A console switched off answers 404 for every page; one switched on needs a token.
            or (
                not settings.console
                and (request.blueprint == "console" or request.endpoint == "static")
            )
            or request.path in PUBLIC_PATHS
            or request.path.startswith(SMART_APP_PREFIX)
            or request.path.startswith(PUBLIC_PREFIXES)
        ):
            return None
        try:
            token = bearer_token(request.headers.get("Authorization"))
            claims = verifier.verify(token, audience=audience_url(settings, request))
        except Unauthorized as failure:
            log.warning(
                "unauthorized: %s",
                failure.reason,
                extra={"reason": failure.reason, "path": request.path},
            )
            response = outcome_response(401, failure.issue_code, failure.diagnostics)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        g.auth_claims = claims
        return None


def _store_claim(store: Store, clock: Clock) -> Callable[[str, str, datetime], bool]:
    """store.claim_jti judged by the verifier's clock, so exp and the jti record agree."""

    def claim(issuer: str, jti: str, expires_at: datetime) -> bool:
        return store.claim_jti(issuer, jti, expires_at, now=datetime.fromtimestamp(clock(), UTC))

    return claim


def install_cors(app: Flask, settings: Settings) -> None:
    """Answer CORS preflight without auth and label responses for allowed browser origins.

    Hand-written rather than flask-cors: the policy is five fixed headers, and owning them
    keeps the exact contract visible and tested (no credentials, explicit Authorization in
    Allow-Headers, which a `*` there would not cover). CDS_CORS_ORIGINS: `*` = any origin;
    empty = no CORS headers at all (same-origin or server-to-server EHRs only).
    """
    origins = _normalised_origins(settings.cors_origins)
    if not origins:
        return
    any_origin = "*" in origins

    def allowed_origin() -> str | None:
        origin = request.headers.get("Origin")
        if not origin:
            return None
        if any_origin:
            return "*"
        return origin if origin.rstrip("/").lower() in origins else None

    @app.before_request
    def _preflight() -> Response | None:
        is_preflight = (
            request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )
        if not is_preflight:
            return None
        response = app.response_class(status=204)
        if allowed_origin() is not None:
            response.headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        return response  # after_request adds Allow-Origin and Vary

    @app.after_request
    def _label(response: Response) -> Response:
        response.vary.add("Origin")
        origin = allowed_origin()
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        return response


def _normalised_origins(configured: Iterable[str]) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/").lower() for o in configured if o.strip())
