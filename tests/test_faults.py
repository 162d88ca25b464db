"""Faults of the service's neighbours, over real sockets (issue 7, item 3).

- The EHR's FHIR server slow past the budget, failing, lying or absent: the hook answers 412
  within the budget and leaves no thread behind.
- The issuer's JWKS URL down: cached keys keep working; without a cache, 401 (never a 500 or a
  hang).
- The database down during a hook call (cards still answered), during feedback (503 with
  Retry-After, nothing half-written, even when it dies mid-transaction), and back (the next
  feedback is stored). A PostgreSQL server of this module's own is stopped and started.
- A gunicorn worker SIGKILLed under load: the service keeps answering and every feedback that
  got a 200 is in the database.

What tests/test_fhir_client.py, test_auth.py and test_feedback.py already prove at their own
layer is not repeated; these go through the HTTP layer and real failures.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from conftest import SAMPLES, fresh_claims, load_json
from conftest_store import PostgresServer, execute_sql, query_sql, start_postgres
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, Response
from jwt.algorithms import ECAlgorithm
from loopback import FakeFhir, closed_port_url, serve, silent_listener
from served import calf_cds_serve, serve_env

import cds.auth
from cds import create_app
from cds.store import Store

SERVICE = "calf-pain-triage"
HOOK_URL = f"/cds-services/{SERVICE}"
FEEDBACK_URL = f"/cds-services/{SERVICE}/feedback"
ALI = "acute-limb-ischaemia-cold-pulseless-right-foot.json"
DVT = "dvt-unilateral-swelling-wells-likely.json"
BUDGET_S = 1.0
MARGIN_S = 0.6  # scheduling, a loopback round trip and the 412's own work
SETTLE_S = 5.0  # how long the fake servers' own handler threads may take to finish


def rule_ids(cards: list[dict[str, Any]]) -> list[str]:
    return [code for card in cards if (code := (card["source"].get("topic") or {}).get("code"))]


def live(application: Flask) -> AbstractContextManager[str]:
    """`application` over real HTTP on an ephemeral loopback port (yields its base URL)."""
    return serve(application)


@contextmanager
def cds_log() -> Iterator[list[logging.LogRecord]]:
    """The records of the "cds" logger (it does not propagate to the root)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("cds")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def wait_for_threads(baseline: int, timeout_s: float = SETTLE_S) -> int:
    """Poll until no more threads run than at `baseline`; the count at the end."""
    deadline = time.monotonic() + timeout_s
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


# --- the FHIR server misbehaves -----------------------------------------------------------------


def hook_without_prefetch(fhir_server: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
    }


FHIR_FAULTS = [
    pytest.param("slow", id="slow-past-the-budget"),
    pytest.param("trickle", id="body-trickles-past-the-budget"),
    pytest.param("error", id="http-500"),
    pytest.param("garbage", id="garbage-body"),
    pytest.param("html", id="wrong-content-type"),
    pytest.param("redirect", id="redirect"),
    pytest.param("outcome", id="operation-outcome"),
    pytest.param("refused", id="connection-refused"),
    pytest.param("black-hole", id="connects-never-answers"),
]


@pytest.mark.slow
@pytest.mark.parametrize("fault", FHIR_FAULTS)
def test_a_failing_fhir_server_gets_412_within_the_budget_and_no_thread_is_left(
    tmp_path: Path, fault: str
) -> None:
    fake = FakeFhir(delay_s=BUDGET_S + 0.5, trickle_gap_s=0.3)
    with serve(fake.app()) as fake_url, silent_listener() as (hole_url, _listener):
        fhir_server = {
            "refused": closed_port_url() + "/fhir",
            "black-hole": hole_url + "/fhir",
        }.get(fault, f"{fake_url}/{fault}")
        origin = fhir_server.rsplit("/", 1)[0]
        app = create_app(
            {
                "database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
                "auth_mode": "off",
                "fhir_server_allowlist": origin,
                "fhir_timeout_s": BUDGET_S,
            }
        )
        app.extensions["calf-cds"].store.upgrade()
        with live(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            http.get("/healthz")  # the server's first request, outside the measurement
            baseline = threading.active_count()
            started = time.monotonic()
            response = http.post(HOOK_URL, json=hook_without_prefetch(fhir_server))
            elapsed = time.monotonic() - started
            settled = wait_for_threads(baseline)
        app.extensions["calf-cds"].store.close()

    assert response.status_code == 412, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "incomplete"
    assert "observations" in issue["diagnostics"]
    assert "conditions" in issue["diagnostics"]
    assert elapsed < BUDGET_S + MARGIN_S
    assert settled <= baseline, [thread.name for thread in threading.enumerate()]
    if fault not in {"refused", "black-hole"}:
        assert fake.paths(), "the fake FHIR server was never asked"


# --- the JWKS URL goes down ---------------------------------------------------------------------

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())
JWKS = {"keys": [{**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}]}


