"""Load soak: mixed traffic against `calf-cds serve` on a real PostgreSQL (`make soak`).

Starts its own throwaway PostgreSQL (the test suite's starter, tests/conftest_store.py) and
`calf-cds serve --workers 2` (tests/served.py) on free loopback ports, then drives, from N
threads with one keep-alive connection each, a mix of hook calls (every fhir_samples/ file),
feedback for the cards those calls issued, discovery, and bad requests whose 4xx answer is
known in advance. Prints the request count, errors by class (5xx, expected and unexpected 4xx,
connection errors), p50/p99 latency per kind, RSS of the master and workers at start and end,
and checks that every feedback acknowledged with a 200 is in the database.

Exit status 1 on any 5xx, connection error, unexpected answer or lost feedback. Not in CI.

    .venv/bin/python bench/soak.py [--duration 60] [--connections 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest_store import start_postgres  # noqa: E402  (the test suite's helpers, by path)
from served import Served, calf_cds_serve, serve_env  # noqa: E402

SAMPLES = sorted((REPO / "fhir_samples").glob("*.json"))
SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}
# kind -> share of the traffic
MIX = {"hook": 50, "feedback": 25, "discovery": 10, "bad": 15}


@dataclass
class Stats:
    """Everything the threads saw; guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    acknowledged: set[tuple[str, str]] = field(default_factory=set)
    issued: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5000))

    def record(self, kind: str, status: int, seconds: float, expected: set[int]) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[(kind, status)] += 1
            if status not in expected:
                self.unexpected[f"{kind} {status}"] += 1


