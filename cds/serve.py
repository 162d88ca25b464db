"""Running the service: bind the port, migrate, print one line, then gunicorn (or werkzeug's
server with --dev), the app wrapped in ServedApp (bodies read first, broken HTTP framing a
400). The gunicorn worker is cds.serve_worker's."""

from __future__ import annotations

import errno
import functools
import io
import logging
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from .config import Settings
from .errors import BadRequest, StoreUnavailable, operation_outcome

log = logging.getLogger("cds.serve")
T = TypeVar("T")


def migrate_store(settings: Settings) -> None:
    """Apply migrations at start; a database that is down must not stop cards (logged)."""
    from .store import Store

    store = Store.open(settings.database_url, settings=settings)
    try:
        store.upgrade()
    except StoreUnavailable as exc:
        log.warning(
            "store unavailable at start; cards will not be recorded until it is back",
            extra={"error": str(exc)},
        )
    finally:
        store.close()


def prepare_metrics_dir() -> str:
    """Point prometheus-client's multiprocess mode at a fresh, empty directory.

    Must run before `prometheus_client` is first imported (cds.metrics, via cds.observability)
    and before gunicorn forks its workers: each worker then writes its samples there and
    `/metrics` sums them. A fresh directory per start, so counts never carry over from an
    earlier run; removed when the master exits.
    """
    import atexit
    import os
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="calf-cds-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    master = os.getpid()

    def _remove() -> None:
        # Forked workers inherit atexit handlers; only the master may remove the directory.
        if os.getpid() == master:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(_remove)
    return directory


def _child_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited; tell prometheus-client its process is gone."""
    from .metrics import mark_worker_dead

    mark_worker_dead(worker.pid)


def _post_worker_init(_worker: Any) -> None:
    """gunicorn hook: the worker has loaded the app; freeze what exists now (modules, the R4B
    and compiled validators, the catalog) out of the cyclic GC, so the full collections a
    request's parsed JSON triggers do not rescan them (they showed up as p99 spikes), and
    space the young-generation collections (`WORKER_GC_THRESHOLDS`).

    Also makes gunicorn's own refusals (a request it cannot parse: header over 8 KiB, request
    line over 4 KiB, malformed header) OperationOutcomes like every other non-2xx answer.
    """
    from gunicorn import util

    util.write_error = _write_error_as_outcome  # workers call `util.write_error` at error time
    configure_worker_gc()


def configure_worker_gc() -> None:
    """Freeze what exists now out of the cyclic GC and space its collections (a worker after
    loading the app; the in-process benchmark after its warm-up, to time what workers run)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


# A request's parsed body is some 30,000 containers that reference counting frees as a tree
# (no cycles); with CPython's default gen-0 threshold of 700 the collector scans it dozens of
# times per request, about 10% of a worker's CPU (bench/README.md, pass 4). Cyclic garbage is
# rare here, so collecting every 50,000 net allocations costs little memory.
WORKER_GC_THRESHOLDS = (50_000, 20, 100)


# gunicorn's refusal statuses mapped onto the FHIR issue types of cds-hooks.md "Errors".
_SERVER_ISSUE_CODES = {400: "invalid", 403: "forbidden", 414: "too-costly", 431: "too-costly"}


