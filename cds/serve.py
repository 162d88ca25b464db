"""Running the service: migrations first, then gunicorn (or Flask's server with --dev)."""

from __future__ import annotations

import logging
from typing import Any

from .config import Settings
from .errors import StoreUnavailable, operation_outcome

log = logging.getLogger("cds.serve")


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


def run_server(*, host: str, port: int, workers: int, dev: bool, threads: int = 1) -> int:
    if not dev:
        prepare_metrics_dir()
    from . import create_app
    from .auth import check_required_mode
    from .observability import configure_logging

    settings = Settings.load()
    configure_logging(settings)
    check_required_mode(settings)  # refused here, before gunicorn: exit status 2, not 3
    migrate_store(settings)
    if dev:
        create_app().run(host=host, port=port, debug=False, use_reloader=False)
        return 0
    _GunicornApp(gunicorn_options(host=host, port=port, workers=workers, threads=threads)).run()
    return 0


def gunicorn_options(*, host: str, port: int, workers: int, threads: int = 1) -> dict[str, Any]:
    """The gunicorn settings `calf-cds serve` runs with (bench/ serves a bare app with them).

    The work per request is CPU-bound Python under the GIL, so one thread per worker is the
    default and the fastest (with 4 threads, 2 workers served 240 requests/s at a p99 of
    540-680 ms; with 1 thread 376 requests/s at 63 ms). With one thread the worker is `sync`:
    each request is its own connection, taken by whichever worker is free. gthread with one
    thread kept EHRs' keep-alive connections on the worker that accepted them, so a client's
    whole connection pool could queue behind one worker while the other idled (the benchmark
    saw all 16 connections on one worker, half the throughput and twice the p99;
    bench/README.md, pass 5). More threads (gthread) pay off only when requests wait on the
    network: a service that fetches from a slow FHIR server because the EHR sends no prefetch
    (`calf-cds serve --threads`). Either way, expose it through a reverse proxy that buffers
    requests (a slow client holds a worker while its body trickles in).
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync" if threads == 1 else "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "max_requests": 20_000,
        "max_requests_jitter": 2_000,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
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
        if self.factory is not None:
            return self.factory()
        from . import create_app

        return create_app()
