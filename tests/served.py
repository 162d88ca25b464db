"""`calf-cds serve` (gunicorn, the production server) as a subprocess on a free loopback port.

Shared by the limit, fault and soak checks (bench/soak.py imports it too). The server's stderr
goes to a file, never a pipe, so a chatty server can never block on a full pipe; the master is
stopped with SIGTERM (then SIGKILL) when the context ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CALF_CDS = Path(sys.executable).parent / "calf-cds"
START_TIMEOUT_S = 40.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `calf-cds serve`: its base URL, master process and log file."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children (Linux /proc)."""
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children")
        try:
            return sorted(int(pid) for pid in children.read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            return []

    def wait_for_workers(self, count: int, *, exclude: set[int], timeout_s: float) -> list[int]:
        """Poll until `count` workers run and none of them is in `exclude`; the pids."""
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.worker_pids()
            if len(pids) == count and not set(pids) & exclude:
                return pids
            if time.monotonic() > deadline:
                raise AssertionError(f"workers {pids}, wanted {count} new ones:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def serve_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment for `calf-cds serve`: this one, less any CDS_* setting, plus ours."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update(
        {
            "CDS_DATABASE_URL": database_url,
            "CDS_AUTH_MODE": "off",
            "CDS_EVALUATION_TIME": "2026-11-25T12:00:00Z",
            "CDS_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"CDS_{key.upper()}": value for key, value in settings.items()})
    return env


@contextmanager
def calf_cds_serve(
    env: Mapping[str, str],
    workdir: Path,
    *,
    workers: int = 2,
    attempts: int = 3,
    args: Sequence[str] = (),
) -> Iterator[Served]:
    """Start `calf-cds serve --workers N [args]` on a free port; yield once /healthz answers."""
    last = ""
    for attempt in range(attempts):  # another process may take the port between probe and bind
        port = free_port()
        log = workdir / f"calf-cds-serve-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(CALF_CDS), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(workers), *args],
                env=dict(env),
                cwd=workdir,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        served = Served(url=f"http://127.0.0.1:{port}", port=port, process=process, log=log)
        try:
            if _wait_healthy(served):
                yield served
                return
            last = served.tail()
        finally:
            stop(process)
        if attempt + 1 == attempts:
            break
    raise AssertionError(f"calf-cds serve did not start:\n{last}")


def _wait_healthy(served: Served) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            return False
        try:
            if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master (gunicorn stops its workers), SIGKILL the group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
