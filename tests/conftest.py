"""Shared fixtures: settings, app, test client, and a live server on loopback (real HTTP)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from cds import create_app

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "fhir_samples"
# Public data the tests read (Synthea bundles, the Inferno requirement rows, the sandbox key
# set, ...), vendored with its source and licence: tests/data/README.md.
TEST_DATA = REPO / "tests" / "data"
SYNTHEA = TEST_DATA / "synthea"
# fhir_samples/ are dated around this instant; the golden tests evaluate at it.
SAMPLE_CLOCK = "2026-11-25T12:00:00Z"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def fresh_claims(iss: str, aud: str, /, **overrides: Any) -> dict[str, Any]:
    """JWT claims the service accepts: issued now, valid for 5 minutes, a new jti."""
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return {**claims, **overrides}


def prefetch_as_bundle(body: dict[str, Any]) -> dict[str, Any]:
    """A CDS Hooks request's prefetch as one collection Bundle (the `/evaluate` testers' path)."""
    resources: list[Any] = []
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            resources.extend(entry.get("resource") for entry in value.get("entry", []))
        elif value is not None:
            resources.append(value)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in resources],
    }


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}"


@pytest.fixture
def app_config(sqlite_url: str) -> dict[str, Any]:
    return {"database_url": sqlite_url, "evaluation_time": SAMPLE_CLOCK, "auth_mode": "off"}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(app_config)
    runtime = application.extensions["calf-cds"]
    runtime.store.upgrade()
    yield application
    runtime.store.close()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@dataclass
class LiveServer:
    url: str
    app: Flask

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)


@contextmanager
def serving(application: Flask) -> Iterator[str]:
    """`application` served threaded on an ephemeral loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, application, threaded=True)
    # A short poll interval so shutdown() returns promptly at teardown.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served over real HTTP on an ephemeral loopback port."""
    with serving(app) as url:
        yield LiveServer(url=url, app=app)


# The store's fixtures: a real PostgreSQL server and the sqlite/postgresql parametrisation;
# the fuzz tests' Hypothesis profiles and their case counts; the SMART app and its dev EHR.
pytest_plugins = ["conftest_store", "fuzzing", "conftest_smart"]
