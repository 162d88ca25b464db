"""Load soak with faults: mixed traffic against `calf-cds serve` (`make soak`).

For each store (`--store both`: PostgreSQL, then SQLite), starts `calf-cds serve --workers 2`
(tests/served.py; PostgreSQL is a throwaway server, tests/conftest_store.py) on free loopback
ports and drives, from N threads with one keep-alive connection each, a mix of hook calls
(every fhir_samples/ file), feedback for the cards those calls issued, discovery, bad requests
whose 4xx answer is known in advance, and hook calls whose observations must be fetched from a
FHIR server that drips its headers a byte a second (issue 18.8, the fetch deadline is 1 s).
Meanwhile the faults of issue 18.8 strike: a worker is SIGKILLed at 30% and 70% of the run, and
on SQLite the database file is replaced at 50% (by a consistent copy of itself, as a restore
would put it there, moved over the path).

Reported per store: requests, status counts, errors by class (5xx beside the 503s the store
promises for feedback, expected and unexpected 4xx, connection errors, those within 2 s of a
kill counted apart), p50/p99 latency per kind, RSS, and feedback acknowledged with a 200 against
feedback stored in the database a restart reads (for SQLite: the file at the path, read after
the server stopped). A feedback acknowledged while the file was being swapped is counted apart.

Exit status 1 on any 5xx other than feedback 503s, a connection error outside a kill, an
unexpected answer, an acknowledged feedback not stored, or /readyz not telling the truth at the
end: asked 10 times, each worker's answer is 503 when it opened the SQLite file before it was
replaced, else 200 (a worker started after a kill opens the new file). Not in CI.

    .venv/bin/python bench/soak.py [--duration 60] [--connections 32] [--workers 2]
                                   [--threads 1] [--store both|postgresql|sqlite] [--no-faults]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest_store import start_postgres  # noqa: E402  (the test suite's helpers, by path)
from raw_fhir import raw_fhir  # noqa: E402
from served import Served, calf_cds_serve, serve_env  # noqa: E402

SAMPLES = sorted((REPO / "fhir_samples").glob("*.json"))
SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}
# kind -> share of the traffic
MIX = {"hook": 45, "feedback": 25, "discovery": 10, "bad": 15, "fetch": 5}
FETCH_DEADLINE_S = 1.0
KILL_GRACE_S = 2.0  # connection errors this soon after a SIGKILL are the kill's
READY_ASKS = 10  # /readyz calls at the end, so that every worker is likely heard


@dataclass
class Stats:
    """Everything the threads saw; guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    killed_in_flight: Counter[str] = field(default_factory=Counter)
    # (card uuid, outcome, sent at, answered at), monotonic seconds
    acknowledged: list[tuple[str, str, float, float]] = field(default_factory=list)
    issued: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5000))
    kills: list[float] = field(default_factory=list)
    replaced: tuple[float, float] | None = None  # (copy started, moved over the path)
    # Workers that opened the file before it was replaced: they can no longer write to the file
    # a restart reads, so their /readyz must say 503; a worker started later opens the new file.
    stale_workers: set[int] = field(default_factory=set)

    def record(self, kind: str, status: int, seconds: float, expected: set[int]) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[(kind, status)] += 1
            if status not in expected:
                self.unexpected[f"{kind} {status}"] += 1

    def transport_error(self, kind: str, error: Exception, at: float) -> None:
        with self.lock:
            near_kill = any(0 <= at - kill <= KILL_GRACE_S for kill in self.kills)
            into = self.killed_in_flight if near_kill else self.connection_errors
            into[f"{kind} {type(error).__name__}"] += 1


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


def fetching_call(sample: dict[str, Any], dripping_fhir: str) -> dict[str, Any]:
    """`sample` without its observations, which a dripping FHIR server cannot deliver in time:
    the answer is 200 with an info card naming them."""
    prefetch = {k: v for k, v in sample["prefetch"].items() if k != "observations"}
    return {**sample, "prefetch": prefetch, "fhirServer": dripping_fhir}


