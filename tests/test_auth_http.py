"""The JWT guard through the real app (create_app) and a real SQLite store.

cds-hooks.md "Security" and the endpoint table: every endpoint needs the JWT in `required`
mode except CORS preflight, /healthz, /readyz, /metrics, /openapi.json; a failure is a 401
OperationOutcome saying only "unauthorized" with `WWW-Authenticate: Bearer`; the reason is
logged, the token never is; jti replays are caught across app instances sharing a database.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import SAMPLES, fresh_claims, load_json
from conftest_store import query_sql
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from jwt.algorithms import ECAlgorithm
from loopback import FakeFhir, serve
from served import CALF_CDS, free_port, serve_env

from cds import create_app
from cds.config import Settings
from cds.errors import ConfigurationError

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())
JWK = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
ISSUERS = json.dumps({ISS: {"jwks": {"keys": [JWK]}}})
SALT = "a-long-random-secret-for-the-tests"


def token(path: str, *, base: str = BASE, **overrides: Any) -> str:
    claims = fresh_claims(ISS, base + path, **overrides)
    return jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def make_app(database_url: str, **overrides: Any) -> Flask:
    config = {
        "database_url": database_url,
        "auth_mode": "required",
        "trusted_issuers": ISSUERS,
        "public_base_url": BASE,
        "patient_hash_salt": SALT,
        **overrides,
    }
    application = create_app(config)
    return application


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.sqlite3'}"


def migrated_app(database_url: str) -> Iterator[Flask]:
    application = make_app(database_url)
    store = application.extensions["calf-cds"].store
    store.upgrade()
    yield application
    store.close()


@pytest.fixture
def secured(database_url: str) -> Iterator[Flask]:
    yield from migrated_app(database_url)


@pytest.fixture
def cds_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The app's "cds" logger does not propagate to the root: listen on it directly."""
    logger = logging.getLogger("cds")
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.INFO)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


@pytest.mark.requirement("cds-hooks_2.0:176", "cds-hooks_2.0:177")
def test_a_request_without_a_token_is_a_401_operation_outcome(
    secured: Flask, cds_log: pytest.LogCaptureFixture
) -> None:
    response = secured.test_client().get("/cds-services")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "security", "diagnostics": "unauthorized"}],
    }
    assert "no Authorization header" in cds_log.text


@pytest.mark.requirement("cds-hooks_2.0:176", "cds-hooks_2.0:199")
def test_a_valid_token_opens_discovery(secured: Flask) -> None:
    response = secured.test_client().get("/cds-services", headers=bearer(token("/cds-services")))
    assert response.status_code == 200
    assert response.get_json()["services"]


def test_the_reason_is_logged_but_never_the_token(
    secured: Flask, cds_log: pytest.LogCaptureFixture
) -> None:
    bad = token("/cds-services", aud=f"{BASE}/somewhere-else")
    response = secured.test_client().get("/cds-services", headers=bearer(bad))

    assert response.status_code == 401
    assert response.get_json()["issue"][0]["diagnostics"] == "unauthorized"
    assert "aud is not this endpoint" in cds_log.text
    for part in bad.split("."):
        assert part not in cds_log.text


@pytest.mark.requirement("cds-hooks_2.0:177")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("post", "/cds-services/calf-pain-triage", id="service"),
        pytest.param("post", "/cds-services/calf-pain-triage/feedback", id="feedback"),
        pytest.param("post", "/evaluate?service=calf-pain-triage", id="evaluate"),
        pytest.param("get", "/rules", id="rules"),
        pytest.param("get", "/reports/rules", id="reports"),
        pytest.param("get", "/fhir/CodeSystem/finding", id="codesystem"),
    ],
)
def test_every_other_endpoint_needs_the_token(secured: Flask, method: str, path: str) -> None:
    response = getattr(secured.test_client(), method)(path, json={})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_operational_endpoints_need_no_token(secured: Flask, path: str) -> None:
    assert secured.test_client().get(path).status_code != 401


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("get", "/no-such-path", 404, id="unknown-path"),
        pytest.param("get", "/", 404, id="console"),
        pytest.param("get", "/console/rules", 404, id="console-page"),
        pytest.param("get", "/console/static/console.js", 404, id="console-file"),
        pytest.param("get", "/cds-services/calf-pain-triage", 405, id="wrong-method"),
    ],
)
def test_a_path_with_no_page_answers_its_status_without_a_token(
    secured: Flask, method: str, path: str, status: int
) -> None:
    response = getattr(secured.test_client(), method)(path)

    assert response.status_code == status
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_required_mode_leaves_the_console_off_unless_asked_for() -> None:
    assert Settings.load({"auth_mode": "required"}, environ={}).console is False
    assert Settings.load({"auth_mode": "off"}, environ={}).console is True
    asked = Settings.load({"auth_mode": "required"}, environ={"CDS_CONSOLE": "on"})
    assert asked.console is True


