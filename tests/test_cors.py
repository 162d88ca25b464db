"""CORS for browser-based CDS clients such as the public CDS Hooks sandbox (issue 5 item 3).

Preflight is answered without authentication on every endpoint; allowed origins come from
CDS_CORS_ORIGINS (`*` = any, empty = no CORS headers at all); responses vary by Origin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds import create_app

SANDBOX = "https://sandbox.cds-hooks.org"
PREFLIGHT = {
    "Origin": SANDBOX,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}
ENDPOINTS = [
    "/cds-services",
    "/cds-services/calf-pain-triage",
    "/cds-services/calf-pain-triage/feedback",
    "/evaluate",
]


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    config = {
        "database_url": f"sqlite:///{tmp_path / 'cors.sqlite3'}",
        "auth_mode": "required",
        "patient_hash_salt": "cors-test-salt-0123456789",
        "trusted_issuers": json.dumps({"https://ehr.example.org": {"jwks": {"keys": []}}}),
        "public_base_url": "https://cds.example.org",
        **overrides,
    }
    return create_app(config)


@pytest.mark.requirement("cds-hooks_2.0:208")
@pytest.mark.parametrize("path", ENDPOINTS)
def test_preflight_is_answered_without_authentication(tmp_path: Path, path: str) -> None:
    response = make_app(tmp_path).test_client().options(path, headers=PREFLIGHT)

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.requirement("cds-hooks_2.0:208")
def test_a_listed_origin_is_echoed(tmp_path: Path) -> None:
    application = make_app(tmp_path, cors_origins=f"{SANDBOX}, https://ehr.example.org")
    response = application.test_client().options("/cds-services", headers=PREFLIGHT)

    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert "Origin" in response.headers["Vary"]


def test_an_unlisted_origin_gets_no_cors_permission(tmp_path: Path) -> None:
    application = make_app(tmp_path, cors_origins="https://ehr.example.org")
    response = application.test_client().options("/cds-services", headers=PREFLIGHT)

    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_no_configured_origins_means_no_cors_headers(tmp_path: Path) -> None:
    application = make_app(tmp_path, cors_origins="")
    client = application.test_client()

    preflight = client.options("/cds-services", headers=PREFLIGHT)
    assert not [h for h in preflight.headers if h[0].startswith("Access-Control-")]
    # Not a CORS preflight any more, but still no authentication for OPTIONS.
    assert preflight.status_code != 401


@pytest.mark.requirement("cds-hooks_2.0:208")
def test_a_401_is_readable_by_the_browser(tmp_path: Path) -> None:
    response = make_app(tmp_path).test_client().get("/cds-services", headers={"Origin": SANDBOX})

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]


def test_a_same_origin_request_gets_no_allow_origin_but_still_varies(tmp_path: Path) -> None:
    response = make_app(tmp_path).test_client().get("/healthz")

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]