def bearer(path: str) -> dict[str, str]:
    token = jwt.encode(
        fresh_claims(ISS, BASE + path), KEY, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"}
    )
    return {"Authorization": f"Bearer {token}"}


def secured_app(tmp_path: Path, jwks_url: str, ttl_s: float = 3600.0) -> Flask:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
            "auth_mode": "required",
            "patient_hash_salt": "faults-test-salt",
            "trusted_issuers": json.dumps({ISS: {"jwks_url": jwks_url}}),
            "public_base_url": BASE,
            "jwks_cache_ttl_s": ttl_s,
        }
    )
    app.extensions["calf-cds"].store.upgrade()
    return app


def jwks_app() -> Flask:
    app = Flask("jwks")

    @app.get("/jwks.json")
    def keys() -> Response:
        return Response(json.dumps(JWKS), mimetype="application/json")

    return app


def test_cached_keys_keep_the_service_open_while_the_jwks_url_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl_s = 0.3
    monkeypatch.setattr(cds.auth, "JWKS_REFRESH_MIN_INTERVAL_S", ttl_s)  # may try again in time
    with serve(jwks_app()) as jwks_url:
        app = secured_app(tmp_path, f"{jwks_url}/jwks.json", ttl_s=ttl_s)
        with live(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            first = http.get("/cds-services", headers=bearer("/cds-services"))
    # The JWKS server is gone now; the cache is past its TTL, so the service tries it again.
    time.sleep(ttl_s + 0.1)
    with cds_log() as records, live(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        second = http.get("/cds-services", headers=bearer("/cds-services"))
        hook = http.post(HOOK_URL, json=load_json(SAMPLES / ALI), headers=bearer(HOOK_URL))
    app.extensions["calf-cds"].store.close()

    assert first.status_code == 200
    assert second.status_code == 200, second.text
    assert hook.status_code == 200
    assert "R-ALI" in rule_ids(hook.json()["cards"])
    assert any("using the cached key set" in record.getMessage() for record in records)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("refused", id="connection-refused"),
        pytest.param("not-a-key-set", id="answers-html"),
    ],
)
def test_no_cached_keys_and_the_jwks_url_down_is_401_not_500(tmp_path: Path, where: str) -> None:
    html = Flask("html")

    @html.get("/jwks.json")
    def page() -> Response:
        return Response("<html>maintenance</html>", mimetype="text/html")

    with serve(html) as html_url:
        jwks_url = {"refused": closed_port_url(), "not-a-key-set": html_url}[where]
        app = secured_app(tmp_path, f"{jwks_url}/jwks.json")
        with live(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            response = http.post(HOOK_URL, json=load_json(SAMPLES / ALI), headers=bearer(HOOK_URL))
    app.extensions["calf-cds"].store.close()

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["issue"][0] == {
        "severity": "error",
        "code": "security",
        "diagnostics": "unauthorized",
    }


@pytest.mark.slow
def test_a_jwks_url_that_never_answers_is_401_after_its_timeout_not_a_hang(tmp_path: Path) -> None:
    from cds.auth import JWKS_FETCH_TIMEOUT_S

    with silent_listener() as (hole_url, _listener):
        app = secured_app(tmp_path, f"{hole_url}/jwks.json")
        with live(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            started = time.monotonic()
            response = http.get("/cds-services", headers=bearer("/cds-services"))
            elapsed = time.monotonic() - started
    app.extensions["calf-cds"].store.close()

    assert response.status_code == 401
    assert elapsed < JWKS_FETCH_TIMEOUT_S + 1.5


# --- the database goes down and comes back -------------------------------------------------------


@dataclass
class Database:
    """A PostgreSQL server of this module's own, which the tests may stop and start."""

    server: PostgresServer
    url: str = ""
    options: str = field(init=False)

    def __post_init__(self) -> None:
        # start_postgres's address and port, but durable: these tests crash the server, and a
        # commit the service acknowledged must survive that (fsync, synchronous_commit on).
        self.options = (
            f"-c listen_addresses=127.0.0.1 -p {self.server.port} -k {self.server.socket_dir} "
            "-c max_connections=60 -c shared_buffers=16MB"
        )

    def stop(self) -> None:
        """Stop at once, as a crash would (immediate: no checkpoint, clients cut off)."""
        self.server.pg_ctl("stop", "-D", str(self.server.data), "-m", "immediate", "-w")

    def start(self) -> None:
        log = str(self.server.base / "postgres.log")
        self.server.pg_ctl(
            "start", "-D", str(self.server.data), "-l", log, "-w", "-t", "60", "-o", self.options
        )

    def count_feedback(self) -> int:
        with psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql")) as connection:
            row = connection.execute("SELECT count(*) FROM feedback").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    server = start_postgres()
    try:
        db = Database(server)
        server.stop()  # started for speed (fsync off); restarted durable
        db.start()
        db.url = server.url(server.create_database())
        yield db
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def outage_app(database: Database) -> Iterator[Flask]:
    """The app on the module's database, its store retrying 0.2 s after a failure (not 5 s)."""
    if not (database.server.data / "postmaster.pid").exists():
        database.start()  # a previous test failed while the server was down
    store = Store.open(database.url, reconnect_after_s=0.2)
    store.upgrade()
    execute_sql(database.url, "DELETE FROM feedback")  # a clean table for each test
    app = create_app(
        {"database_url": database.url, "store": store, "auth_mode": "off",
         "evaluation_time": "2026-11-25T12:00:00Z"}
    )  # fmt: skip
    try:
        yield app
    finally:
        store.close()


def feedback_for(cards: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for card in cards:
        if card.get("suggestions"):
            items.append(
                {
                    "card": card["uuid"],
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                    "outcomeTimestamp": "2026-11-25T12:01:00Z",
                }
            )
        else:
            items.append(
                {"card": card["uuid"], "outcome": "overridden",
                 "outcomeTimestamp": "2026-11-25T12:01:00Z"}
            )  # fmt: skip
    return {"feedback": items}


def wait_until_ready(http: httpx.Client, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the store did not come back"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_database_going_down_stops_no_card_loses_no_feedback_and_comes_back(
    database: Database, outage_app: Flask
) -> None:
    with live(outage_app) as url, httpx.Client(base_url=url, timeout=15) as http:
        before = http.post(HOOK_URL, json=load_json(SAMPLES / ALI))
        assert before.status_code == 200
        recorded_cards = before.json()["cards"]

        database.stop()
        try:
            started = time.monotonic()
            during = http.post(HOOK_URL, json=load_json(SAMPLES / ALI))
            hook_elapsed = time.monotonic() - started
            refused = http.post(FEEDBACK_URL, json=feedback_for(recorded_cards))
            ready_while_down = http.get("/readyz")
        finally:
            database.start()
        wait_until_ready(http)
        unrecorded_cards = during.json()["cards"]
        stored = http.post(FEEDBACK_URL, json=feedback_for(recorded_cards + unrecorded_cards))
        again = http.post(FEEDBACK_URL, json=feedback_for(recorded_cards))

    # Cards never wait on the store.
    assert during.status_code == 200
    assert rule_ids(unrecorded_cards) == rule_ids(recorded_cards)
    assert "R-ALI" in rule_ids(unrecorded_cards)
    assert hook_elapsed < 3.0
    # Feedback while it is down: 503, retry later, nothing written.
    assert refused.status_code == 503
    assert refused.headers["Retry-After"].isdigit()
    assert refused.json()["issue"][0]["code"] == "transient"
    assert ready_while_down.status_code == 503
    # Back: the next feedback is stored, also for cards issued while it was down (unmatched),
    # and the refused attempt left nothing behind (no duplicate of it).
    n_recorded, n_unrecorded = len(recorded_cards), len(unrecorded_cards)
    assert stored.status_code == 200, stored.text
    assert stored.json() == {
        "stored": n_recorded + n_unrecorded,
        "duplicates": 0,
        "unmatched": n_unrecorded,
    }
    assert again.json() == {"stored": 0, "duplicates": n_recorded, "unmatched": 0}
    assert database.count_feedback() == n_recorded + n_unrecorded


SLOW_INSERT = (
    "CREATE OR REPLACE FUNCTION calf_cds_test_slow_insert() RETURNS trigger AS $$ "
    "BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER calf_cds_test_slow_insert BEFORE INSERT ON feedback "
    "FOR EACH ROW EXECUTE FUNCTION calf_cds_test_slow_insert()",
)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_database_dying_mid_transaction_leaves_no_half_written_feedback(
    database: Database, outage_app: Flask
) -> None:
    entries = 40  # 50 ms each (a test-only trigger): the transaction is open for about 2 s
    execute_sql(database.url, *SLOW_INSERT)
    body = {
        "feedback": [
            {"card": str(uuid.uuid4()), "outcome": "overridden",
             "outcomeTimestamp": f"2026-11-25T12:{i // 60:02d}:{i % 60:02d}Z"}
            for i in range(entries)
        ]
    }  # fmt: skip
    try:
        with live(outage_app) as url, httpx.Client(base_url=url, timeout=15) as http:
            killer = threading.Timer(0.7, database.stop)
            killer.start()
            try:
                response = http.post(FEEDBACK_URL, json=body)
            finally:
                killer.join(timeout=30)
            database.start()
            wait_until_ready(http)
            count = database.count_feedback()
    finally:
        execute_sql(database.url, "DROP TRIGGER IF EXISTS calf_cds_test_slow_insert ON feedback")

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert count == 0, f"{count} of {entries} entries were written by a refused request"


# --- a gunicorn worker is killed under load -----------------------------------------------------


@dataclass
class Load:
    """What the load threads saw (appended from several threads: list.append is atomic)."""

    hook_ok: list[float] = field(default_factory=list)  # monotonic times of 200 answers
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (card, outcome) got 200


def drive(url: str, load: Load, stop: threading.Event, samples: list[dict[str, Any]]) -> None:
    """Hook calls and feedback for the issued cards until `stop` (at most 2,000 rounds)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        for round_ in range(2000):
            if stop.is_set():
                return
            try:
                answer = http.post(HOOK_URL, json=samples[round_ % len(samples)])
                if answer.status_code >= 500:
                    load.server_errors.append(f"hook {answer.status_code}")
                    continue
                load.hook_ok.append(time.monotonic())
                feedback = feedback_for(answer.json()["cards"])
                response = http.post(FEEDBACK_URL, json=feedback)
                if response.status_code >= 500:
                    load.server_errors.append(f"feedback {response.status_code}")
                elif response.status_code == 200:
                    load.acknowledged.extend(
                        (item["card"], item["outcome"]) for item in feedback["feedback"]
                    )
            except httpx.TransportError as exc:  # the killed worker's connections
                load.transport_errors.append(type(exc).__name__)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_killed_under_load_is_replaced_and_no_acknowledged_feedback_is_lost(
    postgres_url: str, tmp_path: Path
) -> None:
    threads, kill_at_s, run_s = 4, 1.5, 4.5
    samples = [load_json(SAMPLES / name) for name in (DVT, ALI)]
    load, stop = Load(), threading.Event()
    with calf_cds_serve(serve_env(postgres_url), tmp_path, workers=2) as served:
        workers = served.wait_for_workers(2, exclude=set(), timeout_s=10)
        drivers = [
            threading.Thread(target=drive, args=(served.url, load, stop, samples), daemon=True)
            for _ in range(threads)
        ]
        for driver in drivers:
            driver.start()
        try:
            time.sleep(kill_at_s)
            victim = workers[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            replaced = served.wait_for_workers(2, exclude={victim}, timeout_s=10)
            time.sleep(max(0.0, run_s - kill_at_s - (time.monotonic() - killed_at)))
        finally:
            stop.set()
            for driver in drivers:
                driver.join(timeout=15)
        assert not any(driver.is_alive() for driver in drivers)
        with httpx.Client(base_url=served.url, timeout=10) as http:
            final = http.post(HOOK_URL, json=samples[1])
        log_tail = served.tail()

    in_database = set(query_sql(postgres_url, "SELECT card_uuid, outcome FROM feedback"))

    assert not load.server_errors, (load.server_errors, log_tail)
    assert victim not in replaced
    assert final.status_code == 200
    after_kill = [t for t in load.hook_ok if t > killed_at + 0.5]
    assert len(after_kill) >= threads, "the service stopped answering after the kill"
    assert len(load.transport_errors) <= 2 * threads, load.transport_errors
    assert load.acknowledged, "no feedback was acknowledged: the load did not run"
    missing = set(load.acknowledged) - in_database
    assert not missing, f"{len(missing)} acknowledged feedback entries are not stored"


# --- the SQLite file is deleted under a running server --------------------------------------


def post_feedback_for_new_cards(
    http: httpx.Client, sample: dict[str, Any]
) -> tuple[int, list[Any]]:
    """One hook call, then feedback on its cards: (the feedback status, the entries sent)."""
    answer = http.post(HOOK_URL, json=sample)
    assert answer.status_code == 200, answer.text
    feedback = feedback_for(answer.json()["cards"])
    response = http.post(FEEDBACK_URL, json=feedback)
    entries = [(item["card"], item["outcome"]) for item in feedback["feedback"]]
    return response.status_code, entries


@pytest.mark.slow
def test_feedback_is_never_acknowledged_while_the_sqlite_file_is_deleted_and_none_is_lost(
    tmp_path: Path,
) -> None:
    path, kept = tmp_path / "store.sqlite3", tmp_path / "kept.sqlite3"
    url = f"sqlite:///{path}"
    sample = load_json(SAMPLES / ALI)
    acknowledged: list[tuple[str, str]] = []
    with calf_cds_serve(serve_env(url), tmp_path, workers=2) as served:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            for _ in range(6):
                status, entries = post_feedback_for_new_cards(http, sample)
                assert status == 200
                acknowledged.extend(entries)

            os.link(path, kept)  # the operator's copy, to put back later
            path.unlink()  # `rm store.sqlite3` under the running server
            during = [post_feedback_for_new_cards(http, sample)[0] for _ in range(10)]
            ready_during = http.get("/readyz")
            hook_during = http.post(HOOK_URL, json=sample)

            os.link(kept, path)  # the file is back
            wait_until_ready(http)
            for _ in range(6):
                status, entries = post_feedback_for_new_cards(http, sample)
                assert status == 200
                acknowledged.extend(entries)
        log_tail = served.tail()

    assert during == [503] * 10, log_tail
    assert ready_during.status_code == 503
    assert hook_during.status_code == 200
    assert "R-ALI" in rule_ids(hook_during.json()["cards"])
    # What a restart reads: every acknowledged entry is in the file at the path.
    with calf_cds_serve(serve_env(url), tmp_path, workers=1) as restarted:
        assert httpx.get(restarted.url + "/readyz", timeout=10).status_code == 200
    stored = set(query_sql(url, "SELECT card_uuid, outcome FROM feedback"))
    assert set(acknowledged) <= stored
    assert len(stored) == len(acknowledged)
