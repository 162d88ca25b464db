"""Red-team findings on the protocol surface: real clients and hostile callers.

Each test pins one answer that used to break cds-hooks.md "Errors" (a 5xx, or a non-OperationOutcome
body): every non-2xx answer is an OperationOutcome with the documented status.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import SAMPLES, fresh_claims, load_json
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from jwt.algorithms import ECAlgorithm
from loopback import serve
from served import Served, calf_cds_serve, serve_env

from cds import create_app

SERVICE = "/cds-services/calf-pain-triage"
FEEDBACK = SERVICE + "/feedback"

# The sandbox's shape (ES384, kid + jku), signed with a key of our own under its issuer name.
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
BASE = "https://cds.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())
JWK = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": SANDBOX_KID, "alg": "ES384"}
ISSUERS = json.dumps({SANDBOX_ISS: {"jwks": {"keys": [JWK]}, "jku_allowlist": [SANDBOX_JKU]}})


def hook_request() -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://launch.smarthealthit.org/v/r4/fhir",
        "context": {"userId": "Practitioner/COREPRACTITIONER1", "patientId": "p1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"},
            "observations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        },
    }


def sandbox_token(path: str, **claims: Any) -> str:
    payload = fresh_claims(SANDBOX_ISS, BASE + path, **claims)
    headers = {"kid": SANDBOX_KID, "typ": "JWT", "jku": SANDBOX_JKU}
    return jwt.encode(payload, KEY, algorithm="ES384", headers=headers)


def assert_outcome(status: int, code: str, actual_status: int, body: bytes) -> None:
    assert actual_status == status, body[:500]
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["code"] == code
    assert b"Traceback" not in body


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Flask]:
    application = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'redteam.sqlite3'}",
            "auth_mode": "required",
            "patient_hash_salt": "redteam-test-salt",
            "trusted_issuers": ISSUERS,
            "public_base_url": BASE + "/",
        }
    )
    store = application.extensions["calf-cds"].store
    store.upgrade()
    yield application
    store.close()


def test_a_sandbox_shaped_token_with_a_trailing_slash_public_base_url_is_accepted(
    secured: Flask,
) -> None:
    response = secured.test_client().post(
        SERVICE,
        json=hook_request(),
        headers={"Authorization": f"Bearer {sandbox_token(SERVICE)}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "exp",
    [
        pytest.param(10**30, id="an exp far beyond year 9999"),
        pytest.param(1e308, id="an exp near the float maximum"),
        pytest.param(10**400, id="an exp too large for a float"),
        pytest.param(float("nan"), id="an exp of NaN"),
        pytest.param(float("inf"), id="an exp of Infinity"),
    ],
)
def test_a_signed_token_with_an_unrepresentable_exp_is_a_401_not_a_500(
    secured: Flask, exp: Any
) -> None:
    response = secured.test_client().post(
        SERVICE,
        json=hook_request(),
        headers={"Authorization": f"Bearer {sandbox_token(SERVICE, exp=exp)}"},
    )
    assert_outcome(401, "security", response.status_code, response.get_data())
    assert response.headers["WWW-Authenticate"] == "Bearer"


def _issued_card(client: Any) -> dict[str, Any]:
    response = client.post(SERVICE, json=hook_request())
    assert response.status_code == 200, response.get_data(as_text=True)
    card: dict[str, Any] = response.get_json()["cards"][0]
    return card


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param("9999-12-31T23:59:59-01:00", id="a last-day timestamp past year 9999 in UTC"),
        pytest.param("0001-01-01T00:00:00+01:00", id="a first-day timestamp before year 1 in UTC"),
    ],
)
def test_feedback_whose_outcome_timestamp_leaves_the_datetime_range_in_utc_is_a_400(
    client: Any, timestamp: str
) -> None:
    body = {
        "feedback": [
            {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": timestamp}
        ]
    }
    response = client.post(FEEDBACK, json=body)
    assert_outcome(400, "invalid", response.status_code, response.get_data())
    assert "feedback[0].outcomeTimestamp" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(str.upper, id="the card uuid in upper case"),
        pytest.param(lambda value: "{" + value + "}", id="the card uuid in braces"),
        pytest.param(lambda value: "urn:uuid:" + value, id="the card uuid as a urn"),
    ],
)
def test_feedback_naming_an_issued_card_in_another_uuid_spelling_is_matched(
    client: Any, spelling: Any
) -> None:
    card = _issued_card(client)
    body = {
        "feedback": [
            {
                "card": spelling(card["uuid"]),
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-25T12:00:00Z",
            }
        ]
    }
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"stored": 1, "duplicates": 0, "unmatched": 0}


def test_accepted_feedback_naming_a_suggestion_uuid_in_upper_case_is_matched(client: Any) -> None:
    sample = load_json(SAMPLES / "dvt-wells-complete-unlikely.json")
    cards = client.post(SERVICE, json=sample).get_json()["cards"]
    card = next(card for card in cards if card.get("suggestions"))
    suggestion = card["suggestions"][0]["uuid"]
    body = {
        "feedback": [
            {
                "card": card["uuid"].upper(),
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion.upper()}],
                "outcomeTimestamp": "2026-11-25T12:00:00.250+01:00",
            }
        ]
    }
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"stored": 1, "duplicates": 0, "unmatched": 0}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param(
            "POST", "/cds-services//calf-pain-triage", id="a service call with a doubled slash"
        ),
        pytest.param(
            "POST", "/cds-services/calf-pain-triage//feedback", id="feedback with a doubled slash"
        ),
        pytest.param(
            "OPTIONS", "/cds-services//calf-pain-triage", id="OPTIONS with a doubled slash"
        ),
    ],
)
def test_a_path_with_a_doubled_slash_is_a_404_operation_outcome_not_an_html_redirect(
    client: Any, method: str, path: str
) -> None:
    response = client.open(path, method=method, json=hook_request())
    assert_outcome(404, "not-found", response.status_code, response.get_data())


# --- the production server (gunicorn) refusing a request before the app sees it ---


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("redteam-served")
    env = serve_env(f"sqlite:///{workdir / 'served.sqlite3'}")
    with calf_cds_serve(env, workdir, workers=1) as running:
        yield running


def _raw_exchange(served: Served, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = (line.partition(":") for line in lines[1:])
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    return status, headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"GET /cds-services HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 60000 + b"\r\n\r\n",
            431,
            id="a header value of 60,000 bytes",
        ),
        pytest.param(
            b"GET /cds-services/" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            id="a request line of 5,000 bytes",
        ),
        pytest.param(
            b"GET /cds-services HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
            400,
            id="a header name with a space",
        ),
    ],
)
def test_the_production_server_refuses_an_unparseable_request_with_an_operation_outcome(
    served: Served, request_bytes: bytes, status: int
) -> None:
    actual, headers, body = _raw_exchange(served, request_bytes)
    assert actual == status, body[:300]
    assert headers["content-type"].startswith("application/json")
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert b"<html" not in body.lower()


def test_the_production_server_answers_a_7k_bearer_token_through_the_app(served: Served) -> None:
    response = httpx.post(
        served.url + SERVICE,
        json=hook_request(),
        headers={"Authorization": "Bearer " + "a" * 7000},
        timeout=10,
    )
    assert response.status_code == 200  # CDS_AUTH_MODE=off: the header is simply ignored


def _signed(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ES384 JWS over exactly these header and claims (PyJWT refuses odd header values)."""

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (
        segment(json.dumps(header).encode()) + "." + segment(json.dumps(claims).encode())
    )
    signature = ECAlgorithm(ECAlgorithm.SHA384).sign(signing_input.encode(), KEY)
    return signing_input + "." + segment(signature)


