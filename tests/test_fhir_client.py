"""cds.fhir.fetch against a real FHIR server on loopback (cds-hooks.md "Missing prefetch").

Covers: templates, the origin allowlist (SSRF), bearer token, pagination and its cap, the
total time budget, and every failure shape. No mocks: real sockets on ephemeral ports.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import msgspec
import pytest
from conftest import SAMPLE_CLOCK, SAMPLES, load_json, serving
from flask import Flask, Response, request
from loopback import (
    ENTRIES_PER_PAGE,
    FHIR_JSON,
    GOOD_TOKEN,
    IDLESS_FULL_URL,
    PAGES,
    FakeFhir,
    closed_port_url,
    connection_attempted,
    serve,
    silent_listener,
)
from prometheus_client.parser import text_string_to_metric_families
from raw_fhir import raw_fhir

from cds import create_app
from cds.config import Settings
from cds.core.card_text import DISCLAIMER
from cds.fhir.elements import UNSET
from cds.fhir.fetch import (
    FetchOutcome,
    TemplateError,
    fetch_queries,
    normalise_origin,
    render_template,
)

BUDGET_MARGIN_S = 0.4


@dataclass
class Server:
    url: str
    fake: FakeFhir

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"fhir_server_allowlist": (self.url,), "fhir_timeout_s": 1.0}
        values.update(overrides)
        return Settings.load(values, environ={})


@pytest.fixture
def server() -> Iterator[Server]:
    fake = FakeFhir()
    with serve(fake.app()) as url:
        yield Server(url, fake)


def fetch_one(base: str, query: str, settings: Settings, token: str | None = None) -> FetchOutcome:
    return fetch_queries(base, {"key": query}, access_token=token, settings=settings)["key"]


def kinds_and_ids(outcome: FetchOutcome) -> list[tuple[Any, Any]]:
    assert outcome.flattened is not None, outcome.reason
    return [(i.resource.resourceType, i.resource.id) for i in outcome.flattened.items]


# --- templates ---------------------------------------------------------------------------------

CONTEXT = {"patientId": "123", "encounterId": "enc 9", "userId": "Practitioner/abc"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("Patient/{{context.patientId}}", "Patient/123", id="patient"),
        pytest.param(
            "Encounter/{{ context.encounterId }}", "Encounter/enc%209", id="spaces-and-encoding"
        ),
        pytest.param("x?u={{context.userId}}", "x?u=Practitioner%2Fabc", id="context-userId"),
        pytest.param(
            "Practitioner/{{userPractitionerId}}", "Practitioner/abc", id="userPractitionerId"
        ),
        pytest.param(
            "Observation?patient={{context.patientId}}&code=http://loinc.org|1-8",
            "Observation?patient=123&code=http://loinc.org|1-8",
            id="template-text-untouched",
        ),
    ],
)
def test_render_template_fills_tokens_and_url_encodes_values(template: str, expected: str) -> None:
    assert render_template(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("user", "token", "expected"),
    [
        pytest.param("PractitionerRole/r1", "userPractitionerRoleId", "r1", id="role"),
        pytest.param("Patient/p1", "userPatientId", "p1", id="patient"),
        pytest.param("RelatedPerson/q1", "userRelatedPersonId", "q1", id="related-person"),
    ],
)
def test_render_template_takes_user_tokens_from_the_user_reference(
    user: str, token: str, expected: str
) -> None:
    assert render_template(f"X/{{{{{token}}}}}", {"patientId": "1"}, user) == f"X/{expected}"


def test_an_id_cannot_escape_its_path_segment() -> None:
    rendered = render_template("Patient/{{context.patientId}}", {"patientId": "../Secret?x=1"})
    assert rendered == "Patient/..%2FSecret%3Fx%3D1"


@pytest.mark.parametrize(
    ("template", "context"),
    [
        pytest.param("Encounter/{{context.encounterId}}", {"patientId": "1"}, id="missing"),
        pytest.param("X/{{context.thing}}", {"thing": {"a": 1}}, id="not-primitive"),
        pytest.param("X/{{userPatientId}}", {"userId": "Practitioner/abc"}, id="wrong-user-type"),
        pytest.param("X/{{somethingElse}}", {}, id="unknown-token"),
    ],
)
def test_render_template_refuses_tokens_it_cannot_fill(
    template: str, context: dict[str, Any]
) -> None:
    with pytest.raises(TemplateError):
        render_template(template, context)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        pytest.param("https://EHR.example.org/fhir/r4", "https://ehr.example.org:443", id="https"),
        pytest.param("http://ehr.example.org:80/", "http://ehr.example.org:80", id="default"),
        pytest.param("http://[::1]:8080/fhir", "http://[::1]:8080", id="ipv6"),
        pytest.param("https://allowed.org@evil.org/", None, id="userinfo"),
        pytest.param("ftp://ehr.example.org/", None, id="scheme"),
        pytest.param("https://ehr.example.org:99999/", None, id="bad-port"),
        pytest.param("/relative", None, id="relative"),
    ],
)
def test_origins_are_normalised_with_default_ports(url: str, origin: str | None) -> None:
    assert normalise_origin(url) == origin


# --- fetching ----------------------------------------------------------------------------------


def test_follows_next_links_and_returns_every_page(server: Server) -> None:
    outcome = fetch_one(f"{server.url}/fhir", "Observation?patient=1", server.settings())

    assert outcome.ok
    assert outcome.pages == PAGES
    assert not outcome.truncated
    assert outcome.flattened is not None
    assert len(outcome.flattened.items) == PAGES * ENTRIES_PER_PAGE
    assert server.fake.seen[0].query == "patient=1"
    assert server.fake.seen[0].accept == "application/fhir+json"


def test_a_relative_query_may_carry_urls_in_its_parameters(server: Server) -> None:
    query = "Observation?patient=1&code=http://loinc.org|75325-1,http://snomed.info/sct|1"
    outcome = fetch_one(f"{server.url}/fhir", query, server.settings())
    assert outcome.ok
    assert server.fake.seen[0].path == "/fhir/Observation"


def test_a_single_resource_read_is_one_resource(server: Server) -> None:
    outcome = fetch_one(f"{server.url}/fhir/", "Patient/123", server.settings())
    assert kinds_and_ids(outcome) == [("Patient", "123")]
    assert outcome.flattened is not None
    assert outcome.flattened.lone_patients == 1


def test_fetched_entries_are_cited_as_prefetched_ones_numbered_across_pages(
    server: Server,
) -> None:
    outcome = fetch_one(f"{server.url}/idless", "Observation", server.settings())
    assert outcome.flattened is not None
    assert [item.locator for item in outcome.flattened.items] == [
        IDLESS_FULL_URL,
        *(f"key entry {n}" for n in range(1, PAGES * ENTRIES_PER_PAGE)),
    ]


def test_a_prefetched_bundles_later_pages_are_cited_apart_from_its_first(server: Server) -> None:
    # The prefetched first page's entries are "observations entry 0, 1, ..." already.
    outcomes = fetch_queries(
        f"{server.url}/idless",
        {"observations#next": "Observation"},
        access_token=None,
        settings=server.settings(),
    )
    flattened = outcomes["observations#next"].flattened
    assert flattened is not None
    assert [item.locator for item in flattened.items][1:3] == [
        "observations next pages entry 1",
        "observations next pages entry 2",
    ]


def test_an_unpaired_surrogate_in_a_fetched_page_reads_as_the_replacement_character(
    server: Server,
) -> None:
    outcome = fetch_one(f"{server.url}/surrogate", "Patient/p1", server.settings())
    assert outcome.ok, outcome.reason
    assert outcome.flattened is not None
    (item,) = outcome.flattened.items
    assert msgspec.json.decode(item.resource.name) == [{"text": "A\ufffd"}]


@pytest.mark.requirement("cds-hooks_2.0:61")
def test_sends_the_bearer_token_when_given(server: Server) -> None:
    outcome = fetch_one(
        f"{server.url}/secure", "Condition?patient=1", server.settings(), token=GOOD_TOKEN
    )
    assert outcome.ok
    assert {seen.authorization for seen in server.fake.seen} == {f"Bearer {GOOD_TOKEN}"}


def test_sends_no_authorization_header_without_a_token(server: Server) -> None:
    outcome = fetch_one(f"{server.url}/secure", "Condition?patient=1", server.settings())
    assert not outcome.ok
    assert outcome.reason == f"HTTP 401 from {normalise_origin(server.url)}"
    assert server.fake.seen[0].authorization is None


def test_page_cap_stops_an_endless_server(server: Server) -> None:
    outcome = fetch_one(f"{server.url}/loop", "Observation", server.settings(fhir_page_cap=2))
    assert outcome.ok
    assert outcome.truncated
    assert outcome.truncated_by == "page_cap"
    assert outcome.reason == "the page cap (2) was reached"
    assert outcome.pages == 2
    assert len(server.fake.seen) == 2


def test_absolute_next_url_query_on_the_same_origin_is_fetched(server: Server) -> None:
    query = f"{server.url}/fhir/Observation?page=3"
    outcome = fetch_one(f"{server.url}/fhir", query, server.settings())
    assert outcome.ok
    assert outcome.pages == 1


def test_keys_are_fetched_concurrently_within_one_budget(server: Server) -> None:
    # Each page takes 0.4 s: one after another the 7 pages would need 2.8 s, over budget.
    server.fake.delay_s = 0.4
    queries = {"a": "Observation", "b": "Condition", "c": "Patient/1"}
    started = time.monotonic()

    outcomes = fetch_queries(
        f"{server.url}/slow", queries, access_token=None, settings=server.settings(fhir_timeout_s=2)
    )

    assert all(outcome.ok for outcome in outcomes.values()), outcomes
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        pytest.param("error", "HTTP 500 from", id="500"),
        pytest.param("garbage", "body is not JSON", id="garbage"),
        pytest.param("html", "content type 'text/html' is not FHIR JSON", id="wrong-content-type"),
        pytest.param("redirect", "HTTP 302 redirect from", id="redirect"),
        pytest.param(
            "outcome",
            "body is not a usable FHIR resource (OperationOutcome is not accepted here)",
            id="operation-outcome",
        ),
        pytest.param("notresource", "body is not a usable FHIR resource", id="not-a-resource"),
    ],
)
def test_failures_are_outcomes_with_a_reason(server: Server, mode: str, reason: str) -> None:
    outcome = fetch_one(f"{server.url}/{mode}", "Observation?patient=1", server.settings())
    assert outcome.flattened is None
    assert outcome.reason is not None
    assert outcome.reason.startswith(reason)


def test_redirects_are_not_followed(server: Server) -> None:
    fetch_one(f"{server.url}/redirect", "Patient/1", server.settings())
    assert server.fake.paths() == ["/redirect/Patient/1"]


def test_an_unusable_url_is_a_failure_not_an_exception(server: Server) -> None:
    outcome = fetch_one(f"{server.url}/fhir", f"{server.url}/fhir/Patient/\x01", server.settings())
    assert outcome.reason == "invalid URL"


def test_connection_refused_is_a_failure() -> None:
    url = closed_port_url()
    settings = Settings.load({"fhir_server_allowlist": url}, environ={})
    outcome = fetch_one(url, "Patient/1", settings)
    assert outcome.reason == f"ConnectError talking to {normalise_origin(url)}"


# --- the time budget ---------------------------------------------------------------------------


def test_a_slow_server_fails_within_the_budget(server: Server) -> None:
    started = time.monotonic()
    outcome = fetch_one(f"{server.url}/slow", "Observation", server.settings(fhir_timeout_s=0.8))
    elapsed = time.monotonic() - started

    assert outcome.reason is not None
    assert "budget" in outcome.reason
    assert 0.7 < elapsed < 0.8 + BUDGET_MARGIN_S


def test_a_trickling_body_is_cut_at_the_deadline(server: Server) -> None:
    # A byte every 0.9 s: each read is within httpx's timeout; only the deadline cuts it.
    started = time.monotonic()
    outcome = fetch_one(f"{server.url}/trickle", "Observation", server.settings())
    elapsed = time.monotonic() - started

    assert outcome.reason is not None
    assert "budget" in outcome.reason
    assert elapsed < 1.0 + BUDGET_MARGIN_S


def test_no_fetch_thread_outlives_the_call(server: Server) -> None:
    fetch_queries(
        f"{server.url}/slow",
        {"a": "Observation", "b": "Condition"},
        access_token=None,
        settings=server.settings(fhir_timeout_s=0.5),
    )
    # The fake server's handler threads may still be sleeping; count only the fetcher's own.
    ours = [
        thread
        for thread in threading.enumerate()
        if thread.name.startswith(("ThreadPoolExecutor", "calf-cds-dns"))
    ]
    assert not ours


# --- the deadline: status line and headers dripped one byte a second (issue 18.1) -------------


@pytest.mark.parametrize("mode", ["drip-status", "drip-headers"])
def test_a_dripping_server_is_cut_at_the_deadline(mode: str) -> None:
    # httpx's read timeout restarts with every byte: without the deadline this took 17 s or more.
    with raw_fhir(gap_s=1.0) as fhir:
        settings = Settings.load(
            {"fhir_server_allowlist": fhir.url, "fhir_timeout_s": 1.5}, environ={}
        )
        started = time.monotonic()
        outcome = fetch_one(f"{fhir.url}/{mode}", "Observation?patient=1", settings)
        elapsed = time.monotonic() - started

    assert outcome.flattened is None
    assert outcome.reason == "time budget of 1.5 s exhausted (ReadTimeout)"
    assert 1.4 < elapsed < 1.5 + BUDGET_MARGIN_S


def test_the_deadline_is_shared_by_every_key_and_page() -> None:
    with raw_fhir(gap_s=1.0) as fhir:
        settings = Settings.load(
            {"fhir_server_allowlist": fhir.url, "fhir_timeout_s": 1.0}, environ={}
        )
        started = time.monotonic()
        outcomes = fetch_queries(
            f"{fhir.url}/drip-headers",
            {"a": "Observation", "b": "Condition", "c": "Patient/1", "d": "Encounter", "e": "X"},
            access_token=None,
            settings=settings,
        )
        elapsed = time.monotonic() - started

    # Five keys on four threads: the fifth starts after the deadline and fails at once.
    assert sorted(outcome.reason or "" for outcome in outcomes.values()) == [
        "time budget of 1 s exhausted",
        *["time budget of 1 s exhausted (ReadTimeout)"] * 4,
    ]
    assert elapsed < 1.0 + BUDGET_MARGIN_S


def test_pages_read_before_the_deadline_are_kept_and_the_cut_is_named() -> None:
    with raw_fhir(gap_s=1.0, resources={"Observation": [{"resourceType": "Observation"}]}) as fhir:
        settings = Settings.load(
            {"fhir_server_allowlist": fhir.url, "fhir_timeout_s": 1.0}, environ={}
        )
        outcome = fetch_one(f"{fhir.url}/drip-after-1", "Observation", settings)

    assert kinds_and_ids(outcome) == [("Observation", UNSET)]
    assert outcome.truncated_by == "budget"
    assert outcome.reason == "the time budget ran out before page 2"
    assert outcome.pages == 1


def test_a_host_name_is_resolved_within_the_deadline() -> None:
    with raw_fhir(resources={"Observation": [{"resourceType": "Observation"}]}) as fhir:
        by_name = fhir.url.replace("127.0.0.1", "localhost")
        settings = Settings.load({"fhir_server_allowlist": by_name}, environ={})
        outcome = fetch_one(f"{by_name}/fhir", "Observation", settings)
    assert kinds_and_ids(outcome) == [("Observation", UNSET)]


# --- SSRF --------------------------------------------------------------------------------------


def test_a_fhir_server_off_the_allowlist_never_receives_a_connection(server: Server) -> None:
    with silent_listener() as (other_url, listener):
        outcomes = fetch_queries(
            other_url,
            {"observations": "Observation?patient=1", "patient": "Patient/1"},
            access_token=GOOD_TOKEN,
            settings=server.settings(),
        )
        assert not connection_attempted(listener)
    assert {o.reason for o in outcomes.values()} == {"fhirServer not on CDS_FHIR_SERVER_ALLOWLIST"}


@pytest.mark.parametrize(
    "query_template",
    [
        pytest.param("{other}/fhir/Observation", id="absolute-query"),
        pytest.param("//{other_host}/fhir/Observation", id="scheme-relative-query"),
    ],
)
def test_a_query_cannot_leave_the_fhir_server_origin(server: Server, query_template: str) -> None:
    with silent_listener() as (other_url, listener):
        query = query_template.format(other=other_url, other_host=other_url.split("//")[1])
        outcome = fetch_one(f"{server.url}/fhir", query, server.settings(), token=GOOD_TOKEN)
        assert not connection_attempted(listener)
    assert outcome.reason == "query URL is not on the fhirServer origin"


def test_a_next_link_to_another_origin_is_not_followed(server: Server) -> None:
    with silent_listener() as (other_url, listener):
        server.fake.other_origin = other_url
        outcome = fetch_one(f"{server.url}/offsite", "Observation", server.settings(), GOOD_TOKEN)
        assert not connection_attempted(listener)
    # Page 1 was read and is kept; the answer names the cut.
    assert outcome.ok
    assert outcome.truncated
    assert outcome.truncated_by == "error"
    assert outcome.reason == (
        "page 2 could not be read (Bundle next link leaves the fhirServer origin)"
    )
    assert outcome.pages == 1


def test_the_same_host_on_another_port_is_another_origin(server: Server) -> None:
    with silent_listener() as (other_url, listener):
        settings = server.settings()
        outcome = fetch_one(other_url, "Patient/1", settings)
        assert not connection_attempted(listener)
    assert not outcome.ok


def test_userinfo_tricks_do_not_pass_the_allowlist(server: Server) -> None:
    host_port = server.url.split("//")[1]
    outcome = fetch_one(f"http://{host_port}@example.invalid/fhir", "Patient/1", server.settings())
    assert not outcome.ok
    assert not server.fake.seen


# --- through the app: create_app wires this fetcher into the hook call ----------------------


def hook_call(fhir_server: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/abc", "patientId": "123"},
    }


@pytest.mark.requirement("cds-hooks_2.0:34")
def test_the_service_fetches_missing_prefetch_from_an_allowlisted_server(
    server: Server, tmp_path: Path
) -> None:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "fhir_server_allowlist": server.url,
        }
    )
    response = app.test_client().post(
        "/cds-services/calf-pain-triage", json=hook_call(f"{server.url}/fhir")
    )

    assert response.status_code == 200
    fetched = {seen.path for seen in server.fake.seen}
    assert {"/fhir/Patient/123", "/fhir/Observation", "/fhir/Condition"} <= fetched


@pytest.mark.requirement("cds-hooks_2.0:54")
def test_the_service_answers_412_for_a_fhir_server_off_the_allowlist(
    server: Server, tmp_path: Path
) -> None:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "fhir_server_allowlist": server.url,
        }
    )
    with silent_listener() as (other_url, listener):
        response = app.test_client().post(
            "/cds-services/calf-pain-triage", json=hook_call(f"{other_url}/fhir")
        )
        assert not connection_attempted(listener)
    assert response.status_code == 412


# --- through the app, over real HTTP: the deadline and the cuts reach the answer (issue 18.1) --

CAUDA_EQUINA = load_json(SAMPLES / "cauda-equina-saddle-anaesthesia-urinary-retention.json")
RED_FLAG_OBSERVATIONS = [
    entry["resource"] for entry in CAUDA_EQUINA["prefetch"]["observations"]["entry"]
]
PATIENT_ID = CAUDA_EQUINA["context"]["patientId"]


def red_flag_call(fhir_server: str, **prefetch: Any) -> dict[str, Any]:
    """The cauda-equina sample's call with only `prefetch`; the rest is left to fetch."""
    call = {key: value for key, value in CAUDA_EQUINA.items() if key != "prefetch"}
    return {**call, "fhirServer": fhir_server, "prefetch": prefetch}


