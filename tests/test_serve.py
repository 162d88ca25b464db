"""`calf-cds serve` as an operator and an attacker meet it (issues 15.3, 18.4, 18.6).

Real processes on loopback: the start line, the port setting, a busy port, `--version`; broken
HTTP framing sent as raw bytes; slow and idle client sockets; the worker's turn given up while
a hook call waits on the EHR's FHIR server.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SAMPLES, load_json
from loopback import FakeFhir, serve
from served import CALF_CDS, calf_cds_serve, free_port, serve_env, stop

from cds.serving.worker import MAX_ARRIVING, Arriving

VERSION = version("calf-cds")
HOOK = "/cds-services/calf-pain-triage"
RED_FLAG_CALL = load_json(SAMPLES / "cauda-equina-saddle-anaesthesia-urinary-retention.json")


@contextmanager
def started(
    tmp_path: Path, args: list[str], **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """`calf-cds <args>` with stdout and stderr in files (never pipes); stopped at the end."""
    env = serve_env(f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}", **settings)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(CALF_CDS), *args],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        yield process, out, err
    finally:
        stop(process)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 40) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "calf-cds serve exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy")


# --- 15.3: one line at start, the port, a busy port, --version ------------------------------


@pytest.mark.parametrize(
    ("dev", "console"),
    [
        pytest.param(False, "on", id="gunicorn"),
        pytest.param(False, "off", id="gunicorn-console-off"),
        pytest.param(True, "on", id="dev"),
    ],
)
def test_serve_prints_exactly_one_line_and_listens_on_cds_port(
    tmp_path: Path, dev: bool, console: str
) -> None:
    port = free_port()
    args = ["serve", "--dev"] if dev else ["serve"]
    with started(tmp_path, args, port=str(port), console=console) as (process, out, _):
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        shown = f"{url}/" if console == "on" else "off"
        assert out.read_text() == f"calf-cds {VERSION} listening on {url} (console: {shown})\n"


def test_the_development_server_writes_json_lines_only(tmp_path: Path) -> None:
    port = free_port()
    with started(tmp_path, ["serve", "--dev"], port=str(port), log_level="INFO") as (
        process,
        _,
        err,
    ):
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        httpx.post(f"{url}{HOOK}", json=RED_FLAG_CALL, timeout=10)
        time.sleep(0.3)
        lines = err.read_text().splitlines()

    records = [json.loads(line) for line in lines]  # a plain werkzeug line would not parse
    assert any(r["logger"] == "cds.access" and r["method"] == "POST" for r in records)


def test_the_port_option_wins_over_cds_port(tmp_path: Path) -> None:
    port, other = free_port(), free_port()
    with started(tmp_path, ["serve", "--port", str(port)], port=str(other)) as (process, out, _):
        wait_healthy(f"http://127.0.0.1:{port}", process)
        assert f"listening on http://127.0.0.1:{port} " in out.read_text()


@pytest.mark.parametrize("dev", [False, True], ids=["gunicorn", "dev"])
def test_a_busy_port_is_one_clear_error_and_exit_status_1(tmp_path: Path, dev: bool) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        args = ["serve", "--port", str(port), *(["--dev"] if dev else [])]
        began = time.monotonic()
        with started(tmp_path, args) as (process, out, err):
            status = process.wait(timeout=30)
        elapsed = time.monotonic() - began

    assert status == 1
    assert out.read_text() == ""
    assert err.read_text() == (
        f"calf-cds: cannot listen: http://127.0.0.1:{port} is already in use "
        "(choose another with --port or CDS_PORT; under make run, PORT=...)\n"
    )
    assert elapsed < 10  # gunicorn alone retried five times, a second apart


def _readable_by_others(tmp_path: Path) -> Path:
    sessions = tmp_path / "sessions"
    sessions.mkdir(mode=0o755)
    sessions.chmod(0o755)
    return sessions


def _under_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "sessions"  # under a file: mkdir fails


def _with_a_broken_key(tmp_path: Path) -> Path:
    sessions = tmp_path / "sessions"
    sessions.mkdir(mode=0o700)
    (sessions / "cookie-signing.key").write_bytes(b"short")  # a write cut short
    return sessions


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(
            _readable_by_others,
            "CDS_SMART_SESSION_DIR {dir} is readable by others (chmod 700 it)",
            id="readable",
        ),
        pytest.param(
            _under_a_file,
            "CDS_SMART_SESSION_DIR {dir} cannot be used: Not a directory",
            id="cannot-be-made",
        ),
        pytest.param(
            _with_a_broken_key,
            "{dir}/cookie-signing.key does not hold a 32-byte key",
            id="broken-key",
        ),
    ],
)
def test_an_unusable_session_directory_is_refused_before_listening(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    sessions = make(tmp_path)
    args = ["serve", "--port", str(free_port())]
    settings = {"smart_client_id": "calf-cds", "smart_session_dir": str(sessions)}
    with started(tmp_path, args, **settings) as (process, out, err):
        status = process.wait(timeout=30)

    assert status == 2  # a configuration error, as the README says
    assert out.read_text() == ""  # never "listening" first
    said = err.read_text()
    assert said.endswith(f"calf-cds: configuration error: {reason.format(dir=sessions)}\n")
    assert "Traceback" not in said


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CALF_CDS), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, f"calf-cds {VERSION}\n", "")


# --- 18.6: broken HTTP framing is a 400 OperationOutcome, not a 500 -------------------------

CHUNKED_HEAD = (
    b"POST " + HOOK.encode() + b" HTTP/1.1\r\nHost: calf-cds\r\n"
    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)
SHORT_BODY = (
    b"POST " + HOOK.encode() + b" HTTP/1.1\r\nHost: calf-cds\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{}"
)
FRAMING = "the request body's HTTP framing is invalid: "
# (raw request, diagnostics under gunicorn, diagnostics under --dev)
BROKEN_BODIES = {
    "negative-chunk-size": (
        CHUNKED_HEAD + b"-5\r\nhello\r\n0\r\n\r\n",
        FRAMING + "a chunk size is not a hexadecimal number",
        FRAMING + "negative chunk length not allowed",
    ),
    "malformed-chunk-extension": (
        CHUNKED_HEAD + b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
        FRAMING + "a chunk extension is malformed",
        FRAMING + "invalid chunk header",
    ),
    "chunk-size-not-hex": (
        CHUNKED_HEAD + b"zz\r\nhello\r\n0\r\n\r\n",
        FRAMING + "a chunk size is not a hexadecimal number",
        FRAMING + "invalid chunk header",
    ),
    "chunk-without-terminator": (
        CHUNKED_HEAD + b"5\r\nhelloXX0\r\n\r\n",
        FRAMING + "a chunk is not followed by CRLF",
        FRAMING + "missing chunk terminating newline",
    ),
    "body-shorter-than-content-length": (
        SHORT_BODY,
        "the request body ended after 2 of its 100 bytes (Content-Length)",
        "the request body ended after 2 of its 100 bytes (Content-Length)",
    ),
}


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes (then half-close), read the whole answer: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.fixture(scope="module", params=[False, True], ids=["gunicorn", "dev"])
def framing_server(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("framing")
    env = serve_env(f"sqlite:///{workdir / 'calf-cds.sqlite3'}")
    args = ["--dev"] if request.param else []
    with calf_cds_serve(env, workdir, args=args) as served:
        yield served.port, request.param


@pytest.mark.parametrize("case", list(BROKEN_BODIES))
def test_broken_http_framing_is_a_400_operation_outcome(framing_server: Any, case: str) -> None:
    port, dev = framing_server
    raw, under_gunicorn, under_dev = BROKEN_BODIES[case]

    status, body = exchange(port, raw)

    assert status == 400
    assert body == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": under_dev if dev else under_gunicorn,
            }
        ],
    }


def test_gunicorns_own_warnings_are_json_lines_without_the_clients_bytes(
    tmp_path: Path,
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}")
    with calf_cds_serve(env, tmp_path, workers=1) as served:
        for raw in (
            b"XY\x01Z / HTTP/1.1\r\nHost: calf-cds\r\n\r\n",
            b"GET /x?patient=calf-771e905db23d\x01 HTTP/1.1\r\nHost: calf-cds\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
                sock.sendall(raw)
                assert sock.recv(12) == b"HTTP/1.1 400"
        deadline = time.monotonic() + 5
        while served.log.read_text().count("Invalid request") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        log_lines = served.log.read_text().splitlines()

    warnings = [json.loads(line) for line in log_lines if "Invalid request" in line]
    assert {(w["logger"], w["level"]) for w in warnings} == {("gunicorn.error", "WARNING")}
    withheld = "(the client's bytes are not logged)"
    assert [w["msg"] for w in warnings] == [
        f"Invalid request from ip=127.0.0.1: Invalid HTTP method {withheld}",
        f"Invalid request from ip=127.0.0.1: Invalid HTTP request line {withheld}",
    ]
    assert "771e905db23d" not in "\n".join(log_lines)  # the patient id in the query


def test_a_well_framed_chunked_body_is_read(framing_server: Any) -> None:
    port, _ = framing_server
    body = json.dumps(RED_FLAG_CALL).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(piece), piece)
        for piece in (body[i : i + 1000] for i in range(0, len(body), 1000))
    )
    status, answer = exchange(port, CHUNKED_HEAD + chunks + b"0\r\n\r\n")
    assert status == 200
    assert [card["source"]["topic"]["code"] for card in answer["cards"]] == ["R-CAUDA-EQUINA"]


# --- 18.4: slow and idle client sockets do not stop the service -----------------------------


SLOW_KINDS = ("idle", "dripping", "never-closing")


@contextmanager
def slow_clients(port: int, kind: str, count: int = 4) -> Iterator[list[socket.socket]]:
    """`count` client sockets of one kind: idle (connected, silent), dripping (a partial
    request, then a byte every 0.5 s for as long as they are open) or never-closing (a whole
    request with `Connection: close`, then neither reading the answer nor closing)."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    stop_dripping = threading.Event()

    def drip(sock: socket.socket) -> None:
        sock.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\n".encode())
        while not stop_dripping.wait(0.5):
            try:
                sock.sendall(b"X")
            except OSError:
                return

    drippers = []
    for sock in sockets:
        if kind == "dripping":
            drippers.append(threading.Thread(target=drip, args=(sock,), daemon=True))
        elif kind == "never-closing":
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: calf-cds\r\nConnection: close\r\n\r\n")
    for thread in drippers:
        thread.start()
    time.sleep(0.5)  # let the server accept them all
    try:
        yield sockets
    finally:
        stop_dripping.set()
        for thread in drippers:
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()


