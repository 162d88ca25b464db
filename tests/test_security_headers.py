"""Security headers on every route the app serves (issue 7, item 5).

Routes are enumerated from the app's URL map, so a page added later is checked without editing
this file. HTML pages: a Content-Security-Policy whose scripts cannot be inline (unless each
inline script is hashed in the policy), `frame-ancestors 'none'`, and `nosniff`. Every other
answer, errors included (400, 401, 404, 405, 412, 413, 415, 503), carries `nosniff` too.
tests/test_console.py pins the exact policy of the two console pages; this module checks the
properties on whatever the app serves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, load_json
from flask import Flask

from cds import create_app

# Values for the URL map's path variables, so every rule can be requested.
PATH_VALUES = {
    "service_id": "calf-pain-triage",
    "name": "finding",
    "filename": "console.js",
}
SAMPLE_NAME = "dvt-unilateral-swelling-wells-likely.json"
# Script types a browser does not execute (data blocks): CSP does not govern them.
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json", "text/template"}


def get_urls(app: Flask) -> list[str]:
    """A concrete URL for every GET rule of the app."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        values = {arg: PATH_VALUES.get(arg, "x") for arg in rule.arguments}
        if rule.rule.startswith("/console/samples/"):
            values["name"] = SAMPLE_NAME
        url = rule.rule
        for arg, value in values.items():
            url = re.sub(rf"<(?:[a-z]+:)?{arg}>", value, url)
        urls.append(url)
    return sorted(set(urls))


def fetch(client: Any, url: str) -> Any:
    """GET `url`, the body read and the response closed (static files are streamed)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        tokens = part.split()
        if tokens:
            directives[tokens[0].lower()] = tokens[1:]
    return directives


def inline_scripts(html: str) -> list[str]:
    """The bodies of the inline scripts a browser would execute."""
    bodies = []
    for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I):
        if re.search(r"\bsrc\s*=", attributes, flags=re.I):
            continue
        kind = re.search(r"\btype\s*=\s*[\"']?([^\"'\s>]+)", attributes, flags=re.I)
        if kind and kind.group(1).lower() in DATA_SCRIPT_TYPES:
            continue
        bodies.append(body)
    return bodies


def sha256_source(body: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def test_the_route_enumeration_covers_the_console_pages(app: Flask) -> None:
    urls = get_urls(app)
    assert {"/", "/console/rules", "/cds-services", "/openapi.json"} <= set(urls)


def test_every_html_page_has_a_strict_content_security_policy(client: Any, app: Flask) -> None:
    html_pages = []
    for url in get_urls(app):
        response = fetch(client, url)
        if response.mimetype != "text/html":
            continue
        html_pages.append(url)
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        policy = csp_directives(response.headers["Content-Security-Policy"])
        scripts = policy.get("script-src", policy.get("default-src"))
        assert scripts is not None, url
        assert "'unsafe-eval'" not in scripts, url
        assert "*" not in scripts, url
        assert policy.get("frame-ancestors") == ["'none'"], url
        assert policy.get("object-src", policy.get("default-src")) in (["'none'"], ["'self'"])
        hashed = {source for source in scripts if source.startswith("'sha256-")}
        if "'unsafe-inline'" in scripts:
            # CSP 3 ignores 'unsafe-inline' once a hash or nonce is present; without one it
            # would let any injected script run.
            assert hashed, f"{url}: 'unsafe-inline' scripts without hashes"
        body = response.get_data(as_text=True)
        for script in inline_scripts(body):
            assert sha256_source(script) in hashed, f"{url}: an inline script is not hashed"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", body, flags=re.I), url
    assert {"/", "/console/rules"} <= set(html_pages)


def test_every_get_route_answers_with_nosniff(client: Any, app: Flask) -> None:
    for url in get_urls(app):
        response = fetch(client, url)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url


ONE_FEEDBACK = {
    "feedback": [
        {
            "card": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-25T12:00:00Z",
        }
    ]
}


def post_json(client: Any, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_error_answers_carry_nosniff_and_are_json(
    client: Any, app_config: dict[str, Any], tmp_path: Path
) -> None:
    sample = load_json(SAMPLES / SAMPLE_NAME)
    small = create_app({**app_config, "max_body_bytes": 100}).test_client()
    down = create_app({"database_url": f"sqlite:///{tmp_path / 'no' / 'such.db'}"}).test_client()
    answers = {
        400: post_json(client, "/cds-services/calf-pain-triage", {"hook": "x"}),
        404: client.get("/no/such/page"),
        405: client.put("/cds-services"),
        412: post_json(client, "/cds-services/calf-pain-triage", {**sample, "prefetch": {}}),
        413: post_json(small, "/cds-services/calf-pain-triage", sample),
        415: client.post("/cds-services/calf-pain-triage", data="{}", content_type="text/html"),
        503: post_json(down, "/cds-services/calf-pain-triage/feedback", ONE_FEEDBACK),
    }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.get_data(as_text=True))
        assert response.mimetype == "application/json", status
        assert response.headers["X-Content-Type-Options"] == "nosniff", status
        assert response.get_json()["resourceType"] == "OperationOutcome", status


@pytest.mark.parametrize("path", ["/cds-services", "/rules", "/reports/rules"])
def test_a_401_carries_nosniff_too(tmp_path: Path, path: str) -> None:
    issuers = json.dumps({"https://ehr.example.org": {"jwks": {"keys": []}}})
    secured = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "auth_mode": "required",
            "patient_hash_salt": "security-headers-test-salt",
            "trusted_issuers": issuers,
        }
    )
    response = secured.test_client().get(path)
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/json"
