"""HTTP benchmark: calf-cds under gunicorn (as `calf-cds serve` runs it) vs a bare Flask app
and a minimal HealthChain service.

calf-cds and bare Flask get the same gunicorn settings (`cds.serving.server.gunicorn_options`);
HealthChain runs under uvicorn as `healthchain serve` runs it (bench/healthchain_setup.py), with
as many worker processes. All get the same generated patient-view body, over loopback, from
`wrk` (bench/post.lua). Reported per server and load: requests/s, p50, p99, errors (non-2xx
plus socket errors); and RSS per worker after the load, and startup (process start to the
readiness route answering 200).

    python bench/http_load.py --duration 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench import healthchain_setup  # noqa: E402
from bench.engine import request_body  # noqa: E402
from bench.generate import NOW  # noqa: E402

BIN = Path(sys.executable).parent
HOOK_PATH = "/cds-services/calf-pain-triage"
READY_PATH = "/readyz"
HEALTHCHAIN = "HealthChain 0.16"


@dataclass
class LoadResult:
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float = float("nan")
    cpu_split: list[int] = field(default_factory=list)  # % of the workers' CPU, per worker


@dataclass
class ServerResult:
    name: str
    startup_s: float = float("nan")
    loads: dict[int, LoadResult] = field(default_factory=dict)
    worker_rss_mb: list[float] = field(default_factory=list)
    ready_path: str = READY_PATH  # what startup_s waited for
    skipped: str | None = None  # why the server could not be measured


@dataclass
class HttpRun:
    """The servers of one `make bench` run, each loaded in turn. `healthchain` holds HealthChain
    as served (keep-alive) and with a connection per request, or the one skipped result."""

    calf: ServerResult
    bare: ServerResult
    healthchain: list[ServerResult]
    sync: ServerResult
    threaded: ServerResult
    variants: list[ServerResult] = field(default_factory=list)

    def servers(self) -> list[ServerResult]:
        return [self.calf, self.bare, *self.healthchain, self.sync, self.threaded, *self.variants]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """Seconds until GET url answers 200 (measured by the caller from process start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} not ready within {timeout} s")


def worker_pids(master: int) -> list[str]:
    """The server's worker processes: the master's children, less the resource tracker that
    multiprocessing starts beside uvicorn's workers."""
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True, check=False
    )
    workers = []
    for pid in out.stdout.split():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.resource_tracker" not in command:
            workers.append(pid)
    return workers


def _stat_fields(pid: int | str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def workers_cpu_s(master: int) -> dict[str, float]:
    """User + system CPU seconds used so far by each live gunicorn worker, and under "exited"
    what the master has collected from workers that exited (max_requests)."""
    ticks: dict[str, int] = {}
    for pid in worker_pids(master):
        fields = _stat_fields(pid)
        if fields:
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    fields = _stat_fields(master)
    ticks["exited"] = int(fields[13]) + int(fields[14]) if fields else 0  # cutime, cstime
    per_second = os.sysconf("SC_CLK_TCK")
    return {key: value / per_second for key, value in ticks.items()}


def cpu_used(before: dict[str, float], after: dict[str, float]) -> tuple[float, list[float]]:
    """CPU seconds the workers used between two readings, in all and per worker present in
    both (how evenly gunicorn spread the connections: a worker accepts keep-alive
    connections for itself, so one can end up with most of them)."""
    total = sum(after.values()) - sum(before.values())
    each = [after[key] - before[key] for key in after if key in before and key != "exited"]
    return total, each


def worker_rss_mb(master: int) -> list[float]:
    """VmRSS of each gunicorn worker (the master's children), in MB."""
    sizes = []
    for pid in worker_pids(master):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def run_wrk(
    url: str, body: Path, connections: int, seconds: float, *, close: bool = False
) -> LoadResult:
    """Load `url` with `connections` wrk connections for `seconds`; with `close`, every request
    asks for its connection to be closed after the answer."""
    threads = min(connections, 2)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(BENCH / "post.lua"),
        url,
    ]
    env = dict(os.environ, BENCH_BODY=str(body), BENCH_CLOSE="1" if close else "0")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_RESULT "))
    data = json.loads(line.removeprefix("WRK_RESULT "))
    elapsed = data["duration_us"] / 1e6
    errors = sum(data[key] for key in ("non2xx", "connect", "read", "write", "timeout"))
    return LoadResult(
        connections=connections,
        requests=data["requests"],
        seconds=elapsed,
        rps=data["requests"] / elapsed,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
    )


def bench_server(
    name: str,
    command: list[str],
    *,
    body: Path,
    duration: float,
    connections: tuple[int, ...] = (16, 1),
    env: dict[str, str] | None = None,
    log: Path | None = None,
    hook_path: str = HOOK_PATH,
    ready_path: str = READY_PATH,
    cwd: Path | None = None,
    close: bool = False,
) -> ServerResult:
    """Start the server, time its start, warm it up, load it at each concurrency, stop it."""
    port = free_port()
    command = [*command, "--port", str(port)]
    stderr = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    start = time.monotonic()
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}{ready_path}", proc)
        result = ServerResult(name=name, startup_s=ready - start, ready_path=ready_path)
        url = f"http://127.0.0.1:{port}{hook_path}"
        run_wrk(url, body, 16, min(3.0, duration), close=close)  # warm-up: imports, caches
        for count in connections:
            cpu_before = workers_cpu_s(proc.pid)
            load = run_wrk(url, body, count, duration, close=close)
            total, each = cpu_used(cpu_before, workers_cpu_s(proc.pid))
            load.cpu_ms_per_request = total * 1000 / max(load.requests, 1)
            load.cpu_split = [round(100 * part / total) if total else 0 for part in each]
            result.loads[count] = load
        result.worker_rss_mb = worker_rss_mb(proc.pid)
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            stderr.close()  # type: ignore[union-attr]


