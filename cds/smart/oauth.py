"""SMART App Launch 2.x, EHR launch, with authlib's OAuth 2 client.

`iss` is accepted only when its origin is on CDS_FHIR_SERVER_ALLOWLIST, checked before any
connection. The EHR's `.well-known/smart-configuration` gives the endpoints; the authorization
request carries `launch`, `aud` = iss, a random `state` and a PKCE S256 challenge; the callback's
state is checked by authlib before the code is exchanged (with the verifier) at the token
endpoint. The id_token is verified with the EHR's JWK Set (PyJWT, as the service's own JWTs)
and gives `fhirUser`; `patient` and `appContext` come from the token response.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from authlib.common.security import generate_token, is_secure_transport
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc6749.errors import (
    MismatchingStateException,
    MissingCodeException,
)

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 fork and warns once, at import, when it finds httpx (the
    # project's one HTTP client, pinned < 0.29); its OAuth2Client works the same on either.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

from ..config import Settings
from ..core.findings import FINDINGS
from ..core.i18n import N_
from ..fhir.fetch import is_allowed_fhir_server, normalise_origin
from ..i18n import is_language_tag, supported
from .errors import EhrUnavailable, LaunchRefused

log = logging.getLogger("cds.smart")

# SMART v2 scopes: read the patient and their Observations, create Observations,
# plus creating the QuestionnaireResponse it writes beside them, and reading Conditions, which
# the hook reads too: without them the form would show a cancer or an earlier DVT on the problem
# list as not recorded, and an "absent" answered there would cancel it (§2: a later absence
# wins). An EHR that refuses Conditions still gets a working form, with a warning; one that
# withholds QuestionnaireResponse.c gets the Observations alone (`may_create`).
SCOPES = (
    "launch openid fhirUser patient/Patient.r patient/Observation.rs patient/Observation.c "
    "patient/QuestionnaireResponse.c patient/Condition.rs"
)
CALLBACK_PATH = "/smart/callback"
LAUNCH_PATH = "/smart/launch"
HTTP_TIMEOUT_S = 5.0  # configuration, JWK Set and token calls: the clinician is waiting
MAX_DOCUMENT_BYTES = 256 * 1024
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]


@dataclass(frozen=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None
    jwks_uri: str | None


@dataclass(frozen=True)
class Grant:
    """What the token endpoint granted, checked."""

    access_token: str
    patient: str
    fhir_user: str | None
    app_context: dict[str, Any] | None
    scope: str


def app_url(settings: Settings, host_url: str, path: str) -> str:
    """An app URL under CDS_PUBLIC_BASE_URL, else under the request's own base URL."""
    return (settings.public_base_url or host_url).rstrip("/") + path


def launch_url(settings: Settings, host_url: str) -> str | None:
    """The launch URL a card's smart link carries, or None while the app is off."""
    return app_url(settings, host_url, LAUNCH_PATH) if settings.smart_client_id else None


def may_create(granted: str, resource_type: str) -> bool:
    """Whether a granted scope string lets the app create `resource_type`: a SMART v2
    `patient/` or `user/` scope for the type (or `*`) whose permissions include `c` (with or
    without a `?` query), or a v1 `.write` / `.*` one. An empty string is the scope asked for
    (RFC 6749 5.1: the token response may leave out a scope granted as requested)."""
    if not granted.strip():
        return True
    for scope in granted.split():
        context, _, rest = scope.partition("/")
        kind, _, permissions = rest.partition("?")[0].partition(".")
        if context not in {"patient", "user"} or kind not in {resource_type, "*"}:
            continue
        if permissions in {"write", "*"} or (
            permissions and set(permissions) <= set("cruds") and "c" in permissions
        ):
            return True
    return False