def timed(call: Any) -> tuple[Any, float]:
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


@pytest.mark.parametrize("threads", ["1", "8"], ids=["buffering-sync", "threaded"])
@pytest.mark.parametrize("kind", SLOW_KINDS)
def test_four_slow_or_idle_clients_do_not_stop_health_or_hook_calls(
    tmp_path: Path, kind: str, threads: str
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}")
    args = ["--threads", threads]
    with (
        calf_cds_serve(env, tmp_path, workers=2, args=args) as served,
        slow_clients(served.port, kind),
    ):
        for _ in range(3):  # and again: each answer comes while the slow sockets stay open
            health, health_s = timed(lambda: httpx.get(f"{served.url}/healthz", timeout=10))
            hook, hook_s = timed(
                lambda: httpx.post(f"{served.url}{HOOK}", json=RED_FLAG_CALL, timeout=10)
            )
            assert health.status_code == 200
            assert health_s < 1.0
            assert hook.status_code == 200
            assert [card["source"]["topic"]["code"] for card in hook.json()["cards"]] == [
                "R-CAUDA-EQUINA"
            ]
            assert hook_s < 2.0


def test_threads_let_hook_calls_overlap_while_they_wait_on_the_fhir_server(
    tmp_path: Path,
) -> None:
    """`--threads`: one worker, hook calls that fetch from a FHIR server answering each page in
    0.5 s (3 pages): the worker's turn is given up during the wait, so two calls overlap
    instead of queueing (two in a row would take twice as long as one)."""
    fake = FakeFhir(delay_s=0.5)
    with serve(fake.app()) as fhir_url:
        env = serve_env(
            f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}", fhir_server_allowlist=fhir_url
        )
        call = {
            **{key: value for key, value in RED_FLAG_CALL.items() if key != "prefetch"},
            "fhirServer": f"{fhir_url}/slow",
        }
        with calf_cds_serve(env, tmp_path, workers=1, args=["--threads", "4"]) as served:

            def post() -> httpx.Response:
                return httpx.post(f"{served.url}{HOOK}", json=call, timeout=10)

            first, alone_s = timed(post)
            answers: list[httpx.Response] = []
            threads = [threading.Thread(target=lambda: answers.append(post())) for _ in range(2)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            together_s = time.monotonic() - began

    assert [answer.status_code for answer in [first, *answers]] == [200, 200, 200]
    assert alone_s > 1.5  # three pages, 0.5 s each
    assert together_s < 1.5 * alone_s, (alone_s, together_s)


# --- the buffering sync worker: requests that arrive in pieces are answered whole -----------


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory: Any) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("worker")
    env = serve_env(f"sqlite:///{workdir / 'calf-cds.sqlite3'}")
    with calf_cds_serve(env, workdir) as served:
        yield served


