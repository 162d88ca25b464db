"""Fixtures of the red-flag check app (issue 20): calf-cds and the dev EHR, both served on
loopback, the app enabled against the EHR, and a browser-like HTTP client.

`smart_world` serves `calf-cds dev-ehr` (its FHIR store loaded from fhir_samples/) and calf-cds
with CDS_SMART_CLIENT_ID set, the EHR's origin on CDS_FHIR_SERVER_ALLOWLIST, the sample clock,
and a session clock the test can move. Registered from tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SAMPLE_CLOCK, SAMPLES, load_json, serving
from flask import Flask

from cds import create_app
from cds.smart.dev_ehr import DevEhr, create_dev_ehr

CLIENT_ID = "calf-cds-dev"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# The incomplete-Wells DVT sample: leg swelling recorded without a side, calf pain.
DVT_SAMPLE = "laterality-side-unknown-swelling-dvt.json"


class FakeClock:
    """Seconds since the epoch, moved by the test (session expiry)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class SmartWorld:
    url: str  # calf-cds
    app: Flask
    ehr_url: str
    ehr_app: Flask
    clock: FakeClock
    session_dir: Path

    @property
    def ehr(self) -> DevEhr:
        ehr: DevEhr = self.ehr_app.extensions["dev-ehr"]
        return ehr

    @property
    def fhir_base(self) -> str:
        return self.ehr_url + "/fhir"

    def browser(self) -> httpx.Client:
        """A client that keeps cookies and follows redirects, and asks for pages."""
        return httpx.Client(follow_redirects=True, timeout=20, headers={"Accept": BROWSER_ACCEPT})

    def hook(self, sample: str = DVT_SAMPLE) -> dict[str, Any]:
        """The sample's hook call answered by calf-cds (its first card)."""
        body = load_json(SAMPLES / sample)
        answer = httpx.post(f"{self.url}/cds-services/calf-pain-triage", json=body, timeout=20)
        assert answer.status_code == 200, answer.text
        card: dict[str, Any] = answer.json()["cards"][0]
        return card

    def launch(
        self, browser: httpx.Client, patient: str, app_context: str | None = None
    ) -> httpx.Response:
        """The EHR launches the app for `patient` (as a card's smart link would)."""
        params = {"patient": patient, "url": f"{self.url}/smart/launch"}
        if app_context is not None:
            params["appContext"] = app_context
        return browser.get(f"{self.ehr_url}/launch", params=params)


def sample_patient(sample: str = DVT_SAMPLE) -> str:
    patient: str = load_json(SAMPLES / sample)["context"]["patientId"]
    return patient


def smart_link(card: dict[str, Any]) -> dict[str, Any]:
    (link,) = [link for link in card.get("links", []) if link["type"] == "smart"]
    return link


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the form has no CSRF field"
    return found.group(1)


def answer_names(page: str) -> list[str]:
    return sorted(set(re.findall(r'name="([^"]+)" value="absent"', page)))


def app_config(tmp: Path, ehr_url: str, clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{tmp / 'smart.sqlite3'}",
        "evaluation_time": SAMPLE_CLOCK,
        "auth_mode": "off",
        "smart_client_id": CLIENT_ID,
        "fhir_server_allowlist": ehr_url,
        "smart_dev_ehr_url": ehr_url,  # the console launches the app through it
        "smart_session_dir": str(tmp / "sessions"),
        "smart_clock": clock,
        **overrides,
    }


@pytest.fixture
def smart_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """calf-cds settings a test changes (parametrise it indirectly)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return overrides


@pytest.fixture
def smart_world(tmp_path: Path, smart_overrides: dict[str, Any]) -> Iterator[SmartWorld]:
    ehr_app = create_dev_ehr(app_base="http://127.0.0.1:9")  # the port is set once served
    clock = FakeClock()
    with serving(ehr_app) as ehr_url:
        application = create_app(app_config(tmp_path, ehr_url, clock, **smart_overrides))
        store = application.extensions["calf-cds"].store
        store.upgrade()
        try:
            with serving(application) as url:
                ehr_app.extensions["dev-ehr"].client.app_base = url
                yield SmartWorld(url, application, ehr_url, ehr_app, clock, tmp_path / "sessions")
        finally:
            store.close()


def written(world: SmartWorld, patient: str) -> list[dict[str, Any]]:
    """The Observations the app wrote for `patient` (the dev EHR stamps created ones)."""
    return [r for r in world.ehr.store.observations_of(patient) if "meta" in r]


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)