@contextmanager
def served_calf_cds(tmp_path: Path, **settings: Any) -> Iterator[str]:
    config = {
        "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "evaluation_time": SAMPLE_CLOCK,
        "auth_mode": "off",
        **settings,
    }
    app = create_app(config)
    app.extensions["calf-cds"].store.upgrade()
    try:
        with serving(app) as url:
            yield url
    finally:
        app.extensions["calf-cds"].store.close()


def post_timed(url: str, body: dict[str, Any]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(f"{url}/cds-services/calf-pain-triage", json=body, timeout=30)
    return response, time.monotonic() - started


def assert_info_card(card: dict[str, Any], key: str, reason: str) -> None:
    """The data-quality card for one query cut short: info, no topic, the query and why."""
    assert card["summary"] == f"Data fetch incomplete ({key}): red flags may be missing"
    assert card["indicator"] == "info"
    assert "topic" not in card["source"]
    assert card["detail"].splitlines() == [
        "**Data quality**",
        f"- Query {key} incomplete ({reason}): red flags may be missing.",
        "",
        f"_{DISCLAIMER}_",
    ]
    assert "suggestions" not in card


@pytest.mark.parametrize("mode", ["drip-status", "drip-headers"])
def test_a_hook_call_with_a_dripping_fhir_server_answers_412_within_the_budget(
    mode: str, tmp_path: Path
) -> None:
    with (
        raw_fhir(gap_s=1.0) as fhir,
        served_calf_cds(tmp_path, fhir_server_allowlist=fhir.url, fhir_timeout_s=2) as url,
    ):
        response, elapsed = post_timed(url, red_flag_call(f"{fhir.url}/{mode}"))

    assert elapsed < 2 + 1, elapsed
    assert response.status_code == 412
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "incomplete",
                "diagnostics": "prefetch unsatisfied and not fetchable: patient, observations, "
                "conditions (send them as prefetch, or a fhirServer this service may read)",
            }
        ],
    }


