"""Prometheus metrics (prometheus-client): what an operator graphs and alerts on; never PHI.

Single process (tests, `calf-cds serve --dev`): the default registry. Under gunicorn,
`calf-cds serve` sets PROMETHEUS_MULTIPROC_DIR to a fresh directory *before* this module is
imported and workers fork, so every worker writes its samples there and `exposition()` sums
them with a MultiProcessCollector; the gunicorn `child_exit` hook calls `mark_worker_dead`.
Labels are bounded: service ids, route templates, status codes, rule ids and indicators.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from .core.model import Card

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format every Prometheus server scrapes (prometheus-client's own default).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NO_SERVICE = "none"
NO_RULE = "none"

REQUESTS = Counter(
    "calf_cds_requests",
    "HTTP requests answered, by service id (none for other endpoints), route and status.",
    ["service", "route", "status"],
)
REQUEST_DURATION = Histogram(
    "calf_cds_request_duration_seconds",
    "Time from reading the request to the answer, by service id and route.",
    ["service", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CARDS = Counter(
    "calf_cds_cards",
    "Cards answered, by rule id (none for data-quality cards) and indicator.",
    ["rule", "indicator"],
)
PREFETCH_FETCHES = Counter(
    "calf_cds_prefetch_fetches",
    "Prefetch queries the service fetched itself from fhirServer, by outcome (ok, failed).",
    ["outcome"],
)
PREFETCH_TRUNCATIONS = Counter(
    "calf_cds_prefetch_truncations",
    "Prefetch queries the service fetched itself and cut short (their answer names them), by "
    "reason: page_cap, budget, size, entries, error (a later page failed).",
    ["reason"],
)


@functools.lru_cache(maxsize=4096)
def _child(metric: Any, *label_values: str) -> Any:
    """`metric.labels(*label_values)`, looked up once per label set (labels() validates and
    locks on every call; the children live as long as the process, and in multiprocess mode
    they follow a fork to the worker's own files)."""
    return metric.labels(*label_values)


def observe_request(*, service: str | None, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    label = service or NO_SERVICE
    _child(REQUESTS, label, route, str(status)).inc()
    _child(REQUEST_DURATION, label, route).observe(seconds)


def count_cards(cards: Iterable[Card]) -> None:
    """Count answered cards by rule id (none for the data-quality card) and indicator."""
    for card in cards:
        _child(CARDS, card.rule_id or NO_RULE, card.indicator).inc()


def count_prefetch_fetch(*, ok: bool) -> None:
    """Count one prefetch query fetched from the EHR's FHIR server (ok or failed)."""
    PREFETCH_FETCHES.labels(outcome="ok" if ok else "failed").inc()


def count_prefetch_truncation(reason: str) -> None:
    """Count one fetched prefetch query cut short, by why (the CUT_* causes of cds.core.model)."""
    _child(PREFETCH_TRUNCATIONS, reason).inc()


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> tuple[bytes, str]:
    """The text exposition format and its content type, summed over workers when multiprocess."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(REGISTRY), CONTENT_TYPE


def mark_worker_dead(pid: int) -> None:
    """gunicorn child_exit: fold a dead worker's live gauges away (counters are kept)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
