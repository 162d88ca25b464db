"""`make bench`'s HealthChain baseline: when its venv cannot be built or its server does not
start, the table says "skipped: <reason>" in its row and the run goes on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # bench/ is scripts, not an installed package

from bench import healthchain_setup, http_load  # noqa: E402
from bench import run as bench_run  # noqa: E402


@pytest.fixture
def venv_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HealthChain's venv and stamp under tmp_path, so no test touches the real one."""
    venv = tmp_path / ".venv-healthchain"
    monkeypatch.setattr(healthchain_setup, "VENV", venv)
    monkeypatch.setattr(healthchain_setup, "STAMP", venv / ".bench-requirements.txt")
    return venv


def test_venv_without_uv_is_a_reason_not_a_crash(
    venv_at: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(healthchain_setup, "UV", tmp_path / "no-uv")

    prepared = http_load.prepare_healthchain()

    assert isinstance(prepared, str)
    assert prepared.startswith("uv venv:")
    assert "no-uv not found" in prepared


def test_failed_install_names_the_step_and_uvs_last_line(
    venv_at: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_uv = tmp_path / "uv"
    fake_uv.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = venv ]; then exit 0; fi\n'
        "echo 'error: Failed to fetch: https://pypi.org/simple/healthchain/' >&2\n"
        "exit 2\n"
    )
    fake_uv.chmod(0o755)
    monkeypatch.setattr(healthchain_setup, "UV", fake_uv)

    with pytest.raises(healthchain_setup.SetupFailed) as failed:
        healthchain_setup.ensure_venv()

    assert str(failed.value) == (
        "uv pip install failed: error: Failed to fetch: https://pypi.org/simple/healthchain/"
    )
    assert not (venv_at / ".bench-requirements.txt").exists()


def test_a_venv_built_from_the_same_requirements_is_reused(
    venv_at: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (venv_at / "bin").mkdir(parents=True)
    (venv_at / "bin" / "python").touch()
    (venv_at / ".bench-requirements.txt").write_text(healthchain_setup.REQUIREMENTS.read_text())
    monkeypatch.setattr(healthchain_setup, "UV", tmp_path / "no-uv")  # would fail if called

    assert healthchain_setup.ensure_venv() == venv_at / "bin" / "python"


def test_requirements_pin_healthchain_016_exactly() -> None:
    pins = [
        line
        for line in healthchain_setup.REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    ]

    assert all("==" in pin for pin in pins)
    assert any(pin.startswith("healthchain==0.16.") for pin in pins)


def test_server_that_exits_at_start_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exiting(_interpreter: Path, _workers: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no module healthchain', file=sys.stderr)"
                "; sys.exit(3)"]  # fmt: skip

    monkeypatch.setattr(healthchain_setup, "server_command", exiting)

    result = http_load.bench_healthchain(
        Path(sys.executable), body=tmp_path / "body.json", duration=1, workers=2, workdir=tmp_path
    )

    assert result.skipped == "server exited with 3 before it was ready (no module healthchain)"
    assert result.loads == {}


def test_skipped_healthchain_prints_its_rows_and_no_ratio(tmp_path: Path) -> None:
    skipped = http_load.bench_healthchain(
        "uv pip install failed: offline",
        body=tmp_path / "body.json",
        duration=1,
        workers=2,
        workdir=tmp_path,
    )
    calf = http_load.LoadResult(16, 100, 1.0, 100.0, 150.0, 180.0, 0)

    load_rows = bench_run._load_rows(skipped)
    ratio_row = bench_run._healthchain_row(calf, [skipped])

    assert load_rows == [
        ("http HealthChain 0.16, 16 conn", "skipped: uv pip install failed: offline", "", "")
    ]
    assert ratio_row[1] == "skipped: HealthChain did not run"


def test_ratio_is_against_healthchains_faster_way_of_being_served() -> None:
    def served(name: str, rps: float) -> http_load.ServerResult:
        load = http_load.LoadResult(16, int(rps), 1.0, rps, 20.0, 30.0, 0)
        return http_load.ServerResult(name, startup_s=1.0, loads={16: load})

    calf = http_load.LoadResult(16, 650, 1.0, 650.0, 25.0, 30.0, 0)
    keep_alive = served("HealthChain 0.16", 300.0)
    closing = served("HealthChain 0.16, Connection: close", 500.0)

    row = bench_run._healthchain_row(calf, [keep_alive, closing])

    assert row[1] == "throughput 1.30 (>= 1.3: ok)"
    assert "HealthChain 0.16, Connection: close" in row[3]