def test_a_deadline_after_the_first_page_answers_its_cards_and_names_the_cut(
    tmp_path: Path,
) -> None:
    # Page 1 holds the red flag; page 2's headers drip past the 2 s deadline.
    with (
        raw_fhir(gap_s=1.0, resources={"Observation": RED_FLAG_OBSERVATIONS}) as fhir,
        served_calf_cds(tmp_path, fhir_server_allowlist=fhir.url, fhir_timeout_s=2) as url,
    ):
        body = red_flag_call(f"{fhir.url}/drip-after-1", patient=None, conditions=None)
        response, elapsed = post_timed(url, body)

    assert elapsed < 2 + 1, elapsed
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert [card["source"].get("topic", {}).get("code") for card in cards] == [
        "R-CAUDA-EQUINA",
        None,
    ]
    assert cards[0]["indicator"] == "critical"
    assert_info_card(cards[1], "observations", "the time limit ran out; 1 page read")


PAGES_IN_ALL = 8


def paged_observations() -> Flask:
    """A FHIR server whose Observation search has 8 pages, the red flag on the last."""
    app = Flask("paged_fhir")
    app.config["seen"] = []

    @app.get("/fhir/<resource_type>")
    def search(resource_type: str) -> Response:
        app.config["seen"].append((resource_type, request.query_string.decode()))
        page = int(request.args.get("page", "1"))
        if resource_type != "Observation":
            entries: list[dict[str, Any]] = []
        elif page < PAGES_IN_ALL:
            entries = [
                {
                    "resourceType": "Observation",
                    "id": f"weight-{page}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "subject": {"reference": f"Patient/{PATIENT_ID}"},
                    "effectiveDateTime": "2026-11-25T11:00:00Z",
                    "valueQuantity": {"value": 70, "unit": "kg"},
                }
            ]
        else:
            entries = RED_FLAG_OBSERVATIONS
        links = []
        if resource_type == "Observation" and page < PAGES_IN_ALL:
            links = [{"relation": "next", "url": f"{request.base_url}?page={page + 1}"}]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [{"resource": resource} for resource in entries],
        }
        return Response(json.dumps(bundle), content_type="application/fhir+json")

    return app


