"""`calf-cds dev-ehr`: a small development EHR that does SMART, for loopback only.

It lets a tester, and the tests, go through the red-flag check without an EHR:
- `GET /launch?patient=&url=&appContext=`: the EHR's side of a CDS Hooks smart link; makes a
  launch context and opens the app's launch URL with `iss` and `launch` (the console's link);
- `GET /fhir/.well-known/smart-configuration`, `GET /jwks`;
- `GET /oauth/authorize`: authlib's authorization server, auto-approving the launch's patient
  and the configured user (PKCE S256 required, `aud` checked against the FHIR base);
- `POST /oauth/token`: access token, `patient`, `appContext`, and an id_token with `fhirUser`;
- a FHIR API over `dev_ehr_store.FhirStore` (loaded from fhir_samples/), bearer token and
  patient compartment checked on every call.
Its base URL is taken from each request (it only ever listens on loopback).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import jwt
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, render_template_string, request
from flask.typing import ResponseReturnValue

from . import questionnaire
from .dev_ehr_store import FhirStore, StoreError, outcome, sample_patients, sample_resources
from .oauth import CALLBACK_PATH, LAUNCH_PATH, may_create

log = logging.getLogger("cds.smart.dev_ehr")

FHIR_PATH = "/fhir"
FHIR_JSON = "application/fhir+json"
DEFAULT_CLIENT_ID = "calf-cds-dev"
DEFAULT_USER = "Practitioner/dev-clinician"
CODE_LIFETIME_S = 300
TOKEN_LIFETIME_S = 3600
KEY_ID = "dev-ehr-1"
SCOPES_SUPPORTED = [
    "launch",
    "openid",
    "fhirUser",
    "patient/Patient.r",
    "patient/Observation.rs",
    "patient/Observation.c",
    "patient/QuestionnaireResponse.c",
    "patient/Condition.rs",
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_app(url: str, registered: str) -> bool:
    """Whether `url` is on the registered app's origin and under its path. The loopback names
    of one port (localhost, 127.0.0.1, [::1]) are one origin: a tester may open the console
    at either, and the app's launch URL and redirect URI follow the address it was opened at."""
    mine, theirs = urlsplit(url), urlsplit(registered)
    try:
        ports = (mine.port, theirs.port)
    except ValueError:
        return False
    hosts = (mine.hostname or "", theirs.hostname or "")
    return (
        mine.scheme == theirs.scheme
        and ports[0] == ports[1]
        and (hosts[0] == hosts[1] or all(is_loopback(host) for host in hosts))
        and not mine.username
        and mine.path.startswith(theirs.path.rstrip("/"))
    )


# --- the OAuth models authlib asks for --------------------------------------------------------


@dataclass
class Client(ClientMixin):  # type: ignore[misc]  # authlib is untyped
    """The one registered app: a public client (PKCE, no secret) under `app_base`."""

    client_id: str
    app_base: str
    withheld: frozenset[str] = frozenset()  # tests: scopes this EHR never grants

    @property
    def redirect_uri(self) -> str:
        return self.app_base.rstrip("/") + CALLBACK_PATH

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        granted = (s for s in (scope or "").split() if s in SCOPES_SUPPORTED)
        return " ".join(s for s in granted if s not in self.withheld)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts, ours = urlsplit(redirect_uri), urlsplit(self.redirect_uri)
        return same_app(redirect_uri, self.redirect_uri) and (
            parts.path,
            parts.query,
            parts.fragment,
        ) == (ours.path, "", "")

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Launch:
    patient: str
    user: str
    app_context: str | None
    expires_at: float


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    patient: str
    app_context: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token:
    patient: str
    user: str
    scope: str
    expires_at: float


