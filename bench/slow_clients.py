"""Does `calf-cds serve` keep answering while slow or idle clients hold sockets (issue 18.4)?

Starts `calf-cds serve --workers 2` (as shipped, with `--threads 8`, or the same app under
gunicorn's plain sync worker for comparison), opens `slow` client sockets (half idle, half
sending a partial request a byte every 0.5 s), then times `/healthz` and a hook call (the
200-Observation benchmark body) `rounds` times each, with a 5 s timeout. A request that times
out counts as blocked; after two, the measurement stops.

    python bench/slow_clients.py    # calf-cds serve, --threads 8, then gunicorn's sync worker
"""

from __future__ import annotations

import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import request_body
from bench.http_load import BIN, calf_env, free_port, wait_ready

TIMEOUT_S = 5.0
HOOK = "/cds-services/calf-pain-triage"


@dataclass
class SlowResult:
    name: str
    slow: int
    health_ms: list[float]  # answered requests only
    hook_ms: list[float]
    blocked: int  # requests that timed out

    def summary(self) -> str:
        def part(label: str, values: list[float]) -> str:
            if not values:
                return f"{label} none answered"
            return f"{label} median {statistics.median(values):.0f} ms, max {max(values):.0f} ms"

        answered = part("/healthz", self.health_ms) + "; " + part("hook", self.hook_ms)
        return f"{answered}; {self.blocked} blocked (> {TIMEOUT_S:g} s)"


def _drip(sock: socket.socket, stop: threading.Event) -> None:
    try:
        sock.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: calf-cds\r\n".encode())
        while not stop.wait(0.5):
            sock.sendall(b"X")
    except OSError:
        return


def _timed(request: urllib.request.Request | str) -> float | None:
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read()
    except (TimeoutError, urllib.error.URLError):
        return None
    return (time.monotonic() - began) * 1000


def measure(
    name: str,
    worker_class: str | None,
    *,
    workdir: Path,
    threads: int = 1,
    slow: int = 4,
    rounds: int = 5,
) -> SlowResult:
    port = free_port()
    if worker_class is None:  # exactly `calf-cds serve`
        command = [str(BIN / "calf-cds"), "serve", "--port", str(port), "--workers", "2"]
        command += ["--threads", str(threads)]
    else:
        serve_app = str(Path(__file__).parent / "serve_app.py")
        command = [sys.executable, serve_app, "calf", "--port", str(port), "--workers", "2"]
        command += ["--worker-class", worker_class]
    body = request_body(200)
    proc = subprocess.Popen(
        command,
        env=calf_env(workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stop = threading.Event()
    sockets: list[socket.socket] = []
    drippers: list[threading.Thread] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", proc)
        for index in range(slow):
            sock = socket.create_connection(("127.0.0.1", port))
            sockets.append(sock)
            if index % 2:
                thread = threading.Thread(target=_drip, args=(sock, stop), daemon=True)
                thread.start()
                drippers.append(thread)
        time.sleep(0.5)
        result = SlowResult(name, slow, [], [], 0)
        for _ in range(rounds):
            health = _timed(f"{base}/healthz")
            hook = _timed(
                urllib.request.Request(
                    base + HOOK, data=body, headers={"Content-Type": "application/json"}
                )
            )
            for value, into in ((health, result.health_ms), (hook, result.hook_ms)):
                if value is None:
                    result.blocked += 1
                else:
                    into.append(value)
            if result.blocked >= 2:  # shown; more rounds would only wait out more timeouts
                break
        return result
    finally:
        stop.set()
        for thread in drippers:
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(workdir: Path) -> list[SlowResult]:
    return [
        measure("calf-cds serve", None, workdir=workdir),
        measure("calf-cds serve --threads 8", None, workdir=workdir, threads=8),
        measure("calf-cds, gunicorn sync", "sync", workdir=workdir),
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="calf-slow-") as tmp:
        for result in run(Path(tmp)):
            print(f"{result.name}, {result.slow} slow sockets: {result.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