def truncations(url: str, reason: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "calf_cds_prefetch_truncations_total"
                and sample.labels.get("reason") == reason
            ):
                return float(sample.value)
    return 0.0


def test_a_red_flag_past_the_page_cap_gives_the_info_card_not_silence(tmp_path: Path) -> None:
    fhir_app = paged_observations()
    with (
        serving(fhir_app) as fhir_url,
        served_calf_cds(tmp_path, fhir_server_allowlist=fhir_url, fhir_page_cap=5) as url,
    ):
        before = truncations(url, "page_cap")
        response, _ = post_timed(url, red_flag_call(f"{fhir_url}/fhir", patient=None))
        after = truncations(url, "page_cap")

    assert response.status_code == 200
    cards = response.json()["cards"]
    (card,) = cards
    assert_info_card(card, "observations", "the page limit was reached; 5 pages read")
    assert after - before == 1
    # Newest first, with the service's page size; R4 Condition has no date parameter to sort by.
    seen = fhir_app.config["seen"]
    observation_query = parse_qs(next(query for kind, query in seen if kind == "Observation"))
    assert observation_query["_sort"] == ["-date"]
    assert observation_query["_count"] == ["100"]
    assert observation_query["patient"] == [PATIENT_ID]
    condition_query = parse_qs(next(query for kind, query in seen if kind == "Condition"))
    assert condition_query == {"patient": [PATIENT_ID], "_count": ["100"]}
    assert len([kind for kind, _ in seen if kind == "Observation"]) == 5


