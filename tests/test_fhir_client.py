"""cds.fhir_client against a real FHIR server on loopback (cds-hooks.md "Missing prefetch").

Covers: templates, the origin allowlist (SSRF), bearer token, pagination and its cap, the
total time budget, and every failure shape. No mocks: real sockets on ephemeral ports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cds.fhir_client import (
    FetchOutcome,
    TemplateError,
    fetch_queries,
    normalise_origin,
    render_template,
)
from loopback import (
    ENTRIES_PER_PAGE,
    GOOD_TOKEN,
    PAGES,
    FakeFhir,
    closed_port_url,
    connection_attempted,
    serve,
    silent_listener,
)

from cds import create_app
from cds.config import Settings

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
    assert outcome.resources is not None
    assert len(outcome.resources) == PAGES * ENTRIES_PER_PAGE
    assert server.fake.seen[0].query == "patient=1"
    assert server.fake.seen[0].accept == "application/fhir+json"


def test_a_relative_query_may_carry_urls_in_its_parameters(server: Server) -> None:
    query = "Observation?patient=1&code=http://loinc.org|75325-1,http://snomed.info/sct|1"
    outcome = fetch_one(f"{server.url}/fhir", query, server.settings())
    assert outcome.ok
    assert server.fake.seen[0].path == "/fhir/Observation"


def test_a_single_resource_read_is_one_resource(server: Server) -> None:
    outcome = fetch_one(f"{server.url}/fhir/", "Patient/123", server.settings())
    assert outcome.resources == [{"resourceType": "Patient", "id": "123"}]


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
        pytest.param("outcome", "server answered with an OperationOutcome", id="operation-outcome"),
        pytest.param("notresource", "body is not a FHIR resource", id="not-a-resource"),
    ],
)
def test_failures_are_outcomes_with_a_reason(server: Server, mode: str, reason: str) -> None:
    outcome = fetch_one(f"{server.url}/{mode}", "Observation?patient=1", server.settings())
    assert outcome.resources is None
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
    # A byte every 0.9 s: each read is within its timeout; only the deadline watchdog cuts it.
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
    time.sleep(0.05)  # a cancelled watchdog timer needs a moment to leave
    # The fake server's handler threads may still be sleeping; count only the fetcher's own.
    ours = [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, threading.Timer) or thread.name.startswith("ThreadPoolExecutor")
    ]
    assert not ours


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
    assert outcome.reason == "Bundle next link leaves the fhirServer origin"


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