@dataclass
class DevEhr:
    """The EHR's state: its store, the registered app, launches, codes and tokens."""

    store: FhirStore
    client: Client
    user: str = DEFAULT_USER
    token_fault: bool = False  # tests: the token endpoint fails (HTTP 503)
    launches: dict[str, Launch] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    # (method, path) of the last requests received, for tests (bounded: it runs for days).
    requests: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=1000))
    private_jwk: dict[str, Any] = field(default_factory=dict)
    public_jwk: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True), "kid": KEY_ID}
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.public_jwk = {**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}

    def issue_token(self, patient: str, scope: str = " ".join(SCOPES_SUPPORTED)) -> str:
        """A bearer token for `patient` (tests and the hook's fetch use it like the app's)."""
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = Token(patient, self.user, scope, time.time() + TOKEN_LIFETIME_S)
        return access_token


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """authlib makes one grant per request from the class: `ehr` is set on a subclass made
    for each dev EHR (`_grant_class`), so two EHRs in one process never share codes."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    ehr: DevEhr

    def save_authorization_code(self, code: str, req: Any) -> None:
        launch = self.ehr.launches.pop(req.payload.data.get("launch", ""), None)
        if launch is None or launch.expires_at < time.time():
            raise OAuth2Error("unknown or expired launch", status_code=400)
        self.ehr.codes[code] = Code(
            code=code,
            client_id=req.client.get_client_id(),
            redirect_uri=req.payload.redirect_uri,
            scope=req.payload.scope,
            user=launch.user,
            patient=launch.patient,
            app_context=launch.app_context,
            code_challenge=req.payload.data.get("code_challenge"),
            code_challenge_method=req.payload.data.get("code_challenge_method"),
            auth_time=int(time.time()),
            expires_at=time.time() + CODE_LIFETIME_S,
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.ehr.codes.get(code)
        if found is None or found.client_id != client.client_id or found.expires_at < time.time():
            return None
        return found

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.ehr.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> str:
        return authorization_code.user


def _grant_class(ehr: DevEhr) -> type[_CodeGrant]:
    return type("DevEhrCodeGrant", (_CodeGrant,), {"ehr": ehr})


class _OpenIdCode(OpenIDCode):  # type: ignore[misc]
    """The id_token: signed RS256 with the EHR's key, `fhirUser` the signed-in user."""

    def __init__(self, ehr: DevEhr) -> None:
        super().__init__(require_nonce=False)
        self.ehr = ehr

    def resolve_client_private_key(self, client: Client) -> dict[str, Any]:
        return self.ehr.private_jwk

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": _base(), "aud": [client.client_id]}

    def exists_nonce(self, nonce: str, req: Any) -> bool:
        return False

    def generate_user_info(self, user: str, scope: str) -> dict[str, Any]:
        return {"sub": user, "fhirUser": f"{_base()}{FHIR_PATH}/{user}"}


class _LaunchContext:
    """SMART launch context in the token response: `patient`, and the card's `appContext`."""

    def __init__(self, ehr: DevEhr) -> None:
        self.ehr = ehr

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.add_context)

    def add_context(self, grant: Any, response: Any) -> None:
        status, token, _headers = response
        code = grant.request.authorization_code
        if status == 200 and isinstance(token, dict) and code is not None:
            token["patient"] = code.patient
            token["need_patient_banner"] = False
            if code.app_context:
                token["appContext"] = code.app_context


def _base() -> str:
    return request.host_url.rstrip("/")


def _fhir_base() -> str:
    return _base() + FHIR_PATH


# --- the app ----------------------------------------------------------------------------------