def names_observations(cards: list[dict[str, Any]]) -> bool:
    for card in cards:
        own = card.get("extension", {}).get("example.calf-cds", {})
        named = [*own.get("unsatisfiedPrefetch", []), *own.get("incompletePrefetch", [])]
        if "observations" in named:
            return True
    return False


def feedback_body(card: dict[str, Any], stamp: str) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcomeTimestamp": stamp}
    if card.get("suggestions"):
        item["outcome"] = "accepted"
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item.update(outcome="overridden", overrideReason={"userComment": "soak"})
    return {"feedback": [item]}


def worker(
    url: str,
    samples: list[dict[str, Any]],
    stats: Stats,
    stop: threading.Event,
    seed: int,
    dripping_fhir: str | None,
) -> None:
    rng = random.Random(seed)
    mix = {kind: share for kind, share in MIX.items() if dripping_fhir or kind != "fetch"}
    kinds, weights = list(mix), list(mix.values())
    with httpx.Client(base_url=url, timeout=30) as http:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            kind = rng.choices(kinds, weights)[0]
            sample = rng.choice(samples)
            service = SERVICE_FOR_HOOK[sample["hook"]]
            feedback_for: dict[str, Any] | None = None
            kwargs: dict[str, Any]  # httpx.Client.request's keyword arguments
            if kind == "hook":
                method, path, kwargs, expected = (
                    "POST",
                    f"/cds-services/{service}",
                    {"json": sample},
                    {200},
                )
            elif kind == "fetch":
                assert dripping_fhir is not None
                conditions = sample["prefetch"].get("conditions")
                if not isinstance(conditions, dict) or conditions.get("resourceType") != "Bundle":
                    continue  # without conditions the answer would rightly be 412
                body = fetching_call(sample, dripping_fhir)
                method, path, kwargs, expected = (
                    "POST",
                    f"/cds-services/{service}",
                    {"json": body},
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
                # 503: the store's promise when it cannot take the write (issue 18.3).
                kwargs, expected = {"json": feedback_for}, {200, 503}
            elif kind == "discovery":
                method, path, kwargs, expected = "GET", "/cds-services", {}, {200}
            else:
                method, path, kwargs, expected = rng.choice(bad_requests(sample))
            started = time.perf_counter()
            sent = time.monotonic()
            try:
                response = http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                stats.transport_error(kind, exc, time.monotonic())
                continue
            elapsed = time.perf_counter() - started
            stats.record(kind, response.status_code, elapsed, expected)
            if kind == "hook" and response.status_code == 200:
                cards = response.json()["cards"]
                with stats.lock:
                    stats.issued.extend({**card, "service": service} for card in cards)
            elif kind == "fetch" and response.status_code == 200:
                with stats.lock:
                    if not names_observations(response.json()["cards"]):
                        stats.unexpected["fetch answered without naming observations"] += 1
            elif feedback_for is not None and response.status_code == 200:
                item = feedback_for["feedback"][0]
                with stats.lock:
                    stats.acknowledged.append(
                        (item["card"], item["outcome"], sent, time.monotonic())
                    )


# --- faults --------------------------------------------------------------------------------


def kill_a_worker(served: Served, stats: Stats) -> None:
    """SIGKILL one gunicorn worker (the master starts another)."""
    pids = served.worker_pids()
    if not pids:
        return
    with stats.lock:
        stats.kills.append(time.monotonic())
    os.kill(pids[0], signal.SIGKILL)
    print(f"  fault: SIGKILL worker {pids[0]}", flush=True)


def replace_sqlite_file(path: Path, stats: Stats, served: Served) -> None:
    """Put a consistent copy of the database (SQLite's backup API) over the path, as a restore
    from backup would; the running workers keep the file they opened."""
    copy = path.with_name(path.name + ".restored")
    began = time.monotonic()
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    target.close()
    os.replace(copy, path)
    with stats.lock:
        stats.replaced = (began, time.monotonic())
        stats.stale_workers = set(served.worker_pids())
    print("  fault: SQLite file replaced by a copy of itself", flush=True)


def schedule(duration: float, faults: list[tuple[float, Callable[[], None]]]) -> None:
    """Run each fault at its share of the duration (from now), in order."""
    started = time.monotonic()
    for share, fault in sorted(faults, key=lambda item: item[0]):
        time.sleep(max(0.0, started + share * duration - time.monotonic()))
        fault()


# --- the stores ----------------------------------------------------------------------------


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
    """The feedback in the database a restart would read."""
    query = "SELECT card_uuid, outcome FROM feedback"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            rows = connection.execute(query).fetchall()
        connection.close()
    else:
        url = database_url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(url) as pg:
            rows = pg.execute(query).fetchall()
    return {(str(row[0]), str(row[1])) for row in rows}


@dataclass
class Outcome:
    store: str
    requests: int
    server_errors: int  # 5xx other than feedback 503
    feedback_503: int
    acknowledged: int
    lost: int
    in_swap: int  # acknowledged while the SQLite file was being swapped (not judged)
    ready: str
    ready_expected: str
    failed: bool


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
    print(
        f"  5xx:                {server_errors} (feedback 503: {stats.statuses['feedback', 503]})"
    )
    print(f"  4xx expected:       {client_errors - unexpected_4xx}")
    print(f"  4xx unexpected:     {unexpected_4xx}")
    print(f"  other unexpected:   {sum(stats.unexpected.values()) - unexpected_4xx}")
    print(f"  connection errors:  {sum(stats.connection_errors.values())}")
    print(f"  killed in flight:   {sum(stats.killed_in_flight.values())} (within 2 s of a kill)")
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


def soak_one(
    store: str,
    database_url: str,
    workdir: Path,
    samples: list[dict[str, Any]],
    args: argparse.Namespace,
) -> Outcome:
    stats, stop = Stats(), threading.Event()
    sqlite_path = Path(database_url.removeprefix("sqlite:///")) if store == "sqlite" else None
    with raw_fhir(gap_s=1.0) as dripping:
        env = serve_env(
            database_url,
            log_level="WARNING",
            fhir_server_allowlist=dripping.url,
            fhir_timeout_s=str(FETCH_DEADLINE_S),
        )
        serve_args = ["--threads", str(args.threads)]
        with calf_cds_serve(env, workdir, workers=args.workers, args=serve_args) as served:
            served.wait_for_workers(args.workers, exclude=set(), timeout_s=30)
            with httpx.Client(base_url=served.url, timeout=30) as http:  # warm every worker
                for sample in samples:
                    http.post(f"/cds-services/{SERVICE_FOR_HOOK[sample['hook']]}", json=sample)
            start_rss = memory(served)
            print(
                f"\n=== soak on {store}: {args.connections} connections, {args.duration:.0f} s, "
                f"{args.workers} workers x {args.threads} threads, "
                f"faults {'off' if args.no_faults else 'on'}, "
                f"{served.url}"
            )
            drip = None if args.no_faults else f"{dripping.url}/drip-headers"
            threads = [
                threading.Thread(
                    target=worker,
                    args=(served.url, samples, stats, stop, args.seed + n, drip),
                    daemon=True,
                )
                for n in range(args.connections)
            ]
            faults: list[tuple[float, Callable[[], None]]] = []
            if not args.no_faults:
                faults += [(0.3, lambda: kill_a_worker(served, stats))]
                faults += [(0.7, lambda: kill_a_worker(served, stats))]
                if sqlite_path is not None:
                    path = sqlite_path
                    faults += [(0.5, lambda: replace_sqlite_file(path, stats, served))]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            fault_thread = threading.Thread(
                target=schedule, args=(args.duration, faults), daemon=True
            )
            fault_thread.start()
            next_sample = started + 10
            while time.monotonic() - started < args.duration:
                time.sleep(0.2)
                if time.monotonic() >= next_sample:
                    rss = sum(memory(served).values()) / 1024
                    print(f"  t={time.monotonic() - started:4.0f} s  RSS {rss:.1f} MiB", flush=True)
                    next_sample += 10
            stop.set()
            for thread in [*threads, fault_thread]:
                thread.join(timeout=60)
            seconds = time.monotonic() - started
            end_rss = memory(served)
            # Each worker answers for itself: ask often enough to hear from both.
            answers = {
                httpx.get(served.url + "/readyz", timeout=10).status_code for _ in range(READY_ASKS)
            }
            live = set(served.worker_pids())
            server_log = served.tail(400).splitlines()
        # The server has stopped: the database now is what a restart reads.
        unreadable = ""
        try:
            stored = stored_feedback(database_url)
        except (sqlite3.DatabaseError, psycopg.Error) as exc:
            stored, unreadable = set(), f"{type(exc).__name__}: {exc}"
    report(stats, seconds, start_rss, end_rss)

    in_swap = 0
    lost = 0
    for card, outcome, sent, answered in stats.acknowledged:
        if stats.replaced is not None and not (
            answered < stats.replaced[0] or sent > stats.replaced[1]
        ):
            in_swap += 1  # may have reached the file being replaced: neither judged nor lost
        elif (card, outcome) not in stored:
            lost += 1
    feedback_503 = stats.statuses["feedback", 503]
    server_errors = sum(c for (_, status), c in stats.statuses.items() if status >= 500)
    server_errors -= feedback_503
    truthful = {503 if pid in stats.stale_workers else 200 for pid in live}
    ready = "/".join(str(status) for status in sorted(answers))
    ready_expected = "/".join(str(status) for status in sorted(truthful))
    print(
        f"\nfeedback acknowledged: {len(stats.acknowledged)}, stored: "
        f"{len(stats.acknowledged) - lost - in_swap}, not stored: {lost}"
        + (f", acknowledged during the file swap (not judged): {in_swap}" if in_swap else "")
    )
    if unreadable:
        print(f"the database a restart reads cannot be read ({unreadable}): nothing is stored")
    print(f"feedback answered 503 (store unavailable, promised): {feedback_503}")
    print(f"readyz at the end: {ready} (the truth: {ready_expected})")
    if server_errors:  # what the server logged about them (no PHI in calf-cds's logs)
        errors = [line for line in server_log if '"level":"ERROR"' in line]
        print(f"server log, {len(errors)} ERROR lines; the first and last:")
        for line in errors[:1] + errors[-1:]:
            print(f"  {line[:400]}")
    failed = bool(
        server_errors
        or stats.connection_errors
        or stats.unexpected
        or lost
        or not answers <= truthful
    )
    return Outcome(
        store,
        sum(stats.statuses.values()),
        server_errors,
        feedback_503,
        len(stats.acknowledged),
        lost,
        in_swap,
        ready,
        ready_expected,
        failed,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--connections", type=int, default=32, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="calf-cds serve --threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", choices=["both", "postgresql", "sqlite"], default="both")
    parser.add_argument("--no-faults", action="store_true", help="traffic only")
    args = parser.parse_args()

    samples = [json.loads(path.read_text(encoding="utf-8")) for path in SAMPLES]
    outcomes: list[Outcome] = []
    stores = ["postgresql", "sqlite"] if args.store == "both" else [args.store]
    for store in stores:
        workdir = Path(tempfile.mkdtemp(prefix=f"calf-cds-soak-{store}-"))
        postgres = start_postgres() if store == "postgresql" else None
        try:
            if postgres is not None:
                database_url = postgres.url(postgres.create_database())
            else:
                database_url = f"sqlite:///{workdir / 'soak.sqlite3'}"
            outcomes.append(soak_one(store, database_url, workdir, samples, args))
        finally:
            if postgres is not None:
                postgres.stop()
                shutil.rmtree(postgres.base, ignore_errors=True)
            shutil.rmtree(workdir, ignore_errors=True)

    print("\nstore       requests  5xx (not 503)  feedback 503  acknowledged  not stored  readyz")
    for o in outcomes:
        print(
            f"{o.store:<11} {o.requests:>8}  {o.server_errors:>13}  {o.feedback_503:>12}  "
            f"{o.acknowledged:>12}  {o.lost:>10}  {o.ready} (truth {o.ready_expected})"
            + ("  FAILED" if o.failed else "")
        )
    failed = any(o.failed for o in outcomes)
    print("\nSOAK FAILED" if failed else "\nsoak passed: no 5xx, no lost feedback")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
