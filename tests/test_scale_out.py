"""Several instances, one database (deploy/compose.yaml, deploy/kubernetes/): two real
`calf-cds serve` instances on one real PostgreSQL, behind a round-robin proxy written here.

The recipe's promises, checked end to end over loopback HTTP with JWT auth required:
a token replayed to the other instance is refused (the jti record is in the shared store);
feedback sent through either instance is counted once; an instance killed with SIGKILL loses
no acknowledged feedback, and the other one keeps answering.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import SAMPLES, fresh_claims, load_json
from conftest_store import PostgresServer
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from served import CALF_CDS, Served, calf_cds_serve, serve_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ISS = "https://ehr.scale-out.example"
KEY = ec.generate_private_key(ec.SECP384R1())
JWK = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
ISSUERS = json.dumps({ISS: {"jwks": {"keys": [JWK]}}})
SERVICE = "calf-pain-triage"
HOOK = f"/cds-services/{SERVICE}"
FEEDBACK = f"{HOOK}/feedback"
DVT = load_json(SAMPLES / "dvt-unilateral-swelling-wells-likely.json")
# Headers that describe one hop, not the message (RFC 9110 §7.6.1): never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class RoundRobinProxy(ThreadingHTTPServer):
    """Each request goes to the next backend in turn. A backend that refuses the connection
    is skipped (the request never reached it, so even a POST may go elsewhere, as nginx's
    `proxy_next_upstream error` does); the answer names its backend in `X-Upstream`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.backends: list[tuple[str, int]] = []
        self._turn = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def order(self) -> list[int]:
        """The backend indexes to try for one request, starting with the next in turn."""
        with self._lock:
            first = self._turn % len(self.backends)
            self._turn += 1
        return [(first + step) % len(self.backends) for step in range(len(self.backends))]


class _ProxyHandler(BaseHTTPRequestHandler):
    server: RoundRobinProxy

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for index in self.server.order():
            host, port = self.server.backends[index]
            connection = http.client.HTTPConnection(host, port, timeout=15)
            try:
                connection.connect()
            except ConnectionRefusedError:
                connection.close()
                continue
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("X-Upstream", str(index))
            self.end_headers()
            self.wfile.write(content)
            return
        self.send_error(502, "no backend accepted the connection")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads statuses, not an access log."""


@dataclass
class Cluster:
    proxy: RoundRobinProxy
    instances: list[Served] = field(default_factory=list)

    def token(self, path: str) -> str:
        """A fresh JWT for `path` as the EHR signs it: `aud` is the proxy's public URL."""
        claims = fresh_claims(ISS, self.proxy.url + path)
        return jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})

    def call(
        self, base: str, method: str, path: str, body: Any = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token(path.split('?')[0])}"}
        with httpx.Client(base_url=base, timeout=20) as client:
            return client.request(method, path, json=body, headers=headers)

    def report(self) -> dict[str, Any]:
        response = self.call(self.proxy.url, "GET", "/reports/rules")
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report


def counted(report: dict[str, Any]) -> int:
    """Feedback rows the report counts: accepted + overridden per rule, plus unmatched."""
    rows = report["rules"]
    return sum(row["accepted"] + row["overridden"] for row in rows) + report["unmatchedFeedback"]


def accepted(report: dict[str, Any], rule_id: str) -> int:
    return next((row["accepted"] for row in report["rules"] if row["ruleId"] == rule_id), 0)