def create_dev_ehr(
    *,
    app_base: str,
    client_id: str = DEFAULT_CLIENT_ID,
    user: str = DEFAULT_USER,
    samples_dir: Path | None = None,
    fhir_base: str = "http://calf-cds.example/fhir",
) -> Flask:
    """The development EHR as a Flask app; its state is `app.extensions["dev-ehr"]`.

    `app_base` is calf-cds's base URL: the registered launch URL and redirect URI live under it
    (settable later, `ehr.client.app_base`, when the port is only known once served).
    `fhir_base` is calf-cds's canonical base, for the Questionnaire it serves.
    """
    store = FhirStore()
    samples = samples_dir or Path(__file__).resolve().parents[2] / "fhir_samples"
    loaded = store.load(sample_resources(samples)) if samples.is_dir() else 0
    sample_names = sample_patients(samples) if samples.is_dir() else {}
    store.load(
        [
            {
                "resourceType": "Practitioner",
                "id": user.partition("/")[2] or "dev-clinician",
                "name": [{"family": "Clinician", "given": ["Dev"]}],
            },
            questionnaire.as_json(fhir_base),
        ]
    )
    ehr = DevEhr(store=store, client=Client(client_id, app_base), user=user)
    log.info("dev EHR loaded", extra={"resources": loaded})

    app = Flask(__name__)
    app.extensions["dev-ehr"] = ehr
    server = AuthorizationServer(app, query_client=_query_client(ehr), save_token=_saver(ehr))
    server.register_grant(
        _grant_class(ehr), [CodeChallenge(required=True), _OpenIdCode(ehr), _LaunchContext(ehr)]
    )

    @app.before_request
    def _record() -> None:
        ehr.requests.append((request.method, request.path))

    @app.get("/")
    def index() -> str:
        patients = sorted(
            (r for (kind, _), r in store.resources.items() if kind == "Patient"),
            key=lambda r: str(r.get("id")),
        )
        return render_template_string(
            _INDEX, patients=patients, samples=sample_names, app_base=ehr.client.app_base
        )

    @app.get("/launch")
    def launch() -> ResponseReturnValue:
        patient = request.args.get("patient", "")
        url = request.args.get("url", ehr.client.app_base.rstrip("/") + LAUNCH_PATH)
        if store.read("Patient", patient) is None:
            return _problem(404, "not-found", "no such patient in the dev EHR")
        if not same_app(url, ehr.client.app_base):
            return _problem(400, "invalid", "the launch URL is not the registered app's")
        launch_id = secrets.token_urlsafe(16)
        ehr.launches[launch_id] = Launch(
            patient=patient,
            user=ehr.user,
            app_context=request.args.get("appContext") or None,
            expires_at=time.time() + CODE_LIFETIME_S,
        )
        separator = "&" if urlsplit(url).query else "?"
        return redirect(url + separator + urlencode({"iss": _fhir_base(), "launch": launch_id}))

    @app.get(FHIR_PATH + "/.well-known/smart-configuration")
    def smart_configuration() -> Response:
        return jsonify(
            {
                "issuer": _base(),
                "jwks_uri": _base() + "/jwks",
                "authorization_endpoint": _base() + "/oauth/authorize",
                "token_endpoint": _base() + "/oauth/token",
                "grant_types_supported": ["authorization_code"],
                "response_types_supported": ["code"],
                "token_endpoint_auth_methods_supported": ["none"],
                "scopes_supported": SCOPES_SUPPORTED,
                "code_challenge_methods_supported": ["S256"],
                "capabilities": [
                    "launch-ehr",
                    "client-public",
                    "context-ehr-patient",
                    "sso-openid-connect",
                    "permission-v2",
                    "permission-patient",
                ],
            }
        )

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify({"keys": [ehr.public_jwk]})

    @app.get("/oauth/authorize")
    def authorize() -> ResponseReturnValue:
        if request.args.get("aud", "").rstrip("/") != _fhir_base():
            return _problem(400, "invalid", "aud is not this EHR's FHIR base")
        launch_id = request.args.get("launch", "")
        found = ehr.launches.get(launch_id)
        if found is None:
            return _problem(400, "invalid", "unknown or expired launch")
        try:
            grant = server.get_consent_grant(end_user=found.user)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)  # type: ignore[no-any-return]
        response: ResponseReturnValue = server.create_authorization_response(
            grant_user=found.user, grant=grant
        )
        return response

    @app.post("/oauth/token")
    def token() -> ResponseReturnValue:
        if ehr.token_fault:
            return jsonify({"error": "temporarily_unavailable"}), 503
        response: ResponseReturnValue = server.create_token_response()
        return response

    # --- FHIR -------------------------------------------------------------------------------

    @app.get(FHIR_PATH + "/<resource_type>/<resource_id>")
    def read(resource_type: str, resource_id: str) -> ResponseReturnValue:
        granted = _bearer(ehr)
        if isinstance(granted, Response):
            return granted
        found = store.read(resource_type, resource_id)
        if found is None or not _visible(found, granted.patient):
            return _problem(404, "not-found", f"{resource_type}/{resource_id} not found")
        return _fhir(found)

    @app.get(FHIR_PATH + "/<resource_type>")
    def search(resource_type: str) -> ResponseReturnValue:
        granted = _bearer(ehr)
        if isinstance(granted, Response):
            return granted
        if resource_type not in {"Observation", "Condition"}:
            return _problem(404, "not-supported", f"search on {resource_type} is not supported")
        patient = (request.args.get("patient") or request.args.get("subject") or "").removeprefix(
            "Patient/"
        )
        if patient != granted.patient:
            return _problem(403, "forbidden", "the token is for another patient")
        found = store.search(resource_type, patient, request.args.get("code"))
        return _fhir(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "entry": [
                    {
                        "fullUrl": f"{_fhir_base()}/{r['resourceType']}/{r['id']}",
                        "resource": r,
                        "search": {"mode": "match"},
                    }
                    for r in found
                ],
            }
        )

    @app.post(FHIR_PATH + "/<resource_type>")
    def create(resource_type: str) -> ResponseReturnValue:
        granted = _bearer(ehr)
        if isinstance(granted, Response):
            return granted
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            return _problem(400, "invalid", f"POST {resource_type} takes a {resource_type}")
        refused = _not_granted(granted, [resource_type])
        if refused is not None:
            return refused
        try:
            stored = store.create(body, granted.patient)
        except StoreError as error:
            return _problem(error.status, error.code, error.diagnostics)
        response = _fhir(stored, 201)
        response.headers["Location"] = f"{_fhir_base()}/{resource_type}/{stored['id']}"
        return response

    @app.post(FHIR_PATH)
    @app.post(FHIR_PATH + "/")
    def transaction() -> ResponseReturnValue:
        granted = _bearer(ehr)
        if isinstance(granted, Response):
            return granted
        body = request.get_json(silent=True)
        entries = body.get("entry") if isinstance(body, dict) else None
        kinds = [
            str(entry["resource"].get("resourceType"))
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
        ]
        refused = _not_granted(granted, kinds)  # as a strict EHR: the whole transaction
        if refused is not None:
            return refused
        try:
            answer = store.transaction(body if isinstance(body, dict) else {}, granted.patient)
        except StoreError as error:
            return _problem(error.status, error.code, error.diagnostics)
        return _fhir(answer)

    return app