def bad_requests(sample: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], set[int]]]:
    """(method, path, httpx kwargs, expected statuses) of requests that must be refused."""
    service = f"/cds-services/{SERVICE_FOR_HOOK[sample['hook']]}"
    json_type = {"Content-Type": "application/json"}
    return [
        ("POST", service, {"content": b"{not json", "headers": json_type}, {400}),
        ("POST", service, {"json": {**sample, "hook": "order-sign"}}, {400}),
        ("POST", service, {"json": {**sample, "prefetch": {}}}, {412}),
        ("POST", service, {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, {415}),
        ("POST", "/cds-services/no-such-service", {"json": sample}, {404}),
        ("GET", service, {}, {405}),
        ("POST", service, {"content": b'{"a": NaN}', "headers": json_type}, {400}),
        ("POST", service + "/feedback", {"json": {"feedback": [{"card": "x"}]}}, {400}),
    ]


def feedback_body(card: dict[str, Any], stamp: str) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcomeTimestamp": stamp}
    if card.get("suggestions"):
        item["outcome"] = "accepted"
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item.update(outcome="overridden", overrideReason={"userComment": "soak"})
    return {"feedback": [item]}


def worker(
    url: str, samples: list[dict[str, Any]], stats: Stats, stop: threading.Event, seed: int
) -> None:
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    with httpx.Client(base_url=url, timeout=30) as http:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            kind = rng.choices(kinds, weights)[0]
            sample = rng.choice(samples)
            service = SERVICE_FOR_HOOK[sample["hook"]]
            feedback_for: dict[str, Any] | None = None
            if kind == "hook":
                method, path, kwargs, expected = (
                    "POST",
                    f"/cds-services/{service}",
                    {"json": sample},
                    {200},
                )
            elif kind == "feedback":
                with stats.lock:
                    card = stats.issued.popleft() if stats.issued else None
                if card is None:
                    continue
                stamp = f"2026-11-25T12:{sequence % 60:02d}:{seed % 60:02d}Z"
                feedback_for = feedback_body(card, stamp)
                method, path = "POST", f"/cds-services/{card['service']}/feedback"
                kwargs, expected = {"json": feedback_for}, {200}
            elif kind == "discovery":
                method, path, kwargs, expected = "GET", "/cds-services", {}, {200}
            else:
                method, path, kwargs, expected = rng.choice(bad_requests(sample))
            started = time.perf_counter()
            try:
                response = http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                with stats.lock:
                    stats.connection_errors[f"{kind} {type(exc).__name__}"] += 1
                continue
            stats.record(kind, response.status_code, time.perf_counter() - started, expected)
            if kind == "hook" and response.status_code == 200:
                cards = response.json()["cards"]
                with stats.lock:
                    stats.issued.extend({**card, "service": service} for card in cards)
            elif feedback_for is not None and response.status_code == 200:
                item = feedback_for["feedback"][0]
                with stats.lock:
                    stats.acknowledged.add((item["card"], item["outcome"]))


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def memory(served: Served) -> dict[str, int]:
    pids = {"master": served.master_pid}
    pids.update({f"worker {pid}": pid for pid in served.worker_pids()})
    return {name: rss_kib(pid) for name, pid in pids.items()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def stored_feedback(database_url: str) -> set[tuple[str, str]]:
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as connection:
        rows = connection.execute("SELECT card_uuid, outcome FROM feedback").fetchall()
    return {(row[0], row[1]) for row in rows}


def report(
    stats: Stats, seconds: float, start_rss: dict[str, int], end_rss: dict[str, int]
) -> None:
    total = sum(stats.statuses.values())
    print(f"\nrequests: {total} in {seconds:.1f} s ({total / seconds:.0f}/s)")
    print("\nstatus counts by kind:")
    for (kind, status), count in sorted(stats.statuses.items()):
        print(f"  {kind:<10} {status}  {count}")
    server_errors = sum(c for (_, status), c in stats.statuses.items() if status >= 500)
    client_errors = sum(c for (_, status), c in stats.statuses.items() if 400 <= status < 500)
    unexpected_4xx = sum(c for k, c in stats.unexpected.items() if k.split()[1].startswith("4"))
    print("\nerrors by class:")
    print(f"  5xx:                {server_errors}")
    print(f"  4xx expected:       {client_errors - unexpected_4xx}")
    print(f"  4xx unexpected:     {unexpected_4xx}")
    print(f"  other unexpected:   {sum(stats.unexpected.values()) - unexpected_4xx}")
    print(f"  connection errors:  {sum(stats.connection_errors.values())}")
    for name, count in sorted({**stats.unexpected, **stats.connection_errors}.items()):
        print(f"    {name}: {count}")
    print("\nlatency (ms):          p50      p99      max")
    everything = [value for values in stats.latencies.values() for value in values]
    for kind, values in [*sorted(stats.latencies.items()), ("all", everything)]:
        print(
            f"  {kind:<12} {percentile(values, 0.5) * 1000:9.1f} "
            f"{percentile(values, 0.99) * 1000:8.1f} {max(values, default=0) * 1000:8.1f}"
        )
    print("\nRSS (MiB):             start      end")
    for name in sorted(set(start_rss) | set(end_rss)):
        start, end = start_rss.get(name, 0) / 1024, end_rss.get(name, 0) / 1024
        print(f"  {name:<18} {start:8.1f} {end:8.1f}")
    start_sum, end_sum = sum(start_rss.values()) / 1024, sum(end_rss.values()) / 1024
    print(f"  {'total':<18} {start_sum:8.1f} {end_sum:8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--connections", type=int, default=32, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    samples = [json.loads(path.read_text(encoding="utf-8")) for path in SAMPLES]
    workdir = Path(tempfile.mkdtemp(prefix="calf-cds-soak-"))
    postgres = start_postgres()
    try:
        database_url = postgres.url(postgres.create_database())
        env = serve_env(database_url, log_level="WARNING")
        with calf_cds_serve(env, workdir, workers=args.workers) as served:
            served.wait_for_workers(args.workers, exclude=set(), timeout_s=30)
            with httpx.Client(base_url=served.url, timeout=30) as http:  # warm every worker
                for sample in samples:
                    http.post(f"/cds-services/{SERVICE_FOR_HOOK[sample['hook']]}", json=sample)
            start_rss = memory(served)
            print(
                f"soak: {args.connections} connections, {args.duration:.0f} s, "
                f"{args.workers} workers, PostgreSQL on port {postgres.port}, {served.url}"
            )
            stats, stop = Stats(), threading.Event()
            threads = [
                threading.Thread(
                    target=worker,
                    args=(served.url, samples, stats, stop, args.seed + n),
                    daemon=True,
                )
                for n in range(args.connections)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            next_sample = started + 10
            while time.monotonic() - started < args.duration:
                time.sleep(0.2)
                if time.monotonic() >= next_sample:
                    rss = sum(memory(served).values()) / 1024
                    print(f"  t={time.monotonic() - started:4.0f} s  RSS {rss:.1f} MiB", flush=True)
                    next_sample += 10
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            seconds = time.monotonic() - started
            end_rss = memory(served)
            ready = httpx.get(served.url + "/readyz", timeout=10).status_code
        report(stats, seconds, start_rss, end_rss)
        lost = stats.acknowledged - stored_feedback(database_url)
        print(
            f"\nfeedback acknowledged: {len(stats.acknowledged)}, not in the database: {len(lost)}"
        )
        print(f"readyz at the end: {ready}")
    finally:
        postgres.stop()
        shutil.rmtree(postgres.base, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)

    failed = (
        any(status >= 500 for _, status in stats.statuses)
        or stats.connection_errors
        or stats.unexpected
        or lost
        or ready != 200
    )
    print("\nSOAK FAILED" if failed else "\nsoak passed: no 5xx, no lost feedback")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