@pytest.mark.parametrize(
    "odd_header",
    [
        pytest.param({"jku": [SANDBOX_JKU]}, id="a jku header that is a list"),
        pytest.param({"jku": {"url": SANDBOX_JKU}}, id="a jku header that is an object"),
        pytest.param({"alg": ["ES384"]}, id="an alg header that is a list"),
        pytest.param({"alg": {"name": "ES384"}}, id="an alg header that is an object"),
    ],
)
def test_a_signed_token_with_a_header_field_of_the_wrong_json_type_is_a_401_not_a_500(
    secured: Flask, odd_header: dict[str, Any]
) -> None:
    claims = fresh_claims(SANDBOX_ISS, BASE + SERVICE)
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU, **odd_header}
    response = secured.test_client().post(
        SERVICE, json=hook_request(), headers={"Authorization": f"Bearer {_signed(header, claims)}"}
    )
    assert_outcome(401, "security", response.status_code, response.get_data())


def test_an_unsigned_token_with_a_deeply_nested_payload_is_a_401_not_a_500(secured: Flask) -> None:
    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = segment(json.dumps({"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID}).encode())
    payload = segment(b'{"iss":' + b"[" * 3000 + b"]" * 3000 + b"}")
    response = secured.test_client().post(
        SERVICE, json=hook_request(), headers={"Authorization": f"Bearer {header}.{payload}.AAAA"}
    )
    assert_outcome(401, "security", response.status_code, response.get_data())


def test_another_patients_absences_never_cancel_this_patients_emergency(tmp_path: Path) -> None:
    """Attack pass: the ALI sample with its two red-flag Observations copied under another
    patient, later and recorded absent. Latest-wins must not let them cancel the emergency,
    nor may they be cited on it."""
    request = load_json(SAMPLES / "acute-limb-ischaemia-cold-pulseless-right-foot.json")
    entries = request["prefetch"]["observations"]["entry"]
    for entry in list(entries[1:3]):
        copied = json.loads(json.dumps(entry))
        copied["resource"].update(
            id=copied["resource"]["id"] + "-other",
            subject={"reference": "Patient/someone-else"},
            effectiveDateTime="2026-11-25T11:00:00Z",
            valueBoolean=False,
        )
        entries.append(copied)
    application = create_app(
        {"database_url": f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}", "auth_mode": "off"}
    )
    application.extensions["calf-cds"].store.upgrade()

    with serve(application) as url:
        answer = httpx.post(url + SERVICE, json=request, timeout=10)

    assert answer.status_code == 200
    cards = answer.json()["cards"]
    assert (cards[0]["indicator"], cards[0]["source"]["topic"]["code"]) == ("critical", "R-ALI")
    cited = {
        item["reference"]
        for card in cards
        for item in card["extension"]["example.calf-cds"].get("evidence", [])
    }
    assert not any(reference.endswith("-other") for reference in cited)
