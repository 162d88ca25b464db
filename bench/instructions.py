"""Instructions per in-process request (bytes -> cards -> bytes), counted by valgrind.

    python bench/instructions.py [--runs 10] [--observations 200] [--app engine|calf|bare]

On a shared machine, wall-clock figures swing with the neighbours' load (bench/README.md, "The
machine"); the number of instructions a request executes does not. This runs one request path
under callgrind twice, with 0 and with `--runs` requests after the same warm-up, and prints the
difference per request. It compares two versions of the code, not two machines; hash
randomisation is pinned so runs repeat. Needs valgrind (Debian package); about a minute for 10
runs. The paths (`--app`):

- `engine` (default): the engine benchmark's pipeline (`bench/engine.py`), no Flask, no store;
- `calf`: the whole app through Flask's test client (no sockets): body checks, the engine, a
  migrated SQLite store recording the cards, the access log (to /dev/null), metrics, headers;
- `bare`: the HTTP benchmark's bare Flask app (`bench/serve_app.py`) the same way, so the two
  can be set side by side as the served benchmark sets them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_COLLECTED = re.compile(r"Collected : (\d+)")
T = TypeVar("T")


def _inner(runs: int, observations: int) -> dict[str, Any]:
    """What valgrind counts: `runs` requests after a warm-up; the last answer."""
    from bench.engine import pipeline, request_body

    raw = request_body(observations)
    one = pipeline()
    return _counted(lambda: one(raw), runs)


def _counted(request: Callable[[], T], runs: int) -> T:
    """`runs` requests after a warm-up of three, under the workers' GC settings; the last."""
    from cds.serving.server import configure_worker_gc

    answer = request()
    for _ in range(2):
        answer = request()
    configure_worker_gc()
    for _ in range(runs):
        answer = request()
    return answer


def _inner_app(
    app_name: str, runs: int, observations: int, log_stream: TextIO | None = None
) -> dict[str, Any]:
    """As `_inner`, through a Flask app's test client: the last answer's JSON. calf-cds's log
    lines go to `log_stream` when given (the counted run writes them to /dev/null); its store
    is a fresh SQLite file in a temporary directory, removed after."""
    from bench.engine import request_body
    from bench.serve_app import create_bare_app

    raw = request_body(observations)
    if app_name == "bare":
        return _post(create_bare_app(), "/cds-services/bench", raw, runs)
    import logging
    import tempfile

    from bench.generate import NOW
    from cds import create_app
    from cds.store import Store

    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(f"sqlite:///{directory}/calf-cds.sqlite3") as store,
    ):
        store.upgrade()
        config = {"store": store, "auth_mode": "off", "evaluation_time": NOW.isoformat()}
        app = create_app(config)
        for handler in logging.getLogger("cds").handlers:
            if log_stream is not None and isinstance(handler, logging.StreamHandler):
                handler.setStream(log_stream)
        return _post(app, "/cds-services/calf-pain-triage", raw, runs)


def _post(app: Any, path: str, raw: bytes, runs: int) -> dict[str, Any]:
    client = app.test_client()
    # The answer is parsed once, after: parsing it is the client's work, not the server's.
    response = _counted(lambda: client.post(path, data=raw, content_type="application/json"), runs)
    answer: dict[str, Any] = response.get_json()
    return answer


def _count(runs: int, observations: int, app_name: str = "engine") -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inner",
        str(runs),
        "--observations",
        str(observations),
        "--app",
        app_name,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--app", choices=("engine", "calf", "bare"), default="engine")
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner is not None:
        if args.app == "engine":
            _inner(args.inner, args.observations)
        else:
            with open(os.devnull, "w") as quiet:
                _inner_app(args.app, args.inner, args.observations, quiet)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    counted = _count(args.runs, args.observations, args.app)
    per_request = (counted - _count(0, args.observations, args.app)) / args.runs
    path = "" if args.app == "engine" else f"{args.app} app  "
    print(
        f"instructions {args.observations} obs  runs {args.runs}  {path}"
        f"{per_request / 1e6:.2f} M per request"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
