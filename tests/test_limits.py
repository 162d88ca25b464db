"""Request limits over real sockets against `calf-cds serve` (gunicorn), cds-hooks.md "Errors".

tests/test_http_errors.py proves the answers through Flask's test client; this module proves
what only a real server can show: a body over CDS_MAX_BODY_BYTES is refused *without being
read* (a huge declared Content-Length, a chunked stream that never ends), chunked bodies
work, the exact boundaries of the size, nesting and entry limits, and that the worker is free
for the next request afterwards. The entry limit is also proven where the size limit cannot
stand in for it: feedback entries, and entries fetched from the EHR's FHIR server.
"""

from __future__ import annotations

import json
import select
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SAMPLES, load_json
from flask import Flask
from loopback import FakeFhir, serve
from served import Served, calf_cds_serve, serve_env

from cds import create_app

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024  # CDS_MAX_BODY_BYTES of the server under test
DEPTH_LIMIT = 64  # CDS_MAX_JSON_DEPTH default
ENTRY_LIMIT = 10_000  # CDS_MAX_ENTRIES default
SERVICE = "/cds-services/calf-pain-triage"
ALI = "acute-limb-ischaemia-cold-pulseless-right-foot.json"
PROMPT_S = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("limits")
    env = serve_env(f"sqlite:///{workdir / 'store.sqlite3'}", max_body_bytes=str(LIMIT))
    with calf_cds_serve(env, workdir, workers=1) as served:
        yield served


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def outcome(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        assert value["resourceType"] == "OperationOutcome"
        return value


def read_response(sock: socket.socket, timeout_s: float = 5.0) -> RawResponse:
    """One HTTP/1.1 response with a Content-Length body, read within `timeout_s`."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return RawResponse(int(status_line.split()[1]), headers, rest[:length])


def request_head(content_type: str | None = "application/json", **headers: str) -> bytes:
    lines = [f"POST {SERVICE} HTTP/1.1", "Host: 127.0.0.1"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.extend(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=5)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def sample_bytes(name: str = ALI) -> bytes:
    return json.dumps(load_json(SAMPLES / name)).encode()


def assert_worker_is_free(served: Served) -> None:
    """The next ordinary request is answered at once (nothing left blocked in the worker)."""
    started = time.monotonic()
    response = httpx.post(
        served.url + SERVICE,
        content=sample_bytes(),
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200
    assert time.monotonic() - started < PROMPT_S


# --- over the size limit, unread ----------------------------------------------------------------


def test_a_huge_declared_content_length_is_413_at_once_and_the_body_is_never_read(
    server: Served,
) -> None:
    declared = 10 * 1024**3  # 10 GiB announced; 1 KiB actually sent
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(request_head(Content_Length=str(declared)) + b"{" + b" " * 1023)
        response = read_response(sock)
        elapsed = time.monotonic() - started

        # The server drops the connection rather than draining 10 GiB: sending on soon fails.
        sent_after, closed = 0, False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sent_after < 256 * 1024**2:
            try:
                sent_after += sock.send(b" " * 65536)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except TimeoutError:
                continue
            readable, _, _ = select.select([sock], [], [], 0)
            if readable and not sock.recv(65536):
                closed = True
                break

    assert response.status == 413
    outcome = response.outcome()
    assert outcome["issue"][0]["code"] == "too-costly"
    assert str(declared) in outcome["issue"][0]["diagnostics"]
    assert str(LIMIT) in outcome["issue"][0]["diagnostics"]
    assert elapsed < PROMPT_S
    assert closed, f"the server kept reading: {sent_after} more bytes accepted"
    assert sent_after < 64 * 1024**2
    assert_worker_is_free(server)


def test_a_chunked_body_over_the_limit_is_413_before_the_stream_ends(server: Served) -> None:
    piece = b" " * 16384
    most = 2000  # 32 MiB if the server read it all: it must answer long before
    with connect(server) as sock:
        sock.sendall(request_head(Transfer_Encoding="chunked") + chunk(b"{"))
        sent, answered = 1, False
        try:
            for _ in range(most):
                sock.sendall(chunk(piece))
                sent += len(piece)
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    answered = True
                    break
        except (BrokenPipeError, ConnectionResetError):
            answered = True  # the server answered and closed while we were still sending
        response = read_response(sock)

    assert response.status == 413
    assert response.outcome()["issue"][0]["code"] == "too-costly"
    assert answered, "the whole 32 MiB stream was sent without an answer"
    assert sent < most * len(piece)
    assert_worker_is_free(server)


def test_a_chunked_body_within_the_limit_is_read_and_answered(server: Served) -> None:
    raw = sample_bytes()
    pieces = [raw[i : i + 700] for i in range(0, len(raw), 700)]
    with connect(server) as sock:
        sock.sendall(request_head(Transfer_Encoding="chunked"))
        for piece in pieces:
            sock.sendall(chunk(piece))
        sock.sendall(b"0\r\n\r\n")
        response = read_response(sock)

    assert response.status == 200, response.body[:500]
    cards = json.loads(response.body)["cards"]
    assert any((card["source"].get("topic") or {}).get("code") == "R-ALI" for card in cards)


# --- exact boundaries ---------------------------------------------------------------------------


def padded_to(raw: bytes, size: int) -> bytes:
    """`raw` with trailing whitespace (still the same JSON) up to exactly `size` bytes."""
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize(
    ("size", "status"),
    [
        pytest.param(LIMIT, 200, id="exactly-the-limit"),
        pytest.param(LIMIT + 1, 413, id="one-byte-over"),
    ],
)
def test_the_body_limit_is_exact(server: Served, size: int, status: int) -> None:
    body = padded_to(sample_bytes(), size)
    response = httpx.post(
        server.url + SERVICE, content=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == status, response.text[:300]


def nested_request(depth: int) -> bytes:
    """The ALI sample with an extra field whose lists make the whole body `depth` deep
    (written as bytes: json.dumps itself cannot nest 100,000 deep)."""
    lists = depth - 1  # the envelope object itself is the first level
    raw = sample_bytes()
    assert raw.startswith(b"{")
    return b'{"x-nesting": ' + b"[" * lists + b'"leaf"' + b"]" * lists + b", " + raw[1:]


@pytest.mark.parametrize(
    ("depth", "status"),
    [
        pytest.param(DEPTH_LIMIT, 200, id="at-the-limit"),
        pytest.param(DEPTH_LIMIT + 1, 400, id="one-deeper"),
        pytest.param(100_000, 400, id="far-deeper"),
    ],
)
def test_the_nesting_limit_is_exact(server: Served, depth: int, status: int) -> None:
    response = httpx.post(
        server.url + SERVICE,
        content=nested_request(depth),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == status, response.text[:300]
    if status == 400:
        issue = response.json()["issue"][0]
        assert issue["code"] == "structure"
        assert str(DEPTH_LIMIT) in issue["diagnostics"]


@pytest.mark.parametrize(
    ("depth", "text", "status"),
    [
        pytest.param(DEPTH_LIMIT, "[" * 500 + "{{", 200, id="open-brackets-in-a-string"),
        pytest.param(DEPTH_LIMIT, "]]]" + "[" * 3, 200, id="unbalancing-string"),
        pytest.param(DEPTH_LIMIT + 1, "]" * 40 + "[" * 40, 400, id="string-cannot-hide-nesting"),
        pytest.param(DEPTH_LIMIT + 1, "}" * 70, 400, id="closing-string-cannot-hide-nesting"),
    ],
)
def test_brackets_inside_strings_change_neither_verdict(
    server: Served, depth: int, text: str, status: int
) -> None:
    """The byte screen counts brackets inside strings too; the verdict must still be the
    parsed value's own depth (the exact walk decides whenever the screen is unsure)."""
    lists = depth - 1
    raw = sample_bytes()
    nested = b"[" * (lists - 1) + json.dumps([text]).encode() + b"]" * (lists - 1)
    response = httpx.post(
        server.url + SERVICE,
        content=b'{"x-nesting": ' + nested + b", " + raw[1:],
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == status, response.text[:300]


def with_entries(count: int) -> dict[str, Any]:
    """The ALI sample holding exactly `count` Bundle entries in all, over every key (the
    Patient, a single resource, is no entry)."""
    body = load_json(SAMPLES / ALI)
    bundle = body["prefetch"]["observations"]
    assert body["prefetch"]["patient"]["resourceType"] == "Patient"
    others = len(body["prefetch"]["conditions"].get("entry", []))
    # Resource types the service ignores: cheap to carry, so only the count matters.
    filler = count - others - len(bundle["entry"])
    bundle["entry"] += [
        {"resource": {"resourceType": "Basic", "id": f"b{i}"}} for i in range(filler)
    ]
    return body


@pytest.mark.parametrize(
    ("entries", "status"),
    [
        pytest.param(ENTRY_LIMIT, 200, id="exactly-the-default-limit"),
        pytest.param(ENTRY_LIMIT + 1, 413, id="one-entry-over"),
    ],
)
def test_the_default_entry_limit_is_exact(server: Served, entries: int, status: int) -> None:
    response = httpx.post(server.url + SERVICE, json=with_entries(entries), timeout=30)
    assert response.status_code == status, response.text[:300]
    if status == 413:
        issue = response.json()["issue"][0]
        assert issue["code"] == "too-costly"
        assert str(ENTRY_LIMIT) in issue["diagnostics"]


def test_a_bundle_over_the_entry_limit_is_413_on_evaluate_too(server: Served) -> None:
    entries = [{"resource": {"resourceType": "Basic"}} for _ in range(ENTRY_LIMIT + 1)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    response = httpx.post(server.url + "/evaluate", json=bundle, timeout=30)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-costly"


# --- encodings and media types over the wire ----------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status", "issue_code"),
    [
        pytest.param("application/json", b'{"hook": "\xff\xfe"}', 400, "invalid", id="bad-utf8"),
        pytest.param(
            "application/json", b'{"hook": "\xed\xa0\x80"}', 400, "invalid", id="utf8-surrogate"
        ),
        pytest.param("application/json", b'{"a": NaN}', 400, "invalid", id="nan"),
        pytest.param("text/plain", b"{}", 415, "not-supported", id="text-plain"),
        pytest.param(None, b"{}", 415, "not-supported", id="no-content-type"),
        pytest.param(
            "multipart/form-data; boundary=x", b"--x--", 415, "not-supported", id="multipart"
        ),
    ],
)
def test_bad_encodings_and_media_types_over_the_wire(
    server: Served, content_type: str | None, body: bytes, status: int, issue_code: str
) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(content_type, Content_Length=str(len(body))) + body)
        response = read_response(sock)
    assert response.status == status, response.body
    assert response.outcome()["issue"][0]["code"] == issue_code


# --- entry limits the size limit cannot catch (in-process app over real HTTP) ---------------------


@pytest.fixture
def small_entry_app(tmp_path: Path) -> Iterator[tuple[Flask, FakeFhir, str]]:
    """An app allowing 10 entries, allowed to fetch from a loopback FHIR server (6 per search)."""
    fake = FakeFhir()
    with serve(fake.app()) as fhir_url:
        app = create_app(
            {
                "database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
                "auth_mode": "off",
                "max_entries": 10,
                "fhir_server_allowlist": fhir_url,
                "evaluation_time": "2026-11-25T12:00:00Z",
            }
        )
        app.extensions["calf-cds"].store.upgrade()
        try:
            yield app, fake, fhir_url
        finally:
            app.extensions["calf-cds"].store.close()


def test_feedback_with_more_entries_than_the_limit_is_413_and_stores_nothing(
    small_entry_app: tuple[Flask, FakeFhir, str],
) -> None:
    app, _, _ = small_entry_app
    items = [
        {"card": str(uuid.uuid4()), "outcome": "overridden",
         "outcomeTimestamp": "2026-11-25T12:00:00Z"}
        for _ in range(11)
    ]  # fmt: skip
    with serve(app) as url:
        response = httpx.post(f"{url}{SERVICE}/feedback", json={"feedback": items}, timeout=10)

    assert response.status_code == 413
    issue = response.json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert "11" in issue["diagnostics"]
    assert app.extensions["calf-cds"].store.feedback_count() == 0


def test_entries_fetched_from_the_fhir_server_count_toward_the_limit(
    small_entry_app: tuple[Flask, FakeFhir, str],
) -> None:
    app, fake, fhir_url = small_entry_app
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": f"{fhir_url}/fhir",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
    }
    with serve(app) as url:
        response = httpx.post(url + SERVICE, json=body, timeout=10)

    assert fake.paths(), "nothing was fetched"
    assert response.status_code == 413, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert "the limit is 10" in issue["diagnostics"]
