"""`make bench`: the engine, HTTP, memory and startup figures in one table, against issue 16's
targets.

python bench/run.py                  # engine 200/1000/5000 + HTTP 16 and 1 connections, 20 s
python bench/run.py --duration 5     # a quicker look
python bench/run.py --variants       # also gunicorn gthread x1 / x2 / x4
The HTTP rows load calf-cds, bare Flask and a minimal HealthChain 0.16 service in one run
(bench/http_load.py). Every run also serves calf-cds under gunicorn's plain sync worker and
times /healthz and a hook call with four slow client sockets open (bench/slow_clients.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import engine, http_load, slow_clients

# Issue 16's targets; the 1-connection p50, memory and startup ones are issue 8's, kept.
TARGETS = {
    "engine_p50_ms": 1.0,  # schemas + run_hook, the 200-Observation request
    "rps_ratio": 0.8,  # calf-cds / bare Flask throughput, 16 connections, same run
    "p99_ratio": 1.5,  # calf-cds / bare Flask p99, 16 connections, same run
    "healthchain_ratio": 1.3,  # calf-cds / HealthChain throughput, 16 connections, same run
    "p50_1conn_ms": 5.0,
    "rss_mb": 150.0,
    "startup_s": 3.0,
}


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def _load_rows(server: http_load.ServerResult) -> list[tuple[str, str, str, str]]:
    if server.skipped is not None:
        return [(f"http {server.name}, 16 conn", f"skipped: {server.skipped}", "", "")]
    return [
        (
            f"http {server.name}, {count} conn",
            f"{load.rps:.0f} req/s",
            f"p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms",
            f"errors {load.errors} / {load.requests}, "
            f"{load.cpu_ms_per_request:.2f} ms CPU/request, split "
            + "/".join(f"{part}%" for part in load.cpu_split),
        )
        for count, load in server.loads.items()
    ]


def _healthchain_row(
    calf: http_load.LoadResult, healthchain: list[http_load.ServerResult]
) -> tuple[str, str, str, str]:
    """calf-cds against HealthChain's faster way of being served in this run."""
    label = f"ratio calf-cds / {http_load.HEALTHCHAIN}, 16 conn"
    measured = [server for server in healthchain if server.skipped is None]
    if not measured:
        return (label, "skipped: HealthChain did not run", "", "")
    best = max(measured, key=lambda server: server.loads[16].rps)
    h16 = best.loads[16]
    ratio = calf.rps / h16.rps
    target = TARGETS["healthchain_ratio"]
    return (
        label,
        f"throughput {ratio:.2f} (>= {target:g}: {_mark(ratio >= target)})",
        f"p99 {calf.p99_ms / h16.p99_ms:.2f}",
        f"against its faster row ({best.name}; errors {h16.errors} / {h16.requests})",
    )


