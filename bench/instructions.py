"""Instructions per in-process request (bytes -> cards -> bytes), counted by valgrind.

    python bench/instructions.py [--runs 10] [--observations 200]

On a shared machine, wall-clock figures swing with the neighbours' load (bench/README.md, "The
machine"); the number of instructions a request executes does not. This runs the engine
benchmark's pipeline (`bench/engine.py`) under callgrind twice, with 0 and with `--runs`
requests after the same warm-up, and prints the difference per request. It compares two
versions of the code, not two machines; hash randomisation is pinned so runs repeat. Needs
valgrind (Debian package); about a minute for 10 runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_COLLECTED = re.compile(r"Collected : (\d+)")


def _inner(runs: int, observations: int) -> dict[str, Any]:
    """What valgrind counts: `runs` requests after a warm-up; the last answer."""
    from bench.engine import pipeline, request_body
    from cds.serving.server import configure_worker_gc

    raw = request_body(observations)
    one = pipeline()
    answer: dict[str, Any] = {}
    for _ in range(3):
        answer = one(raw)
    configure_worker_gc()
    for _ in range(runs):
        answer = one(raw)
    return answer


def _count(runs: int, observations: int) -> int:
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
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner is not None:
        _inner(args.inner, args.observations)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    per_request = (_count(args.runs, args.observations) - _count(0, args.observations)) / args.runs
    print(
        f"instructions {args.observations} obs  runs {args.runs}  "
        f"{per_request / 1e6:.2f} M per request"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