def test_a_red_flag_on_page_8_fires_when_the_cap_allows_it(tmp_path: Path) -> None:
    fhir_app = paged_observations()
    with (
        serving(fhir_app) as fhir_url,
        served_calf_cds(tmp_path, fhir_server_allowlist=fhir_url, fhir_page_cap=10) as url,
    ):
        response, _ = post_timed(url, red_flag_call(f"{fhir_url}/fhir", patient=None))

    assert response.status_code == 200
    cards = response.json()["cards"]
    assert [card["source"]["topic"]["code"] for card in cards] == ["R-CAUDA-EQUINA"]
    assert cards[0]["indicator"] == "critical"
    assert len([kind for kind, _ in fhir_app.config["seen"] if kind == "Observation"]) == 8


def unpaired_surrogate_observations() -> Flask:
    """A FHIR server whose one Observation page holds the red flags, each cited by fullUrl
    only, one with an unpaired surrogate escape in a note (RFC 8259 allows it)."""
    app = Flask("surrogate_fhir")

    @app.get("/fhir/<resource_type>")
    def search(resource_type: str) -> Response:
        return Response(json.dumps(red_flags_by_full_url(resource_type)), content_type=FHIR_JSON)

    return app


def red_flags_by_full_url(resource_type: str = "Observation") -> dict[str, Any]:
    entries = []
    if resource_type == "Observation":
        for n, resource in enumerate(RED_FLAG_OBSERVATIONS):
            written = {key: value for key, value in resource.items() if key != "id"}
            written["note"] = [{"text": "patient said \ud800"}]
            entries.append(
                {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}", "resource": written}
            )
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def test_a_fetched_page_answers_as_the_same_resources_prefetched(tmp_path: Path) -> None:
    fetched_call = red_flag_call("", patient=None, conditions=None)
    prefetched_call = red_flag_call(
        "", patient=None, conditions=None, observations=red_flags_by_full_url()
    )
    with (
        serving(unpaired_surrogate_observations()) as fhir_url,
        served_calf_cds(tmp_path, fhir_server_allowlist=fhir_url) as url,
    ):
        fetched_call["fhirServer"] = prefetched_call["fhirServer"] = f"{fhir_url}/fhir"
        fetched, _ = post_timed(url, fetched_call)
        prefetched = httpx.post(  # json.dumps escapes the surrogate, as the FHIR server does
            f"{url}/cds-services/calf-pain-triage",
            content=json.dumps(prefetched_call),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )

    assert fetched.status_code == 200, fetched.text
    cards = fetched.json()["cards"]
    assert [card["source"]["topic"]["code"] for card in cards] == ["R-CAUDA-EQUINA"]
    assert "urn:uuid:00000000-0000-4000-8000-000000000002" in cards[0]["detail"]  # saddle
    assert without_uuids(cards) == without_uuids(prefetched.json()["cards"])


def without_uuids(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(re.sub(r'"uuid": "[^"]+"', '"uuid": ""', json.dumps(cards)))


def test_a_prefetched_bundle_whose_next_pages_cannot_be_fetched_is_named(tmp_path: Path) -> None:
    observations = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": "https://ehr.example.org/fhir/Observation?page=2"}],
        "entry": [{"resource": resource} for resource in RED_FLAG_OBSERVATIONS],
    }
    with served_calf_cds(tmp_path) as url:
        body = red_flag_call("", patient=None, observations=observations, conditions=None)
        del body["fhirServer"]
        response, _ = post_timed(url, body)

    assert response.status_code == 200
    cards = response.json()["cards"]
    assert cards[0]["source"]["topic"]["code"] == "R-CAUDA-EQUINA"
    assert_info_card(
        cards[1],
        "observations",
        "later pages not fetched: no FHIR server this service may read",
    )