def http_rows(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """The HTTP, slow-client, memory and startup rows."""
    with tempfile.TemporaryDirectory(prefix="calf-bench-") as tmp:
        run = http_load.run(
            duration=args.duration,
            workers=args.workers,
            observations=200,
            variants=args.variants,
            workdir=Path(tmp),
        )
    rows = [row for server in run.servers() for row in _load_rows(server)]
    c16, b16 = run.calf.loads[16], run.bare.loads[16]
    rps_ratio = c16.rps / b16.rps
    p99_ratio = c16.p99_ms / b16.p99_ms
    rps_target, p99_target = TARGETS["rps_ratio"], TARGETS["p99_ratio"]
    rows.append(
        (
            "ratio calf-cds / bare, 16 conn",
            f"throughput {rps_ratio:.2f} (>= {rps_target:g}: {_mark(rps_ratio >= rps_target)})",
            f"p99 {p99_ratio:.2f} (<= {p99_target:g}: {_mark(p99_ratio <= p99_target)})",
            f"errors {c16.errors} ({_mark(c16.errors == 0 and run.calf.loads[1].errors == 0)})",
        )
    )
    rows.append(_healthchain_row(c16, run.healthchain))
    s16 = run.sync.loads[16]
    rows.append(
        (
            "calf-cds serve / gunicorn sync, 16 conn",
            f"throughput {c16.rps / s16.rps:.2f}",
            f"p99 {c16.p99_ms / s16.p99_ms:.2f}",
            f"CPU/request {c16.cpu_ms_per_request / s16.cpu_ms_per_request:.2f} "
            "(reading each request in full first)",
        )
    )
    t16 = run.threaded.loads[16]
    rows.append(
        (
            "calf-cds serve --threads 8 / gunicorn sync, 16 conn",
            f"throughput {t16.rps / s16.rps:.2f}",
            f"p99 {t16.p99_ms / s16.p99_ms:.2f}",
            f"CPU/request {t16.cpu_ms_per_request / s16.cpu_ms_per_request:.2f}",
        )
    )
    with tempfile.TemporaryDirectory(prefix="calf-slow-") as tmp:
        for slow in slow_clients.run(Path(tmp)):
            rows.append((f"4 slow sockets, {slow.name}", slow.summary(), "", ""))
    p50_1 = run.calf.loads[1].p50_ms
    p50_target = TARGETS["p50_1conn_ms"]
    rows.append(
        (
            "calf-cds 1 conn p50",
            f"{p50_1:.2f} ms",
            f"target <= {p50_target:g} ms: {_mark(p50_1 <= p50_target)}",
            "",
        )
    )
    rss_target, startup_target = TARGETS["rss_mb"], TARGETS["startup_s"]
    for server in run.servers():
        if server.skipped is not None:
            continue
        rss = server.worker_rss_mb
        worst = max(rss) if rss else float("nan")
        is_calf = server is run.calf
        rows.append(
            (
                f"memory {server.name}",
                "RSS/worker " + ", ".join(f"{mb:.0f}" for mb in rss) + " MB",
                f"target <= {rss_target:g} MB: {_mark(worst <= rss_target)}" if is_calf else "",
                "",
            )
        )
        rows.append(
            (
                f"startup {server.name}",
                f"{server.startup_s:.2f} s to {server.ready_path} 200",
                f"target <= {startup_target:g} s: {_mark(server.startup_s <= startup_target)}"
                if is_calf
                else "",
                "",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2000, help="engine runs (200 Obs)")
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)

    rows: list[tuple[str, str, str, str]] = []
    engine_results = []
    engine_target = TARGETS["engine_p50_ms"]
    for count, runs in ((200, args.runs), (1000, max(200, args.runs // 5)), (5000, 100)):
        result = engine.measure(count, runs)
        engine_results.append(result)
        rows.append(
            (
                f"engine {count} Obs ({result.body_bytes // 1024} KiB, {runs} runs)",
                f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms",
                f"+JSON in/out: p50 {result.wire_p50_ms:.2f}  p99 {result.wire_p99_ms:.2f} ms",
                f"{result.cards} cards"
                + (
                    f"  target p50 <= {engine_target:g} ms: {_mark(result.p50_ms <= engine_target)}"
                    if count == 200
                    else ""
                ),
            )
        )
    heavy = engine.measure(200, args.runs, analytes_in_routine=True)
    rows.append(
        (
            f"engine 200 Obs, vitals-heavy ({heavy.body_bytes // 1024} KiB, {args.runs} runs)",
            f"p50 {heavy.p50_ms:.2f} ms  p99 {heavy.p99_ms:.2f} ms",
            f"+JSON in/out: p50 {heavy.wire_p50_ms:.2f}  p99 {heavy.wire_p99_ms:.2f} ms",
            "~30 more Obs are rule analytes (HR, temperature, SpO2, K, Ca)",
        )
    )
    default_gc = engine.measure(200, args.runs, worker_gc=False)
    rows.append(
        (
            f"engine 200 Obs, CPython's default GC ({args.runs} runs)",
            f"p50 {default_gc.p50_ms:.2f} ms  p99 {default_gc.p99_ms:.2f} ms",
            f"+JSON in/out: p50 {default_gc.wire_p50_ms:.2f}  p99 {default_gc.wire_p99_ms:.2f} ms",
            "the rows above run with the workers' GC settings",
        )
    )
    base = engine_results[0]
    growth = ", ".join(
        f"x{r.observations // base.observations} Obs -> x{r.p50_ms / base.p50_ms:.1f} time"
        for r in engine_results[1:]
    )
    rows.append(("engine growth", growth, "", ""))

    if not args.skip_http:
        rows.extend(http_rows(args))

    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    line = "+".join("-" * (w + 2) for w in widths)
    print(f"calf-cds benchmark on {machine()}")
    print(line)
    for row in rows:
        print(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