def _query_client(ehr: DevEhr) -> Any:
    def query(client_id: str) -> Client | None:
        return ehr.client if client_id == ehr.client.client_id else None

    return query


def _saver(ehr: DevEhr) -> Any:
    def save(token: Mapping[str, Any], req: Any) -> None:
        code = req.authorization_code
        ehr.tokens[token["access_token"]] = Token(
            patient=code.patient,
            user=code.user,
            scope=str(token.get("scope", "")),
            expires_at=time.time() + float(token.get("expires_in", TOKEN_LIFETIME_S)),
        )

    return save


def _bearer(ehr: DevEhr) -> Token | Response:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    found = ehr.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
    if found is None or found.expires_at < time.time():
        response = _problem(401, "security", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return found


def _not_granted(token: Token, kinds: list[str]) -> Response | None:
    """A 403 when the token's scope does not let it create one of `kinds`."""
    for kind in dict.fromkeys(kinds):
        if not may_create(token.scope, kind):
            return _problem(403, "forbidden", f"the token does not grant patient/{kind}.c")
    return None


def _visible(resource: Mapping[str, Any], patient: str) -> bool:
    """The patient compartment (and the shared Practitioner and Questionnaire)."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        return resource.get("id") == patient
    if kind in {"Practitioner", "Questionnaire"}:
        return True
    subject = resource.get("subject")
    return isinstance(subject, dict) and subject.get("reference") == f"Patient/{patient}"


def _fhir(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.mimetype = FHIR_JSON
    return response


def _problem(status: int, code: str, diagnostics: str) -> Response:
    return _fhir(outcome(code, diagnostics), status)


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>calf-cds dev EHR</title></head>
<body>
<h1>calf-cds development EHR</h1>
<p>Loopback only, for testers. Registered app: {{ app_base }}. Launch the red-flag check for a
sample patient (or press a card's link in the calf-cds console):</p>
<ul>
{% for patient in patients %}
<li><a href="/launch?patient={{ patient.id | urlencode }}">{{ patient.id }}</a>
{%- if samples.get(patient.id) %}: {{ samples[patient.id] }}{% endif %}</li>
{% endfor %}
</ul>
</body></html>
"""


def serve(
    *,
    host: str,
    port: int,
    app_base: str,
    client_id: str,
    user: str,
    samples_dir: Path | None,
    fhir_base: str,
) -> int:
    """Run the dev EHR until interrupted (loopback addresses only)."""
    from werkzeug.serving import make_server

    if not is_loopback(host):
        raise ValueError(f"the dev EHR listens on loopback only, not {host!r}")
    app = create_dev_ehr(
        app_base=app_base,
        client_id=client_id,
        user=user,
        samples_dir=samples_dir,
        fhir_base=fhir_base,
    )
    server = make_server(host, port, app, threaded=True)
    # werkzeug's request lines carry patient ids and launch codes in their URLs: keep them out
    # of the log stream `make run` shares with the service's PHI-free JSON logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(
        f"calf-cds dev EHR on http://{host}:{server.server_port} (FHIR base "
        f"http://{host}:{server.server_port}{FHIR_PATH}); app {app_base}, client {client_id}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
