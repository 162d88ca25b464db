"""`GET /metrics`: counters move with real requests, in one process and summed over gunicorn
workers (prometheus-client multiprocess mode set up by `calf-cds serve`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from conftest import SAMPLES, load_json
from prometheus_client.parser import text_string_to_metric_families
from served import Served, calf_cds_serve, serve_env

from cds import create_app
from cds.fhir.bundle import flatten
from cds.fhir.fetch import FetchOutcome

DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely.json"
SERVICE_ROUTE = "/cds-services/<service_id>"


def scrape(client: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The /metrics samples as {(name, labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.text if hasattr(response, "text") else response.get_data(as_text=True)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    """Sum of `name` over every label set that includes `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_is_prometheus_text(client: Any) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE calf_cds_requests_total counter" in response.data


def test_a_service_call_moves_requests_latency_and_cards(client: Any) -> None:
    before = scrape(client)

    response = client.post("/cds-services/calf-pain-triage", json=load_json(SAMPLES / DVT_SAMPLE))
    after = scrape(client)

    assert response.status_code == 200
    ok = {"service": "calf-pain-triage", "route": SERVICE_ROUTE, "status": "200"}
    assert (
        value(after, "calf_cds_requests_total", **ok)
        - value(before, "calf_cds_requests_total", **ok)
        == 1
    )
    latency = {"service": "calf-pain-triage", "route": SERVICE_ROUTE}
    assert (
        value(after, "calf_cds_request_duration_seconds_count", **latency)
        - value(before, "calf_cds_request_duration_seconds_count", **latency)
        == 1
    )
    dvt = {"rule": "R-DVT-PATHWAY", "indicator": "warning"}
    assert (
        value(after, "calf_cds_cards_total", **dvt) - value(before, "calf_cds_cards_total", **dvt)
        == 1
    )


def test_errors_are_counted_by_status(client: Any) -> None:
    before = scrape(client)

    client.post("/cds-services/no-such-service", json={})
    client.post("/cds-services/calf-pain-triage", data="not json", content_type="text/plain")
    after = scrape(client)

    for status in ("404", "415"):
        assert (
            total(after, "calf_cds_requests_total", status=status)
            - total(before, "calf_cds_requests_total", status=status)
            >= 1
        )


@dataclass
class FakeFetcher:
    """Stands in for cds.fhir.fetch.fetch_queries: observations fetched, conditions fail."""

    calls: list[dict[str, str]] = field(default_factory=list)

    def __call__(
        self, fhir_server: str, queries: Any, *, access_token: str | None, settings: Any
    ) -> dict[str, Any]:
        self.calls.append(dict(queries))
        observations = load_json(SAMPLES / DVT_SAMPLE)["prefetch"]["observations"]
        outcomes: dict[str, Any] = {}
        for key in queries:
            if key == "observations":
                page = flatten(msgspec.Raw(msgspec.json.encode(observations)), key)
                outcomes[key] = FetchOutcome(page, pages=1)
            else:
                outcomes[key] = FetchOutcome(None, "time budget of 3 s exhausted")
        return outcomes


def test_prefetch_fetches_are_counted_by_outcome(app_config: dict[str, Any]) -> None:
    fetcher = FakeFetcher()
    application = create_app(
        {
            **app_config,
            "fetcher": fetcher,
            "fhir_server_allowlist": "https://ehr.example.org",
        }
    )
    application.extensions["calf-cds"].store.upgrade()
    client = application.test_client()
    request = load_json(SAMPLES / DVT_SAMPLE)
    del request["prefetch"]["observations"]
    del request["prefetch"]["conditions"]
    before = scrape(client)

    response = client.post("/cds-services/calf-pain-triage", json=request)
    after = scrape(client)

    assert response.status_code == 200
    assert fetcher.calls
    assert {"observations", "conditions"} <= set(fetcher.calls[0])
    for outcome in ("ok", "failed"):
        name = "calf_cds_prefetch_fetches_total"
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1
    application.extensions["calf-cds"].store.close()


# --- several gunicorn workers ----------------------------------------------------------------


@pytest.fixture
def gunicorn_two_workers(tmp_path: Path) -> Iterator[Served]:
    """`calf-cds serve --workers 2` on a free port with a temporary SQLite store."""
    env = serve_env(f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}", log_level="INFO")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with calf_cds_serve(env, tmp_path, workers=2) as served:
        yield served


def _worker_pids(served: Served) -> set[int]:
    """The workers that answered service calls, from the server's JSON access lines."""
    pids = set()
    for line in served.log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "cds.access" and record.get("path") == SERVICE_ROUTE:
            pids.add(record["pid"])
    return pids


@pytest.mark.slow
def test_metrics_sum_requests_over_gunicorn_workers(gunicorn_two_workers: Served) -> None:
    served = gunicorn_two_workers
    body = json.dumps(load_json(SAMPLES / DVT_SAMPLE))

    def call(_: int) -> int:
        # a fresh connection per call, so the kernel hands calls to either worker
        response = httpx.post(
            served.url + "/cds-services/calf-pain-triage",
            content=body,
            headers={"Content-Type": "application/json", "Connection": "close"},
            timeout=10,
        )
        return response.status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        while sent < 300:
            statuses = list(pool.map(call, range(12)))
            assert statuses == [200] * 12
            sent += 12
            time.sleep(0.1)  # let the access lines reach the reader
            if len(_worker_pids(served)) == 2:
                break
    with httpx.Client(base_url=served.url, timeout=10) as client:
        scraped = scrape(client)

    assert len(_worker_pids(served)) == 2, "both workers answered"
    ok = {"service": "calf-pain-triage", "route": SERVICE_ROUTE, "status": "200"}
    assert value(scraped, "calf_cds_requests_total", **ok) == sent
    cards = {"rule": "R-DVT-PATHWAY", "indicator": "warning"}
    assert value(scraped, "calf_cds_cards_total", **cards) == sent
    latency = {"service": "calf-pain-triage", "route": SERVICE_ROUTE}
    assert value(scraped, "calf_cds_request_duration_seconds_count", **latency) == sent