def calf_env(workdir: Path) -> dict[str, str]:
    """CDS_AUTH_MODE=off, a fresh SQLite store, the generator's clock (same cards as engine)."""
    return dict(
        os.environ,
        CDS_AUTH_MODE="off",
        CDS_DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        CDS_EVALUATION_TIME=NOW.isoformat(),
    )


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1][:160] if lines else ""


def prepare_healthchain() -> Path | str:
    """The interpreter of HealthChain's venv, or why the venv could not be built."""
    try:
        return healthchain_setup.ensure_venv()
    except healthchain_setup.SetupFailed as exc:
        return str(exc)


def bench_healthchain(
    prepared: Path | str,
    *,
    body: Path,
    duration: float,
    workers: int,
    workdir: Path,
    close: bool = False,
) -> ServerResult:
    """HealthChain's minimal service at 16 connections, or why it could not run: its venv was
    not built (`prepared` is then the reason) or its server did not start or answer.

    uvicorn keeps a keep-alive connection on the worker that accepted it, and one worker
    accepts all of wrk's connections at once; with `close` each request comes on a new
    connection, as calf-cds's and bare Flask's workers make them, so both workers share the load.
    """
    name = HEALTHCHAIN + (", Connection: close" if close else "")
    if isinstance(prepared, str):
        return ServerResult(name, skipped=prepared)
    log = workdir / ("healthchain-close.log" if close else "healthchain.log")
    try:
        return bench_server(
            name,
            healthchain_setup.server_command(prepared, workers),
            body=body,
            duration=duration,
            connections=(16,),
            log=log,
            hook_path=healthchain_setup.HOOK_PATH,
            ready_path=healthchain_setup.READY_PATH,
            cwd=workdir,  # HealthChain reads ./healthchain.yaml when there is one
            close=close,
        )
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        last = _last_line(log)
        return ServerResult(name, skipped=f"{exc}" + (f" ({last})" if last else ""))


def run(
    *, duration: float, workers: int, observations: int, variants: bool, workdir: Path
) -> HttpRun:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (make bench does it as root)")
    body = workdir / "body.json"
    body.write_bytes(request_body(observations))
    prepared = prepare_healthchain()  # before any load: an install is not timed
    calf = bench_server(
        "calf-cds",
        [str(BIN / "calf-cds"), "serve", "--host", "127.0.0.1", "--workers", str(workers)],
        body=body,
        duration=duration,
        env=calf_env(workdir),
        log=workdir / "calf.log",
    )
    bare = bench_server(
        "bare Flask",
        [sys.executable, str(BENCH / "serve_app.py"), "bare", "--workers", str(workers)],
        body=body,
        duration=duration,
        log=workdir / "bare.log",
    )
    healthchain = [
        bench_healthchain(prepared, body=body, duration=duration, workers=workers, workdir=workdir)
    ]
    if healthchain[0].skipped is None:
        healthchain.append(
            bench_healthchain(
                prepared, body=body, duration=duration, workers=workers, workdir=workdir, close=True
            )
        )
    # gunicorn's plain sync worker, which two slow sockets stop (bench/slow_clients.py).
    sync = bench_server(
        "calf-cds, gunicorn sync",
        [sys.executable, str(BENCH / "serve_app.py"), "calf", "--workers", str(workers),
         "--worker-class", "sync"],
        body=body,
        duration=duration,
        env=calf_env(workdir),
        log=workdir / "calf-sync.log",
    )  # fmt: skip
    threaded = bench_server(
        "calf-cds serve --threads 8",
        [str(BIN / "calf-cds"), "serve", "--host", "127.0.0.1", "--workers", str(workers),
         "--threads", "8"],
        body=body,
        duration=duration,
        env=calf_env(workdir),
        log=workdir / "calf-threads.log",
    )  # fmt: skip
    results = HttpRun(calf, bare, healthchain, sync, threaded)
    if variants:
        for worker_class, threads in (("gthread", 1), ("gthread", 2), ("gthread", 4)):
            results.variants.append(
                bench_server(
                    f"calf-cds {worker_class} x{threads}",
                    [
                        sys.executable,
                        str(BENCH / "serve_app.py"),
                        "calf",
                        "--workers",
                        str(workers),
                        "--worker-class",
                        worker_class,
                        "--threads",
                        str(threads),
                    ],
                    body=body,
                    duration=duration,
                    env=calf_env(workdir),
                    log=workdir / f"calf-{worker_class}-{threads}.log",
                )
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--variants", action="store_true", help="also gthread x1 / x2 / x4")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="calf-bench-") as tmp:
        results = run(
            duration=args.duration,
            workers=args.workers,
            observations=args.observations,
            variants=args.variants,
            workdir=Path(tmp),
        )
    for result in results.servers():
        print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
