"""In-process benchmark: request body bytes -> cards, the HTTP view's code path minus Flask.

One run is what `cds.http.hooks.call_service` does after Flask hands it the body: the body
and its prefetch decoded in one pass (`cds.hook_body_fast`), the envelope schema (`cds.schemas`),
`cds.service.run_hook` with no store (decoding and reading the prefetch, `core.engine`,
`core.compose`, `core.cards`), and the answer as JSON bytes (`cds.wire`, as the view does).
The store write is measured under HTTP (bench/http_load.py), where it really happens.

    python bench/engine.py --observations 200 --runs 2000
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from bench.generate import NOW, patient_view_request
from cds import wire
from cds.config import Settings
from cds.hook_body_fast import hook_members
from cds.registry import DEFAULT_SERVICE_ID, SERVICES
from cds.schemas import load_hook_request
from cds.service import Deps, run_hook
from cds.serving.server import configure_worker_gc

CPYTHON_GC_THRESHOLDS = (700, 10, 10)  # the interpreter's defaults, for the comparison row


@dataclass(frozen=True)
class EngineResult:
    """p50/p99 of envelope + run_hook (`p50_ms`, the issue's engine figure: reading included,
    since the prefetch is decoded as it is read) and of the whole bytes -> cards -> bytes run."""

    observations: int
    runs: int
    body_bytes: int
    cards: int
    p50_ms: float
    p99_ms: float
    wire_p50_ms: float
    wire_p99_ms: float


def request_body(observations: int, seed: int = 8, *, analytes_in_routine: bool = False) -> bytes:
    """The benchmark's request as the wire bytes (compact JSON, as EHRs send it)."""
    request = patient_view_request(observations, seed=seed, analytes_in_routine=analytes_in_routine)
    return json.dumps(request, separators=(",", ":")).encode()


class Pipeline(Protocol):
    """One request body -> the answer as the view serves it; `hook_ns`, when given, gets the
    nanoseconds spent in schemas + run_hook appended."""

    def __call__(self, raw: bytes, hook_ns: list[int] | None = None) -> dict[str, Any]: ...


def pipeline(settings: Settings | None = None) -> Pipeline:
    """One request -> answer as the HTTP view does it, without Flask."""
    settings = settings or Settings.load(
        {"evaluation_time": NOW.isoformat(), "auth_mode": "off"}, environ={}
    )
    service = SERVICES[DEFAULT_SERVICE_ID]
    deps = Deps(settings=settings, store=None)
    clock = time.perf_counter_ns
    encoder = msgspec.json.Encoder()

    def one(raw: bytes, hook_ns: list[int] | None = None) -> dict[str, Any]:
        start = clock()
        members = hook_members(raw, settings)
        hook_request = load_hook_request(members, expected_hook=service.hook)
        answer = run_hook(service, hook_request, deps)
        if hook_ns is not None:
            hook_ns.append(clock() - start)
        payload = wire.cards(answer.cards)
        encoder.encode(payload)  # what cds.http.jsonout.json_response serves
        return payload

    return one


def _p(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e6


def measure(
    observations: int,
    runs: int,
    *,
    warmup: int = 20,
    seed: int = 8,
    analytes_in_routine: bool = False,
    worker_gc: bool = True,
) -> EngineResult:
    """p50/p99 wall time of `runs` calls after `warmup` calls.

    With `worker_gc` the process's collector is set up as `calf-cds serve` sets up each worker
    after loading the app (`cds.serving.server.configure_worker_gc`); without, CPython's defaults.
    """
    raw = request_body(observations, seed, analytes_in_routine=analytes_in_routine)
    one = pipeline()
    answer: dict[str, Any] = {}
    for _ in range(warmup):
        answer = one(raw)
    wire: list[int] = []
    hook: list[int] = []
    if worker_gc:
        configure_worker_gc()
    else:
        gc.unfreeze()
        gc.set_threshold(*CPYTHON_GC_THRESHOLDS)
        gc.collect()
    clock = time.perf_counter_ns
    for _ in range(runs):
        start = clock()
        one(raw, hook)
        wire.append(clock() - start)
    return EngineResult(
        observations=observations,
        runs=runs,
        body_bytes=len(raw),
        cards=len(answer.get("cards", [])),
        p50_ms=statistics.median(hook) / 1e6,
        p99_ms=_p(hook, 0.99),
        wire_p50_ms=statistics.median(wire) / 1e6,
        wire_p99_ms=_p(wire, 0.99),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="request -> cards, in process")
    parser.add_argument("--observations", type=int, nargs="+", default=[200, 1000, 5000])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)
    for count in args.observations:
        runs = max(200, args.runs * 200 // count) if count > 200 else args.runs
        result = measure(count, runs)
        print(
            f"engine {count:>5} obs  body {result.body_bytes / 1024:7.0f} KiB  "
            f"runs {result.runs:>5}  cards {result.cards:>2}  "
            f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
            f"(with JSON in/out: p50 {result.wire_p50_ms:7.2f} ms  p99 {result.wire_p99_ms:7.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
