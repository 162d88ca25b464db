"""Running the service: bind the port, migrate, print one line, then gunicorn (or werkzeug's
server with --dev), the app wrapped in `serving.wsgi.ServedApp` (bodies read first, broken HTTP
framing a 400). The gunicorn workers are `serving.worker`'s."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from typing import Any

from ..config import Settings
from ..errors import StoreUnavailable, operation_outcome
from .wsgi import ServedApp

log = logging.getLogger(__name__)


def migrate_store(settings: Settings) -> None:
    """Apply migrations at start; a database that is down must not stop cards (logged)."""
    from ..store import Store

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
    from ..metrics import mark_worker_dead

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
# times per request, for nothing. Cyclic garbage is rare here, so collecting every 50,000 net
# allocations costs little memory.
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


# Threads per worker: 1 runs BufferingSyncWorker (serving.worker); more run its threaded
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
    from .. import create_app
    from ..auth import check_required_mode
    from ..observability import configure_logging

    settings = Settings.load()
    port = settings.port if port is None else port
    configure_logging(settings)
    # Refused here, before gunicorn: exit status 2 and one line, not 3 after "listening".
    check_required_mode(settings)
    if settings.smart_client_id:  # the red-flag check app's session directory, in use
        from ..smart.session import private_directory, signing_key
        from ..smart.views import session_directory

        directory = session_directory(settings)
        private_directory(directory)
        signing_key(settings, directory)  # made once here, or refused: never after "listening"
    try:
        listener = listen(host, port)
    except PortInUse as exc:
        choose = "choose another with --port or CDS_PORT; under make run, PORT=..."
        print(f"calf-cds: cannot listen: {exc} ({choose})", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"calf-cds: cannot listen on {_url(host, port)}: {exc.strerror}", file=sys.stderr)
        return 1
    migrate_store(settings)
    print(start_line(host, port, settings), flush=True)
    if dev:
        from werkzeug.serving import make_server

        from ..observability import quiet_development_server

        app = ServedApp(create_app(), settings.max_body_bytes, serialise=False)
        quiet_development_server()
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

    One thread per worker: serving.worker.BufferingSyncWorker, gunicorn's sync worker that
    takes a request only once all of it has arrived, so slow, idle or never-closing clients
    cannot hold a worker. The work per request is CPU-bound Python under the GIL, so one
    thread per worker is also the fastest, as long as requests do not wait on the network.
    More threads: serving.worker's threaded worker (gunicorn's gthread), whose hook calls
    take turns (ServedApp) and give the turn up while they wait on a FHIR server: for EHRs that
    send no prefetch. Either way, a buffering reverse proxy in front terminates TLS and takes
    floods.
    """
    from .worker import BufferingSyncWorker, threaded_worker

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
        "logger_class": "cds.serving.gunicorn_logging.JsonLogger",
        "child_exit": _child_exit,
        "post_worker_init": _post_worker_init,
    }


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
        from .. import create_app

        app = create_app()
        runtime = app.extensions["calf-cds"]
        served = ServedApp(app, runtime.settings.max_body_bytes, serialise=serialise)
        if runtime.deps.fetcher is not None:
            runtime.deps.fetcher = served.wait_outside_turn(runtime.deps.fetcher)
        return served
