"""`make bench`: the engine, HTTP, memory and startup figures of issue 8 in one table.

python bench/run.py                  # engine 200/1000/5000 + HTTP 16 and 1 connections, 20 s
python bench/run.py --duration 5     # a quicker look
python bench/run.py --variants       # also gunicorn gthread x1 / x2 / x4
Every run also serves calf-cds under gunicorn's plain sync worker (as before issue 18.4) and
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

TARGETS = {
    "engine_p50_ms": 2.0,
    "rps_ratio": 0.5,
    "p99_ratio": 2.0,
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
    for count, runs in ((200, args.runs), (1000, max(200, args.runs // 5)), (5000, 100)):
        result = engine.measure(count, runs)
        engine_results.append(result)
        rows.append(
            (
                f"engine {count} Obs ({result.body_bytes // 1024} KiB, {runs} runs)",
                f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms",
                f"+JSON in/out: p50 {result.wire_p50_ms:.2f}  p99 {result.wire_p99_ms:.2f} ms",
                f"{result.cards} cards"
                + (f"  target p50 <= 2 ms: {_mark(result.p50_ms <= 2.0)}" if count == 200 else ""),
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
        with tempfile.TemporaryDirectory(prefix="calf-bench-") as tmp:
            servers = http_load.run(
                duration=args.duration,
                workers=args.workers,
                observations=200,
                variants=args.variants,
                workdir=Path(tmp),
            )
        calf, bare, sync, threaded = servers[0], servers[1], servers[2], servers[3]
        for server in servers:
            for count, load in server.loads.items():
                rows.append(
                    (
                        f"http {server.name}, {count} conn",
                        f"{load.rps:.0f} req/s",
                        f"p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms",
                        f"errors {load.errors} / {load.requests}, "
                        f"{load.cpu_ms_per_request:.2f} ms CPU/request, split "
                        + "/".join(f"{part}%" for part in load.cpu_split),
                    )
                )
        c16, b16 = calf.loads[16], bare.loads[16]
        rps_ratio = c16.rps / b16.rps
        p99_ratio = c16.p99_ms / b16.p99_ms
        rows.append(
            (
                "ratio calf-cds / bare, 16 conn",
                f"throughput {rps_ratio:.2f} (>= 0.5: {_mark(rps_ratio >= 0.5)})",
                f"p99 {p99_ratio:.2f} (<= 2: {_mark(p99_ratio <= 2.0)})",
                f"errors {c16.errors} ({_mark(c16.errors == 0 and calf.loads[1].errors == 0)})",
            )
        )
        s16 = sync.loads[16]
        rows.append(
            (
                "calf-cds serve / gunicorn sync, 16 conn",
                f"throughput {c16.rps / s16.rps:.2f}",
                f"p99 {c16.p99_ms / s16.p99_ms:.2f}",
                f"CPU/request {c16.cpu_ms_per_request / s16.cpu_ms_per_request:.2f} "
                "(issue 18.4's cost)",
            )
        )
        t16 = threaded.loads[16]
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
        p50_1 = calf.loads[1].p50_ms
        rows.append(
            (
                "calf-cds 1 conn p50",
                f"{p50_1:.2f} ms",
                f"target <= 5 ms: {_mark(p50_1 <= 5.0)}",
                "",
            )
        )
        for server in servers:
            rss = server.worker_rss_mb
            worst = max(rss) if rss else float("nan")
            rows.append(
                (
                    f"memory {server.name}",
                    "RSS/worker " + ", ".join(f"{mb:.0f}" for mb in rss) + " MB",
                    f"target <= 150 MB: {_mark(worst <= 150)}" if server is calf else "",
                    "",
                )
            )
            rows.append(
                (
                    f"startup {server.name}",
                    f"{server.startup_s:.2f} s to /readyz 200",
                    f"target <= 3 s: {_mark(server.startup_s <= 3.0)}" if server is calf else "",
                    "",
                )
            )

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
