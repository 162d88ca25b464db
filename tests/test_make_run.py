"""`make run` as a newcomer meets it: the service and the development EHR on PORT and PORT+1."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_make_run_stops_with_one_line_when_the_dev_ehr_port_is_taken() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1] - 1  # the service's port; the squatter holds PORT+1
        result = subprocess.run(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode != 0
    assert (
        f"make run: port {port + 1} (the development EHR, PORT+1) is in use; choose free ports "
        "with make run PORT=..., or DEV_EHR=off"
    ) in result.stderr
    with socket.socket() as probe:  # the service did not start either
        assert probe.connect_ex(("127.0.0.1", port)) != 0
