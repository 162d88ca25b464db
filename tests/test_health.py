"""Liveness and readiness: /readyz is 200 only while the store takes a write; its 503 is an
OperationOutcome with Retry-After."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest_store import execute_sql, fill_filesystem, mounted
from flask import Flask

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


# --- /readyz is 503 whenever the store cannot take a write (issue 18.3) ---


def not_ready(response: Any) -> bool:
    outcome = response.get_json()
    return (
        response.status_code == 503
        and response.headers["Retry-After"] == "5"
        and outcome["issue"][0]["code"] == "transient"
        and outcome["issue"][0]["diagnostics"] == "not ready: the store cannot take a write"
    )


def test_readyz_is_503_until_the_tables_exist_and_again_when_one_is_dropped(
    store_url: str,
) -> None:
    app = create_app({"database_url": store_url, "auth_mode": "off"})
    client = app.test_client()
    store = app.extensions["calf-cds"].store
    try:
        assert not_ready(client.get("/readyz"))
        store.upgrade()
        assert client.get("/readyz").status_code == 200
        execute_sql(store_url, "DROP TABLE jti_records")
        assert not_ready(client.get("/readyz"))
    finally:
        store.close()


def test_readyz_is_503_while_the_sqlite_file_is_gone_and_200_once_it_is_back(
    app: Flask, client: Any, sqlite_url: str, tmp_path: Path
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    assert client.get("/readyz").status_code == 200

    path.rename(tmp_path / "aside.sqlite3")
    assert not_ready(client.get("/readyz"))
    assert not path.exists()

    (tmp_path / "aside.sqlite3").rename(path)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_while_the_disk_is_full() -> None:
    with mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs") as disk:
        app = create_app(
            {"database_url": f"sqlite:///{disk / 'store.sqlite3'}", "auth_mode": "off"}
        )
        store = app.extensions["calf-cds"].store
        try:
            store.upgrade()
            client = app.test_client()
            assert client.get("/readyz").status_code == 200
            filler = fill_filesystem(disk)
            assert not_ready(client.get("/readyz"))
            filler.unlink()
            assert client.get("/readyz").status_code == 200
        finally:
            store.close()