def read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """The final status and JSON body, past any interim 100 Continue (RFC 9110 15.2: a
    client reads one or more 1xx before the final answer)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    while answer.startswith(b"HTTP/1.1 100 "):
        answer = answer.partition(b"\r\n\r\n")[2]
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_a_request_arriving_slowly_is_answered_once_whole_and_others_meanwhile(
    gunicorn_server: Any,
) -> None:
    body = json.dumps(RED_FLAG_CALL).encode()
    head = (
        f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    pieces = [head[:10], head[10:], body[:1000], body[1000:5000], body[5000:]]
    with socket.create_connection(("127.0.0.1", gunicorn_server.port), timeout=10) as sock:
        for piece in pieces:
            sock.sendall(piece)
            health, health_s = timed(
                lambda: httpx.get(f"{gunicorn_server.url}/healthz", timeout=10)
            )
            assert (health.status_code, health_s < 1.0) == (200, True)
            time.sleep(0.3)
        status, answer = read_answer(sock)
    assert status == 200
    assert [card["source"]["topic"]["code"] for card in answer["cards"]] == ["R-CAUDA-EQUINA"]


def test_a_body_is_complete_only_when_its_content_length_has_arrived() -> None:
    """The head's lines end in CRLF: the declared length is read as a number, so a request is
    handed to gunicorn only with its whole body (else a stalled client holds the worker)."""
    with socket.socket() as unused:
        arriving = Arriving(unused, None, None, since=0.0, body_limit=10_000)
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"

        assert arriving.feed(head + b"{") is False
        assert arriving.feed(b"x" * 998) is False
        assert arriving.feed(b"}") is True


def test_a_client_stalled_inside_its_body_does_not_hold_the_only_worker(tmp_path: Path) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}")
    stalled_head = (
        f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{"
    ).encode()
    with (
        calf_cds_serve(env, tmp_path, workers=1) as served,
        socket.create_connection(("127.0.0.1", served.port)) as stalled,
    ):
        stalled.sendall(stalled_head)
        time.sleep(0.3)
        health, health_s = timed(lambda: httpx.get(f"{served.url}/healthz", timeout=10))
        hook, hook_s = timed(
            lambda: httpx.post(f"{served.url}{HOOK}", json=RED_FLAG_CALL, timeout=10)
        )

    assert (health.status_code, health_s < 1.0) == (200, True)
    assert (hook.status_code, hook_s < 2.0) == (200, True)
    assert [card["source"]["topic"]["code"] for card in hook.json()["cards"]] == ["R-CAUDA-EQUINA"]


def test_more_idle_connections_than_a_worker_holds_do_not_keep_new_ones_out(
    tmp_path: Path,
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}")
    idle_head = f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\n".encode()
    body = json.dumps(RED_FLAG_CALL).encode()
    head = (
        f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with calf_cds_serve(env, tmp_path, workers=1) as served, contextlib.ExitStack() as stack:
        sending = stack.enter_context(socket.create_connection(("127.0.0.1", served.port)))
        sending.sendall(head + body[:3])  # a body on its way, first to connect
        for _ in range(MAX_ARRIVING + 44):
            idle = stack.enter_context(socket.create_connection(("127.0.0.1", served.port)))
            idle.sendall(idle_head)
        time.sleep(0.5)
        health, health_s = timed(lambda: httpx.get(f"{served.url}/healthz", timeout=10))
        sending.sendall(body[3:])
        sending.settimeout(10)
        answer = sending.recv(12)
        log = served.log.read_text()

    assert (health.status_code, health_s < 1.0) == (200, True)
    assert answer == b"HTTP/1.1 200"  # the client still sending was kept
    assert f"closed a connection: over {MAX_ARRIVING} still arriving" in log


def test_a_flood_of_large_bodies_is_cut_largest_first_and_a_small_request_answered(
    tmp_path: Path,
) -> None:
    env = serve_env(
        f"sqlite:///{tmp_path / 'calf-cds.sqlite3'}",
        max_buffered_bytes="300000",
        max_body_bytes="250000",
    )

    def head(length: int) -> bytes:
        return (
            f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()

    with calf_cds_serve(env, tmp_path, workers=1) as served:
        largest, large, small = (
            socket.create_connection(("127.0.0.1", served.port), timeout=10) for _ in range(3)
        )
        with largest, large, small:
            largest.sendall(head(240_000) + b"x" * 180_000)
            time.sleep(0.3)
            large.sendall(head(240_000) + b"x" * 110_000)
            time.sleep(0.3)
            small.sendall(head(20_000) + b"x" * 10_000)  # together now over 300,000 bytes
            time.sleep(0.3)
            small.sendall(b"x" * 10_000)  # its body complete: judged
            answer = small.recv(65536)
            cut = b""
            with contextlib.suppress(ConnectionResetError):
                cut = largest.recv(65536)
            health = httpx.get(f"{served.url}/healthz", timeout=10)

    assert answer.startswith(b"HTTP/1.1 400 ")  # the small request was answered
    assert cut == b""  # the largest was closed, unanswered
    assert health.status_code == 200


def test_a_client_expecting_100_continue_gets_it_then_its_answer(gunicorn_server: Any) -> None:
    body = json.dumps(RED_FLAG_CALL).encode()
    head = (
        f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gunicorn_server.port), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(25)  # before any byte of the body is sent
        sock.sendall(body)
        status, answer = read_answer(sock)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status == 200
    assert [card["source"]["topic"]["code"] for card in answer["cards"]] == ["R-CAUDA-EQUINA"]


def test_chunk_extensions_and_trailers_are_read(gunicorn_server: Any) -> None:
    body = json.dumps(RED_FLAG_CALL).encode()
    chunks = b"".join(
        b"%x;piece=%d\r\n%s\r\n" % (len(piece), number, piece)
        for number, piece in enumerate(body[i : i + 4000] for i in range(0, len(body), 4000))
    )
    raw = CHUNKED_HEAD + chunks + b"0\r\nX-Checked: yes\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gunicorn_server.port), timeout=10) as sock:
        sock.sendall(raw[:100])
        time.sleep(0.2)
        sock.sendall(raw[100:])
        status, answer = read_answer(sock)
    assert status == 200
    assert [card["source"]["topic"]["code"] for card in answer["cards"]] == ["R-CAUDA-EQUINA"]


def test_the_turn_goes_to_waiting_requests_in_arrival_order() -> None:
    """Under `--threads`, a worker's hook calls take their turn first come, first served: one
    that arrives as the turn is released waits behind those already waiting (a plain lock
    lets it overtake)."""
    from cds.serving.wsgi import Turn

    turn = Turn()
    order: list[str] = []
    turn.acquire()

    def take(name: str) -> None:
        with turn:
            order.append(name)

    threads = [threading.Thread(target=take, args=(f"waiter {n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # each is waiting before the next arrives
    turn.release()
    take("late arrival")  # arrives the moment the turn is released
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["waiter 0", "waiter 1", "waiter 2", "late arrival"]
