"""Real HTTP servers on ephemeral loopback ports for the security tests (no mocks).

`FakeFhir` is a small FHIR server whose behaviour is chosen by the first path segment of the
fhirServer base: `/fhir` (paginated Bundles), `/secure` (checks the bearer token), `/slow`,
`/error`, `/garbage`, `/html`, `/redirect`, `/outcome`, `/offsite`, `/trickle`, `/loop`,
`/idless` (entries without ids), `/surrogate` (an unpaired surrogate escape).
Every request it receives is recorded, so tests can assert what was (not) contacted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conftest import serving
from flask import Flask, Response, request

FHIR_JSON = "application/fhir+json"
GOOD_TOKEN = "good-access-token"
PAGES = 3
ENTRIES_PER_PAGE = 2
IDLESS_FULL_URL = "urn:uuid:00000000-0000-4000-8000-000000000001"


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve `app` threaded on 127.0.0.1:<ephemeral>; yields its base URL."""
    with serving(app) as url:
        yield url


@contextmanager
def silent_listener() -> Iterator[tuple[str, socket.socket]]:
    """A listening socket that never accepts: any connection attempt lands in its backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", sock
    finally:
        sock.close()


def connection_attempted(sock: socket.socket, wait_s: float = 0.2) -> bool:
    """True when something connected to `sock` (a completed handshake waits in the backlog)."""
    sock.settimeout(wait_s)
    try:
        conn, _ = sock.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


def closed_port_url() -> str:
    """A loopback URL whose port nothing listens on (connection refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def bundle(entries: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "self", "url": request.url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": resource} for resource in entries],
    }


def fhir_response(body: Any, status: int = 200, content_type: str = FHIR_JSON) -> Response:
    return Response(json.dumps(body), status=status, content_type=content_type)


@dataclass
class Seen:
    path: str
    query: str
    authorization: str | None
    accept: str | None


@dataclass
class FakeFhir:
    """The recorded traffic and tunable behaviour of the fake FHIR server."""

    delay_s: float = 2.5
    trickle_gap_s: float = 0.9
    other_origin: str = "http://127.0.0.1:9"
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        app = Flask("fake_fhir")

        @app.route("/<mode>/<path:rest>")
        def handle(mode: str, rest: str) -> Response:
            with self.lock:
                self.seen.append(
                    Seen(
                        f"/{mode}/{rest}",
                        request.query_string.decode(),
                        request.headers.get("Authorization"),
                        request.headers.get("Accept"),
                    )
                )
            return self.answer(mode, rest)

        return app

    def paths(self) -> list[str]:
        with self.lock:
            return [seen.path for seen in self.seen]

    def answer(self, mode: str, rest: str) -> Response:
        if mode == "secure" and request.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}":
            return fhir_response(
                {"resourceType": "OperationOutcome", "issue": [{"code": "security"}]}, 401
            )
        if mode == "slow":
            time.sleep(self.delay_s)
        if mode == "error":
            return fhir_response({"resourceType": "OperationOutcome"}, 500)
        if mode == "garbage":
            return Response("{not json", content_type=FHIR_JSON)
        if mode == "html":
            return Response("<html>login</html>", content_type="text/html")
        if mode == "redirect":
            return Response("", status=302, headers={"Location": "/fhir/Patient/elsewhere"})
        if mode == "outcome":
            return fhir_response({"resourceType": "OperationOutcome", "issue": []})
        if mode == "notresource":
            return fhir_response(["a", "list"])
        if mode == "trickle":
            return self.trickle()
        if mode == "surrogate":  # an unpaired UTF-16 surrogate escape, which RFC 8259 allows
            text = '{"resourceType": "Patient", "id": "p1", "name": [{"text": "A\\ud800"}]}'
            return Response(text, content_type=FHIR_JSON)
        if rest.startswith("Patient/"):
            return fhir_response({"resourceType": "Patient", "id": rest.split("/")[1]})
        return self.search(mode, rest)

    def search(self, mode: str, resource_type: str) -> Response:
        page = int(request.args.get("page", "1"))
        entries = [
            {"resourceType": resource_type, "id": f"{resource_type}-{page}-{i}"}
            for i in range(ENTRIES_PER_PAGE)
        ]
        if mode == "idless":  # no ids; only the first page's first entry has a fullUrl
            entries = [{"resourceType": resource_type} for _ in range(ENTRIES_PER_PAGE)]
        next_url = None
        if mode == "offsite":
            next_url = f"{self.other_origin}/fhir/{resource_type}?page=2"
        elif mode == "loop" or page < PAGES:  # a server that never stops paginating
            next_url = f"{request.host_url}{mode}/{resource_type}?page={page + 1}"
        document = bundle(entries, next_url)
        if mode == "idless" and page == 1:
            document["entry"][0]["fullUrl"] = IDLESS_FULL_URL
        return fhir_response(document)

    def trickle(self) -> Response:
        gap = self.trickle_gap_s

        def drip() -> Iterator[bytes]:
            yield b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
            for _ in range(50):
                time.sleep(gap)
                yield b" "
            yield b"]}"

        return Response(drip(), content_type=FHIR_JSON)