def _write_error_as_outcome(sock: Any, status_int: int, reason: str, _mesg: str) -> None:
    """Stands in for gunicorn.util.write_error: the same status line, an OperationOutcome body.

    gunicorn's message is not echoed (it can quote the caller's bytes); the reason phrase is
    gunicorn's own fixed text.
    """
    import json

    from gunicorn import util

    if status_int >= 500:
        code, diagnostics = "exception", "internal error; the incident was logged"
    else:
        code = _SERVER_ISSUE_CODES.get(status_int, "invalid")
        diagnostics = f"the server could not read the request: {reason}"
    body = json.dumps(operation_outcome(code, diagnostics)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# Threads per worker: 1 runs BufferingSyncWorker (cds.serve_worker); more run its threaded
# worker, which overlaps hook calls waiting on a FHIR server (EHRs that send no prefetch) and
# costs CPU and tail latency otherwise (bench/README.md).
DEFAULT_THREADS = 1


class PortInUse(Exception):
    """The address `calf-cds serve` was told to listen on is taken."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (SO_REUSEADDR, as gunicorn sets it).

    Bound here, before gunicorn or Flask start, so a busy port is one clear error instead of
    gunicorn's five "Connection in use" retries, and nothing can take the port between a check
    and the bind. Raises PortInUse, or OSError for other failures (e.g. an unknown host).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # gunicorn's default backlog
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"{_url(host, port)} is already in use") from exc
        raise
    return sock


def version() -> str:
    """The installed package's version (`make` always installs the project)."""
    from importlib.metadata import version as package_version

    return package_version("calf-cds")


def start_line(host: str, port: int, settings: Settings) -> str:
    """The one line `calf-cds serve` prints once it listens."""
    url = _url(host, port)
    console = f"{url}/" if settings.console else "off"
    return f"calf-cds {version()} listening on {url} (console: {console})"


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_server(
    *, host: str, port: int | None, workers: int, dev: bool, threads: int = DEFAULT_THREADS
) -> int:
    """Migrate, listen, print the start line, serve. 1 when the port is taken (one line)."""
    if not dev:
        prepare_metrics_dir()
    from . import create_app
    from .auth import check_required_mode
    from .observability import configure_logging

    settings = Settings.load()
    port = settings.port if port is None else port
    configure_logging(settings)
    check_required_mode(settings)  # refused here, before gunicorn: exit status 2, not 3
    try:
        listener = listen(host, port)
    except PortInUse as exc:
        print(f"calf-cds: cannot listen: {exc} (choose another with --port or CDS_PORT)",
              file=sys.stderr)  # fmt: skip
        return 1
    except OSError as exc:
        print(f"calf-cds: cannot listen on {_url(host, port)}: {exc.strerror}", file=sys.stderr)
        return 1
    migrate_store(settings)
    print(start_line(host, port, settings), flush=True)
    if dev:
        from werkzeug.serving import make_server

        app = ServedApp(create_app(), settings.max_body_bytes, serialise=False)
        server = make_server(host, port, app, threaded=True, fd=listener.detach())
        server.serve_forever()
        return 0
    options = gunicorn_options(host=host, port=port, workers=workers, threads=threads)
    options["bind"] = f"fd://{listener.detach()}"
    _GunicornApp(options).run()
    return 0


def gunicorn_options(
    *, host: str, port: int, workers: int, threads: int = DEFAULT_THREADS
) -> dict[str, Any]:
    """The gunicorn settings `calf-cds serve` runs with (bench/ serves a bare app with them).

    One thread per worker: cds.serve_worker.BufferingSyncWorker, gunicorn's sync worker that
    takes a request only once all of it has arrived, so slow, idle or never-closing clients
    cannot hold a worker. The work per request is CPU-bound Python under the GIL, so one
    thread per worker is also the fastest, as long as requests do not wait on the network.
    More threads: cds.serve_worker's threaded worker (gunicorn's gthread), whose hook calls
    take turns (ServedApp) and give the turn up while they wait on a FHIR server: for EHRs that
    send no prefetch. Either way, a buffering reverse proxy in front terminates TLS and takes
    floods.
    """
    from .serve_worker import BufferingSyncWorker, threaded_worker

    worker_class = BufferingSyncWorker if threads == 1 else threaded_worker()
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 0,  # a connection per request, to the first free worker (both kinds)
        "max_requests": 20_000,
        "max_requests_jitter": 2_000,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "child_exit": _child_exit,
        "post_worker_init": _post_worker_init,
    }


# --- the WSGI app as served ---------------------------------------------------------------------

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ServedApp:
    """The WSGI app as `calf-cds serve` runs it.

    For a request with a body: the body is read whole (up to the size limit + 1 byte) before
    the app runs (under a threaded worker, a client that trickles its body holds a connection
    thread, never the worker's turn); and a body whose HTTP framing is broken (a bad chunk size
    or extension, a missing chunk terminator, fewer bytes than Content-Length) reaches the app
    as a stream that raises BadRequest: a 400 OperationOutcome through the app's own error
    handling, not a 500.

    With `serialise` (threaded workers, `--threads` > 1), those requests then run one at a
    time per process, first come first served, as sync workers run them: interleaved on
    threads under the GIL, CPU-bound requests all finish later. The turn is given up while a
    hook call waits on the EHR's FHIR server (`fetcher`, wrapped by `wait_outside_turn`), so
    other calls run meanwhile. Requests without a body (health, discovery, metrics, console)
    are cheap and never wait behind a hook call.
    """

    def __init__(self, app: Any, max_body_bytes: int, *, serialise: bool) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.turn = Turn() if serialise else None
        self._holder = threading.local()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") not in _BODY_METHODS:
            return self.app(environ, start_response)
        _buffer_body(environ, self.max_body_bytes)
        if self.turn is None:
            return self.app(environ, start_response)
        with self.turn:
            self._holder.holds = True
            try:
                return self.app(environ, start_response)
            finally:
                self._holder.holds = False

    def wait_outside_turn(self, wait: Callable[..., T]) -> Callable[..., T]:
        """`wait`, run with this thread's turn given up (it is taken back before returning)."""

        def call(*args: Any, **kwargs: Any) -> T:
            if self.turn is None or not getattr(self._holder, "holds", False):
                return wait(*args, **kwargs)
            self._holder.holds = False
            self.turn.release()
            try:
                return wait(*args, **kwargs)
            finally:
                self.turn.acquire()
                self._holder.holds = True

        return call