def test_a_console_switched_on_in_required_mode_needs_the_token(database_url: str) -> None:
    """cds-hooks.md's endpoint table: the console needs a JWT in required mode."""
    application = make_app(database_url, console=True)
    client = application.test_client()

    assert client.get("/").status_code == 401
    assert client.get("/console/rules").status_code == 401
    assert client.get("/console/static/console.js").status_code == 401
    application.extensions["calf-cds"].store.close()


def test_the_red_flag_questionnaire_needs_no_token(secured: Flask) -> None:
    """The canonical the app's QuestionnaireResponses name; a definition, no patient data."""
    response = secured.test_client().get("/fhir/Questionnaire/calf-red-flag-check")

    assert response.status_code == 200
    assert response.get_json()["resourceType"] == "Questionnaire"


@pytest.mark.parametrize(
    "path",
    ["/cds-services", "/cds-services/calf-pain-triage", "/cds-services/calf-pain-triage/feedback"],
)
def test_options_needs_no_token(secured: Flask, path: str) -> None:
    response = secured.test_client().options(
        path,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert response.status_code == 204


def test_aud_is_the_request_url_when_no_public_base_url_is_set(database_url: str) -> None:
    application = make_app(database_url, public_base_url="")
    application.extensions["calf-cds"].store.upgrade()
    client = application.test_client()

    local = token("/cds-services", base="http://localhost")
    assert client.get("/cds-services", headers=bearer(local)).status_code == 200
    public = token("/cds-services")
    assert client.get("/cds-services", headers=bearer(public)).status_code == 401


def test_a_replay_is_caught_by_another_app_instance_sharing_the_database(
    database_url: str, cds_log: pytest.LogCaptureFixture
) -> None:
    first, second = make_app(database_url), make_app(database_url)
    first.extensions["calf-cds"].store.upgrade()
    once = token("/cds-services")

    assert first.test_client().get("/cds-services", headers=bearer(once)).status_code == 200
    assert second.test_client().get("/cds-services", headers=bearer(once)).status_code == 401
    assert "replayed jti" in cds_log.text


def test_with_the_store_down_tokens_still_work_and_the_service_says_it_is_degraded(
    tmp_path: Path, cds_log: pytest.LogCaptureFixture
) -> None:
    # A database file in a directory that does not exist: every store call is unavailable.
    application = make_app(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
    client = application.test_client()
    once = token("/cds-services")

    assert client.get("/cds-services", headers=bearer(once)).status_code == 200
    assert "degraded: jti replay protection is per-process" in cds_log.text
    assert client.get("/cds-services", headers=bearer(once)).status_code == 401


def test_required_mode_without_trusted_issuers_refuses_to_start(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="CDS_TRUSTED_ISSUERS"):
        make_app(database_url, trusted_issuers="")


def test_off_mode_warns_at_startup_and_lets_requests_through(
    database_url: str, cds_log: pytest.LogCaptureFixture
) -> None:
    application = make_app(database_url, auth_mode="off")
    assert "CDS_AUTH_MODE=off" in cds_log.text
    assert [r.levelname for r in cds_log.records if "CDS_AUTH_MODE=off" in r.getMessage()] == [
        "WARNING"
    ]
    assert application.test_client().get("/cds-services").status_code == 200


def test_the_shipped_sandbox_configuration_loads_from_its_path(database_url: str) -> None:
    sandbox = Path(__file__).resolve().parent.parent / "config" / "sandbox-issuers.json"
    application = make_app(database_url, trusted_issuers=str(sandbox))
    assert application.test_client().get("/cds-services").status_code == 401


# --- claims the store records: refused with a 401, never a 500, on both databases ---


@pytest.fixture
def secured_on(store_url: str) -> Iterator[Flask]:
    """The secured app on a migrated SQLite file or PostgreSQL database."""
    yield from migrated_app(store_url)


@pytest.mark.parametrize(
    "jti",
    [
        pytest.param("half an emoji \ud83d", id="lone-surrogate"),
        pytest.param("nul\x00inside", id="nul"),
        pytest.param("j" * 300, id="over-long"),
    ],
)
def test_a_jti_no_database_can_record_is_401_not_500(
    secured_on: Flask, store_url: str, jti: str
) -> None:
    client = secured_on.test_client()
    response = client.get("/cds-services", headers=bearer(token("/cds-services", jti=jti)))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["issue"] == [
        {"severity": "error", "code": "security", "diagnostics": "unauthorized"}
    ]
    assert query_sql(store_url, "SELECT count(*) FROM jti_records") == [(0,)]


def test_a_token_expiring_in_9999_is_401(secured: Flask) -> None:
    forever = token("/cds-services", exp=253_402_000_000)
    assert secured.test_client().get("/cds-services", headers=bearer(forever)).status_code == 401


def test_the_replay_record_expires_with_the_lifetime_cap(secured_on: Flask, store_url: str) -> None:
    # The EHR's clock a minute ahead, its token valid for the whole cap: the longest-lived
    # token accepted, and its replay record is kept no longer than the cap and the skew allow.
    now = int(time.time())
    once = token("/cds-services", iat=now + 60, exp=now + 360)
    response = secured_on.test_client().get("/cds-services", headers=bearer(once))

    assert response.status_code == 200
    ((expires_at,),) = query_sql(store_url, "SELECT expires_at FROM jti_records")
    if isinstance(expires_at, str):  # SQLite keeps naive UTC text
        expires_at = datetime.fromisoformat(expires_at).replace(tzinfo=UTC)
    assert expires_at.timestamp() - now <= 300 + 2 * 60


# --- the patient-hash salt ---


def test_required_mode_without_a_patient_hash_salt_refuses_to_start(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="needs CDS_PATIENT_HASH_SALT"):
        make_app(database_url, patient_hash_salt="")


def test_required_mode_refuses_a_short_patient_hash_salt(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="a CDS_PATIENT_HASH_SALT of at least 16"):
        make_app(database_url, patient_hash_salt="x" * 15)

    started = make_app(database_url, patient_hash_salt="x" * 16)  # 16 characters start
    started.extensions["calf-cds"].store.close()


def test_required_mode_names_every_missing_setting_at_once(database_url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        make_app(database_url, trusted_issuers="", patient_hash_salt="")

    message = str(refused.value)
    assert message.startswith(
        "CDS_AUTH_MODE=required needs CDS_TRUSTED_ISSUERS (the EHRs whose tokens it accepts) "
        "and CDS_PATIENT_HASH_SALT (a long random secret)"
    )


def test_calf_cds_serve_in_required_mode_without_a_salt_exits_2_and_says_why(
    database_url: str, tmp_path: Path
) -> None:
    env = serve_env(database_url, auth_mode="required", trusted_issuers=ISSUERS)
    result = subprocess.run(
        [str(CALF_CDS), "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert "configuration error: CDS_AUTH_MODE=required needs CDS_PATIENT_HASH_SALT" in (
        result.stderr
    )
    assert not (tmp_path / "calf-cds.sqlite3").exists()


def test_without_a_salt_in_off_mode_the_per_install_salt_still_hashes_alike(
    database_url: str,
) -> None:
    # The development default: a random salt kept in the database, shared by every worker.
    first = make_app(database_url, auth_mode="off", patient_hash_salt="")
    second = make_app(database_url, auth_mode="off", patient_hash_salt="")
    first.extensions["calf-cds"].store.upgrade()
    try:
        hashes = {
            app.extensions["calf-cds"].store.patient_hash("patient-123") for app in (first, second)
        }
    finally:
        for app in (first, second):
            app.extensions["calf-cds"].store.close()
    assert len(hashes) == 1
    # The id has letters a hex digest cannot hold, so this cannot pass or fail by chance.
    assert "patient-123" not in hashes.pop()


AUTHORIZATION = {
    "access_token": "the-ehrs-access-token",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "cds-service",
}
RED_FLAG = "cauda-equina-saddle-anaesthesia-urinary-retention.json"


@pytest.mark.parametrize(
    ("auth_mode", "scheme", "fetched"),
    [
        pytest.param("required", "http", False, id="required-http: never sent"),
        pytest.param("off", "http", True, id="off-http: development, fetched"),
    ],
)
def test_in_production_the_access_token_never_goes_to_an_http_fhir_server(
    database_url: str, auth_mode: str, scheme: str, fetched: bool
) -> None:
    # cds-hooks.md "Request": fhirServer is https in production when fhirAuthorization is there.
    # The call is still answered from its prefetch: a red flag is never dropped for it.
    fake = FakeFhir()
    with serve(fake.app()) as fhir_url:
        assert fhir_url.startswith(f"{scheme}://")
        application = make_app(database_url, auth_mode=auth_mode, fhir_server_allowlist=fhir_url)
        application.extensions["calf-cds"].store.upgrade()
        call = load_json(SAMPLES / RED_FLAG)
        del call["prefetch"]["conditions"]  # one key to fetch
        call |= {"fhirServer": f"{fhir_url}/fhir", "fhirAuthorization": AUTHORIZATION}
        path = "/cds-services/calf-pain-triage"
        headers = bearer(token(path)) if auth_mode == "required" else {}
        try:
            response = application.test_client().post(path, json=call, headers=headers)
        finally:
            application.extensions["calf-cds"].store.close()

    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert cards[0]["source"]["topic"]["code"] == "R-CAUDA-EQUINA"
    assert bool(fake.paths()) is fetched
    if not fetched:
        assert "conditions" in cards[-1]["detail"]  # the info card names the key not read
