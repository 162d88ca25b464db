"""The console pages over HTTP: on/off, samples without path traversal, security headers, the
rules page with its chart, and a script that never turns strings into markup."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SAMPLE_CLOCK, SAMPLES, load_json
from flask import Flask
from markupsafe import escape

from cds import create_app
from cds.core.describe import catalog as rule_descriptions
from cds.errors import StoreUnavailable
from cds.http.headers import CONTENT_SECURITY_POLICY

DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely.json"
CONSOLE_PATHS = [
    "/",
    "/console/rules",
    "/console/samples",
    f"/console/samples/{DVT_SAMPLE}",
    "/console/static/console.js",
    "/console/static/console.css",
    "/static/console.js",
]


def test_console_page_lists_services_and_samples(client: Any) -> None:
    response = client.get("/")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'value="calf-pain-triage"' in html
    assert 'value="calf-pain-triage-encounter"' in html
    assert f'value="{DVT_SAMPLE}"' in html
    assert "/console/static/console.js" in html


@pytest.mark.parametrize("path", ["/", "/console/rules"])
def test_html_pages_carry_the_security_headers(client: Any, path: str) -> None:
    response = client.get(path)

    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/", "/console/rules"])
def test_html_pages_have_no_inline_script_style_or_cdn(client: Any, path: str) -> None:
    html = client.get(path).get_data(as_text=True)

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    for attributes, body in scripts:
        assert "src=" in attributes or 'type="application/json"' in attributes
        assert "src=" in attributes or body.strip().startswith("{")
    assert not re.search(r"\sstyle\s*=", html)
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"\ssrc=\"(https?:)?//", html)  # nothing loaded from elsewhere
    assert not re.search(r"<link[^>]*href=\"(https?:)?//", html)


@pytest.mark.parametrize(
    "path", ["/cds-services", "/rules", "/healthz", "/no-such-path", "/openapi.json"]
)
def test_json_answers_are_nosniff(client: Any, path: str) -> None:
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_console_script_never_builds_markup_from_strings() -> None:
    script = (REPO / "cds" / "static" / "console.js").read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/", "", script, flags=re.S)  # the contract comment names them

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in code
    assert "new Function" not in code


def test_sample_is_served_as_stored(client: Any) -> None:
    response = client.get(f"/console/samples/{DVT_SAMPLE}")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == load_json(SAMPLES / DVT_SAMPLE)
    assert DVT_SAMPLE in client.get("/console/samples").get_json()["samples"]


@pytest.fixture
def samples_with_secret(tmp_path: Path) -> Path:
    """A samples directory, a secret file beside it and a symlink pointing out of it."""
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "ok.json").write_text('{"resourceType": "Bundle"}', encoding="utf-8")
    (samples / "notes.txt").write_text("not a sample", encoding="utf-8")
    (tmp_path / "secret.json").write_text('{"secret": true}', encoding="utf-8")
    (samples / "link.json").symlink_to(tmp_path / "secret.json")
    return samples


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("..%2Fsecret.json", id="encoded-slash"),
        pytest.param("../secret.json", id="dot-dot"),
        pytest.param("%2e%2e%2fsecret.json", id="encoded-dots"),
        pytest.param("..%5Csecret.json", id="backslash"),
        pytest.param("%2Fetc%2Fpasswd", id="absolute"),
        pytest.param("link.json", id="symlink-out"),
        pytest.param("notes.txt", id="not-json"),
        pytest.param("missing.json", id="missing"),
    ],
)
def test_sample_names_cannot_reach_other_files(
    app_config: dict[str, Any], samples_with_secret: Path, name: str
) -> None:
    application = create_app({**app_config, "samples_dir": str(samples_with_secret)})
    client = application.test_client()

    response = client.get(f"/console/samples/{name}")

    assert response.status_code == 404
    assert b'"secret": true' not in response.data
    assert client.get("/console/samples").get_json() == {"samples": ["ok.json"]}


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_console_off_answers_404_everywhere(app_config: dict[str, Any], path: str) -> None:
    client = create_app({**app_config, "console": "off"}).test_client()

    response = client.get(path)

    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_console_off_leaves_the_api_up(app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "console": "off"}).test_client()

    assert client.get("/cds-services").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_console_is_on_by_default_and_off_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, app_config: dict[str, Any]
) -> None:
    assert create_app(app_config).test_client().get("/").status_code == 200
    monkeypatch.setenv("CDS_CONSOLE", "off")
    assert create_app(app_config).test_client().get("/").status_code == 404


# --- the rules page ------------------------------------------------------------------------


def route_cell(row: str) -> str:
    """The route keys of a rules-table row as read: "mscc, emergency" (each key is a <code>)."""
    cell = re.search(r'<td data-label="Route" class="routes">(.*?)</td>', row, re.S)
    assert cell is not None
    return re.sub(r"</?code>", "", cell.group(1))


def test_rules_page_lists_every_rule_with_tier_route_and_source(client: Any) -> None:
    html = client.get("/console/rules").get_data(as_text=True)

    described = rule_descriptions()
    assert len(described) == 30
    for rule in described:
        row = re.search(rf'<tr data-rule="{re.escape(rule.id)}">(.*?)</tr>', html, re.S)
        assert row is not None, rule.id
        assert f">{rule.tier}<" in row.group(1)
        assert route_cell(row.group(1)) == ", ".join(rule.routes)
        assert str(escape(rule.name)) in row.group(1)
        assert str(escape(rule.source)) in row.group(1)
        if rule.url:
            assert f'href="{rule.url}"' in row.group(1)


@pytest.mark.parametrize(
    ("rule_id", "tier", "routes"),
    [
        pytest.param("R-PE-SIGN", "U", "none", id="pe-sign"),
        pytest.param("R-ISCHAEMIA-SIGN", "U", "none", id="ischaemia-sign"),
        pytest.param("R-DVT-UNLIKELY", "R", "none", id="dvt-unlikely"),
        pytest.param("R-SPINAL-RED-FLAG", "U", "mscc, emergency", id="spinal-mscc"),
    ],
)
def test_rules_page_shows_the_2026_2_rules_and_routes(
    client: Any, rule_id: str, tier: str, routes: str
) -> None:
    html = client.get("/console/rules").get_data(as_text=True)

    row = re.search(rf'<tr data-rule="{rule_id}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert f'<span class="tier tier-{tier.lower()}">{tier}</span>' in row.group(1)
    assert route_cell(row.group(1)) == routes
    assert "Rules &middot; calf-cds 2026.2" in html


def _issue_and_decide(client: Any, outcome: str) -> None:
    request = load_json(SAMPLES / DVT_SAMPLE)
    cards = client.post("/cds-services/calf-pain-triage", json=request).get_json()["cards"]
    card = next(
        c for c in cards if c["extension"]["example.calf-cds"].get("ruleId") == "R-DVT-PATHWAY"
    )
    entry: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": outcome,
        "outcomeTimestamp": SAMPLE_CLOCK,
    }
    if outcome == "accepted":
        entry["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        entry["overrideReason"] = {"reason": card["overrideReasons"][0]}
    answer = client.post("/cds-services/calf-pain-triage/feedback", json={"feedback": [entry]})
    assert answer.status_code == 200


def test_rules_page_shows_counts_and_an_override_rate_bar(client: Any) -> None:
    _issue_and_decide(client, "accepted")
    _issue_and_decide(client, "overridden")
    _issue_and_decide(client, "overridden")
    _issue_and_decide(client, "overridden")

    html = client.get("/console/rules").get_data(as_text=True)

    row = re.search(r'<tr data-rule="R-DVT-PATHWAY">(.*?)</tr>', html, re.S)
    assert row is not None
    numbers = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row.group(1))
    assert numbers == ["4", "1", "3", "75%"]
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert chart is not None
    bar = re.search(r'<rect [^>]*width="([\d.]+)"[^>]*data-rule="R-DVT-PATHWAY"', chart.group(0))
    assert bar is not None
    assert float(bar.group(1)) == pytest.approx(0.75 * 360)
    assert "75% (3 of 4)" in chart.group(0)


def test_rules_page_without_outcomes_has_no_bars(client: Any) -> None:
    html = client.get("/console/rules").get_data(as_text=True)

    assert 'data-testid="no-outcomes"' in html
    assert "<rect" not in html


class DownStore:
    """A store whose database is unreachable (a fake: the same answers the real one gives)."""

    def patient_hash(self, patient_id: str) -> str:
        return "h"

    def record_issued(self, cards: Any) -> None:
        raise StoreUnavailable()

    def report(self, since: datetime | None = None) -> Any:
        raise StoreUnavailable("the feedback store is unavailable; retry later")

    def ping(self) -> bool:
        return False

    def close(self) -> None:
        pass


@pytest.fixture
def app_with_store_down(app_config: dict[str, Any]) -> Flask:
    return create_app({**app_config, "store": DownStore()})


def test_rules_page_renders_when_the_store_is_down(app_with_store_down: Flask) -> None:
    response = app_with_store_down.test_client().get("/console/rules")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="counts-unavailable"' in html
    assert "Counts are unavailable" in html
    for rule in rule_descriptions():
        assert f'data-rule="{rule.id}"' in html


def test_console_page_renders_when_the_store_is_down(app_with_store_down: Flask) -> None:
    assert app_with_store_down.test_client().get("/").status_code == 200
