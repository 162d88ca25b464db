"""Liveness and readiness: /readyz follows the store; its 503 is an OperationOutcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cds import create_app


def test_healthz_answers_while_the_process_is_up(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_the_store_answers(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readyz_is_503_with_retry_after_when_the_store_is_unreachable(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path / 'no-such-dir' / 'store.sqlite3'}"
    app = create_app({"database_url": unreachable, "auth_mode": "off"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert "store" in outcome["issue"][0]["diagnostics"]
    app.extensions["calf-cds"].store.close()