def feedback_for(cards: list[dict[str, Any]], at: str) -> dict[str, Any]:
    """Accept the first suggestion of cards that have one; override the others."""
    items = []
    for card in cards:
        item: dict[str, Any] = {"card": card["uuid"], "outcomeTimestamp": at}
        if card.get("suggestions"):
            item |= {"outcome": "accepted",
                     "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}  # fmt: skip
        else:
            item |= {"outcome": "overridden"}
        items.append(item)
    return {"feedback": items}


def migrate(database_url: str, workdir: Path) -> None:
    """`calf-cds db upgrade` once, as the recipe's migration job does before the replicas."""
    result = subprocess.run(
        [str(CALF_CDS), "db", "upgrade"],
        env=serve_env(database_url),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@contextmanager
def cluster_on(postgres_server: PostgresServer, workdir: Path) -> Iterator[Cluster]:
    """A new database, migrated once, two single-worker instances and the proxy before them."""
    database = postgres_server.create_database()
    url = postgres_server.url(database)
    proxy = RoundRobinProxy()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        migrate(url, workdir)
        env = serve_env(
            url,
            auth_mode="required",
            trusted_issuers=ISSUERS,
            public_base_url=proxy.url,
            patient_hash_salt="scale-out-test-0123456789",
        )
        with ExitStack() as stack:
            cluster = Cluster(proxy)
            for _ in range(2):
                served = stack.enter_context(calf_cds_serve(env, workdir, workers=1))
                cluster.instances.append(served)
                proxy.backends.append(("127.0.0.1", served.port))
            yield cluster
    finally:
        proxy.shutdown()
        proxy.server_close()
        postgres_server.drop_database(database)


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with cluster_on(postgres_server, tmp_path_factory.mktemp("scale-out")) as running:
        yield running


def test_the_proxy_alternates_between_the_two_instances(cluster: Cluster) -> None:
    upstreams = [
        cluster.call(cluster.proxy.url, "GET", "/cds-services").headers["X-Upstream"]
        for _ in range(4)
    ]

    assert sorted(set(upstreams)) == ["0", "1"]
    assert upstreams[0] != upstreams[1]


def test_a_token_replayed_to_the_other_instance_is_refused(cluster: Cluster) -> None:
    first, second = (served.url for served in cluster.instances)
    token = cluster.token("/cds-services")

    used = cluster.call(first, "GET", "/cds-services", token=token)
    replayed = cluster.call(second, "GET", "/cds-services", token=token)

    assert used.status_code == 200
    assert replayed.status_code == 401
    assert replayed.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "security", "diagnostics": "unauthorized"}],
    }


def test_a_token_replayed_through_the_proxy_is_refused_by_the_next_instance(
    cluster: Cluster,
) -> None:
    token = cluster.token("/cds-services")

    used = cluster.call(cluster.proxy.url, "GET", "/cds-services", token=token)
    replayed = cluster.call(cluster.proxy.url, "GET", "/cds-services", token=token)

    assert used.status_code == 200
    assert replayed.status_code == 401
    assert used.headers["X-Upstream"] != replayed.headers["X-Upstream"]


def test_feedback_sent_through_either_instance_is_counted_once(cluster: Cluster) -> None:
    first, second = (served.url for served in cluster.instances)
    answer = cluster.call(cluster.proxy.url, "POST", HOOK, DVT)
    assert answer.status_code == 200, answer.text
    dvt = [c for c in answer.json()["cards"] if c.get("suggestions")]
    assert dvt, "the DVT sample should give a card with a draft referral"
    body = feedback_for(dvt[:1], at="2026-11-25T12:01:00Z")
    rule_id = dvt[0]["extension"]["example.calf-cds"]["ruleId"]
    before = accepted(cluster.report(), rule_id)

    # The EHR retries: the same outcome arrives at both instances, and twice through the proxy.
    statuses = [cluster.call(base, "POST", FEEDBACK, body).status_code for base in (first, second)]
    statuses += [cluster.call(cluster.proxy.url, "POST", FEEDBACK, body).status_code for _ in "ab"]

    assert statuses == [200, 200, 200, 200]
    assert accepted(cluster.report(), rule_id) == before + 1


def test_killing_one_instance_loses_no_accepted_feedback_and_the_other_keeps_answering(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rounds, kill_after = 10, 4
    acknowledged: list[tuple[str, str]] = []
    hook_statuses: list[int] = []
    upstreams_after_kill: set[str] = set()
    with cluster_on(postgres_server, tmp_path) as running:
        victim, survivor = running.instances
        for round_ in range(rounds):
            if round_ == kill_after:
                os.killpg(victim.master_pid, signal.SIGKILL)  # master and workers at once
                victim.process.wait(timeout=10)
            answer = running.call(running.proxy.url, "POST", HOOK, DVT)
            hook_statuses.append(answer.status_code)
            body = feedback_for(answer.json()["cards"], at=f"2026-11-25T12:{round_:02d}:00Z")
            stored = running.call(running.proxy.url, "POST", FEEDBACK, body)
            if stored.status_code == 200:
                acknowledged += [(item["card"], item["outcome"]) for item in body["feedback"]]
            if round_ >= kill_after:
                upstreams_after_kill |= {
                    answer.headers["X-Upstream"],
                    stored.headers["X-Upstream"],
                }
        report = running.report()
        survivor_alive = survivor.process.poll() is None

    assert hook_statuses == [200] * rounds
    assert upstreams_after_kill == {"1"}
    assert survivor_alive
    assert len(acknowledged) >= rounds
    assert counted(report) == len(set(acknowledged))
    assert report["unmatchedFeedback"] == 0  # the survivor knows the victim's cards