class Turn:
    """A lock handed to its waiters in arrival order.

    threading.Lock lets a thread that arrives as the lock is released take it before the
    threads already waiting, so under load some requests wait far longer than others; a sync
    worker's kernel accept queue is first in, first out, and so is this.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            handed = threading.Lock()
            handed.acquire()
            self._waiting.append(handed)
        handed.acquire()  # released by `release`, which hands the turn over: still held

    def release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False

    def __enter__(self) -> Turn:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _buffer_body(environ: dict[str, Any], limit: int) -> None:
    """Replace `wsgi.input` with the body read now (at most limit + 1 bytes: the app decides
    413 from that), or with a stream raising BadRequest when the body's framing is broken."""
    declared = _content_length(environ)
    if declared is not None and declared > limit:
        return  # refused from the header alone; never read
    if declared is None and not environ.get("wsgi.input_terminated"):
        return  # no body (WSGI: no Content-Length and no end-of-stream guarantee)
    wanted = limit + 1 if declared is None else declared
    try:
        body = environ["wsgi.input"].read(wanted)
    except framing_errors() as exc:
        environ["wsgi.input"] = _Unreadable(_framing_diagnostics(exc))
        return
    if declared is not None and len(body) < declared:
        environ["wsgi.input"] = _Unreadable(
            f"the request body ended after {len(body)} of its {declared} bytes (Content-Length)"
        )
        return
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


@functools.cache
def framing_errors() -> tuple[type[BaseException], ...]:
    """What reading a request body raises when its HTTP framing is broken.

    gunicorn: its `ParseException`s (InvalidChunkSize, InvalidChunkExtension,
    ChunkMissingTerminator, and InvalidHeader/LimitRequestHeaders for trailers) and NoMoreData
    (an IOError). werkzeug's development server: OSError ("Invalid chunk header", "Negative
    chunk length not allowed", "Missing chunk terminating newline"). A socket error while
    reading the body is the same thing to the client: its request did not arrive.
    """
    from gunicorn.http.errors import ParseException

    return (ParseException, OSError)


# Fixed texts: the servers' own messages can quote the caller's bytes.
_FRAMING_TEXTS = {
    "InvalidChunkSize": "a chunk size is not a hexadecimal number",
    "InvalidChunkExtension": "a chunk extension is malformed",
    "ChunkMissingTerminator": "a chunk is not followed by CRLF",
    "InvalidHeader": "the trailer section is malformed",
    "LimitRequestHeaders": "the trailer section is too large",
    "NoMoreData": "the connection closed before the body ended",
}


def _framing_diagnostics(exc: BaseException) -> str:
    text = _FRAMING_TEXTS.get(type(exc).__name__)
    if text is None and isinstance(exc, OSError) and exc.errno is None and exc.args:
        text = str(exc.args[0]).lower()  # werkzeug's fixed messages, e.g. "invalid chunk header"
    return f"the request body's HTTP framing is invalid: {text or 'it could not be read'}"


class _Unreadable(io.RawIOBase):
    """A request body that could not be read: reading it raises BadRequest (400)."""

    def __init__(self, diagnostics: str) -> None:
        super().__init__()
        self.diagnostics = diagnostics

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise BadRequest(self.diagnostics)


def _gunicorn_base() -> Any:
    from gunicorn.app.base import BaseApplication

    return BaseApplication


class _GunicornApp(_gunicorn_base()):  # type: ignore[misc]
    """gunicorn serving `cds:create_app()` (or `factory()`) with options set in code."""

    def __init__(self, options: dict[str, Any], factory: Any = None) -> None:
        self.options = options
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # A threaded worker needs the turn; a sync one takes one request at a time already.
        serialise = self.options.get("threads", 1) > 1
        if self.factory is not None:  # bench/: a baseline app served the same way
            return ServedApp(self.factory(), Settings.max_body_bytes, serialise=serialise)
        from . import create_app

        app = create_app()
        runtime = app.extensions["calf-cds"]
        served = ServedApp(app, runtime.settings.max_body_bytes, serialise=serialise)
        if runtime.deps.fetcher is not None:
            runtime.deps.fetcher = served.wait_outside_turn(runtime.deps.fetcher)
        return served