def checked_iss(iss: str | None, settings: Settings) -> str:
    """The launch's FHIR base, when its origin is allowlisted; else LaunchRefused (no fetch)."""
    parts = urlsplit(iss or "")
    # urlsplit drops tabs and line breaks that the HTTP client then refuses: refused here.
    if (
        not iss
        or not iss.isprintable()
        or " " in iss
        or normalise_origin(iss) is None
        or parts.query
        or parts.fragment
    ):
        raise LaunchRefused(N_("The launch has no valid `iss` (the EHR's FHIR base URL)."))
    if not is_allowed_fhir_server(iss, settings):
        log.warning(
            "SMART launch refused: iss origin not on CDS_FHIR_SERVER_ALLOWLIST",
            extra={"origin": normalise_origin(iss)},
        )
        raise LaunchRefused(
            N_(
                "This EHR is not registered with calf-cds: its address is not on the service's "
                "list of FHIR servers (CDS_FHIR_SERVER_ALLOWLIST). Ask your administrator."
            )
        )
    return iss.rstrip("/")


def _get_json(url: str, what: str) -> dict[str, Any]:
    """GET a small JSON document (no redirects, bounded time and size)."""
    try:
        with (
            httpx.Client(follow_redirects=False, timeout=HTTP_TIMEOUT_S) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise EhrUnavailable(
                    N_("The EHR's {what} answered HTTP {status}."),
                    what=what,
                    status=response.status_code,
                )
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise EhrUnavailable(N_("The EHR's {what} is too large."), what=what)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise EhrUnavailable(N_("The EHR's {what} could not be reached."), what=what) from exc
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise EhrUnavailable(N_("The EHR's {what} is not JSON."), what=what) from exc
    if not isinstance(document, dict):
        raise EhrUnavailable(N_("The EHR's {what} is not a JSON object."), what=what)
    return document


def _endpoint(document: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not is_secure_transport(value):
        raise EhrUnavailable(
            N_("The EHR's SMART configuration has no usable {name} (https, or http on loopback)."),
            name=name,
        )
    return value


def discover(iss: str) -> SmartConfiguration:
    """The EHR's SMART configuration (`{iss}/.well-known/smart-configuration`)."""
    document = _get_json(f"{iss}/.well-known/smart-configuration", "SMART configuration")
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise EhrUnavailable(N_("The EHR does not support PKCE S256, which this app requires."))
    issuer = document.get("issuer")
    return SmartConfiguration(
        authorization_endpoint=str(_endpoint(document, "authorization_endpoint", required=True)),
        token_endpoint=str(_endpoint(document, "token_endpoint", required=True)),
        issuer=issuer if isinstance(issuer, str) and issuer else None,
        jwks_uri=_endpoint(document, "jwks_uri", required=False),
    )


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43 to 128 unreserved characters)."""
    return str(generate_token(64))


def _client(client_id: str, redirect_uri: str) -> Any:
    return OAuth2Client(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=SCOPES,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",  # a public client: PKCE instead of a secret
        follow_redirects=False,
        timeout=HTTP_TIMEOUT_S,
    )


def authorization_url(
    config: SmartConfiguration,
    *,
    client_id: str,
    redirect_uri: str,
    iss: str,
    launch: str,
    code_verifier: str,
) -> tuple[str, str]:
    """(the authorize URL to redirect to, the random state it carries)."""
    with _client(client_id, redirect_uri) as client:
        url, state = client.create_authorization_url(
            config.authorization_endpoint, code_verifier=code_verifier, launch=launch, aud=iss
        )
    return str(url), str(state)


def exchange_code(
    *,
    token_endpoint: str,
    client_id: str,
    redirect_uri: str,
    callback_url: str,
    state: str | None,
    code_verifier: str | None,
) -> dict[str, Any]:
    """The token response for the callback's code. authlib checks the callback's state
    against ours first (LaunchRefused when it differs: nothing is sent to the EHR)."""
    if not state or not code_verifier:
        raise LaunchRefused(N_("This sign-in was already used or never started here."))
    with _client(client_id, redirect_uri) as client:
        try:
            token = client.fetch_token(
                token_endpoint,
                authorization_response=callback_url,
                state=state,
                code_verifier=code_verifier,
            )
        except MismatchingStateException as exc:
            log.warning("SMART callback refused: state mismatch")
            raise LaunchRefused(
                N_("The sign-in answer does not belong to this session (state mismatch).")
            ) from exc
        except MissingCodeException as exc:
            raise LaunchRefused(N_("The EHR's answer carries no authorization code.")) from exc
        except OAuthError as exc:
            log.warning("SMART token request refused", extra={"error": exc.error})
            raise EhrUnavailable(
                N_("The EHR refused the sign-in at its token endpoint ({error})."),
                error=exc.error,
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            log.warning("SMART token endpoint failed", extra={"error": type(exc).__name__})
            raise EhrUnavailable(N_("The EHR's token endpoint did not answer.")) from exc
    return dict(token)


def grant(
    token: dict[str, Any],
    *,
    iss: str,
    config: SmartConfiguration,
    client_id: str,
) -> Grant:
    """Check a token response: an access token and a patient are needed; the id_token, when
    sent, must verify and gives fhirUser; appContext is read when present and well formed."""
    access_token = token.get("access_token")
    patient = token.get("patient")
    if not isinstance(access_token, str) or not access_token:
        raise EhrUnavailable(N_("The EHR granted no access token."))
    if not isinstance(patient, str) or not patient or "/" in patient:
        raise EhrUnavailable(N_("The EHR named no patient for this launch."))
    fhir_user = None
    id_token = token.get("id_token")
    if isinstance(id_token, str):
        claims = verify_id_token(id_token, config=config, client_id=client_id)
        fhir_user = performer_reference(claims.get("fhirUser") or claims.get("profile"), iss)
    scope = token.get("scope")
    return Grant(
        access_token=access_token,
        patient=patient,
        fhir_user=fhir_user,
        app_context=app_context(token.get("appContext")),
        scope=scope if isinstance(scope, str) else "",
    )


def verify_id_token(id_token: str, *, config: SmartConfiguration, client_id: str) -> dict[str, Any]:
    """The id_token's claims: signed by a key of the EHR's JWK Set, for this client, unexpired,
    from the EHR's issuer when it names one. Without a jwks_uri the token came straight from
    the token endpoint over the channel authlib checked (OpenID Connect Core 3.1.3.7 (6)):
    then audience and expiry are still checked."""
    try:
        if config.jwks_uri is None:
            claims = jwt.decode(
                id_token,
                options={"verify_signature": False, "require": ["exp", "aud"]},
                audience=client_id,
            )
        else:
            keys = jwt.PyJWKSet.from_dict(_get_json(config.jwks_uri, "JWK Set"))
            kid = jwt.get_unverified_header(id_token).get("kid")
            candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
            if not candidates:
                raise jwt.InvalidTokenError("no key of the EHR's JWK Set matches")
            claims = jwt.decode(
                id_token,
                key=candidates[0],
                algorithms=ID_TOKEN_ALGORITHMS,
                audience=client_id,
                issuer=config.issuer,
                options={"require": ["exp", "aud", "iss"] if config.issuer else ["exp", "aud"]},
            )
    except (jwt.PyJWTError, jwt.PyJWKError) as exc:
        log.warning("SMART id_token refused", extra={"error": type(exc).__name__})
        raise EhrUnavailable(N_("The EHR's id_token could not be verified.")) from exc
    return dict(claims)


def performer_reference(fhir_user: object, iss: str) -> str | None:
    """fhirUser as a reference: relative when it lives on the EHR's own FHIR server."""
    if not isinstance(fhir_user, str) or not fhir_user:
        return None
    prefix = iss.rstrip("/") + "/"
    return fhir_user[len(prefix) :] if fhir_user.startswith(prefix) else fhir_user


def app_context(raw: object) -> dict[str, Any] | None:
    """The card's appContext (a JSON string: hookInstance, ruleId, findings[, evaluationTime,
    language]) when well formed; unknown finding ids are dropped, and a language the service
    does not speak. None when absent or malformed: the app then asks the default check (Oracle
    Health sends no appContext)."""
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("findings"), list):
        return None
    findings = [f for f in value["findings"] if isinstance(f, str) and f in FINDINGS]
    out: dict[str, Any] = {"findings": findings}
    for key in ("hookInstance", "ruleId", "evaluationTime"):
        if isinstance(value.get(key), str):
            out[key] = value[key]
    # The card's language: the app's pages speak it (README "The red-flag check app").
    language = value.get("language")
    if is_language_tag(language) and supported(str(language)):
        out["language"] = supported(str(language))
    return out
