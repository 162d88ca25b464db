"""HealthChain 0.16 beside calf-cds in `make bench`: its throwaway venv and its server command.

HealthChain pins fhir.resources < 8.2, which calf-cds's lock cannot hold, so it gets its own
venv, `.venv-healthchain/` (gitignored), made by the project's locked uv from
bench/healthchain-requirements.txt and made again only when that file changes. The service is
bench/healthchain_app.py. `ensure_venv` raises `SetupFailed` with a one-line reason (offline,
no uv, a failed install) for the table to show in place of the row.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = REPO / ".venv-healthchain"
REQUIREMENTS = BENCH / "healthchain-requirements.txt"
UV = REPO / ".venv-tools" / "bin" / "uv"
# What the venv was last built from; the venv is rebuilt when the requirements differ.
STAMP = VENV / ".bench-requirements.txt"
INSTALL_TIMEOUT_S = 300.0

HOOK_PATH = "/cds/cds-services/calf-pain-triage"  # CDSHooksService's default base path
READY_PATH = "/health"  # HealthChainAPI's own health route


class SetupFailed(Exception):
    """HealthChain's venv could not be built; the message is the reason, on one line."""


def _run(step: str, command: list[str]) -> None:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
        )
    except FileNotFoundError as exc:
        raise SetupFailed(f"{step}: {command[0]} not found (make install)") from exc
    except subprocess.TimeoutExpired as exc:
        raise SetupFailed(f"{step}: no answer within {INSTALL_TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise SetupFailed(f"{step} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


def ensure_venv(*, python: str | None = None) -> Path:
    """The venv's interpreter, the venv built first unless it matches the requirements.

    `python` is the interpreter uv builds the venv on (default `$UV_PYTHON`, else python3);
    uv never downloads one.
    """
    interpreter = VENV / "bin" / "python"
    wanted = REQUIREMENTS.read_text()
    if interpreter.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return interpreter
    base = python or os.environ.get("UV_PYTHON") or "python3"
    _run("uv venv", [str(UV), "venv", "--quiet", "--clear", "--python", base, str(VENV)])
    install = [str(UV), "pip", "install", "--quiet", "--python", str(interpreter)]
    _run("uv pip install", [*install, "--requirement", str(REQUIREMENTS)])
    STAMP.write_text(wanted)
    return interpreter


def server_command(interpreter: Path, workers: int) -> list[str]:
    """What `healthchain serve` runs (uvicorn on the app's import string), with `workers`
    processes; the caller adds `--port`."""
    return [
        str(interpreter),
        "-m",
        "uvicorn",
        "bench.healthchain_app:app",
        "--app-dir",
        str(REPO),
        "--host",
        "127.0.0.1",
        "--workers",
        str(workers),
    ]
