"""Serve an app for the HTTP benchmark with `calf-cds serve`'s gunicorn settings.

    python bench/serve_app.py bare --port 8091 --workers 2
    python bench/serve_app.py calf --port 8090 --workers 2 --worker-class sync

`bare` is the framework's limit: a Flask app whose one endpoint parses the JSON body (Flask's
own `request.get_json`, i.e. json.loads) and returns a small fixed JSON. `calf` runs exactly
what `calf-cds serve` runs (metrics directory, migrations, logging, `cds:create_app()`), with
optional overrides of the worker class and threads so the two can be compared; the benchmark's
main figures use `calf-cds serve` itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cds.serving.server import DEFAULT_THREADS, _GunicornApp, gunicorn_options


def create_bare_app() -> Any:
    """Flask, one POST endpoint: parse the JSON body, answer a fixed small JSON; /readyz."""
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.post("/cds-services/<service_id>")
    def call(service_id: str) -> Any:
        body = request.get_json(force=True)
        return jsonify({"cards": [], "received": isinstance(body, dict)})

    @app.get("/readyz")
    def ready() -> Any:
        return jsonify({"status": "ok"})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=["bare", "calf"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keepalive", type=int, default=None)
    args = parser.parse_args(argv)
    threads = args.threads or DEFAULT_THREADS
    options = gunicorn_options(
        host=args.host, port=args.port, workers=args.workers, threads=threads
    )
    if args.worker_class:  # gunicorn's own class, e.g. plain gthread
        options["worker_class"] = args.worker_class
    if args.keepalive is not None:
        options["keepalive"] = args.keepalive
    if args.app == "bare":
        options.pop("child_exit")  # prometheus bookkeeping of calf-cds only
        _GunicornApp(options, factory=create_bare_app).run()
        return 0
    from cds.config import Settings
    from cds.observability import configure_logging
    from cds.serving.server import migrate_store, prepare_metrics_dir

    prepare_metrics_dir()
    settings = Settings.load()
    configure_logging(settings)
    migrate_store(settings)
    _GunicornApp(options).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
